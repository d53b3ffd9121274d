//! A teacher of any architecture, saved by the user's PyTorch as TorchScript
//! (`python/dfkd_teacher.py`): its taps equal those of dfkd's own model of
//! the same tensors, architectures outside the zoo distill, and what cannot
//! work is refused in one line naming the file.

mod common;

use common::{dfkd, dfkd_owned, fails_with, scratch, stderr, stdout};
use dfkd::checkpoint::{self, Checkpoint};
use dfkd::nn::{zoo, Taps};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tch::{Kind, Tensor};

/// Zoo architectures saved as TorchScript twins, with their input channels.
const TWINS: [(&str, i64); 2] = [("resnet20", 3), ("lenet5-bn", 1)];

/// The directory tests/python/teachers.py filled, made once per test binary;
/// None (after saying why) without the venv.
fn teachers() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let python = common::venv_python("TorchScript teachers")?;
        let dir = scratch("torchscript");
        // The twins' tensors: zoo models whose running statistics moved.
        for (arch, c) in TWINS {
            let m = zoo::build(arch, 10, [c, 32, 32]).unwrap();
            let x = Tensor::randn([32, c, 32, 32], tch::kind::FLOAT_CPU) * 1.5 + 0.3;
            let _ = m.forward(&x, true);
            common::write_bare_state_dict(&m, &dir.join(format!("{arch}.safetensors")));
        }
        let o = Command::new(python)
            .arg(common::repo().join("tests/python/teachers.py"))
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        Some(dir)
    })
    .as_deref()
}

fn close(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.size(), b.size(), "{what}: shapes");
    let diff = (a - b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]).max(1.0);
    assert!(diff < 1e-4 * scale, "{what}: differ by {diff}");
}

#[test]
fn a_torchscript_teacher_reports_the_taps_of_dfkds_own_model() {
    let Some(dir) = teachers() else { return };
    for ((arch, c), batchnorms) in TWINS.into_iter().zip([19, 3]) {
        same_taps(dir, arch, c, batchnorms);
    }
}

fn same_taps(dir: &Path, arch: &str, c: i64, batchnorms: usize) {
    let zoo_model = zoo::build(arch, 10, [c, 32, 32]).unwrap();
    Checkpoint::read(&dir.join(format!("{arch}.safetensors")))
        .unwrap()
        .load_into(&zoo_model.store, arch)
        .unwrap();
    let (script, meta) =
        checkpoint::load_model(&dir.join(format!("{arch}.pt")), None, [1, 8, 8]).unwrap();
    let meta = meta.expect("dfkd_meta() read");
    assert_eq!((meta.num_classes, meta.input_shape), (10, [c, 32, 32]));
    assert_eq!(meta.normalization.mean, vec![0.5; c as usize]);
    assert_eq!(
        script.store.parameter_count(),
        zoo_model.store.parameter_count()
    );
    assert!(script.parameters().iter().all(|p| !p.requires_grad()));

    let taps = Taps {
        features: true,
        bn_stats: true,
        bn_means: true,
        layers: Vec::new(),
    };
    let x = Tensor::randn([6, c, 32, 32], tch::kind::FLOAT_CPU).set_requires_grad(true);
    let ours = zoo_model.forward_taps(&x, false, &taps);
    let theirs = script.forward_taps(&x, false, &taps);
    close(&theirs.logits, &ours.logits, "logits");
    close(
        theirs.features.as_ref().unwrap(),
        ours.features.as_ref().unwrap(),
        &format!("{arch} features"),
    );
    assert_eq!(theirs.bn_stats.len(), batchnorms, "{arch}");
    assert_eq!(theirs.bn_stats.len(), ours.bn_stats.len());
    for (t, o) in theirs.bn_stats.iter().zip(&ours.bn_stats) {
        close(&t.mean, &o.mean, &format!("{} mean", t.name));
        close(&t.var, &o.var, &format!("{} variance", t.name));
        close(&t.running_mean, &o.running_mean, &t.name);
        close(&t.running_var, &o.running_var, &t.name);
    }
    for (i, (t, o)) in theirs.bn_means.iter().zip(&ours.bn_means).enumerate() {
        close(t, o, &format!("instance means of BatchNorm {i}"));
    }
    assert_eq!(theirs.bn_means.len(), batchnorms);

    // DeepInversion's gradient reaches the input through the module.
    let loss = theirs
        .bn_stats
        .iter()
        .map(|s| (&s.mean - &s.running_mean).norm())
        .fold(Tensor::zeros([], tch::kind::FLOAT_CPU), |a, b| a + b);
    loss.backward();
    let g = x.grad();
    assert!(g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}

/// A run of `method` on `teacher`, one epoch of a few small batches.
fn distill(dir: &Path, teacher: &str, method: &str, extra: &[&str]) -> std::process::Output {
    // PRE-DFAD has MNIST presets only; its student takes any input shape.
    let preset = if method == "pre-dfad" {
        "mnist"
    } else {
        "cifar10-cpu"
    };
    let mut args: Vec<String> = [
        "distill",
        "--teacher",
        dir.join(teacher).to_str().unwrap(),
        "--method",
        method,
        "--preset",
        preset,
        "--batch-size",
        "8",
        "--iters",
        "2",
        "--epochs",
        "1",
        "--out",
        dir.join(format!("run-{teacher}-{method}"))
            .to_str()
            .unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    dfkd_owned(&args)
}

/// Settings that make one epoch of `method` take seconds.
fn small_budget(method: &str) -> Vec<&'static str> {
    match method {
        "deepdream" | "deepinversion" | "adi" => {
            vec!["--set", "synth.steps=3", "--set", "synth.student_steps=2"]
        }
        // CMI's named CPU-preset taps are a zoo model's; [] hooks the BatchNorms.
        "cmi" => vec![
            "--set",
            "synth.steps=3",
            "--set",
            "synth.student_steps=2",
            "--set",
            "synth.feature_layers=[]",
        ],
        _ => vec!["--set", "synth.student_steps=1"],
    }
}

#[test]
fn every_method_distills_from_a_teacher_outside_the_zoo() {
    let Some(dir) = teachers() else { return };
    let methods = [
        "dafl",
        "dfad",
        "mb-dfkd",
        "pre-dfkd",
        "pre-dfad",
        "lra",
        "lra-vae",
        "deepdream",
        "deepinversion",
        "adi",
        "cmi",
    ];
    for method in methods {
        let o = distill(dir, "vgg.pt", method, &small_budget(method));
        assert!(o.status.success(), "vgg.pt {method}: {}", stderr(&o));
        let run = dir.join(format!("run-vgg.pt-{method}"));
        assert!(run.join("student.safetensors").is_file(), "{method}");
    }
    let o = distill(
        dir,
        "mobilenet.pt",
        "deepinversion",
        &small_budget("deepinversion"),
    );
    assert!(o.status.success(), "mobilenet.pt: {}", stderr(&o));

    // Without BatchNorm: the feature serves DAFL; the BN losses are refused.
    let o = distill(dir, "no-bn.pt", "dafl", &small_budget("dafl"));
    assert!(o.status.success(), "no-bn.pt: {}", stderr(&o));
    let o = distill(
        dir,
        "no-bn.pt",
        "deepinversion",
        &small_budget("deepinversion"),
    );
    fails_with(
        &o,
        &["no-bn.pt", "no BatchNorm layer", "method deepinversion"],
    );
    assert!(!stderr(&o).contains("dfkd_teacher.py"), "{}", stderr(&o));
}

#[test]
fn a_plain_scripted_classifier_serves_the_methods_that_need_logits_only() {
    let Some(dir) = teachers() else { return };
    let mut args = small_budget("dfad");
    args.extend([
        "--teacher-mean",
        "0.5,0.5,0.5",
        "--teacher-std",
        "0.25,0.25,0.25",
    ]);
    let o = distill(dir, "vgg-plain.pt", "dfad", &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.join("run-vgg-plain.pt-dfad");
    let (student, _) =
        checkpoint::load_model(&run.join("student.safetensors"), None, [3, 32, 32]).unwrap();
    assert_eq!(student.spec.arch, "resnet20");

    // The methods that read more are refused before they start.
    let o = distill(dir, "vgg-plain.pt", "deepinversion", &args[2..]);
    fails_with(
        &o,
        &[
            "vgg-plain.pt",
            "no BatchNorm layer",
            "python/dfkd_teacher.py",
        ],
    );
    let o = distill(dir, "vgg-plain.pt", "dafl", &args);
    fails_with(
        &o,
        &[
            "vgg-plain.pt",
            "penultimate feature",
            "python/dfkd_teacher.py",
        ],
    );
}

#[test]
fn inspect_describes_a_torchscript_teacher() {
    let Some(dir) = teachers() else { return };
    let o = dfkd(&["inspect", dir.join("mobilenet.pt").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "TorchScript teacher",
        "input:          3x32x32",
        "batchnorm:      5 layers",
    ] {
        assert!(out.contains(line), "'{line}' not in:\n{out}");
    }
    let o = dfkd(&["inspect", dir.join("vgg-plain.pt").to_str().unwrap()]);
    assert!(stdout(&o).contains("plain TorchScript classifier"));
}

#[test]
fn bad_torchscript_files_are_refused_in_one_line() {
    let Some(dir) = teachers() else { return };
    let dry = |file: &str, extra: &[&str]| {
        let mut a = extra.to_vec();
        a.push("--dry-run");
        distill(dir, file, "dfad", &a)
    };
    std::fs::write(dir.join("fake.pt"), b"PK\x03\x04 not really a zip archive").unwrap();
    fails_with(
        &dry("fake.pt", &[]),
        &["fake.pt", "not a TorchScript module"],
    );
    fails_with(
        &dry("not-a-classifier.pt", &[]),
        &["not-a-classifier.pt", "not (batch, classes) logits"],
    );
    fails_with(
        &dry("vgg-plain.pt", &["--teacher-input", "1,28,28"]),
        &["vgg-plain.pt", "1 x 28 x 28 failed", "--teacher-input"],
    );
    fails_with(
        &dry("vgg.pt", &["--teacher-arch", "resnet20"]),
        &["vgg.pt", "'resnet20' does not apply"],
    );
}
