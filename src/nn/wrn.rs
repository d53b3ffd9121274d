//! Wide ResNets WRN-depth-k (pre-activation blocks), in the naming of the
//! CMI / DataFree benchmark (`conv1`, `blockN.layer.i.*`, `bn1`, `fc`): the
//! WRN-40-2 -> WRN-16-1 / WRN-40-1 / WRN-16-2 pairs of its tables.
//!
//! Tap points: `conv1`, `block1`..`block3`. The penultimate feature is the
//! pooled `64k`-d vector after the final BN and ReLU.

use super::forward::Ctx;
use super::layers::{BatchNorm2d, Conv2d, ConvCfg, Linear};
use super::model::Network;
use super::store::{join, Store};
use tch::Tensor;

fn conv(store: &mut Store, prefix: &str, cin: i64, cout: i64, k: i64, stride: i64) -> Conv2d {
    let cfg = ConvCfg {
        stride,
        padding: k / 2,
        bias: false,
    };
    Conv2d::new(store, prefix, cin, cout, k, cfg)
}

struct BasicBlock {
    bn1: BatchNorm2d,
    conv1: Conv2d,
    bn2: BatchNorm2d,
    conv2: Conv2d,
    /// 1x1 projection where the width changes (`convShortcut`).
    conv_shortcut: Option<Conv2d>,
}

impl BasicBlock {
    fn new(store: &mut Store, p: &str, cin: i64, cout: i64, stride: i64) -> Self {
        let bn1 = BatchNorm2d::new(store, &join(p, "bn1"), cin);
        let conv1 = conv(store, &join(p, "conv1"), cin, cout, 3, stride);
        let bn2 = BatchNorm2d::new(store, &join(p, "bn2"), cout);
        let conv2 = conv(store, &join(p, "conv2"), cout, cout, 3, 1);
        let conv_shortcut =
            (cin != cout).then(|| conv(store, &join(p, "convShortcut"), cin, cout, 1, stride));
        Self {
            bn1,
            conv1,
            bn2,
            conv2,
            conv_shortcut,
        }
    }

    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let act = self.bn1.forward(x, ctx).relu();
        let out = self.conv1.forward(&act, ctx);
        let out = self.bn2.forward(&out, ctx).relu();
        let out = self.conv2.forward(&out, ctx);
        // Where the width changes, the shortcut also starts from the
        // pre-activated input (as in the reference implementation).
        match &self.conv_shortcut {
            Some(c) => c.forward(&act, ctx) + out,
            None => x + out,
        }
    }
}

pub struct WideResNet {
    conv1: Conv2d,
    blocks: Vec<Vec<BasicBlock>>,
    bn1: BatchNorm2d,
    fc: Linear,
}

impl WideResNet {
    /// `depth` = 6n + 4, `k` the widening factor.
    pub fn new(
        store: &mut Store,
        in_channels: i64,
        num_classes: i64,
        depth: usize,
        k: i64,
    ) -> Self {
        let n = (depth - 4) / 6;
        let widths = [16, 16 * k, 32 * k, 64 * k];
        let conv1 = conv(store, "conv1", in_channels, widths[0], 3, 1);
        let blocks = (0..3)
            .map(|g| {
                let stride = if g == 0 { 1 } else { 2 };
                (0..n)
                    .map(|i| {
                        let cin = if i == 0 { widths[g] } else { widths[g + 1] };
                        let s = if i == 0 { stride } else { 1 };
                        let p = format!("block{}.layer.{i}", g + 1);
                        BasicBlock::new(store, &p, cin, widths[g + 1], s)
                    })
                    .collect()
            })
            .collect();
        let bn1 = BatchNorm2d::new(store, "bn1", widths[3]);
        let fc = Linear::new(store, "fc", widths[3], num_classes);
        Self {
            conv1,
            blocks,
            bn1,
            fc,
        }
    }
}

impl Network for WideResNet {
    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let mut out = self.conv1.forward(x, ctx);
        ctx.tap("conv1", &out);
        for (g, group) in self.blocks.iter().enumerate() {
            for block in group {
                out = block.forward(&out, ctx);
            }
            ctx.tap(&format!("block{}", g + 1), &out);
        }
        let out = self.bn1.forward(&out, ctx).relu();
        let features = out.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        ctx.features(&features);
        self.fc.forward(&features, ctx)
    }
}
