//! The run directory: everything a distillation writes, and what a resume
//! reads back.
//!
//! ```text
//! RUN/config.toml                 the resolved configuration
//! RUN/run.json                    the teacher file and its digest, where it computes
//! RUN/state.safetensors           resume state after the last finished epoch
//! RUN/metrics.jsonl               one JSON object per epoch
//! RUN/summary.json                the run at a glance (rewritten every epoch)
//! RUN/student.safetensors         the student shipped (the chosen epoch's, or an average: average.rs)
//! RUN/checkpoints/student-epoch-NNNN.safetensors
//! RUN/accuracy.png, losses.png, samples.png
//! RUN/samples/                    kept samples, as shards (see kept.rs)
//! RUN/.lock                       locked by the process running the run
//! ```
//!
//! Every file is written atomically. The state file is written last in an
//! epoch: it is the commit point. A run killed before it re-runs that epoch
//! on resume, and metrics of uncommitted epochs are dropped.

use super::config::Config;
use super::engine::EpochRecord;
use crate::checkpoint::{self, write_atomic, Checkpoint, ModelMeta};
use crate::nn::{zoo, Model};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The inputs of a run that are files.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub teacher: PathBuf,
    /// FNV-1a 64 of the teacher file, to refuse resuming with another teacher.
    pub teacher_digest: String,
    pub dfkd_version: String,
    /// The `--val KIND:PATH` accuracy is reported on; a resume keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<String>,
    /// How the teacher file is read, when the file does not say it itself
    /// (a PyTorch state dict): a resume needs no flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_input: Option<[i64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_mean: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_std: Option<Vec<f64>>,
    /// Where the run computes ("cpu, 2 CPU threads"), as of its last start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// Settings changed on resume, in order ("from epoch 7: synth.optim.lr=0.01").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

/// The run at a glance.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub method: String,
    pub preset: String,
    pub parts: String,
    pub student: String,
    pub teacher: PathBuf,
    pub seed: u64,
    pub epochs_planned: usize,
    pub epochs_done: usize,
    pub wall_clock_s: f64,
    pub teacher_accuracy: Option<f64>,
    pub final_accuracy: Option<f64>,
    pub best_accuracy: Option<f64>,
    pub best_epoch: Option<usize>,
    /// The epoch whose student is shipped as student.safetensors, how it
    /// was chosen and why, and its accuracy when the run has held-out data
    /// (which the choice never sees).
    #[serde(default)]
    pub chosen_epoch: usize,
    #[serde(default)]
    pub chosen_by: String,
    #[serde(default)]
    pub chosen_because: String,
    #[serde(default)]
    pub chosen_accuracy: Option<f64>,
    /// The epochs whose students' average was shipped, when it was (see
    /// average.rs); `chosen_accuracy` is then the average's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub averaged_epochs: Vec<usize>,
    /// Collapses of the synthesizer and what was done (see collapse.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collapses: Vec<String>,
    /// Mean and variance of this run's accuracy over its epochs.
    pub mean_accuracy: Option<f64>,
    pub var_accuracy: Option<f64>,
    pub replay_bytes_max: u64,
    /// The most the synthesizer kept (model inversion's image pool).
    #[serde(default)]
    pub kept_bytes_max: u64,
    pub student_parameters: i64,
}

/// What the state file holds: the engine's tensors after `epochs_done`
/// epochs, and the seconds of distillation so far.
pub struct SavedState {
    pub tensors: HashMap<String, Tensor>,
    pub epochs_done: usize,
    pub wall_clock: f64,
}

/// FNV-1a 64 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(bytes))
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// A new run directory; refuses one that already holds a run.
    pub fn create(path: &Path) -> Result<Self> {
        if path.join("config.toml").exists() {
            bail!(
                "{}: already holds a run (continue it with --resume {}, or choose another --out)",
                path.display(),
                path.display()
            );
        }
        std::fs::create_dir_all(path.join("checkpoints"))
            .with_context(|| format!("{}: cannot create the run directory", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// An existing run directory.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.toml").is_file() {
            bail!("{}: not a run directory (no config.toml)", path.display());
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// Locks the run for this process until the returned file is dropped
    /// (or the process ends, however it ends), so that a second `dfkd` on
    /// the same directory is refused instead of interleaving its writes.
    pub fn lock(&self) -> Result<File> {
        let path = self.file(".lock");
        let file = File::create(&path)
            .with_context(|| format!("{}: cannot create the lock file", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(TryLockError::WouldBlock) => bail!(
                "{}: in use by another dfkd process (it holds {}); wait for it to end or stop it",
                self.path.display(),
                path.display()
            ),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("{}: cannot lock", path.display()))
            }
        }
    }

    /// Removes what writes cut short by a kill left (temporary files), in
    /// every folder of the run, before a resume writes to it again.
    pub fn remove_unfinished_writes(&self) -> Result<()> {
        for dir in [self.path.clone(), self.file("checkpoints"), self.samples()] {
            checkpoint::remove_unfinished_writes(&dir)?;
        }
        Ok(())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write_config(&self, cfg: &Config) -> Result<()> {
        write_atomic(&self.file("config.toml"), cfg.to_toml().as_bytes())
    }

    pub fn read_config(&self) -> Result<Config> {
        let p = self.file("config.toml");
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
        Config::from_toml(&text).with_context(|| format!("{}", p.display()))
    }

    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        write_atomic(
            &self.file("run.json"),
            serde_json::to_string_pretty(info)?.as_bytes(),
        )
    }

    pub fn read_info(&self) -> Result<RunInfo> {
        let p = self.file("run.json");
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", p.display()))
    }

    /// The committed state, if an epoch was committed.
    pub fn read_state(&self) -> Result<Option<SavedState>> {
        let p = self.file("state.safetensors");
        if !p.exists() {
            return Ok(None);
        }
        let ck = Checkpoint::read(&p)?;
        Ok(Some(SavedState {
            epochs_done: ck.metadata_value("epochs_done")?,
            wall_clock: ck.metadata_value("wall_clock")?,
            tensors: ck.tensors,
        }))
    }

    pub fn write_state(
        &self,
        tensors: &[(String, Tensor)],
        epochs_done: usize,
        wall_clock: f64,
    ) -> Result<()> {
        let meta = HashMap::from([
            ("epochs_done".to_string(), epochs_done.to_string()),
            ("wall_clock".to_string(), wall_clock.to_string()),
        ]);
        write_atomic(
            &self.file("state.safetensors"),
            &checkpoint::to_safetensors(tensors, meta)?,
        )
    }

    /// Epochs committed, read from the state file's header alone (so a run
    /// in progress can be looked at without loading its state).
    pub fn committed_epochs(&self) -> Result<usize> {
        let p = self.file("state.safetensors");
        if !p.exists() {
            return Ok(0);
        }
        let meta = checkpoint::read_metadata(&p)?;
        meta.get("epochs_done")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("{}: metadata lacks 'epochs_done'", p.display()))
    }

    /// Epochs a report may read: the committed ones, or for a finished
    /// run's record kept without its state (config, metrics and summary, as
    /// `bench/runs/` keeps them) the summary's count.
    pub fn reported_epochs(&self) -> Result<usize> {
        if self.file("state.safetensors").exists() || !self.file("summary.json").exists() {
            return self.committed_epochs();
        }
        Ok(self.read_summary()?.epochs_done)
    }

    /// The metrics of the first `epochs` epochs; later lines (an epoch that
    /// was not committed) are dropped from the file, for a resume.
    pub fn committed_metrics(&self, epochs: usize) -> Result<Vec<EpochRecord>> {
        let records = self.read_metrics(epochs)?;
        let kept: String = records
            .iter()
            .map(|r| serde_json::to_string(r).expect("record serialises") + "\n")
            .collect();
        write_atomic(&self.file("metrics.jsonl"), kept.as_bytes())?;
        Ok(records)
    }

    /// The metrics of the first `epochs` epochs, leaving the file as it is.
    pub fn read_metrics(&self, epochs: usize) -> Result<Vec<EpochRecord>> {
        let p = self.file("metrics.jsonl");
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(anyhow!("{}: {e}", p.display())),
        };
        // Lines past the committed epochs (an epoch cut short, perhaps in
        // the middle of its line) are dropped unread.
        let mut records = Vec::new();
        for (i, line) in text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(epochs)
            .enumerate()
        {
            let r: EpochRecord = serde_json::from_str(line)
                .map_err(|e| anyhow!("{}: line {}: {e}", p.display(), i + 1))?;
            records.push(r);
        }
        if records.len() != epochs {
            bail!(
                "{}: {} epochs of metrics for {epochs} committed epochs",
                p.display(),
                records.len()
            );
        }
        Ok(records)
    }

    pub fn append_metrics(&self, record: &EpochRecord) -> Result<()> {
        let p = self.file("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("{}", p.display()))?;
        writeln!(f, "{}", serde_json::to_string(record)?)
            .with_context(|| format!("{}", p.display()))?;
        f.sync_all().with_context(|| format!("{}", p.display()))
    }

    /// Writes the student of epoch `epoch` (1-based) as a numbered
    /// checkpoint when `keep` says so, and `shipped` (the chosen student) as
    /// student.safetensors.
    pub fn save_student(
        &self,
        model: &Model,
        shipped: &Model,
        meta: &ModelMeta,
        epoch: usize,
        keep: bool,
    ) -> Result<()> {
        if keep {
            checkpoint::save_model(&self.student_checkpoint(epoch), model, meta)?;
        }
        checkpoint::save_model(&self.file("student.safetensors"), shipped, meta)
    }

    /// Where the student of 1-based `epoch` is kept.
    fn student_checkpoint(&self, epoch: usize) -> PathBuf {
        self.path
            .join(format!("checkpoints/student-epoch-{epoch:04}.safetensors"))
    }

    /// The student of `epoch` as kept by `save_student`, as a model like
    /// `like`; `None` when that epoch was not kept (`--save-every`).
    pub fn kept_student(&self, epoch: usize, like: &Model) -> Result<Option<Model>> {
        let path = self.student_checkpoint(epoch);
        if !path.exists() {
            return Ok(None);
        }
        let model = zoo::like(like)?;
        Checkpoint::read(&path)?.load_into(&model.store, "the student")?;
        Ok(Some(model))
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        write_atomic(
            &self.file("summary.json"),
            serde_json::to_string_pretty(summary)?.as_bytes(),
        )
    }

    pub fn read_summary(&self) -> Result<Summary> {
        let p = self.file("summary.json");
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", p.display()))
    }

    pub fn picture(&self, name: &str) -> PathBuf {
        self.file(name)
    }

    /// Where the run keeps its samples.
    pub fn samples(&self) -> PathBuf {
        self.file("samples")
    }
}
