//! `dfkd train-teacher`: supervised training with the official recipes.

use super::progress;
use anyhow::{Context, Result};
use clap::Parser;
use dfkd::checkpoint::{self, ModelMeta};
use dfkd::data::{DataSpec, Dataset, Split};
use dfkd::nn::zoo;
use dfkd::seed;
use dfkd::train::{self, EpochLog, Observer, Recipe};
use indicatif::ProgressBar;
use std::path::PathBuf;
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
    /// Epochs [default: the recipe's].
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size [default: the recipe's].
    #[arg(long)]
    batch_size: Option<i64>,
    /// Initial learning rate [default: the recipe's].
    #[arg(long)]
    lr: Option<f64>,
    /// Seed for initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on a random subset of this many images (quick experiments).
    #[arg(long, value_name = "N")]
    limit: Option<i64>,
}

struct Bars {
    bar: Option<ProgressBar>,
    epochs: usize,
}

impl Observer for Bars {
    fn batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f64) {
        let bar = self.bar.get_or_insert_with(|| {
            progress::bar(
                batches as u64,
                format!("epoch {}/{}", epoch + 1, self.epochs),
            )
        });
        bar.set_position(batch as u64 + 1);
        bar.set_message(format!("loss {loss:.4}"));
    }

    fn epoch(&mut self, log: &EpochLog) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let acc = log
            .test_accuracy
            .map_or(String::new(), |a| format!("  test accuracy {a:.2}%"));
        eprintln!(
            "epoch {}/{}  loss {:.4}{acc}  ({:.1} s)",
            log.epoch + 1,
            self.epochs,
            log.loss,
            log.seconds
        );
    }
}

pub fn run(a: Args) -> Result<()> {
    let kind = a.data.kind;
    let arch = zoo::arch(&a.arch)?;
    let mut recipe = Recipe::official(arch.name, kind);
    if let Some(e) = a.epochs {
        recipe.epochs = e;
    }
    if let Some(b) = a.batch_size {
        anyhow::ensure!(b > 0, "--batch-size must be positive");
        recipe.batch_size = b;
    }
    if let Some(lr) = a.lr {
        recipe.optim = recipe.optim.with_lr(lr);
    }
    let mut train_set = Dataset::load(&a.data, Split::Train)?;
    let test_set = Dataset::load(&a.data, Split::Test)?;
    if let Some(n) = a.limit {
        anyhow::ensure!(n > 0, "--limit must be positive");
        seed::seed_init(a.seed);
        let keep = Tensor::randperm(train_set.len(), tch::kind::INT64_CPU).narrow(
            0,
            0,
            n.min(train_set.len()),
        );
        train_set.images = train_set.images.index_select(0, &keep);
        train_set.labels = train_set.labels.index_select(0, &keep);
    }
    seed::seed_init(a.seed);
    let model = zoo::build(arch.name, kind.num_classes(), kind.input_shape())?;
    let norm = kind.normalization();
    let out = a.out.unwrap_or_else(|| {
        PathBuf::from(format!("teacher-{}-{}.safetensors", arch.name, kind.name()))
    });
    eprintln!(
        "training {} on {} ({} images, {} epochs, batch {}, {:?}; recipe: {})",
        arch.name,
        a.data,
        train_set.len(),
        recipe.epochs,
        recipe.batch_size,
        recipe.optim,
        recipe.source
    );
    let mut bars = Bars {
        bar: None,
        epochs: recipe.epochs,
    };
    let logs = train::train_classifier(
        &model,
        &train_set,
        Some(&test_set),
        &norm,
        &recipe,
        a.seed,
        &mut bars,
    );
    let meta = ModelMeta {
        arch: arch.name.to_string(),
        num_classes: kind.num_classes(),
        input_shape: kind.input_shape(),
        normalization: norm,
        dataset: Some(kind.name().to_string()),
    };
    checkpoint::save_model(&out, &model, &meta).context("saving the teacher")?;
    let acc = logs
        .last()
        .and_then(|l| l.test_accuracy)
        .unwrap_or(f64::NAN);
    eprintln!("wrote {}", out.display());
    println!("accuracy={acc:.2}");
    Ok(())
}
