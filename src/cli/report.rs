//! `dfkd report`: the PRE-DFKD paper's Table 1 for a set of runs.

use crate::cli::progress;
use anyhow::{bail, Result};
use clap::Parser;
use dfkd::distill::run_dir::RunDir;
use dfkd::eval::{robust_summary, RobustSummary};
use dfkd::report::plot;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    /// Run directories (made by `dfkd distill --val ...`).
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// Where to write the accuracy curves.
    #[arg(long, value_name = "FILE", default_value = "report.png")]
    plot: PathBuf,
    /// Print the table as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One row of the table: the runs of one method.
#[derive(serde::Serialize)]
struct Row {
    method: String,
    parts: String,
    #[serde(flatten)]
    summary: RobustSummary,
    replay_bytes_max: u64,
    kept_bytes_max: u64,
    /// Largest replay + kept bytes at the end of an epoch (PRE-DFKD's
    /// memory column).
    memory_bytes_max: u64,
    wall_clock_s_mean: f64,
    run_dirs: Vec<PathBuf>,
}

struct Group {
    parts: String,
    accuracies: Vec<Vec<f64>>,
    replay_bytes: u64,
    kept_bytes: u64,
    memory_bytes: u64,
    wall_clock: Vec<f64>,
    dirs: Vec<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for path in &a.runs {
        let dir = RunDir::open(path)?;
        let cfg = dir.read_config()?;
        let epochs = dir.read_state()?.map_or(0, |s| s.epochs_done);
        let records = dir.committed_metrics(epochs)?;
        let acc: Vec<f64> = records.iter().filter_map(|r| r.val_accuracy).collect();
        if acc.len() != records.len() || acc.is_empty() {
            bail!(
                "{}: no validation accuracy for every epoch (distill with --val KIND:PATH)",
                path.display()
            );
        }
        let parts = cfg.parts();
        let g = groups.entry(cfg.method.clone()).or_insert_with(|| Group {
            parts: parts.clone(),
            accuracies: Vec::new(),
            replay_bytes: 0,
            kept_bytes: 0,
            memory_bytes: 0,
            wall_clock: Vec::new(),
            dirs: Vec::new(),
        });
        if g.parts != parts {
            bail!(
                "{}: method {} with parts {parts}, but other runs of it use {}; name mixes apart with --set method=NAME",
                path.display(),
                cfg.method,
                g.parts
            );
        }
        g.accuracies.push(acc);
        g.replay_bytes = g
            .replay_bytes
            .max(records.iter().map(|r| r.replay_bytes).max().unwrap_or(0));
        g.kept_bytes = g
            .kept_bytes
            .max(records.iter().map(|r| r.kept_bytes).max().unwrap_or(0));
        g.memory_bytes = g.memory_bytes.max(
            records
                .iter()
                .map(|r| r.replay_bytes + r.kept_bytes)
                .max()
                .unwrap_or(0),
        );
        g.wall_clock
            .push(records.last().map_or(0.0, |r| r.wall_clock));
        g.dirs.push(path.clone());
    }
    let rows: Vec<Row> = groups
        .iter()
        .map(|(method, g)| Row {
            method: method.clone(),
            parts: g.parts.clone(),
            summary: robust_summary(&g.accuracies).expect("every run has epochs"),
            replay_bytes_max: g.replay_bytes,
            kept_bytes_max: g.kept_bytes,
            memory_bytes_max: g.memory_bytes,
            wall_clock_s_mean: g.wall_clock.iter().sum::<f64>() / g.wall_clock.len() as f64,
            run_dirs: g.dirs.clone(),
        })
        .collect();
    let series: Vec<plot::Series> = groups
        .iter()
        .map(|(method, g)| {
            let n = g.accuracies.iter().map(Vec::len).min().unwrap_or(0);
            let at = |t: usize| g.accuracies.iter().map(move |r| r[t]);
            plot::Series {
                name: format!("{method} ({} runs)", g.accuracies.len()),
                points: (0..n)
                    .map(|t| {
                        (
                            (t + 1) as f64,
                            at(t).sum::<f64>() / g.accuracies.len() as f64,
                        )
                    })
                    .collect(),
                band: (g.accuracies.len() > 1).then(|| {
                    (0..n)
                        .map(|t| {
                            (
                                (t + 1) as f64,
                                at(t).fold(f64::MAX, f64::min),
                                at(t).fold(f64::MIN, f64::max),
                            )
                        })
                        .collect()
                }),
            }
        })
        .collect();
    plot::write(
        &a.plot,
        "Student accuracy over epochs (mean of runs, band: min-max)",
        "accuracy (%)",
        &series,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let parts = "synth x replay x update";
    // As wide as the longest name and composition, so every row stays aligned.
    let width = |f: fn(&Row) -> usize, header: &str| {
        rows.iter()
            .map(f)
            .chain([header.len()])
            .max()
            .unwrap_or_default()
    };
    let m = width(|r| r.method.len(), "method");
    let w = width(|r| r.parts.len(), parts);
    println!(
        "{:<m$} {:<w$} {:>4} {:>6} {:>8} {:>8} {:>8} {:>12} {:>10}",
        "method", parts, "runs", "epochs", "mu", "sigma^2", "acc_max", "memory", "time/run"
    );
    for r in &rows {
        let s = &r.summary;
        println!(
            "{:<m$} {:<w$} {:>4} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>12} {:>10}",
            r.method,
            r.parts,
            s.runs,
            s.epochs,
            s.mu,
            s.var,
            s.acc_max,
            progress::bytes(r.memory_bytes_max),
            progress::duration(r.wall_clock_s_mean)
        );
    }
    eprintln!("curves written to {}", a.plot.display());
    Ok(())
}
