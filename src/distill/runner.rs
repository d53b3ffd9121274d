//! Drives a run: epochs of the engine, the evaluation hook, and after each
//! epoch the checkpoints, metrics, pictures, summary and resume state.

use super::engine::{Engine, EpochRecord};
use super::run_dir::{RunDir, Summary};
use super::Losses;
use crate::checkpoint::ModelMeta;
use crate::eval::{robust_summary, Evaluator};
use crate::report::{grid, plot};
use anyhow::{Context, Result};
use std::time::Instant;

/// Watches a run (the CLI draws its progress bar with this).
pub trait Observer {
    fn iteration(&mut self, _epoch: usize, _iteration: usize, _losses: &Losses) {}
    fn epoch(&mut self, _record: &EpochRecord) {}
}

impl Observer for () {}

/// What a run needs besides its engine and directory.
pub struct RunContext<'a> {
    /// Metadata for student checkpoints (the teacher's classes, input shape
    /// and normalisation, with the student's architecture).
    pub student_meta: ModelMeta,
    /// Measures the student after each epoch, if real data was given.
    pub evaluator: Option<&'a mut dyn Evaluator>,
    pub teacher_accuracy: Option<f64>,
    pub observer: &'a mut dyn Observer,
    /// Seconds of distillation before this session (from [`restore`]).
    pub wall_clock: f64,
}

/// Restores `engine` from the directory's committed state, if there is one.
/// Returns the seconds of distillation done so far.
pub fn restore(engine: &mut Engine, dir: &RunDir) -> Result<f64> {
    match dir.read_state()? {
        Some(s) => {
            engine
                .load_state(&s.tensors, s.epochs_done)
                .with_context(|| format!("{}: resume state", dir.path.display()))?;
            Ok(s.wall_clock)
        }
        None => Ok(0.0),
    }
}

/// Runs the engine's remaining epochs (after [`restore`], if resuming).
/// Returns every epoch's record.
pub fn run(engine: &mut Engine, dir: &RunDir, mut ctx: RunContext) -> Result<Vec<EpochRecord>> {
    let mut records = dir.committed_metrics(engine.epochs_done)?;
    let mut wall = ctx.wall_clock;
    let teacher_path = dir.read_info()?.teacher;
    while engine.epochs_done < engine.cfg.epochs {
        let epoch = engine.epochs_done + 1;
        let observer = &mut *ctx.observer;
        let start = Instant::now();
        let (losses, lr) = engine.run_epoch(&mut |i, l| observer.iteration(epoch, i, l))?;
        let seconds = start.elapsed().as_secs_f64();
        wall += seconds;
        let val_accuracy = ctx.evaluator.as_mut().map(|e| e.accuracy(&engine.student));
        let record = EpochRecord {
            epoch,
            losses: losses.means(),
            val_accuracy,
            seconds,
            wall_clock: wall,
            replay_bytes: engine.replay_bytes(),
            lr_student: lr,
        };
        let last = epoch == engine.cfg.epochs;
        let keep = last || epoch % engine.cfg.save_every == 0;
        // The state file commits the epoch: metrics lines beyond it are
        // dropped on resume, and the summary and pictures, written after it,
        // never describe an epoch that is not committed.
        dir.save_student(&engine.student, &ctx.student_meta, epoch, keep)?;
        dir.append_metrics(&record)?;
        records.push(record.clone());
        dir.write_state(&engine.state(), engine.epochs_done, wall)?;
        write_pictures(engine, dir, &records, &ctx.student_meta)?;
        dir.write_summary(&summarize(
            engine,
            &records,
            ctx.teacher_accuracy,
            &teacher_path,
        ))?;
        ctx.observer.epoch(&record);
    }
    Ok(records)
}

fn write_pictures(
    engine: &Engine,
    dir: &RunDir,
    records: &[EpochRecord],
    meta: &ModelMeta,
) -> Result<()> {
    if let Some(x) = engine.last_samples() {
        grid::write(&dir.picture("samples.png"), x, &meta.normalization, 2)?;
    }
    let accuracy: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| r.val_accuracy.map(|a| (r.epoch as f64, a)))
        .collect();
    let name = format!("{} ({})", engine.cfg.method, engine.cfg.student);
    if !accuracy.is_empty() {
        let s = plot::Series {
            name: name.clone(),
            points: accuracy,
            band: None,
        };
        plot::write(
            &dir.picture("accuracy.png"),
            "Student accuracy",
            "accuracy (%)",
            &[s],
        )?;
    }
    let names: Vec<&String> = records
        .last()
        .map(|r| r.losses.keys().collect())
        .unwrap_or_default();
    let series: Vec<plot::Series> = names
        .into_iter()
        .map(|n| plot::Series {
            name: n.clone(),
            points: records
                .iter()
                .filter_map(|r| r.losses.get(n).map(|v| (r.epoch as f64, *v)))
                .collect(),
            band: None,
        })
        .collect();
    plot::write(
        &dir.picture("losses.png"),
        &format!("Losses: {name}"),
        "loss (epoch mean)",
        &series,
    )
}

fn summarize(
    engine: &Engine,
    records: &[EpochRecord],
    teacher_accuracy: Option<f64>,
    teacher: &std::path::Path,
) -> Summary {
    let acc: Vec<f64> = records.iter().filter_map(|r| r.val_accuracy).collect();
    let robust = robust_summary(std::slice::from_ref(&acc));
    let best = records
        .iter()
        .filter_map(|r| r.val_accuracy.map(|a| (a, r.epoch)))
        .fold(None, |b: Option<(f64, usize)>, (a, e)| match b {
            Some((ba, _)) if ba >= a => b,
            _ => Some((a, e)),
        });
    let cfg = &engine.cfg;
    Summary {
        method: cfg.method.clone(),
        preset: cfg.preset.clone(),
        parts: cfg.parts(),
        student: cfg.student.clone(),
        teacher: teacher.to_path_buf(),
        seed: cfg.seed,
        epochs_planned: cfg.epochs,
        epochs_done: records.len(),
        wall_clock_s: records.last().map_or(0.0, |r| r.wall_clock),
        teacher_accuracy,
        final_accuracy: acc.last().copied(),
        best_accuracy: best.map(|b| b.0),
        best_epoch: best.map(|b| b.1),
        mean_accuracy: robust.map(|r| r.mu),
        var_accuracy: robust.map(|r| r.var),
        replay_bytes_max: records.iter().map(|r| r.replay_bytes).max().unwrap_or(0),
        student_parameters: engine.student.store.parameter_count(),
    }
}
