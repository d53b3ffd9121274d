//! Every distillation loss, against values computed by hand and against the
//! official formulas run in PyTorch.

mod common;

use dfkd::distill::losses::{self, KdLoss};
use tch::{Kind, Tensor};

fn t(v: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).view(shape)
}

fn val(x: &Tensor) -> f64 {
    x.double_value(&[])
}

#[test]
fn hand_computed_values() {
    // Uniform teacher over 10 classes: pbar = 0.1 each, sum 0.1 log10 0.1 = -1.
    let uniform = Tensor::zeros([4, 10], tch::kind::FLOAT_CPU);
    assert!((val(&losses::information_entropy(&uniform)) + 1.0).abs() < 1e-6);
    // A batch that always predicts class 0 has pbar = one-hot: entropy term 0.
    let peaked = t(&[100.0, 0.0, 0.0, 100.0, 0.0, 0.0], &[2, 3]);
    assert!(val(&losses::information_entropy(&peaked)).abs() < 1e-6);
    // One-hot loss of logits (ln 3, 0, 0): CE against class 0 = ln(5/3).
    let l = t(&[3f32.ln(), 0.0, 0.0], &[1, 3]);
    assert!((val(&losses::one_hot(&l)) - (5.0f64 / 3.0).ln()).abs() < 1e-6);
    // Activation: -mean |f|.
    assert!((val(&losses::activation(&t(&[1.0, -3.0, 2.0, 0.0], &[2, 2]))) + 1.5).abs() < 1e-7);
    // L1: mean over all elements; the adversarial term is its negation.
    let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = t(&[0.0, 2.0, 5.0, 3.0], &[2, 2]);
    assert!((val(&losses::l1(&a, &b)) - 1.0).abs() < 1e-7);
    assert!((val(&losses::adversarial_l1(&a, &b)) + 1.0).abs() < 1e-7);
    // KL of identical distributions is 0; KL((1,0) logits) by hand.
    assert!(val(&KdLoss::Kl { temperature: 1.0 }.loss(&a, &a)).abs() < 1e-7);
    let s = t(&[0.0, 0.0], &[1, 2]);
    let te = t(&[2f32.ln(), 0.0], &[1, 2]);
    // q = (2/3, 1/3), p = (1/2, 1/2): KL = 2/3 ln(4/3) + 1/3 ln(2/3).
    let want = 2.0 / 3.0 * (4.0f64 / 3.0).ln() + 1.0 / 3.0 * (2.0f64 / 3.0).ln();
    assert!((val(&KdLoss::Kl { temperature: 1.0 }.loss(&s, &te)) - want).abs() < 1e-6);
    // The batch mean: two copies of the same row give the same loss.
    // JS agreement: identical logits give 1; the clamps bound it below by 0.
    assert!((val(&losses::js_agreement(&a, &a, 3.0)) - 1.0).abs() < 1e-7);
    let far = t(&[100.0, 0.0], &[1, 2]);
    let near = t(&[0.0, 100.0], &[1, 2]);
    // p = (.99, .01) and q = (.01, .99) after clamping, m = (.5, .5):
    // JS = mean over 2 elements of .5 ln(.5/.99) + .5 ln(.5/.01), per side.
    let kl = (0.5 * (0.5f64 / 0.99).ln() + 0.5 * (0.5f64 / 0.01).ln()) / 2.0;
    assert!((val(&losses::js_agreement(&far, &near, 1.0)) - (1.0 - kl)).abs() < 1e-6);
    let s2 = Tensor::cat(&[&s, &s], 0);
    let t2 = Tensor::cat(&[&te, &te], 0);
    assert!((val(&KdLoss::Kl { temperature: 1.0 }.loss(&s2, &t2)) - want).abs() < 1e-6);
}

#[test]
fn same_values_as_the_official_formulas_in_pytorch() {
    let Some(python) = common::venv_python("losses vs PyTorch") else {
        return;
    };
    tch::manual_seed(11);
    let s = Tensor::randn([16, 10], tch::kind::FLOAT_CPU) * 3.0;
    let te = Tensor::randn([16, 10], tch::kind::FLOAT_CPU) * 3.0;
    let f = Tensor::randn([16, 120], tch::kind::FLOAT_CPU).relu();
    let named = [
        ("student", s.shallow_clone()),
        ("teacher", te.shallow_clone()),
        ("features", f.shallow_clone()),
        ("kl_t1", KdLoss::Kl { temperature: 1.0 }.loss(&s, &te)),
        ("kl_t4", KdLoss::Kl { temperature: 4.0 }.loss(&s, &te)),
        ("l1", KdLoss::L1.loss(&s, &te)),
        ("one_hot", losses::one_hot(&te)),
        ("information_entropy", losses::information_entropy(&te)),
        ("activation", losses::activation(&f)),
        ("adversarial_l1", losses::adversarial_l1(&s, &te)),
        ("js_agreement_t3", losses::js_agreement(&s, &te, 3.0)),
    ];
    let tensors: Vec<(String, Tensor)> = named
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_kind(Kind::Float)))
        .collect();
    common::python_check(&python, "losses.py", &tensors);
}
