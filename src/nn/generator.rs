//! The image generator of DAFL, DFAD, MB-DFKD and PRE-DFKD.
//!
//! Linear(latent -> 2ngf * (s/4)^2) -> BN -> up x2 -> conv 2ngf->2ngf -> BN ->
//! LeakyReLU(0.2) -> up x2 -> conv 2ngf->ngf -> BN -> LeakyReLU(0.2) ->
//! conv ngf->C -> Tanh -> BN(C, affine=False): images in the teacher's
//! normalised input space. DAFL and PRE-DFKD use BN eps 0.8 in the two conv
//! blocks (`nn.BatchNorm2d(c, 0.8)`), DFAD the default 1e-5. Parameter names
//! follow DAFL's `Generator` (`l1.0`, `conv_blocks0.0`, `conv_blocks1.{0,1}`,
//! `conv_blocks2.{0,1,3,5}`). BatchNorm always runs on batch statistics, as in
//! the papers, where the generator never leaves train mode.
//!
//! PRE-DFKD's generators (also MB-DFKD's) are the same network in another
//! style: weights drawn from U(-0.08, 0.08) with zero biases, the last conv in
//! its own block (`conv_blocks3.{0,2}`), and, for the novel generator,
//! spectral-normalised convolutions.

use super::forward::{Ctx, Taps};
use super::layers::{channels_last, reinit_uniform, BatchNorm2d, Conv2d, ConvCfg, Linear};
use super::spectral::SpectralConv2d;
use super::store::Store;
use tch::Tensor;

/// Whose generator: DAFL's (and DFAD's) or PRE-DFKD's (and MB-DFKD's).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorStyle {
    #[default]
    Dafl,
    PreDfkd,
}

/// The generator's shape and its one numerical quirk.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// Latent dimension (100 for MNIST, 1000 DAFL CIFAR, 256 DFAD CIFAR).
    pub latent: i64,
    /// Base width: the conv blocks have 2 ngf and ngf channels.
    #[serde(default = "default_ngf")]
    pub ngf: i64,
    /// BatchNorm eps of the two conv blocks (0.8 DAFL/PRE-DFKD, 1e-5 DFAD).
    pub bn_eps: f64,
    #[serde(default)]
    pub style: GeneratorStyle,
    /// Spectral normalisation of the convolutions (PRE-DFKD's novel generator).
    #[serde(default)]
    pub spectral_norm: bool,
}

/// A generator convolution, plain or spectral-normalised.
enum Conv {
    Plain(Conv2d),
    Spectral(SpectralConv2d),
}

impl Conv {
    fn new(store: &mut Store, prefix: &str, cin: i64, cout: i64, spectral: bool) -> Self {
        let cfg = ConvCfg {
            stride: 1,
            padding: 1,
            bias: true,
        };
        if spectral {
            Conv::Spectral(SpectralConv2d::new(store, prefix, cin, cout, 3, cfg))
        } else {
            Conv::Plain(Conv2d::new(store, prefix, cin, cout, 3, cfg))
        }
    }

    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        match self {
            Conv::Plain(c) => c.forward(x, ctx),
            Conv::Spectral(c) => c.forward(x, ctx),
        }
    }

    /// The trained weight and bias.
    fn weight_and_bias(&self) -> (&Tensor, Option<&Tensor>) {
        match self {
            Conv::Plain(c) => c.weight_and_bias(),
            Conv::Spectral(c) => c.weight_and_bias(),
        }
    }
}

fn default_ngf() -> i64 {
    64
}

pub struct Generator {
    pub spec: GeneratorSpec,
    pub store: Store,
    /// Channels, height, width of the images (the teacher's input shape).
    pub image: [i64; 3],
    l1: Linear,
    bn0: BatchNorm2d,
    conv1: Conv,
    bn1: BatchNorm2d,
    conv2: Conv,
    bn2: BatchNorm2d,
    conv3: Conv,
    bn_out: BatchNorm2d,
    slope: Tensor,
}

impl Generator {
    /// A freshly initialised generator for images of shape `image`, whose
    /// height and width divide by 4. The random draws follow the PyTorch
    /// code of its style in order, so the same seed gives the same weights.
    pub fn new(spec: &GeneratorSpec, image: [i64; 3]) -> Self {
        let [c, _, _] = image;
        let s = image[1] / 4;
        let w = 2 * spec.ngf;
        let sn = spec.spectral_norm;
        let (last, out) = match spec.style {
            GeneratorStyle::Dafl => ("conv_blocks2.3", "conv_blocks2.5"),
            GeneratorStyle::PreDfkd => ("conv_blocks3.0", "conv_blocks3.2"),
        };
        let mut store = Store::new();
        let st = &mut store;
        let l1 = Linear::new(st, "l1.0", spec.latent, w * s * s);
        let bn0 = BatchNorm2d::new(st, "conv_blocks0.0", w);
        let conv1 = Conv::new(st, "conv_blocks1.0", w, w, sn);
        let bn1 = BatchNorm2d::with(st, "conv_blocks1.1", w, spec.bn_eps, true);
        let conv2 = Conv::new(st, "conv_blocks2.0", w, spec.ngf, sn);
        let bn2 = BatchNorm2d::with(st, "conv_blocks2.1", spec.ngf, spec.bn_eps, true);
        let conv3 = Conv::new(st, last, spec.ngf, c, sn);
        let bn_out = BatchNorm2d::with(st, out, c, 1e-5, false);
        if spec.style == GeneratorStyle::PreDfkd {
            // PRE-DFKD re-initialises every linear and conv layer, in module order.
            reinit_uniform(
                &[
                    (&l1.weight.tensor, Some(&l1.bias.tensor)),
                    conv1.weight_and_bias(),
                    conv2.weight_and_bias(),
                    conv3.weight_and_bias(),
                ],
                0.08,
            );
        }
        Self {
            spec: spec.clone(),
            store,
            image,
            l1,
            bn0,
            conv1,
            bn1,
            conv2,
            bn2,
            conv3,
            bn_out,
            slope: Tensor::from_slice(&[0.2f32]),
        }
    }

    /// Images from latent codes `z` (B x latent), BatchNorm on batch
    /// statistics (updating the running ones).
    pub fn forward(&self, z: &Tensor) -> Tensor {
        self.forward_mode(z, true)
    }

    /// Images in training mode, or in evaluation mode (BatchNorm on running
    /// statistics, spectral norm without a power iteration), as PRE-DFKD
    /// infers memory samples.
    pub fn forward_mode(&self, z: &Tensor, train: bool) -> Tensor {
        let taps = Taps::none();
        let mut ctx = Ctx::new(train, None, &taps);
        let ctx = &mut ctx;
        let s = self.image[1] / 4;
        // Channels-last from the start, so every later op and conv runs NHWC
        // without layout reorders (see layers::channels_last).
        let x = channels_last(&self.l1.forward(z, ctx).view([-1, 2 * self.spec.ngf, s, s]));
        let x = self
            .bn0
            .forward(&x, ctx)
            .upsample_nearest2d([2 * s, 2 * s], None, None);
        let x = self.conv1.forward(&x, ctx);
        let x = self.bn1.forward(&x, ctx).prelu(&self.slope);
        let x = x.upsample_nearest2d([4 * s, 4 * s], None, None);
        let x = self.conv2.forward(&x, ctx);
        let x = self.bn2.forward(&x, ctx).prelu(&self.slope);
        let x = self.conv3.forward(&x, ctx).tanh();
        self.bn_out.forward(&x, ctx)
    }

    /// `n` latent codes from N(0, I).
    pub fn noise(&self, n: i64) -> Tensor {
        Tensor::randn([n, self.spec.latent], crate::device::float())
    }
}
