//! Learning-rate schedules, stepped once per epoch and computed in closed
//! form from the epoch, so a resumed run gets the same rates. A cosine
//! schedule anneals over the run's epochs unless its horizon is set.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    #[default]
    Constant,
    /// Multiply by `gamma` at each milestone epoch (0-based, MultiStepLR).
    Step { milestones: Vec<usize>, gamma: f64 },
    /// Cosine annealing from the base rate to `eta_min` over `t_max` epochs
    /// (default: the run's).
    Cosine {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        t_max: Option<usize>,
        #[serde(default)]
        eta_min: f64,
    },
}

/// Epoch `milestone` of a run of `of` epochs, moved to the same fraction of
/// a run of `epochs` (rounded to the nearest epoch): a shortened recipe
/// still drops its rate where it would (15 of ResNet's 200 epochs drop at 8
/// and 11 for drops at 100 and 150).
pub fn rescaled_milestone(milestone: usize, epochs: usize, of: usize) -> usize {
    (milestone * epochs + of / 2) / of.max(1)
}

impl Schedule {
    /// The learning rate of `epoch` (0-based) of a run of `epochs`, for base
    /// rate `base`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step { milestones, gamma } => {
                let drops = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(drops as i32)
            }
            Schedule::Cosine { t_max, eta_min } => {
                let t_max = t_max.unwrap_or(epochs).max(1);
                let t = epoch.min(t_max) as f64 / t_max as f64;
                eta_min + (base - eta_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_cosine_follow_pytorch() {
        let s = Schedule::Step {
            milestones: vec![100, 200],
            gamma: 0.1,
        };
        assert_eq!(s.lr(0.1, 99, 300), 0.1);
        assert!((s.lr(0.1, 100, 300) - 0.01).abs() < 1e-15);
        assert!((s.lr(0.1, 250, 300) - 0.001).abs() < 1e-15);
        let c = Schedule::Cosine {
            t_max: Some(400),
            eta_min: 0.0,
        };
        assert_eq!(c.lr(0.1, 0, 200), 0.1);
        assert!((c.lr(0.1, 200, 200) - 0.05).abs() < 1e-12);
        assert!(c.lr(0.1, 400, 200).abs() < 1e-12);
        // Without a horizon it anneals over the run, however long.
        let run = Schedule::Cosine {
            t_max: None,
            eta_min: 0.0,
        };
        assert!((run.lr(0.1, 5, 10) - 0.05).abs() < 1e-12);
        assert!(run.lr(0.1, 11, 11).abs() < 1e-12);
    }
}
