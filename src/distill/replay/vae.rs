//! PRE-DFKD's generative pseudo replay (Binici et al., AAAI 2022): instead
//! of storing past samples, a small VAE (the memory generator) learns to
//! reproduce them, and replays samples it generates itself.
//!
//! - Algorithm 1 (`observe`, the first `vae_steps` student steps of each
//!   iteration): the VAE reconstructs half a novel batch together with
//!   memory samples it infers itself, so it keeps what it already holds
//!   while learning what is new. Reconstruction = L1 in pixels + L1 between
//!   the teacher's responses at `teacher_layers` (the official code's
//!   choice: the logits only; `pixel_only` drops the teacher term), plus the
//!   KL term weighted 1e-5. The run's first iteration reconstructs novel
//!   samples only.
//! - Algorithm 2 (`sample`, every student step): memory samples from codes
//!   tuned by one Adam step towards class-balanced, confident teacher
//!   outputs (information entropy + one-hot) while staying close to N(0, I)
//!   (batch mean and variance of the codes); `latent_tuning = false` draws
//!   the codes from N(0, I) as they come.
//!
//! As in the official code, memory samples for the student come from the
//! decoder in evaluation mode, those it infers for its own training in
//! training mode. Its memory is the VAE's parameters, buffers and optimizer
//! state: constant however long the run.

use super::{check_fraction, replayed, Replay};
use crate::distill::parts::{Assembly, ReplaySpec};
use crate::distill::{losses, Losses, Models};
use crate::nn::encoder::Encoder;
use crate::nn::generator::{Generator, GeneratorSpec, GeneratorStyle};
use crate::nn::store::tensor_bytes;
use crate::nn::{Model, Output, Taps};
use crate::optim::{OptimSpec, Optimizer};
use crate::state;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{Kind, Reduction, Tensor};

/// PRE-DFKD's memory generator; defaults are the official code's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaeConfig {
    /// Latent dimension of the VAE [default: the novel generator's, as
    /// officially; 1000, PRE-DFKD's, after a synthesizer without one].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latent: Option<i64>,
    /// Memory samples per student step, as a part of the batch size.
    pub fraction: f64,
    /// Adam learning rate of encoder and decoder (lr_G / 40 officially).
    pub lr: f64,
    /// VAE updates in the first this many student steps of an iteration.
    pub vae_steps: usize,
    pub kl_weight: f64,
    /// The teacher's responses the reconstruction must also match (L1 each,
    /// summed): `logits`, `features` (the penultimate feature, a term the
    /// official code has commented out) or any tap point of the teacher's
    /// architecture (`conv1`, `layer2`...) [default: `["logits"]`, as
    /// officially].
    pub teacher_layers: Vec<String>,
    /// Reconstruction in pixels only, without the teacher's responses
    /// (ablation).
    pub pixel_only: bool,
    /// Algorithm 2's latent tuning; off draws codes from N(0, I) (ablation).
    pub latent_tuning: bool,
    /// Adam learning rate of the one tuning step (lr_G officially).
    pub tune_lr: f64,
    /// Weights of the tuning's information-entropy and one-hot terms.
    pub ie: f64,
    pub oh: f64,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self {
            latent: None,
            fraction: 0.125,
            lr: 5e-4,
            vae_steps: 4,
            kl_weight: 1e-5,
            teacher_layers: vec!["logits".into()],
            pixel_only: false,
            latent_tuning: true,
            tune_lr: 0.02,
            ie: 5.0,
            oh: 1.0,
        }
    }
}

impl ReplaySpec for VaeConfig {
    fn check(&self) -> Result<()> {
        check_fraction(self.fraction)?;
        if self.latent.is_some_and(|l| l < 1) {
            bail!("latent must be positive");
        }
        Ok(())
    }

    fn build(&self, a: &Assembly) -> Result<Box<dyn Replay>> {
        Ok(Box::new(VaeReplay::new(
            self,
            a.teacher,
            a.batch_size,
            replayed(self.fraction, a.batch_size),
            a.latent.unwrap_or(1000),
        )?))
    }
}

pub struct VaeReplay {
    cfg: VaeConfig,
    latent: i64,
    /// Memory samples per student step, and novel samples per VAE step.
    memory: i64,
    novel: i64,
    decoder: Generator,
    encoder: Encoder,
    opt_decoder: Optimizer,
    opt_encoder: Optimizer,
    /// VAE updates so far; those of the run's first iteration learn from
    /// novel samples only, as the memory holds nothing yet.
    updates: i64,
    /// What the teacher records for the reconstruction's teacher term.
    taps: Taps,
}

impl VaeReplay {
    /// A fresh VAE for the inputs of `teacher`, with `latent` dimensions
    /// unless the config sets them, replaying `memory` samples per step
    /// and learning from half of each novel batch of `batch_size`. Fails
    /// when `teacher_layers` names a layer the teacher does not have.
    pub fn new(
        cfg: &VaeConfig,
        teacher: &Model,
        batch_size: i64,
        memory: i64,
        latent: i64,
    ) -> Result<Self> {
        let taps = teacher_taps(&cfg.teacher_layers, teacher)?;
        let image = teacher.spec.input_shape;
        let latent = cfg.latent.unwrap_or(latent);
        let spec = GeneratorSpec {
            latent,
            ngf: 64,
            bn_eps: 0.8,
            style: GeneratorStyle::PreDfkd,
            spectral_norm: false,
        };
        let decoder = Generator::new(&spec, image);
        let encoder = Encoder::new(image, latent);
        let opt = OptimSpec::adam(cfg.lr);
        Ok(Self {
            cfg: cfg.clone(),
            latent,
            // The latent tuning takes the variance of the codes over the
            // batch: it needs two at least (tiny batches would replay one).
            memory: memory.max(2),
            novel: (batch_size / 2).max(1),
            opt_decoder: opt.build(decoder.store.parameters()),
            opt_encoder: opt.build(encoder.store.parameters()),
            decoder,
            encoder,
            updates: 0,
            taps,
        })
    }

    /// Algorithm 2: `n` latent codes, tuned (one Adam step) so that the
    /// decoder's samples get confident, class-balanced teacher outputs.
    fn codes(&self, m: &Models, n: i64, train: bool, log: &mut Losses) -> Tensor {
        let z = Tensor::randn([n, self.latent], crate::device::float()).set_requires_grad(true);
        if !self.cfg.latent_tuning {
            return z.detach();
        }
        let t = m
            .teacher
            .forward(&self.decoder.forward_mode(&z, train), false);
        let ie = losses::information_entropy(&t);
        let oh = losses::one_hot(&t);
        let var = z.var_dim([0i64].as_slice(), true, false);
        let mean = z.mean_dim([0i64].as_slice(), false, Kind::Float);
        let prior = var.mse_loss(&var.ones_like(), Reduction::Mean)
            + mean.mse_loss(&mean.zeros_like(), Reduction::Mean);
        log.add("memory_ie", &ie);
        let loss = ie * self.cfg.ie + oh * self.cfg.oh + prior;
        let mut opt = OptimSpec::adam(self.cfg.tune_lr).build(vec![z.shallow_clone()]);
        opt.minimize(&loss);
        z.detach()
    }
}

/// The taps that give the teacher's responses at `layers`, checked against
/// the teacher's architecture.
fn teacher_taps(layers: &[String], teacher: &Model) -> Result<Taps> {
    let mut taps = Taps::none();
    for name in layers {
        match name.as_str() {
            "logits" => {}
            "features" => taps.features = true,
            _ => taps.layers.push(name.clone()),
        }
    }
    teacher
        .check_taps(&taps.layers)
        .context("replay.teacher_layers: logits, features or a tap point of the teacher")?;
    if taps.features && !teacher.provides_features() {
        bail!("replay.teacher_layers: the teacher does not report its penultimate feature; use logits");
    }
    Ok(taps)
}

/// The teacher's response at `layer` in a forward pass made with
/// [`teacher_taps`].
fn response<'a>(out: &'a Output, layer: &str) -> &'a Tensor {
    match layer {
        "logits" => &out.logits,
        "features" => out.features.as_ref().expect("features were tapped"),
        _ => out.layer(layer).expect("layer was tapped"),
    }
}

/// L1 between the teacher's responses to `x` and to its reconstruction
/// `rec`, summed over `layers`; gradients reach `rec` only. None when
/// `layers` is empty.
fn teacher_distance(
    teacher: &Model,
    taps: &Taps,
    layers: &[String],
    x: &Tensor,
    rec: &Tensor,
) -> Option<Tensor> {
    let target = tch::no_grad(|| teacher.forward_taps(x, false, taps));
    let got = teacher.forward_taps(rec, false, taps);
    layers
        .iter()
        .map(|l| response(&got, l).l1_loss(response(&target, l), Reduction::Mean))
        .reduce(|a, b| a + b)
}

impl Replay for VaeReplay {
    fn sample(&mut self, m: &Models, log: &mut Losses) -> Result<Option<Tensor>> {
        let z = self.codes(m, self.memory, false, log);
        Ok(Some(tch::no_grad(|| self.decoder.forward_mode(&z, false))))
    }

    fn observe(&mut self, m: &Models, novel: &Tensor, step: usize, log: &mut Losses) -> Result<()> {
        if step >= self.cfg.vae_steps {
            return Ok(());
        }
        let novel = novel.narrow(0, 0, self.novel.min(novel.size()[0])).detach();
        let x = if self.updates >= self.cfg.vae_steps as i64 {
            let z = self.codes(m, self.memory, true, log);
            let memory = tch::no_grad(|| self.decoder.forward_mode(&z, true));
            Tensor::cat(&[&novel, &memory], 0)
        } else {
            novel
        };
        let e = self.encoder.forward(&x);
        let rec = self.decoder.forward(&e.z);
        let mut loss = rec.l1_loss(&x, Reduction::Mean);
        if !self.cfg.pixel_only {
            if let Some(term) =
                teacher_distance(m.teacher, &self.taps, &self.cfg.teacher_layers, &x, &rec)
            {
                loss += term;
            }
        }
        log.add("vae_recon", &loss);
        // KL(q(z|x) || N(0, I)), summed over the code, averaged over the batch.
        let per_sample = (&e.log_var + 1.0 - e.mu.square() - e.log_var.exp()).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Float,
        );
        let kl = (per_sample * -0.5).mean(Kind::Float);
        log.add("vae_kl", &kl);
        let loss = loss + kl * self.cfg.kl_weight;
        let dec = self.decoder.store.parameters();
        let enc = self.encoder.store.parameters();
        let params: Vec<Tensor> = dec.iter().chain(&enc).map(Tensor::shallow_clone).collect();
        let grads = Tensor::run_backward(&[&loss], &params, false, false);
        self.opt_decoder.apply(&grads[..dec.len()]);
        self.opt_encoder.apply(&grads[dec.len()..]);
        self.updates += 1;
        Ok(())
    }

    fn end_epoch(&mut self, _: usize) {}

    fn bytes(&self) -> u64 {
        let stores = self.decoder.store.bytes() + self.encoder.store.bytes();
        let opts: u64 = [&self.opt_decoder, &self.opt_encoder]
            .iter()
            .flat_map(|o| o.state())
            .map(|(_, t)| tensor_bytes(&t))
            .sum();
        stores + opts
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = state::prefixed("replay/decoder", &self.decoder.store);
        out.extend(state::prefixed("replay/encoder", &self.encoder.store));
        out.extend(state::optimizer("replay/decoder_optim", &self.opt_decoder));
        out.extend(state::optimizer("replay/encoder_optim", &self.opt_encoder));
        out.push(("replay/updates".into(), Tensor::from(self.updates)));
        out
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        state::load_store("replay/decoder", &self.decoder.store, s)?;
        state::load_store("replay/encoder", &self.encoder.store, s)?;
        state::load_optimizer("replay/decoder_optim", &mut self.opt_decoder, s)?;
        state::load_optimizer("replay/encoder_optim", &mut self.opt_encoder, s)?;
        self.updates = state::require(s, "replay/updates")?.int64_value(&[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::zoo;

    fn names(layers: &[&str]) -> Vec<String> {
        layers.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_teacher_term_sums_l1_over_the_chosen_layers_and_reaches_the_reconstruction_only() {
        tch::manual_seed(0);
        let teacher = zoo::build("lenet5", 10, [1, 32, 32]).unwrap();
        teacher.freeze();
        let x = Tensor::randn([4, 1, 32, 32], crate::device::host_float());
        let rec =
            Tensor::randn([4, 1, 32, 32], crate::device::host_float()).set_requires_grad(true);
        let layers = names(&["logits", "features", "conv2"]);
        let taps = teacher_taps(&layers, &teacher).unwrap();
        let got = teacher_distance(&teacher, &taps, &layers, &x, &rec).unwrap();

        let l1 = |a: &Tensor, b: &Tensor| a.l1_loss(b, Reduction::Mean).double_value(&[]);
        let (fx, fr) = (
            teacher.forward_taps(&x, false, &Taps::features()),
            teacher.forward_taps(&rec, false, &Taps::features()),
        );
        let conv2 = |t: &Tensor| {
            let out = teacher.forward_taps(t, false, &Taps::layers(&["conv2"]));
            out.layer("conv2").unwrap().shallow_clone()
        };
        let expected = l1(&fr.logits, &fx.logits)
            + l1(fr.features.as_ref().unwrap(), fx.features.as_ref().unwrap())
            + l1(&conv2(&rec), &conv2(&x));
        assert!((got.double_value(&[]) - expected).abs() < 1e-5 * expected);
        // Logits alone, the official choice.
        let logits = names(&["logits"]);
        let only = teacher_distance(&teacher, &Taps::none(), &logits, &x, &rec).unwrap();
        assert!((only.double_value(&[]) - l1(&fr.logits, &fx.logits)).abs() < 1e-6);

        got.backward();
        assert!(rec.grad().abs().sum(tch::Kind::Float).double_value(&[]) > 0.0);
        assert!(!x.requires_grad());
        let same = teacher_distance(&teacher, &taps, &layers, &x, &x).unwrap();
        assert_eq!(same.double_value(&[]), 0.0);
        assert!(teacher_distance(&teacher, &taps, &[], &x, &rec).is_none());
    }

    #[test]
    fn an_unknown_teacher_layer_is_refused_with_the_teachers_layers() {
        let teacher = zoo::build("lenet5", 10, [1, 32, 32]).unwrap();
        let err = format!(
            "{:#}",
            teacher_taps(&names(&["logits", "layer9"]), &teacher).unwrap_err()
        );
        assert!(err.contains("no tap point 'layer9'"), "{err}");
        assert!(err.contains("conv1, conv2, conv3, fc1"), "{err}");
    }
}
