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
            let index = Tensor::arange_start(start, start + len, tch::kind::INT64_CPU);
            let x = data.inputs(&index, size, norm);
            let pred = model.forward(&x, false).argmax(1, false);
            let labels = data.labels.index_select(0, &index);
            correct += pred.eq_tensor(&labels).sum(Kind::Int64).int64_value(&[]);
        }
    });
    100.0 * correct as f64 / n as f64
}
