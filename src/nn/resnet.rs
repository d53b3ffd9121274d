//! ResNet-18/34 in the layout the DFKD papers use (kuangliu's CIFAR ResNet:
//! 3x3 stem, no max-pool, 4x4 average pool, `linear` 512 -> classes), the
//! teacher/student pair of DAFL, DFAD, CMI and PRE-DFKD.
//!
//! Tap points: `conv1` (stem output after BN and ReLU), `layer1`..`layer4`.
//! The penultimate feature is the pooled 512-d vector.

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
    /// 1x1 projection (`shortcut.0`, `shortcut.1`) where the shape changes.
    shortcut: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    fn new(store: &mut Store, p: &str, cin: i64, cout: i64, stride: i64) -> Self {
        let conv1 = conv3x3(store, &join(p, "conv1"), cin, cout, stride);
        let bn1 = BatchNorm2d::new(store, &join(p, "bn1"), cout);
        let conv2 = conv3x3(store, &join(p, "conv2"), cout, cout, 1);
        let bn2 = BatchNorm2d::new(store, &join(p, "bn2"), cout);
        let shortcut = (stride != 1 || cin != cout).then(|| {
            let cfg = ConvCfg {
                stride,
                padding: 0,
                bias: false,
            };
            (
                Conv2d::new(store, &join(p, "shortcut.0"), cin, cout, 1, cfg),
                BatchNorm2d::new(store, &join(p, "shortcut.1"), cout),
            )
        });
        Self {
            conv1,
            bn1,
            conv2,
            bn2,
            shortcut,
        }
    }

    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let out = self.conv1.forward(x, ctx);
        let out = self.bn1.forward(&out, ctx).relu();
        let out = self.conv2.forward(&out, ctx);
        let out = self.bn2.forward(&out, ctx);
        let short = match &self.shortcut {
            Some((conv, bn)) => {
                let s = conv.forward(x, ctx);
                bn.forward(&s, ctx)
            }
            None => x.shallow_clone(),
        };
        (out + short).relu()
    }
}

pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layers: Vec<Vec<BasicBlock>>,
    linear: Linear,
}

impl ResNet {
    /// `blocks` per stage: [2,2,2,2] is ResNet-18, [3,4,6,3] ResNet-34.
    pub fn new(store: &mut Store, in_channels: i64, num_classes: i64, blocks: [usize; 4]) -> Self {
        let conv1 = conv3x3(store, "conv1", in_channels, 64, 1);
        let bn1 = BatchNorm2d::new(store, "bn1", 64);
        let mut cin = 64;
        let mut layers = Vec::new();
        for (s, (&n, &cout)) in blocks.iter().zip([64i64, 128, 256, 512].iter()).enumerate() {
            let first_stride = if s == 0 { 1 } else { 2 };
            let stage = (0..n)
                .map(|b| {
                    let stride = if b == 0 { first_stride } else { 1 };
                    let block =
                        BasicBlock::new(store, &format!("layer{}.{b}", s + 1), cin, cout, stride);
                    cin = cout;
                    block
                })
                .collect();
            layers.push(stage);
        }
        let linear = Linear::new(store, "linear", 512, num_classes);
        Self {
            conv1,
            bn1,
            layers,
            linear,
        }
    }
}

impl Network for ResNet {
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
        let features = out
            .avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None)
            .flatten(1, -1);
        ctx.features(&features);
        self.linear.forward(&features, ctx)
    }
}
