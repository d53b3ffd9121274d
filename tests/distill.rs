//! Distillation runs through the CLI: the run directory, resume, the
//! evaluation boundary, part composition and the report.

mod common;

use common::{dfkd, dfkd_owned, scratch, stderr, stdout};
use dfkd::checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn teacher() -> String {
    common::repo()
        .join("teachers/lenet5-mnist.safetensors")
        .display()
        .to_string()
}

/// A small but real budget: the official MNIST preset with tiny batches.
fn small(method: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "distill",
        "--teacher",
        &teacher(),
        "--method",
        method,
        "--preset",
        "mnist",
        "--batch-size",
        "24",
        "--iters",
        "3",
        "--epochs",
        "4",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(out.display().to_string());
    // `extra` is flag/value pairs; a flag of the base list takes the new value.
    let base = a.len();
    for pair in extra.chunks(2) {
        match a[..base].iter().position(|x| x == pair[0]) {
            Some(i) if pair.len() == 2 => a[i + 1] = pair[1].to_string(),
            _ => a.extend(pair.iter().map(|s| s.to_string())),
        }
    }
    a
}

/// `mnist:DIR` of a fresh tiny MNIST-format test split with `n` images in
/// `base/name`.
fn tiny_val(base: &Path, name: &str, n: u32) -> String {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    common::tiny_mnist(&dir, 10, n);
    format!("mnist:{}", dir.display())
}

/// `dfkd distill --resume DIR [--epochs N]`, which must succeed.
fn resume(dir: &Path, epochs: Option<usize>) -> Output {
    let mut args = vec![
        "distill".to_string(),
        "--resume".into(),
        dir.display().to_string(),
    ];
    if let Some(e) = epochs {
        args.extend(["--epochs".into(), e.to_string()]);
    }
    run(&args)
}

fn run(args: &[String]) -> Output {
    let o = dfkd_owned(args);
    assert!(
        o.status.success(),
        "dfkd {}\n{}",
        args.join(" "),
        stderr(&o)
    );
    o
}

fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let ck = Checkpoint::read(path).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = ck
        .tensors
        .iter()
        .map(|(k, t)| {
            let t = t.contiguous();
            let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
            t.copy_data_u8(&mut bytes, t.numel());
            (k.clone(), bytes)
        })
        .collect();
    v.sort();
    v
}

fn same_student(a: &Path, b: &Path) -> bool {
    tensors(&a.join("student.safetensors")) == tensors(&b.join("student.safetensors"))
}

#[test]
fn run_directory_holds_every_output() {
    let Some(data) = common::shared_data("run directory") else {
        return;
    };
    let dir = scratch("rundir").join("run");
    let o = run(&small(
        "dafl",
        &dir,
        &["--val", &format!("mnist:{}", data.join("mnist").display())],
    ));
    assert!(stdout(&o).lines().last().unwrap().starts_with("accuracy="));
    for f in [
        "config.toml",
        "run.json",
        "state.safetensors",
        "metrics.jsonl",
        "summary.json",
        "student.safetensors",
        "accuracy.png",
        "losses.png",
        "samples.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    for e in 1..=4 {
        assert!(dir
            .join(format!("checkpoints/student-epoch-{e:04}.safetensors"))
            .is_file());
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i + 1);
        assert!(l["val_accuracy"].as_f64().unwrap() >= 0.0);
        assert!(l["losses"]["kd"].as_f64().is_some() && l["losses"]["oh"].as_f64().is_some());
        assert!(l["seconds"].as_f64().unwrap() > 0.0);
    }
    let summary = summary(&dir);
    assert_eq!(summary["epochs_done"], 4);
    assert_eq!(summary["parts"], "dafl x none x joint");
    let data_arg = format!("mnist:{}", data.join("mnist").display());
    let teacher_eval = dfkd(&["eval", "--model", &teacher(), "--data", &data_arg]);
    assert_eq!(
        summary["teacher_accuracy"].as_f64(),
        Some(common::accuracy(&teacher_eval))
    );
    // The student checkpoint carries the teacher's input conventions.
    let meta = Checkpoint::read(&dir.join("student.safetensors"))
        .unwrap()
        .model_meta()
        .unwrap()
        .unwrap();
    assert_eq!(
        (meta.arch.as_str(), meta.input_shape),
        ("lenet5-half", [1, 32, 32])
    );
    assert_eq!(meta.normalization.mean, [0.1307]);
    // It is the chosen epoch's student, and evaluates like any checkpoint.
    let chosen = summary["chosen_epoch"].as_u64().unwrap() as usize;
    assert!((1..=4).contains(&chosen));
    assert_eq!(summary["chosen_by"], "agreement");
    let chosen_accuracy = lines[chosen - 1]["val_accuracy"].as_f64().unwrap();
    assert_eq!(summary["chosen_accuracy"].as_f64(), Some(chosen_accuracy));
    assert_eq!(common::accuracy(&o), chosen_accuracy);
    let e = dfkd(&[
        "eval",
        "--model",
        dir.join("student.safetensors").to_str().unwrap(),
        "--data",
        &data_arg,
    ]);
    assert_eq!(common::accuracy(&e), chosen_accuracy);
    let checkpoint = format!("checkpoints/student-epoch-{chosen:04}.safetensors");
    assert_eq!(
        tensors(&dir.join("student.safetensors")),
        tensors(&dir.join(checkpoint))
    );
    // Every epoch logs its agreement and kappa on the probe, and the choice
    // so far.
    for l in &lines {
        assert!((0.0..=1.0).contains(&l["probe_agreement"].as_f64().unwrap()));
        assert!((-1.0..=1.0).contains(&l["probe_kappa"].as_f64().unwrap()));
        assert!(l["chosen_epoch"].as_u64().unwrap() <= l["epoch"].as_u64().unwrap());
    }
}

#[test]
fn evaluation_data_never_reaches_the_distillation() {
    // The same run with and without validation data, and with different
    // validation data, trains bit-identical students.
    let base = scratch("val-boundary");
    let tiny = tiny_val(&base, "tiny-mnist", 50);
    let without = base.join("without");
    run(&small("dafl", &without, &[]));
    let with_tiny = base.join("with-tiny");
    run(&small("dafl", &with_tiny, &["--val", &tiny]));
    assert!(same_student(&without, &with_tiny));
    // The data-free choice of the shipped student sees no real data either:
    // the same epoch, the same bytes, the same last student.
    let chosen = |dir: &Path| summary(dir)["chosen_epoch"].clone();
    assert_eq!(chosen(&without), chosen(&with_tiny));
    let last = "checkpoints/student-epoch-0004.safetensors";
    assert_eq!(tensors(&without.join(last)), tensors(&with_tiny.join(last)));
    if let Some(data) = common::shared_data("evaluation boundary (real MNIST)") {
        let with_real = base.join("with-real");
        run(&small(
            "dafl",
            &with_real,
            &["--val", &format!("mnist:{}", data.join("mnist").display())],
        ));
        assert!(same_student(&without, &with_real));
        assert_eq!(chosen(&without), chosen(&with_real));
    }
}

#[test]
fn the_shipped_average_is_the_mean_of_the_students_it_names_and_sees_no_real_data() {
    let base = scratch("average");
    let six = ["--epochs", "6", "--average", "5"];
    let without = base.join("without");
    run(&small("dfad", &without, &six));
    let s = summary(&without);
    let epochs: Vec<usize> = serde_json::from_value(s["averaged_epochs"].clone()).unwrap();
    // This run's average ships (the guard holds it back on other runs): the
    // chosen epoch last, and before it only epochs of the run's last
    // quarter (from epoch 5 of 6).
    assert_eq!(epochs, vec![5, 6], "{s}");
    let kept = |e: usize| {
        Checkpoint::read(&without.join(format!("checkpoints/student-epoch-{e:04}.safetensors")))
            .unwrap()
    };
    let shipped = Checkpoint::read(&without.join("student.safetensors")).unwrap();
    for (name, t) in &shipped.tensors {
        if !t.is_floating_point() {
            continue;
        }
        let sum = epochs
            .iter()
            .map(|&e| kept(e).tensors[name].to_kind(tch::Kind::Double))
            .reduce(|a, b| a + b)
            .unwrap();
        let mean = (sum / epochs.len() as f64).to_kind(t.kind());
        let gap = (t - mean).abs().max().double_value(&[]);
        assert!(gap < 1e-6, "{name}: {gap}");
    }
    assert!(s["chosen_because"]
        .as_str()
        .unwrap()
        .contains("shipped as the average"));
    // A run stopped before the average and resumed ships the same bytes.
    let parts = base.join("parts");
    run(&small("dfad", &parts, &["--epochs", "3", "--average", "5"]));
    resume(&parts, Some(6));
    assert!(same_student(&without, &parts));
    // Real data measures the average but does not change it.
    let with_val = base.join("with-val");
    let tiny = tiny_val(&base, "tiny-mnist", 50);
    run(&small(
        "dfad",
        &with_val,
        &[&six[..], &["--val", &tiny]].concat(),
    ));
    assert!(same_student(&without, &with_val));
    let records = metric(&with_val, "shipped_accuracy");
    let s = summary(&with_val);
    assert_eq!(s["chosen_accuracy"], records[records.len() - 1], "{s}");
    assert_eq!(s["averaged_epochs"], summary(&without)["averaged_epochs"]);
    // --average 1 ships the chosen student alone.
    let alone = base.join("alone");
    run(&small("dfad", &alone, &["--epochs", "6", "--average", "1"]));
    let s = summary(&alone);
    assert!(s.get("averaged_epochs").is_none(), "{s}");
    let chosen = s["chosen_epoch"].as_u64().unwrap();
    assert_eq!(
        tensors(&alone.join("student.safetensors")),
        tensors(&alone.join(format!("checkpoints/student-epoch-{chosen:04}.safetensors")))
    );
}

#[test]
fn a_stopped_and_resumed_run_ends_bit_identical() {
    let bank = [
        "--replay",
        "memory-bank",
        "--set",
        "replay.every=1",
        "--set",
        "replay.capacity=2",
    ];
    for (name, method, extra) in [
        ("dafl", "dafl", &[][..]),
        ("dfad", "dfad", &[][..]),
        ("dafl-bank", "dafl", &bank[..]),
        ("dfad-pool", "dfad", &["--replay", "pool"][..]),
        ("dafl-vae", "dafl", &["--replay", "vae"][..]),
        // The shipped student is the chosen one: chosen by kappa, resumed.
        ("dfad-kappa", "dfad", &["--select", "kappa"][..]),
    ] {
        let base = scratch(&format!("resume-{name}"));
        let whole = base.join("whole");
        run(&small(method, &whole, extra));
        let parts = base.join("parts");
        let mut first = small(method, &parts, extra);
        let e = first.iter().position(|a| a == "--epochs").unwrap();
        first[e + 1] = "2".into();
        run(&first);
        assert!(
            !same_student(&whole, &parts),
            "{name}: 2 epochs already equal 4"
        );
        resume(&parts, Some(4));
        assert!(same_student(&whole, &parts), "{name}: resumed run differs");
        let lines = std::fs::read_to_string(parts.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 4);
        let by = if name.ends_with("kappa") {
            "kappa"
        } else {
            "agreement"
        };
        assert_eq!(summary(&parts)["chosen_by"], by, "{name}");
        assert_eq!(
            summary(&parts)["chosen_epoch"],
            summary(&whole)["chosen_epoch"]
        );
    }
}

#[test]
fn a_run_resumed_on_another_thread_count_says_so() {
    // Two threads round differently from one (bench/RESULTS.md,
    // "Determinism"): such a resume is correct but not bit-identical, and
    // the user is told, and run.json keeps it.
    let dir = scratch("resume-threads").join("run");
    let mut first = small("dafl", &dir, &[]);
    let e = first.iter().position(|a| a == "--epochs").unwrap();
    first[e + 1] = "2".into();
    run(&first);
    let info = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
    };
    assert_eq!(info(&dir)["compute"], "cpu, 1 CPU thread");
    assert!(info(&dir).get("changes").is_none());
    // The same place: nothing to say.
    let o = resume(&dir, Some(3));
    assert!(!stderr(&o).contains("computed on"), "{}", stderr(&o));
    assert!(info(&dir).get("changes").is_none());
    let mut args = vec!["distill", "--resume", dir.to_str().unwrap()];
    args.extend(["--epochs", "4", "--threads", "2"]);
    let o = run(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    let change = "from epoch 4: computed on cpu, 2 CPU threads, not cpu, 1 CPU thread";
    assert!(
        stderr(&o).contains(&format!("note: {change}; the run is not bit-identical")),
        "{}",
        stderr(&o)
    );
    assert_eq!(info(&dir)["compute"], "cpu, 2 CPU threads");
    assert_eq!(info(&dir)["changes"], serde_json::json!([change]));
}

#[test]
fn a_killed_run_loses_no_finished_epoch_and_resumes_to_the_same_student() {
    let base = scratch("kill");
    let args = |out: &PathBuf| small("dfad", out, &["--epochs", "6", "--batch-size", "48"]);
    let whole = base.join("whole");
    run(&args(&whole));
    let killed = base.join("killed");
    let mut child = common::dfkd_command()
        .args(args(&killed))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) once two epochs are committed (the summary is
    // written after the commit), wherever it is.
    let committed = || -> u64 {
        std::fs::read_to_string(killed.join("summary.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["epochs_done"].as_u64())
            .unwrap_or(0)
    };
    let start = Instant::now();
    loop {
        let committed = committed();
        if committed >= 2 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = summary(&killed)["epochs_done"].as_u64().unwrap();
    assert!((2..6).contains(&done), "killed after {done} epochs");
    // As if the kill had also cut an uncommitted epoch's metrics line short.
    let mut metrics = std::fs::OpenOptions::new()
        .append(true)
        .open(killed.join("metrics.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut metrics, b"{\"epoch\":9,\"los").unwrap();
    resume(&killed, None);
    assert!(same_student(&whole, &killed));
    assert_eq!(
        std::fs::read_to_string(killed.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        6
    );
}

#[test]
fn a_run_directory_in_use_by_another_process_is_refused() {
    let base = scratch("locked");
    let dir = base.join("run");
    run(&small("dafl", &dir, &["--epochs", "1"]));
    let state = std::fs::read(dir.join("state.safetensors")).unwrap();
    // This test process stands for a dfkd still running the directory.
    let held = dfkd::distill::run_dir::RunDir::open(&dir)
        .unwrap()
        .lock()
        .unwrap();
    let path = dir.display().to_string();
    let o = dfkd(&["distill", "--resume", &path, "--epochs", "2"]);
    fails(&o, "in use by another dfkd process");
    assert_eq!(
        std::fs::read(dir.join("state.safetensors")).unwrap(),
        state,
        "a refused resume changed the run"
    );
    drop(held);
    resume(&dir, Some(2));
    assert_eq!(summary(&dir)["epochs_done"], 2);
}

#[test]
fn parts_compose_across_methods() {
    // DAFL's preset with DFAD's synthesizer: DFAD's generator settings and
    // plan, DAFL's student optimizer and KD loss.
    let t = teacher();
    let o = dfkd(&[
        "distill",
        "--teacher",
        &t,
        "--method",
        "dafl",
        "--preset",
        "mnist",
        "--synth",
        "dfad",
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: toml::Value = toml::from_str(&stdout(&o)).unwrap();
    assert_eq!(cfg["synth"]["kind"].as_str(), Some("dfad"));
    assert_eq!(cfg["synth"]["student_steps"].as_integer(), Some(5));
    assert_eq!(cfg["kd"]["kind"].as_str(), Some("kl"));
    assert_eq!(cfg["student_optim"]["kind"].as_str(), Some("adam"));
    let dir = scratch("compose").join("run");
    run(&small("dafl", &dir, &["--synth", "dfad", "--epochs", "1"]));
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(summary.contains("dfad x none x joint"), "{summary}");
}

#[test]
fn settings_come_from_presets_files_and_flags() {
    let t = teacher();
    let dir = scratch("settings");
    let file = dir.join("mine.toml");
    std::fs::write(
        &file,
        "iters = 7\n[synth]\nie = 2.5\n[synth.optim]\nlr = 0.05\n",
    )
    .unwrap();
    let o = dfkd(&[
        "distill",
        "--teacher",
        &t,
        "--method",
        "dafl",
        "--config",
        file.to_str().unwrap(),
        "--set",
        "synth.oh=0.25",
        "--epochs",
        "3",
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: toml::Value = toml::from_str(&stdout(&o)).unwrap();
    // The preset follows the teacher's dataset (mnist) unless named.
    assert_eq!(cfg["preset"].as_str(), Some("mnist"));
    assert_eq!(cfg["iters"].as_integer(), Some(7));
    assert_eq!(cfg["epochs"].as_integer(), Some(3));
    assert_eq!(cfg["batch_size"].as_integer(), Some(512));
    assert_eq!(cfg["synth"]["ie"].as_float(), Some(2.5));
    assert_eq!(cfg["synth"]["oh"].as_float(), Some(0.25));
    assert_eq!(cfg["synth"]["a"].as_float(), Some(0.1));
    assert_eq!(cfg["synth"]["optim"]["lr"].as_float(), Some(0.05));
    assert_eq!(cfg["synth"]["optim"]["kind"].as_str(), Some("adam"));
    // The official CIFAR-10 DFAD settings, for the record.
    let dry = |args: &[&str]| -> toml::Value {
        let mut all = vec!["distill", "--teacher", &t, "--dry-run"];
        all.extend(args);
        let o = dfkd(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        toml::from_str(&stdout(&o)).unwrap()
    };
    let dfad_cifar =
        |extra: &[&str]| dry(&[&["--method", "dfad", "--preset", "cifar10"], extra].concat());
    let cfg = dfad_cifar(&[]);
    assert_eq!(cfg["batch_size"].as_integer(), Some(256));
    assert_eq!(cfg["synth"]["generator"]["latent"].as_integer(), Some(256));
    let milestones = |cfg: &toml::Value, part: &str| -> Vec<i64> {
        let s = match part {
            "student" => &cfg["student_schedule"],
            _ => &cfg["synth"]["schedule"],
        };
        s["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_integer().unwrap())
            .collect()
    };
    assert_eq!(milestones(&cfg, "student"), [100, 200]);
    assert_eq!(milestones(&cfg, "synth"), [100, 200]);
    // A shorter run drops its rates at the same fractions of it, unless its
    // length is set as a plain value.
    let short = dfad_cifar(&["--epochs", "50"]);
    assert_eq!(milestones(&short, "student"), [10, 20]);
    assert_eq!(milestones(&short, "synth"), [10, 20]);
    let plain = dfad_cifar(&["--set", "epochs=50"]);
    assert_eq!(plain["epochs"].as_integer(), Some(50));
    assert_eq!(milestones(&plain, "student"), [100, 200]);
    // MB-DFKD's settings (gaurav104/LRA's re-implementation).
    let cfg = dry(&["--method", "mb-dfkd", "--preset", "cifar10"]);
    assert_eq!(cfg["synth"]["kind"].as_str(), Some("pre-dfkd"));
    assert_eq!(cfg["synth"]["js"].as_float(), Some(1.0));
    assert_eq!(cfg["synth"]["student_steps"].as_integer(), Some(10));
    assert_eq!(
        cfg["synth"]["generator"]["spectral_norm"].as_bool(),
        Some(true)
    );
    assert_eq!(cfg["replay"]["kind"].as_str(), Some("memory-bank"));
    assert_eq!(cfg["replay"]["capacity"].as_integer(), Some(10));
    assert_eq!(cfg["replay"]["every"].as_integer(), Some(5));
    // Its cosine schedule anneals over the run's epochs, whatever they are.
    assert!(cfg["student_schedule"].get("t_max").is_none());
    // PRE-DFKD's (kuluhan/PRE-DFKD main.py defaults), and PRE-DFAD as a mix.
    let cfg = dry(&["--method", "pre-dfkd", "--preset", "cifar100"]);
    assert_eq!(cfg["synth"]["kind"].as_str(), Some("pre-dfkd"));
    assert_eq!(cfg["replay"]["kind"].as_str(), Some("vae"));
    assert_eq!(cfg["replay"]["vae_steps"].as_integer(), Some(4));
    assert_eq!(cfg["replay"]["lr"].as_float(), Some(5e-4));
    assert_eq!(cfg["replay"]["kl_weight"].as_float(), Some(1e-5));
    assert_eq!(cfg["epochs"].as_integer(), Some(400));
    let cfg = dry(&["--method", "dfad", "--replay", "vae"]);
    assert_eq!(cfg["synth"]["kind"].as_str(), Some("dfad"));
    assert_eq!(cfg["replay"]["kind"].as_str(), Some("vae"));
    assert_eq!(cfg["replay"]["latent_tuning"].as_bool(), Some(true));
    // MNIST: PRE-DFKD's MNIST branch trains the student with Adam (2e-3,
    // measured; the code's default 0.1 left it at chance); MB-DFKD follows.
    for method in ["pre-dfkd", "mb-dfkd"] {
        let cfg = dry(&["--method", method, "--preset", "mnist"]);
        assert_eq!(cfg["student"].as_str(), Some("lenet5-half"));
        assert_eq!(cfg["student_optim"]["kind"].as_str(), Some("adam"));
        assert_eq!(cfg["student_optim"]["lr"].as_float(), Some(2e-3));
        assert_eq!(cfg["batch_size"].as_integer(), Some(1024));
        assert_eq!(cfg["synth"]["generator"]["latent"].as_integer(), Some(1000));
        let cpu = dry(&["--method", method, "--preset", "mnist-cpu"]);
        assert_eq!(cpu["batch_size"].as_integer(), Some(256));
        assert!(cpu["student_schedule"].get("t_max").is_none(), "{method}");
    }
    // PRE-DFKD's official code fixes T_max at 400, whatever the epochs.
    let cfg = dry(&[
        "--method", "pre-dfkd", "--preset", "mnist", "--epochs", "11",
    ]);
    assert_eq!(cfg["student_schedule"]["t_max"].as_integer(), Some(400));
    // The paper's PRE-DFAD by name: DFAD's MNIST settings, the VAE replay.
    let cfg = dry(&["--method", "pre-dfad", "--preset", "mnist"]);
    let dfad = dry(&["--method", "dfad", "--preset", "mnist"]);
    assert_eq!(cfg["synth"], dfad["synth"]);
    assert_eq!(cfg["student_optim"], dfad["student_optim"]);
    assert_eq!(cfg["replay"]["kind"].as_str(), Some("vae"));
}

fn fails(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure");
    assert!(
        err.lines().filter(|l| !l.is_empty()).count() == 1 && err.starts_with("error: "),
        "{err}"
    );
    assert!(err.contains(needle), "'{needle}' not in {err}");
}

#[test]
fn bad_distillation_arguments_are_one_line_errors() {
    let t = teacher();
    let dir = scratch("distill-errors");
    fails(
        &dfkd(&["distill", "--method", "dafl"]),
        "--teacher is required",
    );
    fails(
        &dfkd(&["distill", "--teacher", &t]),
        "--method is required for a new run (adi, cmi, dafl, deepdream, deepinversion, dfad, lra, lra-vae, mb-dfkd, pre-dfad, pre-dfkd)",
    );
    // Part and method names are typed: clap refuses others and lists them.
    for (flag, bad, known) in [
        ("--method", "dream", "deepdream"),
        ("--synth", "dream", "deepinversion"),
        ("--replay", "tape", "memory-bank"),
        ("--update", "mega", "meta"),
    ] {
        let o = dfkd(&["distill", "--teacher", &t, flag, bad, "--dry-run"]);
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(
            err.contains(&format!("invalid value '{bad}' for '{flag}")) && err.contains(known),
            "{err}"
        );
    }
    fails(
        &dfkd(&[
            "distill",
            "--teacher",
            &t,
            "--method",
            "dafl",
            "--preset",
            "imagenet",
            "--dry-run",
        ]),
        "no preset 'imagenet'",
    );
    // A settings file names its parts as strings: they are checked too.
    fails(
        &dfkd(&[
            "distill",
            "--teacher",
            &t,
            "--method",
            "dafl",
            "--set",
            "replay.kind=tape",
            "--dry-run",
        ]),
        "unknown replay 'tape' (known: none, memory-bank, pool, vae)",
    );
    fails(
        &dfkd(&[
            "distill",
            "--teacher",
            &t,
            "--method",
            "dafl",
            "--set",
            "synth.bogus=1",
            "--dry-run",
        ]),
        "bogus",
    );
    fails(
        &dfkd(&[
            "distill",
            "--teacher",
            &t,
            "--method",
            "dafl",
            "--set",
            "epochs",
            "--dry-run",
        ]),
        "key=value",
    );
    fails(
        &dfkd(&["distill", "--resume", dir.to_str().unwrap()]),
        "not a run directory",
    );
    // Settings the teacher cannot serve are refused before the run
    // directory is written, so a corrected retry is not "already a run".
    let missing = dir.join("no-such-data");
    let val = format!("mnist:{}", missing.display());
    for (name, extra, needle) in [
        (
            "bad-layer",
            vec![
                "--replay",
                "vae",
                "--set",
                "replay.teacher_layers=[\"fc9\"]",
            ],
            "replay.teacher_layers: logits, features or a tap point of the teacher: \
             lenet5 has no tap point 'fc9' (it has: conv1, conv2, conv3, fc1)",
        ),
        (
            "bad-student",
            vec!["--set", "student=\"lenet7\""],
            "student lenet7: unknown architecture 'lenet7'",
        ),
        ("bad-val", vec!["--val", &val], "no-such-data"),
    ] {
        let args = small("dafl", &dir.join(name), &extra);
        fails(&dfkd_owned(&args), needle);
        assert!(!dir.join(name).exists(), "refused {name} left a directory");
    }
    let out = dir.join("run");
    run(&small("dafl", &out, &["--epochs", "1"]));
    fails(
        &dfkd_owned(&small("dafl", &out, &[])),
        "already holds a run",
    );
    fails(
        &dfkd(&["distill", "--resume", out.to_str().unwrap(), "--seed", "3"]),
        "--seed cannot change an existing run",
    );
    // A resume refused for its --val leaves the run as it was.
    let recorded = |name: &str| std::fs::read(out.join(name)).unwrap();
    let (info, config) = (recorded("run.json"), recorded("config.toml"));
    fails(
        &dfkd(&[
            "distill",
            "--resume",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--val",
            &val,
        ]),
        "no-such-data",
    );
    assert!(recorded("run.json") == info && recorded("config.toml") == config);
    let fm = common::repo().join("teachers/lenet5-fashion-mnist.safetensors");
    fails(
        &dfkd(&[
            "distill",
            "--resume",
            out.to_str().unwrap(),
            "--teacher",
            fm.to_str().unwrap(),
        ]),
        "not the teacher this run started with",
    );
}

#[test]
fn report_gives_the_robustness_table_per_method() {
    let base = scratch("report");
    let v = tiny_val(&base, "val", 200);
    let mut runs = Vec::new();
    for (method, seed) in [("dafl", "1"), ("dafl", "2"), ("dfad", "1")] {
        let out = base.join(format!("{method}-{seed}"));
        run(&small(
            method,
            &out,
            &["--val", &v, "--seed", seed, "--epochs", "3"],
        ));
        runs.push(out);
    }
    let plot = base.join("curves.png");
    let mut args: Vec<String> = vec![
        "report".into(),
        "--format".into(),
        "json".into(),
        "--plot".into(),
        plot.display().to_string(),
    ];
    args.extend(runs.iter().map(|r| r.display().to_string()));
    let o = run(&args);
    assert!(plot.is_file());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["method"], "dafl");
    assert_eq!(rows[0]["runs"], 2);
    // Eq. 10 by hand from the two DAFL runs' metrics.
    let acc = |dir: &Path| -> Vec<f64> {
        metric(dir, "val_accuracy")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (acc(&runs[0]), acc(&runs[1]));
    let mean: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
    let mu = mean.iter().sum::<f64>() / 3.0;
    let var = mean.iter().map(|m| (m - mu).powi(2)).sum::<f64>() / 3.0;
    let max = a.iter().chain(&b).copied().fold(f64::MIN, f64::max);
    assert!((rows[0]["mu"].as_f64().unwrap() - mu).abs() < 1e-9);
    assert!((rows[0]["var"].as_f64().unwrap() - var).abs() < 1e-9);
    assert_eq!(rows[0]["acc_max"].as_f64().unwrap(), max);
    // The stability columns (as bench/stability.py computes them) and the
    // shipped student's accuracy, per run, averaged.
    let stable = |acc: &[f64]| -> (f64, f64) {
        let half = acc.len() / 2;
        let mut best = acc[..half].iter().copied().fold(f64::MIN, f64::max);
        let mut fall = 0.0f64;
        for &x in &acc[half..] {
            best = best.max(x);
            fall = fall.max(best - x);
        }
        let peak = acc.iter().copied().fold(f64::MIN, f64::max);
        (fall, peak - acc[acc.len() - 1])
    };
    let ((fa, la), (fb, lb)) = (stable(&a), stable(&b));
    assert!((rows[0]["fall_mean"].as_f64().unwrap() - (fa + fb) / 2.0).abs() < 1e-9);
    assert!((rows[0]["best_minus_last_mean"].as_f64().unwrap() - (la + lb) / 2.0).abs() < 1e-9);
    let shipped = |dir: &Path, acc: &[f64]| {
        let chosen = metric(dir, "chosen_epoch")
            .last()
            .unwrap()
            .as_u64()
            .unwrap();
        acc[chosen as usize - 1]
    };
    let want = (shipped(&runs[0], &a) + shipped(&runs[1], &b)) / 2.0;
    assert!((rows[0]["shipped_mean"].as_f64().unwrap() - want).abs() < 1e-9);
    // Text and markdown tables name both methods; without --plot no file is
    // written where the report runs.
    let cwd = scratch("report-cwd");
    for format in ["text", "markdown"] {
        let o = common::dfkd_command()
            .current_dir(&cwd)
            .args(["report", "--format", format])
            .args(&runs)
            .output()
            .unwrap();
        let out = stdout(&o);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            out.contains("dafl") && out.contains("dfad") && out.contains("sigma^2"),
            "{out}"
        );
        assert!(
            out.contains("shipped") && out.contains("best-last"),
            "{out}"
        );
        assert_eq!(format == "markdown", out.starts_with("| method |"), "{out}");
    }
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    // A finished run's record as bench/runs/ keeps it (config, metrics and
    // summary, no state) reports the same row as the run itself.
    let record = base.join("record");
    std::fs::create_dir(&record).unwrap();
    for f in ["config.toml", "metrics.jsonl", "summary.json"] {
        std::fs::copy(runs[2].join(f), record.join(f)).unwrap();
    }
    let row = |dir: &Path| {
        let o = run(&[
            "report".into(),
            "--format".into(),
            "json".into(),
            dir.display().to_string(),
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
        (rows[0]["mu"].clone(), rows[0]["shipped_mean"].clone())
    };
    assert_eq!(row(&record), row(&runs[2]));
    let blind = base.join("blind");
    run(&small("dafl", &blind, &["--epochs", "1"]));
    fails(
        &dfkd(&["report", blind.to_str().unwrap()]),
        "no validation accuracy",
    );
}

/// The run's `summary.json`.
fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// One field of every epoch's line in the run's metrics.
fn metric(dir: &Path, key: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()[key].clone())
        .collect()
}

/// The replay's bytes after each epoch, from the run's metrics.
fn replay_bytes(dir: &Path) -> Vec<u64> {
    metric(dir, "replay_bytes")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn replays_hold_what_they_should_and_change_the_student() {
    let base = scratch("replays");
    let plain = base.join("none");
    run(&small("dafl", &plain, &[]));
    // 3 iterations per epoch of 24 samples; 1/8 of a batch is 3 samples.
    let sample = 32 * 32 * 4;
    for (name, extra, bytes) in [
        (
            "bank",
            &[
                "--replay",
                "memory-bank",
                "--set",
                "replay.every=1",
                "--set",
                "replay.capacity=2",
            ][..],
            [3 * sample, 6 * sample, 6 * sample, 6 * sample],
        ),
        (
            "pool",
            &["--replay", "pool"][..],
            [72 * sample, 144 * sample, 216 * sample, 288 * sample],
        ),
    ] {
        let dir = base.join(name);
        run(&small("dafl", &dir, extra));
        assert_eq!(replay_bytes(&dir), bytes, "{name}");
        assert!(!same_student(&plain, &dir), "{name} replay changed nothing");
    }
    // The VAE's memory is its parameters, buffers and optimizer state: the
    // same from the first epoch to the last. Each ablation, and matching the
    // teacher's features too, changes the student.
    let vae = base.join("vae");
    run(&small("dafl", &vae, &["--replay", "vae"]));
    let logged = replay_bytes(&vae);
    assert!(
        logged[0] > 1_000_000 && logged.iter().all(|b| *b == logged[0]),
        "{logged:?}"
    );
    assert!(!same_student(&plain, &vae), "vae replay changed nothing");
    for (name, switch) in [
        ("pixel-only", "replay.pixel_only=true"),
        ("no-tuning", "replay.latent_tuning=false"),
        (
            "features",
            "replay.teacher_layers=[\"logits\", \"features\"]",
        ),
    ] {
        let dir = base.join(name);
        run(&small("dafl", &dir, &["--replay", "vae", "--set", switch]));
        assert!(!same_student(&vae, &dir), "{name} changed nothing");
    }
}

#[test]
fn pre_dfkd_novel_generator_with_memory_bank_trains_and_resumes() {
    // MB-DFKD's composition on the MNIST teacher, from a settings file:
    // PRE-DFKD's spectral-normalised generator (its power-iteration vectors
    // are part of the resume state) and the memory bank.
    let base = scratch("mb-dfkd");
    let file = base.join("mb.toml");
    std::fs::write(
        &file,
        "kd = { kind = \"l1\" }\n[synth]\nkind = \"pre-dfkd\"\noh = 1.0\nie = 5.0\na = 0.1\njs = 1.0\n\
         student_steps = 2\ngenerator_first = true\n\
         generator = { latent = 100, bn_eps = 0.8, style = \"pre-dfkd\", spectral_norm = true }\n\
         optim = { kind = \"adam\", lr = 0.02 }\n[replay]\nkind = \"memory-bank\"\nevery = 1\n",
    )
    .unwrap();
    let cfg = file.display().to_string();
    let whole = base.join("whole");
    run(&small("dafl", &whole, &["--config", &cfg]));
    let summary = std::fs::read_to_string(whole.join("summary.json")).unwrap();
    assert!(
        summary.contains("pre-dfkd x memory-bank x joint"),
        "{summary}"
    );
    let metrics = std::fs::read_to_string(whole.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    let js = first["losses"]["js"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&js), "js agreement {js}");
    let parts = base.join("parts");
    run(&small("dafl", &parts, &["--config", &cfg, "--epochs", "2"]));
    resume(&parts, Some(4));
    assert!(same_student(&whole, &parts), "resumed MB-DFKD run differs");
}

#[test]
fn a_resumed_run_keeps_reporting_accuracy_on_its_validation_data() {
    let base = scratch("resume-val");
    let val = tiny_val(&base, "val", 50);
    let dir = base.join("run");
    run(&small("dafl", &dir, &["--val", &val, "--epochs", "1"]));
    resume(&dir, Some(2));
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    for line in metrics.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(r["val_accuracy"].as_f64().is_some(), "{line}");
    }
}

#[test]
fn a_shortened_cosine_run_anneals_over_its_own_epochs() {
    // MB-DFKD's preset anneals over its 400 epochs; run for 3, it anneals
    // over 3: epoch t (0-based) at base * (1 + cos(pi t / 3)) / 2.
    let dir = scratch("horizon").join("run");
    run(&small("mb-dfkd", &dir, &["--epochs", "3"]));
    let lr: Vec<f64> = metric(&dir, "lr_student")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (t, got) in lr.iter().enumerate() {
        let want = 2e-3 * (1.0 + (std::f64::consts::PI * t as f64 / 3.0).cos()) / 2.0;
        assert!((got - want).abs() < 1e-12, "epoch {t}: {got} vs {want}");
    }
}

#[test]
fn a_run_that_diverges_stops_naming_the_epoch_and_resumes_with_a_changed_setting() {
    // The student's rate jumps 1e30-fold at the second epoch.
    let dir = scratch("diverge").join("run");
    let blow_up = [
        "--set",
        "student_schedule={ kind = \"step\", milestones = [1], gamma = 1e30 }",
    ];
    let o = dfkd_owned(&small("dafl", &dir, &blow_up));
    assert!(!o.status.success());
    // The run's own lines, then one line of error.
    let err = stderr(&o);
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("error: epoch 2: "), "{err}");
    assert!(
        last.contains("is NaN") || last.contains("not finite"),
        "{err}"
    );
    assert!(last.contains("keeps its 1 finished epochs"), "{err}");
    assert_eq!(metric(&dir, "epoch").len(), 1);
    // Continued from epoch 2 with a sane schedule, recorded in run.json.
    run(&[
        "distill".into(),
        "--resume".into(),
        dir.display().to_string(),
        "--set".into(),
        "student_schedule.gamma=0.1".into(),
    ]);
    assert_eq!(metric(&dir, "epoch").len(), 4);
    let info = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(
        info.contains("from epoch 2: student_schedule.gamma=0.1"),
        "{info}"
    );
}

#[test]
fn a_collapse_is_named_and_rolled_back_with_a_renewed_generator() {
    // Every epoch looks collapsed with the threshold at 0: epoch 1 is only
    // flagged (nothing to roll back to), epoch 2 rolls back three times (the
    // limit) with a fresh generator, later epochs are flagged.
    let base = scratch("collapse");
    let flag_all = ["--set", "collapse.entropy=0.0"];
    let dir = base.join("fresh");
    run(&small("dafl", &dir, &flag_all));
    let notes = collapse_notes(&dir);
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert!(
        notes[0].starts_with("epoch 1: the synthesizer collapsed"),
        "{notes:?}"
    );
    assert!(
        notes[1].contains("rolled back to epoch 1 with a fresh generator"),
        "{notes:?}"
    );
    assert_eq!(metric(&dir, "epoch").len(), 4);
    // The same run again: the same student (the renewals are seeded).
    let again = base.join("again");
    run(&small("dafl", &again, &flag_all));
    assert!(same_student(&dir, &again));
    // A damped generator differs from a fresh one; no remedy only flags,
    // and trains as a run that never looked.
    let damped = base.join("damped");
    run(&small(
        "dafl",
        &damped,
        &[
            "--set",
            "collapse.entropy=0.0",
            "--set",
            "collapse.remedy=\"damped\"",
        ],
    ));
    assert!(!same_student(&dir, &damped));
    // No epoch reaches twice the largest entropy: this run never looks.
    let plain = base.join("plain");
    run(&small("dafl", &plain, &["--set", "collapse.entropy=2.0"]));
    assert!(collapse_notes(&plain).is_empty());
    let flagged = base.join("flagged");
    run(&small(
        "dafl",
        &flagged,
        &[
            "--set",
            "collapse.entropy=0.0",
            "--set",
            "collapse.remedy=\"none\"",
        ],
    ));
    let notes = collapse_notes(&flagged);
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert!(
        !notes.iter().any(|n| n.contains("rolled back")),
        "{notes:?}"
    );
    // Flagging changes nothing of the training: bit-identical. (Float noise
    // is no excuse: 12 steps amplify a last-bit difference to 2e-2, as
    // large as a renewal's effect, so only equality says "no change".)
    let last = "checkpoints/student-epoch-0004.safetensors";
    let (name, diff) = largest_difference(&plain.join(last), &flagged.join(last));
    assert!(diff == 0.0, "{name} differs by {diff}");
    let (name, renewed) = largest_difference(&plain.join(last), &dir.join(last));
    assert!(
        renewed > 1e-2,
        "fresh generators moved {name} only {renewed}"
    );
}

/// The collapse notes of a finished run's summary (absent when none).
fn collapse_notes(dir: &Path) -> Vec<String> {
    summary(dir)["collapses"]
        .as_array()
        .map_or(Vec::new(), |a| {
            a.iter().map(|n| n.as_str().unwrap().to_string()).collect()
        })
}

/// The tensor of two checkpoints (same names) that differs most, and by
/// how much (largest absolute difference of an element).
fn largest_difference(a: &Path, b: &Path) -> (String, f64) {
    let (a, b) = (Checkpoint::read(a).unwrap(), Checkpoint::read(b).unwrap());
    let mut names: Vec<&String> = a.tensors.keys().collect();
    names.sort();
    assert_eq!(names.len(), b.tensors.len());
    names
        .into_iter()
        .map(|k| {
            let (x, y) = (&a.tensors[k], &b.tensors[k.as_str()]);
            let d = (x.to_kind(tch::Kind::Double) - y.to_kind(tch::Kind::Double))
                .abs()
                .max()
                .double_value(&[]);
            (k.clone(), d)
        })
        .fold((String::new(), 0.0), |m, x| if x.1 > m.1 { x } else { m })
}
