//! `dfkd distill`: train a student from a teacher with no data.

use super::progress;
use anyhow::{bail, Context, Result};
use clap::Parser;
use dfkd::checkpoint::{self, parse_list, ModelMeta};
use dfkd::data::{DataSpec, Dataset, Normalization, Split};
use dfkd::distill::engine::EpochRecord;
use dfkd::distill::run_dir::{digest, RunDir, RunInfo};
use dfkd::distill::runner::{self, Observer, RunContext};
use dfkd::distill::{Choice, Config, Engine, Losses};
use dfkd::eval::{Evaluator, HeldOut};
use dfkd::nn::Model;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};

#[derive(Parser, Default)]
pub struct Args {
    /// Teacher checkpoint (dfkd's, or a PyTorch state dict with --teacher-arch).
    #[arg(long, value_name = "FILE")]
    pub teacher: Option<PathBuf>,
    /// Teacher architecture, for files without dfkd metadata.
    #[arg(long, value_name = "ARCH")]
    pub teacher_arch: Option<String>,
    /// Teacher input shape, for files without dfkd metadata.
    #[arg(long, value_name = "C,H,W", default_value = "3,32,32")]
    pub teacher_input: String,
    /// Teacher input normalisation, for files without dfkd metadata.
    #[arg(long, value_name = "M1,M2,M3")]
    pub teacher_mean: Option<String>,
    #[arg(long, value_name = "S1,S2,S3")]
    pub teacher_std: Option<String>,
    /// Student architecture [default: the preset's].
    #[arg(long, value_name = "ARCH")]
    pub student: Option<String>,
    /// Published method to follow: dafl, dfad, mb-dfkd, pre-dfkd, or pre-dfad (PRE-DFKD's
    /// ablation: DFAD's synthesizer with the VAE replay).
    #[arg(long, value_name = "M")]
    pub method: Option<String>,
    /// Settings of the method: mnist, cifar10, cifar100 (official), mnist-cpu,
    /// fashion-mnist-demo (small CPU budgets) [default: the teacher's dataset].
    #[arg(long, value_name = "P")]
    pub preset: Option<String>,
    /// Synthesizer, replacing the method's: dafl, dfad, pre-dfkd (PRE-DFKD/MB-DFKD novel generator).
    #[arg(long, value_name = "S")]
    pub synth: Option<String>,
    /// Replay, replacing the method's: none, memory-bank (MB-DFKD), pool (every batch kept), vae (PRE-DFKD).
    #[arg(long, value_name = "R")]
    pub replay: Option<String>,
    /// Student update, replacing the method's: joint.
    #[arg(long, value_name = "U")]
    pub update: Option<String>,
    /// A TOML file of settings merged over the preset (see configs/).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one setting, e.g. --set synth.optim.lr=0.1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Iterations per epoch.
    #[arg(long)]
    pub iters: Option<usize>,
    /// Novel samples per student step.
    #[arg(long)]
    pub batch_size: Option<i64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep a student checkpoint every N epochs (the last one always).
    #[arg(long, value_name = "N")]
    pub save_every: Option<usize>,
    /// Real data to report the student's accuracy on after each epoch (its
    /// test split). Never used for training.
    #[arg(long, value_name = "KIND:PATH")]
    pub val: Option<DataSpec>,
    /// Run directory [default: runs/METHOD-PRESET-sSEED].
    #[arg(long, value_name = "RUN")]
    pub out: Option<PathBuf>,
    /// Continue the run in RUN where it stopped (--epochs may extend it).
    #[arg(long, value_name = "RUN", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Print the resolved configuration (TOML) and exit.
    #[arg(long)]
    pub dry_run: bool,
}

/// The teacher, its normalisation, and its file.
struct Teacher {
    model: Model,
    norm: Normalization,
    dataset: Option<String>,
    path: PathBuf,
}

fn load_teacher(a: &Args, path: &Path) -> Result<Teacher> {
    let shape: Vec<i64> = parse_list(&a.teacher_input, "--teacher-input")?;
    let Ok(shape) = <[i64; 3]>::try_from(shape) else {
        bail!("--teacher-input takes three numbers, C,H,W");
    };
    let (model, meta) = checkpoint::load_model(path, a.teacher_arch.as_deref(), shape)?;
    let norm = match (&a.teacher_mean, &a.teacher_std, &meta) {
        (Some(m), Some(s), _) => Normalization::new(parse_list(m, "--teacher-mean")?, parse_list(s, "--teacher-std")?),
        (None, None, Some(meta)) => meta.normalization.clone(),
        (None, None, None) => bail!(
            "{}: no dfkd metadata gives the teacher's input normalisation; pass --teacher-mean and --teacher-std",
            path.display()
        ),
        _ => bail!("--teacher-mean and --teacher-std go together"),
    };
    norm.check_channels(model.spec.input_shape[0])?;
    Ok(Teacher {
        model,
        norm,
        dataset: meta.and_then(|m| m.dataset),
        path: path.to_path_buf(),
    })
}

fn choice(a: &Args, teacher: &Teacher) -> Result<Choice> {
    let Some(method) = a.method.clone() else {
        bail!("--method is required for a new run (dafl or dfad)");
    };
    let preset = match (&a.preset, &teacher.dataset) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => bail!("--preset is required: the teacher's metadata names no dataset"),
    };
    let file = match &a.config {
        Some(p) => Some(
            toml::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?,
            )
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {}", p.display(), e.message()))?,
        ),
        None => None,
    };
    let mut sets = Vec::new();
    if let Some(s) = &a.student {
        sets.push(format!("student=\"{s}\""));
    }
    for (key, v) in [
        ("epochs", a.epochs.map(|v| v.to_string())),
        ("iters", a.iters.map(|v| v.to_string())),
        ("batch_size", a.batch_size.map(|v| v.to_string())),
        ("seed", a.seed.map(|v| v.to_string())),
        ("save_every", a.save_every.map(|v| v.to_string())),
    ] {
        if let Some(v) = v {
            sets.push(format!("{key}={v}"));
        }
    }
    sets.extend(a.sets.iter().cloned());
    Ok(Choice {
        method,
        preset,
        synth: a.synth.clone(),
        replay: a.replay.clone(),
        update: a.update.clone(),
        file,
        sets,
    })
}

/// Flags that describe a new run, refused with --resume.
fn refuse_with_resume(a: &Args) -> Result<()> {
    let set = [
        ("--teacher-arch", a.teacher_arch.is_some()),
        ("--student", a.student.is_some()),
        ("--method", a.method.is_some()),
        ("--preset", a.preset.is_some()),
        ("--synth", a.synth.is_some()),
        ("--replay", a.replay.is_some()),
        ("--update", a.update.is_some()),
        ("--config", a.config.is_some()),
        ("--set", !a.sets.is_empty()),
        ("--iters", a.iters.is_some()),
        ("--batch-size", a.batch_size.is_some()),
        ("--seed", a.seed.is_some()),
    ];
    if let Some((flag, _)) = set.iter().find(|(_, s)| *s) {
        bail!("{flag} cannot change an existing run; --resume takes only --epochs, --val, --save-every and --teacher (if the file moved)");
    }
    Ok(())
}

struct Bars {
    bar: ProgressBar,
    epochs: usize,
    iters: usize,
    last_accuracy: Option<f64>,
}

impl Observer for Bars {
    fn iteration(&mut self, epoch: usize, i: usize, losses: &Losses) {
        self.bar.inc(1);
        let kd = losses
            .last_mean("kd")
            .map_or(String::new(), |v| format!(" kd {v:.4}"));
        let g = losses
            .last_mean("generator")
            .map_or(String::new(), |v| format!(" gen {v:.4}"));
        let acc = self
            .last_accuracy
            .map_or(String::new(), |a| format!(" acc {a:.2}%"));
        self.bar.set_message(format!(
            "epoch {epoch}/{} it {}/{}{kd}{g}{acc}",
            self.epochs,
            i + 1,
            self.iters
        ));
    }

    fn epoch(&mut self, r: &EpochRecord) {
        if r.val_accuracy.is_some() {
            self.last_accuracy = r.val_accuracy;
        }
        let losses: Vec<String> = r
            .losses
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        let acc = r
            .val_accuracy
            .map_or(String::new(), |a| format!("  accuracy {a:.2}%"));
        let line = format!(
            "epoch {}/{}  {}{acc}  ({:.1} s)",
            r.epoch,
            self.epochs,
            losses.join("  "),
            r.seconds
        );
        self.bar.suspend(|| eprintln!("{line}"));
    }
}

/// Where a run goes: the directory it resumes, or a new one to create;
/// either way with the run's information as this command leaves it.
enum Target {
    Resume(RunDir, RunInfo),
    New(PathBuf, RunInfo),
}

/// Runs a distillation as the flags say; returns the run directory and its
/// per-epoch records.
pub fn distill(a: Args) -> Result<(PathBuf, Vec<EpochRecord>)> {
    // Kept in run.json with an absolute path, so a resume from anywhere finds it.
    let given_val = a.val.clone().map(|v| DataSpec {
        path: std::fs::canonicalize(&v.path).unwrap_or(v.path),
        ..v
    });
    let (target, cfg, teacher, val) = match &a.resume {
        Some(path) => {
            refuse_with_resume(&a)?;
            let dir = RunDir::open(path)?;
            let mut cfg = dir.read_config()?;
            if let Some(e) = a.epochs {
                cfg.epochs = e;
            }
            if let Some(s) = a.save_every {
                cfg.save_every = s;
            }
            cfg.validate()?;
            let info = dir.read_info()?;
            let tpath = a.teacher.clone().unwrap_or(info.teacher.clone());
            let bytes = std::fs::read(&tpath).with_context(|| format!("{}", tpath.display()))?;
            if digest(&bytes) != info.teacher_digest {
                bail!(
                    "{}: not the teacher this run started with (its content differs)",
                    tpath.display()
                );
            }
            let teacher = load_teacher(&a, &tpath)?;
            // The run keeps reporting accuracy on its data unless told otherwise.
            let val = match (given_val, &info.val) {
                (Some(v), _) => Some(v),
                (None, Some(v)) => Some(v.parse().with_context(|| {
                    format!("{}: the run's --val", dir.path.join("run.json").display())
                })?),
                (None, None) => None,
            };
            let info = RunInfo {
                val: val.as_ref().map(|v| v.to_string()),
                ..info
            };
            (Target::Resume(dir, info), cfg, teacher, val)
        }
        None => {
            let Some(tpath) = &a.teacher else {
                bail!("--teacher is required for a new run (or --resume RUN)");
            };
            let teacher = load_teacher(&a, tpath)?;
            let cfg = choice(&a, &teacher)?.resolve()?;
            let out = a.out.clone().unwrap_or_else(|| {
                PathBuf::from(format!("runs/{}-{}-s{}", cfg.method, cfg.preset, cfg.seed))
            });
            let bytes = std::fs::read(tpath).with_context(|| format!("{}", tpath.display()))?;
            let info = RunInfo {
                teacher: std::fs::canonicalize(tpath).unwrap_or(tpath.clone()),
                teacher_digest: digest(&bytes),
                dfkd_version: env!("CARGO_PKG_VERSION").to_string(),
                val: given_val.as_ref().map(|v| v.to_string()),
            };
            (Target::New(out, info), cfg, teacher, given_val)
        }
    };
    // Built, and the held-out data checked, before the run directory is
    // written, so that settings the teacher cannot serve (a student or a
    // teacher layer that does not exist, data of another shape) leave
    // nothing behind: no new directory, no change to a resumed one.
    let mut engine = Engine::new(cfg, teacher.model)?;
    let mut held_out = match &val {
        Some(spec) => {
            let data = Dataset::load(spec, Split::Test)?;
            let t = &engine.teacher.spec;
            if data.kind.num_classes() != t.num_classes {
                bail!(
                    "--val {spec}: {} classes, but the teacher predicts {}",
                    data.kind.num_classes(),
                    t.num_classes
                );
            }
            if data.kind.input_shape()[0] != t.input_shape[0] {
                bail!(
                    "--val {spec}: images have {} channels, the teacher takes {}",
                    data.kind.input_shape()[0],
                    t.input_shape[0]
                );
            }
            Some(HeldOut {
                data,
                norm: teacher.norm.clone(),
            })
        }
        None => None,
    };
    let resumed = matches!(target, Target::Resume(..));
    let (dir, info) = match target {
        Target::Resume(dir, info) => (dir, info),
        Target::New(out, info) => (RunDir::create(&out)?, info),
    };
    dir.write_config(&engine.cfg)?;
    dir.write_info(&info)?;
    let teacher_accuracy = held_out.as_mut().map(|h| h.accuracy(&engine.teacher));
    let cfg = &engine.cfg;
    let student_meta = ModelMeta {
        arch: cfg.student.clone(),
        num_classes: engine.teacher.spec.num_classes,
        input_shape: engine.teacher.spec.input_shape,
        normalization: teacher.norm.clone(),
        dataset: teacher.dataset.clone(),
    };
    let epochs = cfg.epochs;
    let iters = cfg.iters;
    eprintln!(
        "{} {} ({}): {} -> {}, {} epochs x {} iterations, batch {}, seed {}; run directory {}",
        if resumed { "resuming" } else { "distilling" },
        cfg.method,
        cfg.parts(),
        teacher.path.display(),
        cfg.student,
        epochs,
        iters,
        cfg.batch_size,
        cfg.seed,
        dir.path.display()
    );
    if let Some(acc) = teacher_accuracy {
        eprintln!("teacher accuracy {acc:.2}%");
    }
    let wall_clock = runner::restore(&mut engine, &dir)?;
    if engine.epochs_done > 0 {
        eprintln!("{} of {epochs} epochs already done", engine.epochs_done);
    }
    let remaining = (epochs.saturating_sub(engine.epochs_done) * iters) as u64;
    let mut bars = Bars {
        bar: progress::bar(remaining, "distilling".to_string()),
        epochs,
        iters,
        last_accuracy: None,
    };
    let records = runner::run(
        &mut engine,
        &dir,
        RunContext {
            student_meta,
            evaluator: held_out.as_mut().map(|h| h as &mut dyn Evaluator),
            teacher_accuracy,
            observer: &mut bars,
            wall_clock,
        },
    )?;
    bars.bar.finish_and_clear();
    Ok((dir.path, records))
}

pub fn run(a: Args) -> Result<()> {
    if a.dry_run {
        print!("{}", resolved(&a)?.to_toml());
        return Ok(());
    }
    let (dir, records) = distill(a)?;
    let summary = RunDir::open(&dir)?.read_summary()?;
    eprintln!(
        "done: {} epochs in {:.0} s; student {}",
        summary.epochs_done,
        summary.wall_clock_s,
        dir.join("student.safetensors").display()
    );
    if let (Some(best), Some(epoch), Some(mu)) = (
        summary.best_accuracy,
        summary.best_epoch,
        summary.mean_accuracy,
    ) {
        eprintln!("best accuracy {best:.2}% (epoch {epoch}), mean over epochs {mu:.2}%");
    }
    if let Some(acc) = records.last().and_then(|r| r.val_accuracy) {
        println!("accuracy={acc:.2}");
    }
    Ok(())
}

/// The configuration a set of flags resolves to.
fn resolved(a: &Args) -> Result<Config> {
    let Some(tpath) = &a.teacher else {
        bail!("--teacher is required");
    };
    choice(a, &load_teacher(a, tpath)?)?.resolve()
}
