//! Named tensors of the parts of a training or a distillation run, for its
//! resume state file.

use crate::nn::Store;
use crate::optim::Optimizer;
use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::Tensor;

/// Every entry of `store`, named `prefix/name`.
pub fn prefixed(prefix: &str, store: &Store) -> Vec<(String, Tensor)> {
    store
        .entries()
        .iter()
        .map(|e| (format!("{prefix}/{}", e.name), e.tensor.shallow_clone()))
        .collect()
}

pub fn optimizer(prefix: &str, opt: &Optimizer) -> Vec<(String, Tensor)> {
    opt.state()
        .into_iter()
        .map(|(k, t)| (format!("{prefix}/{k}"), t))
        .collect()
}

/// Copies `prefix/name` tensors back into `store`, in place.
pub fn load_store(prefix: &str, store: &Store, state: &HashMap<String, Tensor>) -> Result<()> {
    for e in store.entries() {
        let key = format!("{prefix}/{}", e.name);
        let Some(src) = state.get(&key) else {
            bail!("resume state lacks '{key}'");
        };
        if src.size() != e.tensor.size() {
            bail!(
                "resume state '{key}' has shape {:?}, expected {:?}",
                src.size(),
                e.tensor.size()
            );
        }
        tch::no_grad(|| e.tensor.shallow_clone().copy_(src));
    }
    Ok(())
}

pub fn load_optimizer(
    prefix: &str,
    opt: &mut Optimizer,
    state: &HashMap<String, Tensor>,
) -> Result<()> {
    let p = format!("{prefix}/");
    let sub: HashMap<String, Tensor> = state
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(&p)
                .map(|k| (k.to_string(), t.shallow_clone()))
        })
        .collect();
    opt.load_state(&sub)
}
