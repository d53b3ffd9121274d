//! Checkpoints: safetensors with PyTorch's parameter names plus metadata
//! (architecture, classes, input shape, normalisation), written atomically.
//!
//! A student saved here loads in PyTorch with `load_state_dict` on the same
//! architecture; a PyTorch state dict saved with `safetensors.torch.save_file`
//! loads here given `--arch` and its normalisation.

use crate::data::Normalization;
use crate::nn::{script, zoo, Model, Store};
use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// What a model checkpoint says about its model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    pub arch: String,
    pub num_classes: i64,
    pub input_shape: [i64; 3],
    pub normalization: Normalization,
    /// The dataset the teacher was trained on, when known.
    pub dataset: Option<String>,
}

fn join_f64(v: &[f64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `a,b,c` as numbers; `what` names the field in errors.
pub fn parse_list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<T>()
                .map_err(|_| anyhow!("{what}: '{p}' is not a number"))
        })
        .collect()
}

impl ModelMeta {
    pub fn to_map(&self) -> HashMap<String, String> {
        let [c, h, w] = self.input_shape;
        let mut m = HashMap::from([
            ("format".to_string(), "pt".to_string()),
            (
                "producer".to_string(),
                format!("dfkd {}", env!("CARGO_PKG_VERSION")),
            ),
            ("arch".to_string(), self.arch.clone()),
            ("num_classes".to_string(), self.num_classes.to_string()),
            ("input_shape".to_string(), format!("{c},{h},{w}")),
            ("mean".to_string(), join_f64(&self.normalization.mean)),
            ("std".to_string(), join_f64(&self.normalization.std)),
        ]);
        if let Some(d) = &self.dataset {
            m.insert("dataset".to_string(), d.clone());
        }
        m
    }

    /// `None` when the map carries no dfkd model metadata (a foreign file,
    /// whose own keys are not interpreted).
    pub fn from_map(m: &HashMap<String, String>) -> Result<Option<Self>> {
        if !m.get("producer").is_some_and(|p| p.starts_with("dfkd")) {
            return Ok(None);
        }
        let Some(arch) = m.get("arch") else {
            bail!("metadata lacks 'arch'");
        };
        let get = |k: &str| m.get(k).ok_or_else(|| anyhow!("metadata lacks '{k}'"));
        let shape: Vec<i64> = parse_list(get("input_shape")?, "input_shape")?;
        let Ok(input_shape) = <[i64; 3]>::try_from(shape) else {
            bail!("metadata input_shape must have three numbers");
        };
        let num_classes = get("num_classes")?
            .parse()
            .map_err(|_| anyhow!("metadata num_classes is not a number"))?;
        Ok(Some(Self {
            arch: arch.clone(),
            num_classes,
            input_shape,
            normalization: Normalization::new(
                parse_list(get("mean")?, "mean")?,
                parse_list(get("std")?, "std")?,
            ),
            dataset: m.get("dataset").cloned(),
        }))
    }
}

/// The tensors and metadata of one safetensors file.
pub struct Checkpoint {
    pub path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

fn describe(e: SafeTensorError) -> String {
    match e {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeader
        | SafeTensorError::InvalidHeaderStart
        | SafeTensorError::InvalidHeaderDeserialization
        | SafeTensorError::HeaderTooLarge
        | SafeTensorError::InvalidHeaderLength => "not a safetensors file".to_string(),
        SafeTensorError::MetadataIncompleteBuffer
        | SafeTensorError::InvalidOffset(_)
        | SafeTensorError::TensorInvalidInfo => "truncated or corrupt safetensors file".to_string(),
        other => format!("unreadable safetensors file ({other:?})"),
    }
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

impl Checkpoint {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| anyhow!("{}: {}", path.display(), describe(e)))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| anyhow!("{}: {}", path.display(), describe(e)))?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let Some(kind) = kind_of(view.dtype()) else {
                bail!(
                    "{}: tensor '{name}' has unsupported type {:?}",
                    path.display(),
                    view.dtype()
                );
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            tensors.insert(name, Tensor::from_data_size(view.data(), &shape, kind));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            metadata: header.metadata().clone().unwrap_or_default(),
        })
    }

    /// The metadata value under `key`, parsed; an error naming the file when
    /// it is missing or does not parse.
    pub fn metadata_value<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        self.metadata
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("{}: metadata lacks '{key}'", self.path.display()))
    }

    pub fn model_meta(&self) -> Result<Option<ModelMeta>> {
        ModelMeta::from_map(&self.metadata).with_context(|| format!("{}", self.path.display()))
    }

    /// Copies the file's tensors into `store`. Every entry must be present
    /// with the same shape; tensors the architecture lacks are an error
    /// (BatchNorm's `num_batches_tracked` counters excepted). `what` describes
    /// the model in messages, e.g. "resnet20 with 10 classes".
    pub fn load_into(&self, store: &Store, what: &str) -> Result<()> {
        let file = self.path.display();
        for e in store.entries() {
            let Some(src) = self.tensors.get(&e.name) else {
                bail!("{file}: missing tensor '{}' (needed by {what})", e.name);
            };
            if src.size() != e.tensor.size() {
                bail!(
                    "{file}: tensor '{}' has shape {:?}, but {what} expects {:?}",
                    e.name,
                    src.size(),
                    e.tensor.size()
                );
            }
        }
        let known: std::collections::HashSet<&str> =
            store.entries().iter().map(|e| e.name.as_str()).collect();
        let mut extra: Vec<&String> = self
            .tensors
            .keys()
            .filter(|k| !known.contains(k.as_str()) && !k.ends_with("num_batches_tracked"))
            .collect();
        extra.sort();
        if let Some(k) = extra.first() {
            bail!(
                "{file}: unexpected tensor '{k}' ({} in all) that {what} does not have; is this a checkpoint of another architecture?",
                extra.len()
            );
        }
        tch::no_grad(|| {
            for e in store.entries() {
                let src = &self.tensors[&e.name];
                e.tensor
                    .shallow_clone()
                    .copy_(&src.to_kind(e.tensor.kind()));
            }
        });
        Ok(())
    }
}

/// The metadata of a safetensors file, reading its header only.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use std::io::Read;
    let bad = || anyhow!("{}: not a safetensors file", path.display());
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| bad())?;
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        return Err(bad());
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|_| bad())?;
    let v: serde_json::Value = serde_json::from_slice(&header).map_err(|_| bad())?;
    Ok(v.get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new
/// one, never a partial one: a temporary file beside it, synced, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file path", path.display()))?;
    let tmp = dir.join(temporary_name(&name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(&dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!("{}: cannot write: {e}", path.display())
    })
}

/// The temporary file [`write_atomic`] writes `name` through, in process `pid`.
fn temporary_name(name: &str, pid: u32) -> String {
    format!(".{name}.tmp{pid}")
}

/// Removes from `dir` the temporary files of writes that a killed process
/// never finished (they hold no committed data), so that a resumed run's
/// directory holds what an uninterrupted one does. Returns how many went.
pub fn remove_unfinished_writes(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let unfinished = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".tmp"))
            .is_some_and(|(file, pid)| {
                !file.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
            });
        if unfinished && entry.path().is_file() {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("{}: cannot remove", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Serialises named tensors (f32, or u8, i64, f64 as they are) with metadata.
pub fn to_safetensors(
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in tensors {
        let t = t.detach().contiguous();
        let (dtype, data) = match t.kind() {
            Kind::Int64 => (Dtype::I64, bytes_of::<i64>(&t)),
            Kind::Double => (Dtype::F64, bytes_of::<f64>(&t)),
            Kind::Uint8 => (Dtype::U8, bytes_of::<u8>(&t)),
            _ => (Dtype::F32, bytes_of::<f32>(&t.to_kind(Kind::Float))),
        };
        let shape = t.size().iter().map(|&d| d as usize).collect();
        owned.push((name.clone(), dtype, shape, data));
    }
    let views: Vec<(&str, TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            Ok((
                n.as_str(),
                TensorView::new(*d, s.clone(), b).map_err(|e| anyhow!("{e:?}"))?,
            ))
        })
        .collect::<Result<_>>()?;
    let bytes =
        safetensors::tensor::serialize(views, &Some(metadata)).map_err(|e| anyhow!("{e:?}"))?;
    Ok(canonical_header(bytes))
}

/// Rewrites the JSON header with sorted keys (the metadata arrives as a
/// `HashMap`), so the same tensors and metadata always give the same bytes.
/// Data offsets are relative to the end of the header and stay valid.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("own header");
    let mut json = serde_json::to_vec(&header).expect("json");
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

fn bytes_of<T: tch::kind::Element + Copy>(t: &Tensor) -> Vec<u8> {
    let n = t.numel();
    let mut v = vec![0u8; n * std::mem::size_of::<T>()];
    t.copy_data_u8(&mut v, n);
    v
}

/// Saves a model with its metadata.
pub fn save_model(path: &Path, model: &Model, meta: &ModelMeta) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = model
        .store
        .entries()
        .iter()
        .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
        .collect();
    write_atomic(path, &to_safetensors(&tensors, meta.to_map())?)
}

/// The model a checkpoint holds, with its metadata when it has some.
///
/// The architecture comes from `arch` or the metadata; the number of classes
/// from the metadata or the classifier layer's shape; the input shape from the
/// metadata or `input_hint`. A TorchScript file is a model of its own
/// architecture (see [`crate::nn::script`]).
pub fn load_model(
    path: &Path,
    arch: Option<&str>,
    input_hint: [i64; 3],
) -> Result<(Model, Option<ModelMeta>)> {
    if script::is_torchscript(path) {
        if let Some(a) = arch {
            bail!(
                "{}: a TorchScript module carries its own architecture; the architecture '{a}' does not apply",
                path.display()
            );
        }
        return script::load(path, input_hint);
    }
    let ck = Checkpoint::read(path)?;
    let meta = ck.model_meta()?;
    let arch_name = match (arch, &meta) {
        (Some(a), _) => a.to_string(),
        (None, Some(m)) => m.arch.clone(),
        (None, None) => bail!(
            "{}: no dfkd metadata names its architecture; pass --arch",
            path.display()
        ),
    };
    let info = zoo::arch(&arch_name)?;
    let num_classes = match &meta {
        Some(m) => m.num_classes,
        None => {
            let key = format!("{}.weight", info.classifier);
            match ck.tensors.get(&key) {
                Some(w) if w.dim() == 2 => w.size()[0],
                _ => bail!(
                    "{}: missing tensor '{key}' (the classifier of {}); is this a checkpoint of another architecture?",
                    path.display(),
                    info.name
                ),
            }
        }
    };
    let input_shape = meta.as_ref().map_or(input_hint, |m| m.input_shape);
    let model = zoo::build(info.name, num_classes, input_shape)
        .with_context(|| format!("{}", path.display()))?;
    ck.load_into(
        &model.store,
        &format!("{} with {num_classes} classes", info.name),
    )?;
    Ok((model, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_temporaries_of_unfinished_writes_are_removed() {
        let dir = std::env::temp_dir().join(format!("dfkd-unfinished-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir.join("done.safetensors"), b"kept").unwrap();
        let left = temporary_name("images-000003.safetensors", 4242);
        let others = [".hidden", "a.tmp1", ".x.tmpabc", ".tmp12"];
        for name in others.iter().copied().chain([left.as_str()]) {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        assert_eq!(remove_unfinished_writes(&dir).unwrap(), 1);
        assert!(!dir.join(&left).exists());
        for name in others.iter().chain(&["done.safetensors"]) {
            assert!(dir.join(name).exists(), "{name} was removed");
        }
        assert_eq!(remove_unfinished_writes(&dir.join("absent")).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
