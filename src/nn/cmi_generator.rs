//! The generator of CMI (and of the zju-vipa DataFree library it ships in,
//! `datafree/models/generator.py`, `Generator`): Linear(nz -> 2ngf (s/4)^2)
//! -> BN -> up x2 -> conv 2ngf->2ngf (no bias) -> BN -> LeakyReLU(0.2) ->
//! up x2 -> conv 2ngf->ngf (no bias) -> BN -> LeakyReLU(0.2) -> conv
//! ngf->C -> Sigmoid. Unlike DAFL's generator its images are in [0, 1]
//! pixel space (the synthesizer normalises them for the teacher), and every
//! BatchNorm uses the default eps. Parameter names follow the official
//! module (`l1.0`, `conv_blocks.{0,2,3,6,7,9}`).
//!
//! CMI re-initialises the generator before every synthesis
//! ([`CmiGenerator::reset`]), as the official `reset_model`: conv and linear
//! weights from N(0, 0.02) with zero biases, BatchNorm weights from
//! N(1, 0.02) with zero biases, in module order.

use super::forward::{Ctx, Taps};
use super::layers::{channels_last, BatchNorm2d, Conv2d, ConvCfg, Linear};
use super::store::Store;
use tch::Tensor;

pub struct CmiGenerator {
    pub store: Store,
    pub latent: i64,
    ngf: i64,
    size: i64,
    l1: Linear,
    bn0: BatchNorm2d,
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    conv3: Conv2d,
    slope: Tensor,
}

impl CmiGenerator {
    /// A generator of `latent`-dimensional codes for images of shape `image`
    /// (height and width divisible by 4).
    pub fn new(latent: i64, ngf: i64, image: [i64; 3]) -> Self {
        let [c, h, _] = image;
        let s = h / 4;
        let w = 2 * ngf;
        let mut store = Store::new();
        let st = &mut store;
        let plain = |bias| ConvCfg {
            stride: 1,
            padding: 1,
            bias,
        };
        let l1 = Linear::new(st, "l1.0", latent, w * s * s);
        let bn0 = BatchNorm2d::new(st, "conv_blocks.0", w);
        let conv1 = Conv2d::new(st, "conv_blocks.2", w, w, 3, plain(false));
        let bn1 = BatchNorm2d::new(st, "conv_blocks.3", w);
        let conv2 = Conv2d::new(st, "conv_blocks.6", w, ngf, 3, plain(false));
        let bn2 = BatchNorm2d::new(st, "conv_blocks.7", ngf);
        let conv3 = Conv2d::new(st, "conv_blocks.9", ngf, c, 3, plain(true));
        Self {
            store,
            latent,
            ngf,
            size: h,
            l1,
            bn0,
            conv1,
            bn1,
            conv2,
            bn2,
            conv3,
            slope: Tensor::from_slice(&[0.2f32]),
        }
    }

    /// The official `reset_model`, drawing in module order.
    pub fn reset(&self) {
        self.reset_first_layer();
        tch::no_grad(|| {
            let convs = [&self.conv1, &self.conv2, &self.conv3];
            for (bn, conv) in [&self.bn0, &self.bn1, &self.bn2].into_iter().zip(convs) {
                normal(&bn.weight.as_ref().expect("affine").tensor, 1.0);
                let _ = bn
                    .bias
                    .as_ref()
                    .expect("affine")
                    .tensor
                    .shallow_clone()
                    .zero_();
                normal(&conv.weight.tensor, 0.0);
                if let Some(b) = &conv.bias {
                    let _ = b.tensor.shallow_clone().zero_();
                }
            }
        });
    }

    /// The first layer only, as Fast-Datafree's `reset_l0`.
    pub fn reset_first_layer(&self) {
        tch::no_grad(|| {
            normal(&self.l1.weight.tensor, 0.0);
            let _ = self.l1.bias.tensor.shallow_clone().zero_();
        });
    }

    /// Images in [0, 1] from codes `z` (B x latent), BatchNorm on batch
    /// statistics: the generator never leaves train mode.
    pub fn forward(&self, z: &Tensor) -> Tensor {
        let taps = Taps::none();
        let mut ctx = Ctx::new(true, None, &taps);
        let ctx = &mut ctx;
        let s = self.size / 4;
        let x = channels_last(&self.l1.forward(z, ctx).view([-1, 2 * self.ngf, s, s]));
        let x = self
            .bn0
            .forward(&x, ctx)
            .upsample_nearest2d([2 * s, 2 * s], None, None);
        let x = self.conv1.forward(&x, ctx);
        let x = self.bn1.forward(&x, ctx).prelu(&self.slope);
        let x = x.upsample_nearest2d([4 * s, 4 * s], None, None);
        let x = self.conv2.forward(&x, ctx);
        let x = self.bn2.forward(&x, ctx).prelu(&self.slope);
        self.conv3.forward(&x, ctx).sigmoid()
    }
}

/// Fills `t` from N(mean, 0.02), drawn on the host as the official code.
fn normal(t: &Tensor, mean: f64) {
    let draw = Tensor::empty(t.size(), crate::device::host_float()).normal_(mean, 0.02);
    t.shallow_clone().copy_(&draw);
}
