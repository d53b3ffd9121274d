//! One forward pass: its mode, the taps it should record, and the parameters
//! it should use.
//!
//! Methods need more than logits: DAFL the penultimate feature, DeepInversion
//! and CMI the input statistics of every BatchNorm, PRE-DFKD chosen layer
//! outputs. Every classifier runs through [`Ctx`], which records what was
//! asked for, so no method re-implements a model.

use super::store::Params;
use tch::Tensor;

/// What a forward pass records besides the logits.
#[derive(Debug, Clone, Default)]
pub struct Taps {
    /// The penultimate feature (input of the classifier layer).
    pub features: bool,
    /// Batch mean and biased variance of the input of every BatchNorm.
    pub bn_stats: bool,
    /// Per-instance channel means of the input of every BatchNorm (CMI's
    /// features).
    pub bn_means: bool,
    /// Outputs of these named layers (see each architecture's tap points).
    pub layers: Vec<String>,
}

impl Taps {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn features() -> Self {
        Self {
            features: true,
            ..Self::default()
        }
    }
    pub fn bn_stats() -> Self {
        Self {
            bn_stats: true,
            ..Self::default()
        }
    }
    pub fn bn_means() -> Self {
        Self {
            bn_means: true,
            ..Self::default()
        }
    }
    pub fn layers<S: AsRef<str>>(names: &[S]) -> Self {
        Self {
            layers: names.iter().map(|s| s.as_ref().to_string()).collect(),
            ..Self::default()
        }
    }
}

/// Input statistics of one BatchNorm layer, next to the running statistics
/// it holds (what DeepInversion's feature-distribution loss compares).
pub struct BnStat {
    pub name: String,
    pub mean: Tensor,
    pub var: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
}

/// What a forward pass produced.
pub struct Output {
    pub logits: Tensor,
    pub features: Option<Tensor>,
    pub bn_stats: Vec<BnStat>,
    /// Per-instance channel means (B x C) of each BatchNorm's input, in order.
    pub bn_means: Vec<Tensor>,
    /// Requested layer outputs, in the order the forward pass met them.
    pub layers: Vec<(String, Tensor)>,
}

impl Output {
    pub fn layer(&self, name: &str) -> Option<&Tensor> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// The state of one forward pass, threaded through every layer.
pub struct Ctx<'a> {
    pub train: bool,
    /// In training mode, BatchNorm normalises with batch statistics and
    /// updates its running ones unless this is set.
    pub frozen_running_stats: bool,
    params: Option<&'a Params>,
    taps: &'a Taps,
    features: Option<Tensor>,
    bn_stats: Vec<BnStat>,
    bn_means: Vec<Tensor>,
    layers: Vec<(String, Tensor)>,
}

impl<'a> Ctx<'a> {
    pub fn new(train: bool, params: Option<&'a Params>, taps: &'a Taps) -> Self {
        Self {
            train,
            frozen_running_stats: false,
            params,
            taps,
            features: None,
            bn_stats: Vec::new(),
            bn_means: Vec::new(),
            layers: Vec::new(),
        }
    }

    /// The tensor to use for parameter `name`: the substitute when one was
    /// given, else the layer's own.
    pub fn param<'t>(&'t self, name: &str, own: &'t Tensor) -> &'t Tensor {
        self.params.and_then(|p| p.get(name)).unwrap_or(own)
    }

    pub fn wants_bn_stats(&self) -> bool {
        self.taps.bn_stats
    }

    pub fn record_bn(&mut self, stat: BnStat) {
        self.bn_stats.push(stat);
    }

    pub fn wants_bn_means(&self) -> bool {
        self.taps.bn_means
    }

    pub fn record_bn_mean(&mut self, means: Tensor) {
        self.bn_means.push(means);
    }

    /// Records the penultimate feature when asked for.
    pub fn features(&mut self, x: &Tensor) {
        if self.taps.features {
            self.features = Some(x.shallow_clone());
        }
    }

    /// Records the output of layer `name` when asked for.
    pub fn tap(&mut self, name: &str, x: &Tensor) {
        if self.taps.layers.iter().any(|l| l == name) {
            self.layers.push((name.to_string(), x.shallow_clone()));
        }
    }

    pub fn finish(self, logits: Tensor) -> Output {
        Output {
            logits,
            features: self.features,
            bn_stats: self.bn_stats,
            bn_means: self.bn_means,
            layers: self.layers,
        }
    }
}
