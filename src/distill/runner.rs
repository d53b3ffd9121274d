//! Runs a distillation from start to end: loads the teacher, resolves the
//! settings or reads those of the run being resumed, checks the held-out
//! data, then drives the engine epoch by epoch with the evaluation hook and,
//! after each epoch, the checkpoints, metrics, pictures, summary and resume
//! state. The command line is a thin layer over [`distill`].

use super::average;
use super::collapse;
use super::config::{Choice, Config};
use super::engine::{Engine, EpochRecord, Teacher};
use super::run_dir::{digest, RunDir, RunInfo, Summary};
use super::select::{Chooser, Select};
use super::Losses;
use crate::checkpoint::{self, ModelMeta};
use crate::data::{DataSpec, Dataset, Normalization, Split};
use crate::eval::{robust_summary, Evaluator, HeldOut};
use crate::nn::Model;
use crate::report::{grid, plot};
use crate::seed;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Tensor;

/// A teacher checkpoint, with what the file may not say about itself (a
/// PyTorch state dict has no architecture or normalisation).
#[derive(Debug, Clone, Default)]
pub struct TeacherFile {
    pub path: PathBuf,
    pub arch: Option<String>,
    pub input: Option<[i64; 3]>,
    pub norm: Option<Normalization>,
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new run in `out` [default: runs/METHOD-PRESET-sSEED]; an empty
    /// `choice.preset` means the teacher's dataset.
    New {
        teacher: TeacherFile,
        choice: Box<Choice>,
        out: Option<PathBuf>,
    },
    /// The run in `dir`, continued where it stopped; `epochs` may extend it,
    /// `teacher` finds a teacher file that moved, `sets` change settings
    /// from here on (after a run stopped on a non-finite loss, say; the
    /// change is recorded in run.json).
    Resume {
        dir: PathBuf,
        teacher: Option<PathBuf>,
        epochs: Option<usize>,
        save_every: Option<usize>,
        select: Option<Select>,
        average: Option<usize>,
        sets: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub start: Start,
    /// Real data to report accuracy on after each epoch (its test split);
    /// never used for training. A resume keeps the run's unless given.
    pub val: Option<DataSpec>,
}

/// What a run is about to do, once everything is checked.
pub struct Started<'a> {
    pub resumed: bool,
    pub cfg: &'a Config,
    pub teacher: &'a Path,
    pub dir: &'a Path,
    pub teacher_accuracy: Option<f64>,
    pub epochs_done: usize,
}

/// Watches a run (the CLI prints its banner and draws its progress bar).
pub trait Observer {
    fn started(&mut self, _run: &Started) {}
    fn iteration(&mut self, _epoch: usize, _iteration: usize, _losses: &Losses) {}
    fn epoch(&mut self, _record: &EpochRecord) {}
    /// Something the user should hear of (a collapse and its remedy).
    fn note(&mut self, _line: &str) {}
}

impl Observer for () {}

/// A finished run.
pub struct Outcome {
    pub dir: PathBuf,
    pub records: Vec<EpochRecord>,
    pub summary: Summary,
}

/// A loaded teacher and what its file says.
struct Loaded {
    teacher: Teacher,
    dataset: Option<String>,
}

fn load_teacher(t: &TeacherFile) -> Result<Loaded> {
    let (model, meta) =
        checkpoint::load_model(&t.path, t.arch.as_deref(), t.input.unwrap_or([3, 32, 32]))?;
    let norm = match (&t.norm, &meta) {
        (Some(n), _) => n.clone(),
        (None, Some(meta)) => meta.normalization.clone(),
        (None, None) => bail!(
            "{}: no dfkd metadata gives the teacher's input normalisation; pass --teacher-mean and --teacher-std",
            t.path.display()
        ),
    };
    norm.check_channels(model.spec.input_shape[0])?;
    Ok(Loaded {
        teacher: Teacher {
            model,
            norm,
            source: t.path.display().to_string(),
        },
        dataset: meta.and_then(|m| m.dataset),
    })
}

/// The settings a new run of `teacher` would resolve to.
pub fn resolve(teacher: &TeacherFile, choice: &Choice) -> Result<Config> {
    let loaded = load_teacher(teacher)?;
    with_preset(choice, &loaded)?.resolve()
}

fn with_preset(choice: &Choice, t: &Loaded) -> Result<Choice> {
    let mut c = choice.clone();
    if c.preset.is_empty() {
        let Some(d) = &t.dataset else {
            bail!("--preset is required: the teacher's metadata names no dataset");
        };
        c.preset = d.clone();
    }
    Ok(c)
}

fn file_digest(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    Ok(digest(&bytes))
}

/// Where a run goes: the directory it resumes, or a new one to create.
enum Target {
    /// The directory, locked for this process.
    Resume(RunDir, File),
    New(PathBuf),
}

/// Runs a distillation to its last epoch.
pub fn distill(opts: &Options, observer: &mut dyn Observer) -> Result<Outcome> {
    // Kept in run.json with an absolute path, so a resume from anywhere finds it.
    let given_val = opts.val.clone().map(|v| DataSpec {
        path: std::fs::canonicalize(&v.path).unwrap_or(v.path),
        ..v
    });
    // Said to the user once the run has started, if it resumes elsewhere.
    let mut moved = None;
    let (target, cfg, loaded, info, val) = match &opts.start {
        Start::Resume {
            dir,
            teacher,
            epochs,
            save_every,
            select,
            average,
            sets,
        } => {
            let dir = RunDir::open(dir)?;
            // Held before anything is read, until the run ends.
            let lock = dir.lock()?;
            let mut cfg = dir.read_config()?.with_sets(sets)?;
            cfg.epochs = epochs.unwrap_or(cfg.epochs);
            cfg.save_every = save_every.unwrap_or(cfg.save_every);
            cfg.select = select.unwrap_or(cfg.select);
            cfg.average = average.unwrap_or(cfg.average);
            cfg.validate()?;
            let mut info = dir.read_info()?;
            let from = dir.committed_epochs()? + 1;
            if !sets.is_empty() {
                info.changes
                    .push(format!("from epoch {from}: {}", sets.join(" ")));
            }
            // Elsewhere, the run goes on correctly but not bit for bit as it
            // would have: the user hears of it, and run.json keeps it.
            let compute = crate::device::describe();
            if let Some(was) = info.compute.as_ref().filter(|&was| *was != compute) {
                let change = format!("from epoch {from}: computed on {compute}, not {was}");
                moved = Some(format!(
                    "{change}; the run is not bit-identical to one left where it started"
                ));
                info.changes.push(change);
            }
            info.compute = Some(compute);
            let path = teacher.clone().unwrap_or(info.teacher.clone());
            if file_digest(&path)? != info.teacher_digest {
                bail!(
                    "{}: not the teacher this run started with (its content differs)",
                    path.display()
                );
            }
            let loaded = load_teacher(&TeacherFile {
                path,
                arch: info.teacher_arch.clone(),
                input: info.teacher_input,
                norm: info
                    .teacher_mean
                    .clone()
                    .zip(info.teacher_std.clone())
                    .map(|(m, s)| Normalization::new(m, s)),
            })?;
            // The run keeps reporting accuracy on its data unless told otherwise.
            let val = match (given_val, &info.val) {
                (Some(v), _) => Some(v),
                (None, Some(v)) => Some(v.parse().with_context(|| {
                    format!("{}: the run's --val", dir.path.join("run.json").display())
                })?),
                (None, None) => None,
            };
            let info = RunInfo {
                val: val.as_ref().map(|v| v.to_string()),
                ..info
            };
            (Target::Resume(dir, lock), cfg, loaded, info, val)
        }
        Start::New {
            teacher,
            choice,
            out,
        } => {
            let loaded = load_teacher(teacher)?;
            let cfg = with_preset(choice, &loaded)?.resolve()?;
            let out = out.clone().unwrap_or_else(|| {
                PathBuf::from(format!("runs/{}-{}-s{}", cfg.method, cfg.preset, cfg.seed))
            });
            let norm = teacher.norm.as_ref();
            let info = RunInfo {
                teacher: std::fs::canonicalize(&teacher.path).unwrap_or(teacher.path.clone()),
                teacher_digest: file_digest(&teacher.path)?,
                dfkd_version: env!("CARGO_PKG_VERSION").to_string(),
                val: given_val.as_ref().map(|v| v.to_string()),
                teacher_arch: teacher.arch.clone(),
                teacher_input: teacher.input,
                teacher_mean: norm.map(|n| n.mean.clone()),
                teacher_std: norm.map(|n| n.std.clone()),
                compute: Some(crate::device::describe()),
                changes: Vec::new(),
            };
            (Target::New(out), cfg, loaded, info, given_val)
        }
    };
    let dataset = loaded.dataset.clone();
    let teacher_path = info.teacher.clone();
    let norm = loaded.teacher.norm.clone();
    let samples = match &target {
        Target::Resume(dir, _) => dir.samples(),
        Target::New(out) => out.join("samples"),
    };
    // Built, and the held-out data checked, before the run directory is
    // written, so that settings the teacher cannot serve (a student or a
    // teacher layer that does not exist, data of another shape) leave
    // nothing behind: no new directory, no change to a resumed one.
    let mut engine = Engine::new(cfg, loaded.teacher, &samples)?;
    let mut held_out = match &val {
        Some(spec) => Some(held_out(spec, &engine, &norm)?),
        None => None,
    };
    let resumed = matches!(target, Target::Resume(..));
    let (dir, _lock) = match target {
        Target::Resume(dir, lock) => {
            dir.remove_unfinished_writes()?;
            (dir, lock)
        }
        Target::New(out) => {
            let dir = RunDir::create(&out)?;
            let lock = dir.lock()?;
            (dir, lock)
        }
    };
    dir.write_config(&engine.cfg)?;
    dir.write_info(&info)?;
    let teacher_accuracy = held_out.as_mut().map(|h| h.accuracy(&engine.teacher));
    let student_meta = ModelMeta {
        arch: engine.cfg.student.clone(),
        num_classes: engine.teacher.spec.num_classes,
        input_shape: engine.teacher.spec.input_shape,
        normalization: norm,
        dataset,
    };
    let mut chooser = Chooser::new(&engine.student, engine.cfg.select)?;
    let (wall_clock, rollbacks) = restore(&mut engine, &mut chooser, &dir)?;
    observer.started(&Started {
        resumed,
        cfg: &engine.cfg,
        teacher: &teacher_path,
        dir: &dir.path,
        teacher_accuracy,
        epochs_done: engine.epochs_done,
    });
    if let Some(line) = &moved {
        observer.note(line);
    }
    let records = run(
        &mut engine,
        &mut chooser,
        &dir,
        RunContext {
            student_meta,
            evaluator: held_out.as_mut().map(|h| h as &mut dyn Evaluator),
            teacher_accuracy,
            observer,
            wall_clock,
            rollbacks,
        },
    )?;
    let summary = dir.read_summary()?;
    Ok(Outcome {
        dir: dir.path,
        records,
        summary,
    })
}

/// The test split of `spec`, checked against the teacher.
fn held_out(spec: &DataSpec, engine: &Engine, norm: &Normalization) -> Result<HeldOut> {
    let t = &engine.teacher.spec;
    let data = Dataset::load_for(spec, Split::Test, t.input_shape)?;
    if data.num_classes != t.num_classes {
        bail!(
            "--val {spec}: {} classes, but the teacher predicts {}",
            data.num_classes,
            t.num_classes
        );
    }
    if data.channels() != t.input_shape[0] {
        bail!(
            "--val {spec}: images have {} channels, the teacher takes {}",
            data.channels(),
            t.input_shape[0]
        );
    }
    Ok(HeldOut {
        data,
        norm: norm.clone(),
    })
}

/// What a run needs besides its engine and directory.
pub struct RunContext<'a> {
    /// Metadata for student checkpoints (the teacher's classes, input shape
    /// and normalisation, with the student's architecture).
    pub student_meta: ModelMeta,
    /// Measures the student after each epoch, if real data was given.
    pub evaluator: Option<&'a mut dyn Evaluator>,
    pub teacher_accuracy: Option<f64>,
    pub observer: &'a mut dyn Observer,
    /// Seconds of distillation before this session, and roll-backs after
    /// collapses so far (from [`restore`]).
    pub wall_clock: f64,
    pub rollbacks: usize,
}

/// Restores `engine` and `chooser` from the directory's committed state, if
/// there is one. Returns the seconds of distillation done so far and the
/// roll-backs made.
pub fn restore(engine: &mut Engine, chooser: &mut Chooser, dir: &RunDir) -> Result<(f64, usize)> {
    match dir.read_state()? {
        Some(s) => {
            let context = || format!("{}: resume state", dir.path.display());
            engine
                .load_state(&s.tensors, s.epochs_done)
                .with_context(context)?;
            chooser.load_state(&s.tensors).with_context(context)?;
            let rollbacks = s
                .tensors
                .get("run/rollbacks")
                .map_or(0, |t| t.int64_value(&[]));
            Ok((s.wall_clock, rollbacks as usize))
        }
        None => Ok((0.0, 0)),
    }
}

/// Runs the engine's remaining epochs (after [`restore`], if resuming).
/// Returns every epoch's record.
pub fn run(
    engine: &mut Engine,
    chooser: &mut Chooser,
    dir: &RunDir,
    mut ctx: RunContext,
) -> Result<Vec<EpochRecord>> {
    let mut records = dir.committed_metrics(engine.epochs_done)?;
    let mut wall = ctx.wall_clock;
    // Roll-backs after collapses so far (kept in the state file).
    let mut rollbacks = ctx.rollbacks;
    // What happened to the epoch in progress before it is committed.
    let mut events: Vec<String> = Vec::new();
    let teacher_path = dir.read_info()?.teacher;
    while engine.epochs_done < engine.cfg.epochs {
        let epoch = engine.epochs_done + 1;
        let observer = &mut *ctx.observer;
        let start = Instant::now();
        let (losses, lr) = engine.run_epoch(&mut |i, l| observer.iteration(epoch, i, l))?;
        let seconds = start.elapsed().as_secs_f64();
        check_finite(engine, &losses, epoch, dir)?;
        wall += seconds;
        let entropy = engine
            .last_samples()
            .map(|x| collapse::teacher_entropy(&engine.teacher, x));
        let limit = engine.cfg.collapse.clone();
        if let Some(h) = entropy.filter(|h| *h >= limit.entropy) {
            let what = format!(
                "epoch {epoch}: the synthesizer collapsed: the teacher's entropy on its samples is {:.2} of the largest, they no longer teach",
                h
            );
            if epoch > 1 && rollbacks < limit.limit && engine.renewable(limit.remedy) {
                // Back to the last committed (good) epoch, renewed.
                restore(engine, chooser, dir)?;
                seed::seed_recovery(engine.cfg.seed, epoch, rollbacks);
                let did = engine.recover(limit.remedy, limit.damp).expect("renewable");
                rollbacks += 1;
                let event = format!("{what}; rolled back to epoch {} with {did}", epoch - 1);
                ctx.observer.note(&event);
                events.push(event);
                continue;
            }
            ctx.observer.note(&what);
            events.push(what);
        }
        let note = (!events.is_empty()).then(|| std::mem::take(&mut events).join("; then "));
        let verdict = engine
            .last_samples()
            .map(|x| chooser.observe(epoch, &engine.teacher, &engine.student, x));
        let val_accuracy = ctx.evaluator.as_mut().map(|e| e.accuracy(&engine.student));
        let averaged = match verdict {
            Some(v) if engine.cfg.select != Select::Last && engine.cfg.average > 1 => {
                chooser.average(kept_before(dir, v.chosen_epoch, engine)?)?
            }
            _ => None,
        };
        let shipped_accuracy = averaged
            .as_ref()
            .and_then(|a| ctx.evaluator.as_mut().map(|e| e.accuracy(&a.model)));
        let record = EpochRecord {
            epoch,
            losses: losses.means(),
            val_accuracy,
            probe_agreement: verdict.map(|v| v.score.agreement),
            probe_kappa: verdict.map(|v| v.score.kappa),
            chosen_epoch: verdict.map(|v| v.chosen_epoch),
            averaged_epochs: averaged.as_ref().map(|a| a.epochs.clone()),
            shipped_accuracy,
            teacher_entropy: entropy,
            collapse: note,
            seconds,
            wall_clock: wall,
            replay_bytes: engine.replay_bytes(),
            kept_bytes: engine.kept_bytes(),
            lr_student: lr,
        };
        let last = epoch == engine.cfg.epochs;
        let keep = last || epoch.is_multiple_of(engine.cfg.save_every);
        // The state file commits the epoch: metrics lines beyond it are
        // dropped on resume, and the summary and pictures, written after it,
        // never describe an epoch that is not committed.
        let shipped = match (&averaged, engine.cfg.select) {
            (Some(a), _) => &a.model,
            (None, Select::Agreement | Select::Kappa) if verdict.is_some() => chooser.champion(),
            _ => &engine.student,
        };
        dir.save_student(&engine.student, shipped, &ctx.student_meta, epoch, keep)?;
        dir.append_metrics(&record)?;
        records.push(record.clone());
        let mut state = engine.state();
        state.extend(chooser.state());
        state.push(("run/rollbacks".into(), Tensor::from(rollbacks as i64)));
        dir.write_state(&state, engine.epochs_done, wall)?;
        write_pictures(engine, dir, &records, &ctx.student_meta)?;
        dir.write_summary(&summarize(
            engine,
            chooser,
            &records,
            ctx.teacher_accuracy,
            &teacher_path,
        ))?;
        ctx.observer.epoch(&record);
    }
    Ok(records)
}

/// The students of the `average - 1` epochs before `chosen` that the run
/// directory keeps, from the last quarter of the run, for the shipped
/// average (see average.rs).
fn kept_before(dir: &RunDir, chosen: usize, engine: &Engine) -> Result<Vec<(usize, Model)>> {
    let cfg = &engine.cfg;
    let first = chosen
        .saturating_sub(cfg.average - 1)
        .max(average::first_averaged(cfg.epochs));
    let mut out = Vec::new();
    for epoch in first..chosen {
        if let Some(m) = dir.kept_student(epoch, &engine.student)? {
            out.push((epoch, m));
        }
    }
    Ok(out)
}

/// Stops a run whose losses or student weights stopped being finite, before
/// the epoch is committed: every finished epoch stays, and a resume can
/// continue from the last of them with a changed setting.
fn check_finite(engine: &Engine, losses: &Losses, epoch: usize, dir: &RunDir) -> Result<()> {
    let bad_loss = losses.means().into_iter().find(|(_, v)| !v.is_finite());
    let bad_weight = || {
        engine
            .student
            .store
            .named_parameters()
            .into_iter()
            .find(|(_, t)| t.isfinite().all().int64_value(&[]) == 0)
    };
    let what = match (bad_loss, bad_weight()) {
        (Some((name, v)), _) => format!("loss '{name}' is {v}"),
        (None, Some((name, _))) => format!("student weight '{name}' is not finite"),
        (None, None) => return Ok(()),
    };
    bail!(
        "epoch {epoch}: {what}; the run stopped and keeps its {} finished epochs (continue with `dfkd distill --resume {} --set KEY=VALUE`, e.g. a lower rate)",
        epoch - 1,
        dir.path.display()
    )
}

fn write_pictures(
    engine: &Engine,
    dir: &RunDir,
    records: &[EpochRecord],
    meta: &ModelMeta,
) -> Result<()> {
    if let Some(x) = engine.picture_samples()? {
        grid::write(&dir.picture("samples.png"), &x, &meta.normalization, 2)?;
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
    chooser: &Chooser,
    records: &[EpochRecord],
    teacher_accuracy: Option<f64>,
    teacher: &Path,
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
    let last = records.len();
    let last_record = records.last();
    let (chosen_epoch, chosen_by, chosen_because) = match (cfg.select, chooser.standing()) {
        (Select::Agreement | Select::Kappa, Some(score)) => {
            // The last epoch was scored on the probe as it is now, as the
            // champion is.
            let (name, what, show, last_score): (_, _, fn(f64) -> String, _) =
                match chooser.signal() {
                    Select::Kappa => (
                        "kappa",
                        "Cohen's kappa (top-1 agreement with the teacher beyond what the class frequencies give)",
                        |v| format!("{v:.3}"),
                        last_record.and_then(|r| r.probe_kappa),
                    ),
                    _ => (
                        "agreement",
                        "top-1 agreement with the teacher",
                        |v| format!("{:.2} %", v * 100.0),
                        last_record.and_then(|r| r.probe_agreement),
                    ),
                };
            (
                chooser.chosen_epoch(),
                name,
                format!(
                    "the latest epoch whose {what} on {} synthetic probe samples from epochs 1, 2, 4, ... was within {} of the highest ({}): {} (the last epoch: {})",
                    chooser.probe_size(),
                    if chooser.tolerance() == 1.0 {
                        "one standard error".to_string()
                    } else {
                        format!("{} standard errors", chooser.tolerance())
                    },
                    show(chooser.peak()),
                    show(score.signal(chooser.signal()).0),
                    show(last_score.unwrap_or(f64::NAN))
                ),
            )
        }
        _ => (last, "last", "the last epoch (--select last)".to_string()),
    };
    let averaged_epochs = last_record
        .and_then(|r| r.averaged_epochs.clone())
        .unwrap_or_default();
    let chosen_because = match averaged_epochs.last() {
        Some(chosen) => format!(
            "{chosen_because}; shipped as the average of the students of epochs {}, which agrees with the teacher on the probe at least as epoch {chosen} does",
            average::epoch_list(&averaged_epochs)
        ),
        None => chosen_because,
    };
    let chosen_accuracy = if averaged_epochs.is_empty() {
        records
            .get(chosen_epoch.wrapping_sub(1))
            .and_then(|r| r.val_accuracy)
    } else {
        last_record.and_then(|r| r.shipped_accuracy)
    };
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
        chosen_epoch,
        chosen_by: chosen_by.to_string(),
        chosen_because,
        chosen_accuracy,
        averaged_epochs,
        collapses: records.iter().filter_map(|r| r.collapse.clone()).collect(),
        mean_accuracy: robust.map(|r| r.mu),
        var_accuracy: robust.map(|r| r.var),
        replay_bytes_max: records.iter().map(|r| r.replay_bytes).max().unwrap_or(0),
        kept_bytes_max: records.iter().map(|r| r.kept_bytes).max().unwrap_or(0),
        student_parameters: engine.student.store.parameter_count(),
    }
}
