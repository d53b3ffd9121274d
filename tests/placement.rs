//! One module decides where tensors live: no file of `src/` but
//! `src/device.rs` names a device.

mod common;

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_device_module_names_a_device() {
    let src = common::repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut offenders = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("src/device.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            // `Device::Cpu`, `Device::Cuda(..)`, `tch::kind::FLOAT_CPU` and kin.
            if line.contains("Device::") || line.contains("_CPU") || line.contains("_CUDA") {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "devices named outside src/device.rs:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn a_device_the_machine_lacks_is_refused_in_one_line() {
    common::fails_with(
        &common::dfkd(&["--device", "tpu", "archs"]),
        &["--device takes auto, cpu, cuda or cuda:N, not 'tpu'"],
    );
    let needle = if tch::Cuda::device_count() == 0 {
        "libtorch sees no CUDA GPU here"
    } else {
        "GPUs, numbered from 0"
    };
    common::fails_with(
        &common::dfkd(&["--device", "cuda:99", "archs"]),
        &["--device cuda:99", needle],
    );
    let o = common::dfkd(&["--device", "cpu", "archs"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

/// The same run on the GPU, where this machine has one (CI's has none).
#[test]
fn a_run_on_the_gpu_finishes_and_ships_a_student() {
    if tch::Cuda::device_count() == 0 {
        common::skip("GPU run", "libtorch sees no CUDA GPU on this machine");
        return;
    }
    let dir = common::scratch("gpu-run");
    let teachers = common::repo().join("teachers");
    for (teacher, method, preset) in [
        ("lenet5-mnist", "dafl", "mnist"),
        ("lenet5-bn-fashion-mnist", "cmi", "fashion-mnist-demo"),
    ] {
        let out = dir.join(method);
        let t = teachers.join(format!("{teacher}.safetensors"));
        let mut args = vec![
            "--device",
            "cuda",
            "distill",
            "--teacher",
            t.to_str().unwrap(),
            "--method",
            method,
            "--preset",
            preset,
            "--batch-size",
            "16",
            "--iters",
            "2",
            "--epochs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        if method == "cmi" {
            args.extend(["--set", "synth.steps=3", "--set", "synth.student_steps=2"]);
        }
        let o = common::dfkd(&args);
        assert!(o.status.success(), "{method}: {}", common::stderr(&o));
        assert!(out.join("student.safetensors").is_file());
    }
}
