//! `dfkd inspect FILE`: what a model file holds, before a user points a
//! distillation at it: architecture, classes, input shape, normalisation,
//! parameter count and the taps the methods can use.
//!
//! A dfkd checkpoint says all of this in its metadata. A PyTorch state dict
//! (`safetensors.torch.save_file`) says none of it, so its architecture is
//! found by loading it into every zoo architecture that fits its classifier
//! and first convolution; what the file cannot say is reported as unknown.
//! A TorchScript teacher (`python/dfkd_teacher.py`, or a plain scripted
//! classifier) is run once to find what it reports.

use anyhow::{bail, Result};
use clap::Parser;
use dfkd::checkpoint::{Checkpoint, ModelMeta};
use dfkd::nn::{script, zoo, Model};
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    /// A dfkd checkpoint or a PyTorch state dict (safetensors), or a
    /// TorchScript teacher.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    if script::is_torchscript(&a.file) {
        return inspect_script(&a);
    }
    let ck = Checkpoint::read(&a.file)?;
    let meta = ck.model_meta()?;
    let (model, how) = match &meta {
        Some(m) => (
            zoo::build(&m.arch, m.num_classes, m.input_shape)?,
            "dfkd checkpoint",
        ),
        None => (
            match_zoo(&ck)?,
            "PyTorch state dict (architecture found by its tensors)",
        ),
    };
    ck.load_into(&model.store, &model.spec.arch)?;
    let arch = zoo::arch(&model.spec.arch)?;
    let [c, h, w] = model.spec.input_shape;
    println!("file:           {}", a.file.display());
    println!("kind:           {how}");
    println!("architecture:   {} ({})", arch.name, arch.about);
    println!("classes:        {}", model.spec.num_classes);
    match &meta {
        Some(m) => {
            println!("input:          {c}x{h}x{w}");
            print_norm(m);
        }
        None => {
            println!("input:          {c} channels, size not recorded (32x32 assumed)");
            println!("normalisation:  not recorded (pass --teacher-mean/--teacher-std)");
        }
    }
    println!("parameters:     {}", model.store.parameter_count());
    println!(
        "taps:           {} (penultimate features: yes)",
        arch.tap_points.join(", ")
    );
    print_batchnorm(&model);
    Ok(())
}

fn inspect_script(a: &Args) -> Result<()> {
    let (model, meta) = script::load(&a.file, [3, 32, 32])?;
    println!("file:           {}", a.file.display());
    println!("classes:        {}", model.spec.num_classes);
    println!("parameters:     {}", model.store.parameter_count());
    let Some(m) = meta else {
        println!("kind:           plain TorchScript classifier (logits only)");
        println!("input:          not recorded (3x32x32 assumed; pass --teacher-input)");
        println!("normalisation:  not recorded (pass --teacher-mean/--teacher-std)");
        println!("taps:           none; save it with python/dfkd_teacher.py for the methods that read features or BatchNorm statistics");
        return Ok(());
    };
    let [c, h, w] = m.input_shape;
    println!("kind:           TorchScript teacher (python/dfkd_teacher.py)");
    println!("input:          {c}x{h}x{w}");
    print_norm(&m);
    println!("taps:           penultimate features, BatchNorm statistics");
    print_batchnorm(&model);
    Ok(())
}

fn print_batchnorm(model: &Model) {
    let n = model.batchnorm_layers();
    println!(
        "batchnorm:      {n} layers{}",
        if n == 0 {
            " (DeepInversion's and CMI's statistics losses do not apply)"
        } else {
            ""
        }
    );
}

fn print_norm(m: &ModelMeta) {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "normalisation:  mean {} std {}",
        list(&m.normalization.mean),
        list(&m.normalization.std)
    );
    if let Some(d) = &m.dataset {
        println!("dataset:        {d}");
    }
}

/// The zoo architecture whose every tensor the state dict holds with the same
/// shape, and nothing else.
fn match_zoo(ck: &Checkpoint) -> Result<Model> {
    let channels = ck
        .tensors
        .iter()
        .filter(|(name, t)| name.ends_with("conv1.weight") && t.dim() == 4)
        .min_by_key(|(name, _)| name.len())
        .map(|(_, t)| t.size()[1]);
    for arch in zoo::ARCHS {
        let Some(w) = ck.tensors.get(&format!("{}.weight", arch.classifier)) else {
            continue;
        };
        let (Some(c), true) = (channels, w.dim() == 2) else {
            continue;
        };
        let size = arch.fixed_size.unwrap_or(32);
        let Ok(model) = zoo::build(arch.name, w.size()[0], [c, size, size]) else {
            continue;
        };
        if ck.load_into(&model.store, arch.name).is_ok() {
            return Ok(model);
        }
    }
    bail!(
        "{}: no zoo architecture has exactly these tensors (see `dfkd archs`)",
        ck.path.display()
    )
}
