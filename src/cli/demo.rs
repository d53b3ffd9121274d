//! `dfkd demo`: the README's main job. Distils LeNet-5-half from the bundled
//! Fashion-MNIST LeNet-5 teacher with no data, then reports teacher and
//! student accuracy on the Fashion-MNIST test set.

use super::distill::Bars;
use anyhow::Result;
use clap::Parser;
use dfkd::data::{DataSpec, DatasetKind};
use dfkd::distill::runner::{self, Options, Start, TeacherFile};
use dfkd::distill::Choice;
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
    let options = Options {
        start: Start::New {
            teacher: TeacherFile {
                path: a.teacher,
                ..Default::default()
            },
            choice: Box::new(Choice {
                method: METHOD.to_string(),
                preset: PRESET.to_string(),
                ..Default::default()
            }),
            out: Some(a.out),
        },
        val: Some(DataSpec {
            kind: DatasetKind::FashionMnist,
            path: a.fashion_mnist,
        }),
    };
    let mut bars = Bars::new();
    let outcome = runner::distill(&options, &mut bars);
    bars.finish();
    let outcome = outcome?;
    let student = outcome
        .records
        .last()
        .and_then(|r| r.val_accuracy)
        .unwrap_or(f64::NAN);
    println!(
        "run directory: {} (student.safetensors, accuracy.png, samples.png)",
        outcome.dir.display()
    );
    println!("wall-clock: {:.0} s", start.elapsed().as_secs_f64());
    println!(
        "teacher accuracy={:.2}",
        outcome.summary.teacher_accuracy.unwrap_or(f64::NAN)
    );
    println!("student accuracy={student:.2}");
    Ok(())
}
