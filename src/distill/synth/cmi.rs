//! CMI, contrastive model inversion (Fang et al., IJCAI 2021; zju-vipa/CMI,
//! `datafree/synthesis/contrastive.py`).
//!
//! Every synthesis re-initialises a generator ([`CmiGenerator`], images in
//! [0, 1]) and optimises it together with its input codes z (Adam, betas
//! 0.5 / 0.999) for `steps` steps. With `reset = "none"` the generator is
//! initialised once and kept across syntheses (fresh codes and a fresh Adam
//! each time), as Fast-Datafree's generator without its meta step (Fang et
//! al., AAAI 2022), and with `reset = "first-layer"` only its first layer
//! (the map from the codes) is re-initialised, as Fast-Datafree's
//! `reset_l0`: each synthesis starts from layers that already make images
//! the teacher accepts, so far fewer steps make a usable batch. With
//! `reset = "meta"` the kept generator is Fast-Datafree's meta generator
//! (its `is_maml = 1`): each synthesis trains a copy of it, and it then
//! takes one Adam step (rate `lr` x `steps`, betas 0.5 / 0.999) along the
//! sum of the copy's gradients over the synthesis, first-order MAML, so it
//! learns a start from which few steps fit any codes and targets. As there,
//! the meta generator keeps PyTorch's default initialisation, and the codes
//! may have their own rate (`lr_z`). Fast-Datafree's `bn_mmt` is
//! `bn_momentum`: R_feature then compares the teacher's running statistics
//! with a blend of the batch's statistics and their moving average over
//! past syntheses, so a batch need only make up what earlier ones lacked.
//! Not built: Fast-Datafree's warm-up (its first epochs train the generator
//! alone, without the adversarial term) and its one-time first-layer reset
//! at epoch 120 + warm-up.
//!
//! A kept generator makes the classes its codes happen to map to, whatever
//! the random targets (the teacher's CE to them stays near 10 on the
//! Fashion-MNIST demo, and one class fills a third of a batch). With
//! `conditional = true` each code is noise plus a fixed random embedding of
//! its target class, so the kept generator learns to make the class it is
//! asked for, and `targets = "cycle"` asks for every class equally.
//!
//! Each step the images are seen in two views: a global one (random crop
//! with 4 pixels of padding + flip) and a local one (a random resized crop
//! of 25-100 % of the area + flip), both normalised for the teacher. The
//! loss:
//!
//! - inversion: `bn` R_feature and `oh` CE to the targets on the
//!   global view, and `adv` CMI's masked adversarial KL against the student
//!   (evaluation mode) on the same view;
//! - contrast (unless `cr` is 0): the teacher's features of a view are the per-instance
//!   channel means of the input of every BatchNorm layer (or of the outputs
//!   of `feature_layers`), concatenated; a projection head (d -> d -> 256,
//!   L2-normalised, with its own Adam, kept across syntheses) maps local and
//!   global features of the batch and of up to `negatives` entries of a
//!   feature bank (`bank_size` entries of past [local, global] features);
//!   each local projection must find its own global one (cross-entropy at
//!   temperature `cr_temperature`, weight `cr`).
//!
//! The images of the lowest-loss step join the image pool the student
//! learns from, and their features the bank. The bank is part of the
//! resume state, not shards: it is bounded by `bank_size` rows (666 MB on
//! the `cifar10` preset with ResNet-56's 2 x 2,032 BatchNorm features), so
//! the run directory holds only the rows a resume needs, where shards of
//! every synthesis would grow without bound (4.2 MB per epoch there). Only
//! its filled rows count as memory, as only they are allocated.

use super::inversion::{Best, Targets};
use super::{Plan, Synthesizer};
use crate::data::transforms::CropFlip;
use crate::data::Normalization;
use crate::distill::kept::ImagePool;
use crate::distill::parts::{Assembly, SynthSpec, SynthTraits};
use crate::distill::views::ResizedCrop;
use crate::distill::{losses, Batch, Losses, Models};
use crate::nn::cmi_generator::CmiGenerator;
use crate::nn::forward::Ctx;
use crate::nn::layers::Linear;
use crate::nn::store::tensor_bytes;
use crate::nn::{Output, Store, Taps};
use crate::optim::{OptimSpec, Optimizer};
use crate::state;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmiConfig {
    /// Images generated together in one synthesis.
    pub batch_size: i64,
    /// Optimisation steps per synthesis (`g_steps`).
    pub steps: usize,
    /// Adam rate of the generator, the codes and the head (`lr_g`).
    pub lr: f64,
    /// Adam rate of the codes (Fast-Datafree's `lr_z`); unset: `lr`.
    #[serde(default)]
    pub lr_z: Option<f64>,
    /// Size of the codes z and width of the generator.
    pub latent: i64,
    #[serde(default = "ngf")]
    pub ngf: i64,
    pub bn: f64,
    /// Weight of the past syntheses' moving average of BatchNorm statistics
    /// in R_feature's batch statistics, and that average's momentum
    /// (Fast-Datafree's `bn_mmt`; 0: the batch alone, as CMI).
    #[serde(default)]
    pub bn_momentum: f64,
    pub oh: f64,
    pub adv: f64,
    /// Weight and temperature of the contrastive term.
    pub cr: f64,
    pub cr_temperature: f64,
    /// Output size of the projection head.
    pub head_dim: i64,
    /// Entries of the feature bank, and negatives drawn from it per step.
    pub bank_size: i64,
    pub negatives: i64,
    /// Teacher tap points whose outputs give the features; empty: the
    /// input of every BatchNorm layer (the official default).
    #[serde(default)]
    pub feature_layers: Vec<String>,
    /// Student steps after each synthesis.
    pub student_steps: usize,
    /// Crop + flip on the images drawn for the student.
    #[serde(default = "yes")]
    pub augment: bool,
    /// What of the generator each synthesis re-initialises.
    #[serde(default)]
    pub reset: Reset,
    /// The classes a synthesis asks the teacher for: `random` (the
    /// official) or `cycle` (0, 1, ..., C-1, 0, ...: balanced).
    #[serde(default = "random")]
    pub targets: Targets,
    /// Codes that carry their target: each code is noise plus a fixed
    /// random embedding of its class (as NAYER's label embeddings, Tran et
    /// al., CVPR 2024), so a kept generator can learn to make the class it
    /// is asked for instead of the classes it happens to make.
    #[serde(default)]
    pub conditional: bool,
}

/// What of CMI's generator is re-initialised at every synthesis; what is
/// kept joins the resume state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reset {
    /// All of it (the official CMI).
    #[default]
    All,
    /// Its first layer, the map from the codes (Fast-Datafree's `reset_l0`).
    FirstLayer,
    /// Nothing: one generator for the whole run.
    None,
    /// Nothing, and the generator is a meta generator each synthesis
    /// starts from (Fast-Datafree's, first-order MAML).
    Meta,
}

impl Reset {
    /// Whether the generator's weights outlive a synthesis, so are
    /// initialised once and belong to the resume state.
    fn keeps_generator(self) -> bool {
        self != Reset::All
    }
}

fn ngf() -> i64 {
    64
}
fn random() -> Targets {
    Targets::Random
}
fn yes() -> bool {
    true
}

impl SynthSpec for CmiConfig {
    fn check(&self) -> Result<()> {
        if self.batch_size < 2 || self.steps == 0 || self.student_steps == 0 {
            bail!("batch_size (at least 2), steps and student_steps must be positive");
        }
        if self.latent < 1 || self.ngf < 1 || self.head_dim < 1 {
            bail!("latent, ngf and head_dim must be positive");
        }
        if self.bank_size < self.batch_size || self.bank_size % self.batch_size != 0 {
            bail!(
                "bank_size ({}) must be a multiple of batch_size ({}), as the official bank asserts",
                self.bank_size,
                self.batch_size
            );
        }
        if self.negatives < 0 || self.negatives > self.bank_size {
            bail!("negatives must be within 0..=bank_size");
        }
        if !(0.0..1.0).contains(&self.bn_momentum) {
            bail!("bn_momentum must be within [0, 1)");
        }
        if self.lr_z.is_some_and(|r| r <= 0.0) || self.lr <= 0.0 {
            bail!("lr and lr_z must be positive");
        }
        Ok(())
    }

    fn traits(&self) -> SynthTraits {
        SynthTraits {
            keeps_samples: true,
            // Its features default to the BatchNorm inputs, and bn weighs R_feature.
            needs_batchnorm: self.bn != 0.0 || self.feature_layers.is_empty(),
            latent: Some(self.latent),
            needs_features: false,
        }
    }

    fn build(&self, a: &Assembly) -> Result<Box<dyn Synthesizer>> {
        a.teacher
            .check_taps(&self.feature_layers)
            .context("synth.feature_layers ([] takes the BatchNorm inputs)")?;
        let taps = self.feature_taps();
        let probe = a.teacher.probe(&taps);
        let dim = self.features(&probe).size()[1];
        let shape = a.teacher.spec.input_shape;
        let generator = CmiGenerator::new(self.latent, self.ngf, shape);
        let meta = (self.reset == Reset::Meta).then(|| {
            let generator = CmiGenerator::new(self.latent, self.ngf, shape);
            let opt = OptimSpec::Adam {
                lr: self.lr * self.steps as f64,
                betas: (0.5, 0.999),
                weight_decay: 0.0,
            }
            .build(generator.store.parameters());
            MetaGenerator { generator, opt }
        });
        if matches!(self.reset, Reset::None | Reset::FirstLayer) {
            // Initialised once, as every synthesis would be otherwise.
            generator.reset();
        }
        let head = Head::new(dim, self.head_dim);
        let head_opt = OptimSpec::adam(self.lr).build(head.store.parameters());
        Ok(Box::new(CmiSynth {
            cfg: self.clone(),
            norm: a.norm.clone(),
            classes: a.teacher.spec.num_classes,
            generator,
            meta,
            bn_past: Vec::new(),
            class_codes: self.conditional.then(|| {
                Tensor::randn(
                    [a.teacher.spec.num_classes, self.latent],
                    crate::device::float(),
                )
            }),
            head,
            head_opt,
            bank: Bank::new(self.bank_size, 2 * dim),
            pool: ImagePool::new(a.samples, a.norm, self.augment),
            taps,
        }))
    }
}

impl CmiConfig {
    fn feature_taps(&self) -> Taps {
        if self.feature_layers.is_empty() {
            Taps::bn_means()
        } else {
            Taps::layers(&self.feature_layers)
        }
    }

    /// A view's features: the concatenated per-instance channel means.
    fn features(&self, out: &Output) -> Tensor {
        if self.feature_layers.is_empty() {
            Tensor::cat(&out.bn_means, 1)
        } else {
            let means: Vec<Tensor> = self
                .feature_layers
                .iter()
                .map(|l| {
                    out.layer(l)
                        .expect("tapped")
                        .mean_dim([2i64, 3].as_slice(), false, Kind::Float)
                })
                .collect();
            Tensor::cat(&means, 1)
        }
    }
}

/// CMI's projection head, `MLPHead(d, head_dim)`: Linear(d, d) -> ReLU ->
/// Linear(d, head_dim), L2-normalised rows.
pub struct Head {
    pub store: Store,
    l1: Linear,
    l2: Linear,
}

impl Head {
    pub fn new(dim: i64, out: i64) -> Self {
        let mut store = Store::new();
        let l1 = Linear::new(&mut store, "head.0", dim, dim);
        let l2 = Linear::new(&mut store, "head.2", dim, out);
        Self { store, l1, l2 }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let taps = Taps::none();
        let ctx = Ctx::new(true, None, &taps);
        let y = self.l2.forward(&self.l1.forward(x, &ctx).relu(), &ctx);
        // F.normalize: x / max(|x|, 1e-12).
        let norm = y
            .norm_scalaropt_dim(2, [1i64].as_slice(), true)
            .clamp_min(1e-12);
        y / norm
    }
}

/// The feature bank: a cyclic buffer of [local, global] feature rows.
struct Bank {
    capacity: i64,
    /// The rows filled so far (at most `capacity`).
    rows: Tensor,
    /// Where the next rows go once the bank is full.
    ptr: i64,
}

impl Bank {
    fn new(capacity: i64, width: i64) -> Self {
        Self {
            capacity,
            rows: Tensor::zeros([0, width], crate::device::float()),
            ptr: 0,
        }
    }

    fn add(&mut self, feats: &Tensor) {
        let feats = feats.detach();
        let n = feats.size()[0];
        if self.rows.size()[0] < self.capacity {
            self.rows = Tensor::cat(&[&self.rows, &feats], 0);
        } else {
            self.rows.narrow(0, self.ptr, n).copy_(&feats);
        }
        self.ptr = (self.ptr + n) % self.capacity;
    }

    /// Up to `k` distinct rows drawn at random (`random.sample`).
    fn negatives(&self, k: i64) -> Tensor {
        let filled = self.rows.size()[0];
        let k = k.min(filled);
        let pick = Tensor::randperm(filled, crate::device::int64()).narrow(0, 0, k);
        self.rows.index_select(0, &pick)
    }

    fn bytes(&self) -> u64 {
        tensor_bytes(&self.rows)
    }

    fn state(&self, key: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{key}/rows"), self.rows.shallow_clone()),
            (format!("{key}/ptr"), Tensor::from(self.ptr)),
        ]
    }

    fn load_state(&mut self, key: &str, s: &HashMap<String, Tensor>) -> Result<()> {
        let get = |name: &str| {
            state::require(s, &format!("{key}/{name}")).map_err(|e| {
                anyhow!("{e}: an older dfkd made this CMI run (it kept the bank as shards); start it again")
            })
        };
        let rows = get("rows")?;
        let width = self.rows.size()[1];
        if rows.dim() != 2 || rows.size()[1] != width || rows.size()[0] > self.capacity {
            bail!(
                "'{key}/rows' is {:?}, not up to {} rows of {width} features",
                rows.size(),
                self.capacity
            );
        }
        let ptr = get("ptr")?.int64_value(&[]);
        if !(0..self.capacity).contains(&ptr) {
            bail!(
                "'{key}/ptr' is {ptr}, not within the bank's {} rows",
                self.capacity
            );
        }
        self.rows = rows.copy();
        self.ptr = ptr;
        Ok(())
    }
}

/// Fast-Datafree's meta generator: the start every synthesis's generator
/// copies, and the optimizer of its first-order MAML step.
struct MetaGenerator {
    generator: CmiGenerator,
    opt: Optimizer,
}

pub struct CmiSynth {
    cfg: CmiConfig,
    norm: Normalization,
    classes: i64,
    /// The generator a synthesis trains.
    generator: CmiGenerator,
    meta: Option<MetaGenerator>,
    /// Moving average of the teacher's BatchNorm batch statistics (mean,
    /// variance per layer) over past syntheses, with `bn_momentum`.
    bn_past: Vec<(Tensor, Tensor)>,
    /// The fixed embedding of each class added to its codes, when
    /// `conditional`.
    class_codes: Option<Tensor>,
    head: Head,
    head_opt: Optimizer,
    bank: Bank,
    pool: ImagePool,
    taps: Taps,
}

/// The loss of one CMI step and what a kept batch needs.
pub struct CmiStep {
    pub total: Tensor,
    pub terms: Vec<(&'static str, Tensor)>,
    /// [local, global] features of the batch, when `cr` is not 0.
    pub features: Option<Tensor>,
    /// The teacher's BatchNorm batch statistics (mean, variance per layer),
    /// detached, for the moving average; empty when `bn` or `bn_momentum`
    /// is 0.
    pub bn_batch: Vec<(Tensor, Tensor)>,
}

/// CMI's step loss, for the synthesizer and its tests.
#[allow(clippy::too_many_arguments)]
pub fn cmi_loss(
    cfg: &CmiConfig,
    taps: &Taps,
    norm: &Normalization,
    head: &Head,
    m: &Models,
    x: &Tensor,
    global: &CropFlip,
    local: &ResizedCrop,
    cached: &Tensor,
    targets: &Tensor,
    bn_past: &[(Tensor, Tensor)],
) -> CmiStep {
    let gv = norm.apply(&global.apply(x));
    let mut t_taps = taps.clone();
    t_taps.bn_stats = cfg.bn != 0.0;
    let t = m.teacher.forward_taps(&gv, false, &t_taps);
    let mut terms = vec![("oh", cfg.oh, t.logits.cross_entropy_for_logits(targets))];
    if cfg.bn != 0.0 {
        let r_feature = if bn_past.is_empty() {
            losses::bn_feature(&t.bn_stats, 1.0)
        } else {
            losses::bn_feature_blended(&t.bn_stats, bn_past, cfg.bn_momentum)
        };
        terms.push(("bn", cfg.bn, r_feature));
    }
    if cfg.adv != 0.0 {
        let s = m.student.forward(&gv, false);
        terms.push(("adv", cfg.adv, losses::masked_adversarial_kl(&s, &t.logits)));
    }
    // Without the contrastive term (Fast-Datafree's loss) neither the local
    // view nor the head is needed, and the bank stays empty.
    let features = (cfg.cr != 0.0).then(|| {
        let global_f = cfg.features(&t);
        let lv = norm.apply(&local.apply(x));
        let local_f = cfg.features(&m.teacher.forward_taps(&lv, false, taps));
        let width = global_f.size()[1];
        let (cached_local, cached_global) =
            (cached.narrow(1, 0, width), cached.narrow(1, width, width));
        let proj = head.forward(&Tensor::cat(
            &[&local_f, &cached_local, &global_f, &cached_global],
            0,
        ));
        let half = proj.size()[0] / 2;
        let (pl, pg) = (proj.narrow(0, 0, half), proj.narrow(0, half, half));
        let cr = losses::contrastive(&pl, &pg, cfg.cr_temperature, x.size()[0]);
        terms.push(("cr", cfg.cr, cr));
        Tensor::cat(&[&local_f, &global_f], 1).detach()
    });
    let total = terms
        .iter()
        .map(|(_, w, t)| t * *w)
        .reduce(|a, b| a + b)
        .expect("terms");
    CmiStep {
        total,
        terms: terms.into_iter().map(|(n, _, t)| (n, t)).collect(),
        features,
        bn_batch: if cfg.bn_momentum > 0.0 {
            t.bn_stats
                .iter()
                .map(|s| (s.mean.detach(), s.var.detach()))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// The moving average of BatchNorm statistics after one more synthesis
/// (Fast-Datafree's `update_mmt`): the first batch's own, then
/// `momentum` x past + (1 - `momentum`) x batch.
fn blend(
    past: Vec<(Tensor, Tensor)>,
    batch: &[(Tensor, Tensor)],
    momentum: f64,
) -> Vec<(Tensor, Tensor)> {
    if past.is_empty() {
        return batch.iter().map(|(m, v)| (m.copy(), v.copy())).collect();
    }
    past.into_iter()
        .zip(batch)
        .map(|((pm, pv), (m, v))| {
            (
                pm * momentum + m * (1.0 - momentum),
                pv * momentum + v * (1.0 - momentum),
            )
        })
        .collect()
}

impl Synthesizer for CmiSynth {
    fn plan(&self) -> Plan {
        Plan {
            synthesize_first: true,
            student_steps: self.cfg.student_steps,
        }
    }

    fn begin_epoch(&mut self, _: usize, _: usize) {}

    fn synthesize(&mut self, m: &Models, log: &mut Losses) -> Result<Option<Batch>> {
        let c = &self.cfg;
        match c.reset {
            Reset::All => self.generator.reset(),
            Reset::FirstLayer => self.generator.reset_first_layer(),
            Reset::None => {}
            Reset::Meta => {
                let meta = &self.meta.as_ref().expect("a meta generator").generator;
                self.generator.store.copy_from(&meta.store);
            }
        }
        let targets = super::inversion::targets(c.targets, c.batch_size, self.classes);
        let mut z = Tensor::randn([c.batch_size, c.latent], crate::device::float());
        if let Some(codes) = &self.class_codes {
            z += codes.index_select(0, &targets);
        }
        let z = z.set_requires_grad(true);
        // One Adam per group: the same update as one over all, since Adam
        // treats every parameter on its own.
        let adam = |lr| OptimSpec::Adam {
            lr,
            betas: (0.5, 0.999),
            weight_decay: 0.0,
        };
        let mut params = self.generator.store.parameters();
        let n_gen = params.len();
        let mut opt = adam(c.lr).build(params.iter().map(Tensor::shallow_clone).collect());
        let mut z_opt = adam(c.lr_z.unwrap_or(c.lr)).build(vec![z.shallow_clone()]);
        params.push(z.shallow_clone());
        let contrast = c.cr != 0.0;
        if contrast {
            params.extend(self.head.store.parameters());
        }
        // The meta step's direction: the sum of the copy's gradients.
        let mut meta_grad: Option<Vec<Tensor>> = None;
        let [_, h, w] = m.teacher.spec.input_shape;
        let mut best: Option<Best> = None;
        let mut last = None;
        for _ in 0..c.steps {
            let x = self.generator.forward(&z);
            let global = CropFlip::draw(c.batch_size, 4);
            let local = ResizedCrop::draw(c.batch_size, h, w, (0.25, 1.0));
            let cached = self.bank.negatives(c.negatives);
            let step = cmi_loss(
                c,
                &self.taps,
                &self.norm,
                &self.head,
                m,
                &x,
                &global,
                &local,
                &cached,
                &targets,
                &self.bn_past,
            );
            let mut kept = vec![&x];
            kept.extend(&step.features);
            Best::update(&mut best, &step.total, &kept);
            let grads = Tensor::run_backward(&[&step.total], &params, false, false);
            if self.meta.is_some() {
                tch::no_grad(|| match &mut meta_grad {
                    Some(sum) => sum.iter_mut().zip(&grads).for_each(|(s, g)| {
                        let _ = s.g_add_(g);
                    }),
                    None => meta_grad = Some(grads[..n_gen].iter().map(Tensor::copy).collect()),
                });
            }
            opt.apply(&grads[..n_gen]);
            z_opt.apply(&grads[n_gen..=n_gen]);
            if contrast {
                self.head_opt.apply(&grads[n_gen + 1..]);
            }
            last = Some(step);
        }
        if let (Some(meta), Some(grad)) = (&mut self.meta, meta_grad) {
            meta.opt.apply(&grad);
        }
        let last = last.expect("steps > 0");
        if c.bn_momentum > 0.0 {
            self.bn_past = blend(
                std::mem::take(&mut self.bn_past),
                &last.bn_batch,
                c.bn_momentum,
            );
        }
        log.add("synth", &last.total);
        for (name, t) in &last.terms {
            log.add(name, t);
        }
        let mut kept = best.expect("steps > 0").kept.into_iter();
        self.pool.push_pixels(&kept.next().expect("images"))?;
        if let Some(features) = kept.next() {
            self.bank.add(&features);
        }
        Ok(None)
    }

    fn sample(&mut self, n: i64) -> Result<Batch> {
        Ok(Batch::new(self.pool.sample(n)?))
    }

    fn memory(&mut self, n: i64) -> Result<Option<Tensor>> {
        self.pool.memory(n)
    }

    fn latest(&self) -> Result<Option<Tensor>> {
        self.pool.latest()
    }

    fn kept_bytes(&self) -> u64 {
        self.pool.bytes() + self.bank.bytes()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = self.pool.state("synth/pool");
        out.extend(self.bank.state("synth/bank"));
        out.extend(state::prefixed("synth/head", &self.head.store));
        out.extend(state::optimizer("synth/head_optim", &self.head_opt));
        if let Some(meta) = &self.meta {
            out.extend(state::prefixed("synth/generator", &meta.generator.store));
            out.extend(state::optimizer("synth/generator_optim", &meta.opt));
        } else if self.cfg.reset.keeps_generator() {
            out.extend(state::prefixed("synth/generator", &self.generator.store));
        }
        if let Some(codes) = &self.class_codes {
            out.push(("synth/class_codes".into(), codes.shallow_clone()));
        }
        for (i, (mean, var)) in self.bn_past.iter().enumerate() {
            out.push((format!("synth/bn_past/{i:03}/mean"), mean.shallow_clone()));
            out.push((format!("synth/bn_past/{i:03}/var"), var.shallow_clone()));
        }
        out
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        self.pool.load_state("synth/pool", s)?;
        self.bank.load_state("synth/bank", s)?;
        state::load_store("synth/head", &self.head.store, s)?;
        if let Some(meta) = &mut self.meta {
            state::load_store("synth/generator", &meta.generator.store, s)?;
            state::load_optimizer("synth/generator_optim", &mut meta.opt, s)?;
        } else if self.cfg.reset.keeps_generator() {
            state::load_store("synth/generator", &self.generator.store, s)?;
        }
        if let Some(codes) = &mut self.class_codes {
            let saved = state::require(s, "synth/class_codes")?;
            if saved.size() != codes.size() {
                bail!(
                    "'synth/class_codes' is {:?}, not {:?}",
                    saved.size(),
                    codes.size()
                );
            }
            *codes = saved.copy();
        }
        self.bn_past = (0..)
            .map_while(|i| {
                let get = |what| s.get(&format!("synth/bn_past/{i:03}/{what}"));
                Some((get("mean")?.copy(), get("var")?.copy()))
            })
            .collect();
        state::load_optimizer("synth/head_optim", &mut self.head_opt, s)
    }
}
