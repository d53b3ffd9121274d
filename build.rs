//! Embed the libtorch library directory as an rpath, so that the `dfkd`
//! binary runs without the user exporting LD_LIBRARY_PATH.
//! torch-sys reports the directory it linked against through `links = "tch"`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
