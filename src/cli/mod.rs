//! Subcommands, one module each.

mod archs;
mod demo;
mod distill;
mod eval;
mod export;
mod inspect;
mod progress;
mod report;
mod train_teacher;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dfkd",
    version,
    about = "Data-free knowledge distillation: train a small student from a teacher, with no data",
    long_about = "Data-free knowledge distillation: train a small student that behaves like a \
                  trained teacher, using only synthetic inputs produced from the teacher itself.\n\n\
                  Real data (KIND:PATH, e.g. mnist:DIR) is only used to train teachers and to \
                  measure accuracy."
)]
pub struct Cli {
    /// Number of CPU threads libtorch may use (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<i32>,
    /// Where models run: auto (the first GPU libtorch sees, else the CPU),
    /// cpu, cuda or cuda:N.
    #[arg(
        long,
        global = true,
        value_name = "DEVICE",
        default_value = "auto",
        env = "DFKD_DEVICE"
    )]
    device: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a teacher classifier on real data with the official recipe.
    TrainTeacher(train_teacher::Args),
    /// Distil a student from a teacher with no data.
    Distill(Box<distill::Args>),
    /// Table (mean, variance over epochs, peak) and curves of distillation runs.
    Report(report::Args),
    /// Top-1 accuracy of a checkpoint on a dataset's test split.
    Eval(eval::Args),
    /// The main job: distil the bundled Fashion-MNIST teacher, with no data.
    Demo(demo::Args),
    /// Write a student as a file to deploy without dfkd (TorchScript, ONNX).
    Export(export::Args),
    /// What a model file holds: architecture, classes, input, normalisation, taps.
    Inspect(inspect::Args),
    /// List the architectures of the model zoo.
    Archs,
}

pub fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        tch::set_num_threads(n);
    }
    dfkd::device::select(&cli.device)?;
    match cli.command {
        Command::TrainTeacher(a) => train_teacher::run(a),
        Command::Distill(a) => distill::run(*a),
        Command::Report(a) => report::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Export(a) => export::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Archs => archs::run(),
    }
}
