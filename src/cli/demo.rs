//! `dfkd demo`: the README's main job.

use anyhow::Result;
use clap::Parser;
use dfkd::checkpoint;
use dfkd::data::{DataSpec, Dataset, DatasetKind, Split};
use dfkd::eval;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    /// The teacher to start from.
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/teachers/lenet5-fashion-mnist.safetensors"))]
    teacher: PathBuf,
    /// Fashion-MNIST, for measuring accuracy only.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/usr/share/datasets/fashion-mnist"
    )]
    fashion_mnist: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let (teacher, meta) =
        checkpoint::load_model(&a.teacher, None, DatasetKind::FashionMnist.input_shape())?;
    let norm = meta
        .map(|m| m.normalization)
        .unwrap_or_else(|| DatasetKind::FashionMnist.normalization());
    let spec = DataSpec {
        kind: DatasetKind::FashionMnist,
        path: a.fashion_mnist,
    };
    let test = Dataset::load(&spec, Split::Test)?;
    let acc = eval::accuracy(&teacher, &test, &norm, 1000);
    println!("teacher accuracy={acc:.2}");
    Ok(())
}
