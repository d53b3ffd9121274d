//! The random views model inversion optimises through, each split into its
//! draws and a deterministic, differentiable application (so a test can
//! give PyTorch the same draws).
//!
//! - DeepInversion's jitter: a circular shift of up to `limit` pixels each
//!   way and a coin-flip horizontal flip (NVlabs' `torch.roll` + `flip`; the
//!   zju-vipa library's `jitter_and_flip`).
//! - CMI's local view: kornia's `RandomResizedCrop(scale=[0.25, 1])` and a
//!   horizontal flip: a box of 25-100 % of the area with aspect ratio in
//!   [3/4, 4/3] (torchvision's ten tries, then the centre crop), resampled
//!   bilinearly to the full size. CMI's global view is the training
//!   augmentation, [`crate::data::transforms::CropFlip`].

use tch::Tensor;

/// One draw of DeepInversion's jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// Shift along height and width, in [-limit, limit].
    pub dy: i64,
    pub dx: i64,
    pub flip: bool,
}

impl Jitter {
    /// Draws shifts within `limit` pixels; the flip coin is tossed always,
    /// and applied only when `flip` allows it (as the official code).
    pub fn draw(limit: i64, flip: bool) -> Self {
        let d = Tensor::randint(2 * limit + 1, [2], crate::device::host_int64()) - limit;
        let d = Vec::<i64>::try_from(d).expect("int64");
        let coin = Tensor::rand([1], crate::device::host_float()).double_value(&[0]) > 0.5;
        Self {
            dy: d[0],
            dx: d[1],
            flip: flip && coin,
        }
    }

    pub fn apply(&self, x: &Tensor) -> Tensor {
        let y = x.roll([self.dy, self.dx], [2, 3]);
        if self.flip {
            y.flip([3])
        } else {
            y
        }
    }
}

/// The draws of one batch of CMI's local views.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizedCrop {
    /// (top, left, height, width) of each box, in pixels.
    pub boxes: Vec<[i64; 4]>,
    pub flips: Vec<bool>,
}

impl ResizedCrop {
    /// Boxes for `n` images of `h` x `w` pixels covering `scale` of the
    /// area, aspect ratios log-uniform in [3/4, 4/3].
    pub fn draw(n: i64, h: i64, w: i64, scale: (f64, f64)) -> Self {
        const TRIES: i64 = 10;
        let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
        let u = Vec::<f64>::try_from(
            Tensor::rand([n, TRIES, 4], crate::device::host_double()).view(-1),
        )
        .expect("double");
        let area = (h * w) as f64;
        let boxes = (0..n as usize)
            .map(|i| {
                (0..TRIES as usize)
                    .find_map(|t| {
                        let d = &u[(i * TRIES as usize + t) * 4..][..4];
                        let target = area * (scale.0 + d[0] * (scale.1 - scale.0));
                        let ratio = (lo + d[1] * (hi - lo)).exp();
                        let bw = (target * ratio).sqrt().round() as i64;
                        let bh = (target / ratio).sqrt().round() as i64;
                        (0 < bw && bw <= w && 0 < bh && bh <= h).then(|| {
                            let top = (d[2] * (h - bh + 1) as f64).floor() as i64;
                            let left = (d[3] * (w - bw + 1) as f64).floor() as i64;
                            [top, left, bh, bw]
                        })
                    })
                    // torchvision's fallback: the whole image (its ratio is
                    // within bounds for square images).
                    .unwrap_or([0, 0, h, w])
            })
            .collect();
        let flips = Vec::<bool>::try_from(Tensor::rand([n], crate::device::host_float()).lt(0.5))
            .expect("bool");
        Self { boxes, flips }
    }

    /// Each box of `x` (N x C x H x W) resampled to H x W, bilinear with
    /// half-pixel centres, then flipped where drawn; differentiable in `x`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let s = x.size();
        let (h, w) = (s[2] as f64, s[3] as f64);
        // The affine map from output to input coordinates (normalised to
        // [-1, 1], align_corners=False) that crops and scales each box;
        // a flip negates the x scale.
        let theta: Vec<f32> = self
            .boxes
            .iter()
            .zip(&self.flips)
            .flat_map(|(&[top, left, bh, bw], &flip)| {
                let (bh, bw, top, left) = (bh as f64, bw as f64, top as f64, left as f64);
                let sx = bw / w * if flip { -1.0 } else { 1.0 };
                let sy = bh / h;
                let tx = (2.0 * left + bw) / w - 1.0;
                let ty = (2.0 * top + bh) / h - 1.0;
                [sx, 0.0, tx, 0.0, sy, ty].map(|v| v as f32)
            })
            .collect();
        let theta = Tensor::from_slice(&theta).view([s[0], 2, 3]);
        let grid = Tensor::affine_grid_generator(&theta, [s[0], s[1], s[2], s[3]], false);
        // Bilinear (0), zero padding (0), align_corners=False.
        x.grid_sampler(&grid, 0, 0, false)
    }
}
