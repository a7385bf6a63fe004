//! `neurozoo data simulate | inspect | validate`.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use neurozoo_datasets::inspect::{self, Inspection};
use neurozoo_datasets::simulate::sparse::{self, SparseConfig};
use neurozoo_datasets::simulate::sprites::{self, Images, SpritesConfig, Transition};
use neurozoo_datasets::simulate::v1::{self, Noise, V1Config};
use neurozoo_datasets::validate::{self, Severity};
use neurozoo_datasets::{static_h5, Tier};

use crate::args::{DataCommand, NoiseKind, SimulateKind, SimulateSparseArgs, SimulateSpritesArgs, SimulateV1Args, TransitionKind};

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Simulate { kind: SimulateKind::V1(args) } => simulate_v1(&args),
        DataCommand::Simulate { kind: SimulateKind::Sparse(args) } => simulate_sparse(&args),
        DataCommand::Simulate { kind: SimulateKind::Sprites(args) } => simulate_sprites(&args),
        DataCommand::Inspect { file, json } => {
            let summary = inspect::inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                print_inspection(&summary);
            }
            Ok(())
        }
        DataCommand::Validate { file, json } => validate_file(&file, json),
    }
}

fn v1_config(a: &SimulateV1Args) -> V1Config {
    let d = V1Config::default();
    V1Config {
        seed: a.seed.unwrap_or(d.seed),
        n_units: a.n_units.unwrap_or(d.n_units),
        n_train: a.n_train.unwrap_or(d.n_train),
        n_validation: a.n_validation.unwrap_or(d.n_validation),
        n_test: a.n_test.unwrap_or(d.n_test),
        n_final_test: a.n_final_test.unwrap_or(d.n_final_test),
        repeats: a.repeats.unwrap_or(d.repeats),
        height: a.height.unwrap_or(d.height),
        width: a.width.unwrap_or(d.width),
        images: a.images.unwrap_or(d.images),
        noise: match a.noise {
            Some(NoiseKind::Gaussian) => Noise::Gaussian { sd: a.noise_sd.unwrap_or(1.0) },
            Some(NoiseKind::Poisson) => Noise::Poisson,
            None => d.noise,
        },
        behavior_gain: a.behavior_gain.unwrap_or(d.behavior_gain),
        pupil_shift: a.pupil_shift.unwrap_or(d.pupil_shift),
        ..d
    }
}

fn simulate_v1(args: &SimulateV1Args) -> Result<()> {
    let base = v1_config(args);
    let k = args.recordings;
    let outs: Vec<std::path::PathBuf> = if k == 1 {
        vec![args.out.clone()]
    } else {
        let stem = args.out.file_stem().unwrap_or_default().to_string_lossy().to_string();
        let ext = args.out.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        (1..=k).map(|i| args.out.with_file_name(format!("{stem}-{i}{ext}"))).collect()
    };
    for out in &outs {
        if args.tree && out.exists() {
            bail!("{} already exists: a file tree is written into a new directory", out.display());
        }
        if !args.tree {
            crate::check_output_file(out, &[], args.force)?;
        }
    }
    for (i, out) in outs.iter().enumerate() {
        let start = Instant::now();
        let cfg = V1Config { seed: base.seed.wrapping_add(i as u64), ..base.clone() };
        let data = v1::simulate(&cfg)?;
        if args.tree {
            neurozoo_datasets::file_tree::write(&data, out)?;
        } else {
            static_h5::write(&data, out)?;
        }
        let tiers: Vec<String> =
            Tier::ALL.iter().map(|&t| (t, data.tier_indices(t).len())).filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t} {n}")).collect();
        let [c, h, w] = data.image_shape();
        eprintln!(
            "wrote {}: {} trials ({}), {} units, {c}x{h}x{w} images, in {:.1} s",
            out.display(),
            data.n_trials(),
            tiers.join(", "),
            data.n_units(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn simulate_sparse(a: &SimulateSparseArgs) -> Result<()> {
    let d = SparseConfig::default();
    let cfg = SparseConfig {
        n_sources: a.n_sources.unwrap_or(d.n_sources),
        n_dims: a.n_dims.unwrap_or(d.n_dims),
        k_active: a.k_active.unwrap_or(d.k_active),
        n_samples: a.n_samples.unwrap_or(d.n_samples),
        noise_sd: a.noise_sd.unwrap_or(d.noise_sd),
        seed: a.seed.unwrap_or(d.seed),
    };
    crate::check_output_file(&a.out, &[], a.force)?;
    sparse::simulate(&cfg)?.file(&cfg).write(&a.out)?;
    eprintln!(
        "wrote {}: {} samples of {} dimensions mixing {} of {} unit-norm atoms (representation x; arrays gt_dictionary, gt_codes)",
        a.out.display(),
        cfg.n_samples,
        cfg.n_dims,
        cfg.k_active,
        cfg.n_sources
    );
    Ok(())
}

/// A number, or "random" (None).
fn fixed_or_random<T: std::str::FromStr>(flag: &str, value: &str) -> Result<Option<T>> {
    if value == "random" {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| anyhow::anyhow!("--{flag} {value:?}: expected a number or \"random\""))
}

fn simulate_sprites(a: &SimulateSpritesArgs) -> Result<()> {
    let inputs: Vec<&Path> = a.npz.iter().map(|p| p.as_path()).collect();
    crate::check_output_file(&a.out, &inputs, a.force)?;
    let start = Instant::now();
    let transition = match a.transition {
        TransitionKind::Lap => Transition::Lap { rate: fixed_or_random("rate", &a.rate)? },
        TransitionKind::Loc => Transition::Loc { k: fixed_or_random("k", &a.k)? },
    };
    let images = match &a.npz {
        Some(path) => Images::from_npz(path)?,
        None => Images::Rendered,
    };
    let cfg = SpritesConfig { n_pairs: a.pairs, transition, seed: a.seed };
    let pairs = sprites::simulate(&cfg, &images)?;
    pairs.write(&a.out)?;
    eprintln!(
        "wrote {}: {} frame pairs ({}, {}) of 64x64 sprites, factors {}, in {:.1} s",
        a.out.display(),
        a.pairs,
        match transition {
            Transition::Lap { rate: Some(r) } => format!("LAP λ = {r}"),
            Transition::Lap { rate: None } => "LAP λ ~ U(1, 10)".into(),
            Transition::Loc { k: Some(k) } => format!("LOC k = {k}"),
            Transition::Loc { k: None } => "LOC k ~ U{1..4}".into(),
        },
        pairs.source,
        sprites::FACTOR_NAMES.join(", "),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn validate_file(file: &Path, json: bool) -> Result<()> {
    let v = validate::validate(file);
    if json {
        println!("{}", serde_json::to_string(&v)?);
    } else {
        for line in v.lines() {
            eprintln!("{line}");
        }
    }
    let (errors, warnings) = (v.count(Severity::Error), v.count(Severity::Warning));
    if errors > 0 {
        bail!("{}: {errors} problem(s), {warnings} warning(s)", file.display());
    }
    if !json {
        println!("{}: valid ({warnings} warning(s))", file.display());
    }
    Ok(())
}

/// A key's stored type; NWB files report none (their values are converted as they are read).
fn dtype<'a>(s: &'a Inspection, key: &str) -> &'a str {
    s.dtypes.get(key).map_or("(converted)", String::as_str)
}

fn print_inspection(s: &Inspection) {
    let [c, h, w] = s.image_shape;
    println!("{}", s.file);
    println!("  trials      {}", s.n_trials);
    println!(
        "  images      {c}x{h}x{w} {} in [{:.3}, {:.3}], mean {:.3}, std {:.3}",
        dtype(s, "images"),
        s.images.min,
        s.images.max,
        s.images.mean,
        s.images.std
    );
    match &s.responses {
        Some(r) => {
            println!("  responses   {} units {} in [{:.3}, {:.3}], mean {:.3}", s.n_units, dtype(s, "responses"), r.min, r.max, r.mean)
        }
        None => println!("  responses   no units"),
    }
    println!("  image ids   {}", s.image_id_key.as_deref().unwrap_or("none (every trial its own image)"));
    println!("  tiers       trials  images  repeated  repeats");
    for (tier, t) in &s.tiers {
        let repeats = if t.repeated_images > 0 { format!("{}-{}", t.min_repeats, t.max_repeats) } else { "-".into() };
        println!("    {:<10}{:>6}{:>8}{:>10}  {repeats}", tier.as_str(), t.trials, t.unique_images, t.repeated_images);
    }
    let counts = |m: &std::collections::BTreeMap<String, usize>| m.iter().map(|(k, v)| format!("{k} ({v})")).collect::<Vec<_>>().join(", ");
    if !s.units.areas.is_empty() {
        println!("  areas       {}", counts(&s.units.areas));
    }
    if !s.units.layers.is_empty() {
        println!("  layers      {}", counts(&s.units.layers));
    }
    if let Some(b) = s.behavior_columns {
        println!("  behavior    {b} columns");
    }
    if let Some(p) = s.pupil_center_columns {
        println!("  pupil       {p} columns");
    }
    if !s.statistics.is_empty() {
        println!("  statistics  {}", s.statistics.join(", "));
    }
    if let Some(gt) = &s.ground_truth {
        println!("  ground truth {}", gt.keys.join(", "));
        println!("    cell types {}", counts(&gt.cell_types));
    }
}
