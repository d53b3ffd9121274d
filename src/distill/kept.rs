//! Kept samples: batches a run holds on to for later student steps (the
//! images model inversion synthesizes and the pool replay's past batches),
//! written to the run directory as shards.
//!
//! Each kept batch is one safetensors file, `RUN/samples/SERIES-NNNNNN.safetensors`
//! (one tensor `x`, so it opens in PyTorch with `safetensors.torch.load_file`),
//! written atomically when the batch is made. Rows are read back one by one
//! from the files (the operating system caches them), so a run may keep
//! more samples than memory holds. Images in pixel space are stored as the
//! official image pools store them: bytes, `floor(255 x)` of x clamped to
//! [0, 1] (what saving a PNG with `astype('uint8')` keeps); anything else as
//! float32.
//!
//! A run's resume state records how many shards were committed and each
//! one's digest; a resume checks them, so a missing, truncated or altered
//! shard is refused, and removes any shard an unfinished epoch left, which
//! the re-run of that epoch writes again, identically.

use crate::checkpoint::{to_safetensors, write_atomic};
use crate::data::transforms::crop_flip;
use crate::data::Normalization;
use crate::distill::run_dir::fnv1a;
use crate::state;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// How a shard stores its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Images in [0, 1], quantised to bytes.
    Pixels,
    /// float32, as given.
    Float,
}

impl Encoding {
    fn kind(self) -> Kind {
        match self {
            Encoding::Pixels => Kind::Uint8,
            Encoding::Float => Kind::Float,
        }
    }

    fn dtype(self) -> &'static str {
        match self {
            Encoding::Pixels => "U8",
            Encoding::Float => "F32",
        }
    }
}

struct Shard {
    file: File,
    rows: i64,
    /// Where the first row starts in the file.
    data_start: u64,
    digest: u64,
}

/// One series of shards.
pub struct Shards {
    dir: PathBuf,
    series: &'static str,
    encoding: Encoding,
    /// Shape of one row (e.g. C x H x W), fixed by the first shard.
    row_shape: Option<Vec<i64>>,
    shards: Vec<Shard>,
    /// Rows before each shard, and in all.
    starts: Vec<i64>,
    rows: i64,
}

impl Shards {
    /// An empty series `series` in `dir` (created on the first push).
    pub fn new(dir: &Path, series: &'static str, encoding: Encoding) -> Self {
        Self {
            dir: dir.to_path_buf(),
            series,
            encoding,
            row_shape: None,
            shards: Vec::new(),
            starts: Vec::new(),
            rows: 0,
        }
    }

    fn path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}-{i:06}.safetensors", self.series))
    }

    /// Rows kept.
    pub fn len(&self) -> i64 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Shards kept.
    pub fn count(&self) -> usize {
        self.shards.len()
    }

    fn row_bytes(&self) -> u64 {
        let n: i64 = self.row_shape.as_ref().map_or(0, |s| s.iter().product());
        n as u64 * self.encoding.kind().elt_size_in_bytes() as u64
    }

    /// Bytes of the kept rows.
    pub fn bytes(&self) -> u64 {
        self.rows as u64 * self.row_bytes()
    }

    /// Keeps `batch` (N x ...): pixels in [0, 1] or floats, as the series
    /// stores them.
    pub fn push(&mut self, batch: &Tensor) -> Result<()> {
        let x = batch.detach().to_kind(Kind::Float);
        let x = match self.encoding {
            Encoding::Pixels => (x.clamp(0.0, 1.0) * 255.0).floor().to_kind(Kind::Uint8),
            Encoding::Float => x,
        };
        let shape = x.size();
        let row_shape = shape[1..].to_vec();
        if let Some(s) = &self.row_shape {
            anyhow::ensure!(*s == row_shape, "kept rows change shape");
        }
        self.row_shape = Some(row_shape);
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("{}: cannot create", self.dir.display()))?;
        let bytes = to_safetensors(&[("x".to_string(), x)], HashMap::new())?;
        let path = self.path(self.shards.len());
        write_atomic(&path, &bytes)?;
        let shard = open(&path, fnv1a(&bytes), self.encoding, &self.row_shape)?;
        self.add(shard);
        Ok(())
    }

    fn add(&mut self, shard: Shard) {
        self.starts.push(self.rows);
        self.rows += shard.rows;
        self.shards.push(shard);
    }

    /// Rows `index` (into all kept rows, in the order kept) as float32:
    /// pixels back in [0, 1].
    pub fn rows(&self, index: &[i64]) -> Result<Tensor> {
        let row = self.row_bytes() as usize;
        let mut data = vec![0u8; row * index.len()];
        for (k, &i) in index.iter().enumerate() {
            anyhow::ensure!((0..self.rows).contains(&i), "kept row {i} of {}", self.rows);
            let s = self.starts.partition_point(|&st| st <= i) - 1;
            let shard = &self.shards[s];
            let at = shard.data_start + (i - self.starts[s]) as u64 * row as u64;
            shard
                .file
                .read_exact_at(&mut data[k * row..(k + 1) * row], at)
                .with_context(|| format!("{}: cannot read", self.path(s).display()))?;
        }
        let mut shape = vec![index.len() as i64];
        shape.extend(self.row_shape.as_deref().unwrap_or_default());
        let x = Tensor::from_data_size(&data, &shape, self.encoding.kind());
        Ok(match self.encoding {
            Encoding::Pixels => x.to_kind(Kind::Float) / 255.0,
            Encoding::Float => x,
        })
    }

    /// Rows in shard `i`.
    pub fn shard_rows(&self, i: usize) -> i64 {
        self.shards[i].rows
    }

    /// Every row of shard `i`, as [`Shards::rows`] returns them.
    pub fn shard(&self, i: usize) -> Result<Tensor> {
        let start = self.starts[i];
        let index: Vec<i64> = (start..start + self.shards[i].rows).collect();
        self.rows(&index)
    }

    /// The resume-state entry: each committed shard's digest, in order.
    pub fn state(&self, key: &str) -> (String, Tensor) {
        let digests: Vec<i64> = self.shards.iter().map(|s| s.digest as i64).collect();
        (key.to_string(), Tensor::from_slice(&digests))
    }

    /// Reopens the shards a resume state committed, checking each against
    /// its digest, and removes any later shard of the series.
    pub fn load_state(&mut self, key: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        let digests = Vec::<i64>::try_from(state::require(state, key)?)
            .map_err(|e| anyhow!("'{key}': {e}"))?;
        self.shards.clear();
        self.starts.clear();
        self.rows = 0;
        for (i, &want) in digests.iter().enumerate() {
            let path = self.path(i);
            let bytes = std::fs::read(&path).map_err(|e| {
                anyhow!(
                    "{}: {e}; the run's resume state counts {} {} shards",
                    path.display(),
                    digests.len(),
                    self.series
                )
            })?;
            if fnv1a(&bytes) != want as u64 {
                bail!(
                    "{}: truncated or corrupt (not the shard this run wrote); the run cannot resume past it",
                    path.display()
                );
            }
            let shard = open(&path, want as u64, self.encoding, &self.row_shape)?;
            if self.row_shape.is_none() {
                self.row_shape = Some(row_shape_of(&bytes, &path)?);
            }
            self.add(shard);
        }
        let mut i = digests.len();
        while self.path(i).exists() {
            std::fs::remove_file(self.path(i))
                .with_context(|| format!("{}: cannot remove", self.path(i).display()))?;
            i += 1;
        }
        Ok(())
    }
}

/// An image pool as the zju-vipa library's `ImagePool` + `DataIter`: kept
/// images (pixels) that student steps draw from in shuffled passes, each
/// draw with the training augmentation (random crop with 4 pixels of
/// padding and a horizontal flip) before normalisation. A new synthesis
/// restarts the pass over the grown pool, as a new `DataLoader` does; a pass
/// ends with a short batch when the pool does not divide into batches.
pub struct ImagePool {
    kept: Shards,
    norm: Normalization,
    augment: bool,
    /// The current pass: a permutation of the kept images, and how far it went.
    order: Vec<i64>,
    next: usize,
}

impl ImagePool {
    pub fn new(dir: &Path, norm: &Normalization, augment: bool) -> Self {
        Self {
            kept: Shards::new(dir, "images", Encoding::Pixels),
            norm: norm.clone(),
            augment,
            order: Vec::new(),
            next: 0,
        }
    }

    /// The latest batch kept, as it was made (without the augmentation of
    /// the student's draws), normalised; none before the first.
    pub fn latest(&self) -> Result<Option<Tensor>> {
        match self.kept.count() {
            0 => Ok(None),
            n => Ok(Some(self.norm.apply(&self.kept.shard(n - 1)?))),
        }
    }

    /// Keeps a batch of model inputs (normalised), stored as pixels.
    pub fn push(&mut self, inputs: &Tensor) -> Result<()> {
        self.push_pixels(&self.norm.invert(inputs))
    }

    /// Keeps a batch of images in [0, 1].
    pub fn push_pixels(&mut self, pixels: &Tensor) -> Result<()> {
        self.kept.push(pixels)?;
        self.order.clear();
        self.next = 0;
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.kept.bytes()
    }

    pub fn len(&self) -> i64 {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The next `n` images of the pass (fewer at its end), augmented and
    /// normalised.
    pub fn sample(&mut self, n: i64) -> Result<Tensor> {
        anyhow::ensure!(
            !self.kept.is_empty(),
            "nothing synthesized to sample from yet"
        );
        if self.next >= self.order.len() {
            self.order = Vec::try_from(Tensor::randperm(
                self.kept.len(),
                crate::device::host_int64(),
            ))
            .expect("int64");
            self.next = 0;
        }
        let end = (self.next + n as usize).min(self.order.len());
        let x = self.kept.rows(&self.order[self.next..end])?;
        self.next = end;
        let x = if self.augment { crop_flip(&x, 4) } else { x };
        Ok(self.norm.apply(&x))
    }

    /// `n` images drawn uniformly from those kept before the latest batch,
    /// augmented and normalised; none before a second batch is kept.
    pub fn memory(&mut self, n: i64) -> Result<Option<Tensor>> {
        let count = self.kept.count();
        if count < 2 {
            return Ok(None);
        }
        let older = self.kept.len() - self.kept.shard_rows(count - 1);
        let picks = Vec::<i64>::try_from(Tensor::randint(older, [n], crate::device::host_int64()))
            .expect("int64");
        let x = self.kept.rows(&picks)?;
        let x = if self.augment { crop_flip(&x, 4) } else { x };
        Ok(Some(self.norm.apply(&x)))
    }

    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            self.kept.state(&format!("{prefix}/images")),
            (format!("{prefix}/order"), Tensor::from_slice(&self.order)),
            (format!("{prefix}/next"), Tensor::from(self.next as i64)),
        ]
    }

    pub fn load_state(&mut self, prefix: &str, s: &HashMap<String, Tensor>) -> Result<()> {
        self.kept.load_state(&format!("{prefix}/images"), s)?;
        let get = |k: &str| state::require(s, &format!("{prefix}/{k}"));
        self.order = Vec::try_from(get("order")?).map_err(|e| anyhow!("{prefix}/order: {e}"))?;
        self.next = get("next")?.int64_value(&[]) as usize;
        Ok(())
    }
}

/// The header of a one-tensor safetensors file: its tensor's dtype, shape
/// and where its data starts.
fn header(bytes: &[u8], path: &Path) -> Result<(String, Vec<i64>, u64)> {
    let bad = || anyhow!("{}: not a shard of kept samples", path.display());
    let n = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let json = bytes.get(8..8 + n as usize).ok_or_else(bad)?;
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|_| bad())?;
    let x = v.get("x").ok_or_else(bad)?;
    let dtype = x["dtype"].as_str().ok_or_else(bad)?.to_string();
    let shape = x["shape"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|d| d.as_i64().ok_or_else(bad))
        .collect::<Result<Vec<i64>>>()?;
    let begin = x["data_offsets"][0].as_u64().ok_or_else(bad)?;
    Ok((dtype, shape, 8 + n + begin))
}

fn row_shape_of(bytes: &[u8], path: &Path) -> Result<Vec<i64>> {
    Ok(header(bytes, path)?.1[1..].to_vec())
}

/// Opens a shard whose bytes are known good, reading only its header.
fn open(path: &Path, digest: u64, encoding: Encoding, row: &Option<Vec<i64>>) -> Result<Shard> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let (dtype, shape, data_start) = header(&bytes, path)?;
    if dtype != encoding.dtype()
        || shape.is_empty()
        || row.as_ref().is_some_and(|r| r[..] != shape[1..])
    {
        bail!(
            "{}: holds {dtype} rows of shape {:?}, not this run's kept samples",
            path.display(),
            &shape[1.min(shape.len())..]
        );
    }
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    Ok(Shard {
        file,
        rows: shape[0],
        data_start,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dfkd-kept-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn rows_come_back_as_kept_and_a_resume_checks_every_shard() {
        let dir = scratch("rows");
        let mut kept = Shards::new(&dir, "images", Encoding::Pixels);
        let a = Tensor::rand([3, 1, 4, 4], crate::device::host_float());
        let b = Tensor::rand([2, 1, 4, 4], crate::device::host_float());
        kept.push(&a).unwrap();
        kept.push(&b).unwrap();
        assert_eq!((kept.len(), kept.count(), kept.bytes()), (5, 2, 5 * 16));
        let quantised = |x: &Tensor| (x * 255.0).floor() / 255.0;
        let got = kept.rows(&[4, 0, 3]).unwrap();
        let want = Tensor::cat(&[b.get(1), a.get(0), b.get(0)], 0).view([3, 1, 4, 4]);
        assert!(got.allclose(&quantised(&want), 1e-7, 1e-7, false));

        // A resume reopens the committed shards and drops a later one.
        let state: HashMap<String, Tensor> = [kept.state("k")].into_iter().collect();
        kept.push(&a).unwrap();
        let mut back = Shards::new(&dir, "images", Encoding::Pixels);
        back.load_state("k", &state).unwrap();
        assert_eq!(back.len(), 5);
        assert!(!back.path(2).exists());
        assert!(back.rows(&[4]).unwrap().equal(&kept.rows(&[4]).unwrap()));

        // An altered shard is refused, naming it.
        let p = back.path(1);
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let err = format!("{:#}", back.load_state("k", &state).unwrap_err());
        assert!(
            err.contains("images-000001.safetensors: truncated or corrupt"),
            "{err}"
        );
        std::fs::remove_file(&p).unwrap();
        let err = format!("{:#}", back.load_state("k", &state).unwrap_err());
        assert!(err.contains("counts 2 images shards"), "{err}");
    }

    #[test]
    fn the_latest_batch_comes_back_unaugmented() {
        let dir = scratch("latest");
        let norm = Normalization {
            mean: vec![0.5],
            std: vec![0.25],
        };
        let mut pool = ImagePool::new(&dir, &norm, true);
        assert!(pool.latest().unwrap().is_none());
        let pixels = |v: f64| Tensor::full([2, 1, 8, 8], v, crate::device::host_float());
        pool.push_pixels(&pixels(0.2)).unwrap();
        pool.push_pixels(&pixels(0.6)).unwrap();
        // Draws are cropped with zero padding; the latest batch is whole.
        let want = norm.apply(&((pixels(0.6) * 255.0).floor() / 255.0));
        assert!(pool
            .latest()
            .unwrap()
            .unwrap()
            .allclose(&want, 1e-6, 1e-6, false));
    }

    #[test]
    fn floats_are_kept_exactly() {
        let dir = scratch("floats");
        let mut kept = Shards::new(&dir, "pool", Encoding::Float);
        let a = Tensor::randn([4, 3], crate::device::host_float());
        kept.push(&a).unwrap();
        assert!(kept.shard(0).unwrap().equal(&a));
        assert_eq!(kept.bytes(), 4 * 3 * 4);
    }
}
