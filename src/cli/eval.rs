//! `dfkd eval`: top-1 accuracy of a checkpoint.

use anyhow::{bail, Result};
use clap::Parser;
use dfkd::checkpoint::{self, parse_list};
use dfkd::data::{DataSpec, Dataset, DatasetKind, Normalization, Split};
use dfkd::eval;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    /// A safetensors checkpoint (dfkd's, or a PyTorch state dict with
    /// --arch), or a TorchScript classifier.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Evaluation data, KIND:PATH; its test split is used (folder:DIR: every
    /// image of an ImageFolder directory, one folder per class).
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
    let hint = kind.input_shape().unwrap_or([3, 32, 32]);
    let (model, meta) = checkpoint::load_model(&a.model, a.arch.as_deref(), hint)?;
    let file = a.model.display();
    let split = if a.train_split {
        Split::Train
    } else {
        Split::Test
    };
    let data = Dataset::load_for(&a.data, split, model.spec.input_shape)?;
    // "cifar100", or the folder's path.
    let source = match kind {
        DatasetKind::Folder => a.data.path.display().to_string(),
        _ => kind.name().to_string(),
    };
    if model.spec.num_classes != data.num_classes {
        bail!(
            "{file}: the model predicts {} classes, but {source} has {}",
            model.spec.num_classes,
            data.num_classes
        );
    }
    let [c, h, w] = model.spec.input_shape;
    if c != data.channels() {
        bail!(
            "{file}: {} takes {c}x{h}x{w} inputs, but {source} images have {} channels",
            model.spec.arch,
            data.channels()
        );
    }
    let norm = match (a.mean, a.std, &meta, kind.normalization()) {
        (Some(m), Some(s), _, _) => {
            Normalization::new(parse_list(&m, "--mean")?, parse_list(&s, "--std")?)
        }
        (None, None, Some(meta), _) => meta.normalization.clone(),
        (None, None, None, Some(standard)) => {
            eprintln!(
                "note: {file} carries no normalisation; using {}'s standard one (pass --mean and --std to override)",
                kind.name()
            );
            standard
        }
        (None, None, None, None) => {
            bail!(
                "{file} carries no normalisation and {} has no standard one; pass --mean and --std",
                a.data
            )
        }
        _ => bail!("--mean and --std go together"),
    };
    norm.check_channels(c)?;
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
