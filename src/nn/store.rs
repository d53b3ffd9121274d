//! Named tensors of a network, in PyTorch's `state_dict` naming and order.
//!
//! A [`Store`] owns every parameter and buffer of one network. Layers keep
//! shallow copies of the tensors they registered (same storage), so an
//! optimizer that updates the store in place updates the layers too, and a
//! checkpoint written from the store loads into PyTorch unchanged.

use std::collections::HashMap;
use tch::Tensor;

/// Whether an entry is trained (a parameter) or only carried (a buffer such
/// as BatchNorm's running statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parameter,
    Buffer,
}

pub struct Entry {
    pub name: String,
    pub tensor: Tensor,
    pub role: Role,
}

/// Parameters and buffers in registration order (the order of PyTorch's
/// `named_parameters` / `state_dict` for the same module definition).
#[derive(Default)]
pub struct Store {
    entries: Vec<Entry>,
}

/// A substitute set of parameter tensors, by name. A forward pass given one
/// uses these instead of the stored parameters (the meta update evaluates the
/// student at stepped weights this way, keeping the graph to the originals).
pub type Params = HashMap<String, Tensor>;

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a trainable tensor and returns a handle sharing its storage.
    pub fn parameter(&mut self, name: String, init: Tensor) -> Tensor {
        let t = init.set_requires_grad(true);
        self.push(name, t.shallow_clone(), Role::Parameter);
        t
    }

    /// Registers a non-trainable tensor (running statistics).
    pub fn buffer(&mut self, name: String, init: Tensor) -> Tensor {
        self.push(name, init.shallow_clone(), Role::Buffer);
        init
    }

    fn push(&mut self, name: String, tensor: Tensor, role: Role) {
        assert!(
            self.entries.iter().all(|e| e.name != name),
            "duplicate tensor name {name}"
        );
        self.entries.push(Entry { name, tensor, role });
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Trainable tensors, in registration order.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.entries
            .iter()
            .filter(|e| e.role == Role::Parameter)
            .map(|e| e.tensor.shallow_clone())
            .collect()
    }

    /// Trainable tensors with their names, in registration order.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.entries
            .iter()
            .filter(|e| e.role == Role::Parameter)
            .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.tensor)
    }

    /// Number of scalar parameters (buffers excluded).
    pub fn parameter_count(&self) -> i64 {
        self.entries
            .iter()
            .filter(|e| e.role == Role::Parameter)
            .map(|e| e.tensor.numel() as i64)
            .sum()
    }

    /// Bytes held by parameters and buffers.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| tensor_bytes(&e.tensor)).sum()
    }

    /// Copies every tensor of `other`, a store of the same network, into
    /// this one, in place (layers keep seeing their own tensors).
    pub fn copy_from(&self, other: &Store) {
        tch::no_grad(|| {
            for (to, from) in self.entries.iter().zip(other.entries()) {
                to.tensor.shallow_clone().copy_(&from.tensor);
            }
        });
    }

    /// Sets every parameter's `requires_grad` (a frozen teacher passes false:
    /// gradients still flow to its input, never to its weights).
    pub fn set_trainable(&self, trainable: bool) {
        for e in self.entries.iter().filter(|e| e.role == Role::Parameter) {
            let _ = e.tensor.set_requires_grad(trainable);
        }
    }
}

/// Bytes of a tensor's elements.
pub fn tensor_bytes(t: &Tensor) -> u64 {
    (t.numel() * t.kind().elt_size_in_bytes()) as u64
}

/// Joins a module path and a child name the way PyTorch does (`a.b`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
