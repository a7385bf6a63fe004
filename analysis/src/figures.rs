//! Figures drawn by the host from declarative specs (the JSON of the SDK's `Figure`), so every
//! plugin's figures share one look. Each is written as PNG and SVG, each file complete or absent.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

const SIZE: (u32, u32) = (800, 500);
const FONT: &str = "sans-serif";

/// Text needs a font and the machine may have none: register the embedded DejaVu Sans once.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err() {
            unreachable!("the embedded DejaVu Sans is a valid font");
        }
    });
}

/// Draw `spec` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns the two paths.
pub fn draw(spec: &Value, dir: &Path, stem: &str) -> Result<[PathBuf; 2], String> {
    register_font();
    let figure = Spec::parse(spec).map_err(|e| format!("figure {stem}: {e}"))?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    // The bitmap backend picks the format from the extension, so the temporary keeps it.
    let (png_tmp, svg_tmp) = (dir.join(format!(".{stem}.partial.png")), dir.join(format!(".{stem}.partial.svg")));
    let result = (|| {
        figure.render(BitMapBackend::new(&png_tmp, SIZE).into_drawing_area())?;
        figure.render(SVGBackend::new(&svg_tmp, SIZE).into_drawing_area())?;
        std::fs::rename(&png_tmp, &png).map_err(|e| e.to_string())?;
        std::fs::rename(&svg_tmp, &svg).map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&png_tmp);
        let _ = std::fs::remove_file(&svg_tmp);
        return Err(format!("figure {stem}: {e}"));
    }
    Ok([png, svg])
}

type Series = Vec<(String, Vec<(f64, f64)>)>;

enum Spec {
    Histogram { title: String, x_label: String, values: Vec<f64>, bins: usize },
    Points { line: bool, title: String, x_label: String, y_label: String, series: Series },
}

fn text(spec: &Value, key: &str) -> String {
    spec[key].as_str().unwrap_or_default().to_string()
}

impl Spec {
    fn parse(spec: &Value) -> Result<Spec, String> {
        let kind = spec["kind"].as_str().ok_or("no \"kind\"")?;
        match kind {
            "histogram" => Ok(Spec::Histogram {
                title: text(spec, "title"),
                x_label: text(spec, "x_label"),
                values: spec["values"]
                    .as_array()
                    .ok_or("histogram without \"values\"")?
                    .iter()
                    .filter_map(Value::as_f64)
                    .filter(|v| v.is_finite())
                    .collect(),
                bins: spec["bins"].as_u64().filter(|&b| b > 0).ok_or("histogram needs \"bins\" ≥ 1")? as usize,
            }),
            "line" | "scatter" => {
                let mut series = Vec::new();
                for s in spec["series"].as_array().ok_or("no \"series\"")? {
                    let points = s["points"].as_array().ok_or("a series without \"points\"")?;
                    let points = points
                        .iter()
                        .map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                        .collect::<Option<Vec<_>>>()
                        .ok_or("points must be [x, y] numbers")?;
                    series.push((text(s, "name"), points.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()));
                }
                Ok(Spec::Points {
                    line: kind == "line",
                    title: text(spec, "title"),
                    x_label: text(spec, "x_label"),
                    y_label: text(spec, "y_label"),
                    series,
                })
            }
            other => Err(format!("unknown kind {other:?} (histogram, line, scatter)")),
        }
    }

    fn render<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        match self {
            Spec::Histogram { title, x_label, values, bins } => {
                let (lo, hi) = range(values.iter().copied());
                let width = (hi - lo) / *bins as f64;
                let mut counts = vec![0u32; *bins];
                for v in values {
                    counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
                }
                let top = f64::from(counts.iter().copied().max().unwrap_or(0).max(1)) * 1.05;
                let mut chart = chart(&root, title, lo..hi, 0.0..top).map_err(err)?;
                chart.configure_mesh().x_desc(x_label.as_str()).y_desc("count").label_style((FONT, 14)).draw().map_err(err)?;
                chart
                    .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                        let x0 = lo + i as f64 * width;
                        Rectangle::new([(x0, 0.0), (x0 + width, f64::from(c))], Palette99::pick(0).mix(0.8).filled())
                    }))
                    .map_err(err)?;
            }
            Spec::Points { line, title, x_label, y_label, series } => {
                let (x0, x1) = range(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)));
                let (y0, y1) = range(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)));
                let mut chart = chart(&root, title, x0..x1, y0..y1).map_err(err)?;
                chart.configure_mesh().x_desc(x_label.as_str()).y_desc(y_label.as_str()).label_style((FONT, 14)).draw().map_err(err)?;
                for (i, (name, points)) in series.iter().enumerate() {
                    let color = Palette99::pick(i);
                    let drawn = if *line {
                        chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2))).map_err(err)?
                    } else {
                        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?
                    };
                    if !name.is_empty() {
                        drawn.label(name.as_str()).legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 12, y + 4)], color.filled()));
                    }
                }
                if series.iter().any(|(n, _)| !n.is_empty()) {
                    chart
                        .configure_series_labels()
                        .label_font((FONT, 14))
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK)
                        .draw()
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)
    }
}

/// A non-empty axis range covering the values (a unit range around a single value).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

fn chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>,
    DrawingAreaErrorKind<DB::ErrorType>,
> {
    ChartBuilder::on(root).caption(title, (FONT, 22)).margin(15).x_label_area_size(45).y_label_area_size(60).build_cartesian_2d(x, y)
}
