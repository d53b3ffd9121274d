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

/// Adaptive DeepInversion's competition term as NVlabs' code writes it:
/// [`js_agreement`]'s clamps, but each KL summed over classes and averaged
/// over the batch (`nn.KLDivLoss(reduction='batchmean')`). Minimised by the
/// inputs, it drives them to where student and teacher disagree. (The
/// zju-vipa library's `-jsdiv` is the same up to the constant 1 and the
/// clamp, which a batch-mean JS of clamped distributions does not reach.)
pub fn js_competition(
    student_logits: &Tensor,
    teacher_logits: &Tensor,
    temperature: f64,
) -> Tensor {
    let b = student_logits.size()[0] as f64;
    let p = (student_logits / temperature).softmax(1, Kind::Float);
    let q = (teacher_logits / temperature).softmax(1, Kind::Float);
    let m = ((&p + &q) * 0.5).clamp(0.01, 0.99);
    let kl_to_m = |x: &Tensor| x.clamp(0.01, 0.99).log().kl_div(&m, Reduction::Sum, false) / b;
    let js = (kl_to_m(&p) + kl_to_m(&q)) * 0.5;
    js.clamp(0.0, 1.0).neg() + 1.0
}

/// DeepInversion's feature-distribution regulariser R_feature: over the
/// teacher's BatchNorm layers, `||mu - running_mean||_2 + ||var -
/// running_var||_2` of each layer's input (batch mean, biased variance; L2
/// norms, not squared), the first layer's term weighted `first_multiplier`
/// (NVlabs' ImageNet `first_bn_multiplier`; 1 weighs every layer equally).
pub fn bn_feature(stats: &[crate::nn::BnStat], first_multiplier: f64) -> Tensor {
    stats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let r = (&s.var - &s.running_var).norm() + (&s.mean - &s.running_mean).norm();
            if i == 0 {
                r * first_multiplier
            } else {
                r
            }
        })
        .reduce(|a, b| a + b)
        .expect("at least one BatchNorm layer")
}

/// R_feature with each layer's batch statistics blended with `past`, their
/// moving average over earlier syntheses: `(1 - rate)` x batch + `rate` x
/// past (Fast-Datafree's DeepInversionHook with `bn_mmt`).
pub fn bn_feature_blended(
    stats: &[crate::nn::BnStat],
    past: &[(Tensor, Tensor)],
    rate: f64,
) -> Tensor {
    assert_eq!(stats.len(), past.len(), "one past pair per BatchNorm layer");
    stats
        .iter()
        .zip(past)
        .map(|(s, (mean, var))| {
            let blend = |batch: &Tensor, past: &Tensor| batch * (1.0 - rate) + past * rate;
            (blend(&s.var, var) - &s.running_var).norm()
                + (blend(&s.mean, mean) - &s.running_mean).norm()
        })
        .reduce(|a, b| a + b)
        .expect("at least one BatchNorm layer")
}

/// Differences of every pixel with its right, lower, lower-left and
/// lower-right neighbours (NVlabs' `get_image_prior_losses`).
fn neighbour_differences(x: &Tensor) -> [Tensor; 4] {
    let (h, w) = (x.size()[2], x.size()[3]);
    let at = |y0: i64, y1: i64, x0: i64, x1: i64| x.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0);
    [
        at(0, h, 0, w - 1) - at(0, h, 1, w),
        at(0, h - 1, 0, w) - at(1, h, 0, w),
        at(1, h, 0, w - 1) - at(0, h - 1, 1, w),
        at(0, h - 1, 0, w - 1) - at(1, h, 1, w),
    ]
}

/// Total variation, L1 variant: the sum over the four neighbour directions
/// of the mean absolute difference (NVlabs' `loss_var_l1`, the zju-vipa
/// library's TV term).
pub fn tv_l1(x: &Tensor) -> Tensor {
    let [a, b, c, d] = neighbour_differences(x);
    [a, b, c, d]
        .iter()
        .map(|t| t.abs().mean(Kind::Float))
        .reduce(|a, b| a + b)
        .expect("four directions")
}

/// Total variation, L2 variant: the sum over the four neighbour directions
/// of the Frobenius norm of the differences (NVlabs' `loss_var_l2`).
pub fn tv_l2(x: &Tensor) -> Tensor {
    let [a, b, c, d] = neighbour_differences(x);
    [a, b, c, d]
        .iter()
        .map(Tensor::norm)
        .reduce(|a, b| a + b)
        .expect("four directions")
}

/// The l2 image prior: the Frobenius norm of the whole batch
/// (`torch.norm(inputs, 2)`, NVlabs' CIFAR script).
pub fn l2_prior(x: &Tensor) -> Tensor {
    x.norm()
}

/// CMI's adversarial term: minus the per-sample KL(teacher || student),
/// counted only where student and teacher predict the same class, averaged
/// over the batch (`-(kldiv(s, t, reduction='none').sum(1) * mask).mean()`).
/// Gradients reach both sets of logits, as in the official code.
pub fn masked_adversarial_kl(student_logits: &Tensor, teacher_logits: &Tensor) -> Tensor {
    let log_s = student_logits.log_softmax(1, Kind::Float);
    let t = teacher_logits.softmax(1, Kind::Float);
    let per_sample = log_s.kl_div(&t, Reduction::None, false).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Float,
    );
    let agree = student_logits
        .argmax(1, false)
        .eq_tensor(&teacher_logits.argmax(1, false))
        .to_kind(Kind::Float);
    -(per_sample * agree).mean(Kind::Float)
}

/// CMI's contrastive term: each local view's projection should pick its own
/// global view's (detached) among all, at temperature `temperature`. Rows
/// are the current batch (`current` of them) then the feature bank's; the
/// cross-entropies of the two parts are averaged separately and summed when
/// the bank holds anything, as the official code does to keep the current
/// batch's gradient from being diluted.
pub fn contrastive(local: &Tensor, global: &Tensor, temperature: f64, current: i64) -> Tensor {
    let logits = local.mm(&global.detach().tr()) / temperature;
    let n = logits.size()[0];
    let labels = Tensor::arange(n, (Kind::Int64, logits.device()));
    let per_row = logits.log_softmax(1, Kind::Float).g_nll_loss::<Tensor>(
        &labels,
        None,
        Reduction::None,
        -100,
    );
    if n > current {
        per_row.narrow(0, 0, current).mean(Kind::Float)
            + per_row.narrow(0, current, n - current).mean(Kind::Float)
    } else {
        per_row.mean(Kind::Float)
    }
}
