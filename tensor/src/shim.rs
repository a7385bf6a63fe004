//! libtorch calls that tch 0.24 does not bind, through the C++ shim in `cpp/shim.cpp`.

use std::ffi::{c_char, c_int, CStr};

use neurozoo_config::Precision;
use tch::Device;

extern "C" {
    fn nz_free(message: *mut c_char);
    fn nz_autocast_enter(device_type: c_int, dtype: c_int, was_enabled: *mut bool, was_dtype: *mut c_int) -> *mut c_char;
    fn nz_autocast_exit(device_type: c_int, was_enabled: bool, was_dtype: c_int) -> *mut c_char;
    fn nz_accelerator_peak_bytes(index: c_int, allocated: *mut i64, reserved: *mut i64) -> *mut c_char;
}

/// An exception libtorch threw, as its message.
#[derive(Debug, thiserror::Error)]
#[error("libtorch: {0}")]
pub struct TorchError(pub String);

/// The shim's result: null for success, else a message it allocated.
fn checked(message: *mut c_char) -> Result<(), TorchError> {
    if message.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string from malloc, freed here once.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
    unsafe { nz_free(message) };
    Err(TorchError(text))
}

/// c10's `DeviceType` of a tch device.
fn device_type(device: Device) -> c_int {
    match device {
        Device::Cpu => 0,
        Device::Cuda(_) => 1,
        Device::Mps => 13,
        Device::Vulkan => 10,
    }
}

/// c10's `ScalarType` code of the dtype `precision` computes in under autocast; none for f32,
/// which runs without it.
fn reduced_scalar_type(precision: Precision) -> Option<c_int> {
    match precision {
        Precision::Fp32 => None,
        Precision::Bf16 => Some(15),
    }
}

/// `f` run as under `torch.autocast(device, dtype)` when `precision` is a reduced one:
/// convolutions and matrix products on `device` compute in that dtype from f32 weights (cast
/// once per outermost region), the ops that need range stay f32. Gradients flow back to the f32
/// weights. With [`Precision::Fp32`], `f` runs as it is.
pub fn autocast<T>(device: Device, precision: Precision, f: impl FnOnce() -> T) -> Result<T, TorchError> {
    let Some(dtype) = reduced_scalar_type(precision) else { return Ok(f()) };
    let (device, mut was_enabled, mut was_dtype) = (device_type(device), false, 0);
    // SAFETY: plain values in, two out-parameters that live across the call.
    checked(unsafe { nz_autocast_enter(device, dtype, &mut was_enabled, &mut was_dtype) })?;
    // Restores the previous state even if `f` panics.
    struct Exit(c_int, bool, c_int);
    impl Drop for Exit {
        fn drop(&mut self) {
            // SAFETY: plain values; leaving can only fail if entering did, which returned above.
            checked(unsafe { nz_autocast_exit(self.0, self.1, self.2) }).expect("autocast exits as it entered");
        }
    }
    let _exit = Exit(device, was_enabled, was_dtype);
    Ok(f())
}

/// Peak bytes (allocated to tensors, reserved by the caching allocator) on a CUDA device since
/// the process started, as `torch.cuda.max_memory_allocated` and `max_memory_reserved` give
/// them; `None` for the CPU, whose peak is the process's RSS.
pub fn accelerator_peak_bytes(device: Device) -> Option<Result<(u64, u64), TorchError>> {
    let Device::Cuda(index) = device else { return None };
    let (mut allocated, mut reserved) = (0i64, 0i64);
    // SAFETY: plain value in, two out-parameters that live across the call.
    Some(
        checked(unsafe { nz_accelerator_peak_bytes(index as c_int, &mut allocated, &mut reserved) })
            .map(|()| (allocated as u64, reserved as u64)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// On the CPU, bf16 autocast makes a convolution compute in bf16 and leaves elementwise ops
    /// and the state after the region as they were; nested regions keep the outer one on.
    #[test]
    fn autocast_switches_convolutions_to_bf16_and_back() {
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([4, 3, 3, 3], (Kind::Float, Device::Cpu));
        let conv = || x.conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        let (inner, outer) = autocast(Device::Cpu, Precision::Bf16, || {
            let inner = autocast(Device::Cpu, Precision::Bf16, || conv().kind()).unwrap();
            (inner, (conv(), (&x + 1.0).kind()))
        })
        .unwrap();
        assert_eq!(inner, Kind::BFloat16);
        assert_eq!(outer.0.kind(), Kind::BFloat16, "still on after the inner region left");
        assert_eq!(outer.1, Kind::Float);
        assert_eq!(conv().kind(), Kind::Float, "off again after the outer region");
        let exact = conv();
        let rel = (outer.0.to_kind(Kind::Float) - &exact).abs().max().double_value(&[]) / exact.abs().max().double_value(&[]);
        assert!(rel > 0.0 && rel < 2e-2, "bf16 convolution differs from f32 by {rel} of its scale");
        assert_eq!(autocast(Device::Cpu, Precision::Fp32, || conv().kind()).unwrap(), Kind::Float);
    }

    /// The CPU has no allocator statistics to ask for; asking CUDA's on a machine without one is
    /// an error message, not a crash.
    #[test]
    fn accelerator_peak_bytes_is_none_on_the_cpu_and_an_error_without_cuda() {
        assert!(accelerator_peak_bytes(Device::Cpu).is_none());
        if !tch::Cuda::is_available() {
            let err = accelerator_peak_bytes(Device::Cuda(0)).unwrap().unwrap_err();
            assert!(!err.0.is_empty());
        }
    }
}
