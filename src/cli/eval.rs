//! `dfkd eval`: top-1 accuracy of a checkpoint.

use anyhow::{bail, Result};
use clap::Parser;
use dfkd::checkpoint::{self, parse_list};
use dfkd::data::{DataSpec, Dataset, Normalization, Split};
use dfkd::eval;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    /// A safetensors checkpoint (dfkd's, or a PyTorch state dict with --arch).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Evaluation data, KIND:PATH; its test split is used.
    #[arg(long, value_name = "KIND:PATH")]
    data: DataSpec,
    /// Architecture, for files without dfkd metadata (see `dfkd archs`).
    #[arg(long)]
    arch: Option<String>,
    /// Per-channel input mean, e.g. 0.485,0.456,0.406 (overrides the metadata).
    #[arg(long, value_name = "M1,M2,M3")]
    mean: Option<String>,
    /// Per-channel input standard deviation (overrides the metadata).
    #[arg(long, value_name = "S1,S2,S3")]
    std: Option<String>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 500)]
    batch_size: i64,
    /// Evaluate on the training split instead of the test split.
    #[arg(long)]
    train_split: bool,
}

pub fn run(a: Args) -> Result<()> {
    anyhow::ensure!(a.batch_size > 0, "--batch-size must be positive");
    let kind = a.data.kind;
    let (model, meta) = checkpoint::load_model(&a.model, a.arch.as_deref(), kind.input_shape())?;
    let file = a.model.display();
    if model.spec.num_classes != kind.num_classes() {
        bail!(
            "{file}: the model predicts {} classes, but {} has {}",
            model.spec.num_classes,
            kind.name(),
            kind.num_classes()
        );
    }
    let [c, h, w] = model.spec.input_shape;
    let [dc, _, _] = kind.input_shape();
    if c != dc {
        bail!(
            "{file}: {} takes {c}x{h}x{w} inputs, but {} images have {dc} channels",
            model.spec.arch,
            kind.name()
        );
    }
    let norm = match (a.mean, a.std, &meta) {
        (Some(m), Some(s), _) => {
            Normalization::new(parse_list(&m, "--mean")?, parse_list(&s, "--std")?)
        }
        (None, None, Some(meta)) => meta.normalization.clone(),
        (None, None, None) => {
            eprintln!(
                "note: {file} carries no normalisation; using {}'s standard one (pass --mean and --std to override)",
                kind.name()
            );
            kind.normalization()
        }
        _ => bail!("--mean and --std go together"),
    };
    norm.check_channels(c)?;
    let split = if a.train_split {
        Split::Train
    } else {
        Split::Test
    };
    let data = Dataset::load(&a.data, split)?;
    eprintln!(
        "{} ({} classes) from {file} on {} ({} images)",
        model.spec.arch,
        model.spec.num_classes,
        a.data,
        data.len()
    );
    let acc = eval::accuracy(&model, &data, &norm, a.batch_size);
    println!("accuracy={acc:.2}");
    Ok(())
}
