use std::ffi::{c_char, c_int, CStr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the libtorch loaded into this process can do, for `neurozoo doctor`.
#[derive(Debug, Clone, Serialize)]
pub struct TorchRuntime {
    /// Version of the libtorch actually loaded (e.g. "2.11.0"), read next to the library itself
    /// because libtorch has no run-time version call; `None` when no version file is found.
    pub version: Option<String>,
    /// Full version string with the build tag, e.g. "2.11.0+cu130".
    pub version_full: Option<String>,
    /// Directory of the loaded `libtorch_cpu.so`.
    pub lib_dir: Option<PathBuf>,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    pub cuda_devices: Vec<CudaDevice>,
    pub cudnn_available: bool,
    /// cuDNN version as libtorch encodes it (e.g. 91900 for 9.19.0); only asked when CUDA is up,
    /// because the call fails without a device.
    pub cudnn_version: Option<i64>,
    pub threads: i32,
    pub interop_threads: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CudaDevice {
    pub index: i64,
    pub name: String,
}

impl TorchRuntime {
    pub fn probe() -> TorchRuntime {
        let cuda_available = tch::Cuda::is_available();
        let cuda_device_count = if cuda_available { tch::Cuda::device_count() } else { 0 };
        let lib_dir = loaded_libtorch_dir();
        let version_full = lib_dir.as_deref().and_then(read_version);
        TorchRuntime {
            version: version_full.as_deref().map(|v| v.split('+').next().unwrap_or(v).to_string()),
            version_full,
            lib_dir,
            cuda_available,
            cuda_device_count,
            cuda_devices: if cuda_available { cuda_device_names(cuda_device_count) } else { vec![] },
            cudnn_available: tch::Cuda::cudnn_is_available(),
            cudnn_version: cuda_available.then(tch::utils::version_cudnn),
            threads: tch::get_num_threads(),
            interop_threads: tch::get_num_interop_threads(),
        }
    }
}

/// The directory of the `libtorch_cpu.so` mapped into this process.
fn loaded_libtorch_dir() -> Option<PathBuf> {
    // Touch libtorch so that it is certainly mapped before reading the map.
    let _ = tch::get_num_threads();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| Path::new(path).file_name().is_some_and(|f| f == "libtorch_cpu.so"))
        .and_then(|path| Path::new(path).parent().map(Path::to_path_buf))
}

/// `torch/version.py` for a PyPI wheel (`lib/` sits inside the `torch` package), or the
/// `build-version` file of a libtorch zip.
fn read_version(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let line = text.lines().find(|l| l.starts_with("__version__"))?;
        return Some(line.split(['\'', '"']).nth(1)?.to_string());
    }
    std::fs::read_to_string(root.join("build-version")).ok().map(|v| v.trim().to_string())
}

/// Device names from the CUDA driver API, which libtorch does not expose through tch.
fn cuda_device_names(count: i64) -> Vec<CudaDevice> {
    type CuInit = unsafe extern "C" fn(u32) -> c_int;
    type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    let unnamed = |index| CudaDevice { index, name: "unknown".to_string() };
    // SAFETY: libcuda.so.1 is the driver library libtorch itself has already loaded to find the
    // devices; the three signatures are the driver API's stable C ones.
    let named = unsafe {
        libloading::Library::new("libcuda.so.1").ok().and_then(|lib| {
            let init = lib.get::<CuInit>(b"cuInit\0").ok()?;
            let get = lib.get::<CuDeviceGet>(b"cuDeviceGet\0").ok()?;
            let get_name = lib.get::<CuDeviceGetName>(b"cuDeviceGetName\0").ok()?;
            if init(0) != 0 {
                return None;
            }
            let mut out = Vec::new();
            for index in 0..count {
                let mut device: c_int = 0;
                let mut buf = [0 as c_char; 256];
                let name = if get(&mut device, index as c_int) == 0 && get_name(buf.as_mut_ptr(), buf.len() as c_int, device) == 0 {
                    CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
                } else {
                    "unknown".to_string()
                };
                out.push(CudaDevice { index, name });
            }
            // libcuda stays loaded for the life of the process anyway (libtorch holds it).
            std::mem::forget(lib);
            Some(out)
        })
    };
    named.unwrap_or_else(|| (0..count).map(unnamed).collect())
}

/// The most memory a fit has held so far, as its run.json records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeakMemory {
    /// The process's peak resident memory (data, model and training); absent in runs written
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// On CUDA, the caching allocator's peak of bytes in tensors
    /// (`torch.cuda.max_memory_allocated`); absent on the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gpu_allocated_bytes: Option<u64>,
    /// On CUDA, its peak of bytes reserved from the device, free blocks in its cache included
    /// (`torch.cuda.max_memory_reserved`; nvidia-smi shows this plus CUDA's own context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gpu_reserved_bytes: Option<u64>,
}

impl PeakMemory {
    /// The peaks up to now of this process and, when `device` is a GPU, of its allocator.
    pub fn now(device: tch::Device) -> PeakMemory {
        let gpu = neurozoo_tensor::accelerator_peak_bytes(device).and_then(|r| {
            // A run is not failed for its statistics; the record says what is missing.
            r.map_err(|e| eprintln!("warning: no GPU memory statistics for run.json: {e}")).ok()
        });
        PeakMemory {
            peak_rss_bytes: peak_rss_bytes(),
            peak_gpu_allocated_bytes: gpu.map(|(allocated, _)| allocated),
            peak_gpu_reserved_bytes: gpu.map(|(_, reserved)| reserved),
        }
    }
}

/// "951 MiB resident, GPU 1210 MiB in tensors (1536 MiB reserved)", as the fit's last line says it.
impl std::fmt::Display for PeakMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        match self.peak_rss_bytes {
            Some(b) => write!(f, "{:.0} MiB resident", mib(b))?,
            None => write!(f, "resident unknown")?,
        }
        if let (Some(a), Some(r)) = (self.peak_gpu_allocated_bytes, self.peak_gpu_reserved_bytes) {
            write!(f, ", GPU {:.0} MiB in tensors ({:.0} MiB reserved)", mib(a), mib(r))?;
        }
        Ok(())
    }
}

/// The most memory this process has held resident so far (Linux `VmHWM`), in bytes; `None`
/// where `/proc` does not say.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
