//! `dfkd export RUN`: the shipped student as a file a user deploys without
//! dfkd, TorchScript or ONNX. The conversion runs in PyTorch
//! (`python/export.py`, with the zoo's PyTorch definitions in
//! `python/dfkd_models.py`), since both are made by tracing a PyTorch module.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Both take images in [0, 1], normalise them themselves and return logits.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A TorchScript module (`torch.jit.load`).
    Torchscript,
    /// An ONNX model (input `images`, output `logits`, any batch size).
    Onnx,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Torchscript => "torchscript",
            Format::Onnx => "onnx",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Torchscript => "pt",
            Format::Onnx => "onnx",
        }
    }
}

#[derive(Parser)]
pub struct Args {
    /// A run directory (its student.safetensors) or a dfkd checkpoint.
    #[arg(value_name = "RUN|FILE")]
    source: PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value = "torchscript")]
    format: Format,
    /// Output file [default: the checkpoint's path with extension .pt or .onnx].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The Python with PyTorch that converts [default: $DFKD_PYTHON, else
    /// this repository's .venv, else python3].
    #[arg(long, value_name = "PYTHON")]
    python: Option<PathBuf>,
}

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn python(explicit: Option<PathBuf>) -> PathBuf {
    let venv = Path::new(REPO).join(".venv/bin/python");
    explicit
        .or_else(|| std::env::var_os("DFKD_PYTHON").map(PathBuf::from))
        .unwrap_or(if venv.is_file() {
            venv
        } else {
            PathBuf::from("python3")
        })
}

pub fn run(a: Args) -> Result<()> {
    let checkpoint = if a.source.is_dir() {
        a.source.join("student.safetensors")
    } else {
        a.source.clone()
    };
    if !checkpoint.is_file() {
        bail!("{}: no such checkpoint", checkpoint.display());
    }
    // Read here first, so a bad file gets dfkd's one-line error.
    dfkd::checkpoint::Checkpoint::read(&checkpoint)?
        .model_meta()?
        .with_context(|| {
            format!(
                "{}: not a dfkd checkpoint (no dfkd metadata)",
                checkpoint.display()
            )
        })?;
    let out = a
        .out
        .unwrap_or_else(|| checkpoint.with_extension(a.format.extension()));
    let script = Path::new(REPO).join("python/export.py");
    let python = python(a.python);
    let result = Command::new(&python)
        .arg(&script)
        .arg(a.format.name())
        .arg(&checkpoint)
        .arg(&out)
        .output()
        .with_context(|| format!("{}: cannot run it to export", python.display()))?;
    if !result.status.success() {
        let err = String::from_utf8_lossy(&result.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!(
            "exporting {} with {} failed: {last}",
            checkpoint.display(),
            python.display()
        );
    }
    println!(
        "wrote {} (TorchScript; input: images in [0, 1], output: logits)",
        out.display()
    );
    Ok(())
}
