//! `dfkd train-teacher`: supervised training with the official recipes.

use super::progress;
use anyhow::{Context, Result};
use clap::Parser;
use dfkd::checkpoint::{self, Checkpoint, ModelMeta};
use dfkd::data::{DataSpec, Dataset, Split};
use dfkd::eval;
use dfkd::nn::zoo;
use dfkd::seed;
use dfkd::train::{EpochLog, Observer, Recipe, Trainer};
use indicatif::ProgressBar;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Tensor;

#[derive(Parser)]
pub struct Args {
    /// Architecture (see `dfkd archs`).
    #[arg(long)]
    arch: String,
    /// Training data, KIND:PATH (mnist, fashion-mnist, cifar10, cifar100).
    #[arg(long, value_name = "KIND:PATH")]
    data: DataSpec,
    /// Where to write the checkpoint [default: teacher-ARCH-KIND.safetensors].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Epochs [default: the recipe's; its learning-rate drops move with
    /// them, at the same fractions of the training].
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs (0-based) at which the learning rate drops tenfold, comma
    /// separated, or "none" [default: the recipe's, scaled to --epochs].
    #[arg(long, value_name = "E1,E2,..", value_parser = parse_milestones)]
    milestones: Option<Milestones>,
    /// Batch size [default: the recipe's].
    #[arg(long)]
    batch_size: Option<i64>,
    /// Initial learning rate [default: the recipe's].
    #[arg(long)]
    lr: Option<f64>,
    /// Random crop (4-pixel zero padding) and horizontal flip of every
    /// training image [default: the recipe's: on for CIFAR, off otherwise].
    #[arg(long, value_name = "BOOL")]
    augment: Option<bool>,
    /// Seed for initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on a random subset of this many images (quick experiments).
    #[arg(long, value_name = "N")]
    limit: Option<i64>,
    /// Continue the unfinished training of this command (same settings and
    /// --milestones; --epochs may be raised) from its last finished epoch.
    #[arg(long)]
    resume: bool,
}

/// The learning-rate drops of a training, as `--milestones` reads them.
#[derive(Clone, Debug)]
struct Milestones(Vec<usize>);

fn parse_milestones(s: &str) -> Result<Milestones, String> {
    if s == "none" {
        return Ok(Milestones(vec![]));
    }
    checkpoint::parse_list(s, "--milestones")
        .map(Milestones)
        .map_err(|_| format!("'{s}' is not a comma-separated list of epochs (or \"none\")"))
}

/// `epochs` as `--milestones` takes them.
fn milestones_text(epochs: &[usize]) -> String {
    if epochs.is_empty() {
        return "none".to_string();
    }
    let epochs: Vec<String> = epochs.iter().map(usize::to_string).collect();
    epochs.join(",")
}

/// After every epoch the training is saved beside the output, as OUT.resume,
/// so a killed training loses at most the epoch in progress; the file goes
/// once the teacher is written.
fn resume_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".resume");
    PathBuf::from(name)
}

/// The settings a resumed training must share with the one it continues, as
/// (option, value) pairs.
fn settings(a: &Args, recipe: &Recipe) -> Vec<(&'static str, String)> {
    vec![
        ("--arch", a.arch.clone()),
        ("--data", a.data.to_string()),
        ("--batch-size", recipe.batch_size.to_string()),
        ("--lr", recipe.optim.lr().to_string()),
        ("--augment", recipe.augment.to_string()),
        ("--milestones", milestones_text(&recipe.milestones)),
        ("--seed", a.seed.to_string()),
        ("--limit", a.limit.map_or("none".into(), |n| n.to_string())),
    ]
}

const EPOCHS_DONE: &str = "epochs_done";

fn save_state(path: &Path, trainer: &Trainer, settings: &[(&str, String)]) -> Result<()> {
    let mut meta: HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    meta.insert(EPOCHS_DONE.into(), trainer.epochs_done.to_string());
    checkpoint::write_atomic(path, &checkpoint::to_safetensors(&trainer.state(), meta)?)
}

/// Restores the training saved at `path` into `trainer`, after checking that
/// it was made with `settings` and with no more epochs than this one runs.
fn restore(path: &Path, trainer: &mut Trainer, settings: &[(&str, String)]) -> Result<()> {
    let file = path.display();
    let ck = Checkpoint::read(path)?;
    for (option, value) in settings {
        let saved = ck.metadata.get(*option).map_or("(none)", String::as_str);
        anyhow::ensure!(
            saved == value,
            "{file}: the unfinished training has {option} {saved}, this command {value}; \
             repeat its settings to resume it, or delete the file to start over"
        );
    }
    let done: usize = ck.metadata_value(EPOCHS_DONE)?;
    anyhow::ensure!(
        done <= trainer.recipe.epochs,
        "{file}: {done} epochs are done already, more than --epochs {}",
        trainer.recipe.epochs
    );
    trainer
        .restore(&ck.tensors, done)
        .with_context(|| format!("{file}"))
}

/// Draws the progress of the whole training (its time left included) and
/// saves the resume state after every epoch.
struct Progress {
    /// The bar, and the epoch (0-based) this session started at.
    bar: Option<(ProgressBar, usize)>,
    /// When the message last read a loss (a read waits for the device).
    last_read: Option<Instant>,
    epochs: usize,
    state_path: PathBuf,
    settings: Vec<(&'static str, String)>,
}

impl Observer for Progress {
    fn batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: &Tensor) {
        let epochs = self.epochs;
        let (bar, first) = self.bar.get_or_insert_with(|| {
            let remaining = (epochs - epoch) * batches;
            (progress::bar(remaining as u64, "training".into()), epoch)
        });
        bar.set_position(((epoch - *first) * batches + batch + 1) as u64);
        if self
            .last_read
            .is_some_and(|t| t.elapsed() < progress::MESSAGE_EVERY)
        {
            return;
        }
        self.last_read = Some(Instant::now());
        let loss = loss.double_value(&[]);
        bar.set_message(format!("epoch {}/{epochs} loss {loss:.4}", epoch + 1));
    }

    fn epoch(&mut self, log: &EpochLog, trainer: &Trainer) -> Result<()> {
        save_state(&self.state_path, trainer, &self.settings)?;
        let acc = log
            .test_accuracy
            .map_or(String::new(), |a| format!("  test accuracy {a:.2}%"));
        let line = format!(
            "epoch {}/{}  loss {:.4}{acc}  ({:.1} s)",
            log.epoch + 1,
            self.epochs,
            log.loss,
            log.seconds
        );
        match &self.bar {
            Some((bar, _)) if log.epoch + 1 < self.epochs => bar.suspend(|| eprintln!("{line}")),
            Some((bar, _)) => {
                bar.finish_and_clear();
                eprintln!("{line}");
            }
            None => eprintln!("{line}"),
        }
        Ok(())
    }
}

pub fn run(a: Args) -> Result<()> {
    let kind = a.data.kind;
    let (Some(classes), Some(shape), Some(norm)) =
        (kind.num_classes(), kind.input_shape(), kind.normalization())
    else {
        anyhow::bail!(
            "--data {}: train-teacher takes mnist, fashion-mnist, cifar10 or cifar100 (a folder of images only measures a model)",
            a.data
        );
    };
    let arch = zoo::arch(&a.arch)?;
    let mut recipe = Recipe::official(arch.name, kind);
    if let Some(e) = a.epochs {
        recipe = recipe.with_epochs(e);
    }
    if let Some(Milestones(m)) = &a.milestones {
        recipe.milestones = m.clone();
    }
    if let Some(b) = a.batch_size {
        anyhow::ensure!(b > 0, "--batch-size must be positive");
        recipe.batch_size = b;
    }
    if let Some(lr) = a.lr {
        recipe.optim = recipe.optim.with_lr(lr);
    }
    if let Some(augment) = a.augment {
        recipe.augment = augment;
    }
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("teacher-{}-{}.safetensors", arch.name, kind.name()))
    });
    let state_path = resume_path(&out);
    match (a.resume, state_path.exists()) {
        (true, false) => anyhow::bail!(
            "--resume: no unfinished training to continue ({} does not exist)",
            state_path.display()
        ),
        (false, true) => anyhow::bail!(
            "{} holds an unfinished training of {}; continue it with --resume, or delete it to start over",
            state_path.display(),
            out.display()
        ),
        _ => {}
    }
    let mut train_set = Dataset::load(&a.data, Split::Train)?;
    let test_set = Dataset::load(&a.data, Split::Test)?;
    if let Some(n) = a.limit {
        anyhow::ensure!(n > 0, "--limit must be positive");
        seed::seed_init(a.seed);
        let keep = Tensor::randperm(train_set.len(), dfkd::device::host_int64()).narrow(
            0,
            0,
            n.min(train_set.len()),
        );
        train_set.images = train_set.images.index_select(0, &keep);
        train_set.labels = train_set.labels.index_select(0, &keep);
    }
    seed::seed_init(a.seed);
    let model = zoo::build(arch.name, classes, shape)?;
    let settings = settings(&a, &recipe);
    let mut trainer = Trainer::new(&model, recipe, a.seed);
    if a.resume {
        restore(&state_path, &mut trainer, &settings)?;
    }
    let recipe = &trainer.recipe;
    if trainer.epochs_done > 0 {
        eprintln!(
            "resuming: {} of {} epochs already done",
            trainer.epochs_done, recipe.epochs
        );
    }
    eprintln!(
        "training {} on {} ({} images, {} epochs, batch {}, {:?}, lr x0.1 at epochs {}, {}; recipe: {})",
        arch.name,
        a.data,
        train_set.len(),
        recipe.epochs,
        recipe.batch_size,
        recipe.optim,
        milestones_text(&recipe.milestones),
        if recipe.augment {
            "crop + flip"
        } else {
            "no augmentation"
        },
        recipe.source
    );
    let mut progress = Progress {
        bar: None,
        last_read: None,
        epochs: recipe.epochs,
        state_path: state_path.clone(),
        settings,
    };
    let logs = trainer.run(&train_set, Some(&test_set), &norm, &mut progress)?;
    let meta = ModelMeta {
        arch: arch.name.to_string(),
        num_classes: classes,
        input_shape: shape,
        normalization: norm.clone(),
        dataset: Some(kind.name().to_string()),
    };
    checkpoint::save_model(&out, &model, &meta).context("saving the teacher")?;
    match std::fs::remove_file(&state_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            anyhow::bail!("{}: cannot remove: {e}", state_path.display())
        }
        _ => {}
    }
    // A training killed after its last epoch was saved runs no epoch here.
    let acc = match logs.last().and_then(|l| l.test_accuracy) {
        Some(acc) => acc,
        None => eval::accuracy(&model, &test_set, &norm, 1000),
    };
    eprintln!("wrote {}", out.display());
    println!("accuracy={acc:.2}");
    Ok(())
}
