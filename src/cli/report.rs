//! `dfkd report`: the PRE-DFKD paper's Table 1 for a set of runs, with how
//! each method keeps what it learnt and what its shipped student scores.

use crate::cli::progress;
use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use dfkd::distill::run_dir::RunDir;
use dfkd::eval::{robust_summary, stability, RobustSummary};
use dfkd::report::plot;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned columns for a terminal.
    Text,
    /// A table to paste.
    Markdown,
    /// One object per method.
    Json,
}

#[derive(Parser)]
pub struct Args {
    /// Run directories (made by `dfkd distill --val ...`).
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// Also write the accuracy curves (mean of each method's runs) here.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// One row of the table: the runs of one method.
#[derive(serde::Serialize)]
struct Row {
    method: String,
    parts: String,
    #[serde(flatten)]
    summary: RobustSummary,
    /// Means over the runs: the largest fall below the best accuracy so far
    /// over the second half of the epochs, best - last, and the accuracy of
    /// the shipped (data-free chosen) student.
    fall_mean: f64,
    best_minus_last_mean: f64,
    shipped_mean: f64,
    replay_bytes_max: u64,
    kept_bytes_max: u64,
    /// Largest replay + kept bytes at the end of an epoch (PRE-DFKD's
    /// memory column).
    memory_bytes_max: u64,
    wall_clock_s_mean: f64,
    run_dirs: Vec<PathBuf>,
}

#[derive(Default)]
struct Group {
    parts: String,
    accuracies: Vec<Vec<f64>>,
    falls: Vec<f64>,
    best_minus_last: Vec<f64>,
    shipped: Vec<f64>,
    replay_bytes: u64,
    kept_bytes: u64,
    memory_bytes: u64,
    wall_clock: Vec<f64>,
    dirs: Vec<PathBuf>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

pub fn run(a: Args) -> Result<()> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for path in &a.runs {
        let dir = RunDir::open(path)?;
        let cfg = dir.read_config()?;
        // Read-only: a run in progress is reported as far as it committed.
        let records = dir.read_metrics(dir.reported_epochs()?)?;
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
            ..Group::default()
        });
        if g.parts != parts {
            bail!(
                "{}: method {} with parts {parts}, but other runs of it use {}; name mixes apart with --set method=NAME",
                path.display(),
                cfg.method,
                g.parts
            );
        }
        let s = stability(&acc).expect("at least one epoch");
        g.falls.push(s.fall);
        g.best_minus_last.push(s.best_minus_last);
        // The shipped student is the chosen epoch's (the last one for runs
        // made before the data-free choice), or an average of students
        // measured on its own.
        let last = records.last();
        let chosen = last.and_then(|r| r.chosen_epoch).unwrap_or(acc.len());
        g.shipped.push(
            last.and_then(|r| r.shipped_accuracy)
                .unwrap_or(acc[chosen - 1]),
        );
        g.accuracies.push(acc);
        for r in &records {
            g.replay_bytes = g.replay_bytes.max(r.replay_bytes);
            g.kept_bytes = g.kept_bytes.max(r.kept_bytes);
            g.memory_bytes = g.memory_bytes.max(r.replay_bytes + r.kept_bytes);
        }
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
            fall_mean: mean(&g.falls),
            best_minus_last_mean: mean(&g.best_minus_last),
            shipped_mean: mean(&g.shipped),
            replay_bytes_max: g.replay_bytes,
            kept_bytes_max: g.kept_bytes,
            memory_bytes_max: g.memory_bytes,
            wall_clock_s_mean: mean(&g.wall_clock),
            run_dirs: g.dirs.clone(),
        })
        .collect();
    if let Some(file) = &a.plot {
        write_plot(file, &groups)?;
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Markdown => markdown(&rows),
        Format::Text => text(&rows),
    }
    Ok(())
}

const HEADERS: [&str; 12] = [
    "method",
    "synth x replay x update",
    "runs",
    "epochs",
    "mu",
    "sigma^2",
    "acc_max",
    "fall",
    "best-last",
    "shipped",
    "memory",
    "time/run",
];

fn cells(r: &Row) -> [String; 12] {
    let s = &r.summary;
    [
        r.method.clone(),
        r.parts.clone(),
        s.runs.to_string(),
        s.epochs.to_string(),
        format!("{:.2}", s.mu),
        format!("{:.2}", s.var),
        format!("{:.2}", s.acc_max),
        format!("{:.2}", r.fall_mean),
        format!("{:.2}", r.best_minus_last_mean),
        format!("{:.2}", r.shipped_mean),
        progress::bytes(r.memory_bytes_max),
        progress::duration(r.wall_clock_s_mean),
    ]
}

fn text(rows: &[Row]) {
    let table: Vec<[String; 12]> = rows.iter().map(cells).collect();
    // Each column as wide as its widest entry; names left, figures right.
    let widths: Vec<usize> = (0..12)
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].len())
                .chain([HEADERS[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cols: Vec<&str>| {
        let out: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c < 2 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        println!("{}", out.join(" ").trim_end());
    };
    line(HEADERS.to_vec());
    for r in &table {
        line(r.iter().map(String::as_str).collect());
    }
}

fn markdown(rows: &[Row]) {
    println!("| {} |", HEADERS.join(" | "));
    println!("|{}", "---|".repeat(HEADERS.len()));
    for r in rows {
        println!("| {} |", cells(r).join(" | "));
    }
}

fn write_plot(file: &std::path::Path, groups: &BTreeMap<String, Group>) -> Result<()> {
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
        file,
        "Student accuracy over epochs (mean of runs, band: min-max)",
        "accuracy (%)",
        &series,
    )?;
    eprintln!("curves written to {}", file.display());
    Ok(())
}
