//! The model zoo and the pieces models are made of.
//!
//! Every classifier runs one forward pass ([`Model::forward_taps`]) that can
//! record taps on request, and can run with substituted parameter tensors
//! ([`Model::forward_with`]) for the meta update.

pub mod cmi_generator;
pub mod encoder;
pub mod forward;
pub mod generator;
pub mod layers;
pub mod lenet;
pub mod model;
pub mod resnet;
pub mod resnet_cifar;
pub mod script;
pub mod spectral;
pub mod store;
pub mod wrn;
pub mod zoo;

pub use forward::{BnStat, Output, Taps};
pub use model::{Model, ModelSpec};
pub use store::{Params, Store};
