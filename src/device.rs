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
//! The run device is the CPU in this build; CUDA placement (`--device`) is
//! the next step of issue 15, and will change only this module's choice.

use tch::{Device, Kind};

/// The device models and what they compute on live on.
pub fn run() -> Device {
    Device::Cpu
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
