//! Spectral normalisation against `torch.nn.utils.spectral_norm`: the same
//! seed draws the same weights and power-iteration vectors, and two training
//! forwards give the same outputs, vectors and weight gradients.

mod common;

use dfkd::nn::forward::{Ctx, Taps};
use dfkd::nn::layers::ConvCfg;
use dfkd::nn::spectral::SpectralConv2d;
use dfkd::nn::Store;
use tch::{Kind, Tensor};

#[test]
fn matches_pytorch_spectral_norm() {
    let Some(python) = common::venv_python("spectral norm vs PyTorch") else {
        return;
    };
    tch::manual_seed(3);
    let mut store = Store::new();
    let cfg = ConvCfg {
        stride: 1,
        padding: 1,
        bias: true,
    };
    let conv = SpectralConv2d::new(&mut store, "c", 5, 7, 3, cfg);
    let initial: Vec<(String, Tensor)> = store
        .entries()
        .iter()
        .map(|e| (format!("init/{}", e.name), e.tensor.detach().copy()))
        .collect();
    let x = Tensor::randn([4, 5, 6, 6], (Kind::Float, tch::Device::Cpu));
    let taps = Taps::none();
    let y1 = conv.forward(&x, &Ctx::new(true, None, &taps));
    let y2 = conv.forward(&x, &Ctx::new(true, None, &taps));
    let grad = Tensor::run_backward(
        &[(&y2 * &y2).sum(Kind::Float)],
        &[conv.weight_and_bias().0],
        false,
        false,
    );
    let mut io = initial;
    io.extend([
        ("x".to_string(), x),
        ("y1".to_string(), y1.detach()),
        ("y2".to_string(), y2.detach()),
        ("grad".to_string(), grad[0].contiguous()),
    ]);
    io.extend(
        store
            .entries()
            .iter()
            .map(|e| (format!("after/{}", e.name), e.tensor.detach().contiguous())),
    );
    common::python_check(&python, "spectral.py", &io);
}
