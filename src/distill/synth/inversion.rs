//! Model inversion: a batch of inputs optimised directly against the
//! teacher, then kept (Yin et al., CVPR 2020, NVlabs/DeepInversion; the
//! zju-vipa DataFree library's `DeepInvSyntheiszer` for the student side).
//! One loss with terms switched on gives the three methods of the paper's
//! ablation:
//!
//! - DeepDream: `oh` CE(T(x_j), y) to target classes y plus the image
//!   priors, total variation (`tv_l1`: mean absolute neighbour differences,
//!   the zju-vipa library's; `tv_l2`: their Frobenius norms, NVlabs') and
//!   `l2` (the batch's norm);
//! - DeepInversion: + `bn` R_feature, the teacher's BatchNorm input
//!   statistics against its running ones (first layer weighted
//!   `first_bn_multiplier`);
//! - Adaptive DeepInversion: + `adv` (1 - JS) between student and teacher at
//!   temperature 3, the student being the one this run trains, in
//!   evaluation mode (NVlabs' `net_student.eval()`).
//!
//! Each step sees the batch jittered (a random roll of up to `jitter`
//! pixels, and a flip when `flip`); the priors are taken on the batch as it
//! is (the zju-vipa library's choice; NVlabs' CIFAR script takes TV on the
//! jittered batch, which differs only along the roll's seam). Adam's state
//! starts afresh for every batch; `clip` keeps the inputs within the valid
//! pixel range after each step (zju-vipa; NVlabs' CIFAR script does not).
//! `keep = "best"` keeps the iterate of lowest loss, as the paper says;
//! `"last"` the final one, which is what both official codes keep, as their
//! `best_inputs = inputs.data` aliases the tensor being optimised.
//!
//! The kept batch joins an [`ImagePool`] of every batch so far, from which
//! the student's batches are drawn (shuffled passes, crop + flip).

use super::{Plan, Synthesizer};
use crate::data::Normalization;
use crate::distill::kept::ImagePool;
use crate::distill::parts::{Assembly, SynthSpec, SynthTraits};
use crate::distill::views::Jitter;
use crate::distill::{losses, Batch, Losses, Models};
use crate::nn::layers::channels_last;
use crate::nn::Taps;
use crate::optim::OptimSpec;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// Which iterate of a synthesis is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    Best,
    Last,
}

/// The classes a batch is optimised towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Targets {
    /// Drawn uniformly, then sorted (zju-vipa).
    Random,
    /// 0, 1, ..., C-1, 0, 1, ... (NVlabs' CIFAR script).
    Cycle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InversionConfig {
    /// Images optimised together in one synthesis.
    pub batch_size: i64,
    /// Optimisation steps per synthesis.
    pub steps: usize,
    /// Adam (fresh for every batch).
    pub optim: OptimSpec,
    /// Weight of the cross-entropy to the targets.
    pub oh: f64,
    /// Weight of R_feature, and the extra weight of its first layer.
    #[serde(default)]
    pub bn: f64,
    #[serde(default = "one")]
    pub first_bn_multiplier: f64,
    #[serde(default)]
    pub tv_l1: f64,
    #[serde(default)]
    pub tv_l2: f64,
    #[serde(default)]
    pub l2: f64,
    /// Weight of the competition with the student, and its temperature.
    #[serde(default)]
    pub adv: f64,
    #[serde(default = "three")]
    pub adv_temperature: f64,
    /// Largest roll, in pixels, and whether the jitter also flips.
    pub jitter: i64,
    pub flip: bool,
    pub clip: bool,
    pub keep: Keep,
    pub targets: Targets,
    /// Student steps after each synthesis.
    pub student_steps: usize,
    /// Crop + flip on the images drawn for the student.
    #[serde(default = "yes")]
    pub augment: bool,
}

fn one() -> f64 {
    1.0
}
fn three() -> f64 {
    3.0
}
fn yes() -> bool {
    true
}

impl SynthSpec for InversionConfig {
    fn check(&self) -> Result<()> {
        if self.batch_size < 1 || self.steps == 0 || self.student_steps == 0 {
            bail!("batch_size, steps and student_steps must be positive");
        }
        if self.jitter < 0 {
            bail!("jitter must not be negative");
        }
        if !matches!(self.optim, OptimSpec::Adam { .. }) {
            bail!("optim must be Adam (kind = \"adam\"), as the official code");
        }
        Ok(())
    }

    fn traits(&self) -> SynthTraits {
        SynthTraits {
            keeps_samples: true,
            needs_batchnorm: self.bn != 0.0,
            latent: None,
            needs_features: false,
        }
    }

    fn build(&self, a: &Assembly) -> Result<Box<dyn Synthesizer>> {
        Ok(Box::new(InversionSynth {
            cfg: self.clone(),
            norm: a.norm.clone(),
            image: a.teacher.spec.input_shape,
            classes: a.teacher.spec.num_classes,
            pool: ImagePool::new(a.samples, a.norm, self.augment),
        }))
    }
}

pub struct InversionSynth {
    cfg: InversionConfig,
    norm: Normalization,
    image: [i64; 3],
    classes: i64,
    pool: ImagePool,
}

/// The targets of one batch.
pub fn targets(kind: Targets, n: i64, classes: i64) -> Tensor {
    match kind {
        Targets::Random => {
            Tensor::randint(classes, [n], crate::device::int64())
                .sort(0, false)
                .0
        }
        Targets::Cycle => Tensor::arange(n, crate::device::int64()).remainder(classes),
    }
}

/// Clamps normalised inputs, in place, to the images of [0, 1] pixels.
pub fn clip_to_pixels(x: &Tensor, norm: &Normalization) {
    tch::no_grad(|| {
        for (c, (m, s)) in norm.mean.iter().zip(&norm.std).enumerate() {
            let _ = x.select(1, c as i64).clamp_(-m / s, (1.0 - m) / s);
        }
    });
}

/// The loss of one inversion step and its terms, for logging.
pub struct StepLoss {
    pub total: Tensor,
    pub terms: Vec<(&'static str, Tensor)>,
}

impl InversionConfig {
    /// The loss of inputs `x` seen through `jitter`, towards `targets`.
    pub fn loss(&self, m: &Models, x: &Tensor, jitter: &Jitter, targets: &Tensor) -> StepLoss {
        let xj = jitter.apply(x);
        let taps = if self.bn != 0.0 {
            Taps::bn_stats()
        } else {
            Taps::none()
        };
        let t = m.teacher.forward_taps(&xj, false, &taps);
        let mut terms: Vec<(&'static str, f64, Tensor)> =
            vec![("oh", self.oh, t.logits.cross_entropy_for_logits(targets))];
        if self.bn != 0.0 {
            let r = losses::bn_feature(&t.bn_stats, self.first_bn_multiplier);
            terms.push(("bn", self.bn, r));
        }
        if self.adv != 0.0 {
            let s = m.student.forward(&xj, false);
            let c = losses::js_competition(&s, &t.logits, self.adv_temperature);
            terms.push(("adv", self.adv, c));
        }
        if self.tv_l1 != 0.0 {
            terms.push(("tv_l1", self.tv_l1, losses::tv_l1(x)));
        }
        if self.tv_l2 != 0.0 {
            terms.push(("tv_l2", self.tv_l2, losses::tv_l2(x)));
        }
        if self.l2 != 0.0 {
            terms.push(("l2", self.l2, losses::l2_prior(x)));
        }
        let total = terms
            .iter()
            .map(|(_, w, t)| t * *w)
            .reduce(|a, b| a + b)
            .expect("the one-hot term");
        StepLoss {
            total,
            terms: terms.into_iter().map(|(n, _, t)| (n, t)).collect(),
        }
    }
}

impl Synthesizer for InversionSynth {
    fn plan(&self) -> Plan {
        Plan {
            synthesize_first: true,
            student_steps: self.cfg.student_steps,
        }
    }

    fn begin_epoch(&mut self, _: usize, _: usize) {}

    fn synthesize(&mut self, m: &Models, log: &mut Losses) -> Result<Option<Batch>> {
        let c = &self.cfg;
        let [ch, h, w] = self.image;
        let x = channels_last(&Tensor::randn(
            [c.batch_size, ch, h, w],
            crate::device::float(),
        ))
        .set_requires_grad(true);
        let targets = targets(c.targets, c.batch_size, self.classes);
        let mut opt = c.optim.build(vec![x.shallow_clone()]);
        let mut best: Option<Best> = None;
        let mut last = None;
        for _ in 0..c.steps {
            let jitter = Jitter::draw(c.jitter, c.flip);
            let step = c.loss(m, &x, &jitter, &targets);
            if c.keep == Keep::Best {
                Best::update(&mut best, &step.total, &[&x]);
            }
            opt.minimize(&step.total);
            if c.clip {
                clip_to_pixels(&x, &self.norm);
            }
            last = Some(step);
        }
        // The losses of a synthesis' last step (the first step's are noise).
        let last = last.expect("steps > 0");
        log.add("synth", &last.total);
        for (name, t) in &last.terms {
            log.add(name, t);
        }
        let kept = match best {
            Some(mut b) => b.kept.remove(0),
            None => x.detach(),
        };
        let hits = tch::no_grad(|| m.teacher.forward(&kept, false).argmax(1, false))
            .eq_tensor(&targets)
            .to_kind(Kind::Float)
            .mean(Kind::Float);
        log.add("synth_teacher_hits", &hits);
        self.pool.push(&kept)?;
        Ok(None)
    }

    fn sample(&mut self, n: i64) -> Result<Batch> {
        Ok(Batch::new(self.pool.sample(n)?))
    }

    fn memory(&mut self, n: i64) -> Result<Option<Tensor>> {
        self.pool.memory(n)
    }

    fn latest(&self) -> Result<Option<Tensor>> {
        self.pool.latest()
    }

    fn kept_bytes(&self) -> u64 {
        self.pool.bytes()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.pool.state("synth/pool")
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        self.pool.load_state("synth/pool", s)
    }
}

/// The lowest-loss iterate of a synthesis so far, kept on the device: the
/// comparison is a tensor operation, so no step waits to read its loss back.
/// Ties keep the earlier iterate, as `v < best` on the host did.
pub(crate) struct Best {
    loss: Tensor,
    pub(crate) kept: Vec<Tensor>,
}

impl Best {
    pub(crate) fn update(best: &mut Option<Best>, loss: &Tensor, now: &[&Tensor]) {
        let loss = loss.detach();
        match best {
            None => {
                *best = Some(Best {
                    kept: now.iter().map(|t| t.detach().copy()).collect(),
                    loss,
                })
            }
            Some(b) => {
                let better = loss.lt_tensor(&b.loss);
                for (k, t) in b.kept.iter_mut().zip(now) {
                    *k = t.detach().where_self(&better, k);
                }
                b.loss = loss.where_self(&better, &b.loss);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Best;
    use tch::Tensor;

    #[test]
    fn the_best_iterate_is_the_first_lowest_and_a_nan_loss_never_wins() {
        let mut best = None;
        for (loss, x) in [
            (3.0, 0.0),
            (1.0, 1.0),
            (f64::NAN, 2.0),
            (1.0, 3.0),
            (2.0, 4.0),
        ] {
            let x = Tensor::from_slice(&[x as f32]);
            Best::update(&mut best, &Tensor::from(loss), &[&x]);
        }
        let b = best.unwrap();
        assert_eq!(b.kept[0].double_value(&[0]), 1.0);
        assert_eq!(b.loss.double_value(&[]), 1.0);
    }
}
