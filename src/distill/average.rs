//! Shipping the average of the chosen student and the students just before it.
//!
//! Late in a run the real accuracy of consecutive students wanders by more
//! than the data-free probe can tell apart (MNIST DFAD: 94.9-97.1 % over
//! its last ten epochs, at 74-77 % agreement on the probe), so whichever
//! epoch the choice (select.rs) ships lands somewhere in that wander. The
//! uniform average of the weights of neighbouring students, as stochastic
//! weight averaging takes over the last epochs of a run (Izmailov et al.,
//! UAI 2018), sits nearer the middle of it. BatchNorm's running statistics
//! are averaged like the weights: estimating them again on the probe did
//! worse on the CIFAR-10 runs (bench/averaging.py).
//!
//! Averaging starts at three quarters of the run (`first_averaged`), and
//! two guards keep the average from shipping what the choice would not:
//! - a neighbour whose signal on the probe is more than `select::TOLERANCE`
//!   standard errors below the chosen student's is left out, so a collapsed
//!   student next to the champion never enters the average;
//! - the average ships only if its own signal is at least the chosen
//!   student's. Both are scored on the same samples, so a lower score is not
//!   noise to forgive: on a run that is still rising, the average lags
//!   behind the last student (a 9-epoch MNIST run: 93.38 % averaged against
//!   94.68 %), and the chosen student ships.

use crate::nn::{zoo, Model};
use anyhow::Result;

/// Students averaged at most: the chosen one and up to four before it.
pub const WINDOW: usize = 5;

/// The first epoch whose student may enter an average in a run of `epochs`:
/// averaging starts at three quarters of the run, as stochastic weight
/// averaging usually does. Earlier, the students still change fast and the
/// probe ranks them poorly (on a 9-epoch MNIST DFAD run the average of
/// epochs 1-4 agreed with the teacher as much as epoch 4 but reached 14.74 %
/// real accuracy against epoch 4's 31.01 %).
pub fn first_averaged(epochs: usize) -> usize {
    epochs * 3 / 4 + 1
}

/// The epochs of an average as people read them: "36, 37, 39, 40".
pub fn epoch_list(epochs: &[usize]) -> String {
    let names: Vec<String> = epochs.iter().map(|e| e.to_string()).collect();
    names.join(", ")
}

/// A model like `models[0]` holding the uniform average of `models`'
/// floating-point tensors; integer tensors are the last model's.
pub fn mean_of(models: &[&Model]) -> Result<Model> {
    let out = zoo::like(models.first().expect("at least one model"))?;
    let n = models.len() as f64;
    tch::no_grad(|| {
        for (i, entry) in out.store.entries().iter().enumerate() {
            let of = |m: &&Model| m.store.entries()[i].tensor.shallow_clone();
            let mut to = entry.tensor.shallow_clone();
            if to.is_floating_point() {
                let sum = models
                    .iter()
                    .map(|m| of(m).to_kind(tch::Kind::Double))
                    .reduce(|a, b| a + b)
                    .expect("at least one model");
                to.copy_(&(sum / n).to_kind(to.kind()));
            } else {
                to.copy_(&of(models.last().expect("at least one model")));
            }
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_of_students_is_their_elementwise_mean() {
        let nets: Vec<Model> = (0..3)
            .map(|seed| {
                tch::manual_seed(seed);
                zoo::build("lenet5-bn", 10, [1, 32, 32]).unwrap()
            })
            .collect();
        let refs: Vec<&Model> = nets.iter().collect();
        let mean = mean_of(&refs).unwrap();
        for (i, e) in mean.store.entries().iter().enumerate() {
            let t = |k: usize| nets[k].store.entries()[i].tensor.shallow_clone();
            if e.tensor.is_floating_point() {
                let expected = (t(0) + t(1) + t(2)) / 3.0;
                let gap = (&e.tensor - expected).abs().max().double_value(&[]);
                assert!(gap < 1e-6, "{}: {gap}", e.name);
            } else {
                assert!(e.tensor.equal(&t(2)), "{}", e.name);
            }
        }
    }
}
