//! Replays: what the student sees again from earlier epochs.
//!
//! A replay observes the novel samples the student learns from and, at each
//! student step, may return memory samples to learn from alongside them.
//! Its memory is accounted in bytes.

use super::synth::Models;
use super::Losses;
use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

pub trait Replay {
    /// Memory samples for the next student step, if any.
    fn sample(&mut self, models: &Models, losses: &mut Losses) -> Option<Tensor>;

    /// Sees the novel batch of student step `step` (0-based within the iteration).
    fn observe(&mut self, models: &Models, novel: &Tensor, step: usize, losses: &mut Losses);

    /// Called after the last iteration of `epoch`.
    fn end_epoch(&mut self, epoch: usize);

    /// Bytes of memory the replay holds.
    fn bytes(&self) -> u64;

    fn state(&self) -> Vec<(String, Tensor)>;
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// No replay.
pub struct NoReplay;

impl Replay for NoReplay {
    fn sample(&mut self, _: &Models, _: &mut Losses) -> Option<Tensor> {
        None
    }
    fn observe(&mut self, _: &Models, _: &Tensor, _: usize, _: &mut Losses) {}
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
