//! Helpers shared by the zoo test binaries.

/// Instantiate tests written once as `fn name(device: tch::Device)` for the CPU and for CUDA.
///
/// The CUDA variants are `#[ignore]`d so that a machine without a GPU reports them as skipped
/// (never as passed); `make test` runs them with `--run-ignored` when libtorch sees a GPU, and
/// then a missing GPU is a failure, not a pass.
#[macro_export]
macro_rules! device_tests {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $(
                #[test]
                fn $name() {
                    $crate::common::init();
                    super::$name(tch::Device::Cpu)
                }
            )*
        }
        mod cuda {
            $(
                #[test]
                #[ignore = "needs a CUDA device; `make test` runs it when libtorch sees one"]
                fn $name() {
                    $crate::common::init();
                    assert!(tch::Cuda::is_available(), "CUDA test run where libtorch sees no GPU");
                    super::$name(tch::Device::Cuda(0))
                }
            )*
        }
    };
}

/// Seed libtorch and keep it to one thread: tests are deterministic and share 2 cores.
pub fn init() {
    tch::manual_seed(0);
    tch::set_num_threads(1);
}
