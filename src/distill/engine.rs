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
//! # use dfkd::distill::Choice;
//! # use dfkd::distill::synth::{generative::{GenerativeConfig, GenerativeSynth}, Synthesizer};
//! fn feed(_: Box<dyn Synthesizer>) {}
//! let cfg = Choice { method: "dafl".into(), preset: "mnist".into(), ..Default::default() }.resolve().unwrap();
//! let g: GenerativeConfig = toml::Value::Table(cfg.synth.settings).try_into().unwrap();
//! feed(Box::new(GenerativeSynth::new(&g, [1, 32, 32], 8)));
//! ```

use super::collapse::Remedy;
use super::config::Config;
use super::parts::{Assembly, Parts};
use super::replay::{replayed, Replay};
use super::synth::Synthesizer;
use super::update::StudentUpdate;
use super::{select, Batch, Losses, Models};
use crate::data::Normalization;
use crate::nn::{zoo, Model};
use crate::optim::Optimizer;
use crate::seed;
use crate::state;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::Tensor;

/// Part of a batch an update that retains draws from the synthesizer's
/// kept batches, as the replays' memory (an eighth, officially).
const KEPT_MEMORY_FRACTION: f64 = 0.125;

/// The teacher of a run: the frozen classifier, the normalisation of its
/// inputs, and where it came from (for messages).
pub struct Teacher {
    pub model: Model,
    pub norm: Normalization,
    pub source: String,
}

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
    /// The student's top-1 agreement with the teacher on the selection
    /// probe, its Cohen's kappa there, and the epoch chosen so far (see
    /// select.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_agreement: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_kappa: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_epoch: Option<usize>,
    /// When the shipped student is an average (see average.rs): the epochs
    /// averaged, and its accuracy on real data when an evaluator was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaged_epochs: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_accuracy: Option<f64>,
    /// The teacher's entropy on the epoch's last novel batch, as a fraction
    /// of ln(classes), and what a collapse led to (see collapse.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_entropy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapse: Option<String>,
    /// Bytes held by the replay at the end of the epoch.
    pub replay_bytes: u64,
    /// Bytes the synthesizer keeps (model inversion's image pool, CMI's
    /// feature bank) at the end of the epoch.
    #[serde(default)]
    pub kept_bytes: u64,
    pub lr_student: f64,
}

pub struct Engine {
    pub cfg: Config,
    pub teacher: Model,
    pub norm: Normalization,
    pub student: Model,
    student_opt: Optimizer,
    synth: Box<dyn Synthesizer>,
    replay: Box<dyn Replay>,
    update: Box<dyn StudentUpdate>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Up to 256 samples of the last novel batch, for the sample grid and
    /// the selection probe.
    last_novel: Option<Tensor>,
    /// Memory samples per step from the synthesizer's kept batches, for an
    /// update that retains in a run without a replay.
    kept_memory: Option<i64>,
}

impl Engine {
    /// Assembles a run: freezes the teacher, and draws the student's and the
    /// parts' initial weights from the config's seed. Kept samples go to
    /// `samples` (a run directory's `samples/`).
    pub fn new(cfg: Config, teacher: Teacher, samples: &Path) -> Result<Self> {
        let parts = Parts::read(&cfg)?;
        let Teacher {
            model: teacher,
            norm,
            source,
        } = teacher;
        teacher.freeze();
        parts.check_teacher(&cfg, &teacher, &source)?;
        let shape = teacher.spec.input_shape;
        seed::seed_init(cfg.seed);
        let student = zoo::build(&cfg.student, teacher.spec.num_classes, shape)
            .with_context(|| format!("student {}", cfg.student))?;
        let student_opt = cfg.student_optim.build(student.parameters());
        let assembly = Assembly {
            teacher: &teacher,
            norm: &norm,
            batch_size: cfg.batch_size,
            samples,
            latent: parts.synth.traits.latent,
        };
        let synth = parts
            .build_synth(&assembly)
            .with_context(|| format!("synth ({})", cfg.synth.kind))?;
        let replay = parts
            .build_replay(&assembly)
            .with_context(|| format!("replay ({})", cfg.replay.kind))?;
        let update = parts.build_update()?;
        let kept_memory = (parts.update.needs_memory && cfg.replay.kind == "none")
            .then(|| replayed(KEPT_MEMORY_FRACTION, cfg.batch_size));
        Ok(Self {
            cfg,
            teacher,
            norm,
            student,
            student_opt,
            synth,
            replay,
            update,
            epochs_done: 0,
            last_novel: None,
            kept_memory,
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
        let epochs = self.cfg.epochs;
        let lr = self
            .cfg
            .student_schedule
            .lr(self.cfg.student_optim.lr(), epoch, epochs);
        self.student_opt.lr = lr;
        self.synth.begin_epoch(epoch, epochs);
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
        let mut next: Option<Batch> = None;
        if plan.synthesize_first {
            next = self.synth.synthesize(&models, log)?;
        }
        for step in 0..plan.student_steps {
            let novel = match next.take() {
                Some(b) => b,
                None => self.synth.sample(self.cfg.batch_size)?,
            };
            let memory = match (self.replay.sample(&models, log)?, self.kept_memory) {
                (None, Some(n)) => self.synth.memory(n)?,
                (memory, _) => memory,
            };
            self.update.step(
                &models,
                &mut self.student_opt,
                &self.cfg.kd,
                &novel,
                memory.as_ref(),
                log,
            )?;
            self.replay.observe(&models, &novel.x, step, log)?;
            self.last_novel = Some(
                novel
                    .x
                    .narrow(0, 0, novel.x.size()[0].min(select::SNAPSHOT)),
            );
        }
        if !plan.synthesize_first {
            self.synth.synthesize(&models, log)?;
        }
        Ok(())
    }

    pub fn replay_bytes(&self) -> u64 {
        self.replay.bytes()
    }

    pub fn kept_bytes(&self) -> u64 {
        self.synth.kept_bytes()
    }

    /// Renews the synthesizer after a collapse with `remedy`; what it did,
    /// or None when there is nothing to renew (or no remedy).
    pub fn recover(&mut self, remedy: Remedy, damp: f64) -> Option<String> {
        (remedy != Remedy::None && self.synth.renewable()).then(|| self.synth.recover(remedy, damp))
    }

    /// Whether [`Engine::recover`] would renew something.
    pub fn renewable(&self, remedy: Remedy) -> bool {
        remedy != Remedy::None && self.synth.renewable()
    }

    pub fn last_samples(&self) -> Option<&Tensor> {
        self.last_novel.as_ref()
    }

    /// What the run's sample grid shows: the latest batch the synthesizer
    /// kept, as made, or else the last novel batch.
    pub fn picture_samples(&self) -> Result<Option<Tensor>> {
        Ok(self
            .synth
            .latest()?
            .or_else(|| self.last_samples().map(Tensor::shallow_clone)))
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
