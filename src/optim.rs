//! SGD and Adam, step for step as PyTorch's single-tensor implementations,
//! with their state exposed by name so a run can be saved and resumed.

use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::Tensor;

/// How an optimizer is configured (from a recipe, preset or flags).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimSpec {
    Sgd {
        lr: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    Adam {
        lr: f64,
        #[serde(default = "default_betas")]
        betas: (f64, f64),
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}

impl OptimSpec {
    pub fn lr(&self) -> f64 {
        match self {
            OptimSpec::Sgd { lr, .. } | OptimSpec::Adam { lr, .. } => *lr,
        }
    }

    /// Adam with PyTorch's defaults (betas 0.9, 0.999; no weight decay).
    pub fn adam(lr: f64) -> Self {
        OptimSpec::Adam {
            lr,
            betas: default_betas(),
            weight_decay: 0.0,
        }
    }

    pub fn with_lr(&self, new: f64) -> Self {
        let mut s = self.clone();
        match &mut s {
            OptimSpec::Sgd { lr, .. } | OptimSpec::Adam { lr, .. } => *lr = new,
        }
        s
    }

    pub fn build(&self, params: Vec<Tensor>) -> Optimizer {
        let n = params.len();
        Optimizer {
            spec: self.clone(),
            lr: self.lr(),
            params,
            steps: 0,
            first: (0..n).map(|_| None).collect(),
            second: (0..n).map(|_| None).collect(),
        }
    }
}

const ADAM_EPS: f64 = 1e-8;

/// `x += alpha * d` with one rounding, as PyTorch's `add_(d, alpha=...)`
/// (its CPU kernel is a fused multiply-add).
fn add_scaled_(x: &mut Tensor, d: &Tensor, alpha: f64) {
    let _ = x.addcmul_(d, &Tensor::from(alpha as f32));
}

/// `g + weight_decay * p` (L2 penalty folded into the gradient).
fn with_decay(g: Tensor, p: &Tensor, weight_decay: f64) -> Tensor {
    if weight_decay == 0.0 {
        return g;
    }
    let mut g = g.copy();
    add_scaled_(&mut g, p, weight_decay);
    g
}

/// An optimizer over a fixed list of parameters.
pub struct Optimizer {
    spec: OptimSpec,
    /// The current learning rate (schedules change it).
    pub lr: f64,
    params: Vec<Tensor>,
    steps: i64,
    /// SGD momentum buffer, or Adam's first moment.
    first: Vec<Option<Tensor>>,
    /// Adam's second moment.
    second: Vec<Option<Tensor>>,
}

impl Optimizer {
    /// Differentiates `loss` with respect to this optimizer's parameters
    /// only (nothing else accumulates gradients) and applies one update.
    pub fn minimize(&mut self, loss: &Tensor) {
        let grads = Tensor::run_backward(&[loss], &self.params, false, false);
        self.apply(&grads);
    }

    /// Applies one update from `grads` (one per parameter, in order).
    pub fn apply(&mut self, grads: &[Tensor]) {
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        self.steps += 1;
        let t = self.steps as f64;
        tch::no_grad(|| {
            for (i, (p, g)) in self.params.iter().zip(grads).enumerate() {
                let g = g.shallow_clone();
                let mut p = p.shallow_clone();
                match self.spec {
                    OptimSpec::Sgd {
                        momentum,
                        weight_decay,
                        ..
                    } => {
                        let d = with_decay(g, &p, weight_decay);
                        let d = if momentum == 0.0 {
                            d
                        } else if let Some(buf) = &mut self.first[i] {
                            buf.g_mul_scalar_(momentum).g_add_(&d)
                        } else {
                            let buf = d.detach().copy();
                            self.first[i] = Some(buf.shallow_clone());
                            buf
                        };
                        add_scaled_(&mut p, &d, -self.lr);
                    }
                    OptimSpec::Adam {
                        betas: (b1, b2),
                        weight_decay,
                        ..
                    } => {
                        let g = with_decay(g, &p, weight_decay);
                        let m = self.first[i].get_or_insert_with(|| p.zeros_like());
                        let v = self.second[i].get_or_insert_with(|| p.zeros_like());
                        let _ = m.lerp_(&g, 1.0 - b1);
                        let _ = v.g_mul_scalar_(b2).addcmul_(&(&g * (1.0 - b2)), &g);
                        let step_size = self.lr / (1.0 - b1.powf(t));
                        let bc2_sqrt = (1.0 - b2.powf(t)).sqrt();
                        let denom = v.sqrt().g_div_scalar_(bc2_sqrt).g_add_scalar_(ADAM_EPS);
                        let _ = p.addcdiv_(&(&*m * -step_size), &denom);
                    }
                }
            }
        });
    }

    /// The state a resumed run needs, as named tensors.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            ("steps".to_string(), Tensor::from_slice(&[self.steps])),
            ("lr".to_string(), Tensor::from_slice(&[self.lr])),
        ];
        for (i, (m, v)) in self.first.iter().zip(&self.second).enumerate() {
            if let Some(m) = m {
                out.push((format!("first.{i}"), m.shallow_clone()));
            }
            if let Some(v) = v {
                out.push((format!("second.{i}"), v.shallow_clone()));
            }
        }
        out
    }

    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |k: &str| match state.get(k) {
            Some(t) => Ok(t),
            None => bail!("optimizer state lacks '{k}'"),
        };
        self.steps = get("steps")?.int64_value(&[0]);
        self.lr = get("lr")?.double_value(&[0]);
        for i in 0..self.params.len() {
            self.first[i] = state.get(&format!("first.{i}")).map(|t| t.copy());
            self.second[i] = state.get(&format!("second.{i}")).map(|t| t.copy());
        }
        Ok(())
    }
}
