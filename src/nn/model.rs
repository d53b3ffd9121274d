//! A classifier: an architecture from the zoo with its tensors.

use super::forward::{Ctx, Output, Taps};
use super::store::{Params, Store};
use tch::Tensor;

/// The forward computation of one architecture. Implementations read every
/// parameter through `ctx` (so substitutes apply) and report taps to it.
pub trait Network: Send {
    /// Returns the logits.
    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor;
}

/// What a classifier is: enough to rebuild it and to feed it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub arch: String,
    pub num_classes: i64,
    /// Channels, height, width of one input.
    pub input_shape: [i64; 3],
}

pub struct Model {
    pub spec: ModelSpec,
    pub store: Store,
    pub(crate) net: Box<dyn Network>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Model({:?})", self.spec)
    }
}

impl Model {
    /// Logits only.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_taps(x, train, &Taps::none()).logits
    }

    /// Logits plus the requested taps.
    pub fn forward_taps(&self, x: &Tensor, train: bool, taps: &Taps) -> Output {
        let mut ctx = Ctx::new(train, None, taps);
        let logits = self.net.forward(x, &mut ctx);
        ctx.finish(logits)
    }

    /// Runs with `params` in place of the stored parameters of the same names
    /// (missing names fall back to the stored ones). Gradients flow to
    /// whatever `params` were computed from.
    pub fn forward_with(&self, x: &Tensor, train: bool, params: &Params, taps: &Taps) -> Output {
        let mut ctx = Ctx::new(train, Some(params), taps);
        let logits = self.net.forward(x, &mut ctx);
        ctx.finish(logits)
    }

    /// Logits in training mode with `params` substituted, BatchNorm on batch
    /// statistics but leaving its running statistics as they are (as a
    /// meta-learning library's patched copy of the model does).
    pub fn forward_inner(&self, x: &Tensor, params: &Params) -> Tensor {
        let taps = Taps::none();
        let mut ctx = Ctx::new(true, Some(params), &taps);
        ctx.frozen_running_stats = true;
        let logits = self.net.forward(x, &mut ctx);
        ctx.finish(logits).logits
    }

    pub fn parameters(&self) -> Vec<Tensor> {
        self.store.parameters()
    }

    /// One forward pass of a single zero input in evaluation mode, without
    /// gradients: what the model reports for `taps`.
    pub fn probe(&self, taps: &Taps) -> Output {
        let [c, h, w] = self.spec.input_shape;
        let x = Tensor::zeros([1, c, h, w], crate::device::float());
        tch::no_grad(|| self.forward_taps(&x, false, taps))
    }

    /// Number of BatchNorm layers, counted by one forward pass (the BN
    /// methods need at least one).
    pub fn batchnorm_layers(&self) -> usize {
        self.probe(&Taps::bn_stats()).bn_stats.len()
    }

    /// Whether a forward pass can report the penultimate feature (every zoo
    /// model can; a plain TorchScript classifier cannot).
    pub fn provides_features(&self) -> bool {
        self.probe(&Taps::features()).features.is_some()
    }

    /// Freezes the weights: no gradient reaches them, while gradients still
    /// flow through the network to its input.
    pub fn freeze(&self) {
        self.store.set_trainable(false);
    }
}
