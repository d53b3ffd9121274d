//! `dfkd archs`: the model zoo.

use anyhow::Result;
use dfkd::nn::zoo::ARCHS;

pub fn run() -> Result<()> {
    for a in ARCHS {
        println!(
            "{:<12} {}  (taps: {})",
            a.name,
            a.about,
            a.tap_points.join(", ")
        );
    }
    Ok(())
}
