//! A user's own held-out images in torchvision's ImageFolder layout: one
//! directory per class under the root, the classes numbered in sorted order
//! of their names, the images of a class found recursively and taken in
//! sorted order, as `torchvision.datasets.ImageFolder` does, so a label
//! here is the label the user's PyTorch code gives the same image.
//!
//! Files with ImageFolder's image extensions are images (others are ignored,
//! as there); dfkd decodes PNG and JPEG. Each image is converted to the
//! model's channels (RGB, or PIL's `convert("L")` luma for one channel) and
//! resized to its input size (bilinear, antialiased when shrinking, as
//! torchvision's `Resize` on a PIL image).

use super::{Dataset, DatasetKind};
use anyhow::{bail, Context, Result};
use image::imageops::FilterType;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// torchvision's `IMG_EXTENSIONS`.
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp",
];
/// The ones dfkd can decode.
const READABLE: &[&str] = &["jpg", "jpeg", "png"];

/// Every image under `root`, as model inputs of `shape` (C x H x W) in bytes.
pub fn load(root: &Path, [c, h, w]: [i64; 3]) -> Result<Dataset> {
    if !root.is_dir() {
        bail!(
            "{}: expected a directory with one folder of images per class",
            root.display()
        );
    }
    if c != 1 && c != 3 {
        bail!(
            "{}: images can be read for 1- or 3-channel models, not {c}",
            root.display()
        );
    }
    let classes = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect::<Vec<_>>();
    if classes.is_empty() {
        bail!("{}: no class folders here", root.display());
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (label, dir) in classes.iter().enumerate() {
        let mut files = Vec::new();
        images_under(dir, &mut files)?;
        if files.is_empty() {
            bail!("{}: no images in this class folder", dir.display());
        }
        for file in files {
            pixels.extend(read_image(&file, c, h, w)?);
            labels.push(label as i64);
        }
    }
    let n = labels.len() as i64;
    Ok(Dataset {
        kind: DatasetKind::Folder,
        images: Tensor::from_slice(&pixels).view([n, c, h, w]),
        labels: Tensor::from_slice(&labels).to_kind(Kind::Int64),
        num_classes: classes.len() as i64,
    })
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("{}", dir.display()))?;
    entries.sort();
    Ok(entries)
}

fn extension(p: &Path) -> Option<String> {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// The image files under `dir`, recursively; ImageFolder's order (a
/// directory's files before its subdirectories', each sorted by name).
fn images_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = sorted_entries(dir)?;
    for p in entries.iter().filter(|p| p.is_file()) {
        if extension(p).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            out.push(p.clone());
        }
    }
    for p in entries.iter().filter(|p| p.is_dir()) {
        images_under(p, out)?;
    }
    Ok(())
}

/// One image as `c` planes of `h x w` bytes.
fn read_image(file: &Path, c: i64, h: i64, w: i64) -> Result<Vec<u8>> {
    let ext = extension(file).unwrap_or_default();
    if !READABLE.contains(&ext.as_str()) {
        bail!(
            "{}: .{ext} images are not supported (dfkd reads PNG and JPEG)",
            file.display()
        );
    }
    let img = image::open(file)
        .map_err(|e| anyhow::anyhow!("{}: unreadable image ({e})", file.display()))?;
    let rgb = img.to_rgb8();
    let rgb = image::imageops::resize(&rgb, w as u32, h as u32, FilterType::Triangle);
    let plane = (h * w) as usize;
    let mut out = vec![0u8; c as usize * plane];
    for (i, p) in rgb.pixels().enumerate() {
        let [r, g, b] = p.0;
        if c == 1 {
            // PIL's ITU-R 601-2 luma, in its fixed-point rounding.
            let l = (r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16;
            out[i] = l as u8;
        } else {
            out[i] = r;
            out[plane + i] = g;
            out[2 * plane + i] = b;
        }
    }
    Ok(out)
}
