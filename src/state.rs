//! Named tensors of the parts of a training or a distillation run, for its
//! resume state file.

use crate::nn::Store;
use crate::optim::Optimizer;
use anyhow::{anyhow, bail, Context, Result};
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

/// The tensor `key` of a resume state, or an error naming the missing key.
pub fn require<'a>(state: &'a HashMap<String, Tensor>, key: &str) -> Result<&'a Tensor> {
    state
        .get(key)
        .ok_or_else(|| anyhow!("resume state lacks '{key}'"))
}

/// Copies `prefix/name` tensors back into `store`, in place.
pub fn load_store(prefix: &str, store: &Store, state: &HashMap<String, Tensor>) -> Result<()> {
    for e in store.entries() {
        let key = format!("{prefix}/{}", e.name);
        let src = require(state, &key)?;
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
        .with_context(|| format!("resume state of the optimizer '{prefix}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let mut s = Store::new();
        let _ = s.parameter(
            "w".into(),
            Tensor::zeros([2, 3], crate::device::host_float()),
        );
        s
    }

    #[test]
    fn a_store_round_trips_and_a_bad_state_names_its_key() {
        let saved = store();
        tch::no_grad(|| {
            let _ = saved.get("w").unwrap().shallow_clone().fill_(1.5);
        });
        let state: HashMap<_, _> = prefixed("student", &saved).into_iter().collect();
        let loaded = store();
        load_store("student", &loaded, &state).unwrap();
        assert_eq!(loaded.get("w").unwrap().double_value(&[1, 2]), 1.5);

        let err = load_store("teacher", &loaded, &state).unwrap_err();
        assert_eq!(err.to_string(), "resume state lacks 'teacher/w'");
        let wrong = HashMap::from([(
            "student/w".to_string(),
            Tensor::zeros([3], crate::device::host_float()),
        )]);
        let err = load_store("student", &loaded, &wrong).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("resume state 'student/w' has shape [3]"),
            "{err}"
        );
        let mut opt = crate::optim::OptimSpec::adam(1e-3).build(vec![]);
        let err = load_optimizer("student_optim", &mut opt, &state).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "resume state of the optimizer 'student_optim': optimizer state lacks 'steps'"
        );
    }
}
