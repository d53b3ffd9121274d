//! Learning-rate schedules, stepped once per epoch and computed in closed
//! form from the epoch, so a resumed run gets the same rates.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    #[default]
    Constant,
    /// Multiply by `gamma` at each milestone epoch (0-based, MultiStepLR).
    Step { milestones: Vec<usize>, gamma: f64 },
    /// Cosine annealing from the base rate to `eta_min` over `t_max` epochs.
    Cosine {
        t_max: usize,
        #[serde(default)]
        eta_min: f64,
    },
}

impl Schedule {
    /// The learning rate of `epoch` (0-based) for base rate `base`.
    pub fn lr(&self, base: f64, epoch: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step { milestones, gamma } => {
                let drops = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(drops as i32)
            }
            Schedule::Cosine { t_max, eta_min } => {
                let t = (epoch.min(*t_max)) as f64 / *t_max as f64;
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
        assert_eq!(s.lr(0.1, 99), 0.1);
        assert!((s.lr(0.1, 100) - 0.01).abs() < 1e-15);
        assert!((s.lr(0.1, 250) - 0.001).abs() < 1e-15);
        let c = Schedule::Cosine {
            t_max: 400,
            eta_min: 0.0,
        };
        assert_eq!(c.lr(0.1, 0), 0.1);
        assert!((c.lr(0.1, 200) - 0.05).abs() < 1e-12);
        assert!(c.lr(0.1, 400).abs() < 1e-12);
    }
}
