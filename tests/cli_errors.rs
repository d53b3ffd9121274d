//! Bad input gives one clear error line naming the file and the problem, and
//! a non-zero exit, never a panic.

mod common;

use common::{dfkd, fails_with, scratch, stderr, stdout, tiny_mnist};
use dfkd::checkpoint::{self, ModelMeta};
use dfkd::data::DatasetKind;
use dfkd::nn::zoo;
use std::path::Path;

fn save(model: &dfkd::nn::Model, kind: DatasetKind, path: &Path) {
    let meta = ModelMeta {
        arch: model.spec.arch.clone(),
        num_classes: model.spec.num_classes,
        input_shape: model.spec.input_shape,
        normalization: kind.normalization().unwrap(),
        dataset: None,
    };
    checkpoint::save_model(path, model, &meta).unwrap();
}

fn lenet(dir: &Path) -> String {
    let p = dir.join("lenet5.safetensors");
    save(
        &zoo::build("lenet5", 10, [1, 32, 32]).unwrap(),
        DatasetKind::Mnist,
        &p,
    );
    p.display().to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn missing_model_file() {
    let dir = scratch("err-missing");
    tiny_mnist(&dir, 20, 20);
    let o = dfkd(&[
        "eval",
        "--model",
        "no/such.safetensors",
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &["no/such.safetensors", "No such file"]);
}

#[test]
fn missing_data_directory() {
    let dir = scratch("err-missing-data");
    let model = lenet(&dir);
    let o = dfkd(&["eval", "--model", &model, "--data", "mnist:/no/such/dir"]);
    fails_with(&o, &["/no/such/dir", "no such file or directory"]);
    let o = dfkd(&[
        "train-teacher",
        "--arch",
        "lenet5",
        "--data",
        "cifar10:/no/such/dir",
    ]);
    fails_with(&o, &["/no/such/dir"]);
}

#[test]
fn data_directory_without_the_files() {
    let dir = scratch("err-empty-data");
    let model = lenet(&dir);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--data",
        &format!("mnist:{}", s(&empty)),
    ]);
    fails_with(&o, &[&s(&empty), "t10k-images-idx3-ubyte"]);
    let r20 = dir.join("r20.safetensors");
    save(
        &zoo::build("resnet20", 10, [3, 32, 32]).unwrap(),
        DatasetKind::Cifar10,
        &r20,
    );
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&r20),
        "--data",
        &format!("cifar10:{}", s(&empty)),
    ]);
    fails_with(&o, &[&s(&empty), "test.bin or test_batch.bin"]);
}

#[test]
fn not_an_idx_file() {
    let dir = scratch("err-not-idx");
    tiny_mnist(&dir, 20, 20);
    let model = lenet(&dir);
    let images = dir.join("t10k-images-idx3-ubyte");
    std::fs::write(&images, b"this is not an IDX file at all").unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&images), "not an IDX file"]);
}

#[test]
fn truncated_idx_file() {
    let dir = scratch("err-trunc-idx");
    tiny_mnist(&dir, 20, 20);
    let model = lenet(&dir);
    let images = dir.join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() - 100]).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&images), "truncated"]);
}

#[test]
fn corrupt_gzip_idx_file() {
    let dir = scratch("err-gzip");
    tiny_mnist(&dir, 20, 20);
    let model = lenet(&dir);
    let gz = dir.join("t10k-labels-idx1-ubyte.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&gz), "corrupt gzip"]);
}

#[test]
fn labels_and_images_disagree() {
    let dir = scratch("err-count");
    tiny_mnist(&dir, 20, 20);
    let model = lenet(&dir);
    common::write_idx(&dir.join("t10k-labels-idx1-ubyte"), &[19], &[0; 19]);
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &["t10k-labels-idx1-ubyte", "19 labels for 20 images"]);
}

#[test]
fn not_a_cifar_file() {
    let dir = scratch("err-cifar");
    let model = dir.join("r20.safetensors");
    save(
        &zoo::build("resnet20", 10, [3, 32, 32]).unwrap(),
        DatasetKind::Cifar10,
        &model,
    );
    let test = dir.join("test.bin");
    std::fs::write(&test, vec![1u8; 3073 * 2 + 17]).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&model),
        "--data",
        &format!("cifar10:{}", s(&dir)),
    ]);
    fails_with(
        &o,
        &[&s(&test), "not a whole number of 3073-byte CIFAR records"],
    );
    // Right size, impossible labels: a CIFAR-100 file read as CIFAR-10.
    let mut rec = vec![0u8; 3073 * 2];
    rec[3073] = 55;
    std::fs::write(&test, &rec).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&model),
        "--data",
        &format!("cifar10:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&test), "record 1 has label 55", "10 classes"]);
}

#[test]
fn not_a_safetensors_file() {
    let dir = scratch("err-not-st");
    tiny_mnist(&dir, 20, 20);
    let model = dir.join("model.safetensors");
    std::fs::write(&model, b"\x50\x4b\x03\x04 a zip, say").unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&model),
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&model), "not a safetensors file"]);
    // A safetensors file cut short.
    let good = std::fs::read(lenet(&dir)).unwrap();
    std::fs::write(&model, &good[..good.len() - 1000]).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&model),
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&model), "safetensors file"]);
}

#[test]
fn safetensors_with_a_missing_key() {
    let dir = scratch("err-missing-key");
    tiny_mnist(&dir, 20, 20);
    let m = zoo::build("lenet5", 10, [1, 32, 32]).unwrap();
    let tensors: Vec<(String, tch::Tensor)> = m
        .store
        .entries()
        .iter()
        .filter(|e| e.name != "conv2.bias")
        .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
        .collect();
    let meta = ModelMeta {
        arch: "lenet5".into(),
        num_classes: 10,
        input_shape: [1, 32, 32],
        normalization: DatasetKind::Mnist.normalization().unwrap(),
        dataset: None,
    };
    let path = dir.join("holey.safetensors");
    std::fs::write(
        &path,
        checkpoint::to_safetensors(&tensors, meta.to_map()).unwrap(),
    )
    .unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&path),
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&path), "missing tensor 'conv2.bias'"]);
}

#[test]
fn safetensors_with_a_shape_that_does_not_fit() {
    let dir = scratch("err-shape");
    tiny_mnist(&dir, 20, 20);
    let path = dir.join("half.safetensors");
    save(
        &zoo::build("lenet5-half", 10, [1, 32, 32]).unwrap(),
        DatasetKind::Mnist,
        &path,
    );
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&path),
        "--arch",
        "lenet5",
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(
        &o,
        &[
            &s(&path),
            "'conv1.weight' has shape [3, 1, 5, 5]",
            "expects [6, 1, 5, 5]",
        ],
    );
}

#[test]
fn checkpoint_of_another_architecture() {
    let dir = scratch("err-other-arch");
    let path = dir.join("r32.safetensors");
    save(
        &zoo::build("resnet32", 10, [3, 32, 32]).unwrap(),
        DatasetKind::Cifar10,
        &path,
    );
    std::fs::write(dir.join("test.bin"), vec![0u8; 3073]).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&path),
        "--arch",
        "resnet20",
        "--data",
        &format!("cifar10:{}", s(&dir)),
    ]);
    fails_with(
        &o,
        &[&s(&path), "unexpected tensor", "another architecture"],
    );
}

#[test]
fn unknown_architecture() {
    let dir = scratch("err-arch");
    tiny_mnist(&dir, 20, 20);
    let model = lenet(&dir);
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--arch",
        "resnet99",
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &["unknown architecture 'resnet99'", "lenet5"]);
    let o = dfkd(&[
        "train-teacher",
        "--arch",
        "vgg77",
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &["unknown architecture 'vgg77'"]);
}

#[test]
fn milestones_that_are_not_epochs() {
    let o = dfkd(&[
        "train-teacher",
        "--arch",
        "resnet20",
        "--data",
        "mnist:/unused",
        "--milestones",
        "8,eleven",
    ]);
    // A usage error, so clap's own report (with its "try --help" line).
    let err = stderr(&o);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    assert!(
        err.contains("'8,eleven' is not a comma-separated list of epochs"),
        "{err}"
    );
}

#[test]
fn wrong_number_of_classes() {
    let dir = scratch("err-classes");
    let path = dir.join("r20.safetensors");
    save(
        &zoo::build("resnet20", 10, [3, 32, 32]).unwrap(),
        DatasetKind::Cifar10,
        &path,
    );
    // A one-record CIFAR-100 test file (coarse 3, fine 42).
    let mut rec = vec![0u8; 3074];
    rec[0] = 3;
    rec[1] = 42;
    std::fs::write(dir.join("test.bin"), rec).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&path),
        "--data",
        &format!("cifar100:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&path), "predicts 10 classes", "cifar100 has 100"]);
}

#[test]
fn wrong_input_channels() {
    let dir = scratch("err-channels");
    let model = lenet(&dir);
    std::fs::write(dir.join("test.bin"), vec![0u8; 3073]).unwrap();
    let o = dfkd(&[
        "eval",
        "--model",
        &model,
        "--data",
        &format!("cifar10:{}", s(&dir)),
    ]);
    fails_with(&o, &[&model, "1x32x32 inputs", "3 channels"]);
}

#[test]
fn foreign_file_without_arch() {
    let dir = scratch("err-no-arch");
    tiny_mnist(&dir, 20, 20);
    let m = zoo::build("lenet5", 10, [1, 32, 32]).unwrap();
    let path = dir.join("foreign.safetensors");
    common::write_bare_state_dict(&m, &path);
    let o = dfkd(&[
        "eval",
        "--model",
        &s(&path),
        "--data",
        &format!("mnist:{}", s(&dir)),
    ]);
    fails_with(&o, &[&s(&path), "pass --arch"]);
}

#[test]
fn eval_on_an_image_folder_and_its_mismatches() {
    let dir = scratch("err-folder");
    for (class, shade) in [("0-dark", 20u8), ("1-light", 230)] {
        std::fs::create_dir_all(dir.join("val").join(class)).unwrap();
        for i in 0..3u8 {
            image::GrayImage::from_pixel(28, 28, image::Luma([shade + i]))
                .save(dir.join("val").join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let val = format!("folder:{}", s(&dir.join("val")));
    // A 2-class LeNet-5 measures on the folder's 6 images.
    let two = dir.join("two.safetensors");
    let m = zoo::build("lenet5", 2, [1, 32, 32]).unwrap();
    save(&m, DatasetKind::Mnist, &two);
    let o = dfkd(&["eval", "--model", &s(&two), "--data", &val]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(6 images)"), "{}", stderr(&o));
    // The same number as the library gives on the folder's images.
    let spec: dfkd::data::DataSpec = val.parse().unwrap();
    let data = dfkd::data::Dataset::load_for(&spec, dfkd::data::Split::Test, [1, 32, 32]).unwrap();
    let norm = DatasetKind::Mnist.normalization().unwrap();
    let expected = dfkd::eval::accuracy(&m, &data, &norm, 500);
    assert!(
        (common::accuracy(&o) - expected).abs() < 1e-9,
        "{}",
        stdout(&o)
    );
    // A 10-class model does not fit a 2-class folder.
    let model = lenet(&dir);
    let o = dfkd(&["eval", "--model", &model, "--data", &val]);
    fails_with(&o, &[&model, "10 classes", "has 2"]);
}
