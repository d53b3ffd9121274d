//! Noticing a synthesizer that collapsed, and what a run does about it.
//!
//! A collapsed generator makes samples that no longer teach: in DAFL's
//! MNIST run at batch 256 (the official code's issue #6) the teacher's
//! predictions on them become nearly uniform (one-hot loss 2.17 against
//! ln 10 = 2.30), the student learns to answer uniformly too (KD loss
//! 0.0000), and it stays at its post-collapse accuracy for the rest of the
//! run. The sign used here needs no real data: the teacher's mean entropy on
//! the epoch's last novel batch, as a fraction of the largest possible
//! (ln of the number of classes). Healthy synthesizers make samples the
//! teacher is sure of; at or above `entropy` the epoch is flagged.
//!
//! The official code's maintainers advise restarting from the last good
//! checkpoint by hand; a run does it itself: it discards the flagged epoch,
//! reloads the last committed (good) one and renews the synthesizer, either
//! a `fresh` generator (re-initialised, its optimiser reset) or a `damped`
//! one (its rate scaled by `damp` from then on), then runs the epoch again,
//! at most `limit` times in a run. Synthesizers without a generator to renew
//! (model inversion) only have the epoch flagged.

use crate::nn::Model;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// What a run does after a collapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Remedy {
    /// Flag the epoch and go on.
    None,
    /// Roll back and re-initialise the generator.
    Fresh,
    /// Roll back and scale the generator's rate by `damp`.
    Damped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollapseConfig {
    /// Teacher entropy on the samples (fraction of ln C) that flags an epoch.
    pub entropy: f64,
    pub remedy: Remedy,
    pub damp: f64,
    /// Roll-backs allowed in a run.
    pub limit: usize,
}

impl Default for CollapseConfig {
    fn default() -> Self {
        Self {
            entropy: 0.9,
            remedy: Remedy::Fresh,
            damp: 0.1,
            limit: 3,
        }
    }
}

/// The teacher's mean entropy on `x`, as a fraction of ln(classes).
pub fn teacher_entropy(teacher: &Model, x: &Tensor) -> f64 {
    let c = teacher.spec.num_classes as f64;
    if c < 2.0 {
        return 0.0;
    }
    tch::no_grad(|| {
        let logp = teacher.forward(x, false).log_softmax(1, Kind::Float);
        let h = -(logp.exp() * &logp).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        h.mean(Kind::Float).double_value(&[]) / c.ln()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::zoo;

    #[test]
    fn entropy_is_a_fraction_of_the_largest() {
        tch::manual_seed(0);
        let teacher = zoo::build("lenet5-half", 10, [1, 32, 32]).unwrap();
        // An untrained net on noise is unsure: near the maximum.
        let x = Tensor::randn([64, 1, 32, 32], crate::device::host_float());
        let h = teacher_entropy(&teacher, &x);
        assert!((0.9..=1.0).contains(&h), "{h}");
        // Scaling the last layer up makes it sure of itself.
        tch::no_grad(|| {
            let _ = teacher
                .store
                .get("fc2.weight")
                .unwrap()
                .shallow_clone()
                .g_mul_scalar_(1e4);
        });
        assert!(teacher_entropy(&teacher, &x) < 0.2);
    }
}
