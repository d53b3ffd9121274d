//! The loss terms of the data-free KD papers, each as the official code
//! computes it.

use tch::{Kind, Reduction, Tensor};

/// Knowledge-distillation criterion: how the student's logits are pulled
/// towards the teacher's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum KdLoss {
    /// KL(softmax(t/T) || softmax(s/T)) summed over classes, averaged over
    /// the batch, times T^2. At T = 1 this is DAFL's `kdloss`.
    Kl { temperature: f64 },
    /// Mean absolute difference of the logits (DFAD, MB-DFKD, PRE-DFKD).
    L1,
}

impl KdLoss {
    pub fn loss(&self, student: &Tensor, teacher: &Tensor) -> Tensor {
        match *self {
            KdLoss::Kl { temperature } => kl_div(student, teacher, temperature),
            KdLoss::L1 => l1(student, teacher),
        }
    }
}

/// `F.kl_div(log_softmax(s/T), softmax(t/T), reduction='sum') / B * T^2`.
pub fn kl_div(student: &Tensor, teacher: &Tensor, temperature: f64) -> Tensor {
    let b = student.size()[0] as f64;
    let log_p = (student / temperature).log_softmax(1, Kind::Float);
    let q = (teacher / temperature).softmax(1, Kind::Float);
    log_p.kl_div(&q, Reduction::Sum, false) * (temperature * temperature / b)
}

/// `F.l1_loss(a, b)`: mean over every element.
pub fn l1(a: &Tensor, b: &Tensor) -> Tensor {
    a.l1_loss(b, Reduction::Mean)
}

/// DAFL's one-hot loss: cross-entropy of the teacher's logits against its
/// own arg-max, pushing the teacher to confident predictions.
pub fn one_hot(teacher_logits: &Tensor) -> Tensor {
    let pseudo = teacher_logits.argmax(1, false);
    teacher_logits.cross_entropy_for_logits(&pseudo)
}

/// DAFL's information-entropy loss, `sum_k pbar_k log10 pbar_k` with `pbar`
/// the batch-mean softmax. Minimising it maximises the entropy of the class
/// distribution over the batch (balanced classes). Base 10, as the papers.
pub fn information_entropy(teacher_logits: &Tensor) -> Tensor {
    let p = teacher_logits
        .softmax(1, Kind::Float)
        .mean_dim(0, false, Kind::Float);
    (&p * p.log10()).sum(Kind::Float)
}

/// DAFL's activation loss, `-mean |f|` of the teacher's penultimate feature.
pub fn activation(features: &Tensor) -> Tensor {
    -features.abs().mean(Kind::Float)
}

/// DFAD's adversarial generator loss: the negated student-teacher L1
/// distance, so the generator seeks samples where they disagree.
pub fn adversarial_l1(student_logits: &Tensor, teacher_logits: &Tensor) -> Tensor {
    -l1(student_logits, teacher_logits)
}

/// The agreement term of the JS-adversarial generators (Adaptive
/// DeepInversion, MB-DFKD, PRE-DFKD): `1 - JS(softmax(s/T), softmax(t/T))`,
/// with the official code's details: probabilities clamped to [0.01, 0.99]
/// after the mixture is formed, each KL averaged over every element (as
/// `nn.KLDivLoss()`), and the divergence clamped to [0, 1]. Minimising it
/// drives the generator to samples where student and teacher disagree.
pub fn js_agreement(student_logits: &Tensor, teacher_logits: &Tensor, temperature: f64) -> Tensor {
    let p = (student_logits / temperature).softmax(1, Kind::Float);
    let q = (teacher_logits / temperature).softmax(1, Kind::Float);
    let m = ((&p + &q) * 0.5).clamp(0.01, 0.99);
    let kl_to_m = |x: &Tensor| x.clamp(0.01, 0.99).log().kl_div(&m, Reduction::Mean, false);
    let js = (kl_to_m(&p) + kl_to_m(&q)) * 0.5;
    js.clamp(0.0, 1.0).neg() + 1.0
}
