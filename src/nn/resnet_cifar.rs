//! He et al.'s CIFAR ResNet-20/32/44/56 with the parameter-free "option A"
//! shortcut, in the naming of the widely used pytorch_resnet_cifar10
//! (`conv1`, `bn1`, `layer1..3`, `linear`), so its published weights load.
//!
//! Tap points: `conv1` (stem output after BN and ReLU), `layer1`..`layer3`.
//! The penultimate feature is the globally pooled 64-d vector.

use super::forward::Ctx;
use super::layers::{BatchNorm2d, Conv2d, ConvCfg, Linear};
use super::model::Network;
use super::store::{join, Store};
use tch::Tensor;

fn conv3x3(store: &mut Store, prefix: &str, cin: i64, cout: i64, stride: i64) -> Conv2d {
    let cfg = ConvCfg {
        stride,
        padding: 1,
        bias: false,
    };
    Conv2d::new(store, prefix, cin, cout, 3, cfg)
}

struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    /// Option A: subsample by 2 and zero-pad `planes/4` channels on each side.
    pad_shortcut: Option<i64>,
}

impl BasicBlock {
    fn new(store: &mut Store, p: &str, cin: i64, planes: i64, stride: i64) -> Self {
        let conv1 = conv3x3(store, &join(p, "conv1"), cin, planes, stride);
        let bn1 = BatchNorm2d::new(store, &join(p, "bn1"), planes);
        let conv2 = conv3x3(store, &join(p, "conv2"), planes, planes, 1);
        let bn2 = BatchNorm2d::new(store, &join(p, "bn2"), planes);
        Self {
            conv1,
            bn1,
            conv2,
            bn2,
            pad_shortcut: (stride != 1 || cin != planes).then_some(planes / 4),
        }
    }

    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let out = self.conv1.forward(x, ctx);
        let out = self.bn1.forward(&out, ctx).relu();
        let out = self.conv2.forward(&out, ctx);
        let out = self.bn2.forward(&out, ctx);
        let short = match self.pad_shortcut {
            Some(pad) => x
                .slice(2, 0, None, 2)
                .slice(3, 0, None, 2)
                .constant_pad_nd([0, 0, 0, 0, pad, pad]),
            None => x.shallow_clone(),
        };
        (out + short).relu()
    }
}

pub struct ResNetCifar {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layers: Vec<Vec<BasicBlock>>,
    linear: Linear,
}

impl ResNetCifar {
    /// `depth` = 6n + 2: 20, 32, 44, 56 (n = 3, 5, 7, 9 blocks per stage).
    pub fn new(store: &mut Store, in_channels: i64, num_classes: i64, depth: usize) -> Self {
        let n = (depth - 2) / 6;
        let conv1 = conv3x3(store, "conv1", in_channels, 16, 1);
        let bn1 = BatchNorm2d::new(store, "bn1", 16);
        let mut cin = 16;
        let mut layers = Vec::new();
        for (s, &planes) in [16i64, 32, 64].iter().enumerate() {
            let first_stride = if s == 0 { 1 } else { 2 };
            let stage = (0..n)
                .map(|b| {
                    let stride = if b == 0 { first_stride } else { 1 };
                    let block =
                        BasicBlock::new(store, &format!("layer{}.{b}", s + 1), cin, planes, stride);
                    cin = planes;
                    block
                })
                .collect();
            layers.push(stage);
        }
        let linear = Linear::new(store, "linear", 64, num_classes);
        Self {
            conv1,
            bn1,
            layers,
            linear,
        }
    }
}

impl Network for ResNetCifar {
    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let out = self.conv1.forward(x, ctx);
        let mut out = self.bn1.forward(&out, ctx).relu();
        ctx.tap("conv1", &out);
        for (s, stage) in self.layers.iter().enumerate() {
            for block in stage {
                out = block.forward(&out, ctx);
            }
            ctx.tap(&format!("layer{}", s + 1), &out);
        }
        let k = out.size()[3];
        let features = out
            .avg_pool2d([k, k], [k, k], [0, 0], false, true, None)
            .flatten(1, -1);
        ctx.features(&features);
        self.linear.forward(&features, ctx)
    }
}
