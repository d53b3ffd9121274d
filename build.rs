//! 1. Embeds the libtorch library directory as an rpath, so that the `dfkd`
//!    binary runs without the user exporting LD_LIBRARY_PATH. torch-sys
//!    reports the directory it linked against through `links = "tch"`.
//!    When that libtorch has CUDA (the PyPI wheel does), the binary also
//!    depends on libtorch_cuda: nothing calls it by name, so the linker's
//!    --as-needed would drop it, and libtorch would then see no GPU.
//! 2. Builds every preset under `configs/METHOD/PRESET.toml` into the
//!    binary, so adding a preset is adding its file.
use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut presets = Vec::new();
    let mut methods: Vec<_> = std::fs::read_dir(&root)
        .expect("configs/")
        .map(|e| e.expect("configs/ entry").path())
        .filter(|p| p.is_dir())
        .collect();
    methods.sort();
    for dir in methods {
        println!("cargo:rerun-if-changed={}", dir.display());
        let method = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("method directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let preset = f.file_stem().unwrap().to_string_lossy().into_owned();
            presets.push((method.clone(), preset, f));
        }
    }
    let mut out = String::from("/// The built-in presets: (method, preset, TOML).\npub const PRESETS: &[(&str, &str, &str)] = &[\n");
    for (m, p, f) in presets {
        writeln!(
            out,
            "    ({m:?}, {p:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("presets.rs");
    std::fs::write(dest, out).expect("write presets.rs");
}
