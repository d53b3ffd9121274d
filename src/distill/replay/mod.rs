//! Replays: what the student sees again from earlier epochs.
//!
//! A replay observes the novel samples the student learns from and, at each
//! student step, may return memory samples to learn from alongside them.
//! Its memory is accounted in bytes.

pub mod bank;
pub mod pool;
pub mod vae;

use super::parts::{Assembly, ReplaySpec};
use super::{Losses, Models};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::Tensor;

pub trait Replay {
    /// Memory samples for the next student step, if any.
    fn sample(&mut self, models: &Models, losses: &mut Losses) -> Result<Option<Tensor>>;

    /// Sees the novel batch of student step `step` (0-based within the iteration).
    fn observe(
        &mut self,
        models: &Models,
        novel: &Tensor,
        step: usize,
        losses: &mut Losses,
    ) -> Result<()>;

    /// Called after the last iteration of `epoch`.
    fn end_epoch(&mut self, epoch: usize);

    /// Bytes of memory the replay holds.
    fn bytes(&self) -> u64;

    fn state(&self) -> Vec<(String, Tensor)>;
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// No replay.
pub struct NoReplay;

/// No replay has no settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoReplayConfig {}

impl ReplaySpec for NoReplayConfig {
    fn build(&self, _: &Assembly) -> Result<Box<dyn Replay>> {
        Ok(Box::new(NoReplay))
    }
}

/// Memory samples per student step: `fraction` of the novel batch, at least one.
pub fn replayed(fraction: f64, batch_size: i64) -> i64 {
    ((fraction * batch_size as f64).round() as i64).max(1)
}

/// Checks a replayed part of a batch.
fn check_fraction(fraction: f64) -> Result<()> {
    anyhow::ensure!(
        fraction > 0.0 && fraction <= 1.0,
        "fraction must be in (0, 1]"
    );
    Ok(())
}

impl Replay for NoReplay {
    fn sample(&mut self, _: &Models, _: &mut Losses) -> Result<Option<Tensor>> {
        Ok(None)
    }
    fn observe(&mut self, _: &Models, _: &Tensor, _: usize, _: &mut Losses) -> Result<()> {
        Ok(())
    }
    fn end_epoch(&mut self, _: usize) {}
    fn bytes(&self) -> u64 {
        0
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn load_state(&mut self, _: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}

/// Stored batches as resume-state entries `prefix/000000`, `prefix/000001`...
fn numbered(prefix: &str, batches: &[Tensor]) -> Vec<(String, Tensor)> {
    batches
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("{prefix}/{i:06}"), b.shallow_clone()))
        .collect()
}

/// The batches [`numbered`] saved, in order.
fn load_numbered(prefix: &str, state: &HashMap<String, Tensor>) -> Vec<Tensor> {
    (0..)
        .map_while(|i| state.get(&format!("{prefix}/{i:06}")).map(Tensor::copy))
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::distill::Models;
    use crate::nn::{zoo, Model};
    use tch::Tensor;

    /// A teacher and a student for replays that do not consult them.
    pub fn models() -> (Model, Model) {
        let m = || zoo::build("lenet5-half", 10, [1, 32, 32]).unwrap();
        (m(), m())
    }

    pub fn with<R>(f: impl FnOnce(&Models) -> R) -> R {
        let (teacher, student) = models();
        f(&Models {
            teacher: &teacher,
            student: &student,
        })
    }

    /// A batch of `n` samples whose every value is `id`.
    pub fn batch(n: i64, id: f64) -> Tensor {
        Tensor::full([n, 1, 32, 32], id, crate::device::host_float())
    }

    /// The distinct ids in a batch made by `batch`.
    pub fn ids(t: &Tensor) -> Vec<i64> {
        let v: Vec<f32> = Vec::try_from(&t.amax([1, 2, 3], false)).unwrap();
        let mut ids: Vec<i64> = v.iter().map(|x| *x as i64).collect();
        ids.dedup();
        ids
    }
}
