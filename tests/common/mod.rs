//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Says why a test skips, visibly: libtest captures `eprintln!`, not direct
/// writes to stderr.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository (or `$DFKD_SHARED`), if present.
pub fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("DFKD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"));
    dir.is_dir().then_some(dir)
}

/// `../shared/data`, or `None` after printing why the caller skips.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let d = shared().map(|s| s.join("data")).filter(|d| d.is_dir());
    if d.is_none() {
        skip(
            test,
            "../shared/data is absent (evaluation data; present in CI)",
        );
    }
    d
}

/// `../shared/teachers`, or `None` after printing why the caller skips.
pub fn shared_teachers(test: &str) -> Option<PathBuf> {
    let d = shared().map(|s| s.join("teachers")).filter(|d| d.is_dir());
    if d.is_none() {
        skip(test, "../shared/teachers is absent (present in CI)");
    }
    d
}

/// The Fashion-MNIST directory the Debian package installs, if present.
pub fn fashion_mnist(test: &str) -> Option<PathBuf> {
    let d = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if !d.is_dir() {
        skip(
            test,
            "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)",
        );
        return None;
    }
    Some(d)
}

/// The project venv's python (with torch), if set up.
pub fn venv_python(test: &str) -> Option<PathBuf> {
    let p = repo().join(".venv/bin/python");
    if !p.is_file() {
        skip(test, ".venv is absent (scripts/setup.sh creates it)");
        return None;
    }
    Some(p)
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfkd-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `dfkd` binary, always on one CPU thread, because the tests compare
/// runs of separate processes bit for bit. The thread count must not depend
/// on what the machine reports (libtorch splits reductions by thread: a
/// 1-thread and a 2-thread run of the same 12 DAFL steps differ by 0.026 in
/// conv3.weight), and two threads are not repeatable between processes:
/// about 1 process in 70 takes one other rounding from its first step, in
/// plain PyTorch as in dfkd (bench/RESULTS.md, "Determinism").
pub fn dfkd_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dfkd"));
    c.env("OMP_NUM_THREADS", "1");
    c
}

pub fn dfkd(args: &[&str]) -> Output {
    dfkd_command().args(args).output().expect("dfkd runs")
}

/// `dfkd` with arguments built as owned strings.
pub fn dfkd_owned(args: &[String]) -> Output {
    dfkd(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of the last `accuracy=` line a command printed.
pub fn accuracy(o: &Output) -> f64 {
    let out = stdout(o);
    let last = out.lines().last().unwrap_or_default();
    last.strip_prefix("accuracy=")
        .unwrap_or_else(|| panic!("last line is not accuracy=: {out}\n{}", stderr(o)))
        .parse()
        .unwrap()
}

/// Writes an IDX file of unsigned bytes.
pub fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

/// A small MNIST-shaped dataset of random digits in `dir` (both splits).
pub fn tiny_mnist(dir: &Path, n_train: u32, n_test: u32) {
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u8
    };
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let labels: Vec<u8> = (0..n).map(|_| next() % 10).collect();
        // Images that depend on the label, so there is something to learn.
        let images: Vec<u8> = labels
            .iter()
            .flat_map(|&l| {
                (0..784u32).map(move |p| if (p / 28) as u8 % 10 == l { 200u8 } else { 0u8 })
            })
            .zip(std::iter::repeat_with(&mut next))
            .map(|(v, r)| v.saturating_add(r % 50))
            .collect();
        write_idx(
            &dir.join(format!("{prefix}-images-idx3-ubyte")),
            &[n, 28, 28],
            &images,
        );
        write_idx(
            &dir.join(format!("{prefix}-labels-idx1-ubyte")),
            &[n],
            &labels,
        );
    }
}

/// Writes `tensors` to a scratch `io.safetensors` and runs
/// `tests/python/SCRIPT` on it; the test fails with the script's output if
/// the PyTorch side does.
pub fn python_check(python: &Path, script: &str, tensors: &[(String, tch::Tensor)]) {
    let io = scratch(script.trim_end_matches(".py")).join("io.safetensors");
    let tensors: Vec<(String, tch::Tensor)> = tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.contiguous()))
        .collect();
    std::fs::write(
        &io,
        dfkd::checkpoint::to_safetensors(&tensors, Default::default()).unwrap(),
    )
    .unwrap();
    let out = Command::new(python)
        .arg(repo().join("tests/python").join(script))
        .arg(&io)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// `model`'s tensors under their PyTorch names, with no dfkd metadata: what
/// `safetensors.torch.save_file(model.state_dict())` writes.
pub fn write_bare_state_dict(model: &dfkd::nn::Model, path: &Path) {
    let tensors: Vec<(String, tch::Tensor)> = model
        .store
        .entries()
        .iter()
        .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
        .collect();
    let bytes = dfkd::checkpoint::to_safetensors(&tensors, Default::default()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Asserts that `o` failed with exactly one line, `error: ...`, holding every
/// needle, and no panic.
pub fn fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "panic: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "'{n}' not in: {err}");
    }
}
