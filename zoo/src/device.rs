use std::fmt;
use std::str::FromStr;

use tch::{Cuda, Device};

/// Where a model runs, as the user asks for it on the command line (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The first CUDA device when libtorch sees one, otherwise the CPU.
    #[default]
    Auto,
    Cpu,
    /// The first CUDA device; an error when there is none.
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device cuda was requested but libtorch sees no CUDA device (run `neurozoo doctor`)")]
    CudaUnavailable,
    #[error("unknown device {0:?}: expected auto, cpu or cuda")]
    Unknown(String),
}

impl DeviceChoice {
    /// The device, with cuDNN autotuning switched on where it is a GPU: a run feeds batches of
    /// one image shape, so timing the convolution algorithms once per shape pays off.
    pub fn resolve(self) -> Result<Device, DeviceError> {
        let device = match self {
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Auto => Device::cuda_if_available(),
            DeviceChoice::Cuda if Cuda::is_available() => Device::Cuda(0),
            DeviceChoice::Cuda => return Err(DeviceError::CudaUnavailable),
        };
        if device.is_cuda() {
            Cuda::cudnn_set_benchmark(true);
        }
        Ok(device)
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(DeviceError::Unknown(other.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        })
    }
}
