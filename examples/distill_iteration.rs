//! dfkd side of bench/distill_iteration.sh and bench/replay_cost.sh: times
//! single iterations of a method's MNIST preset (LeNet-5 teacher ->
//! LeNet-5-half student), with parts swapped (`synth=`, `replay=`,
//! `update=`) and any other `key=value` overrides of that preset.
//!
//! usage: distill_iteration METHOD BATCH ITERATIONS [WARMUP] [KEY=VALUE...]
//! Prints the seconds of each timed iteration and the replay's bytes after
//! it, one iteration per line.

use dfkd::checkpoint;
use dfkd::distill::engine::Teacher;
use dfkd::distill::{Choice, Engine};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    dfkd::runtime::init();
    // bench/gpu.sh times it on a GPU.
    dfkd::device::select(&std::env::var("DFKD_DEVICE").unwrap_or_else(|_| "cpu".into()))?;
    let args: Vec<String> = std::env::args().collect();
    let method = &args[1];
    let batch: i64 = args[2].parse()?;
    let iterations: usize = args[3].parse()?;
    let warmup: usize = args.get(4).map_or(Ok(1), |w| w.parse())?;
    let teacher_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/teachers/lenet5-mnist.safetensors"
    );
    let (teacher, meta) = checkpoint::load_model(teacher_path.as_ref(), None, [1, 32, 32])?;
    let teacher = Teacher {
        model: teacher,
        norm: meta.expect("dfkd metadata").normalization,
        source: teacher_path.to_string(),
    };
    let mut sets = vec![
        format!("batch_size={batch}"),
        "iters=1".into(),
        "epochs=1000000".into(),
    ];
    let mut choice = Choice {
        method: method.clone(),
        preset: "mnist".into(),
        ..Default::default()
    };
    for arg in args.iter().skip(5) {
        match arg.split_once('=') {
            Some(("synth", part)) => choice.synth = Some(part.into()),
            Some(("replay", part)) => choice.replay = Some(part.into()),
            Some(("update", part)) => choice.update = Some(part.into()),
            _ => sets.push(arg.clone()),
        }
    }
    choice.sets = sets;
    let cfg = choice.resolve()?;
    // Kept samples (the pool replay's) go to a scratch directory.
    let samples = std::env::temp_dir().join(format!("dfkd-iteration-{}", std::process::id()));
    let mut engine = Engine::new(cfg, teacher, &samples)?;
    for _ in 0..warmup {
        engine.run_epoch(&mut |_, _| {})?;
    }
    for _ in 0..iterations {
        dfkd::device::synchronize();
        let start = Instant::now();
        engine.run_epoch(&mut |_, _| {})?;
        dfkd::device::synchronize();
        let seconds = start.elapsed().as_secs_f64();
        println!("{seconds:.4} {}", engine.replay_bytes());
    }
    let _ = std::fs::remove_dir_all(&samples);
    Ok(())
}
