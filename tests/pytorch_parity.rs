//! Weights move both ways between dfkd and PyTorch, with the same names,
//! shapes and outputs, and a seeded dfkd model starts where PyTorch does.

mod common;

use dfkd::checkpoint::{self, Checkpoint, ModelMeta};
use dfkd::data::Normalization;
use dfkd::nn::zoo;
use std::process::Command;
use tch::Tensor;

fn save_tensors(path: &std::path::Path, tensors: &[(&str, &Tensor)]) {
    let owned: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.to_string(), t.shallow_clone()))
        .collect();
    let bytes = checkpoint::to_safetensors(&owned, Default::default()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn checkpoints_load_in_pytorch_and_pytorch_state_dicts_load_here() {
    let Some(python) = common::venv_python("pytorch parity") else {
        return;
    };
    let dir = common::scratch("parity");
    let archs: Vec<&str> = zoo::ARCHS.iter().map(|a| a.name).collect();
    for (i, arch) in archs.iter().enumerate() {
        tch::manual_seed(100 + i as i64);
        let c = if arch.starts_with("lenet") { 1 } else { 3 };
        let model = zoo::build(arch, 10, [c, 32, 32]).unwrap();
        // Non-trivial running statistics, so evaluation mode matters.
        tch::no_grad(|| {
            for e in model.store.entries() {
                if e.name.ends_with("running_mean") {
                    let _ = e.tensor.shallow_clone().uniform_(-0.5, 0.5);
                } else if e.name.ends_with("running_var") {
                    let _ = e.tensor.shallow_clone().uniform_(0.5, 1.5);
                }
            }
        });
        let meta = ModelMeta {
            arch: arch.to_string(),
            num_classes: 10,
            input_shape: [c, 32, 32],
            normalization: Normalization::new(vec![0.5; c as usize], vec![0.25; c as usize]),
            dataset: None,
        };
        checkpoint::save_model(&dir.join(format!("{arch}.dfkd.safetensors")), &model, &meta)
            .unwrap();
        let x = Tensor::randn([4, c, 32, 32], tch::kind::FLOAT_CPU);
        let logits = tch::no_grad(|| model.forward(&x, false));
        save_tensors(
            &dir.join(format!("{arch}.io.safetensors")),
            &[("input", &x), ("logits", &logits)],
        );
    }
    let out = Command::new(python)
        .arg(common::repo().join("tests/python/parity.py"))
        .arg(&dir)
        .args(&archs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyTorch side failed:\n{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    for arch in &archs {
        let c = if arch.starts_with("lenet") { 1 } else { 3 };
        let (model, meta) = checkpoint::load_model(
            &dir.join(format!("{arch}.torch.safetensors")),
            Some(arch),
            [c, 32, 32],
        )
        .unwrap();
        assert!(meta.is_none());
        let io = Checkpoint::read(&dir.join(format!("{arch}.torch-io.safetensors"))).unwrap();
        let logits = tch::no_grad(|| model.forward(&io.tensors["input"], false));
        let diff = (logits - &io.tensors["logits"])
            .abs()
            .max()
            .double_value(&[]);
        assert!(
            diff < 1e-4,
            "{arch}: dfkd logits differ from PyTorch's by {diff}"
        );
    }
    // Same seed, same initial weights as PyTorch, bit for bit.
    tch::manual_seed(7);
    let lenet = zoo::build("lenet5", 10, [1, 32, 32]).unwrap();
    let torch_init = Checkpoint::read(&dir.join("lenet5.init7.safetensors")).unwrap();
    for e in lenet.store.entries() {
        assert!(
            e.tensor.equal(&torch_init.tensors[&e.name]),
            "{} differs from PyTorch's init",
            e.name
        );
    }
}

#[test]
fn generator_matches_its_pytorch_twin() {
    use dfkd::nn::generator::{Generator, GeneratorSpec, GeneratorStyle};
    let Some(python) = common::venv_python("generator parity") else {
        return;
    };
    let dir = common::scratch("gen-parity");
    // DAFL's and DFAD's generators; PRE-DFKD's novel (spectral-normalised)
    // and memory generators.
    for (eps, channels, style, spectral_norm) in [
        (0.8, 1, GeneratorStyle::Dafl, false),
        (1e-5, 3, GeneratorStyle::Dafl, false),
        (0.8, 1, GeneratorStyle::PreDfkd, true),
        (0.8, 3, GeneratorStyle::PreDfkd, false),
    ] {
        tch::manual_seed(21);
        let spec = GeneratorSpec {
            latent: 100,
            ngf: 64,
            bn_eps: eps,
            style,
            spectral_norm,
        };
        let g = Generator::new(&spec, [channels, 32, 32]);
        let weights: Vec<(String, Tensor)> = g
            .store
            .entries()
            .iter()
            .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
            .collect();
        let w = dir.join("weights.safetensors");
        std::fs::write(
            &w,
            checkpoint::to_safetensors(&weights, Default::default()).unwrap(),
        )
        .unwrap();
        let z = g.noise(8);
        let images = tch::no_grad(|| g.forward(&z));
        assert_eq!(images.size(), [8, channels, 32, 32]);
        let io = dir.join("io.safetensors");
        save_tensors(&io, &[("z", &z), ("images", &images)]);
        let out = Command::new(&python)
            .arg(common::repo().join("tests/python/generator.py"))
            .args([&io, &w])
            .args(["100", &eps.to_string()])
            .args(match (style, spectral_norm) {
                (GeneratorStyle::Dafl, _) => &[][..],
                (GeneratorStyle::PreDfkd, true) => &["pre-dfkd", "sn"][..],
                (GeneratorStyle::PreDfkd, false) => &["pre-dfkd", "plain"][..],
            })
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            common::stdout(&out),
            common::stderr(&out)
        );
    }
}
