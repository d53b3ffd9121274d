//! The meta student update: its exact gradient against a central finite
//! difference of the outer objective, its first-order form against the
//! formula, the released form against the joint update, and a meta run
//! resumed after a stop.

mod common;

use dfkd::distill::losses::KdLoss;
use dfkd::distill::parts::UpdateSpec;
use dfkd::distill::update::joint::Joint;
use dfkd::distill::update::meta::{Meta, MetaConfig, Order};
use dfkd::distill::update::StudentUpdate;
use dfkd::distill::{Batch, Losses, Models};
use dfkd::nn::{zoo, Model, Params};
use dfkd::optim::OptimSpec;
use tch::{Kind, Tensor};

/// LeNet-5-half (no BatchNorm) and LeNet-5 in double precision, so that a
/// finite difference resolves the gradient far below 1e-4.
fn models() -> (Model, Model) {
    tch::manual_seed(0);
    let double = |m: Model| {
        for e in m.store.entries() {
            let mut t = e.tensor.shallow_clone();
            t.set_data(&e.tensor.to_kind(Kind::Double));
        }
        m
    };
    let student = double(zoo::build("lenet5-half", 10, [1, 32, 32]).unwrap());
    let teacher = double(zoo::build("lenet5", 10, [1, 32, 32]).unwrap());
    teacher.freeze();
    (student, teacher)
}

/// The networks of [`models`], a novel batch `x` and a memory batch `xm`,
/// and the teacher's logits `t`, `tm` on each.
struct Case {
    student: Model,
    teacher: Model,
    x: Tensor,
    t: Tensor,
    xm: Tensor,
    tm: Tensor,
}

impl Case {
    fn new() -> Self {
        let (student, teacher) = models();
        let d = (Kind::Double, tch::Device::Cpu);
        let (x, xm) = (
            Tensor::randn([6, 1, 32, 32], d),
            Tensor::randn([3, 1, 32, 32], d),
        );
        let (t, tm) = tch::no_grad(|| (teacher.forward(&x, false), teacher.forward(&xm, false)));
        Self {
            student,
            teacher,
            x,
            t,
            xm,
            tm,
        }
    }

    fn models(&self) -> Models<'_> {
        Models {
            teacher: &self.teacher,
            student: &self.student,
        }
    }

    /// The gradient `cfg` gives the student on this case.
    fn gradients(&self, cfg: &MetaConfig, kd: &KdLoss) -> Vec<Tensor> {
        let novel = (&self.x, &self.t);
        cfg.gradients(&self.models(), kd, novel, (&self.xm, &self.tm))
            .grads
    }

    /// L_joint at the student's weights: KD on novel and memory samples
    /// together, in training mode.
    fn joint(&self, kd: &KdLoss) -> Tensor {
        let s = self
            .student
            .forward(&Tensor::cat(&[&self.x, &self.xm], 0), true);
        kd.loss(&s, &Tensor::cat(&[&self.t, &self.tm], 0))
    }
}

fn cfg(order: Order) -> MetaConfig {
    MetaConfig {
        order,
        ..MetaConfig::default()
    }
}

/// theta' = theta - lr (grad L_acq(theta) + wd theta) at the student's
/// current weights, as fresh leaves (in store order) and by name.
fn stepped(student: &Model, kd: &KdLoss, x: &Tensor, t: &Tensor) -> (Vec<Tensor>, Params) {
    let c = MetaConfig::default();
    let named = student.store.named_parameters();
    let theta: Vec<Tensor> = named.iter().map(|(_, p)| p.shallow_clone()).collect();
    let acq = kd.loss(&student.forward_inner(x, &Params::new()), t);
    let g = Tensor::run_backward(&[&acq], &theta, false, false);
    let leaves: Vec<Tensor> = theta
        .iter()
        .zip(&g)
        .map(|(p, g)| {
            (p - (g + p * c.inner_weight_decay) * c.inner_lr)
                .detach()
                .set_requires_grad(true)
        })
        .collect();
    let by_name = named
        .iter()
        .zip(&leaves)
        .map(|((n, _), l)| (n.clone(), l.shallow_clone()))
        .collect();
    (leaves, by_name)
}

/// F(theta) = L_ret(theta') + L_joint(theta), evaluated afresh at the
/// student's current weights.
fn outer(c: &Case, kd: &KdLoss) -> f64 {
    let (_, fast) = stepped(&c.student, kd, &c.x, &c.t);
    tch::no_grad(|| {
        let ret = kd.loss(&c.student.forward_inner(&c.xm, &fast), &c.tm);
        (ret + c.joint(kd)).double_value(&[])
    })
}

#[test]
fn the_exact_meta_gradient_is_the_derivative_of_the_outer_objective() {
    let c = Case::new();
    let kd = KdLoss::L1;
    let g = c.gradients(&cfg(Order::Exact), &kd);
    let params = c.student.parameters();
    for seed in 0..3 {
        tch::manual_seed(100 + seed);
        let v: Vec<Tensor> = params.iter().map(|p| p.randn_like()).collect();
        let along: f64 = g
            .iter()
            .zip(&v)
            .map(|(g, v)| (g * v).sum(Kind::Double).double_value(&[]))
            .sum();
        let eps = 1e-6;
        let shift = |s: f64| {
            tch::no_grad(|| {
                for (p, v) in params.iter().zip(&v) {
                    let _ = p.shallow_clone().g_add_(&(v * s));
                }
            })
        };
        shift(eps);
        let plus = outer(&c, &kd);
        shift(-2.0 * eps);
        let minus = outer(&c, &kd);
        shift(eps);
        let fd = (plus - minus) / (2.0 * eps);
        let rel = (fd - along).abs() / fd.abs().max(1e-12);
        assert!(
            rel < 1e-4,
            "direction {seed}: finite difference {fd}, gradient {along}"
        );
    }
    // Without the second derivative the gradient is measurably different.
    let first = c.gradients(&cfg(Order::FirstOrder), &kd);
    let gap: f64 = g
        .iter()
        .zip(&first)
        .map(|(a, b)| (a - b).abs().max().double_value(&[]))
        .fold(0.0, f64::max);
    assert!(gap > 1e-6, "exact and first-order agree to {gap}");
}

#[test]
fn first_order_follows_its_formula_and_as_released_is_the_joint_step() {
    let c = Case::new();
    let kd = KdLoss::L1;
    // First order: grad L_ret at theta' (a leaf) + grad L_joint at theta.
    let (leaves, fast) = stepped(&c.student, &kd, &c.x, &c.t);
    let theta = c.student.parameters();
    let ret = kd.loss(&c.student.forward_inner(&c.xm, &fast), &c.tm);
    let g_ret = Tensor::run_backward(&[&ret], &leaves, false, false);
    let g_joint = Tensor::run_backward(&[&c.joint(&kd)], &theta, false, false);
    let got = c.gradients(&cfg(Order::FirstOrder), &kd);
    for ((a, b), c) in got.iter().zip(&g_ret).zip(&g_joint) {
        assert!(a.allclose(&(b + c), 1e-12, 1e-14, false));
    }

    // As released: exactly the joint update's parameter step.
    let step = |update: &mut dyn StudentUpdate| -> Vec<Tensor> {
        let (student, teacher) = models();
        let m = Models {
            teacher: &teacher,
            student: &student,
        };
        let mut opt = OptimSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
        }
        .build(student.parameters());
        update
            .step(
                &m,
                &mut opt,
                &kd,
                &Batch::new(c.x.copy()),
                Some(&c.xm),
                &mut Losses::default(),
            )
            .unwrap();
        student.parameters().iter().map(Tensor::copy).collect()
    };
    let released = step(&mut Meta::new(cfg(Order::AsReleased)));
    let joint = step(&mut Joint);
    assert!(released.iter().zip(&joint).all(|(a, b)| a.equal(b)));
    let exact = step(&mut Meta::new(cfg(Order::Exact)));
    assert!(!exact.iter().zip(&joint).all(|(a, b)| a.equal(b)));
}

#[test]
fn at_inner_rate_zero_both_orders_follow_the_joint_and_retention_losses_at_theta() {
    let c = Case::new();
    let kd = KdLoss::L1;
    let at_zero = |order| MetaConfig {
        inner_lr: 0.0,
        ..cfg(order)
    };
    at_zero(Order::Exact).check().unwrap();
    assert!(MetaConfig {
        inner_lr: -0.1,
        ..cfg(Order::Exact)
    }
    .check()
    .is_err());
    // theta' = theta: the retention loss is taken at the student's weights.
    let theta = c.student.parameters();
    let ret = kd.loss(&c.student.forward_inner(&c.xm, &Params::new()), &c.tm);
    let want = Tensor::run_backward(&[&(ret + c.joint(&kd))], &theta, false, false);
    for order in [Order::Exact, Order::FirstOrder] {
        let got = c.gradients(&at_zero(order), &kd);
        for (a, b) in got.iter().zip(&want) {
            assert!(a.allclose(b, 1e-12, 1e-14, false), "{order:?}");
        }
    }
}

#[test]
fn a_meta_run_resumes_bit_identically_and_needs_a_replay() {
    let teacher = common::repo().join("teachers/lenet5-mnist.safetensors");
    let teacher = teacher.to_str().unwrap();
    let base = common::scratch("meta-resume");
    let args = |out: &std::path::Path, epochs: &str, order: &str| -> Vec<String> {
        [
            "distill",
            "--teacher",
            teacher,
            "--method",
            "mb-dfkd",
            "--preset",
            "mnist",
            "--update",
            "meta",
            "--set",
            "synth.student_steps=3",
            "--set",
            &format!("update.order=\"{order}\""),
            "--batch-size",
            "24",
            "--iters",
            "2",
            "--epochs",
            epochs,
            "--set",
            "replay.every=1",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let ok = |a: &[String]| {
        let o = common::dfkd_owned(a);
        assert!(o.status.success(), "{}", common::stderr(&o));
    };
    for order in ["exact", "first-order"] {
        let whole = base.join(format!("{order}-whole"));
        ok(&args(&whole, "3", order));
        let parts = base.join(format!("{order}-parts"));
        ok(&args(&parts, "1", order));
        ok(&[
            "distill".into(),
            "--resume".into(),
            parts.display().to_string(),
            "--epochs".into(),
            "3".into(),
        ]);
        let student = |d: &std::path::Path| std::fs::read(d.join("student.safetensors")).unwrap();
        assert!(
            student(&whole) == student(&parts),
            "{order}: resumed run differs"
        );
        let metrics = std::fs::read_to_string(whole.join("metrics.jsonl")).unwrap();
        assert!(
            metrics.lines().last().unwrap().contains("meta_retention"),
            "{metrics}"
        );
    }
    let mut none = args(&base.join("refused"), "1", "exact");
    let every = none.iter().position(|a| a == "replay.every=1").unwrap();
    none.drain(every - 1..=every);
    none.extend(["--replay".into(), "none".into()]);
    let o = common::dfkd_owned(&none);
    let err = common::stderr(&o);
    assert!(!o.status.success() && err.lines().count() == 1, "{err}");
    assert!(
        err.contains("--update meta needs samples to retain"),
        "{err}"
    );
}

#[test]
fn lra_presets_follow_the_official_configs() {
    let teacher = common::repo().join("teachers/lenet5-mnist.safetensors");
    let dry = |method: &str, preset: &str| -> toml::Value {
        let o = common::dfkd(&[
            "distill",
            "--teacher",
            teacher.to_str().unwrap(),
            "--method",
            method,
            "--preset",
            preset,
            "--dry-run",
        ]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        toml::from_str(&common::stdout(&o)).unwrap()
    };
    // gaurav104/LRA src/configs/Ours-1.json and Ours-2.json.
    for (method, replay) in [("lra", "memory-bank"), ("lra-vae", "vae")] {
        let cfg = dry(method, "cifar100");
        assert_eq!(cfg["update"]["kind"].as_str(), Some("meta"));
        assert_eq!(cfg["update"]["order"].as_str(), Some("exact"));
        assert_eq!(cfg["update"]["inner_lr"].as_float(), Some(0.9));
        assert_eq!(cfg["replay"]["kind"].as_str(), Some(replay));
        assert_eq!(cfg["replay"]["fraction"].as_float(), Some(0.125));
        assert_eq!(cfg["batch_size"].as_integer(), Some(512));
        assert_eq!(cfg["iters"].as_integer(), Some(72));
        assert_eq!(cfg["epochs"].as_integer(), Some(400));
        assert_eq!(cfg["synth"]["student_steps"].as_integer(), Some(10));
        assert_eq!(cfg["student_optim"]["lr"].as_float(), Some(0.1));
        // The CPU budget is that of the joint-update method it compares with.
        let joint = if method == "lra" {
            "mb-dfkd"
        } else {
            "pre-dfkd"
        };
        let (mine, theirs) = (dry(method, "mnist-cpu"), dry(joint, "mnist-cpu"));
        for key in ["epochs", "iters", "batch_size"] {
            assert_eq!(mine[key], theirs[key], "{method} {key}");
        }
        assert_eq!(mine["synth"], theirs["synth"], "{method}");
        assert_eq!(mine["replay"], theirs["replay"], "{method}");
    }
}
