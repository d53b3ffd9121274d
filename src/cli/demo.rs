//! `dfkd demo`: the README's main job. Distils LeNet-5 from the bundled
//! Fashion-MNIST LeNet-5-BN teacher with no data, ships the epoch the
//! data-free selection chose, then reports teacher and student accuracy on
//! the Fashion-MNIST test set (which the run uses for nothing else).

use super::distill::Bars;
use anyhow::Result;
use clap::Parser;
use dfkd::data::{DataSpec, DatasetKind};
use dfkd::distill::average::epoch_list;
use dfkd::distill::runner::{self, Options, Start, TeacherFile};
use dfkd::distill::Choice;
use std::path::PathBuf;
use std::time::Instant;

/// The method and budget that gave the best student within the demo's
/// time budget on a 2-core CPU (bench/RESULTS.md).
const METHOD: &str = "cmi";
const PRESET: &str = "fashion-mnist-demo";

#[derive(Parser)]
pub struct Args {
    /// The teacher to start from.
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/teachers/lenet5-bn-fashion-mnist.safetensors"))]
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
    let s = &outcome.summary;
    let dir = outcome.dir.display();
    let pct = |a: Option<f64>| a.map_or("n/a".to_string(), |a| format!("{a:.2} %"));
    println!("wall-clock: {:.0} s", start.elapsed().as_secs_f64());
    println!("teacher accuracy: {}", pct(s.teacher_accuracy));
    let which = if s.averaged_epochs.is_empty() {
        format!("epoch {}", s.chosen_epoch)
    } else {
        format!("the average of epochs {}", epoch_list(&s.averaged_epochs))
    };
    println!(
        "shipped student ({which}, chosen by {} without real data): {}",
        s.chosen_by,
        pct(s.chosen_accuracy)
    );
    println!(
        "for honesty: best epoch {} {}, last epoch {} {}",
        s.best_epoch.map_or("-".to_string(), |e| e.to_string()),
        pct(s.best_accuracy),
        s.epochs_done,
        pct(s.final_accuracy)
    );
    println!("student: {dir}/student.safetensors");
    println!("accuracy per epoch: {dir}/accuracy.png; synthetic samples: {dir}/samples.png");
    println!("accuracy={:.2}", s.chosen_accuracy.unwrap_or(f64::NAN));
    Ok(())
}
