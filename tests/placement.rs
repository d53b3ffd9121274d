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
