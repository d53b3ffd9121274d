//! CIFAR binary files: records of label byte(s) followed by 3072 bytes
//! (R, G and B planes, 32x32 each, row-major). CIFAR-10 records carry one
//! label byte; CIFAR-100 records carry a coarse and a fine label byte (the
//! fine label is the class).

use anyhow::{bail, Context, Result};
use std::path::Path;

pub const IMAGE_BYTES: usize = 3 * 32 * 32;

/// Images (N x 3072) and labels of one or more CIFAR binary files.
pub struct Records {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

/// Reads one CIFAR binary file. `label_bytes` is 1 (CIFAR-10) or 2
/// (CIFAR-100); labels at or above `classes` mean the file is of another kind.
pub fn read(path: &Path, label_bytes: usize, classes: usize, into: &mut Records) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let record = label_bytes + IMAGE_BYTES;
    if bytes.is_empty() {
        bail!("{}: empty file", path.display());
    }
    if bytes.len() % record != 0 {
        bail!(
            "{}: not a whole number of {record}-byte CIFAR records ({} bytes; truncated or not a CIFAR binary file)",
            path.display(),
            bytes.len()
        );
    }
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_bytes - 1];
        if label as usize >= classes {
            bail!(
                "{}: record {i} has label {label}, but this dataset has {classes} classes (not a file of this kind?)",
                path.display()
            );
        }
        into.labels.push(label);
        into.images.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}
