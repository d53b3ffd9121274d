//! The encoder of PRE-DFKD's memory VAE (`networks/generator.py`,
//! `Encoder`): images are L2-normalised along their height (as the official
//! code does, `F.normalize(img, dim=2)`), then conv C->64 -> BN(eps 0.8) ->
//! LeakyReLU(0.2) -> conv 64->128 -> BN(eps 0.8) -> LeakyReLU -> down x2 ->
//! conv 128->128 stride 2 -> BN -> down x2 -> flatten -> `fc_mu`, `fc_var`.
//! Weights from U(-0.08, 0.08), biases zero, drawn in PyTorch's order.

use super::forward::{Ctx, Taps};
use super::layers::{channels_last, reinit_uniform, BatchNorm2d, Conv2d, ConvCfg, Linear};
use super::store::Store;
use tch::Tensor;

pub struct Encoder {
    pub store: Store,
    conv0: Conv2d,
    bn0: BatchNorm2d,
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    fc_mu: Linear,
    fc_var: Linear,
    slope: Tensor,
}

/// A latent code drawn by the reparameterisation trick, with the
/// distribution it was drawn from.
pub struct Encoded {
    pub z: Tensor,
    pub mu: Tensor,
    pub log_var: Tensor,
}

impl Encoder {
    /// For images of shape `image` (height and width divisible by 8) and
    /// codes of `latent` dimensions.
    pub fn new(image: [i64; 3], latent: i64) -> Self {
        let [c, h, w] = image;
        let mut store = Store::new();
        let st = &mut store;
        let cfg = |stride| ConvCfg {
            stride,
            padding: 1,
            bias: true,
        };
        let conv0 = Conv2d::new(st, "conv_blocks0.0", c, 64, 3, cfg(1));
        let bn0 = BatchNorm2d::with(st, "conv_blocks0.1", 64, 0.8, true);
        let conv1 = Conv2d::new(st, "conv_blocks1.0", 64, 128, 3, cfg(1));
        let bn1 = BatchNorm2d::with(st, "conv_blocks1.1", 128, 0.8, true);
        let conv2 = Conv2d::new(st, "conv_blocks2.0", 128, 128, 3, cfg(2));
        let bn2 = BatchNorm2d::new(st, "conv_blocks2.1", 128);
        let flat = 128 * (h / 8) * (w / 8);
        let fc_mu = Linear::new(st, "fc_mu", flat, latent);
        let fc_var = Linear::new(st, "fc_var", flat, latent);
        reinit_uniform(
            &[
                conv0.weight_and_bias(),
                conv1.weight_and_bias(),
                conv2.weight_and_bias(),
                (&fc_mu.weight.tensor, Some(&fc_mu.bias.tensor)),
                (&fc_var.weight.tensor, Some(&fc_var.bias.tensor)),
            ],
            0.08,
        );
        Self {
            store,
            conv0,
            bn0,
            conv1,
            bn1,
            conv2,
            bn2,
            fc_mu,
            fc_var,
            slope: Tensor::from_slice(&[0.2f32]),
        }
    }

    /// Encodes `x` (training mode: BatchNorm on batch statistics) and draws
    /// one code per image.
    pub fn forward(&self, x: &Tensor) -> Encoded {
        let taps = Taps::none();
        let mut ctx = Ctx::new(true, None, &taps);
        let ctx = &mut ctx;
        let norm = x
            .norm_scalaropt_dim(2, [2i64].as_slice(), true)
            .clamp_min(1e-12);
        let x = channels_last(&(x / norm));
        let x = self
            .bn0
            .forward(&self.conv0.forward(&x, ctx), ctx)
            .prelu(&self.slope);
        let x = self
            .bn1
            .forward(&self.conv1.forward(&x, ctx), ctx)
            .prelu(&self.slope);
        let [_, _, h, w] = x.size()[..] else {
            unreachable!()
        };
        let x = x.upsample_nearest2d([h / 2, w / 2], None, None);
        let x = self.bn2.forward(&self.conv2.forward(&x, ctx), ctx);
        let [_, _, h, w] = x.size()[..] else {
            unreachable!()
        };
        let x = x.upsample_nearest2d([h / 2, w / 2], None, None);
        let x = x.contiguous().view([x.size()[0], -1]);
        let mu = self.fc_mu.forward(&x, ctx);
        let log_var = self.fc_var.forward(&x, ctx);
        let std = (&log_var * 0.5).exp();
        let z = std.randn_like() * &std + &mu;
        Encoded { z, mu, log_var }
    }
}
