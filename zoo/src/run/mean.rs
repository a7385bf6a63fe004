//! A third family, for tests only: the "mean response" model, one learned number per unit (its
//! mean response), fitted by gradient descent to a JSON file of trials × units. It exists to
//! show that a family is this one module, and to drive the generic fit, resume, load,
//! evaluate and extract of [`super::family`] with something that is neither of the real ones.
//! Nothing in it assumes images: its data are responses alone (as a movie family's are clips).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use neurozoo_config::ConfigError;
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::family::{DataRequest, EvalOptions, ExtractOptions, Extraction, Fit, ModelFamily, Position, Progress, Run, Trained, Training};
use super::RunError;
use crate::train::{named_weights, restore_checked, TrainError};

pub struct MeanResponse;

/// `config.toml` of a mean-response run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanConfig {
    /// Always "mean": what tells this family's config from the others'.
    pub family: String,
    pub seed: u64,
    pub steps: usize,
    pub lr: f64,
}

/// The family's part of `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanRecord {
    pub data: String,
    pub fingerprint: String,
    pub units: usize,
    pub steps: usize,
}

/// A data file: `{"responses": [[…], …]}`, trials × units.
#[derive(Deserialize)]
struct File {
    responses: Vec<Vec<f32>>,
}

pub struct MeanData {
    path: PathBuf,
    fingerprint: String,
    responses: Array2<f32>,
}

/// One step of descent.
pub struct Step {
    pub step: usize,
    pub total: usize,
    pub loss: f64,
}

impl Progress for Step {
    fn position(&self) -> Option<Position> {
        Some(Position { done: self.step as u64, total: self.total as u64, stage: None })
    }

    fn line(&self) -> Option<String> {
        Some(format!("step {}  loss {:.6}", self.step, self.loss))
    }
}

fn read(path: &Path) -> Result<MeanData, RunError> {
    let text = std::fs::read(path).map_err(|e| RunError::at(path, e))?;
    let file: File = serde_json::from_slice(&text).map_err(|e| RunError::at(path, e))?;
    let units = file.responses.first().map_or(0, Vec::len);
    let flat: Vec<f32> = file.responses.concat();
    let responses = Array2::from_shape_vec((file.responses.len(), units), flat).map_err(|e| RunError::at(path, e))?;
    Ok(MeanData { path: path.to_path_buf(), fingerprint: neurozoo_util::hash::Fnv1a::of(&text), responses })
}

fn tensor(a: &Array2<f32>, device: tch::Device) -> Tensor {
    neurozoo_tensor::to_tensor(a.view(), device)
}

/// The mean squared error of the fitted means, summed over units.
fn loss(mean: &Tensor, responses: &Tensor) -> Tensor {
    (responses - mean).square().mean_dim(0, false, Kind::Float).sum(Kind::Float)
}

impl ModelFamily for MeanResponse {
    const NAME: &'static str = "mean-response model";
    const LENGTH: &'static str = "steps";
    type Config = MeanConfig;
    type Record = MeanRecord;
    type Data = MeanData;
    type Model = Tensor;
    type Prepared = Tensor;
    type Event<'e> = Step;
    type Trained = ();
    /// The loss on a file.
    type Evaluation = f64;

    fn read_config(text: &str, _: &Path) -> Result<Option<MeanConfig>, ConfigError> {
        Ok(toml::from_str::<MeanConfig>(text).ok().filter(|c| c.family == "mean"))
    }

    fn seed_and_length(config: &mut MeanConfig) -> (&mut u64, &mut usize) {
        (&mut config.seed, &mut config.steps)
    }

    fn check(config: &MeanConfig) -> Result<(), ConfigError> {
        if config.lr > 0.0 {
            Ok(())
        } else {
            Err(ConfigError::Toml(format!("lr {} is not positive", config.lr)))
        }
    }

    fn same_model(asked: &MeanConfig, saved: &MeanConfig) -> bool {
        asked.lr == saved.lr
    }

    fn save_config(dir: &Path, config: &MeanConfig) -> Result<(), RunError> {
        let path = dir.join(super::CONFIG_FILE);
        neurozoo_util::files::write_atomic(&path, toml::to_string(config).expect("serialises")).map_err(|e| RunError::at(dir, e))
    }

    fn load(_: &MeanConfig, _: &str, data: &DataRequest) -> Result<MeanData, RunError> {
        match data.paths {
            [path] => read(path),
            _ => Err(RunError::NoRecordings),
        }
    }

    fn record(data: &MeanData) -> MeanRecord {
        MeanRecord { data: data.path.display().to_string(), fingerprint: data.fingerprint.clone(), units: data.responses.ncols(), steps: 0 }
    }

    fn other_data(fitted: &MeanRecord, given: &mut MeanData) -> Option<(String, String)> {
        let given = Self::record(given);
        (fitted.fingerprint != given.fingerprint).then(|| (fitted.data.clone(), given.data.clone()))
    }

    fn build(vs: &nn::VarStore, _: &MeanConfig, data: MeanData) -> Result<(Tensor, Tensor), RunError> {
        let mean = vs.root().zeros("mean", &[data.responses.ncols() as i64]);
        Ok((mean, tensor(&data.responses, vs.device())))
    }

    fn describe(fit: &Fit<MeanResponse>) -> Vec<String> {
        vec![format!("fit the mean of {} trials, {} steps", fit.prepared.size()[0], fit.config.steps)]
    }

    fn train(t: Training<'_, MeanResponse>, record: &mut MeanRecord, on: &mut dyn FnMut(Step)) -> Result<Trained<()>, RunError> {
        let mut first = 1;
        if t.resume && crate::checkpoint::exists(t.out) {
            let mut loaded = crate::checkpoint::load(t.out, &["weights"], t.vs.device())
                .map_err(|(path, problem)| TrainError::Checkpoint { path, problem })?;
            restore_checked(t.vs, &loaded.take("weights"))
                .map_err(|problem| TrainError::Checkpoint { path: loaded.dir.clone(), problem })?;
            first = loaded.state.trim().parse::<usize>().map_err(|e| RunError::at(&loaded.dir, e))? + 1;
        }
        for step in first..=t.config.steps {
            let l = loss(t.model, t.prepared);
            let grad = Tensor::run_backward(&[&l], &[t.model], false, false).remove(0);
            tch::no_grad(|| {
                let _ = t.model.shallow_clone().g_sub_(&(grad * t.config.lr));
            });
            crate::checkpoint::save(t.out, &[("weights", named_weights(t.vs))], &step.to_string())
                .map_err(|(path, problem)| TrainError::Checkpoint { path, problem })?;
            record.steps = step;
            on(Step { step, total: t.config.steps, loss: l.double_value(&[]) });
        }
        Ok(Trained { value: (), complete: true, seconds: 0.0 })
    }

    fn epochs(_: &MeanRecord, _: &Path) -> Option<usize> {
        None
    }

    fn model(vs: &nn::VarStore, _: &MeanConfig, record: &MeanRecord, _: &Path) -> Result<Tensor, RunError> {
        Ok(vs.root().zeros("mean", &[record.units as i64]))
    }

    fn evaluate(run: &Run<MeanResponse>, data: &Path, options: &EvalOptions) -> Result<f64, RunError> {
        let responses = tensor(&read(data)?.responses, options.device);
        Ok(tch::no_grad(|| loss(&run.model, &responses)).double_value(&[]))
    }

    /// `mean`: the model's prediction for every trial of `data`.
    fn extract(run: &Run<MeanResponse>, data: &Path, options: &ExtractOptions) -> Result<Extraction, RunError> {
        if let Some(layer) = options.layers.iter().find(|l| *l != "mean") {
            return Err(RunError::at(&run.dir, format!("no layer {layer:?} (a mean-response run has: mean)")));
        }
        let trials = read(data)?.responses.nrows();
        let mean: Vec<f32> = Vec::try_from(run.model.detach().to_device(tch::Device::Cpu)).expect("a vector");
        let rows = Array2::from_shape_fn((trials, mean.len()), |(_, u)| mean[u]);
        let file = RepresentationFile {
            representations: vec![Representation { name: "mean".into(), data: rows, source: "{}".into() }],
            stimulus_ids: (0..trials as i64).collect(),
            stimuli: None,
            arrays: Vec::new(),
        };
        Ok(Extraction { file, note: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::family::{FitRequest, RunRecord};
    use crate::run::{ResumeConflict, RunStatus};
    use neurozoo_datasets::nwb::NwbOptions;
    use tch::Device;

    /// 40 trials of 3 units whose means are 1, −2 and 0.5.
    fn data(dir: &Path, name: &str, shift: f32) -> PathBuf {
        let responses: Vec<Vec<f32>> = (0..40)
            .map(|t| {
                let wobble = if t % 2 == 0 { 0.25 } else { -0.25 };
                vec![1.0 + wobble + shift, -2.0 - wobble, 0.5 + 2.0 * wobble]
            })
            .collect();
        let path = dir.join(name);
        std::fs::write(&path, serde_json::json!({ "responses": responses }).to_string()).unwrap();
        path
    }

    fn request(data: &Path, out: &Path, resume: bool) -> FitRequest<MeanResponse> {
        FitRequest {
            config: MeanConfig { family: "mean".into(), seed: 3, steps: 20, lr: 0.25 },
            model: "mean".into(),
            seed: None,
            length: None,
            data: vec![data.to_path_buf()],
            nwb: NwbOptions::default(),
            out: out.to_path_buf(),
            device: Device::Cpu,
            resume,
        }
    }

    fn weights(dir: &Path) -> Vec<f32> {
        let named = Tensor::read_safetensors(dir.join(super::super::MODEL_FILE)).unwrap();
        Vec::try_from(&named[0].1).unwrap()
    }

    /// A fit killed after step 7 and resumed ends with the weights of a fit never stopped; the
    /// run then loads, evaluates and extracts through the generic code; conflicting resumes are
    /// refused as for the real families.
    #[test]
    fn a_third_family_fits_resumes_evaluates_and_extracts_through_the_generic_code() {
        let dir = tempfile::tempdir().unwrap();
        let data = data(dir.path(), "d.json", 0.0);

        let whole = dir.path().join("whole");
        let mut lines = Vec::new();
        let fitted = Fit::prepare(request(&data, &whole, false)).unwrap().train(|e| lines.extend(e.line())).unwrap();
        assert_eq!((fitted.info.status, fitted.info.steps), (RunStatus::Complete, 20));
        assert_eq!(lines.len(), 20);
        assert!(lines[0].starts_with("step 1  loss "), "{}", lines[0]);

        // Killed after step 7: run.json still says running, the checkpoint holds step 7.
        let killed = dir.path().join("killed");
        let fit = Fit::prepare(request(&data, &killed, false)).unwrap();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fit.train(|e| assert!(e.step < 7, "killed"))));
        std::panic::set_hook(previous);
        assert!(died.is_err());
        let info = RunRecord::<MeanRecord>::load(&killed).unwrap();
        assert_eq!((info.status, info.steps), (RunStatus::Running, 0));

        // Another seed or other data is refused, and so is a new fit into the run.
        let conflict = |r: Result<Fit<MeanResponse>, RunError>| match r {
            Err(RunError::Resume { conflict, .. }) => conflict,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        };
        let mut reseeded = request(&data, &killed, true);
        reseeded.seed = Some(4);
        assert_eq!(conflict(Fit::prepare(reseeded)), ResumeConflict::Seed { asked: 4, saved: 3 });
        let other = self::data(dir.path(), "other.json", 1.0);
        assert!(matches!(conflict(Fit::prepare(request(&other, &killed, true))), ResumeConflict::OtherData { .. }));
        assert!(matches!(Fit::prepare(request(&data, &killed, false)), Err(RunError::Output(_))));
        assert!(matches!(Run::<MeanResponse>::load(&killed, Device::Cpu), Err(RunError::Unfinished(_))));

        let mut resumed_steps = Vec::new();
        let resumed = Fit::prepare(request(&data, &killed, true)).unwrap().train(|e| resumed_steps.push(e.step)).unwrap();
        assert_eq!(resumed_steps, (8..=20).collect::<Vec<_>>());
        assert_eq!(resumed.info.status, RunStatus::Complete);
        assert_eq!(weights(&killed), weights(&whole));
        assert!(matches!(conflict(Fit::prepare(request(&data, &killed, true))), ResumeConflict::Complete));

        let run = Run::<MeanResponse>::load(&killed, Device::Cpu).unwrap();
        let fitted_mean = weights(&killed);
        for (m, want) in fitted_mean.iter().zip([1.0, -2.0, 0.5]) {
            assert!((m - want).abs() < 1e-4, "{fitted_mean:?}");
        }
        // The loss left is the wobble's variance: 0.25² + 0.25² + 0.5².
        let options = EvalOptions { nwb: NwbOptions::default(), intervention_points: 0, device: Device::Cpu };
        let loss = MeanResponse::evaluate(&run, &data, &options).unwrap();
        assert!((loss - 0.375).abs() < 1e-5, "{loss}");
        let extract = |layers: &[&str]| {
            let options = ExtractOptions {
                layers: layers.iter().map(|l| l.to_string()).collect(),
                tiers: Vec::new(),
                nwb: NwbOptions::default(),
                device: Device::Cpu,
            };
            MeanResponse::extract(&run, &data, &options)
        };
        let file = extract(&[]).unwrap().file;
        assert_eq!(file.representations[0].data.dim(), (40, 3));
        assert_eq!(file.representations[0].data.row(39).to_vec(), fitted_mean);
        let err = extract(&["core"]).err().unwrap().to_string();
        assert!(err.contains("no layer \"core\""), "{err}");
    }

    /// A run of another family is not this family's to load or resume.
    #[test]
    fn another_familys_run_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let preset = neurozoo_config::preset("slowvae").unwrap();
        let neurozoo_config::Preset::SpritePairs(cfg) = preset else { panic!() };
        std::fs::write(run.join(super::super::CONFIG_FILE), cfg.to_toml()).unwrap();
        let err = super::super::family::load_family_config::<MeanResponse>(&run).err().unwrap().to_string();
        assert!(err.contains("is a sprite-pair model's run, not a mean-response model's"), "{err}");
    }
}
