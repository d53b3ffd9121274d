//! dfkd side of bench/distill_iteration.sh: times single iterations of a
//! method's MNIST preset (LeNet-5 teacher -> LeNet-5-half student).
//!
//! usage: distill_iteration dafl|dfad BATCH ITERATIONS [WARMUP]
//! Prints the seconds of each timed iteration, one per line.

use dfkd::checkpoint;
use dfkd::distill::{Choice, Engine};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    dfkd::runtime::init();
    let args: Vec<String> = std::env::args().collect();
    let method = &args[1];
    let batch: i64 = args[2].parse()?;
    let iterations: usize = args[3].parse()?;
    let warmup: usize = args.get(4).map_or(Ok(1), |w| w.parse())?;
    let teacher_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/teachers/lenet5-mnist.safetensors"
    );
    let (teacher, _) = checkpoint::load_model(teacher_path.as_ref(), None, [1, 32, 32])?;
    let cfg = Choice {
        method: method.clone(),
        preset: "mnist".into(),
        sets: vec![
            format!("batch_size={batch}"),
            "iters=1".into(),
            "epochs=1000000".into(),
        ],
        ..Default::default()
    }
    .resolve()?;
    let mut engine = Engine::new(cfg, teacher)?;
    for _ in 0..warmup {
        engine.run_epoch(&mut |_, _| {})?;
    }
    for _ in 0..iterations {
        let start = Instant::now();
        engine.run_epoch(&mut |_, _| {})?;
        println!("{:.4}", start.elapsed().as_secs_f64());
    }
    Ok(())
}
