//! Synthesizers: how novel samples are made.
//!
//! A synthesizer has two verbs, as in the zju-vipa DataFree library:
//! `synthesize`, one optimisation (a generator step, or one batch of
//! inputs optimised against the teacher, kept), and `sample`, the samples a
//! student step learns from (fresh from the generator, or drawn from all
//! that was kept). It sees the teacher and the student, never real data.

pub mod cmi;
pub mod generative;
pub mod inversion;

use super::collapse::Remedy;
use super::{Batch, Losses, Models};
use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

/// How one iteration interleaves a synthesis with student steps.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub synthesize_first: bool,
    pub student_steps: usize,
}

pub trait Synthesizer {
    fn plan(&self) -> Plan;

    /// Sets learning rates for `epoch` (0-based) of a run of `epochs`.
    fn begin_epoch(&mut self, epoch: usize, epochs: usize);

    /// One synthesis. Returns a batch the next student step learns from
    /// when the method trains both on the same samples (DAFL).
    fn synthesize(&mut self, models: &Models, losses: &mut Losses) -> Result<Option<Batch>>;

    /// `n` samples for a student step, without gradient.
    fn sample(&mut self, n: i64) -> Result<Batch>;

    /// `n` samples of what it kept before its latest synthesis, if it keeps
    /// any: the memory an update that retains learns from when the run has
    /// no replay (the latest batch is what it acquires).
    fn memory(&mut self, _n: i64) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// The latest batch it kept, as model inputs, as it was made (the
    /// student's draws from kept samples are augmented): what the run's
    /// sample grid shows. None for a synthesizer that keeps nothing.
    fn latest(&self) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Bytes of what it keeps between syntheses (kept samples, features).
    fn kept_bytes(&self) -> u64 {
        0
    }

    /// Whether it has something [`Synthesizer::recover`] can renew (a
    /// generator trained through the run).
    fn renewable(&self) -> bool {
        false
    }

    /// Renews the synthesizer after a collapse (see collapse.rs): `fresh`
    /// re-initialises it, `damped` scales its rate by `damp` from then on.
    /// Says what it did.
    fn recover(&mut self, _remedy: Remedy, _damp: f64) -> String {
        unreachable!("recover is called only when renewable")
    }

    /// Tensors to save for resuming (weights, buffers, optimizer state).
    fn state(&self) -> Vec<(String, Tensor)>;
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}
