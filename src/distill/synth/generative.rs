//! A generator trained on teacher priors and/or against the student.
//!
//! DAFL: one-hot + information entropy + activation priors; the student
//! learns from the same batch in the same step. DFAD: the negated L1
//! distance between student and teacher (adversarial), after 5 student steps
//! on fresh samples. MB-DFKD and PRE-DFKD: DAFL's priors plus 1 - JS between
//! student and teacher, one generator step before 10 student steps. The loss
//! weights and the plan in the config choose.

use super::{Plan, Synthesizer};
use crate::distill::collapse::Remedy;
use crate::distill::parts::{Assembly, SynthSpec, SynthTraits};
use crate::distill::schedule::Schedule;
use crate::distill::{losses, Batch, Losses, Models};
use crate::nn::generator::{Generator, GeneratorSpec};
use crate::nn::Taps;
use crate::optim::{OptimSpec, Optimizer};
use crate::state;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::Tensor;

/// A generator trained against teacher priors and/or the student: DAFL,
/// DFAD and the novel-sample generator of MB-DFKD and PRE-DFKD differ only
/// in these weights and in how the generator step interleaves with the
/// student steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerativeConfig {
    pub generator: GeneratorSpec,
    pub optim: OptimSpec,
    #[serde(default)]
    pub schedule: Schedule,
    /// DAFL prior weights: one-hot, information entropy, activation.
    #[serde(default)]
    pub oh: f64,
    #[serde(default)]
    pub ie: f64,
    #[serde(default)]
    pub a: f64,
    /// Weight of the adversarial term (DFAD: -L1 between student and teacher).
    #[serde(default)]
    pub adv: f64,
    /// Weight of the JS adversarial term (MB-DFKD, PRE-DFKD: 1 - JS between
    /// student and teacher at temperature `js_temperature`).
    #[serde(default)]
    pub js: f64,
    #[serde(default = "three")]
    pub js_temperature: f64,
    /// Student steps per iteration, each on fresh samples.
    pub student_steps: usize,
    /// Whether the generator step comes before the student steps.
    pub generator_first: bool,
    /// Whether the first student step learns from the very batch the
    /// generator step made, with the teacher's logits from that step (DAFL
    /// trains both from one forward pass).
    #[serde(default)]
    pub reuse_batch: bool,
}

fn three() -> f64 {
    3.0
}

impl SynthSpec for GenerativeConfig {
    fn check(&self) -> Result<()> {
        if self.student_steps == 0 {
            bail!("student_steps must be positive");
        }
        if self.generator.latent < 1 || self.generator.ngf < 1 {
            bail!("generator.latent and generator.ngf must be positive");
        }
        if [self.oh, self.ie, self.a, self.adv, self.js]
            .iter()
            .all(|w| *w == 0.0)
        {
            bail!("the generator has no loss: every weight (oh, ie, a, adv, js) is 0");
        }
        Ok(())
    }

    fn traits(&self) -> SynthTraits {
        SynthTraits {
            // DAFL's activation loss is the L1 norm of the teacher's feature.
            needs_features: self.a != 0.0,
            latent: Some(self.generator.latent),
            ..SynthTraits::default()
        }
    }

    fn build(&self, a: &Assembly) -> Result<Box<dyn Synthesizer>> {
        Ok(Box::new(GenerativeSynth::new(
            self,
            a.teacher.spec.input_shape,
            a.batch_size,
        )))
    }
}

pub struct GenerativeSynth {
    cfg: GenerativeConfig,
    pub generator: Generator,
    opt: Optimizer,
    batch_size: i64,
    /// Scale of the generator's rate (below 1 after a damped recovery).
    rate_scale: f64,
}

impl GenerativeSynth {
    /// A new generator for images of shape `image` (the teacher's input).
    pub fn new(cfg: &GenerativeConfig, image: [i64; 3], batch_size: i64) -> Self {
        let generator = Generator::new(&cfg.generator, image);
        let opt = cfg.optim.build(generator.store.parameters());
        Self {
            cfg: cfg.clone(),
            generator,
            opt,
            batch_size,
            rate_scale: 1.0,
        }
    }
}

impl Synthesizer for GenerativeSynth {
    fn plan(&self) -> Plan {
        Plan {
            synthesize_first: self.cfg.generator_first,
            student_steps: self.cfg.student_steps,
        }
    }

    fn begin_epoch(&mut self, epoch: usize, epochs: usize) {
        self.opt.lr = self.cfg.schedule.lr(self.cfg.optim.lr(), epoch, epochs) * self.rate_scale;
    }

    fn synthesize(&mut self, m: &Models, log: &mut Losses) -> Result<Option<Batch>> {
        let c = &self.cfg;
        let z = self.generator.noise(self.batch_size);
        let x = self.generator.forward(&z);
        let priors = c.oh != 0.0 || c.ie != 0.0 || c.a != 0.0;
        let taps = if c.a != 0.0 {
            Taps::features()
        } else {
            Taps::none()
        };
        let t = m.teacher.forward_taps(&x, false, &taps);
        let mut terms = Vec::new();
        if priors {
            let oh = losses::one_hot(&t.logits);
            let ie = losses::information_entropy(&t.logits);
            log.add("oh", &oh);
            log.add("ie", &ie);
            terms.push(oh * c.oh);
            terms.push(ie * c.ie);
            if let Some(f) = &t.features {
                let a = losses::activation(f);
                log.add("a", &a);
                terms.push(a * c.a);
            }
        }
        let student = (c.adv != 0.0 || c.js != 0.0).then(|| m.student.forward(&x, true));
        if c.adv != 0.0 {
            let adv = losses::adversarial_l1(student.as_ref().unwrap(), &t.logits);
            log.add("adv", &adv);
            terms.push(adv * c.adv);
        }
        if c.js != 0.0 {
            // The official code compares with the teacher's logits detached:
            // the generator learns from the student's side only.
            let js = losses::js_agreement(
                student.as_ref().unwrap(),
                &t.logits.detach(),
                c.js_temperature,
            );
            log.add("js", &js);
            terms.push(js * c.js);
        }
        let loss = terms
            .into_iter()
            .reduce(|a, b| a + b)
            .expect("checked: some weight is not 0");
        log.add("generator", &loss);
        self.opt.minimize(&loss);
        Ok(c.reuse_batch.then(|| Batch {
            x: x.detach(),
            teacher_logits: Some(t.logits.detach()),
        }))
    }

    fn sample(&mut self, n: i64) -> Result<Batch> {
        Ok(Batch::new(tch::no_grad(|| {
            self.generator.forward(&self.generator.noise(n))
        })))
    }

    fn renewable(&self) -> bool {
        true
    }

    fn recover(&mut self, remedy: Remedy, damp: f64) -> String {
        match remedy {
            Remedy::None => unreachable!("no remedy, no recovery"),
            Remedy::Fresh => {
                let fresh = Generator::new(&self.cfg.generator, self.generator.image);
                self.generator.store.copy_from(&fresh.store);
                self.opt = self.cfg.optim.build(self.generator.store.parameters());
                "a fresh generator (re-initialised, its optimiser reset)".into()
            }
            Remedy::Damped => {
                self.rate_scale *= damp;
                format!(
                    "a damped generator (its rate scaled by {damp}, now x{})",
                    self.rate_scale
                )
            }
        }
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = state::prefixed("generator", &self.generator.store);
        out.extend(state::optimizer("generator_optim", &self.opt));
        out.push((
            "generator_rate_scale".into(),
            Tensor::from_slice(&[self.rate_scale]),
        ));
        out
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        state::load_store("generator", &self.generator.store, s)?;
        // Runs saved before damped recoveries existed have no scale: 1.
        self.rate_scale = s
            .get("generator_rate_scale")
            .map_or(1.0, |t| t.double_value(&[0]));
        state::load_optimizer("generator_optim", &mut self.opt, s)
    }
}
