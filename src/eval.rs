//! Accuracy of a classifier on real data.

use crate::data::{Dataset, Normalization};
use crate::nn::Model;
use tch::{Kind, Tensor};

/// Top-1 accuracy in percent, in evaluation mode (BatchNorm running stats).
pub fn accuracy(model: &Model, data: &Dataset, norm: &Normalization, batch_size: i64) -> f64 {
    let n = data.len();
    let size = model.spec.input_shape[1];
    let mut correct = 0i64;
    tch::no_grad(|| {
        for start in (0..n).step_by(batch_size as usize) {
            let len = batch_size.min(n - start);
            let index = Tensor::arange_start(start, start + len, crate::device::host_int64());
            let x = data.inputs(&index, size, norm);
            let pred = model.forward(&x, false).argmax(1, false);
            let labels = data.labels.index_select(0, &index);
            correct += pred.eq_tensor(&labels).sum(Kind::Int64).int64_value(&[]);
        }
    });
    100.0 * correct as f64 / n as f64
}

/// Measures a model on real data: the only way real data enters a
/// distillation run, and all it returns is a number.
pub trait Evaluator {
    fn accuracy(&mut self, model: &Model) -> f64;
}

/// A labelled dataset kept aside for measuring.
pub struct HeldOut {
    pub data: Dataset,
    pub norm: Normalization,
}

impl Evaluator for HeldOut {
    fn accuracy(&mut self, model: &Model) -> f64 {
        accuracy(model, &self.data, &self.norm, 1000)
    }
}

/// The PRE-DFKD paper's summary of accuracy over a distillation (its Eq. 10
/// and Table 1): average the accuracy across runs at each epoch, then take
/// the mean (`mu`) and variance (`var`) of that series over epochs;
/// `acc_max` is the highest accuracy of any run at any epoch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RobustSummary {
    pub runs: usize,
    /// Epochs every run has (the series is cut to the shortest run).
    pub epochs: usize,
    pub mu: f64,
    pub var: f64,
    pub acc_max: f64,
}

/// `runs[i][t]`: accuracy of run i at epoch t. `None` without any epoch.
pub fn robust_summary(runs: &[Vec<f64>]) -> Option<RobustSummary> {
    let epochs = runs.iter().map(Vec::len).min()?;
    if epochs == 0 {
        return None;
    }
    let mean_series: Vec<f64> = (0..epochs)
        .map(|t| runs.iter().map(|r| r[t]).sum::<f64>() / runs.len() as f64)
        .collect();
    let mu = mean_series.iter().sum::<f64>() / epochs as f64;
    let var = mean_series.iter().map(|a| (a - mu).powi(2)).sum::<f64>() / epochs as f64;
    let acc_max = runs.iter().flatten().copied().fold(f64::MIN, f64::max);
    Some(RobustSummary {
        runs: runs.len(),
        epochs,
        mu,
        var,
        acc_max,
    })
}

/// How a run keeps what it learnt, over the second half of its epochs:
/// the largest fall of accuracy below the best reached so far (from the
/// first half on), and how far the last epoch is below the best.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stability {
    pub fall: f64,
    pub best_minus_last: f64,
}

/// `acc[t]`: accuracy at epoch t. `None` without an epoch.
pub fn stability(acc: &[f64]) -> Option<Stability> {
    let last = *acc.last()?;
    let half = acc.len() / 2;
    let mut best = acc[..half].iter().copied().fold(f64::MIN, f64::max);
    let mut fall = 0.0f64;
    for &a in &acc[half..] {
        best = best.max(a);
        fall = fall.max(best - a);
    }
    Some(Stability {
        fall,
        best_minus_last: acc.iter().copied().fold(f64::MIN, f64::max) - last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stability_measures_the_second_half_against_the_best_so_far() {
        // Best 9 in the first half; in the second half the best so far is
        // 9, then 10, and the deepest fall below it is 10 - 6.
        let s = stability(&[1.0, 9.0, 3.0, 8.0, 10.0, 6.0, 7.0, 8.0]).unwrap();
        assert_eq!((s.fall, s.best_minus_last), (4.0, 2.0));
        let flat = stability(&[5.0]).unwrap();
        assert_eq!((flat.fall, flat.best_minus_last), (0.0, 0.0));
        assert!(stability(&[]).is_none());
    }

    #[test]
    fn robust_summary_averages_runs_then_epochs() {
        // Two runs, three epochs: per-epoch means 2, 4, 6 -> mu 4, var 8/3.
        let s = robust_summary(&[vec![1.0, 3.0, 5.0], vec![3.0, 5.0, 7.0]]).unwrap();
        assert_eq!((s.runs, s.epochs), (2, 3));
        assert!((s.mu - 4.0).abs() < 1e-12);
        assert!((s.var - 8.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.acc_max, 7.0);
        // A longer run counts for acc_max but the series stops at the shortest.
        let s = robust_summary(&[vec![1.0, 2.0], vec![1.0, 2.0, 99.0]]).unwrap();
        assert_eq!((s.epochs, s.acc_max), (2, 99.0));
        assert!((s.mu - 1.5).abs() < 1e-12);
        assert!(robust_summary(&[]).is_none());
    }
}
