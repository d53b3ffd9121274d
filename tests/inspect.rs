//! `dfkd inspect`: what a dfkd checkpoint and a bare PyTorch state dict hold.

mod common;

use common::{dfkd, scratch, stderr, stdout};
use dfkd::checkpoint::{self, ModelMeta};
use dfkd::data::DatasetKind;
use dfkd::nn::zoo;

#[test]
fn a_dfkd_checkpoint_says_everything_in_its_metadata() {
    let dir = scratch("inspect-dfkd");
    let m = zoo::build("lenet5-bn", 10, [1, 32, 32]).unwrap();
    let path = dir.join("teacher.safetensors");
    let meta = ModelMeta {
        arch: "lenet5-bn".into(),
        num_classes: 10,
        input_shape: [1, 32, 32],
        normalization: DatasetKind::FashionMnist.normalization().unwrap(),
        dataset: Some("fashion-mnist".into()),
    };
    checkpoint::save_model(&path, &m, &meta).unwrap();
    let o = dfkd(&["inspect", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "kind:           dfkd checkpoint",
        "architecture:   lenet5-bn",
        "classes:        10",
        "input:          1x32x32",
        "normalisation:  mean 0.286 std 0.353",
        "dataset:        fashion-mnist",
        &format!("parameters:     {}", m.store.parameter_count()),
        "taps:           conv1, conv2, conv3, fc1",
        "batchnorm:      3 layers\n",
    ] {
        assert!(out.contains(line), "'{line}' not in:\n{out}");
    }
}

#[test]
fn a_bare_state_dict_is_matched_to_its_architecture_by_its_tensors() {
    let dir = scratch("inspect-bare");
    for (arch, classes, c) in [("resnet20", 100, 3), ("lenet5", 10, 1), ("wrn16-2", 10, 3)] {
        let m = zoo::build(arch, classes, [c, 32, 32]).unwrap();
        let path = dir.join(format!("{arch}.safetensors"));
        common::write_bare_state_dict(&m, &path);
        let o = dfkd(&["inspect", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("kind:           PyTorch state dict"), "{out}");
        assert!(out.contains(&format!("architecture:   {arch} (")), "{out}");
        assert!(
            out.contains(&format!("classes:        {classes}\n")),
            "{out}"
        );
        assert!(out.contains("normalisation:  not recorded"), "{out}");
    }
}

#[test]
fn a_file_that_is_no_model_gets_one_line_naming_it() {
    let dir = scratch("inspect-bad");
    let path = dir.join("notes.safetensors");
    std::fs::write(&path, b"not a model at all").unwrap();
    let o = dfkd(&["inspect", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(path.to_str().unwrap()) && err.contains("not a safetensors file"),
        "{err}"
    );
}
