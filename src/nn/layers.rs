//! The layers every network here is built from, with PyTorch's parameter
//! names and default initialisation, so that weights move both ways and a
//! seeded dfkd model starts where a seeded PyTorch model starts.

use super::forward::{BnStat, Ctx};
use super::store::{join, Store};
use tch::{Kind, Tensor};

/// A registered tensor and its full name (the key substitutes are looked up by).
pub struct Weight {
    pub name: String,
    pub tensor: Tensor,
}

impl Weight {
    fn get<'t>(&'t self, ctx: &'t Ctx) -> &'t Tensor {
        ctx.param(&self.name, &self.tensor)
    }
}

/// PyTorch's default bound for conv/linear weights: `kaiming_uniform_(a=sqrt(5))`,
/// computed with the same double arithmetic so the draws match bit for bit.
fn kaiming_uniform_bound(fan_in: i64) -> f64 {
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    3f64.sqrt() * std
}

fn uniform(shape: &[i64], bound: f64) -> Tensor {
    Tensor::empty(shape, crate::device::host_float()).uniform_(-bound, bound)
}

/// Redraws weights from U(-bound, bound) and zeroes biases, in the given
/// order, as `nn.init.uniform_`/`zeros_` loops over modules (PRE-DFKD's
/// networks). Each weight is drawn in its logical order, then laid out.
pub fn reinit_uniform(layers: &[(&Tensor, Option<&Tensor>)], bound: f64) {
    tch::no_grad(|| {
        for (weight, bias) in layers {
            weight
                .shallow_clone()
                .copy_(&uniform(&weight.size(), bound));
            if let Some(b) = bias {
                let _ = b.shallow_clone().zero_();
            }
        }
    });
}

pub fn register(store: &mut Store, prefix: &str, name: &str, init: Tensor) -> Weight {
    let name = join(prefix, name);
    let tensor = store.parameter(name.clone(), init);
    Weight { name, tensor }
}

/// 2-D convolution, square kernel.
pub struct Conv2d {
    pub weight: Weight,
    pub bias: Option<Weight>,
    stride: i64,
    padding: i64,
}

pub struct ConvCfg {
    pub stride: i64,
    pub padding: i64,
    pub bias: bool,
}

impl Default for ConvCfg {
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            bias: true,
        }
    }
}

/// The same values laid out channels-last (NHWC strides, NCHW shape). Convs
/// whose weight is channels-last run channels-last in oneDNN, which is much
/// faster on CPU (bench/RESULTS.md); their outputs stay channels-last.
pub fn channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

impl Conv2d {
    pub fn new(store: &mut Store, prefix: &str, cin: i64, cout: i64, k: i64, cfg: ConvCfg) -> Self {
        Self::named(store, prefix, "weight", cin, cout, k, cfg)
    }

    /// A conv whose weight is registered as `weight_name` (spectral
    /// normalisation trains `weight_orig`).
    pub fn named(
        store: &mut Store,
        prefix: &str,
        weight_name: &str,
        cin: i64,
        cout: i64,
        k: i64,
        cfg: ConvCfg,
    ) -> Self {
        let fan_in = cin * k * k;
        let init = uniform(&[cout, cin, k, k], kaiming_uniform_bound(fan_in));
        let weight = register(store, prefix, weight_name, channels_last(&init));
        let bias = cfg.bias.then(|| {
            register(
                store,
                prefix,
                "bias",
                uniform(&[cout], 1.0 / (fan_in as f64).sqrt()),
            )
        });
        Self {
            weight,
            bias,
            stride: cfg.stride,
            padding: cfg.padding,
        }
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        self.forward_weight(x, self.weight.get(ctx), ctx)
    }

    /// The layer's own weight and bias.
    pub fn weight_and_bias(&self) -> (&Tensor, Option<&Tensor>) {
        (&self.weight.tensor, self.bias.as_ref().map(|b| &b.tensor))
    }

    /// The weight this forward would use (the substitute, if any).
    pub fn weight_in<'t>(&'t self, ctx: &'t Ctx) -> &'t Tensor {
        self.weight.get(ctx)
    }

    /// The convolution with `weight` in place of the layer's own.
    pub fn forward_weight(&self, x: &Tensor, weight: &Tensor, ctx: &Ctx) -> Tensor {
        x.conv2d(
            weight,
            self.bias.as_ref().map(|b| b.get(ctx)),
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        )
    }
}

/// Fully connected layer.
pub struct Linear {
    pub weight: Weight,
    pub bias: Weight,
}

impl Linear {
    pub fn new(store: &mut Store, prefix: &str, fin: i64, fout: i64) -> Self {
        let weight = register(
            store,
            prefix,
            "weight",
            uniform(&[fout, fin], kaiming_uniform_bound(fin)),
        );
        let bias = register(
            store,
            prefix,
            "bias",
            uniform(&[fout], 1.0 / (fin as f64).sqrt()),
        );
        Self { weight, bias }
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        x.linear(self.weight.get(ctx), Some(self.bias.get(ctx)))
    }
}

/// `x` (N x C x H x W) as rows of channels, (N H W) x C: a view when `x` is
/// channels-last, as the convolutions here make it.
fn channel_rows(x: &Tensor) -> Tensor {
    let c = x.size()[1];
    x.permute([0, 2, 3, 1]).reshape([-1, c])
}

/// Mean and biased variance of each channel over N, H, W, as E[x] and
/// E[x^2] - E[x]^2 from column sums of [`channel_rows`]: a third of the
/// time of a two-pass or Welford reduction over dims (0, 2, 3) of a
/// channels-last tensor, forward and backward (measured here), and within
/// float rounding of it.
pub fn channel_moments(x: &Tensor) -> (Tensor, Tensor) {
    let rows = channel_rows(x);
    let n = rows.size()[0] as f64;
    let sum = |t: &Tensor| t.sum_dim_intlist([0i64].as_slice(), false, Kind::Float) / n;
    let mean = sum(&rows);
    let var = sum(&(&rows * &rows)) - &mean * &mean;
    (mean, var)
}

/// Per-instance channel means over H and W (N x C).
pub fn instance_means(x: &Tensor) -> Tensor {
    let s = x.size();
    let rows = x.permute([0, 2, 3, 1]).reshape([s[0], s[2] * s[3], s[1]]);
    rows.sum_dim_intlist([1i64].as_slice(), false, Kind::Float) / (s[2] * s[3]) as f64
}

/// BatchNorm over the channels of an NCHW tensor.
pub struct BatchNorm2d {
    name: String,
    pub weight: Option<Weight>,
    pub bias: Option<Weight>,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    eps: f64,
    momentum: f64,
}

impl BatchNorm2d {
    /// PyTorch's `BatchNorm2d(c)`: affine, eps 1e-5, momentum 0.1.
    pub fn new(store: &mut Store, prefix: &str, c: i64) -> Self {
        Self::with(store, prefix, c, 1e-5, true)
    }

    /// `BatchNorm2d(c, eps, affine=...)`; the DAFL-family generators use eps 0.8.
    pub fn with(store: &mut Store, prefix: &str, c: i64, eps: f64, affine: bool) -> Self {
        let (weight, bias) = if affine {
            (
                Some(register(
                    store,
                    prefix,
                    "weight",
                    Tensor::ones([c], crate::device::host_float()),
                )),
                Some(register(
                    store,
                    prefix,
                    "bias",
                    Tensor::zeros([c], crate::device::host_float()),
                )),
            )
        } else {
            (None, None)
        };
        let running_mean = store.buffer(
            join(prefix, "running_mean"),
            Tensor::zeros([c], crate::device::host_float()),
        );
        let running_var = store.buffer(
            join(prefix, "running_var"),
            Tensor::ones([c], crate::device::host_float()),
        );
        Self {
            name: prefix.to_string(),
            weight,
            bias,
            running_mean,
            running_var,
            eps,
            momentum: 0.1,
        }
    }

    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        if ctx.wants_bn_stats() {
            let (mean, var) = channel_moments(x);
            ctx.record_bn(BnStat {
                name: self.name.clone(),
                mean,
                var,
                running_mean: self.running_mean.shallow_clone(),
                running_var: self.running_var.shallow_clone(),
            });
        }
        if ctx.wants_bn_means() {
            ctx.record_bn_mean(instance_means(x));
        }
        // Batch statistics without touching the running ones, when asked.
        let running = !(ctx.train && ctx.frozen_running_stats);
        Tensor::batch_norm(
            x,
            self.weight.as_ref().map(|w| w.get(ctx)),
            self.bias.as_ref().map(|b| b.get(ctx)),
            running.then_some(&self.running_mean),
            running.then_some(&self.running_var),
            ctx.train,
            self.momentum,
            self.eps,
            false,
        )
    }
}
