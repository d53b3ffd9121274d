//! dfkd: data-free knowledge distillation on libtorch.
//!
//! A user holds a trained classifier (the teacher) but not its training
//! data. dfkd trains a small student to behave like the teacher from
//! synthetic inputs produced from the teacher itself.

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod distill;
pub mod eval;
pub mod nn;
pub mod optim;
pub mod report;
pub mod runtime;
pub mod seed;
pub mod state;
pub mod train;
