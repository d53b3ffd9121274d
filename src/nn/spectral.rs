//! Spectral normalisation (Miyato et al. 2018) of a convolution, as
//! `torch.nn.utils.spectral_norm` does it: the layer trains `weight_orig`,
//! keeps the power-iteration vectors `weight_u` and `weight_v` as buffers,
//! and convolves with `weight_orig / sigma`, sigma = u^T W v. Every forward
//! in training mode first refines u and v by one power iteration (without
//! gradient, as PyTorch). PRE-DFKD's novel generator uses it to keep the
//! adversarial generator from running away; the parameter names match
//! PyTorch's, so weights move both ways.

use super::forward::Ctx;
use super::layers::{Conv2d, ConvCfg};
use super::store::{join, Store};
use tch::Tensor;

pub struct SpectralConv2d {
    conv: Conv2d,
    u: Tensor,
    v: Tensor,
}

/// `F.normalize(x, dim=0)`: x / max(|x|, 1e-12).
fn normalize(x: &Tensor) -> Tensor {
    x / x.norm().clamp_min(1e-12)
}

impl SpectralConv2d {
    /// Draws as PyTorch does: the conv's weight and bias first, then u and v
    /// from N(0, 1), normalised.
    pub fn new(store: &mut Store, prefix: &str, cin: i64, cout: i64, k: i64, cfg: ConvCfg) -> Self {
        let conv = Conv2d::named(store, prefix, "weight_orig", cin, cout, k, cfg);
        let randn = |n: i64| normalize(&Tensor::randn([n], crate::device::host_float()));
        let u = store.buffer(join(prefix, "weight_u"), randn(cout));
        let v = store.buffer(join(prefix, "weight_v"), randn(cin * k * k));
        Self { conv, u, v }
    }

    /// The trained weight (`weight_orig`) and the bias.
    pub fn weight_and_bias(&self) -> (&Tensor, Option<&Tensor>) {
        self.conv.weight_and_bias()
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        let w = self.conv.weight_in(ctx);
        let cout = w.size()[0];
        let mat = w.reshape([cout, -1]);
        if ctx.train {
            tch::no_grad(|| {
                let v = normalize(&mat.tr().mv(&self.u));
                let u = normalize(&mat.mv(&v));
                self.v.shallow_clone().copy_(&v);
                self.u.shallow_clone().copy_(&u);
            });
        }
        let sigma = self.u.dot(&mat.mv(&self.v));
        self.conv.forward_weight(x, &(w / sigma), ctx)
    }
}
