//! `dfkd distill`: train a student from a teacher with no data. Fills
//! [`runner::Options`] from the flags and calls [`runner::distill`].

use super::progress;
use anyhow::{bail, Context, Result};
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::Parser;
use dfkd::checkpoint::parse_list;
use dfkd::data::{DataSpec, Normalization};
use dfkd::distill::config::{self, Overrides};
use dfkd::distill::engine::EpochRecord;
use dfkd::distill::parts::{self, Part};
use dfkd::distill::runner::{self, Observer, Options, Start, Started, TeacherFile};
use dfkd::distill::select::Select;
use dfkd::distill::{Choice, Losses};
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::time::Instant;

/// The registered parts as clap's possible values, each with its help.
fn names<T>(table: &'static [Part<T>]) -> PossibleValuesParser {
    PossibleValuesParser::new(
        table
            .iter()
            .map(|p| PossibleValue::new(p.name).help(p.about)),
    )
}

fn synthesizers() -> PossibleValuesParser {
    names(parts::SYNTHESIZERS)
}

fn replays() -> PossibleValuesParser {
    names(parts::REPLAYS)
}

fn updates() -> PossibleValuesParser {
    names(parts::UPDATES)
}

/// The methods of the built-in presets, each with its parts.
fn methods() -> PossibleValuesParser {
    PossibleValuesParser::new(config::methods().into_iter().map(|m| {
        let parts = config::method_parts(m).unwrap_or_default();
        PossibleValue::new(m).help(parts)
    }))
}

#[derive(Parser)]
pub struct Args {
    /// Teacher: a dfkd checkpoint, a PyTorch state dict with --teacher-arch,
    /// or TorchScript (python/dfkd_teacher.py saves any architecture).
    #[arg(long, value_name = "FILE")]
    pub teacher: Option<PathBuf>,
    /// Teacher architecture, for files without dfkd metadata.
    #[arg(long, value_name = "ARCH")]
    pub teacher_arch: Option<String>,
    /// Teacher input shape, for files without dfkd metadata [default: 3,32,32].
    #[arg(long, value_name = "C,H,W")]
    pub teacher_input: Option<String>,
    /// Teacher input normalisation, for files without dfkd metadata.
    #[arg(long, value_name = "M1,M2,M3")]
    pub teacher_mean: Option<String>,
    #[arg(long, value_name = "S1,S2,S3")]
    pub teacher_std: Option<String>,
    /// Student architecture [default: the preset's].
    #[arg(long, value_name = "ARCH")]
    pub student: Option<String>,
    /// Published method to follow (its parts and settings).
    #[arg(long, value_name = "M", value_parser = methods())]
    pub method: Option<String>,
    /// Settings of the method: mnist, cifar10, cifar100 (official), mnist-cpu,
    /// cifar10-cpu, fashion-mnist-demo (small CPU budgets) [default: the
    /// teacher's dataset].
    #[arg(long, value_name = "P")]
    pub preset: Option<String>,
    /// Synthesizer, replacing the method's (with the settings of its own
    /// method's preset).
    #[arg(long, value_name = "S", value_parser = synthesizers())]
    pub synth: Option<String>,
    /// Replay, replacing the method's.
    #[arg(long, value_name = "R", value_parser = replays())]
    pub replay: Option<String>,
    /// Student update, replacing the method's.
    #[arg(long, value_name = "U", value_parser = updates())]
    pub update: Option<String>,
    /// A TOML file of settings merged over the preset (see configs/).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one setting, e.g. --set synth.optim.lr=0.1 (repeatable; with
    /// --resume, from the next epoch on).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Epochs (a new run's preset step schedules drop at the same fractions
    /// of it; --set epochs=N keeps their milestones).
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
    /// The student to ship as student.safetensors: the last epoch's, or the
    /// latest whose teacher-student agreement (or its Cohen's kappa) on
    /// synthetic probes taken through the run is within the probe's noise
    /// of the highest (no real data) [default: agreement].
    #[arg(long, value_enum)]
    pub select: Option<Select>,
    /// Ship the average of the chosen student and up to K-1 kept students
    /// before it, when it agrees with the teacher on the probe at least as
    /// the chosen one does (1: the chosen student alone) [default: 5]
    #[arg(long, value_name = "K")]
    pub average: Option<usize>,
    /// Real data to report the student's accuracy on after each epoch (its
    /// test split). Never used for training.
    #[arg(long, value_name = "KIND:PATH")]
    pub val: Option<DataSpec>,
    /// Run directory [default: runs/METHOD-PRESET-sSEED].
    #[arg(long, value_name = "RUN")]
    pub out: Option<PathBuf>,
    /// Continue the run in RUN where it stopped (--epochs may extend it; a
    /// cosine schedule without its own horizon then anneals over the new
    /// number of epochs).
    #[arg(long, value_name = "RUN", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Print the resolved configuration (TOML) and exit.
    #[arg(long)]
    pub dry_run: bool,
}

fn teacher_file(a: &Args, path: PathBuf) -> Result<TeacherFile> {
    let input = match &a.teacher_input {
        Some(s) => {
            let shape: Vec<i64> = parse_list(s, "--teacher-input")?;
            let Ok(shape) = <[i64; 3]>::try_from(shape) else {
                bail!("--teacher-input takes three numbers, C,H,W");
            };
            Some(shape)
        }
        None => None,
    };
    let norm = match (&a.teacher_mean, &a.teacher_std) {
        (Some(m), Some(s)) => Some(Normalization::new(
            parse_list(m, "--teacher-mean")?,
            parse_list(s, "--teacher-std")?,
        )),
        (None, None) => None,
        _ => bail!("--teacher-mean and --teacher-std go together"),
    };
    Ok(TeacherFile {
        path,
        arch: a.teacher_arch.clone(),
        input,
        norm,
    })
}

fn choice(a: &Args) -> Result<Choice> {
    let Some(method) = a.method.clone() else {
        bail!(
            "--method is required for a new run ({})",
            config::methods().join(", ")
        );
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
    Ok(Choice {
        method,
        preset: a.preset.clone().unwrap_or_default(),
        synth: a.synth.clone(),
        replay: a.replay.clone(),
        update: a.update.clone(),
        file,
        sets: a.sets.clone(),
        overrides: Overrides {
            student: a.student.clone(),
            epochs: a.epochs,
            iters: a.iters,
            batch_size: a.batch_size,
            seed: a.seed,
            save_every: a.save_every,
            select: a.select,
            average: a.average,
        },
    })
}

/// Flags that describe a new run, refused with --resume.
fn refuse_with_resume(a: &Args) -> Result<()> {
    let set = [
        ("--teacher-arch", a.teacher_arch.is_some()),
        ("--teacher-input", a.teacher_input.is_some()),
        ("--teacher-mean", a.teacher_mean.is_some()),
        ("--teacher-std", a.teacher_std.is_some()),
        ("--student", a.student.is_some()),
        ("--method", a.method.is_some()),
        ("--preset", a.preset.is_some()),
        ("--synth", a.synth.is_some()),
        ("--replay", a.replay.is_some()),
        ("--update", a.update.is_some()),
        ("--config", a.config.is_some()),
        ("--iters", a.iters.is_some()),
        ("--batch-size", a.batch_size.is_some()),
        ("--seed", a.seed.is_some()),
    ];
    if let Some((flag, _)) = set.iter().find(|(_, s)| *s) {
        bail!("{flag} cannot change an existing run; --resume takes only --epochs, --set, --val, --save-every, --select, --average and --teacher (if the file moved)");
    }
    Ok(())
}

/// The library's options for these flags.
fn options(a: &Args) -> Result<Options> {
    let start = match &a.resume {
        Some(dir) => {
            refuse_with_resume(a)?;
            Start::Resume {
                dir: dir.clone(),
                teacher: a.teacher.clone(),
                epochs: a.epochs,
                save_every: a.save_every,
                select: a.select,
                average: a.average,
                sets: a.sets.clone(),
            }
        }
        None => {
            let Some(path) = &a.teacher else {
                bail!("--teacher is required for a new run (or --resume RUN)");
            };
            Start::New {
                teacher: teacher_file(a, path.clone())?,
                choice: Box::new(choice(a)?),
                out: a.out.clone(),
            }
        }
    };
    Ok(Options {
        start,
        val: a.val.clone(),
    })
}

/// The banner, a line per epoch, and a progress bar.
pub struct Bars {
    bar: Option<ProgressBar>,
    epochs: usize,
    iters: usize,
    last_accuracy: Option<f64>,
    /// When the losses were last read for the message: reading one waits for
    /// the device, so it happens a few times a second, not every iteration.
    last_read: Option<Instant>,
}

impl Bars {
    pub fn new() -> Self {
        Self {
            bar: None,
            epochs: 0,
            iters: 0,
            last_accuracy: None,
            last_read: None,
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn print(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl Observer for Bars {
    fn started(&mut self, r: &Started) {
        let cfg = r.cfg;
        eprintln!(
            "{} {} ({}): {} -> {}, {} epochs x {} iterations, batch {}, seed {}; run directory {}",
            if r.resumed { "resuming" } else { "distilling" },
            cfg.method,
            cfg.parts(),
            r.teacher.display(),
            cfg.student,
            cfg.epochs,
            cfg.iters,
            cfg.batch_size,
            cfg.seed,
            r.dir.display()
        );
        if let Some(acc) = r.teacher_accuracy {
            eprintln!("teacher accuracy {acc:.2}%");
        }
        if r.epochs_done > 0 {
            eprintln!("{} of {} epochs already done", r.epochs_done, cfg.epochs);
        }
        self.epochs = cfg.epochs;
        self.iters = cfg.iters;
        let remaining = (cfg.epochs.saturating_sub(r.epochs_done) * cfg.iters) as u64;
        self.bar = Some(progress::bar(remaining, "distilling".to_string()));
    }

    fn iteration(&mut self, epoch: usize, i: usize, losses: &Losses) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        if self
            .last_read
            .is_some_and(|t| t.elapsed() < progress::MESSAGE_EVERY)
        {
            return;
        }
        self.last_read = Some(Instant::now());
        let kd = losses
            .last_mean("kd")
            .map_or(String::new(), |v| format!(" kd {v:.4}"));
        let g = losses
            .last_mean("generator")
            .or_else(|| losses.last_mean("synth"))
            .map_or(String::new(), |v| format!(" synth {v:.4}"));
        let acc = self
            .last_accuracy
            .map_or(String::new(), |a| format!(" acc {a:.2}%"));
        bar.set_message(format!(
            "epoch {epoch}/{} it {}/{}{kd}{g}{acc}",
            self.epochs,
            i + 1,
            self.iters
        ));
    }

    fn note(&mut self, line: &str) {
        self.print(&format!("note: {line}"));
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
        self.print(&format!(
            "epoch {}/{}  {}{acc}  ({:.1} s)",
            r.epoch,
            self.epochs,
            losses.join("  "),
            r.seconds
        ));
    }
}

pub fn run(a: Args) -> Result<()> {
    if a.dry_run {
        let Some(path) = &a.teacher else {
            bail!("--teacher is required");
        };
        let cfg = runner::resolve(&teacher_file(&a, path.clone())?, &choice(&a)?)?;
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let mut bars = Bars::new();
    let outcome = runner::distill(&options(&a)?, &mut bars);
    bars.finish();
    let outcome = outcome?;
    let s = &outcome.summary;
    eprintln!(
        "done: {} epochs in {:.0} s; student {} (epoch {}: {})",
        s.epochs_done,
        s.wall_clock_s,
        outcome.dir.join("student.safetensors").display(),
        s.chosen_epoch,
        s.chosen_because
    );
    if let (Some(best), Some(epoch), Some(mu), Some(last)) = (
        s.best_accuracy,
        s.best_epoch,
        s.mean_accuracy,
        s.final_accuracy,
    ) {
        eprintln!(
            "accuracy on the held-out data: best {best:.2}% (epoch {epoch}), last {last:.2}%, mean over epochs {mu:.2}%"
        );
    }
    // The shipped student's accuracy, last, for scripts.
    if let Some(acc) = s.chosen_accuracy {
        println!("accuracy={acc:.2}");
    }
    Ok(())
}
