//! Student updates: how one student step uses novel and memory samples.

pub mod joint;
pub mod meta;

use super::losses::KdLoss;
use super::{Batch, Losses, Models};
use crate::optim::Optimizer;
use anyhow::Result;
use tch::Tensor;

pub trait StudentUpdate {
    /// One student step on `novel` samples and optional `memory` samples.
    fn step(
        &mut self,
        models: &Models,
        opt: &mut Optimizer,
        kd: &KdLoss,
        novel: &Batch,
        memory: Option<&Tensor>,
        losses: &mut Losses,
    ) -> Result<()>;
}

/// The teacher's logits for a batch, reusing those already computed.
pub fn teacher_logits(models: &Models, batch: &Batch) -> Tensor {
    match &batch.teacher_logits {
        Some(t) => t.shallow_clone(),
        None => tch::no_grad(|| models.teacher.forward(&batch.x, false)),
    }
}
