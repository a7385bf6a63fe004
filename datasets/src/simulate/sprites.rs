//! Temporally sparse sprite sequences for SlowVAE (Klindt et al. 2021): pairs of 64 × 64 binary
//! frames of one sprite whose generative factors change little between the frames.
//!
//! The factors and their values follow dSprites (Matthey et al. 2017) without its constant
//! colour: shape (square, ellipse, heart), scale (6 values 0.5–1), orientation (40 values 0–2π,
//! both ends included), x and y position (32 values 0–1 each). Frames are drawn by a built-in
//! renderer, or taken from the public `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` when a
//! user has it ([`Images::from_npz`]).
//!
//! Transitions, as in bethgelab/slow_disentanglement:
//! - **LAP**: every factor of n values moves independently to x with p(x) ∝ exp(−|x − current| /
//!   (ln n / λ)) over its valid values (a discrete Laplace, truncated and renormalised; no wrap),
//!   shape is then kept; if nothing moved, one of scale, orientation, x, y (uniformly) is redrawn
//!   with staying put excluded. λ fixed, or drawn per pair from U(1, 10).
//! - **LOC**: k distinct factors (shape may be one) jump to uniformly chosen different values; k
//!   fixed, or drawn per pair uniformly from 1–4.
//!
//! ```
//! use neurozoo_datasets::simulate::sprites::{simulate, Images, SpritesConfig, Transition};
//!
//! let cfg = SpritesConfig { n_pairs: 4, transition: Transition::Lap { rate: Some(6.0) }, seed: 0 };
//! let pairs = simulate(&cfg, &Images::Rendered).unwrap();
//! assert_eq!(pairs.images.shape(), &[4, 2, 64, 64]);
//! // Shape never changes under LAP.
//! assert!((0..4).all(|i| pairs.classes[[i, 0, 0]] == pairs.classes[[i, 1, 0]]));
//! ```

use std::f64::consts::PI;
use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::{s, Array3, Array4};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

pub const FACTOR_NAMES: [&str; 5] = ["shape", "scale", "orientation", "pos_x", "pos_y"];
pub const FACTOR_SIZES: [usize; 5] = [3, 6, 40, 32, 32];
/// Only shape is categorical: LAP never moves it.
const CATEGORICAL: [bool; 5] = [true, false, false, false, false];
pub const SIDE: usize = 64;
/// Images in dSprites: every combination of the five factors (colour has one value).
const N_IMAGES: usize = 3 * 6 * 40 * 32 * 32;

/// A factor's value for its class, in dSprites' `latents_values` units.
pub fn factor_value(factor: usize, class: usize) -> f64 {
    let linspace = |lo: f64, hi: f64, n: usize| lo + (hi - lo) * class as f64 / (n - 1) as f64;
    match factor {
        0 => (class + 1) as f64,
        1 => linspace(0.5, 1.0, 6),
        2 => linspace(0.0, 2.0 * PI, 40),
        _ => linspace(0.0, 1.0, 32),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transition {
    /// Discrete Laplace steps of rate λ (None: λ ~ U(1, 10) per pair).
    Lap { rate: Option<f64> },
    /// k factors jump (None: k uniform in 1–4 per pair).
    Loc { k: Option<usize> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpritesConfig {
    pub n_pairs: usize,
    pub transition: Transition,
    pub seed: u64,
}

/// Where frames come from.
pub enum Images {
    /// The built-in renderer.
    Rendered,
    /// dSprites' `imgs`, (737280, 64, 64), indexed by the factor classes.
    Dsprites(Array3<u8>),
}

impl Images {
    /// Read `imgs` from the public dSprites npz (the other keys are not needed: the image index
    /// is a function of the factor classes).
    pub fn from_npz(path: &Path) -> Result<Images> {
        let file = std::fs::File::open(path).map_err(|e| DatasetError::file(path, format!("cannot open: {e}")))?;
        let mut npz = ndarray_npy::NpzReader::new(file).map_err(|e| DatasetError::file(path, format!("not an npz archive: {e}")))?;
        let imgs: Array3<u8> =
            npz.by_name("imgs").or_else(|_| npz.by_name("imgs.npy")).map_err(|e| DatasetError::key(path, "imgs", e.to_string()))?;
        if imgs.shape() != [N_IMAGES, SIDE, SIDE] {
            return Err(DatasetError::key(path, "imgs", format!("is {:?}, expected dSprites' [{N_IMAGES}, 64, 64]", imgs.shape())));
        }
        Ok(Images::Dsprites(imgs))
    }

    fn frame(&self, classes: &[usize; 5]) -> Array3<u8> {
        match self {
            Images::Rendered => render(classes),
            Images::Dsprites(imgs) => {
                let index = dsprites_index(classes);
                imgs.slice(s![index..index + 1, .., ..]).to_owned()
            }
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Images::Rendered => "rendered",
            Images::Dsprites(_) => "dsprites npz",
        }
    }
}

/// The row of dSprites' `imgs` showing these classes: its `latents_bases`
/// (245760, 40960, 1024, 32, 1) with the colour class 0, i.e. the classes in C order.
fn dsprites_index(classes: &[usize; 5]) -> usize {
    classes.iter().zip(FACTOR_SIZES).fold(0, |acc, (&c, n)| acc * n + c)
}

/// One binary 64 × 64 frame (1, 64, 64) of the sprite with these factor classes: the pixel centres
/// inside the shape, rotated by the orientation about the sprite's centre. At scale 1 the shape
/// spans 16 pixels; the centre ranges over pixels 12–52.
pub fn render(classes: &[usize; 5]) -> Array3<u8> {
    let half = 8.0 * factor_value(1, classes[1]);
    let theta = factor_value(2, classes[2]);
    let (cx, cy) = (12.0 + 40.0 * factor_value(3, classes[3]), 12.0 + 40.0 * factor_value(4, classes[4]));
    let (sin, cos) = theta.sin_cos();
    let mut frame = Array3::zeros((1, SIDE, SIDE));
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            // Into the sprite's frame: rotate by −θ, in units of the half size; v points up.
            let u = (cos * dx + sin * dy) / half;
            let v = -(-sin * dx + cos * dy) / half;
            let inside = match classes[0] {
                0 => u.abs() <= 1.0 && v.abs() <= 1.0,
                1 => u * u + 4.0 * v * v <= 1.0,
                _ => {
                    let (hx, hy) = (1.15 * u, 1.15 * v + 0.15);
                    (hx * hx + hy * hy - 1.0).powi(3) - hx * hx * hy.powi(3) <= 0.0
                }
            };
            frame[[0, y, x]] = u8::from(inside);
        }
    }
    frame
}

/// Frame pairs with their factor classes.
#[derive(Debug, Clone, PartialEq)]
pub struct SpritePairs {
    /// (pairs, 2, 64, 64), values 0 or 1.
    pub images: Array4<u8>,
    /// (pairs, 2, 5) factor classes of each frame.
    pub classes: Array3<i64>,
    pub config: SpritesConfig,
    /// "rendered" or "dsprites npz".
    pub source: String,
}

/// Uniformly random classes of every factor: a sprite drawn from all of dSprites.
pub fn random_classes(rng: &mut impl Rng) -> [usize; 5] {
    std::array::from_fn(|f| rng.random_range(0..FACTOR_SIZES[f]))
}

/// A class drawn from the discrete Laplace around `current`, truncated to 0..n;
/// `exclude_current` forbids staying put.
fn laplace_step(rng: &mut ChaCha8Rng, current: usize, n: usize, rate: f64, exclude_current: bool) -> usize {
    let scale = (n as f64).ln() / rate;
    let weights: Vec<f64> =
        (0..n).map(|x| if exclude_current && x == current { 0.0 } else { (-(x as f64 - current as f64).abs() / scale).exp() }).collect();
    let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (x, w) in weights.iter().enumerate() {
        if u < *w {
            return x;
        }
        u -= w;
    }
    // Rounding left u at the very end: the last class with weight.
    weights.iter().rposition(|&w| w > 0.0).expect("some class has weight")
}

fn next_classes(rng: &mut ChaCha8Rng, current: &[usize; 5], transition: Transition) -> [usize; 5] {
    let mut next = *current;
    match transition {
        Transition::Lap { rate } => {
            let rate = rate.unwrap_or_else(|| rng.random_range(1.0..10.0));
            for f in 0..5 {
                next[f] = laplace_step(rng, current[f], FACTOR_SIZES[f], rate, false);
            }
            next[0] = current[0];
            if next == *current {
                let movable: Vec<usize> = (0..5).filter(|&f| !CATEGORICAL[f]).collect();
                let f = movable[rng.random_range(0..movable.len())];
                next[f] = laplace_step(rng, current[f], FACTOR_SIZES[f], rate, true);
            }
        }
        Transition::Loc { k } => {
            let k = k.unwrap_or_else(|| rng.random_range(1..5));
            for f in sample(rng, 5, k) {
                // Uniform over the other n − 1 values.
                let jump = rng.random_range(1..FACTOR_SIZES[f]);
                next[f] = (current[f] + jump) % FACTOR_SIZES[f];
            }
        }
    }
    next
}

/// Draw `n_pairs` pairs: a uniformly random first frame, then one transition.
pub fn simulate(cfg: &SpritesConfig, images: &Images) -> Result<SpritePairs> {
    let bad = |what: String| Err(DatasetError::Invalid(format!("simulate sprites: {what}")));
    if cfg.n_pairs == 0 {
        return bad("n_pairs must be positive".into());
    }
    match cfg.transition {
        Transition::Lap { rate: Some(r) } if !(r > 0.0 && r.is_finite()) => return bad(format!("rate ({r}) must be a positive number")),
        Transition::Loc { k: Some(k) } if !(1..=5).contains(&k) => return bad(format!("k ({k}) must be between 1 and 5")),
        _ => {}
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut out = Array4::zeros((cfg.n_pairs, 2, SIDE, SIDE));
    let mut classes = Array3::zeros((cfg.n_pairs, 2, 5));
    for i in 0..cfg.n_pairs {
        let first = random_classes(&mut rng);
        let second = next_classes(&mut rng, &first, cfg.transition);
        for (t, c) in [first, second].iter().enumerate() {
            out.slice_mut(s![i, t..t + 1, .., ..]).assign(&images.frame(c));
            for f in 0..5 {
                classes[[i, t, f]] = c[f] as i64;
            }
        }
    }
    Ok(SpritePairs { images: out, classes, config: cfg.clone(), source: images.describe().into() })
}

impl SpritePairs {
    /// Write atomically: `images` (pairs, 2, 64, 64) u8, chunked and compressed; `classes`
    /// (pairs, 2, 5); attributes `kind` = "sprites", `factor_names`, `config` (JSON), `source`.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::h5::write_atomic(path, |tmp| {
            let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(tmp)?;
            let chunk = self.images.shape()[0].min(256);
            file.new_dataset_builder()
                .obj_track_times(false)
                .chunk((chunk, 2, SIDE, SIDE))
                .deflate(4)
                .with_data(self.images.view())
                .create("images")?;
            file.new_dataset_builder().obj_track_times(false).with_data(self.classes.view()).create("classes")?;
            let text = |s: String| s.parse::<VarLenUnicode>().map_err(|e| hdf5::Error::from(e.to_string()));
            file.new_attr::<VarLenUnicode>().create("kind")?.write_scalar(&text("sprites".into())?)?;
            file.new_attr::<VarLenUnicode>().create("factor_names")?.write_scalar(&text(FACTOR_NAMES.join(","))?)?;
            let config = serde_json::to_string(&self.config).expect("a config serialises");
            file.new_attr::<VarLenUnicode>().create("config")?.write_scalar(&text(config)?)?;
            file.new_attr::<VarLenUnicode>().create("source")?.write_scalar(&text(self.source.clone())?)?;
            file.close()
        })
    }

    pub fn read(path: &Path) -> Result<SpritePairs> {
        let file = crate::h5::open(path)?;
        let attr = |name: &str| -> Result<String> {
            file.attr(name).and_then(|a| a.read_scalar::<VarLenUnicode>()).map(|s| s.to_string()).map_err(|_| {
                DatasetError::key(path, name, "missing attribute: not a sprites file (write one with `neurozoo data simulate sprites`)")
            })
        };
        if attr("kind")? != "sprites" {
            return Err(DatasetError::key(path, "kind", "is not \"sprites\""));
        }
        let config: SpritesConfig = serde_json::from_str(&attr("config")?).map_err(|e| DatasetError::key(path, "config", e.to_string()))?;
        let images: Array4<u8> =
            file.dataset("images").and_then(|d| d.read()).map_err(|e| DatasetError::key(path, "images", e.to_string()))?;
        let classes: Array3<i64> =
            file.dataset("classes").and_then(|d| d.read()).map_err(|e| DatasetError::key(path, "classes", e.to_string()))?;
        let n = images.shape()[0];
        if images.shape()[1..] != [2, SIDE, SIDE] || classes.shape() != [n, 2, 5] {
            return Err(DatasetError::file(
                path,
                format!("images {:?} and classes {:?} must be (pairs, 2, 64, 64) and (pairs, 2, 5)", images.shape(), classes.shape()),
            ));
        }
        if let Some((f, &c)) = classes.indexed_iter().find(|((_, _, f), &c)| c < 0 || c as usize >= FACTOR_SIZES[*f]) {
            return Err(DatasetError::key(path, "classes", format!("{} class {c} at {f:?} is out of range", FACTOR_NAMES[f.2])));
        }
        Ok(SpritePairs { images, classes, config, source: attr("source")? })
    }

    /// The factor classes of frame `t` (0 or 1) of every pair, as f64: (pairs, 5).
    pub fn frame_classes(&self, t: usize) -> ndarray::Array2<f64> {
        self.classes.slice(s![.., t, ..]).mapv(|c| c as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(transition: Transition, n: usize) -> SpritePairs {
        simulate(&SpritesConfig { n_pairs: n, transition, seed: 1 }, &Images::Rendered).unwrap()
    }

    #[test]
    fn lap_moves_at_least_one_factor_never_the_shape_and_mostly_small_steps() {
        let p = pairs(Transition::Lap { rate: Some(6.0) }, 2000);
        let mut steps = Vec::new();
        for i in 0..2000 {
            let moved: Vec<usize> = (0..5).filter(|&f| p.classes[[i, 0, f]] != p.classes[[i, 1, f]]).collect();
            assert!(!moved.is_empty() && !moved.contains(&0), "pair {i} moved {moved:?}");
            for f in 1..5 {
                steps.push((p.classes[[i, 1, f]] - p.classes[[i, 0, f]]).abs());
            }
        }
        // λ = 6: most factors stay; moves are mostly single steps.
        let stayed = steps.iter().filter(|&&s| s == 0).count() as f64 / steps.len() as f64;
        let single = steps.iter().filter(|&&s| s == 1).count() as f64 / steps.iter().filter(|&&s| s > 0).count() as f64;
        assert!(stayed > 0.6 && single > 0.6, "stayed {stayed:.2}, single steps {single:.2}");
    }

    #[test]
    fn loc_jumps_exactly_k_factors() {
        let p = pairs(Transition::Loc { k: Some(2) }, 500);
        for i in 0..500 {
            let moved = (0..5).filter(|&f| p.classes[[i, 0, f]] != p.classes[[i, 1, f]]).count();
            assert_eq!(moved, 2, "pair {i}");
        }
    }

    #[test]
    fn renderer_follows_position_scale_and_shape() {
        let area = |c: [usize; 5]| render(&c).iter().map(|&v| v as usize).sum::<usize>();
        // A 16-pixel square at scale 1, an ellipse of half its width is smaller, a scale-0.5
        // square a quarter of the area.
        assert_eq!(area([0, 5, 0, 16, 16]), 256);
        assert!(area([1, 5, 0, 16, 16]) < 256 / 2 + 20);
        assert_eq!(area([0, 0, 0, 16, 16]), 64);
        // Moving x moves the mass to the right.
        let centre_x = |c: [usize; 5]| {
            let f = render(&c);
            let (mut sum, mut mass) = (0.0, 0.0);
            for ((_, _, x), &v) in f.indexed_iter() {
                sum += x as f64 * v as f64;
                mass += v as f64;
            }
            sum / mass
        };
        assert!((centre_x([2, 3, 7, 0, 10]) - 12.0).abs() < 1.5 && (centre_x([2, 3, 7, 31, 10]) - 52.0).abs() < 1.5);
        // The heart is not symmetric under a half turn; the rendering must see orientation.
        assert_ne!(render(&[2, 5, 0, 16, 16]), render(&[2, 5, 20, 16, 16]));
    }

    #[test]
    fn dsprites_index_is_the_npz_latents_bases() {
        assert_eq!(dsprites_index(&[1, 2, 3, 4, 5]), 245760 + 2 * 40960 + 3 * 1024 + 4 * 32 + 5);
        assert_eq!(dsprites_index(&[2, 5, 39, 31, 31]), N_IMAGES - 1);
    }

    #[test]
    fn an_npz_that_is_not_dsprites_is_refused_naming_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.npz");
        let mut npz = ndarray_npy::NpzWriter::new_compressed(std::fs::File::create(&path).unwrap());
        npz.add_array("imgs", &Array3::<u8>::zeros((10, 64, 64))).unwrap();
        npz.finish().unwrap();
        let err = Images::from_npz(&path).err().unwrap().to_string();
        assert!(err.contains("small.npz") && err.contains("imgs") && err.contains("[737280, 64, 64]"), "{err}");
        let missing = dir.path().join("none.npz");
        assert!(Images::from_npz(&missing).err().unwrap().to_string().contains("none.npz"));
    }

    #[test]
    fn same_seed_same_pairs_and_bad_configs_name_the_value() {
        assert_eq!(pairs(Transition::Lap { rate: None }, 20), pairs(Transition::Lap { rate: None }, 20));
        let err = simulate(&SpritesConfig { n_pairs: 3, transition: Transition::Loc { k: Some(7) }, seed: 0 }, &Images::Rendered);
        assert!(err.unwrap_err().to_string().contains("k (7)"));
    }
}
