//! Data-free distillation: a run alternates synthesis and student training,
//! assembled from a synthesizer, a replay and a student update.

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

/// Running sums of named scalar losses, averaged per epoch.
#[derive(Debug, Default, Clone)]
pub struct Losses {
    sums: BTreeMap<&'static str, (f64, usize)>,
}

impl Losses {
    pub fn add(&mut self, name: &'static str, value: &Tensor) {
        self.add_value(name, value.double_value(&[]));
    }

    pub fn add_value(&mut self, name: &'static str, value: f64) {
        let e = self.sums.entry(name).or_insert((0.0, 0));
        e.0 += value;
        e.1 += 1;
    }

    /// Mean of each loss over the values added.
    pub fn means(&self) -> BTreeMap<String, f64> {
        self.sums
            .iter()
            .map(|(k, (s, n))| (k.to_string(), s / *n as f64))
            .collect()
    }

    pub fn last_mean(&self, name: &str) -> Option<f64> {
        self.sums.get(name).map(|(s, n)| s / *n as f64)
    }
}
