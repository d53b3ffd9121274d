//! A teacher of any architecture: a TorchScript module saved by the user's
//! own PyTorch.
//!
//! `python/dfkd_teacher.py` wraps the user's `nn.Module` so that its forward
//! returns, besides the logits, what the methods need: the penultimate
//! feature, the input statistics of every BatchNorm with its running
//! statistics, and the per-instance channel means of those inputs; its
//! `dfkd_meta()` says the class count, input shape, normalisation and the
//! BatchNorm layers' names. A plain scripted classifier (forward returns the
//! logits) also loads; it reports no taps, and the methods that need them
//! are refused before a run starts (see `Model::provides_features` and
//! `Model::batchnorm_layers`).
//!
//! The module runs as saved, in evaluation mode, with its weights frozen:
//! a teacher is never trained, and gradients still reach its input.

use super::forward::{BnStat, Ctx};
use super::model::{Model, ModelSpec, Network};
use super::store::Store;
use crate::checkpoint::ModelMeta;
use crate::data::Normalization;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use tch::{CModule, IValue, Tensor};

/// The architecture name of a model loaded from TorchScript.
pub const ARCH: &str = "torchscript";

/// What `python/dfkd_teacher.py` writes into `dfkd_meta()`.
#[derive(serde::Deserialize)]
struct Meta {
    format: String,
    num_classes: i64,
    input_shape: [i64; 3],
    mean: Vec<f64>,
    std: Vec<f64>,
    batchnorm: Vec<String>,
}

struct ScriptNet {
    module: CModule,
    /// Names of the BatchNorm layers, in the order the outputs give them;
    /// None for a plain classifier.
    batchnorm: Option<Vec<String>>,
}

/// Whether `path` holds a TorchScript archive (a zip file) rather than
/// safetensors; a file named `*.safetensors` is always read as safetensors.
pub fn is_torchscript(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "safetensors") {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|_| magic == *b"PK\x03\x04")
}

/// Loads a TorchScript classifier. `input_hint` is the input shape of a
/// plain classifier, whose file does not say it.
pub fn load(path: &Path, input_hint: [i64; 3]) -> Result<(Model, Option<ModelMeta>)> {
    let shown = path.display();
    let mut module = CModule::load_on_device(path, crate::device::run()).map_err(|e| {
        anyhow!(
            "{shown}: not a TorchScript module libtorch 2.11 can load: {}",
            first_line(&e.to_string())
        )
    })?;
    module.set_eval();
    // The store holds the module's own parameter tensors, so that they count
    // and freeze like any model's.
    let mut store = Store::new();
    for (name, p) in module
        .named_parameters()
        .map_err(|e| anyhow!("{shown}: {}", first_line(&e.to_string())))?
    {
        let _ = store.parameter(name, p);
    }
    store.set_trainable(false);
    let meta = match module.method_is::<IValue>("dfkd_meta", &[]) {
        Ok(IValue::String(s)) => {
            let m: Meta = serde_json::from_str(&s)
                .with_context(|| format!("{shown}: dfkd_meta() is not dfkd's JSON"))?;
            if m.format != "dfkd-teacher/1" {
                bail!("{shown}: teacher format '{}' is not dfkd-teacher/1; save it again with python/dfkd_teacher.py", m.format);
            }
            Some(m)
        }
        _ => None,
    };
    let input_shape = meta.as_ref().map_or(input_hint, |m| m.input_shape);
    let net = ScriptNet {
        module,
        batchnorm: meta.as_ref().map(|m| m.batchnorm.clone()),
    };
    let [c, h, w] = input_shape;
    let probe = Tensor::zeros([2, c, h, w], crate::device::float());
    let logits = tch::no_grad(|| net.run(&probe)).map_err(|e| {
        let hint = if meta.is_none() {
            " (if its inputs have another shape, pass --teacher-input C,H,W)"
        } else {
            ""
        };
        anyhow!(
            "{shown}: running it on a batch of 2 x {c} x {h} x {w} failed{hint}: {}",
            first_line(&e.to_string())
        )
    })?;
    let size = logits.logits.size();
    if size.len() != 2 || size[0] != 2 || size[1] < 2 {
        bail!("{shown}: forward returns a tensor of shape {size:?}, not (batch, classes) logits; is it a classifier?");
    }
    let num_classes = size[1];
    let model_meta = match &meta {
        Some(m) => {
            if m.num_classes != num_classes {
                bail!(
                    "{shown}: dfkd_meta() says {} classes, forward gives {num_classes}",
                    m.num_classes
                );
            }
            Some(ModelMeta {
                arch: ARCH.into(),
                num_classes,
                input_shape,
                normalization: Normalization {
                    mean: m.mean.clone(),
                    std: m.std.clone(),
                },
                dataset: None,
            })
        }
        None => None,
    };
    let model = Model {
        spec: ModelSpec {
            arch: ARCH.into(),
            num_classes,
            input_shape,
        },
        store,
        net: Box::new(net),
    };
    Ok((model, model_meta))
}

/// The sentence of a libtorch error that says what went wrong: the
/// Python-style exception a TorchScript interpreter reports, else the first
/// line; without the advice that follows it.
fn first_line(s: &str) -> &str {
    let lines = || s.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines()
        .rfind(|l| l.contains("Error: "))
        .or_else(|| lines().next())
        .unwrap_or(s);
    line.split_once(". ").map_or(line, |(first, _)| first)
}

/// One forward pass's outputs.
struct Outputs {
    logits: Tensor,
    feature: Option<Tensor>,
    /// Per BatchNorm: batch mean, variance, running mean, running variance,
    /// per-instance means.
    batchnorm: Vec<[Tensor; 5]>,
}

impl ScriptNet {
    fn run(&self, x: &Tensor) -> Result<Outputs> {
        let out = self
            .module
            .forward_is(&[IValue::Tensor(x.shallow_clone())])?;
        match (out, &self.batchnorm) {
            (IValue::Tensor(logits), None) => Ok(Outputs {
                logits,
                feature: None,
                batchnorm: Vec::new(),
            }),
            (IValue::Tuple(v), Some(names)) if v.len() == 7 => {
                let mut it = v.into_iter();
                let logits = tensor(it.next().unwrap())?;
                let feature = tensor(it.next().unwrap())?;
                let lists: Vec<Vec<Tensor>> = it.map(tensors).collect::<Result<_>>()?;
                if lists.iter().any(|l| l.len() != names.len()) {
                    bail!("forward gives BatchNorm statistics for another number of layers than dfkd_meta() names");
                }
                let batchnorm = (0..names.len())
                    .map(|i| std::array::from_fn(|k| lists[k][i].shallow_clone()))
                    .collect();
                Ok(Outputs {
                    logits,
                    feature: Some(feature),
                    batchnorm,
                })
            }
            _ => bail!("forward returns neither logits nor the outputs of python/dfkd_teacher.py"),
        }
    }
}

fn tensor(v: IValue) -> Result<Tensor> {
    match v {
        IValue::Tensor(t) => Ok(t),
        _ => bail!("expected a tensor"),
    }
}

fn tensors(v: IValue) -> Result<Vec<Tensor>> {
    match v {
        IValue::TensorList(l) => Ok(l),
        IValue::GenericList(l) => l.into_iter().map(tensor).collect(),
        _ => bail!("expected a list of tensors"),
    }
}

impl Network for ScriptNet {
    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Tensor {
        // Checked on a probe batch at load; a failure now is libtorch's.
        let out = self
            .run(x)
            .unwrap_or_else(|e| panic!("TorchScript teacher: {e:#}"));
        if let Some(f) = &out.feature {
            ctx.features(f);
        }
        let names = self.batchnorm.as_deref().unwrap_or_default();
        for (name, [mean, var, running_mean, running_var, means]) in names.iter().zip(out.batchnorm)
        {
            if ctx.wants_bn_stats() {
                ctx.record_bn(BnStat {
                    name: name.clone(),
                    mean,
                    var,
                    running_mean,
                    running_var,
                });
            }
            if ctx.wants_bn_means() {
                ctx.record_bn_mean(means);
            }
        }
        out.logits
    }
}
