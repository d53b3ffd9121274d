//! The joint update: one KD loss on the concatenation of the novel and the
//! memory samples (DAFL and DFAD have no memory; MB-DFKD and PRE-DFKD
//! concatenate).

use super::{teacher_logits, StudentUpdate};
use crate::distill::losses::KdLoss;
use crate::distill::parts::UpdateSpec;
use crate::distill::{Batch, Losses, Models};
use crate::optim::Optimizer;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// The joint update has no settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointConfig {}

impl UpdateSpec for JointConfig {
    fn build(&self) -> Result<Box<dyn StudentUpdate>> {
        Ok(Box::new(Joint))
    }
}

pub struct Joint;

impl StudentUpdate for Joint {
    fn step(
        &mut self,
        m: &Models,
        opt: &mut Optimizer,
        kd: &KdLoss,
        novel: &Batch,
        memory: Option<&Tensor>,
        log: &mut Losses,
    ) -> Result<()> {
        let t_novel = teacher_logits(m, novel);
        let (x, t) = match memory {
            None => (novel.x.shallow_clone(), t_novel),
            Some(mem) => {
                let t_mem = tch::no_grad(|| m.teacher.forward(mem, false));
                (
                    Tensor::cat(&[&novel.x, mem], 0),
                    Tensor::cat(&[&t_novel, &t_mem], 0),
                )
            }
        };
        let loss = kd.loss(&m.student.forward(&x, true), &t);
        log.add("kd", &loss);
        opt.minimize(&loss);
        Ok(())
    }
}
