//! Progress bars on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// How often a bar's message reads the running losses: a read waits for the
/// device, so it happens a few times a second, not every step.
pub const MESSAGE_EVERY: Duration = Duration::from_millis(250);

/// A bar for `len` steps, with a message slot for live figures.
pub fn bar(len: u64, prefix: String) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} ({elapsed} elapsed, ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// Bytes in a human unit (decimal, as the papers' "MB").
pub fn bytes(n: u64) -> String {
    match n {
        0 => "0".to_string(),
        n if n < 1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        n if n < 1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n => format!("{:.2} GB", n as f64 / 1e9),
    }
}

/// Seconds as `1h02m`, `3m05s` or `12.3s`.
pub fn duration(s: f64) -> String {
    let t = s.round() as u64;
    if t >= 3600 {
        format!("{}h{:02}m", t / 3600, (t % 3600) / 60)
    } else if t >= 60 {
        format!("{}m{:02}s", t / 60, t % 60)
    } else {
        format!("{s:.1}s")
    }
}
