//! A tuning experiment's table (one row per unit) and figures (tuning curves of a few units,
//! population histograms of the per-unit measures).

use std::path::{Path, PathBuf};

use neurozoo_plugin::Figure;
use neurozoo_tables::{write_table, Table, TableError};

use super::{Tuning, UnitTuning};

/// The file stem of the tuning table (`tuning.parquet`, `tuning.csv`).
pub const TUNING_STEM: &str = "tuning";

impl Tuning {
    /// One row per unit: its id (from the recording's `unit_ids`) and index, receptive-field
    /// centre, blank rate and every measure of [`Tuning::summary`] (NaN where undefined).
    pub fn table(&self, unit_ids: &[i64]) -> Table {
        let summary = self.summary();
        let column = |f: fn(&UnitTuning) -> f64| summary.iter().map(f).collect::<Vec<_>>();
        Table::new()
            .i64("unit_id", self.units.iter().map(|&u| unit_ids[u]).collect())
            .i64("unit_index", self.units.iter().map(|&u| u as i64).collect())
            .f64("rf_row", self.rf_centres.iter().map(|c| c[0]).collect())
            .f64("rf_column", self.rf_centres.iter().map(|c| c[1]).collect())
            .f64("blank_rate", self.blank.iter().map(|&b| f64::from(b)).collect())
            .f64("peak_f0", column(|t| t.peak_f0))
            .f64("preferred_orientation_deg", column(|t| t.preferred_orientation_deg))
            .f64("preferred_sf_cycles_per_pixel", column(|t| t.preferred_sf))
            .f64("osi", column(|t| t.osi))
            .f64("circular_variance", column(|t| t.circular_variance))
            .f64("f1_f0", column(|t| t.f1_f0))
            .f64("preferred_radius_px", column(|t| t.preferred_radius))
            .f64("surround_suppression", column(|t| t.surround_suppression))
            .f64("c50", column(|t| t.c50))
    }

    /// `<dir>/tuning.parquet` and `<dir>/tuning.csv` of [`Tuning::table`].
    pub fn write_table(&self, unit_ids: &[i64], dir: &Path) -> Result<[PathBuf; 2], TableError> {
        write_table(&self.table(unit_ids), dir, TUNING_STEM)
    }

    /// Named figures for the host's figure drawer: orientation, size and contrast tuning curves
    /// (evoked responses) of at most `shown` units spread evenly over the units, and histograms
    /// of preferred orientation, OSI, F1/F0 and surround suppression over all units (units
    /// whose measure is undefined left out).
    pub fn figures(&self, unit_ids: &[i64], shown: usize) -> Vec<(String, Figure)> {
        let n = self.units.len();
        let shown = shown.clamp(1, n);
        let picked: Vec<usize> = (0..shown).map(|i| i * n / shown).collect();
        let label = |k: usize| format!("unit {}", unit_ids[self.units[k]]);
        let curves = |xs: &[f64], ys: &dyn Fn(usize) -> Vec<f64>| -> Vec<(String, Vec<(f64, f64)>)> {
            picked.iter().map(|&k| (label(k), xs.iter().copied().zip(ys(k)).collect())).collect()
        };
        let evoked =
            |rates: ndarray::ArrayView1<'_, f32>, k: usize| rates.iter().map(|&r| f64::from(r - self.blank[k])).collect::<Vec<_>>();
        let summary = self.summary();
        let histogram = |title: &str, x_label: &str, f: fn(&UnitTuning) -> f64| Figure::Histogram {
            title: title.to_string(),
            x_label: x_label.to_string(),
            values: summary.iter().map(f).filter(|v| v.is_finite()).collect(),
            bins: 18,
        };
        vec![
            (
                "tuning_orientation".to_string(),
                Figure::Line {
                    title: "Orientation tuning at the preferred spatial frequency (phase-averaged)".to_string(),
                    x_label: "grating orientation (deg)".to_string(),
                    y_label: "evoked rate".to_string(),
                    series: curves(&self.orientations_deg, &|k| self.orientation_curve(k, self.preferred[k][1])),
                },
            ),
            (
                "tuning_size".to_string(),
                Figure::Line {
                    title: "Size tuning: preferred grating in disks at the RF centre".to_string(),
                    x_label: "disk radius (px)".to_string(),
                    y_label: "evoked rate".to_string(),
                    series: curves(&self.radii, &|k| evoked(self.size.row(k), k)),
                },
            ),
            (
                "tuning_contrast".to_string(),
                Figure::Line {
                    title: format!("Contrast tuning: preferred full-field grating, fraction of L2 norm {:.2}", self.norm),
                    x_label: "contrast (fraction of the norm budget)".to_string(),
                    y_label: "evoked rate".to_string(),
                    series: curves(&self.contrasts, &|k| evoked(self.contrast.row(k), k)),
                },
            ),
            (
                "tuning_preferred_orientation".to_string(),
                histogram("Preferred orientation", "orientation (deg)", |t| t.preferred_orientation_deg),
            ),
            ("tuning_osi".to_string(), histogram("Orientation selectivity", "OSI", |t| t.osi)),
            // F1/F0 runs from 0 to π/2 for a rectified linear cell; far larger values only say
            // F0 is near zero, and would squeeze the informative range into one bin.
            (
                "tuning_f1_f0".to_string(),
                histogram("Phase modulation (F1/F0 > 1: simple; above 2 drawn at 2)", "F1/F0", |t| t.f1_f0.min(2.0)),
            ),
            (
                "tuning_surround_suppression".to_string(),
                histogram("Surround suppression", "1 − R_largest / R_peak", |t| t.surround_suppression),
            ),
        ]
    }
}
