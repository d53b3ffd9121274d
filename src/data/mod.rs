//! Real datasets, for training teachers and measuring students only.
//!
//! Nothing here can feed a distillation: the distillation engine takes its
//! samples from a synthesizer and reads a [`Dataset`] only through the
//! evaluation hook, which returns an accuracy.

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod transforms;

use anyhow::{bail, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tch::{Kind, Tensor};
pub use transforms::Normalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    /// A user's own images in torchvision's ImageFolder layout.
    Folder,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 4] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Folder => "folder",
        }
    }

    /// The classes of a standard dataset; a folder has as many as it has
    /// class directories.
    pub fn num_classes(self) -> Option<i64> {
        match self {
            DatasetKind::Cifar100 => Some(100),
            DatasetKind::Folder => None,
            _ => Some(10),
        }
    }

    /// The shape models see: MNIST-style digits are resized to 32x32 for the
    /// LeNet family, as DAFL does. A folder's images take the model's shape.
    pub fn input_shape(self) -> Option<[i64; 3]> {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => Some([1, 32, 32]),
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => Some([3, 32, 32]),
            DatasetKind::Folder => None,
        }
    }

    /// Per-dataset normalisation (the statistics the reference teachers
    /// use); a folder has no standard one.
    pub fn normalization(self) -> Option<Normalization> {
        Some(match self {
            DatasetKind::Mnist => Normalization::new(vec![0.1307], vec![0.3081]),
            DatasetKind::FashionMnist => Normalization::new(vec![0.2860], vec![0.3530]),
            DatasetKind::Cifar10 => {
                Normalization::new(vec![0.4914, 0.4822, 0.4465], vec![0.2023, 0.1994, 0.2010])
            }
            DatasetKind::Cifar100 => {
                Normalization::new(vec![0.5071, 0.4867, 0.4408], vec![0.2675, 0.2565, 0.2761])
            }
            DatasetKind::Folder => return None,
        })
    }
}

impl FromStr for DatasetKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.to_ascii_lowercase().replace('_', "-");
        if s == "folder" {
            return Ok(DatasetKind::Folder);
        }
        match DatasetKind::ALL
            .iter()
            .find(|k| k.name() == s || (s == "fmnist" && **k == DatasetKind::FashionMnist))
        {
            Some(k) => Ok(*k),
            None => bail!(
                "unknown dataset kind '{s}' (known: {}, folder)",
                DatasetKind::ALL.map(|k| k.name()).join(", ")
            ),
        }
    }
}

/// A data argument `KIND:PATH`, e.g. `mnist:../shared/data/mnist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub kind: DatasetKind,
    pub path: PathBuf,
}

impl FromStr for DataSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let Some((kind, path)) = s.split_once(':') else {
            bail!("'{s}' is not of the form KIND:PATH (e.g. mnist:data/mnist)");
        };
        if path.is_empty() {
            bail!("'{s}' names no path after '{kind}:'");
        }
        Ok(DataSpec {
            kind: kind.parse()?,
            path: PathBuf::from(path),
        })
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.path.display())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Labelled images held as bytes (N x C x H x W, u8) at their native size.
pub struct Dataset {
    pub kind: DatasetKind,
    pub images: Tensor,
    pub labels: Tensor,
    pub num_classes: i64,
}

impl Dataset {
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads one split of the standard dataset a [`DataSpec`] points to.
    pub fn load(spec: &DataSpec, split: Split) -> Result<Dataset> {
        if !spec.path.exists() {
            bail!("{}: no such file or directory", spec.path.display());
        }
        match spec.kind {
            DatasetKind::Mnist | DatasetKind::FashionMnist => load_idx(spec, split),
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => load_cifar(spec, split),
            DatasetKind::Folder => bail!(
                "{}: a folder of images only measures a model (eval, --val); training takes mnist, fashion-mnist, cifar10 or cifar100",
                spec.path.display()
            ),
        }
    }

    /// Reads the images that measure a model of input `shape`: the test split
    /// of a standard dataset, or every image of a folder, converted to the
    /// model's channels and size.
    pub fn load_for(spec: &DataSpec, split: Split, shape: [i64; 3]) -> Result<Dataset> {
        match spec.kind {
            DatasetKind::Folder => folder::load(&spec.path, shape),
            _ => Dataset::load(spec, split),
        }
    }

    /// Colour channels of the images.
    pub fn channels(&self) -> i64 {
        self.images.size()[1]
    }

    /// Images `index` as model inputs: floats in [0,1], resized to the
    /// model's input size when they differ, then normalised.
    pub fn inputs(&self, index: &Tensor, size: i64, norm: &Normalization) -> Tensor {
        transforms::to_model_input(&self.images.index_select(0, index), size, norm)
    }
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find_idx(dir: &Path, stem: &str, what: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "{}: no {what} here (looked for {stem}.gz and {stem})",
        dir.display()
    )
}

fn load_idx(spec: &DataSpec, split: Split) -> Result<Dataset> {
    let dir = &spec.path;
    if !dir.is_dir() {
        bail!(
            "{}: expected a directory holding the four IDX files",
            dir.display()
        );
    }
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images_path = find_idx(dir, &format!("{prefix}-images-idx3-ubyte"), "image file")?;
    let labels_path = find_idx(dir, &format!("{prefix}-labels-idx1-ubyte"), "label file")?;
    let images = idx::read(&images_path)?;
    let labels = idx::read(&labels_path)?;
    if images.dims.len() != 3 {
        bail!(
            "{}: expected N x rows x cols images, found dimensions {:?}",
            images_path.display(),
            images.dims
        );
    }
    if labels.dims.len() != 1 {
        bail!(
            "{}: expected a vector of labels, found dimensions {:?}",
            labels_path.display(),
            labels.dims
        );
    }
    let n = images.dims[0];
    if labels.dims[0] != n {
        bail!(
            "{}: {} labels for {n} images in {}",
            labels_path.display(),
            labels.dims[0],
            images_path.display()
        );
    }
    let classes = 10u8;
    if let Some(bad) = labels.data.iter().find(|&&l| l >= classes) {
        bail!(
            "{}: label {bad} is out of range for {} ({} classes)",
            labels_path.display(),
            spec.kind.name(),
            classes
        );
    }
    let (h, w) = (images.dims[1] as i64, images.dims[2] as i64);
    Ok(Dataset {
        kind: spec.kind,
        images: Tensor::from_slice(&images.data).view([n as i64, 1, h, w]),
        labels: Tensor::from_slice(&labels.data).to_kind(Kind::Int64),
        num_classes: classes.into(),
    })
}

fn load_cifar(spec: &DataSpec, split: Split) -> Result<Dataset> {
    let (label_bytes, classes) = match spec.kind {
        DatasetKind::Cifar10 => (1, 10),
        _ => (2, 100),
    };
    let files = cifar_files(&spec.path, spec.kind, split)?;
    let mut records = cifar::Records {
        images: Vec::new(),
        labels: Vec::new(),
    };
    for f in &files {
        cifar::read(f, label_bytes, classes, &mut records)?;
    }
    let n = records.labels.len() as i64;
    Ok(Dataset {
        kind: spec.kind,
        images: Tensor::from_slice(&records.images).view([n, 3, 32, 32]),
        labels: Tensor::from_slice(&records.labels).to_kind(Kind::Int64),
        num_classes: classes as i64,
    })
}

/// The files of one split: a single `train.bin` / `test.bin`, or the official
/// CIFAR-10 set `data_batch_1..5.bin` / `test_batch.bin`. A path to a file is
/// taken as the whole split.
fn cifar_files(path: &Path, kind: DatasetKind, split: Split) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let dirs = [
        path.to_path_buf(),
        path.join("cifar-10-batches-bin"),
        path.join("cifar-100-binary"),
    ];
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let single = dir.join(match split {
            Split::Train => "train.bin",
            Split::Test => "test.bin",
        });
        if single.is_file() {
            return Ok(vec![single]);
        }
        if kind == DatasetKind::Cifar10 {
            let set: Vec<PathBuf> = match split {
                Split::Train => (1..=5)
                    .map(|i| dir.join(format!("data_batch_{i}.bin")))
                    .collect(),
                Split::Test => vec![dir.join("test_batch.bin")],
            };
            if set.iter().all(|p| p.is_file()) {
                return Ok(set);
            }
        }
    }
    let looked = match (kind, split) {
        (DatasetKind::Cifar10, Split::Train) => "train.bin or data_batch_1..5.bin",
        (DatasetKind::Cifar10, Split::Test) => "test.bin or test_batch.bin",
        (_, Split::Train) => "train.bin",
        (_, Split::Test) => "test.bin",
    };
    let split = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    bail!(
        "{}: no {} {split} split here (looked for {looked})",
        path.display(),
        kind.name()
    )
}
