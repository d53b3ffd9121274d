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
    let n = d.num_classes;
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
    let x = test.inputs(&idx, 32, &DatasetKind::Mnist.normalization().unwrap());
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

/// An ImageFolder tree: classes `b-shirt` and `a-coat` (so sorting, not
/// creation order, numbers them), PNG and JPEG, a nested folder, and a
/// file that is no image.
fn image_folder(root: &Path) {
    let solid = |path: &Path, w: u32, h: u32, rgb: [u8; 3]| {
        image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
            .save(path)
            .unwrap();
    };
    let shirt = root.join("b-shirt");
    let coat = root.join("a-coat");
    std::fs::create_dir_all(shirt.join("more")).unwrap();
    std::fs::create_dir_all(&coat).unwrap();
    solid(&shirt.join("2.png"), 40, 20, [200, 100, 50]);
    solid(&shirt.join("more/1.png"), 32, 32, [0, 0, 0]);
    solid(&shirt.join("1.JPG"), 64, 64, [255, 255, 255]);
    solid(&coat.join("x.jpeg"), 28, 28, [10, 20, 30]);
    std::fs::write(coat.join("notes.txt"), "not an image").unwrap();
}

#[test]
fn an_image_folder_reads_as_torchvision_imagefolder_numbers_it() {
    let root = common::scratch("folder-layout");
    image_folder(&root);
    let s = spec(DatasetKind::Folder, &root);
    let d = Dataset::load_for(&s, Split::Test, [1, 32, 32]).unwrap();
    assert_eq!(d.num_classes, 2);
    assert_eq!(d.images.size(), [4, 1, 32, 32]);
    // a-coat = 0; then b-shirt's own files in name order (1.JPG, 2.png),
    // then its subfolder's.
    assert_eq!(Vec::<i64>::try_from(&d.labels).unwrap(), [0, 1, 1, 1]);
    let pixel = |i: i64| d.images.int64_value(&[i, 0, 16, 16]);
    // PIL's convert("L"): (r*19595 + g*38470 + b*7471 + 2^15) >> 16.
    let luma = |r: u32, g: u32, b: u32| ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as i64;
    assert_eq!(pixel(1), 255, "white JPEG");
    assert_eq!(pixel(2), luma(200, 100, 50));
    assert_eq!(pixel(3), 0);
    assert!((pixel(0) - luma(10, 20, 30)).abs() <= 2, "JPEG, lossy");
    let rgb = Dataset::load_for(&s, Split::Test, [3, 16, 16]).unwrap();
    assert_eq!(rgb.images.size(), [4, 3, 16, 16]);
    assert_eq!(
        Vec::<i64>::try_from(
            rgb.images
                .get(2)
                .mean_dim(&[1i64, 2][..], false, Kind::Float)
                .to_kind(Kind::Int64)
        )
        .unwrap(),
        [200, 100, 50]
    );
}

#[test]
fn a_bad_image_folder_is_named_in_the_error() {
    let root = common::scratch("folder-bad");
    image_folder(&root);
    let s = spec(DatasetKind::Folder, &root);
    let broken = root.join("a-coat/broken.png");
    std::fs::write(&broken, b"\x89PNG not really").unwrap();
    let e = format!(
        "{:#}",
        Dataset::load_for(&s, Split::Test, [1, 32, 32])
            .err()
            .unwrap()
    );
    assert!(
        e.contains(&broken.display().to_string()) && e.contains("unreadable image"),
        "{e}"
    );
    std::fs::remove_file(&broken).unwrap();
    let bmp = root.join("a-coat/y.bmp");
    std::fs::write(&bmp, b"BM").unwrap();
    let e = format!(
        "{:#}",
        Dataset::load_for(&s, Split::Test, [1, 32, 32])
            .err()
            .unwrap()
    );
    assert!(e.contains("y.bmp") && e.contains("PNG and JPEG"), "{e}");
    std::fs::remove_file(&bmp).unwrap();
    std::fs::create_dir(root.join("c-empty")).unwrap();
    let e = format!(
        "{:#}",
        Dataset::load_for(&s, Split::Test, [1, 32, 32])
            .err()
            .unwrap()
    );
    assert!(e.contains("c-empty") && e.contains("no images"), "{e}");
    let e = format!("{:#}", Dataset::load(&s, Split::Train).err().unwrap());
    assert!(e.contains("only measures a model"), "{e}");
}
