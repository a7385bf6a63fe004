//! Figures drawn by the host from declarative specs (the JSON of the SDK's `Figure`), so every
//! plugin's figures share one look. Each is written as PNG and SVG, each file complete or absent.
//!
//! Beyond the SDK's figures, the host's own line and scatter specs may give a point as
//! `[x, y, low, high]` (drawn with a vertical error bar from low to high) and `"x_ticks"`, names
//! for the integer x positions 0, 1, … (a score per model layer, say).

use std::path::{Path, PathBuf};
use std::sync::Once;

use neurozoo_plugin::Figure;
use neurozoo_util::files::write_atomic_with;
use plotters::coord::types::RangedCoordf64;
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

/// A figure that cannot be drawn: a spec that is not one, or files that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("figure {stem}: {problem}")]
pub struct FigureError {
    pub stem: String,
    pub problem: String,
}

/// Draw a typed figure: what the host's own commands (compare, the demo, sweeps) use, and what
/// plugins hand over as JSON ([`draw`]).
pub fn draw_figure(figure: &Figure, dir: &Path, stem: &str) -> Result<[PathBuf; 2], FigureError> {
    draw(&figure.to_json(), dir, stem)
}

/// Draw `spec` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns the two paths.
pub fn draw(spec: &Value, dir: &Path, stem: &str) -> Result<[PathBuf; 2], FigureError> {
    register_font();
    let failed = |problem: String| FigureError { stem: stem.to_string(), problem };
    let figure = Spec::parse(spec).map_err(failed)?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    // The bitmap backend picks the format from the extension, which the partial files keep; the
    // SVG is written inside the PNG's write, so a failure to draw either leaves neither.
    write_atomic_with(&png, |png_tmp| -> Result<(), String> {
        figure.render(BitMapBackend::new(png_tmp, SIZE).into_drawing_area())?;
        Ok(write_atomic_with(&svg, |svg_tmp| figure.render(SVGBackend::new(svg_tmp, SIZE).into_drawing_area()))?)
    })
    .map_err(|e| failed(e.message))?;
    Ok([png, svg])
}

/// Named series of points (x, y) with an optional error bar (low, high).
type Series = Vec<(String, Vec<(f64, f64, Option<(f64, f64)>)>)>;

type Matrix = Vec<Vec<f64>>;

enum Spec {
    Histogram { title: String, x_label: String, values: Vec<f64>, bins: usize },
    Points { line: bool, title: String, x_label: String, y_label: String, series: Series, x_ticks: Vec<String> },
    Heatmap { title: String, x_label: String, y_label: String, rows: Matrix },
    ImageGrid { title: String, images: Vec<(String, Matrix)>, columns: usize },
}

/// A rectangular matrix of numbers (NaN allowed, drawn grey).
fn matrix(v: &Value, what: &str) -> Result<Matrix, String> {
    let rows = v.as_array().ok_or_else(|| format!("{what} must be an array of rows"))?;
    let m: Matrix = rows
        .iter()
        .map(|r| r.as_array().map(|r| r.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{what} must be an array of rows"))?;
    let width = m.first().map_or(0, Vec::len);
    if width == 0 || m.iter().any(|r| r.len() != width) {
        return Err(format!("{what} must be a non-empty rectangle"));
    }
    Ok(m)
}

/// The host allocates a counter per histogram bin and a panel per grid column, so a spec's
/// count is bounded; this is far more than the figure's 800 pixels across can show.
const MOST_PER_AXIS: u64 = 10_000;

/// A count field of a spec: a whole number from 1 to [`MOST_PER_AXIS`], named when it is not.
fn bounded(spec: &Value, kind: &str, key: &str) -> Result<usize, String> {
    match spec[key].as_u64() {
        Some(n @ 1..=MOST_PER_AXIS) => Ok(n as usize),
        _ => Err(format!("{kind} spec field \"{key}\" is {}: it must be a whole number from 1 to {MOST_PER_AXIS}", spec[key])),
    }
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
                bins: bounded(spec, "histogram", "bins")?,
            }),
            "line" | "scatter" => {
                let mut series = Vec::new();
                for s in spec["series"].as_array().ok_or("no \"series\"")? {
                    let points = s["points"].as_array().ok_or("a series without \"points\"")?;
                    let point = |p: &Value| {
                        let n = |i: usize| p.get(i).and_then(Value::as_f64);
                        let bar = match p.as_array()?.len() {
                            2 => None,
                            4 => Some((n(2)?, n(3)?)),
                            _ => return None,
                        };
                        Some((n(0)?, n(1)?, bar.filter(|(lo, hi)| lo.is_finite() && hi.is_finite())))
                    };
                    let points =
                        points.iter().map(point).collect::<Option<Vec<_>>>().ok_or("points must be [x, y] or [x, y, low, high] numbers")?;
                    series.push((text(s, "name"), points.into_iter().filter(|(x, y, _)| x.is_finite() && y.is_finite()).collect()));
                }
                Ok(Spec::Points {
                    line: kind == "line",
                    title: text(spec, "title"),
                    x_label: text(spec, "x_label"),
                    y_label: text(spec, "y_label"),
                    series,
                    x_ticks: spec["x_ticks"]
                        .as_array()
                        .map_or(Vec::new(), |t| t.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()),
                })
            }
            "heatmap" => Ok(Spec::Heatmap {
                title: text(spec, "title"),
                x_label: text(spec, "x_label"),
                y_label: text(spec, "y_label"),
                rows: matrix(&spec["rows"], "heatmap rows")?,
            }),
            "image_grid" => {
                let images = spec["images"].as_array().filter(|a| !a.is_empty()).ok_or("image_grid needs \"images\"")?;
                let images = images
                    .iter()
                    .map(|i| Ok((text(i, "label"), matrix(&i["pixels"], "image pixels")?)))
                    .collect::<Result<Vec<_>, String>>()?;
                let columns = bounded(spec, "image_grid", "columns")?;
                Ok(Spec::ImageGrid { title: text(spec, "title"), images, columns })
            }
            other => Err(format!("unknown kind {other:?} (histogram, line, scatter, heatmap, image_grid)")),
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
            Spec::Points { line, title, x_label, y_label, series, x_ticks } => {
                let (mut x0, mut x1) = range(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)));
                if !x_ticks.is_empty() {
                    (x0, x1) = (-0.5, x_ticks.len() as f64 - 0.5);
                }
                let (y0, y1) = range(
                    series.iter().flat_map(|(_, p)| p.iter().flat_map(|&(_, y, bar)| [y, bar.map_or(y, |b| b.0), bar.map_or(y, |b| b.1)])),
                );
                let mut chart = chart(&root, title, x0..x1, y0..y1).map_err(err)?;
                let tick = |v: &f64| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 {
                        x_ticks.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                };
                let mut mesh = chart.configure_mesh();
                mesh.x_desc(x_label.as_str()).y_desc(y_label.as_str()).label_style((FONT, 14));
                if !x_ticks.is_empty() {
                    mesh.x_labels(x_ticks.len() + 1).x_label_formatter(&tick);
                }
                mesh.draw().map_err(err)?;
                for (i, (name, points)) in series.iter().enumerate() {
                    let color = Palette99::pick(i);
                    let xy = points.iter().map(|&(x, y, _)| (x, y));
                    let bars = points
                        .iter()
                        .filter_map(|&(x, _, bar)| bar.map(|(lo, hi)| PathElement::new([(x, lo), (x, hi)], color.stroke_width(2))));
                    chart.draw_series(bars).map_err(err)?;
                    let drawn = if *line {
                        chart.draw_series(LineSeries::new(xy, color.stroke_width(2))).map_err(err)?
                    } else {
                        chart.draw_series(xy.map(|p| Circle::new(p, 3, color.filled()))).map_err(err)?
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
            Spec::Heatmap { title, x_label, y_label, rows } => {
                let (h, w) = (rows.len(), rows[0].len());
                let (lo, hi) = range(rows.iter().flatten().copied().filter(|v| v.is_finite()));
                let color = &scale(lo, hi);
                // Cell (x, y) is centred on the integers, so ticks name rows and columns; y runs
                // downwards so row 0 is at the top, as the matrix is written.
                let mut chart = chart(&root, title, -0.5..w as f64 - 0.5, h as f64 - 0.5..-0.5).map_err(err)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_labels(w.min(20))
                    .y_labels(h.min(20))
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format!("{v:.0}"))
                    .x_desc(x_label.as_str())
                    .y_desc(y_label.as_str())
                    .label_style((FONT, 14))
                    .draw()
                    .map_err(err)?;
                chart
                    .draw_series(rows.iter().enumerate().flat_map(|(y, row)| {
                        row.iter().enumerate().map(move |(x, &v)| {
                            let (x, y) = (x as f64, y as f64);
                            Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], color(v).filled())
                        })
                    }))
                    .map_err(err)?;
            }
            Spec::ImageGrid { title, images, columns } => {
                let root = root.titled(title, (FONT, 22)).map_err(err)?;
                let rows = images.len().div_ceil(*columns);
                for (cell, (label, pixels)) in root.split_evenly((rows, *columns)).iter().zip(images) {
                    let (h, w) = (pixels.len(), pixels[0].len());
                    let (lo, hi) = range(pixels.iter().flatten().copied().filter(|v| v.is_finite()));
                    // Square pixels: widen the shorter axis of the cell's plotting area (its size
                    // less the margins and the caption) instead of stretching the image.
                    let (cw, ch) = cell.dim_in_pixel();
                    let (pw, ph) = ((f64::from(cw) - 8.0).max(1.0), (f64::from(ch) - 8.0 - 16.0).max(1.0));
                    let s = (pw / w as f64).min(ph / h as f64);
                    let (pad_x, pad_y) = ((pw / s - w as f64) / 2.0, (ph / s - h as f64) / 2.0);
                    let mut c = ChartBuilder::on(cell)
                        .caption(label.as_str(), (FONT, 12))
                        .margin(4)
                        .build_cartesian_2d(-pad_x..w as f64 + pad_x, h as f64 + pad_y..-pad_y)
                        .map_err(err)?;
                    c.draw_series(pixels.iter().enumerate().flat_map(|(y, row)| {
                        row.iter().enumerate().map(move |(x, &v)| {
                            let g = if v.is_finite() { (255.0 * (v - lo) / (hi - lo)).round().clamp(0.0, 255.0) as u8 } else { 128 };
                            Rectangle::new([(x as f64, y as f64), (x as f64 + 1.0, y as f64 + 1.0)], RGBColor(g, g, g).filled())
                        })
                    }))
                    .map_err(err)?;
                }
                return root.present().map_err(err);
            }
        }
        root.present().map_err(err)
    }
}

/// Value → colour: diverging blue–white–red centred on 0 when the range has both signs,
/// white to dark blue otherwise; grey for NaN.
fn scale(lo: f64, hi: f64) -> impl Fn(f64) -> RGBColor {
    let mix = |a: (f64, f64, f64), b: (f64, f64, f64), t: f64| {
        let t = t.clamp(0.0, 1.0);
        RGBColor((a.0 + (b.0 - a.0) * t) as u8, (a.1 + (b.1 - a.1) * t) as u8, (a.2 + (b.2 - a.2) * t) as u8)
    };
    let (white, blue, red) = ((255.0, 255.0, 255.0), (33.0, 102.0, 172.0), (178.0, 24.0, 43.0));
    move |v: f64| {
        if !v.is_finite() {
            RGBColor(128, 128, 128)
        } else if lo < 0.0 && hi > 0.0 {
            let m = lo.abs().max(hi);
            if v < 0.0 {
                mix(white, blue, -v / m)
            } else {
                mix(white, red, v / m)
            }
        } else {
            mix(white, blue, (v - lo) / (hi - lo))
        }
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

/// A chart with f64 axes, what every figure here draws on.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    ChartBuilder::on(root).caption(title, (FONT, 22)).margin(15).x_label_area_size(45).y_label_area_size(60).build_cartesian_2d(x, y)
}
