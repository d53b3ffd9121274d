//! The meta student update of "Learning to Retain while Acquiring" (Patel,
//! Mopuri, Qiu, CVPR 2023; gaurav104/LRA, `distill_knowledge_meta7`):
//! knowledge acquisition on the novel batch is meta-train, retention on the
//! memory batch meta-test. One inner step
//!
//!   theta' = theta - alpha (grad L_acq(theta) + wd theta)
//!
//! (the official inner optimiser: SGD, lr 0.9, momentum 0.9, weight decay
//! 5e-4, with fresh state each step, so its one step is plain SGD with
//! weight decay), then the outer objective
//!
//!   F(theta) = L_ret(theta') + L_joint(theta)
//!
//! with L_ret the KD loss on the memory batch at theta' and L_joint the KD
//! loss on novel and memory samples together at theta, as the official
//! outer loss has it. `order` chooses the gradient applied to theta:
//!
//! - `exact`: dF/dtheta, differentiating through the inner step (double
//!   backward);
//! - `first-order`: grad L_ret taken at theta' (as if theta' did not depend
//!   on theta), plus grad L_joint(theta);
//! - `as-released`: what the released code computes, grad L_joint(theta)
//!   alone. Its `higher.innerloop_ctx` keeps the default
//!   `copy_initial_weights=True`, so the fast weights start as detached
//!   copies and the retention loss sends its gradient to them, not to the
//!   student: the step is the joint update's. dfkd does not build the
//!   graph whose gradient is thrown away.
//!
//! BatchNorm, as the official code: the inner passes (novel batch at theta,
//! memory batch at theta') run in training mode on batch statistics through
//! `higher`'s patched copy, whose copied running statistics are discarded,
//! so only the joint pass updates the student's running statistics. When the
//! replay has nothing yet (a memory bank before its first push), the step is
//! the plain KD step on the novel batch, as the official code's.
//!
//! The memory batch comes from the run's replay; in a run without one, a
//! synthesizer that keeps its batches (model inversion) supplies it: an
//! eighth of a batch drawn from what it kept before its latest synthesis.

use super::joint::Joint;
use super::{teacher_logits, StudentUpdate};
use crate::distill::losses::KdLoss;
use crate::distill::parts::UpdateSpec;
use crate::distill::{Batch, Losses, Models};
use crate::nn::Params;
use crate::optim::Optimizer;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Which gradient of the outer objective the student follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    Exact,
    FirstOrder,
    AsReleased,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaConfig {
    pub order: Order,
    /// The inner step's rate and weight decay (`lr_S_in`, 5e-4).
    pub inner_lr: f64,
    pub inner_weight_decay: f64,
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            order: Order::Exact,
            inner_lr: 0.9,
            inner_weight_decay: 5e-4,
        }
    }
}

impl UpdateSpec for MetaConfig {
    fn check(&self) -> Result<()> {
        // inner_lr = 0 is the method's limit (theta' = theta: the joint loss
        // plus the retention loss at theta), worth running beside the others.
        if self.inner_lr.is_nan() || self.inner_lr < 0.0 || self.inner_weight_decay < 0.0 {
            bail!("inner_lr and inner_weight_decay must not be negative");
        }
        Ok(())
    }

    fn needs_memory(&self) -> bool {
        true
    }

    fn build(&self) -> Result<Box<dyn StudentUpdate>> {
        Ok(Box::new(Meta::new(self.clone())))
    }
}

pub struct Meta {
    cfg: MetaConfig,
}

impl Meta {
    pub fn new(cfg: MetaConfig) -> Self {
        Self { cfg }
    }
}

/// The gradients of one meta step, and the losses they came from.
pub struct MetaGrads {
    pub grads: Vec<Tensor>,
    /// L_acq(theta) and L_ret(theta'), which `as-released` does not compute.
    pub acquisition: Option<Tensor>,
    pub retention: Option<Tensor>,
    pub joint: Tensor,
}

impl MetaConfig {
    /// The gradient `order` gives, for the student's parameters in store
    /// order, on novel samples `x_new` and memory samples `x_mem` with the
    /// teacher's logits `t_new`, `t_mem`. The joint pass runs in training
    /// mode and updates the student's running statistics.
    pub fn gradients(
        &self,
        m: &Models,
        kd: &KdLoss,
        (x_new, t_new): (&Tensor, &Tensor),
        (x_mem, t_mem): (&Tensor, &Tensor),
    ) -> MetaGrads {
        let named = m.student.store.named_parameters();
        let theta: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
        let joint_loss = || {
            let s = m.student.forward(&Tensor::cat(&[x_new, x_mem], 0), true);
            kd.loss(&s, &Tensor::cat(&[t_new, t_mem], 0))
        };
        let acquisition = || {
            let empty = Params::new();
            kd.loss(&m.student.forward_inner(x_new, &empty), t_new)
        };
        // theta' as a function of theta (with its graph when `graph`).
        let stepped = |graph: bool| -> (Tensor, Params, Vec<Tensor>) {
            let acq = acquisition();
            let g = Tensor::run_backward(&[&acq], &theta, graph, graph);
            let (lr, wd) = (self.inner_lr, self.inner_weight_decay);
            let fast: Vec<Tensor> = theta
                .iter()
                .zip(&g)
                .map(|(p, g)| {
                    let p = if graph { p.shallow_clone() } else { p.detach() };
                    let g = if graph { g.shallow_clone() } else { g.detach() };
                    let t = &p - (g + &p * wd) * lr;
                    if graph {
                        t
                    } else {
                        t.detach().set_requires_grad(true)
                    }
                })
                .collect();
            let params: Params = named
                .iter()
                .zip(&fast)
                .map(|((n, _), t)| (n.clone(), t.shallow_clone()))
                .collect();
            (acq, params, fast)
        };
        match self.order {
            Order::AsReleased => {
                let joint = joint_loss();
                let grads = Tensor::run_backward(&[&joint], &theta, false, false);
                MetaGrads {
                    grads,
                    acquisition: None,
                    retention: None,
                    joint: joint.detach(),
                }
            }
            Order::Exact => {
                let (acq, fast, _) = stepped(true);
                let ret = kd.loss(&m.student.forward_inner(x_mem, &fast), t_mem);
                let joint = joint_loss();
                let grads = Tensor::run_backward(&[&(&ret + &joint)], &theta, false, false);
                MetaGrads {
                    grads,
                    acquisition: Some(acq.detach()),
                    retention: Some(ret.detach()),
                    joint: joint.detach(),
                }
            }
            Order::FirstOrder => {
                let (acq, fast, leaves) = stepped(false);
                let ret = kd.loss(&m.student.forward_inner(x_mem, &fast), t_mem);
                let g_ret = Tensor::run_backward(&[&ret], &leaves, false, false);
                let joint = joint_loss();
                let g_joint = Tensor::run_backward(&[&joint], &theta, false, false);
                MetaGrads {
                    grads: g_ret.iter().zip(&g_joint).map(|(a, b)| a + b).collect(),
                    acquisition: Some(acq.detach()),
                    retention: Some(ret.detach()),
                    joint: joint.detach(),
                }
            }
        }
    }
}

impl StudentUpdate for Meta {
    fn step(
        &mut self,
        m: &Models,
        opt: &mut Optimizer,
        kd: &KdLoss,
        novel: &Batch,
        memory: Option<&Tensor>,
        log: &mut Losses,
    ) -> Result<()> {
        let Some(mem) = memory else {
            return Joint.step(m, opt, kd, novel, None, log);
        };
        let t_new = teacher_logits(m, novel);
        let t_mem = tch::no_grad(|| m.teacher.forward(mem, false));
        let g = self.cfg.gradients(m, kd, (&novel.x, &t_new), (mem, &t_mem));
        log.add("kd", &g.joint);
        if let (Some(a), Some(r)) = (&g.acquisition, &g.retention) {
            log.add("meta_acquisition", a);
            log.add("meta_retention", r);
        }
        opt.apply(&g.grads);
        Ok(())
    }
}
