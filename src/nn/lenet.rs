//! LeNet-5 and LeNet-5-half as DAFL and DFAD define them (32x32 input, no
//! padding; "half" halves every width: 6/16/120/84 -> 3/8/60/42), and
//! LeNet-5-BN: LeNet-5 with a BatchNorm after each convolution (`bn1..3`,
//! before the ReLU), the smallest teacher the BatchNorm-statistics methods
//! (DeepInversion, CMI) can invert.
//!
//! Tap points: `conv1`, `conv2`, `conv3` (convolution outputs before ReLU,
//! DAFL's `activation1..3`), `fc1` (before ReLU). The penultimate feature is
//! the flattened `conv3` activation (120-d, 60-d for the half net).

use super::forward::Ctx;
use super::layers::{BatchNorm2d, Conv2d, ConvCfg, Linear};
use super::model::Network;
use super::store::Store;
use tch::Tensor;

pub struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    /// `bn1..3` for LeNet-5-BN.
    bns: Option<[BatchNorm2d; 3]>,
    fc1: Linear,
    fc2: Linear,
    width: i64,
}

impl LeNet5 {
    /// `half` selects LeNet-5-half, `bn` LeNet-5-BN.
    pub fn new(
        store: &mut Store,
        in_channels: i64,
        num_classes: i64,
        half: bool,
        bn: bool,
    ) -> Self {
        let [c1, c2, c3, f1] = if half {
            [3, 8, 60, 42]
        } else {
            [6, 16, 120, 84]
        };
        let conv1 = Conv2d::new(store, "conv1", in_channels, c1, 5, ConvCfg::default());
        let conv2 = Conv2d::new(store, "conv2", c1, c2, 5, ConvCfg::default());
        let conv3 = Conv2d::new(store, "conv3", c2, c3, 5, ConvCfg::default());
        let bns = bn.then(|| {
            [
                BatchNorm2d::new(store, "bn1", c1),
                BatchNorm2d::new(store, "bn2", c2),
                BatchNorm2d::new(store, "bn3", c3),
            ]
        });
        Self {
            conv1,
            conv2,
            conv3,
            bns,
            fc1: Linear::new(store, "fc1", c3, f1),
            fc2: Linear::new(store, "fc2", f1, num_classes),
            width: c3,
        }
    }
}

impl LeNet5 {
    /// Convolution `i` (0-based), then its BatchNorm when the net has one.
    fn conv(&self, i: usize, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let a = [&self.conv1, &self.conv2, &self.conv3][i].forward(x, ctx);
        match &self.bns {
            Some(bns) => bns[i].forward(&a, ctx),
            None => a,
        }
    }
}

impl Network for LeNet5 {
    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        let a1 = self.conv(0, x, ctx);
        ctx.tap("conv1", &a1);
        let h = a1.relu().max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        let a2 = self.conv(1, &h, ctx);
        ctx.tap("conv2", &a2);
        let h = a2.relu().max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        let a3 = self.conv(2, &h, ctx);
        ctx.tap("conv3", &a3);
        let features = a3.relu().reshape([-1, self.width]);
        ctx.features(&features);
        let a4 = self.fc1.forward(&features, ctx);
        ctx.tap("fc1", &a4);
        self.fc2.forward(&a4.relu(), ctx)
    }
}
