//! Line charts of per-epoch series.

use crate::checkpoint::write_atomic;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("the bundled font parses");
    });
}

/// One curve: a name, (epoch, value) points, and optionally a band (lowest
/// and highest value at each epoch, e.g. over runs).
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub band: Option<Vec<(f64, f64, f64)>>,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Writes a chart of `series` against the epoch, with the legend in a
/// panel to the right of the plot, where it can cover no curve.
pub fn write(path: &Path, title: &str, y_label: &str, series: &[Series]) -> Result<()> {
    register_font();
    let longest = series.iter().map(|s| s.name.chars().count()).max();
    let legend_w = longest.map_or(0, |n| 50 + 8 * n.min(40) as u32);
    let (w, h) = (900u32 + legend_w, 560u32);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    let all = series.iter().flat_map(|s| {
        s.points.iter().copied().chain(
            s.band
                .iter()
                .flatten()
                .flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]),
        )
    });
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in all.filter(|(_, y)| y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let (plot, legend) = root.split_horizontally(w - legend_w);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(x0..x1.max(x0 + 1.0), (y0 - pad)..(y1 + pad))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            if let Some(band) = &s.band {
                let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, lo, _)| (x, lo)).collect();
                poly.extend(band.iter().rev().map(|&(x, _, hi)| (x, hi)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled())))
                    .map_err(|e| err(&e))?;
            }
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?;
            // One legend row: a stroke of the curve's colour, then its name.
            let y = 60 + 22 * i as i32;
            legend
                .draw(&PathElement::new(
                    vec![(10, y), (34, y)],
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?;
            legend
                .draw(&Text::new(
                    s.name.clone(),
                    (42, y - 8),
                    ("sans-serif", 14).into_font(),
                ))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    write_atomic(path, &super::png(&rgb, w, h)?)
}
