//! A distillation run's complete description, and the presets it starts from.
//!
//! A run is a [`Config`]: global settings (student, budget, student optimizer)
//! plus one section per part: `synth`, `replay`, `update`. Presets are TOML
//! files under `configs/METHOD/PRESET.toml`, built into the binary. A run
//! starts from the preset of its method, may swap parts for those of other
//! methods' presets on the same dataset, then applies a user TOML file and
//! `--set key=value` overrides. The resolved config is saved in the run
//! directory, so a run can be read, repeated and resumed exactly.

use crate::distill::losses::KdLoss;
use crate::distill::schedule::Schedule;
use crate::nn::generator::GeneratorSpec;
use crate::optim::OptimSpec;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

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

/// How novel samples are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SynthConfig {
    /// DAFL (Chen et al. 2019): generator trained on teacher priors.
    Dafl(GenerativeConfig),
    /// DFAD (Fang et al. 2019): generator trained adversarially (-L1).
    Dfad(GenerativeConfig),
    /// The novel-sample generator of MB-DFKD and PRE-DFKD (Binici et al.
    /// 2022): spectral-normalised, DAFL priors plus 1 - JS against the student.
    PreDfkd(GenerativeConfig),
}

fn three() -> f64 {
    3.0
}

impl SynthConfig {
    pub fn name(&self) -> &'static str {
        match self {
            SynthConfig::Dafl(_) => "dafl",
            SynthConfig::Dfad(_) => "dfad",
            SynthConfig::PreDfkd(_) => "pre-dfkd",
        }
    }
    pub const NAMES: &'static [&'static str] = &["dafl", "dfad", "pre-dfkd"];
}

/// What the student sees again from earlier epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ReplayConfig {
    /// No replay: the student learns from novel samples only.
    #[default]
    None,
    /// MB-DFKD's cyclic buffer of past batches.
    MemoryBank {
        /// Batches held.
        #[serde(default = "bank_capacity")]
        capacity: usize,
        /// A batch is pushed at the end of every `every`-th epoch.
        #[serde(default = "bank_every")]
        every: usize,
        /// Part of the novel batch kept per push, and so replayed per step.
        #[serde(default = "one_eighth")]
        fraction: f64,
    },
    /// Every novel batch kept; each step replays `fraction` of a batch size
    /// drawn uniformly from all of them.
    Pool {
        #[serde(default = "one_eighth")]
        fraction: f64,
    },
    /// PRE-DFKD's memory generator (a VAE) replaying samples it generates.
    Vae(VaeConfig),
}

/// PRE-DFKD's memory generator; defaults are the official code's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    /// Latent dimension of the VAE [default: the novel generator's, as
    /// officially].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent: Option<i64>,
    /// Memory samples per student step, as a part of the batch size.
    #[serde(default = "one_eighth")]
    pub fraction: f64,
    /// Adam learning rate of encoder and decoder (lr_G / 40 officially).
    #[serde(default = "vae_lr")]
    pub lr: f64,
    /// VAE updates in the first this many student steps of an iteration.
    #[serde(default = "four")]
    pub vae_steps: usize,
    #[serde(default = "kl_weight")]
    pub kl_weight: f64,
    /// The teacher's responses the reconstruction must also match (L1 each,
    /// summed): `logits`, `features` (the penultimate feature, a term the
    /// official code has commented out) or any tap point of the teacher's
    /// architecture (`conv1`, `layer2`...) [default: `["logits"]`, as
    /// officially].
    #[serde(default = "logits")]
    pub teacher_layers: Vec<String>,
    /// Reconstruction in pixels only, without the teacher's responses
    /// (ablation).
    #[serde(default)]
    pub pixel_only: bool,
    /// Algorithm 2's latent tuning; off draws codes from N(0, I) (ablation).
    #[serde(default = "yes")]
    pub latent_tuning: bool,
    /// Adam learning rate of the one tuning step (lr_G officially).
    #[serde(default = "tune_lr")]
    pub tune_lr: f64,
    /// Weights of the tuning's information-entropy and one-hot terms.
    #[serde(default = "five")]
    pub ie: f64,
    #[serde(default = "one_f")]
    pub oh: f64,
}

fn vae_lr() -> f64 {
    5e-4
}
fn logits() -> Vec<String> {
    vec!["logits".into()]
}
fn four() -> usize {
    4
}
fn kl_weight() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}
fn tune_lr() -> f64 {
    0.02
}
fn five() -> f64 {
    5.0
}
fn one_f() -> f64 {
    1.0
}

fn bank_capacity() -> usize {
    10
}
fn bank_every() -> usize {
    5
}
fn one_eighth() -> f64 {
    0.125
}

impl ReplayConfig {
    pub fn name(&self) -> &'static str {
        match self {
            ReplayConfig::None => "none",
            ReplayConfig::MemoryBank { .. } => "memory-bank",
            ReplayConfig::Pool { .. } => "pool",
            ReplayConfig::Vae(_) => "vae",
        }
    }
    pub const NAMES: &'static [&'static str] = &["none", "memory-bank", "pool", "vae"];
}

/// How one student step uses novel and memory samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum UpdateConfig {
    /// One loss on the concatenation of novel and memory samples.
    #[default]
    Joint,
}

impl UpdateConfig {
    pub fn name(&self) -> &'static str {
        match self {
            UpdateConfig::Joint => "joint",
        }
    }
    pub const NAMES: &'static [&'static str] = &["joint"];
}

/// A distillation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The published method this run follows (or a name for a new mix).
    pub method: String,
    /// The preset it started from.
    #[serde(default)]
    pub preset: String,
    /// Student architecture (see `dfkd archs`).
    pub student: String,
    pub epochs: usize,
    /// Iterations per epoch.
    pub iters: usize,
    /// Novel samples per student step.
    pub batch_size: i64,
    pub seed: u64,
    /// Student checkpoint every this many epochs (the last one always).
    #[serde(default = "one")]
    pub save_every: usize,
    pub kd: KdLoss,
    pub student_optim: OptimSpec,
    #[serde(default)]
    pub student_schedule: Schedule,
    pub synth: SynthConfig,
    #[serde(default)]
    pub replay: ReplayConfig,
    #[serde(default)]
    pub update: UpdateConfig,
}

fn one() -> usize {
    1
}

/// The built-in presets: (method, preset, TOML).
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "dafl",
        "mnist",
        include_str!("../../configs/dafl/mnist.toml"),
    ),
    (
        "dafl",
        "cifar10",
        include_str!("../../configs/dafl/cifar10.toml"),
    ),
    (
        "dafl",
        "cifar100",
        include_str!("../../configs/dafl/cifar100.toml"),
    ),
    (
        "dafl",
        "mnist-cpu",
        include_str!("../../configs/dafl/mnist-cpu.toml"),
    ),
    (
        "dafl",
        "fashion-mnist-demo",
        include_str!("../../configs/dafl/fashion-mnist-demo.toml"),
    ),
    (
        "dfad",
        "mnist",
        include_str!("../../configs/dfad/mnist.toml"),
    ),
    (
        "dfad",
        "cifar10",
        include_str!("../../configs/dfad/cifar10.toml"),
    ),
    (
        "dfad",
        "cifar100",
        include_str!("../../configs/dfad/cifar100.toml"),
    ),
    (
        "dfad",
        "mnist-cpu",
        include_str!("../../configs/dfad/mnist-cpu.toml"),
    ),
    (
        "dfad",
        "fashion-mnist-demo",
        include_str!("../../configs/dfad/fashion-mnist-demo.toml"),
    ),
    (
        "mb-dfkd",
        "mnist",
        include_str!("../../configs/mb-dfkd/mnist.toml"),
    ),
    (
        "mb-dfkd",
        "cifar10",
        include_str!("../../configs/mb-dfkd/cifar10.toml"),
    ),
    (
        "mb-dfkd",
        "cifar100",
        include_str!("../../configs/mb-dfkd/cifar100.toml"),
    ),
    (
        "mb-dfkd",
        "mnist-cpu",
        include_str!("../../configs/mb-dfkd/mnist-cpu.toml"),
    ),
    (
        "pre-dfkd",
        "mnist",
        include_str!("../../configs/pre-dfkd/mnist.toml"),
    ),
    (
        "pre-dfkd",
        "cifar10",
        include_str!("../../configs/pre-dfkd/cifar10.toml"),
    ),
    (
        "pre-dfkd",
        "cifar100",
        include_str!("../../configs/pre-dfkd/cifar100.toml"),
    ),
    (
        "pre-dfkd",
        "mnist-cpu",
        include_str!("../../configs/pre-dfkd/mnist-cpu.toml"),
    ),
    (
        "pre-dfad",
        "mnist",
        include_str!("../../configs/pre-dfad/mnist.toml"),
    ),
    (
        "pre-dfad",
        "mnist-cpu",
        include_str!("../../configs/pre-dfad/mnist-cpu.toml"),
    ),
];

fn preset_value(method: &str, preset: &str) -> Result<toml::Value> {
    let Some((_, _, text)) = PRESETS
        .iter()
        .find(|(m, p, _)| *m == method && *p == preset)
    else {
        let methods: Vec<&str> = {
            let mut v: Vec<&str> = PRESETS.iter().map(|(m, _, _)| *m).collect();
            v.dedup();
            v
        };
        if !methods.contains(&method) {
            bail!("unknown method '{method}' (known: {})", methods.join(", "));
        }
        let presets: Vec<&str> = PRESETS
            .iter()
            .filter(|(m, _, _)| *m == method)
            .map(|(_, p, _)| *p)
            .collect();
        bail!(
            "method '{method}' has no preset '{preset}' (it has: {})",
            presets.join(", ")
        );
    };
    toml::from_str(text).with_context(|| format!("built-in preset {method}/{preset}"))
}

/// The method whose preset supplies part `name` of kind `section`.
fn owner(section: &str, name: &str) -> Result<&'static str> {
    Ok(match (section, name) {
        ("synth", "dafl") => "dafl",
        ("synth", "dfad") => "dfad",
        ("synth", "pre-dfkd") => "pre-dfkd",
        ("replay", "none" | "memory-bank" | "pool" | "vae") | ("update", "joint") => return Ok(""),
        _ => {
            let known = match section {
                "synth" => SynthConfig::NAMES,
                "replay" => ReplayConfig::NAMES,
                _ => UpdateConfig::NAMES,
            };
            bail!("unknown {section} '{name}' (known: {})", known.join(", "))
        }
    })
}

/// Chooses the parts of a run and tunes its values before it starts.
#[derive(Debug, Default, Clone)]
pub struct Choice {
    pub method: String,
    pub preset: String,
    pub synth: Option<String>,
    pub replay: Option<String>,
    pub update: Option<String>,
    /// A user TOML file's content, merged over the preset.
    pub file: Option<toml::Value>,
    /// `key.path=value` overrides, applied last.
    pub sets: Vec<String>,
}

impl Choice {
    pub fn resolve(&self) -> Result<Config> {
        let mut v = preset_value(&self.method, &self.preset)?;
        for (section, name) in [
            ("synth", &self.synth),
            ("replay", &self.replay),
            ("update", &self.update),
        ] {
            let Some(name) = name else { continue };
            let from = owner(section, name)?;
            let part = if from.is_empty() {
                toml::Value::Table(toml::map::Map::from_iter([(
                    "kind".to_string(),
                    toml::Value::String(name.clone()),
                )]))
            } else {
                let donor = preset_value(from, &self.preset).with_context(|| {
                    format!(
                        "--{section} {name} takes its settings from {from}'s '{}' preset",
                        self.preset
                    )
                })?;
                donor
                    .get(section)
                    .cloned()
                    .expect("presets have every section")
            };
            table(&mut v)?.insert(section.to_string(), part);
        }
        if let Some(file) = &self.file {
            merge(&mut v, file);
        }
        for s in &self.sets {
            set(&mut v, s)?;
        }
        let cfg: Config = v
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("invalid configuration: {}", e.message()))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn table(v: &mut toml::Value) -> Result<&mut toml::map::Map<String, toml::Value>> {
    v.as_table_mut()
        .ok_or_else(|| anyhow!("configuration is not a table"))
}

/// Merges `over` into `base`, table by table.
fn merge(base: &mut toml::Value, over: &toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, ov) in o {
                match b.get_mut(k) {
                    // A part of another kind replaces the part wholesale.
                    Some(bv)
                        if bv.get("kind").is_some()
                            && bv.get("kind") != ov.get("kind")
                            && ov.get("kind").is_some() =>
                    {
                        *bv = ov.clone()
                    }
                    Some(bv) => merge(bv, ov),
                    None => {
                        b.insert(k.clone(), ov.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Applies `a.b.c=value`; the value is parsed as TOML (number, bool, array,
/// quoted string) or taken as a bare string.
fn set(v: &mut toml::Value, assignment: &str) -> Result<()> {
    let Some((path, raw)) = assignment.split_once('=') else {
        bail!("--set '{assignment}' is not of the form key=value");
    };
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|t| t.get("v").cloned())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let keys: Vec<&str> = path.trim().split('.').collect();
    let mut cur = v;
    for (i, k) in keys.iter().enumerate() {
        let t = cur
            .as_table_mut()
            .ok_or_else(|| anyhow!("--set {path}: '{}' is not a section", keys[..i].join(".")))?;
        if i == keys.len() - 1 {
            // Unknown keys are rejected when the result is deserialised.
            t.insert(k.to_string(), value);
            return Ok(());
        }
        cur = t
            .get_mut(*k)
            .ok_or_else(|| anyhow!("--set {path}: no section '{}'", keys[..=i].join(".")))?;
    }
    unreachable!("split yields at least one key")
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.iters == 0 {
            bail!("epochs and iters must be positive");
        }
        if self.batch_size < 2 {
            bail!("batch_size must be at least 2 (BatchNorm needs a batch)");
        }
        if self.save_every == 0 {
            bail!("save_every must be positive");
        }
        let g = self.generative();
        if g.student_steps == 0 {
            bail!("synth.student_steps must be positive");
        }
        if g.generator.latent < 1 || g.generator.ngf < 1 {
            bail!("synth.generator.latent and ngf must be positive");
        }
        match self.replay {
            ReplayConfig::MemoryBank {
                capacity, every, ..
            } if capacity == 0 || every == 0 => {
                bail!("replay.capacity and replay.every must be positive")
            }
            ReplayConfig::MemoryBank { fraction, .. } | ReplayConfig::Pool { fraction }
                if !(fraction > 0.0 && fraction <= 1.0) =>
            {
                bail!("replay.fraction must be in (0, 1]")
            }
            _ => {}
        }
        Ok(())
    }

    pub fn generative(&self) -> &GenerativeConfig {
        match &self.synth {
            SynthConfig::Dafl(g) | SynthConfig::Dfad(g) | SynthConfig::PreDfkd(g) => g,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config serialises")
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| anyhow!("invalid configuration: {}", e.message()))
    }

    /// "synth x replay x update", e.g. "dafl x none x joint".
    pub fn parts(&self) -> String {
        format!(
            "{} x {} x {}",
            self.synth.name(),
            self.replay.name(),
            self.update.name()
        )
    }
}
