//! `dfkd demo`: the README's main job. Distils LeNet-5-half from the bundled
//! Fashion-MNIST LeNet-5 teacher with no data, then reports teacher and
//! student accuracy on the Fashion-MNIST test set.

use super::distill;
use anyhow::Result;
use clap::Parser;
use dfkd::data::{DataSpec, DatasetKind};
use dfkd::distill::run_dir::RunDir;
use std::path::PathBuf;
use std::time::Instant;

/// The method and budget that gave the best student within the demo's
/// time budget on a 2-core CPU (bench/RESULTS.md).
const METHOD: &str = "dafl";
const PRESET: &str = "fashion-mnist-demo";

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
    /// The demo's run directory (replaced on every demo).
    #[arg(long, value_name = "RUN", default_value = "runs/demo")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    if a.out.join("config.toml").exists() {
        std::fs::remove_dir_all(&a.out)?;
    }
    eprintln!("demo: {METHOD} ({PRESET} preset), no data; Fashion-MNIST only measures accuracy");
    let start = Instant::now();
    let (dir, records) = distill::distill(distill::Args {
        teacher: Some(a.teacher),
        method: Some(METHOD.to_string()),
        preset: Some(PRESET.to_string()),
        val: Some(DataSpec {
            kind: DatasetKind::FashionMnist,
            path: a.fashion_mnist,
        }),
        out: Some(a.out),
        teacher_input: "1,32,32".to_string(),
        ..Default::default()
    })?;
    let summary = RunDir::open(&dir)?.read_summary()?;
    let student = records
        .last()
        .and_then(|r| r.val_accuracy)
        .unwrap_or(f64::NAN);
    println!(
        "run directory: {} (student.safetensors, accuracy.png, samples.png)",
        dir.display()
    );
    println!("wall-clock: {:.0} s", start.elapsed().as_secs_f64());
    println!(
        "teacher accuracy={:.2}",
        summary.teacher_accuracy.unwrap_or(f64::NAN)
    );
    println!("student accuracy={student:.2}");
    Ok(())
}
