//! Synthesizers: how novel samples are made.
//!
//! A synthesizer owns whatever produces samples (a generator and its
//! optimizer), trains it in its own step, and hands out batches. It sees the
//! teacher and the student, never real data.

pub mod generative;

use super::Losses;
use crate::nn::Model;
use anyhow::Result;
use tch::Tensor;

/// The two networks a distillation step may consult.
pub struct Models<'a> {
    /// Frozen, in evaluation mode.
    pub teacher: &'a Model,
    pub student: &'a Model,
}

/// Synthetic samples for one student step, with the teacher's logits when
/// they were already computed for exactly these samples.
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

/// How one iteration interleaves the synthesizer's step with student steps.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub generator_first: bool,
    pub student_steps: usize,
    /// The first student step learns from the batch the synthesizer's step
    /// returned.
    pub reuse_batch: bool,
}

pub trait Synthesizer {
    fn plan(&self) -> Plan;

    /// Sets learning rates for `epoch`.
    fn begin_epoch(&mut self, epoch: usize);

    /// One update of the synthesizer; returns the batch it trained on when
    /// the plan reuses it.
    fn train_step(&mut self, models: &Models, losses: &mut Losses) -> Result<Option<Batch>>;

    /// `n` fresh novel samples, without gradient.
    fn sample(&mut self, n: i64) -> Tensor;

    /// Tensors to save for resuming (weights, buffers, optimizer state).
    fn state(&self) -> Vec<(String, Tensor)>;
    fn load_state(&mut self, state: &std::collections::HashMap<String, Tensor>) -> Result<()>;
}
