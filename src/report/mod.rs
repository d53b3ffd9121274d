//! Pictures people would rather look at than read: accuracy and loss
//! curves, and grids of synthetic samples, as PNG files.

pub mod grid;
pub mod plot;

use anyhow::{anyhow, Result};
use image::ImageEncoder;

/// PNG bytes of an RGB image.
pub fn png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, width, height, image::ColorType::Rgb8)
        .map_err(|e| anyhow!("encoding PNG: {e}"))?;
    Ok(out)
}
