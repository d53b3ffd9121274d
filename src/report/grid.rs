//! A grid of images (synthetic samples) as one picture.

use crate::checkpoint::write_atomic;
use crate::data::Normalization;
use anyhow::Result;
use std::path::Path;
use tch::{Kind, Tensor};

/// Writes up to 64 images of `x` (N x C x H x W, normalised model inputs) as
/// an 8-column grid, each image scaled up `zoom` times, 2-pixel gaps.
pub fn write(path: &Path, x: &Tensor, norm: &Normalization, zoom: i64) -> Result<()> {
    let x = norm.invert(&x.detach().to_kind(Kind::Float));
    let s = x.size();
    let (n, c, h, w) = (s[0].min(64), s[1], s[2], s[3]);
    let cols = n.min(8);
    let rows = (n + cols - 1) / cols;
    let (ch, cw) = (h * zoom, w * zoom);
    let gap = 2;
    let width = cols * cw + (cols + 1) * gap;
    let height = rows * ch + (rows + 1) * gap;
    let x = (x.narrow(0, 0, n).upsample_nearest2d([ch, cw], None, None) * 255.0)
        .round()
        .to_kind(Kind::Uint8);
    // Grey images are shown as RGB with equal channels.
    let x = if c == 1 {
        x.expand([n, 3, ch, cw], false)
    } else {
        x
    };
    let x = x.permute([0, 2, 3, 1]).contiguous();
    let pixels = Vec::<u8>::try_from(x.view(-1)).expect("u8 tensor");
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    for i in 0..n {
        let (r, col) = (i / cols, i % cols);
        let (top, left) = (gap + r * (ch + gap), gap + col * (cw + gap));
        for y in 0..ch {
            let src = ((i * ch + y) * cw * 3) as usize;
            let dst = (((top + y) * width + left) * 3) as usize;
            rgb[dst..dst + (cw * 3) as usize]
                .copy_from_slice(&pixels[src..src + (cw * 3) as usize]);
        }
    }
    write_atomic(path, &super::png(&rgb, width as u32, height as u32)?)
}
