//! `dfkd export`: a student written as TorchScript loads back (through
//! libtorch, as a user's `torch.jit.load` would), and one written as ONNX runs
//! in onnxruntime, and both give dfkd's logits on the same images.

mod common;

use common::{dfkd, scratch, stderr};
use dfkd::checkpoint::{self, ModelMeta};
use dfkd::data::DatasetKind;
use dfkd::nn::zoo;
use tch::{Kind, Tensor};

#[test]
fn a_torchscript_and_an_onnx_export_give_dfkds_logits() {
    let Some(python) = common::venv_python("student export") else {
        return;
    };
    let dir = scratch("export");
    for (arch, kind, shape) in [
        ("lenet5-bn", DatasetKind::FashionMnist, [1, 32, 32]),
        ("resnet20", DatasetKind::Cifar10, [3, 32, 32]),
    ] {
        tch::manual_seed(3);
        let m = zoo::build(arch, 10, shape).unwrap();
        // Non-trivial BatchNorm statistics, as a trained student has.
        let _ = m.forward(
            &Tensor::randn([64, shape[0], 32, 32], tch::kind::FLOAT_CPU),
            true,
        );
        let norm = kind.normalization().unwrap();
        let meta = ModelMeta {
            arch: arch.into(),
            num_classes: 10,
            input_shape: shape,
            normalization: norm.clone(),
            dataset: None,
        };
        let path = dir.join(format!("{arch}.safetensors"));
        checkpoint::save_model(&path, &m, &meta).unwrap();
        let o = dfkd(&["export", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let pt = path.with_extension("pt");
        let module = tch::CModule::load(&pt).unwrap();
        let x = Tensor::rand([8, shape[0], 32, 32], tch::kind::FLOAT_CPU);
        let theirs = module.forward_ts(&[&x]).unwrap();
        let ours = m.forward(&norm.apply(&x), false);
        let diff = (theirs - &ours).abs().max().double_value(&[]);
        let scale = ours.abs().max().double_value(&[]).max(1.0);
        assert!(
            diff < 1e-4 * scale,
            "{arch}: exported logits differ by {diff}"
        );
        assert_eq!(ours.kind(), Kind::Float);

        let onnx = dir.join(format!("{arch}.onnx"));
        let o = dfkd(&["export", path.to_str().unwrap(), "--format", "onnx"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(onnx.is_file());
        let io = dir.join(format!("{arch}.io.safetensors"));
        let tensors = [("x".to_string(), x), ("logits".to_string(), ours)];
        std::fs::write(
            &io,
            checkpoint::to_safetensors(&tensors, Default::default()).unwrap(),
        )
        .unwrap();
        let run = std::process::Command::new(&python)
            .arg(common::repo().join("tests/python/onnx_logits.py"))
            .args([&io, &onnx])
            .arg(arch)
            .output()
            .unwrap();
        assert!(run.status.success(), "{arch}: {}", stderr(&run));
    }
}

#[test]
fn exporting_what_is_not_a_dfkd_checkpoint_is_one_line() {
    let dir = scratch("export-bad");
    let path = dir.join("bare.safetensors");
    let m = zoo::build("lenet5", 10, [1, 32, 32]).unwrap();
    common::write_bare_state_dict(&m, &path);
    let o = dfkd(&["export", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bare.safetensors") && err.contains("not a dfkd checkpoint"),
        "{err}"
    );
}
