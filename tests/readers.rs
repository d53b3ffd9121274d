//! Dataset readers: IDX (raw and gzip) and CIFAR binaries (one file or the
//! official batch set; CIFAR-10 and CIFAR-100).

mod common;

use dfkd::data::{DataSpec, Dataset, DatasetKind, Split};
use std::path::Path;
use tch::Kind;

fn spec(kind: DatasetKind, path: &Path) -> DataSpec {
    DataSpec {
        kind,
        path: path.to_path_buf(),
    }
}

fn class_counts(d: &Dataset) -> Vec<i64> {
    let n = d.kind.num_classes();
    Vec::<i64>::try_from(d.labels.bincount(None::<tch::Tensor>, n)).unwrap()
}

#[test]
fn data_arguments_parse() {
    let d: DataSpec = "fashion-mnist:/usr/share/x".parse().unwrap();
    assert_eq!(d.kind, DatasetKind::FashionMnist);
    assert_eq!(d.path, Path::new("/usr/share/x"));
    assert_eq!(
        "cifar100:rel/dir".parse::<DataSpec>().unwrap().kind,
        DatasetKind::Cifar100
    );
    let e = "imagenet:/x".parse::<DataSpec>().unwrap_err().to_string();
    assert!(e.contains("unknown dataset kind 'imagenet'"), "{e}");
    let e = "mnist".parse::<DataSpec>().unwrap_err().to_string();
    assert!(e.contains("KIND:PATH"), "{e}");
}

#[test]
fn real_mnist() {
    let Some(data) = common::shared_data("real_mnist") else {
        return;
    };
    let s = spec(DatasetKind::Mnist, &data.join("mnist"));
    let train = Dataset::load(&s, Split::Train).unwrap();
    let test = Dataset::load(&s, Split::Test).unwrap();
    assert_eq!(train.images.size(), [60000, 1, 28, 28]);
    assert_eq!(test.images.size(), [10000, 1, 28, 28]);
    // The well-known first labels: 5 (train) and 7 (test).
    assert_eq!(train.labels.int64_value(&[0]), 5);
    assert_eq!(test.labels.int64_value(&[0]), 7);
    assert_eq!(
        class_counts(&test),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // Inputs for LeNet: 32x32, normalised with MNIST's statistics.
    let idx = tch::Tensor::arange(10000, tch::kind::INT64_CPU);
    let x = test.inputs(&idx, 32, &DatasetKind::Mnist.normalization());
    assert_eq!(x.size(), [10000, 1, 32, 32]);
    let mean = x.mean(Kind::Float).double_value(&[]);
    assert!(mean.abs() < 0.05, "normalised mean {mean}");
}

#[test]
fn real_cifar10_single_file() {
    let Some(data) = common::shared_data("real_cifar10_single_file") else {
        return;
    };
    let s = spec(DatasetKind::Cifar10, &data.join("cifar10"));
    let test = Dataset::load(&s, Split::Test).unwrap();
    assert_eq!(test.images.size(), [10000, 3, 32, 32]);
    assert_eq!(class_counts(&test), [1000; 10]);
    let train = Dataset::load(&s, Split::Train).unwrap();
    assert_eq!(class_counts(&train), [5000; 10]);
}

#[test]
fn real_fashion_mnist() {
    let Some(dir) = common::fashion_mnist("real_fashion_mnist") else {
        return;
    };
    let test = Dataset::load(&spec(DatasetKind::FashionMnist, &dir), Split::Test).unwrap();
    assert_eq!(test.images.size(), [10000, 1, 28, 28]);
    assert_eq!(class_counts(&test), [1000; 10]);
}

/// A CIFAR record: label byte(s), then the R, G and B planes filled with `fill`.
fn record(labels: &[u8], fill: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    r.extend(std::iter::repeat_n(fill, 3072));
    r
}

#[test]
fn official_cifar10_batch_set_in_order() {
    let dir = common::scratch("cifar10-batches").join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for b in 1..=5u8 {
        let bytes: Vec<u8> = (0..3u8)
            .flat_map(|i| record(&[(b + i) % 10], b * 10 + i))
            .collect();
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), record(&[9], 77)).unwrap();
    // The parent directory works too (the official archive's layout).
    let s = spec(DatasetKind::Cifar10, dir.parent().unwrap());
    let train = Dataset::load(&s, Split::Train).unwrap();
    assert_eq!(train.len(), 15);
    let firsts: Vec<i64> = (0..15)
        .map(|i| train.images.int64_value(&[i, 0, 0, 0]))
        .collect();
    assert_eq!(
        firsts,
        [10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52]
    );
    assert_eq!(train.labels.int64_value(&[3]), 2);
    let test = Dataset::load(&s, Split::Test).unwrap();
    assert_eq!((test.len(), test.labels.int64_value(&[0])), (1, 9));
    // Planes are R, G, B in order.
    let mut rgb = vec![4u8];
    rgb.extend(std::iter::repeat_n(1u8, 1024));
    rgb.extend(std::iter::repeat_n(2u8, 1024));
    rgb.extend(std::iter::repeat_n(3u8, 1024));
    std::fs::write(dir.join("test_batch.bin"), rgb).unwrap();
    let test = Dataset::load(&s, Split::Test).unwrap();
    let px: Vec<i64> = (0..3)
        .map(|c| test.images.int64_value(&[0, c, 31, 31]))
        .collect();
    assert_eq!(px, [1, 2, 3]);
}

#[test]
fn cifar100_uses_the_fine_label() {
    let dir = common::scratch("cifar100");
    let bytes: Vec<u8> = [(3u8, 42u8), (19, 99), (0, 0)]
        .iter()
        .flat_map(|&(coarse, fine)| record(&[coarse, fine], fine))
        .collect();
    std::fs::write(dir.join("train.bin"), &bytes).unwrap();
    let d = Dataset::load(&spec(DatasetKind::Cifar100, &dir), Split::Train).unwrap();
    assert_eq!(Vec::<i64>::try_from(&d.labels).unwrap(), [42, 99, 0]);
    assert_eq!(d.images.int64_value(&[1, 2, 5, 5]), 99);
}

#[test]
fn gzip_and_raw_idx_read_the_same() {
    let dir = common::scratch("idx-gz");
    common::tiny_mnist(&dir, 30, 10);
    let raw = Dataset::load(&spec(DatasetKind::Mnist, &dir), Split::Train).unwrap();
    let gz_dir = common::scratch("idx-gz2");
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &bytes).unwrap();
        std::fs::write(gz_dir.join(format!("{name}.gz")), enc.finish().unwrap()).unwrap();
    }
    let gz = Dataset::load(&spec(DatasetKind::Mnist, &gz_dir), Split::Train).unwrap();
    assert!(raw.images.equal(&gz.images) && raw.labels.equal(&gz.labels));
}
