//! The registry of parts: every synthesizer, replay and student update a
//! run can be composed of, each registered once, here, by its name, a
//! line of help, and the type of its settings. Names, `--help` and the
//! checks of settings all come from this table; a part's file holds
//! everything else (see [`SynthSpec`], [`ReplaySpec`], [`UpdateSpec`]).
//!
//! A synthesizer's default settings are those of the preset of the method
//! with its name (so `--synth dfad` brings DFAD's generator); a replay's or
//! an update's are its settings type's defaults.

use super::config::Config;
use super::replay::{bank, pool, vae, Replay};
use super::synth::{cmi, generative, inversion, Synthesizer};
use super::update::{joint, meta, StudentUpdate};
use crate::data::Normalization;
use crate::nn::{script, Model};
use anyhow::{anyhow, bail, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// What a part is built from, besides its settings.
pub struct Assembly<'a> {
    /// Frozen, in evaluation mode.
    pub teacher: &'a Model,
    /// The teacher's input normalisation (pixel space <-> its inputs).
    pub norm: &'a Normalization,
    /// Novel samples per student step.
    pub batch_size: i64,
    /// Where kept samples go (the run directory's `samples/`).
    pub samples: &'a Path,
    /// The synthesizer's latent size, if it has one (the VAE's default).
    pub latent: Option<i64>,
}

/// What a synthesizer is, for the checks made before anything is built.
#[derive(Debug, Clone, Copy, Default)]
pub struct SynthTraits {
    /// It keeps what it synthesizes and the student samples from all of it.
    pub keeps_samples: bool,
    /// Its loss reads the teacher's BatchNorm statistics.
    pub needs_batchnorm: bool,
    /// Its loss reads the teacher's penultimate feature.
    pub needs_features: bool,
    /// Size of its latent codes, if it has a generator.
    pub latent: Option<i64>,
}

/// The settings of a synthesizer: read from its config section (unknown
/// keys refused), checked, and built into the synthesizer.
pub trait SynthSpec: Serialize + DeserializeOwned + 'static {
    fn check(&self) -> Result<()> {
        Ok(())
    }
    fn traits(&self) -> SynthTraits;
    fn build(&self, a: &Assembly) -> Result<Box<dyn Synthesizer>>;
}

/// The settings of a replay.
pub trait ReplaySpec: Serialize + DeserializeOwned + 'static {
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// It keeps every novel batch (pointless after a synthesizer that does).
    fn keeps_every_batch(&self) -> bool {
        false
    }
    fn build(&self, a: &Assembly) -> Result<Box<dyn Replay>>;
}

/// The settings of a student update.
pub trait UpdateSpec: Serialize + DeserializeOwned + 'static {
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// It learns from memory samples as well as novel ones.
    fn needs_memory(&self) -> bool {
        false
    }
    fn build(&self) -> Result<Box<dyn StudentUpdate>>;
}

/// A registered part: its name, its help, and how to read its settings.
pub struct Part<T: 'static> {
    pub name: &'static str,
    pub about: &'static str,
    read: fn(&toml::Table) -> Result<T>,
}

type Build<T> = Box<dyn Fn(&Assembly) -> Result<Box<T>>>;

/// A synthesizer's settings, read: their complete form and its builder.
pub struct SynthPlan {
    pub settings: toml::Table,
    pub traits: SynthTraits,
    build: Build<dyn Synthesizer>,
}

pub struct ReplayPlan {
    pub settings: toml::Table,
    pub keeps_every_batch: bool,
    build: Build<dyn Replay>,
}

pub struct UpdatePlan {
    pub settings: toml::Table,
    pub needs_memory: bool,
    build: Box<dyn Fn() -> Result<Box<dyn StudentUpdate>>>,
}

pub const SYNTHESIZERS: &[Part<SynthPlan>] = &[
    Part {
        name: "dafl",
        about: "DAFL's generator, trained on teacher priors (one-hot, information entropy, activation)",
        read: read_synth::<generative::GenerativeConfig>,
    },
    Part {
        name: "dfad",
        about: "DFAD's adversarial generator (-L1 against the student, 5 student steps per generator step)",
        read: read_synth::<generative::GenerativeConfig>,
    },
    Part {
        name: "pre-dfkd",
        about: "PRE-DFKD's (and MB-DFKD's) spectral-normalised generator: DAFL's priors + 1 - JS",
        read: read_synth::<generative::GenerativeConfig>,
    },
    Part {
        name: "deepdream",
        about: "DeepDream: inputs optimised to a target class with image priors (TV, l2)",
        read: read_synth::<inversion::InversionConfig>,
    },
    Part {
        name: "deepinversion",
        about: "DeepInversion: DeepDream + the teacher's BatchNorm statistics (R_feature)",
        read: read_synth::<inversion::InversionConfig>,
    },
    Part {
        name: "adi",
        about: "Adaptive DeepInversion: DeepInversion + competition with the student (1 - JS)",
        read: read_synth::<inversion::InversionConfig>,
    },
    Part {
        name: "cmi",
        about: "CMI: a generator re-initialised per batch, BN statistics + contrastive + masked adversarial KL",
        read: read_synth::<cmi::CmiConfig>,
    },
];

pub const REPLAYS: &[Part<ReplayPlan>] = &[
    Part {
        name: "none",
        about: "no replay: the student learns from novel samples only",
        read: read_replay::<super::replay::NoReplayConfig>,
    },
    Part {
        name: "memory-bank",
        about: "MB-DFKD's cyclic bank of a few past batches",
        read: read_replay::<bank::BankConfig>,
    },
    Part {
        name: "pool",
        about: "every past novel batch kept (memory grows with the run)",
        read: read_replay::<pool::PoolConfig>,
    },
    Part {
        name: "vae",
        about:
            "PRE-DFKD's memory generator: a VAE that replays samples it generates (constant memory)",
        read: read_replay::<vae::VaeConfig>,
    },
];

pub const UPDATES: &[Part<UpdatePlan>] = &[
    Part {
        name: "joint",
        about: "one KD loss on the novel and the memory samples together",
        read: read_update::<joint::JointConfig>,
    },
    Part {
        name: "meta",
        about: "learning to retain while acquiring: an inner step on the novel batch, retention on the memory batch at the stepped weights (exact, first-order or as released)",
        read: read_update::<meta::MetaConfig>,
    },
];

/// Reads `T` from a part's settings, refusing unknown keys.
fn parse<T: DeserializeOwned>(t: &toml::Table) -> Result<T> {
    toml::Value::Table(t.clone())
        .try_into()
        .map_err(|e: toml::de::Error| anyhow!("{}", e.message()))
}

fn complete<T: Serialize>(spec: &T) -> toml::Table {
    toml::Table::try_from(spec).expect("settings serialise")
}

fn read_synth<T: SynthSpec>(t: &toml::Table) -> Result<SynthPlan> {
    let spec: T = parse(t)?;
    spec.check()?;
    Ok(SynthPlan {
        settings: complete(&spec),
        traits: spec.traits(),
        build: Box::new(move |a| spec.build(a)),
    })
}

fn read_replay<T: ReplaySpec>(t: &toml::Table) -> Result<ReplayPlan> {
    let spec: T = parse(t)?;
    spec.check()?;
    Ok(ReplayPlan {
        settings: complete(&spec),
        keeps_every_batch: spec.keeps_every_batch(),
        build: Box::new(move |a| spec.build(a)),
    })
}

fn read_update<T: UpdateSpec>(t: &toml::Table) -> Result<UpdatePlan> {
    let spec: T = parse(t)?;
    spec.check()?;
    Ok(UpdatePlan {
        settings: complete(&spec),
        needs_memory: spec.needs_memory(),
        build: Box::new(move || spec.build()),
    })
}

fn find<T>(table: &'static [Part<T>], what: &str, name: &str) -> Result<&'static Part<T>> {
    table.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = table.iter().map(|p| p.name).collect();
        anyhow!("unknown {what} '{name}' (known: {})", known.join(", "))
    })
}

pub fn synthesizer(name: &str) -> Result<&'static Part<SynthPlan>> {
    find(SYNTHESIZERS, "synthesizer", name)
}

pub fn replay(name: &str) -> Result<&'static Part<ReplayPlan>> {
    find(REPLAYS, "replay", name)
}

pub fn update(name: &str) -> Result<&'static Part<UpdatePlan>> {
    find(UPDATES, "update", name)
}

/// The three parts of a run, read from its config and checked together.
pub struct Parts {
    pub synth: SynthPlan,
    pub replay: ReplayPlan,
    pub update: UpdatePlan,
}

impl Parts {
    pub fn read(cfg: &Config) -> Result<Self> {
        let s = &cfg.synth.kind;
        let synth = (synthesizer(s)?.read)(&cfg.synth.settings)
            .map_err(|e| anyhow!("invalid configuration: synth ({s}): {e:#}"))?;
        let r = &cfg.replay.kind;
        let replay = (replay(r)?.read)(&cfg.replay.settings)
            .map_err(|e| anyhow!("invalid configuration: replay ({r}): {e:#}"))?;
        let u = &cfg.update.kind;
        let update = (update(u)?.read)(&cfg.update.settings)
            .map_err(|e| anyhow!("invalid configuration: update ({u}): {e:#}"))?;
        if update.needs_memory && r == "none" && !synth.traits.keeps_samples {
            bail!(
                "--update {u} needs samples to retain: a replay (memory-bank, pool or vae), or a synthesizer that keeps its batches; {s} with --replay none gives none"
            );
        }
        if synth.traits.keeps_samples && replay.keeps_every_batch {
            bail!(
                "--replay {r} cannot follow --synth {s}: {s} keeps every batch it synthesizes and the student already draws from all of them"
            );
        }
        Ok(Self {
            synth,
            replay,
            update,
        })
    }

    /// Refuses a teacher the synthesizer cannot work with; `teacher` names it.
    pub fn check_teacher(&self, cfg: &Config, model: &Model, teacher: &str) -> Result<()> {
        // A plain scripted classifier hides its layers; the wrapper shows them.
        // Asked only on a refusal: it runs the teacher once.
        let hint = || {
            if model.spec.arch == script::ARCH && !model.provides_features() {
                "; save it with python/dfkd_teacher.py, which exposes them"
            } else {
                ""
            }
        };
        if self.synth.traits.needs_batchnorm && model.batchnorm_layers() == 0 {
            bail!(
                "{}: the teacher ({}) has no BatchNorm layer, and {} matches the teacher's BatchNorm statistics (method {}){}",
                teacher,
                model.spec.arch,
                cfg.synth.kind,
                cfg.method,
                hint()
            );
        }
        if self.synth.traits.needs_features && !model.provides_features() {
            bail!(
                "{}: the teacher ({}) does not report its penultimate feature, which {} reads (method {}){}",
                teacher,
                model.spec.arch,
                cfg.synth.kind,
                cfg.method,
                hint()
            );
        }
        Ok(())
    }

    pub fn build_synth(&self, a: &Assembly) -> Result<Box<dyn Synthesizer>> {
        (self.synth.build)(a)
    }

    pub fn build_replay(&self, a: &Assembly) -> Result<Box<dyn Replay>> {
        (self.replay.build)(a)
    }

    pub fn build_update(&self) -> Result<Box<dyn StudentUpdate>> {
        (self.update.build)()
    }
}
