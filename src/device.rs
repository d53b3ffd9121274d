//! Where tensors live: the one module that names a device (a test checks that
//! no other file in `src/` does).
//!
//! Two places, two purposes:
//! - [`run`]: where the models, what they compute on (their inputs, a
//!   synthesizer's noise and targets, a feature bank) and their optimiser
//!   state live;
//! - [`host`]: memory the program itself reads: datasets as loaded, kept
//!   samples, random draws that decide an order, an index or a crop (drawn
//!   here so that they are the same whatever the run device), and models as
//!   they are built (initialised as PyTorch initialises them, on the CPU).
//!
//! The run device is chosen once, at start-up ([`select`], the CLI's
//! `--device`); until then, and in the library's tests, it is the CPU.

use anyhow::{bail, Result};
use std::sync::OnceLock;
use tch::{Cuda, Device, Kind};

static RUN: OnceLock<Device> = OnceLock::new();

/// Sets the run device from `auto` (the first GPU when libtorch sees one,
/// else the CPU), `cpu`, `cuda` or `cuda:N`. Call once, before any model is
/// built.
pub fn select(choice: &str) -> Result<Device> {
    let device = parse(choice)?;
    if RUN.set(device).is_err() && RUN.get() != Some(&device) {
        bail!("the run device is already {:?}", run());
    }
    Ok(device)
}

fn parse(choice: &str) -> Result<Device> {
    // Asked only when a GPU may be wanted: it starts CUDA's driver.
    let gpus = || Cuda::device_count();
    let cuda = |n: i64| {
        let gpus = gpus();
        if gpus == 0 {
            bail!("--device {choice}: libtorch sees no CUDA GPU here (a CPU-only libtorch, no driver, or CUDA_VISIBLE_DEVICES empty); use --device cpu");
        }
        if n >= gpus {
            bail!("--device {choice}: there are {gpus} GPUs, numbered from 0");
        }
        Ok(Device::Cuda(n as usize))
    };
    match choice {
        "cpu" => Ok(Device::Cpu),
        "auto" if gpus() > 0 => Ok(Device::Cuda(0)),
        "auto" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        _ => match choice.strip_prefix("cuda:").map(str::parse::<i64>) {
            Some(Ok(n)) if n >= 0 => cuda(n),
            _ => bail!("--device takes auto, cpu, cuda or cuda:N, not '{choice}'"),
        },
    }
}

/// The device models and what they compute on live on.
pub fn run() -> Device {
    RUN.get().copied().unwrap_or(Device::Cpu)
}

/// Waits for the work queued on the run device (a GPU runs asynchronously;
/// timings need this).
pub fn synchronize() {
    if let Device::Cuda(n) = run() {
        Cuda::synchronize(n as i64);
    }
}

/// Where a run computes, in the words its run directory keeps: the device
/// and the CPU threads libtorch uses. On the CPU the last bits of a result
/// depend on the thread count, and two threads are not repeatable between
/// processes (bench/RESULTS.md, "Determinism").
pub fn describe() -> String {
    let threads = match tch::get_num_threads() {
        1 => "1 CPU thread".to_string(),
        n => format!("{n} CPU threads"),
    };
    match run() {
        Device::Cpu => format!("cpu, {threads}"),
        Device::Cuda(n) => format!("cuda:{n}, {threads}"),
        other => format!("{other:?}, {threads}"),
    }
}

/// Host memory.
pub fn host() -> Device {
    Device::Cpu
}

/// `(Kind::Float, run())`, for tensor constructors.
pub fn float() -> (Kind, Device) {
    (Kind::Float, run())
}

/// `(Kind::Int64, run())`.
pub fn int64() -> (Kind, Device) {
    (Kind::Int64, run())
}

/// `(Kind::Float, host())`.
pub fn host_float() -> (Kind, Device) {
    (Kind::Float, host())
}

/// `(Kind::Int64, host())`.
pub fn host_int64() -> (Kind, Device) {
    (Kind::Int64, host())
}

/// `(Kind::Double, host())`.
pub fn host_double() -> (Kind, Device) {
    (Kind::Double, host())
}
