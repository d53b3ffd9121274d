//! dfkd side of bench/synthesis_step.sh: times synthesis steps of model
//! inversion on the CIFAR-10 CPU pair (ResNet-56 teacher, ResNet-20 student,
//! random weights), as the `cifar10-cpu` presets run them: ADI's
//! (DeepInversion with the competition term, adv 1) and CMI's (features at
//! conv1, layer1, layer2, a full bank of negatives).
//!
//! usage: synthesis_step deepinversion|cmi BATCH ROUNDS [STEPS]
//! Prints, per round, the seconds of one optimisation step: the time of a
//! synthesis of STEPS + 1 steps less that of a synthesis of 1 step (which
//! leaves out what a synthesis does once: drawing, keeping the batch),
//! divided by STEPS [default 4]. CMI's feature bank is filled first.

use dfkd::data::Normalization;
use dfkd::distill::config::Overrides;
use dfkd::distill::parts::{Assembly, Parts};
use dfkd::distill::{Choice, Losses, Models};
use dfkd::nn::zoo;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    dfkd::runtime::init();
    // bench/gpu.sh times it on a GPU.
    dfkd::device::select(&std::env::var("DFKD_DEVICE").unwrap_or_else(|_| "cpu".into()))?;
    let args: Vec<String> = std::env::args().collect();
    let method = args[1].as_str();
    let batch: i64 = args[2].parse()?;
    let rounds: usize = args[3].parse()?;
    let steps: usize = args.get(4).map_or(Ok(4), |w| w.parse())?;
    let (preset_method, negatives) = match method {
        "deepinversion" => ("adi", 0),
        _ => ("cmi", 4096),
    };
    let cfg = Choice {
        method: preset_method.into(),
        preset: "cifar10-cpu".into(),
        sets: vec![format!("synth.batch_size={batch}")],
        overrides: Overrides::default(),
        ..Default::default()
    };
    let with_steps = |n: usize| {
        let mut c = cfg.clone();
        c.sets.push(format!("synth.steps={n}"));
        c.resolve()
    };
    let (one, many) = (with_steps(1)?, with_steps(steps + 1)?);
    tch::manual_seed(0);
    // The ResNet-56 that DFKD_TEACHER names (a state dict, such as the
    // shared pretrained one, or a TorchScript teacher), else random weights.
    let teacher = match std::env::var_os("DFKD_TEACHER") {
        Some(p) => {
            let p = std::path::Path::new(&p);
            let arch = (!dfkd::nn::script::is_torchscript(p)).then_some("resnet56");
            dfkd::checkpoint::load_model(p, arch, [3, 32, 32])?.0
        }
        None => zoo::build("resnet56", 10, [3, 32, 32])?,
    };
    teacher.freeze();
    let student = zoo::build("resnet20", 10, [3, 32, 32])?;
    let norm = Normalization::new(vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225]);
    let samples = std::env::temp_dir().join(format!("dfkd-synthesis-{}", std::process::id()));
    let build = |cfg| {
        Parts::read(cfg)?.build_synth(&Assembly {
            teacher: &teacher,
            norm: &norm,
            batch_size: cfg.batch_size,
            samples: &samples,
            latent: None,
        })
    };
    let (mut short, mut long) = (build(&one)?, build(&many)?);
    let models = Models {
        teacher: &teacher,
        student: &student,
    };
    let mut log = Losses::default();
    // Each synthesis adds a batch of features to CMI's bank; one warm-up.
    let fill = 1 + (negatives + batch - 1) / batch;
    for _ in 0..fill {
        short.synthesize(&models, &mut log)?;
        long.synthesize(&models, &mut log)?;
    }
    for _ in 0..rounds {
        let mut time = |s: &mut Box<dyn dfkd::distill::synth::Synthesizer>| -> anyhow::Result<f64> {
            dfkd::device::synchronize();
            let start = Instant::now();
            s.synthesize(&models, &mut log)?;
            dfkd::device::synchronize();
            Ok(start.elapsed().as_secs_f64())
        };
        let (a, b) = (time(&mut short)?, time(&mut long)?);
        println!("{:.4}", (b - a) / steps as f64);
    }
    let _ = std::fs::remove_dir_all(&samples);
    Ok(())
}
