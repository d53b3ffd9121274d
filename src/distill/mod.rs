//! Data-free distillation: a run alternates synthesis and student training,
//! assembled from a synthesizer, a replay and a student update.

pub mod average;
pub mod collapse;
pub mod config;
pub mod engine;
pub mod kept;
pub mod losses;
pub mod parts;
pub mod replay;
pub mod run_dir;
pub mod runner;
pub mod schedule;
pub mod select;
pub mod synth;
pub mod update;
pub mod views;

pub use config::{Choice, Config};
pub use engine::{Engine, EpochRecord};

use crate::nn::Model;
use std::collections::BTreeMap;
use tch::Tensor;

/// The two networks a distillation step may consult.
pub struct Models<'a> {
    /// Frozen, in evaluation mode.
    pub teacher: &'a Model,
    pub student: &'a Model,
}

/// Samples for one student step, with the teacher's logits when they were
/// already computed for exactly these samples.
pub struct Batch {
    pub x: Tensor,
    pub teacher_logits: Option<Tensor>,
}

impl Batch {
    pub fn new(x: Tensor) -> Self {
        Self {
            x,
            teacher_logits: None,
        }
    }
}

/// Running sums of named scalar losses, averaged per epoch. The sums stay
/// tensors on the losses' device (in double precision, so the mean is the
/// same as summing the values on the host): adding a loss never waits for
/// the device, and only reading a mean does.
#[derive(Debug, Default)]
pub struct Losses {
    sums: BTreeMap<&'static str, (Tensor, usize)>,
}

impl Losses {
    pub fn add(&mut self, name: &'static str, value: &Tensor) {
        let v = value.detach().to_kind(tch::Kind::Double);
        match self.sums.get_mut(name) {
            Some((sum, n)) => {
                *sum = &*sum + v;
                *n += 1;
            }
            None => {
                self.sums.insert(name, (v, 1));
            }
        }
    }

    /// Mean of each loss over the values added.
    pub fn means(&self) -> BTreeMap<String, f64> {
        self.sums
            .iter()
            .map(|(k, (s, n))| (k.to_string(), s.double_value(&[]) / *n as f64))
            .collect()
    }

    pub fn last_mean(&self, name: &str) -> Option<f64> {
        self.sums
            .get(name)
            .map(|(s, n)| s.double_value(&[]) / *n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::Losses;
    use tch::Tensor;

    #[test]
    fn the_mean_of_losses_kept_on_the_device_is_the_host_sum_of_their_values() {
        let values = [0.1f32, 2.5e-8, 3.75, 1e7, 0.3];
        let mut log = Losses::default();
        let mut host = 0f64;
        for v in values {
            log.add("kd", &Tensor::from(v));
            host += v as f64;
        }
        assert_eq!(log.means()["kd"], host / values.len() as f64);
        assert_eq!(log.last_mean("kd"), Some(host / values.len() as f64));
        assert_eq!(log.last_mean("oh"), None);
    }
}
