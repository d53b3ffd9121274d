//! A distillation run's complete description, and the presets it starts from.
//!
//! A run is a [`Config`]: global settings (student, budget, student optimizer)
//! plus one section per part: `synth`, `replay`, `update`, each naming its
//! kind (a part registered in [`super::parts`]) and its settings. Presets
//! are TOML files under `configs/METHOD/PRESET.toml`, all built into the
//! binary; a preset may `extends` another of its method and state only what
//! differs. A run starts from the preset of its method, may swap parts for
//! those of other methods' presets on the same dataset, then applies a user
//! TOML file, `--set key=value` overrides and the typed flags. The resolved
//! config states every setting of every part and is saved in the run
//! directory, so a run can be read, repeated and resumed exactly.

use super::parts;
use crate::distill::losses::KdLoss;
use crate::distill::schedule::{self, Schedule};
use crate::optim::OptimSpec;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// One part of a run: its kind and its settings (read by the part).
#[derive(Debug, Clone, PartialEq)]
pub struct PartConfig {
    pub kind: String,
    pub settings: toml::Table,
}

impl PartConfig {
    pub fn of(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            settings: toml::Table::new(),
        }
    }
}

impl Serialize for PartConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = toml::Table::new();
        t.insert("kind".into(), toml::Value::String(self.kind.clone()));
        t.extend(self.settings.clone());
        t.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PartConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut settings = toml::Table::deserialize(d)?;
        match settings.remove("kind") {
            Some(toml::Value::String(kind)) => Ok(Self { kind, settings }),
            _ => Err(serde::de::Error::custom("a part needs `kind = \"NAME\"`")),
        }
    }
}

fn no_replay() -> PartConfig {
    PartConfig::of("none")
}

fn joint() -> PartConfig {
    PartConfig::of("joint")
}

fn one() -> usize {
    1
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
    pub synth: PartConfig,
    #[serde(default = "no_replay")]
    pub replay: PartConfig,
    #[serde(default = "joint")]
    pub update: PartConfig,
    /// The student the run ships: the last epoch's, or the one a data-free
    /// signal chooses (see select.rs).
    #[serde(default)]
    pub select: super::select::Select,
    /// Students averaged into the shipped one: the chosen student and up
    /// to this many minus one before it (see average.rs); new runs take
    /// `average::WINDOW`, and 1 ships the chosen student alone, as runs
    /// made before averaging did.
    #[serde(default = "one")]
    pub average: usize,
    /// What the run does when its synthesizer collapses (see collapse.rs).
    #[serde(default)]
    pub collapse: super::collapse::CollapseConfig,
}

/// The method names of the built-in presets, in order.
pub fn methods() -> Vec<&'static str> {
    let mut v: Vec<&str> = PRESETS.iter().map(|(m, _, _)| *m).collect();
    v.dedup();
    v
}

fn presets_of(method: &str) -> Vec<&'static str> {
    PRESETS
        .iter()
        .filter(|(m, _, _)| *m == method)
        .map(|(_, p, _)| *p)
        .collect()
}

/// A built-in preset as a TOML table, with what it `extends` merged under
/// it: a derived preset states only what differs, and a table it states
/// with a `kind` (a part, a schedule) replaces the parent's whole.
fn preset_value(method: &str, preset: &str) -> Result<toml::Value> {
    let Some((_, _, text)) = PRESETS
        .iter()
        .find(|(m, p, _)| *m == method && *p == preset)
    else {
        if !methods().contains(&method) {
            bail!(
                "unknown method '{method}' (known: {})",
                methods().join(", ")
            );
        }
        bail!(
            "method '{method}' has no preset '{preset}' (it has: {})",
            presets_of(method).join(", ")
        );
    };
    let mut v: toml::Value =
        toml::from_str(text).with_context(|| format!("built-in preset {method}/{preset}"))?;
    let parent = table(&mut v)?.remove("extends");
    Ok(match parent {
        Some(toml::Value::String(parent)) => {
            let mut base = preset_value(method, &parent)
                .with_context(|| format!("built-in preset {method}/{preset} extends '{parent}'"))?;
            merge(&mut base, &v, true);
            base
        }
        Some(_) => bail!("built-in preset {method}/{preset}: `extends` names a preset"),
        None => v,
    })
}

/// The summary line of a method: the parts of its first official preset.
pub fn method_parts(method: &str) -> Option<String> {
    let preset = presets_of(method).into_iter().next()?;
    let v = preset_value(method, preset).ok()?;
    let kind = |s: &str, default: &str| {
        v.get(s)
            .and_then(|p| p.get("kind"))
            .and_then(|k| k.as_str())
            .unwrap_or(default)
            .to_string()
    };
    Some(format!(
        "{} x {} x {}",
        kind("synth", "?"),
        kind("replay", "none"),
        kind("update", "joint")
    ))
}

/// Typed settings given as flags; they apply last.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub student: Option<String>,
    pub epochs: Option<usize>,
    pub iters: Option<usize>,
    pub batch_size: Option<i64>,
    pub seed: Option<u64>,
    pub save_every: Option<usize>,
    pub select: Option<super::select::Select>,
    pub average: Option<usize>,
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
    /// `key.path=value` overrides, applied after the file.
    pub sets: Vec<String>,
    pub overrides: Overrides,
}

impl Choice {
    pub fn resolve(&self) -> Result<Config> {
        let mut v = preset_value(&self.method, &self.preset)?;
        let t = table(&mut v)?;
        t.insert("method".into(), toml::Value::String(self.method.clone()));
        t.insert("preset".into(), toml::Value::String(self.preset.clone()));
        // New runs ship an average; a run directory written before
        // averaging (no such key) keeps shipping the chosen student alone.
        if !t.contains_key("average") {
            let window = super::average::WINDOW as i64;
            t.insert("average".into(), toml::Value::Integer(window));
        }
        if let Some(name) = &self.synth {
            parts::synthesizer(name)?;
            // A synthesizer's settings come from its method's preset.
            let donor = preset_value(name, &self.preset).with_context(|| {
                format!(
                    "--synth {name} takes its settings from {name}'s '{}' preset",
                    self.preset
                )
            })?;
            let part = donor.get("synth").cloned().expect("presets have a synth");
            table(&mut v)?.insert("synth".into(), part);
        }
        for (section, name) in [("replay", &self.replay), ("update", &self.update)] {
            let Some(name) = name else { continue };
            match section {
                "replay" => parts::replay(name).map(|_| ())?,
                _ => parts::update(name).map(|_| ())?,
            }
            let part = toml::Value::Table(toml::map::Map::from_iter([(
                "kind".to_string(),
                toml::Value::String(name.clone()),
            )]));
            table(&mut v)?.insert(section.to_string(), part);
        }
        if let Some(epochs) = self.overrides.epochs {
            rescale_milestones(&mut v, epochs);
        }
        if let Some(file) = &self.file {
            merge(&mut v, file, false);
        }
        for s in &self.sets {
            set(&mut v, s)?;
        }
        let mut cfg: Config = v
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("invalid configuration: {}", e.message()))?;
        let o = &self.overrides;
        if let Some(s) = &o.student {
            cfg.student = s.clone();
        }
        cfg.epochs = o.epochs.unwrap_or(cfg.epochs);
        cfg.iters = o.iters.unwrap_or(cfg.iters);
        cfg.batch_size = o.batch_size.unwrap_or(cfg.batch_size);
        cfg.seed = o.seed.unwrap_or(cfg.seed);
        cfg.save_every = o.save_every.unwrap_or(cfg.save_every);
        cfg.select = o.select.unwrap_or(cfg.select);
        cfg.average = o.average.unwrap_or(cfg.average);
        cfg.normalized()
    }
}

/// Moves the milestones of every step schedule of the preset `v` to the same
/// fractions of a run of `epochs` as they have of the preset's epochs:
/// `--epochs` changes a run's length, and its rate should still drop where
/// the recipe drops it (a cosine schedule already anneals over the run's
/// epochs; train-teacher does the same). Milestones a user gives (`--config`,
/// `--set`) are taken as given, and `--set epochs=N` changes the length alone.
fn rescale_milestones(v: &mut toml::Value, epochs: usize) {
    let of = v.get("epochs").and_then(toml::Value::as_integer);
    if let Some(of) = of.filter(|&of| of > 0) {
        rescale_steps(v, epochs, of as usize);
    }
}

/// Rescales the milestones of the step schedule at `v`, if it is one, and of
/// every one in the sections below it.
fn rescale_steps(v: &mut toml::Value, epochs: usize, of: usize) {
    let Some(t) = v.as_table_mut() else { return };
    if t.get("kind").and_then(toml::Value::as_str) == Some("step") {
        if let Some(toml::Value::Array(ms)) = t.get_mut("milestones") {
            for m in ms {
                if let toml::Value::Integer(i) = m {
                    *i = schedule::rescaled_milestone(*i as usize, epochs, of) as i64;
                }
            }
        }
    }
    for (_, section) in t.iter_mut() {
        rescale_steps(section, epochs, of);
    }
}

fn table(v: &mut toml::Value) -> Result<&mut toml::map::Map<String, toml::Value>> {
    v.as_table_mut()
        .ok_or_else(|| anyhow!("configuration is not a table"))
}

/// Merges `over` into `base`, table by table. A table of another `kind`
/// replaces the one it meets wholesale, and so does any table stating a
/// kind when `restated_kinds_replace`.
fn merge(base: &mut toml::Value, over: &toml::Value, restated_kinds_replace: bool) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, ov) in o {
                match b.get_mut(k) {
                    Some(bv)
                        if bv.get("kind").is_some()
                            && ov.get("kind").is_some()
                            && (restated_kinds_replace || bv.get("kind") != ov.get("kind")) =>
                    {
                        *bv = ov.clone()
                    }
                    Some(bv) => merge(bv, ov, restated_kinds_replace),
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
            // Unknown keys are rejected when the result is read.
            t.insert(k.to_string(), value);
            return Ok(());
        }
        // A section the preset leaves to its defaults (`collapse`) starts
        // empty; an unknown one is rejected when the result is read.
        cur = t
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    unreachable!("split yields at least one key")
}

impl Config {
    /// This config with `key.path=value` assignments applied, checked (a
    /// resumed run continuing with a changed setting).
    pub fn with_sets(&self, sets: &[String]) -> Result<Self> {
        let mut v = toml::Value::try_from(self).expect("a config serialises");
        for s in sets {
            set(&mut v, s)?;
        }
        let cfg: Config = v
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("invalid configuration: {}", e.message()))?;
        cfg.normalized()
    }

    /// Checks every setting, including each part's and how the parts pair.
    pub fn validate(&self) -> Result<()> {
        self.read_parts().map(|_| ())
    }

    /// The parts this config describes, read and checked.
    pub fn read_parts(&self) -> Result<parts::Parts> {
        if self.epochs == 0 || self.iters == 0 {
            bail!("epochs and iters must be positive");
        }
        if self.batch_size < 2 {
            bail!("batch_size must be at least 2 (BatchNorm needs a batch)");
        }
        if self.save_every == 0 {
            bail!("save_every must be positive");
        }
        if self.average == 0 {
            bail!("average must be positive (1: ship the chosen student alone)");
        }
        parts::Parts::read(self)
    }

    /// The config with every part's settings stated in full (its defaults
    /// included), after checking it.
    pub fn normalized(mut self) -> Result<Self> {
        let p = self.read_parts()?;
        self.synth.settings = p.synth.settings.clone();
        self.replay.settings = p.replay.settings.clone();
        self.update.settings = p.update.settings.clone();
        Ok(self)
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
            self.synth.kind, self.replay.kind, self.update.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_and_states_every_setting() {
        for (method, preset, _) in PRESETS {
            let choice = Choice {
                method: method.to_string(),
                preset: preset.to_string(),
                ..Default::default()
            };
            let cfg = choice
                .resolve()
                .unwrap_or_else(|e| panic!("{method}/{preset}: {e:#}"));
            assert_eq!(
                (cfg.method.as_str(), cfg.preset.as_str()),
                (*method, *preset)
            );
            // The resolved form reads back to itself.
            let again = Config::from_toml(&cfg.to_toml()).unwrap();
            assert_eq!(again, cfg, "{method}/{preset}");
            assert_eq!(again.normalized().unwrap(), cfg, "{method}/{preset}");
        }
    }
}
