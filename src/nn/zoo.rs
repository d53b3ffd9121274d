//! Architecture names and their builders.

use super::lenet::LeNet5;
use super::model::{Model, ModelSpec, Network};
use super::resnet::ResNet;
use super::resnet_cifar::ResNetCifar;
use super::store::Store;
use super::wrn::WideResNet;
use anyhow::{bail, Result};

/// One architecture of the zoo.
pub struct Arch {
    pub name: &'static str,
    pub about: &'static str,
    /// Name prefix of the classifier layer (its weight is `[classes, features]`).
    pub classifier: &'static str,
    /// Layer names a forward pass can record.
    pub tap_points: &'static [&'static str],
    /// Input height and width the architecture requires, if fixed.
    pub fixed_size: Option<i64>,
}

const LENET_TAPS: &[&str] = &["conv1", "conv2", "conv3", "fc1"];
const RESNET_TAPS: &[&str] = &["conv1", "layer1", "layer2", "layer3", "layer4"];
const RESNET_CIFAR_TAPS: &[&str] = &["conv1", "layer1", "layer2", "layer3"];
const WRN_TAPS: &[&str] = &["conv1", "block1", "block2", "block3"];

pub const ARCHS: &[Arch] = &[
    Arch {
        name: "lenet5",
        about: "LeNet-5 (DAFL/DFAD MNIST teacher), 32x32 input",
        classifier: "fc2",
        tap_points: LENET_TAPS,
        fixed_size: Some(32),
    },
    Arch {
        name: "lenet5-bn",
        about: "LeNet-5 with BatchNorm after each convolution, 32x32 input",
        classifier: "fc2",
        tap_points: LENET_TAPS,
        fixed_size: Some(32),
    },
    Arch {
        name: "lenet5-half",
        about: "LeNet-5-half (DAFL/DFAD MNIST student), 32x32 input",
        classifier: "fc2",
        tap_points: LENET_TAPS,
        fixed_size: Some(32),
    },
    Arch {
        name: "resnet18",
        about: "CIFAR ResNet-18 (3x3 stem, no max-pool), the DFKD papers' student",
        classifier: "linear",
        tap_points: RESNET_TAPS,
        fixed_size: Some(32),
    },
    Arch {
        name: "resnet34",
        about: "CIFAR ResNet-34 (3x3 stem, no max-pool), the DFKD papers' teacher",
        classifier: "linear",
        tap_points: RESNET_TAPS,
        fixed_size: Some(32),
    },
    Arch {
        name: "resnet20",
        about: "He et al. CIFAR ResNet-20, option-A shortcut",
        classifier: "linear",
        tap_points: RESNET_CIFAR_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "resnet32",
        about: "He et al. CIFAR ResNet-32, option-A shortcut",
        classifier: "linear",
        tap_points: RESNET_CIFAR_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "resnet44",
        about: "He et al. CIFAR ResNet-44, option-A shortcut",
        classifier: "linear",
        tap_points: RESNET_CIFAR_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "resnet56",
        about: "He et al. CIFAR ResNet-56, option-A shortcut",
        classifier: "linear",
        tap_points: RESNET_CIFAR_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "wrn16-1",
        about: "Wide ResNet 16-1 (CMI/DataFree student)",
        classifier: "fc",
        tap_points: WRN_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "wrn16-2",
        about: "Wide ResNet 16-2 (CMI/DataFree student)",
        classifier: "fc",
        tap_points: WRN_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "wrn40-1",
        about: "Wide ResNet 40-1 (CMI/DataFree student)",
        classifier: "fc",
        tap_points: WRN_TAPS,
        fixed_size: None,
    },
    Arch {
        name: "wrn40-2",
        about: "Wide ResNet 40-2 (CMI/DataFree teacher)",
        classifier: "fc",
        tap_points: WRN_TAPS,
        fixed_size: None,
    },
];

/// Looks an architecture up by name (`wrn-16-1` and `wrn_16_1` are accepted
/// for `wrn16-1`, `lenet5_half` for `lenet5-half`).
pub fn arch(name: &str) -> Result<&'static Arch> {
    let canonical = name
        .to_ascii_lowercase()
        .replace('_', "-")
        .replace("wrn-", "wrn");
    match ARCHS.iter().find(|a| a.name == canonical) {
        Some(a) => Ok(a),
        None => bail!(
            "unknown architecture '{name}' (known: {})",
            ARCHS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A freshly initialised model of `model`'s architecture, classes and input
/// shape (a copy to hold other weights of the same network).
pub fn like(model: &Model) -> Result<Model> {
    let s = &model.spec;
    build(&s.arch, s.num_classes, s.input_shape)
}

/// Builds a freshly initialised model. The initialisation follows the
/// reference implementation of each family (PyTorch defaults; Kaiming-normal
/// for He et al.'s ResNets; the WRN scheme for wide ResNets).
pub fn build(name: &str, num_classes: i64, input_shape: [i64; 3]) -> Result<Model> {
    let arch = arch(name)?;
    let [c, h, w] = input_shape;
    if let Some(size) = arch.fixed_size {
        if h != size || w != size {
            bail!(
                "{} takes {c}x{size}x{size} inputs, not {c}x{h}x{w}",
                arch.name
            );
        }
    }
    if num_classes < 1 {
        bail!("a classifier needs at least one class, got {num_classes}");
    }
    let mut store = Store::new();
    let s = &mut store;
    let net: Box<dyn Network> = match arch.name {
        "lenet5" => Box::new(LeNet5::new(s, c, num_classes, false, false)),
        "lenet5-bn" => Box::new(LeNet5::new(s, c, num_classes, false, true)),
        "lenet5-half" => Box::new(LeNet5::new(s, c, num_classes, true, false)),
        "resnet18" => Box::new(ResNet::new(s, c, num_classes, [2, 2, 2, 2])),
        "resnet34" => Box::new(ResNet::new(s, c, num_classes, [3, 4, 6, 3])),
        "resnet20" | "resnet32" | "resnet44" | "resnet56" => {
            let depth = arch.name[6..].parse().expect("depth in the name");
            let net = ResNetCifar::new(s, c, num_classes, depth);
            kaiming_normal_fan_in(s);
            Box::new(net)
        }
        _ => {
            // "wrnD-K"
            let (d, k) = arch.name[3..].split_once('-').expect("wrnD-K");
            let net = WideResNet::new(s, c, num_classes, d.parse()?, k.parse()?);
            wrn_init(s);
            Box::new(net)
        }
    };
    Ok(Model {
        spec: ModelSpec {
            arch: arch.name.to_string(),
            num_classes,
            input_shape,
        },
        store,
        net,
    })
}

/// `init.kaiming_normal_` on every conv/linear weight, in module order.
fn kaiming_normal_fan_in(store: &Store) {
    tch::no_grad(|| {
        for (name, t) in store.named_parameters() {
            if name.ends_with("weight") && t.dim() >= 2 {
                let fan_in: i64 = t.size()[1..].iter().product();
                let std = 2f64.sqrt() / (fan_in as f64).sqrt();
                let _ = t.shallow_clone().normal_(0.0, std);
            }
        }
    });
}

/// The WRN scheme: conv weights N(0, sqrt(2 / (k*k*out))), linear bias 0.
fn wrn_init(store: &Store) {
    tch::no_grad(|| {
        for (name, t) in store.named_parameters() {
            if t.dim() == 4 {
                let s = t.size();
                let n = s[0] * s[2] * s[3];
                let _ = t.shallow_clone().normal_(0.0, (2.0 / n as f64).sqrt());
            } else if name == "fc.bias" {
                let _ = t.shallow_clone().zero_();
            }
        }
    });
}

impl Model {
    /// Checks that every requested layer tap exists in this architecture.
    pub fn check_taps(&self, layers: &[String]) -> Result<()> {
        if layers.is_empty() {
            return Ok(());
        }
        if self.spec.arch == super::script::ARCH {
            bail!(
                "a TorchScript teacher has no named tap points (asked for: {}); use the features, BatchNorm or logits taps",
                layers.join(", ")
            );
        }
        let arch = arch(&self.spec.arch)?;
        for l in layers {
            if !arch.tap_points.contains(&l.as_str()) {
                bail!(
                    "{} has no tap point '{l}' (it has: {})",
                    arch.name,
                    arch.tap_points.join(", ")
                );
            }
        }
        Ok(())
    }
}
