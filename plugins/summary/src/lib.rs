//! `summary`: per-unit statistics of a representation (mean, std, min, max, the fraction of
//! stimuli a unit responds to, lifetime sparseness) and a histogram of one of them.
//!
//! Lifetime sparseness is Vinje & Gallant's (2000) normalisation of the Treves–Rolls measure:
//! `S = (1 − (Σr/n)² / (Σr²/n)) / (1 − 1/n)`, 0 for a unit that responds equally to every
//! stimulus, 1 for one that responds to a single stimulus. Responses below zero are clipped to
//! zero for it, as the measure assumes rates.

use neurozoo_plugin::serde_json::Value;
use neurozoo_plugin::{export_plugin, params, Context, Figure, Input, Params, Plugin, Table};

params! {
    struct Settings {
        /// a unit is active on a stimulus when its response exceeds this
        active_threshold: f64 = 0.0;
        /// histogram bins
        bins: usize = 30, min = 1, max = 1000;
        /// column to histogram
        histogram_of: String = "lifetime_sparseness", one_of = ["mean", "std", "lifetime_sparseness"];
    }
}

struct Summary;

impl Plugin for Summary {
    const NAME: &'static str = "summary";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "per-unit mean, std, range, fraction active and lifetime sparseness, with a histogram";

    fn params_schema() -> Value {
        Settings::schema()
    }

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let Settings { active_threshold: threshold, bins, histogram_of } = input.params_as()?;
        let of = histogram_of.as_str();
        let r = &input.representation;
        let (n, units) = r.dim();
        if n == 0 {
            return Err("the representation has no stimuli".into());
        }
        let mut cols: [Vec<f64>; 6] = Default::default();
        for (u, column) in r.columns().into_iter().enumerate() {
            let x: Vec<f64> = column.iter().map(|&v| f64::from(v)).collect();
            let mean = x.iter().sum::<f64>() / n as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            let (min, max) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let active = x.iter().filter(|&&v| v > threshold).count() as f64 / n as f64;
            let rates: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
            let (m1, m2) = (rates.iter().sum::<f64>() / n as f64, rates.iter().map(|v| v * v).sum::<f64>() / n as f64);
            let sparseness = if m2 > 0.0 && n > 1 { (1.0 - m1 * m1 / m2) / (1.0 - 1.0 / n as f64) } else { f64::NAN };
            for (col, v) in cols.iter_mut().zip([mean, var.sqrt(), min, max, active, sparseness]) {
                col.push(v);
            }
            ctx.progress(u as u64 + 1, units as u64);
        }
        let names = ["mean", "std", "min", "max", "fraction_active", "lifetime_sparseness"];
        let hist_col = names
            .iter()
            .position(|&c| c == of)
            .filter(|&i| i == 0 || i == 1 || i == 5)
            .ok_or_else(|| format!("histogram_of = {of:?}: expected mean, std or lifetime_sparseness"))?;
        let values: Vec<f64> = cols[hist_col].iter().copied().filter(|v| v.is_finite()).collect();
        let mut table = Table::new().i64("unit", (0..units as i64).collect());
        for (name, col) in names.iter().zip(cols) {
            table = table.f64(name, col);
        }
        ctx.table("units", &table)?;
        ctx.figure(
            &format!("{of}_histogram"),
            &Figure::Histogram { title: format!("{of} over {units} units"), x_label: of.to_string(), values, bins },
        )?;
        ctx.log(&format!("summarised {units} units over {n} stimuli"));
        Ok(())
    }
}

export_plugin!(Summary);
