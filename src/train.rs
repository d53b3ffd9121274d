//! Supervised training of a teacher on real data, with the official recipes.

use crate::data::{transforms, Dataset, DatasetKind, Normalization};
use crate::distill::schedule::rescaled_milestone;
use crate::eval;
use crate::nn::Model;
use crate::optim::{OptimSpec, Optimizer};
use crate::seed;
use crate::state;
use anyhow::Result;
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// How a teacher is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub epochs: usize,
    pub batch_size: i64,
    pub optim: OptimSpec,
    /// Epochs (0-based, MultiStepLR's convention) at which the learning rate
    /// is multiplied by 0.1.
    pub milestones: Vec<usize>,
    /// Random crop (4-pixel padding) and horizontal flip.
    pub augment: bool,
    /// Where the recipe comes from.
    pub source: &'static str,
}

impl Recipe {
    /// The official recipe for an architecture family on a dataset.
    pub fn official(arch: &str, data: DatasetKind) -> Recipe {
        let cifar = matches!(data, DatasetKind::Cifar10 | DatasetKind::Cifar100);
        let sgd = |weight_decay| OptimSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay,
        };
        if arch.starts_with("lenet") {
            // DAFL teacher-train.py: Adam 1e-3, batch 256, `range(1, 10)`.
            Recipe {
                epochs: 9,
                batch_size: 256,
                optim: OptimSpec::adam(1e-3),
                milestones: vec![],
                augment: cifar,
                source: "DAFL teacher-train.py (MNIST)",
            }
        } else if arch.starts_with("wrn") {
            // CMI/DataFree train_scratch.py.
            Recipe {
                epochs: 200,
                batch_size: 256,
                optim: sgd(1e-4),
                milestones: vec![120, 150, 180],
                augment: cifar,
                source: "CMI/DataFree train_scratch.py",
            }
        } else if arch == "resnet18" || arch == "resnet34" {
            // DAFL teacher-train.py: `range(1, 200)`, lr 0.1 -> 0.01 at epoch
            // 80 -> 0.001 at 120 (1-based epochs).
            Recipe {
                epochs: 199,
                batch_size: 128,
                optim: sgd(5e-4),
                milestones: vec![79, 119],
                augment: cifar,
                source: "DAFL teacher-train.py (CIFAR)",
            }
        } else {
            // He et al. / pytorch_resnet_cifar10 trainer.
            Recipe {
                epochs: 200,
                batch_size: 128,
                optim: sgd(1e-4),
                milestones: vec![100, 150],
                augment: cifar,
                source: "pytorch_resnet_cifar10 trainer.py",
            }
        }
    }

    /// The recipe over `epochs` epochs, its milestones at the same fractions
    /// of the training as the official ones (a shortened training still
    /// anneals: 15 of ResNet's 200 epochs drop at 8 and 11, not never).
    pub fn with_epochs(mut self, epochs: usize) -> Recipe {
        for m in &mut self.milestones {
            *m = rescaled_milestone(*m, epochs, self.epochs);
        }
        self.epochs = epochs;
        self
    }

    pub fn lr_at(&self, epoch: usize) -> f64 {
        let drops = self.milestones.iter().filter(|&&m| epoch >= m).count();
        self.optim.lr() * 0.1f64.powi(drops as i32)
    }
}

/// What one epoch of training gave.
#[derive(Debug, Clone)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub test_accuracy: Option<f64>,
    pub seconds: f64,
}

/// Observes training (the CLI draws progress bars and keeps the resume
/// state with it).
pub trait Observer {
    /// After each batch, with its loss (on the run device: reading it waits
    /// for the device, so an observer reads it only now and then).
    fn batch(&mut self, _epoch: usize, _batch: usize, _batches: usize, _loss: &Tensor) {}
    /// Called after each epoch, when `trainer` holds its finished state.
    fn epoch(&mut self, _log: &EpochLog, _trainer: &Trainer) -> Result<()> {
        Ok(())
    }
}

impl Observer for () {}

/// Supervised training of one model with cross-entropy, resumable at any
/// epoch boundary: the model, the optimizer and the number of finished epochs
/// are all a later epoch depends on, because each epoch reseeds the generator
/// from (`seed`, epoch) for its shuffling and augmentation.
pub struct Trainer<'a> {
    pub model: &'a Model,
    pub recipe: Recipe,
    pub seed: u64,
    pub opt: Optimizer,
    pub epochs_done: usize,
}

impl<'a> Trainer<'a> {
    /// A training from the start. The model's initial weights must already
    /// be drawn (seeded) by the caller.
    pub fn new(model: &'a Model, recipe: Recipe, seed: u64) -> Self {
        let opt = recipe.optim.build(model.parameters());
        Self {
            model,
            recipe,
            seed,
            opt,
            epochs_done: 0,
        }
    }

    /// The model's and the optimizer's tensors, as a resumed training needs
    /// them (`epochs_done` travels beside them).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = state::prefixed("model", &self.model.store);
        out.extend(state::optimizer("optimizer", &self.opt));
        out
    }

    /// Restores what [`Trainer::state`] saved after `epochs_done` epochs.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, epochs_done: usize) -> Result<()> {
        state::load_store("model", &self.model.store, tensors)?;
        state::load_optimizer("optimizer", &mut self.opt, tensors)?;
        self.epochs_done = epochs_done;
        Ok(())
    }

    /// Trains on `train` up to the recipe's epochs, measuring accuracy on
    /// `test` after each epoch; returns the logs of the epochs it ran.
    pub fn run(
        &mut self,
        train: &Dataset,
        test: Option<&Dataset>,
        norm: &Normalization,
        observer: &mut dyn Observer,
    ) -> Result<Vec<EpochLog>> {
        let size = self.model.spec.input_shape[1];
        let batch_size = self.recipe.batch_size;
        let n = train.len();
        let batches = ((n + batch_size - 1) / batch_size) as usize;
        let mut logs = Vec::new();
        for epoch in self.epochs_done..self.recipe.epochs {
            let start = std::time::Instant::now();
            seed::seed_epoch(self.seed, epoch);
            self.opt.lr = self.recipe.lr_at(epoch);
            let order = Tensor::randperm(n, crate::device::host_int64());
            let mut total = Tensor::from(0f64);
            for b in 0..batches {
                let lo = b as i64 * batch_size;
                let index = order.narrow(0, lo, batch_size.min(n - lo));
                let mut images = train.images.index_select(0, &index);
                if self.recipe.augment {
                    images = transforms::crop_flip(&images, 4);
                }
                let x = transforms::to_model_input(&images, size, norm);
                let y = train.labels.index_select(0, &index);
                let loss = self.model.forward(&x, true).cross_entropy_for_logits(&y);
                self.opt.minimize(&loss);
                // Summed on the device in double precision: the same sum
                // as the host's, read once per epoch.
                total += loss.detach().to_kind(Kind::Double);
                observer.batch(epoch, b, batches, &loss);
            }
            self.epochs_done = epoch + 1;
            let log = EpochLog {
                epoch,
                loss: total.double_value(&[]) / batches as f64,
                test_accuracy: test.map(|t| eval::accuracy(self.model, t, norm, 1000)),
                seconds: start.elapsed().as_secs_f64(),
            };
            observer.epoch(&log, self)?;
            logs.push(log);
        }
        Ok(logs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortened_recipe_drops_its_rate_at_the_same_fractions() {
        let resnet = Recipe::official("resnet20", DatasetKind::FashionMnist);
        assert_eq!(resnet.milestones, vec![100, 150]);
        let short = resnet.clone().with_epochs(15);
        assert_eq!((short.epochs, short.milestones.clone()), (15, vec![8, 11]));
        assert!((short.lr_at(7) - 0.1).abs() < 1e-15);
        assert!((short.lr_at(8) - 0.01).abs() < 1e-15);
        assert!((short.lr_at(14) - 0.001).abs() < 1e-15);
        assert_eq!(resnet.clone().with_epochs(200), resnet);
        let lenet = Recipe::official("lenet5", DatasetKind::Mnist).with_epochs(30);
        assert!(lenet.milestones.is_empty());
    }
}
