//! The distillation loop: per iteration, the synthesizer's step and the
//! student steps, each student step on novel samples plus whatever the
//! replay returns, applied by the student update.
//!
//! The engine is built from a config and a teacher, and takes its samples
//! from its synthesizer only: no constructor or method accepts a dataset, so
//! real data cannot reach the student or the synthesizer. For example, a
//! [`Dataset`](crate::data::Dataset) is not a synthesizer:
//!
//! ```compile_fail
//! # use dfkd::data::{Dataset, DataSpec, Split};
//! # use dfkd::distill::synth::Synthesizer;
//! fn feed(_: Box<dyn Synthesizer>) {}
//! let data = Dataset::load(&"mnist:x".parse::<DataSpec>().unwrap(), Split::Train).unwrap();
//! feed(Box::new(data));
//! ```
//!
//! while a generator-based synthesizer is:
//!
//! ```
//! # use dfkd::distill::config::{Choice, SynthConfig};
//! # use dfkd::distill::synth::{generative::GenerativeSynth, Synthesizer};
//! fn feed(_: Box<dyn Synthesizer>) {}
//! let cfg = Choice { method: "dafl".into(), preset: "mnist".into(), ..Default::default() }.resolve().unwrap();
//! let SynthConfig::Dafl(g) = &cfg.synth else { unreachable!() };
//! feed(Box::new(GenerativeSynth::new(g, [1, 32, 32], 8)));
//! ```

use super::config::{Config, ReplayConfig, SynthConfig, UpdateConfig};
use super::replay::{bank::MemoryBank, pool::Pool, vae::VaeReplay, NoReplay, Replay};
use super::synth::generative::GenerativeSynth;
use super::synth::{Batch, Models, Synthesizer};
use super::update::{joint::Joint, StudentUpdate};
use super::Losses;
use crate::nn::{zoo, Model};
use crate::optim::Optimizer;
use crate::seed;
use crate::state;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use tch::Tensor;

/// What one epoch of distillation produced.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub losses: BTreeMap<String, f64>,
    /// Student accuracy on real data, when an evaluator was given.
    pub val_accuracy: Option<f64>,
    /// Seconds of this epoch (distillation only, evaluation excluded).
    pub seconds: f64,
    /// Seconds of distillation since the run started, across resumes.
    pub wall_clock: f64,
    /// Bytes held by the replay at the end of the epoch.
    pub replay_bytes: u64,
    pub lr_student: f64,
}

pub struct Engine {
    pub cfg: Config,
    pub teacher: Model,
    pub student: Model,
    student_opt: Optimizer,
    synth: Box<dyn Synthesizer>,
    replay: Box<dyn Replay>,
    update: Box<dyn StudentUpdate>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Up to 64 samples of the last novel batch, for the sample grid.
    last_novel: Option<Tensor>,
}

impl Engine {
    /// Assembles a run: freezes the teacher, and draws the student's and the
    /// parts' initial weights from the config's seed.
    pub fn new(cfg: Config, teacher: Model) -> Result<Self> {
        teacher.freeze();
        let shape = teacher.spec.input_shape;
        seed::seed_init(cfg.seed);
        let student = zoo::build(&cfg.student, teacher.spec.num_classes, shape)
            .with_context(|| format!("student {}", cfg.student))?;
        let student_opt = cfg.student_optim.build(student.parameters());
        let synth: Box<dyn Synthesizer> = match &cfg.synth {
            SynthConfig::Dafl(g) | SynthConfig::Dfad(g) | SynthConfig::PreDfkd(g) => {
                Box::new(GenerativeSynth::new(g, shape, cfg.batch_size))
            }
        };
        let replay: Box<dyn Replay> = match &cfg.replay {
            ReplayConfig::None => Box::new(NoReplay),
            ReplayConfig::MemoryBank {
                capacity,
                every,
                fraction,
            } => Box::new(MemoryBank::new(
                *capacity,
                *every,
                replayed(*fraction, cfg.batch_size),
            )),
            ReplayConfig::Pool { fraction } => {
                Box::new(Pool::new(replayed(*fraction, cfg.batch_size)))
            }
            ReplayConfig::Vae(v) => Box::new(VaeReplay::new(
                v,
                &teacher,
                cfg.batch_size,
                replayed(v.fraction, cfg.batch_size),
                cfg.generative().generator.latent,
            )?),
        };
        let update: Box<dyn StudentUpdate> = match &cfg.update {
            UpdateConfig::Joint => Box::new(Joint),
        };
        Ok(Self {
            cfg,
            teacher,
            student,
            student_opt,
            synth,
            replay,
            update,
            epochs_done: 0,
            last_novel: None,
        })
    }

    /// Runs the next epoch; `on_iteration(i, losses)` is called after each
    /// iteration. The epoch's random draws depend only on (seed, epoch).
    pub fn run_epoch(
        &mut self,
        on_iteration: &mut dyn FnMut(usize, &Losses),
    ) -> Result<(Losses, f64)> {
        let epoch = self.epochs_done;
        seed::seed_epoch(self.cfg.seed, epoch);
        let lr = self
            .cfg
            .student_schedule
            .lr(self.cfg.student_optim.lr(), epoch);
        self.student_opt.lr = lr;
        self.synth.begin_epoch(epoch);
        let mut losses = Losses::default();
        for i in 0..self.cfg.iters {
            self.iteration(&mut losses)?;
            on_iteration(i, &losses);
        }
        self.replay.end_epoch(epoch);
        self.epochs_done += 1;
        Ok((losses, lr))
    }

    fn iteration(&mut self, log: &mut Losses) -> Result<()> {
        let models = Models {
            teacher: &self.teacher,
            student: &self.student,
        };
        let plan = self.synth.plan();
        let mut reused = None;
        if plan.generator_first {
            reused = self.synth.train_step(&models, log)?;
        }
        for step in 0..plan.student_steps {
            let novel = match reused.take() {
                Some(b) => b,
                None => Batch::new(self.synth.sample(self.cfg.batch_size)),
            };
            let memory = self.replay.sample(&models, log);
            self.update.step(
                &models,
                &mut self.student_opt,
                &self.cfg.kd,
                &novel,
                memory.as_ref(),
                log,
            );
            self.replay.observe(&models, &novel.x, step, log);
            self.last_novel = Some(novel.x.narrow(0, 0, novel.x.size()[0].min(64)));
        }
        if !plan.generator_first {
            self.synth.train_step(&models, log)?;
        }
        Ok(())
    }

    pub fn replay_bytes(&self) -> u64 {
        self.replay.bytes()
    }

    pub fn last_samples(&self) -> Option<&Tensor> {
        self.last_novel.as_ref()
    }

    /// Everything a resumed run needs besides the config.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = state::prefixed("student", &self.student.store);
        out.extend(state::optimizer("student_optim", &self.student_opt));
        out.extend(self.synth.state());
        out.extend(self.replay.state());
        if let Some(x) = &self.last_novel {
            out.push(("last_novel".to_string(), x.shallow_clone()));
        }
        out
    }

    pub fn load_state(&mut self, s: &HashMap<String, Tensor>, epochs_done: usize) -> Result<()> {
        state::load_store("student", &self.student.store, s)?;
        state::load_optimizer("student_optim", &mut self.student_opt, s)?;
        self.synth.load_state(s)?;
        self.replay.load_state(s)?;
        self.last_novel = s.get("last_novel").map(|t| t.copy());
        self.epochs_done = epochs_done;
        Ok(())
    }
}

/// Memory samples per student step: `fraction` of the novel batch, at least one.
fn replayed(fraction: f64, batch_size: i64) -> i64 {
    ((fraction * batch_size as f64).round() as i64).max(1)
}
