//! The model zoo: shapes, taps, and forward passes with substituted parameters.

use dfkd::nn::{zoo, Params, Taps};
use tch::{Kind, Tensor};

fn input(arch: &str) -> Tensor {
    let c = if arch.starts_with("lenet") { 1 } else { 3 };
    Tensor::randn([4, c, 32, 32], tch::kind::FLOAT_CPU)
}

fn build(arch: &str) -> dfkd::nn::Model {
    let c = if arch.starts_with("lenet") { 1 } else { 3 };
    zoo::build(arch, 10, [c, 32, 32]).unwrap()
}

#[test]
fn every_architecture_gives_logits_and_features() {
    tch::manual_seed(1);
    // Feature widths of the penultimate layer.
    let widths = [
        ("lenet5", 120),
        ("lenet5-bn", 120),
        ("lenet5-half", 60),
        ("resnet18", 512),
        ("resnet34", 512),
        ("resnet20", 64),
        ("resnet32", 64),
        ("resnet44", 64),
        ("resnet56", 64),
        ("wrn16-1", 64),
        ("wrn16-2", 128),
        ("wrn40-1", 64),
        ("wrn40-2", 128),
    ];
    assert_eq!(widths.len(), zoo::ARCHS.len());
    for (arch, width) in widths {
        let m = build(arch);
        let out = m.forward_taps(&input(arch), false, &Taps::features());
        assert_eq!(out.logits.size(), [4, 10], "{arch}");
        assert_eq!(out.features.unwrap().size(), [4, width], "{arch}");
    }
}

#[test]
fn parameter_counts_match_the_published_models() {
    // Counts of the PyTorch reference definitions (buffers excluded).
    for (arch, count) in [
        ("lenet5", 61_706),
        ("lenet5-bn", 61_990),
        ("lenet5-half", 15_738),
        ("resnet18", 11_173_962),
        ("resnet34", 21_282_122),
        ("resnet20", 269_722),
        ("resnet56", 853_018),
        ("wrn16-1", 175_066),
        ("wrn40-2", 2_243_546),
    ] {
        assert_eq!(build(arch).store.parameter_count(), count, "{arch}");
    }
}

#[test]
fn bn_taps_record_the_input_statistics_of_every_batchnorm() {
    tch::manual_seed(2);
    let m = build("resnet20");
    let x = input("resnet20");
    let out = m.forward_taps(&x, false, &Taps::bn_stats());
    // ResNet-20: stem BN + 9 blocks x 2 BNs.
    assert_eq!(out.bn_stats.len(), 19);
    // The first BN sees conv1's output: check its statistics by hand.
    let conv1 = m.store.get("conv1.weight").unwrap();
    let y = x.conv2d(conv1, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
    let first = &out.bn_stats[0];
    assert_eq!(first.name, "bn1");
    let mean = y.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    let var = (&y - mean.view([1, -1, 1, 1])).square().mean_dim(
        [0i64, 2, 3].as_slice(),
        false,
        Kind::Float,
    );
    assert!(first.mean.allclose(&mean, 1e-5, 1e-6, false));
    assert!(first.var.allclose(&var, 1e-4, 1e-6, false));
    // The per-instance means (CMI's features) of the same input.
    let means = m.forward_taps(&x, false, &Taps::bn_means()).bn_means;
    assert_eq!(means.len(), 19);
    let instance = y.mean_dim([2i64, 3].as_slice(), false, Kind::Float);
    assert!(means[0].allclose(&instance, 1e-5, 1e-6, false));
    assert_eq!(m.batchnorm_layers(), 19);
    assert_eq!(build("lenet5").batchnorm_layers(), 0);
    // LeNet has no BatchNorm; WRN-16-1 has 2 per block (6 blocks) + final.
    assert_eq!(
        build("lenet5")
            .forward_taps(&input("lenet5"), false, &Taps::bn_stats())
            .bn_stats
            .len(),
        0
    );
    assert_eq!(
        build("wrn16-1")
            .forward_taps(&input("wrn16-1"), false, &Taps::bn_stats())
            .bn_stats
            .len(),
        13
    );
}

#[test]
fn layer_taps_return_the_named_outputs_and_nothing_else() {
    let m = build("resnet18");
    let out = m.forward_taps(
        &input("resnet18"),
        false,
        &Taps::layers(&["layer2", "layer4"]),
    );
    assert_eq!(out.layers.len(), 2);
    assert_eq!(out.layer("layer2").unwrap().size(), [4, 128, 16, 16]);
    assert_eq!(out.layer("layer4").unwrap().size(), [4, 512, 4, 4]);
    assert!(out.features.is_none() && out.bn_stats.is_empty());
    let lenet = build("lenet5");
    let out = lenet.forward_taps(&input("lenet5"), false, &Taps::layers(&["conv1", "fc1"]));
    assert_eq!(out.layer("conv1").unwrap().size(), [4, 6, 28, 28]);
    assert_eq!(out.layer("fc1").unwrap().size(), [4, 84]);
    let e = lenet
        .check_taps(&["layer9".to_string()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no tap point 'layer9'"), "{e}");
}

#[test]
fn taps_do_not_change_the_logits() {
    tch::manual_seed(3);
    let m = build("wrn16-2");
    let x = input("wrn16-2");
    let plain = m.forward(&x, false);
    let taps = Taps {
        features: true,
        bn_stats: true,
        bn_means: true,
        layers: vec!["block2".into()],
    };
    let tapped = m.forward_taps(&x, false, &taps).logits;
    assert!(plain.equal(&tapped));
}

#[test]
fn substituted_parameters_replace_the_stored_ones() {
    tch::manual_seed(4);
    let m = build("lenet5-half");
    let x = input("lenet5-half");
    // Substituting the model's own tensors changes nothing.
    let own: Params = m.store.named_parameters().into_iter().collect();
    assert!(m
        .forward(&x, false)
        .equal(&m.forward_with(&x, false, &own, &Taps::none()).logits));
    // Substituting a zero classifier gives zero logits, and leaves the model as it was.
    let mut zero = Params::new();
    zero.insert(
        "fc2.weight".into(),
        Tensor::zeros([10, 42], tch::kind::FLOAT_CPU),
    );
    zero.insert("fc2.bias".into(), Tensor::zeros([10], tch::kind::FLOAT_CPU));
    let out = m.forward_with(&x, false, &zero, &Taps::none()).logits;
    assert_eq!(out.abs().sum(Kind::Float).double_value(&[]), 0.0);
    assert!(
        m.forward(&x, false)
            .abs()
            .sum(Kind::Float)
            .double_value(&[])
            > 0.0
    );
}

#[test]
fn gradients_flow_through_substituted_parameters_to_the_originals() {
    // The meta update's inner step: theta' = theta - a * grad L(theta), with
    // the graph kept, then a loss at theta' differentiated w.r.t. theta.
    tch::manual_seed(5);
    let m = build("lenet5-half");
    let x = input("lenet5-half");
    let named = m.store.named_parameters();
    let params: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
    let inner = m.forward(&x, true).square().mean(Kind::Float);
    let grads = Tensor::run_backward(&[&inner], &params, true, true);
    let alpha = 0.1;
    let stepped: Params = named
        .iter()
        .zip(&grads)
        .map(|((n, p), g)| (n.clone(), p - g * alpha))
        .collect();
    let outer = m
        .forward_with(&x, true, &stepped, &Taps::none())
        .logits
        .sum(Kind::Float);
    let meta = Tensor::run_backward(&[&outer], &params, false, false);
    let fc2 = named.iter().position(|(n, _)| n == "fc2.weight").unwrap();
    let g_meta = &meta[fc2];
    assert_eq!(g_meta.size(), [10, 42]);
    assert!(g_meta.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // Finite-difference check on one weight of the full composition.
    let f = |delta: f64| -> f64 {
        tch::no_grad(|| {
            let w = &params[fc2];
            let _ = w.shallow_clone().get(0).get(0).g_add_scalar_(delta);
        });
        let params_now: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
        let inner = m.forward(&x, true).square().mean(Kind::Float);
        let grads = Tensor::run_backward(&[&inner], &params_now, false, false);
        let stepped: Params = named
            .iter()
            .zip(&grads)
            .map(|((n, p), g)| (n.clone(), (p - g * alpha).detach()))
            .collect();
        let v = tch::no_grad(|| {
            m.forward_with(&x, true, &stepped, &Taps::none())
                .logits
                .sum(Kind::Float)
                .double_value(&[])
        });
        tch::no_grad(|| {
            let _ = params[fc2]
                .shallow_clone()
                .get(0)
                .get(0)
                .g_add_scalar_(-delta);
        });
        v
    };
    let h = 1e-2;
    let numeric = (f(h) - f(-h)) / (2.0 * h);
    let analytic = g_meta.get(0).get(0).double_value(&[]);
    assert!(
        (numeric - analytic).abs() < 1e-2 * analytic.abs().max(1.0),
        "meta-gradient {analytic} vs finite difference {numeric}"
    );
}

#[test]
fn unknown_architectures_and_wrong_input_sizes_are_errors() {
    let e = zoo::build("resnet99", 10, [3, 32, 32])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown architecture 'resnet99'") && e.contains("resnet56"),
        "{e}"
    );
    let e = zoo::build("lenet5", 10, [1, 28, 28])
        .unwrap_err()
        .to_string();
    assert!(e.contains("lenet5 takes 1x32x32"), "{e}");
    assert_eq!(zoo::arch("WRN-40-2").unwrap().name, "wrn40-2");
}
