//! From stored bytes to model inputs, and the training augmentation.

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Per-channel mean and standard deviation of model inputs in [0,1] space.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalization {
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Self {
        Self { mean, std }
    }

    pub fn check_channels(&self, channels: i64) -> Result<()> {
        if self.mean.len() != self.std.len() {
            bail!(
                "normalisation has {} means but {} standard deviations",
                self.mean.len(),
                self.std.len()
            );
        }
        if self.mean.len() as i64 != channels {
            bail!(
                "normalisation has {} channels but the inputs have {channels}",
                self.mean.len()
            );
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            bail!("normalisation standard deviations must be positive");
        }
        Ok(())
    }

    fn stats(&self) -> (Tensor, Tensor) {
        let c = self.mean.len() as i64;
        let mean = Tensor::from_slice(&self.mean)
            .to_kind(Kind::Float)
            .view([1, c, 1, 1]);
        let std = Tensor::from_slice(&self.std)
            .to_kind(Kind::Float)
            .view([1, c, 1, 1]);
        (mean, std)
    }

    /// [0,1] images to normalised inputs.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let (mean, std) = self.stats();
        (x - mean) / std
    }

    /// Normalised inputs back to [0,1] images (for image grids).
    pub fn invert(&self, x: &Tensor) -> Tensor {
        let (mean, std) = self.stats();
        (x * std + mean).clamp(0.0, 1.0)
    }
}

/// u8 images (N x C x H x W) to normalised float inputs of `size` x `size`.
/// Resizing is bilinear with half-pixel centres (what torchvision's `Resize`
/// does when DAFL scales 28x28 digits up to 32x32).
pub fn to_model_input(images: &Tensor, size: i64, norm: &Normalization) -> Tensor {
    let x = images.to_kind(Kind::Float) / 255.0;
    let s = x.size();
    let x = if s[2] != size || s[3] != size {
        x.upsample_bilinear2d([size, size], false, None, None)
    } else {
        x
    };
    norm.apply(&x)
}

/// CIFAR training augmentation: random crop with `pad` pixels of zero
/// padding and a random horizontal flip, per image (RandomCrop(32, 4) +
/// RandomHorizontalFlip). Draws from the global torch generator.
pub fn crop_flip(x: &Tensor, pad: i64) -> Tensor {
    CropFlip::draw(x.size()[0], pad).apply(x)
}

/// The draws of one [`crop_flip`]: per image, where the crop starts in the
/// padded image and whether it is flipped.
#[derive(Debug, Clone, PartialEq)]
pub struct CropFlip {
    pub pad: i64,
    /// (top, left) of each crop in the padded image, in [0, 2 pad].
    pub offsets: Vec<(i64, i64)>,
    pub flips: Vec<bool>,
}

impl CropFlip {
    pub fn draw(n: i64, pad: i64) -> Self {
        let offsets = Tensor::randint(2 * pad + 1, [n, 2], crate::device::host_int64());
        let flips = Tensor::rand([n], crate::device::host_float()).lt(0.5);
        let offsets = Vec::<i64>::try_from(offsets.view(-1)).expect("int64");
        Self {
            pad,
            offsets: offsets.chunks(2).map(|o| (o[0], o[1])).collect(),
            flips: Vec::<bool>::try_from(flips).expect("bool"),
        }
    }

    /// The crops of `x` (N x C x H x W); differentiable in `x`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let s = x.size();
        let (h, w) = (s[2], s[3]);
        let p = self.pad;
        let padded = x.constant_pad_nd([p, p, p, p]);
        let crops: Vec<Tensor> = self
            .offsets
            .iter()
            .zip(&self.flips)
            .enumerate()
            .map(|(i, (&(top, left), &flip))| {
                let c = padded.get(i as i64).narrow(1, top, h).narrow(2, left, w);
                if flip {
                    c.flip([2])
                } else {
                    c
                }
            })
            .collect();
        Tensor::stack(&crops, 0)
    }
}
