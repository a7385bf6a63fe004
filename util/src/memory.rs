//! The one check made before any allocation whose size a file or a setting decides: a declared
//! dataset shape, a number of bootstrap resamples, of directions, of atoms. Asking for more
//! than the machine has is refused up front with the memory it would take, instead of an
//! abort inside the allocator. And [`keep_freed_memory`], the allocator setting every neurozoo
//! process that trains starts with.
//!
//! ```
//! use neurozoo_util::memory::{bytes_of, fits_in_memory};
//!
//! // A billion directions of 100 units as f32: refused on any ordinary machine.
//! let bytes = bytes_of(&[1_000_000_000, 100], 4 * 1024);
//! if let Err(e) = fits_in_memory(bytes) {
//!     eprintln!("n_directions = 1000000000: {e}");
//! }
//! ```

/// Memory the kernel says is available for new allocations (Linux `MemAvailable`), in bytes:
/// what a declared dataset shape, or a model's parameters, is checked against before allocating.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Keep freed tensor memory in the heap for the next batch. With glibc's defaults a training
/// step's activations (megabytes each) go back to the kernel when freed and come back as
/// page faults on fresh zeroed pages at the next step: a fifth of a klindt2017 epoch on 36×64
/// images went there (17.1 s against 13.3 s an epoch on 2 cores, for 15% more peak RSS).
/// Blocks up to 32 MiB (the most glibc's threshold takes) come from the heap, which is trimmed
/// only when 1 GiB lies free at its top; and no block is mmap'd at all (M_MMAP_MAX 0), so the
/// larger ones, an MEI batch's 150 MB activations, are reused too: 256 SENSORIUM MEIs took 76 s
/// for 20 steps (84 s of it in the kernel) with them mmap'd, 25 s without (2 s in the kernel),
/// for 5.3 GB peak RSS instead of 3.4. Analysis plugins run inside `neurozoo` itself, so it
/// matters there too: a TopK sparse autoencoder's epoch on 200k × 128 took 1.38 s with glibc's
/// defaults and 1.20 s without returning memory, BatchTopK 2.3 s and 1.9 s. Call it once at the
/// start of a process, before the first tensor.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes thresholds of glibc's allocator; no allocation is in flight.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}

/// An allocation larger than the memory available. Its message reads on after the setting or
/// key at fault: "`--bootstrap 100000000`: needs 74.5 GiB, more than the 12.0 GiB of memory
/// available".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("needs {}, more than the {} of memory available", gib(*.needed), gib(Some(*.available)))]
pub struct TooLarge {
    /// Bytes it would take; `None` beyond 2⁶⁴.
    pub needed: Option<u64>,
    pub available: u64,
}

fn gib(bytes: Option<u64>) -> String {
    bytes.map_or("more than 2^64 bytes".into(), |b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
}

/// `bytes` (`None`: beyond 2⁶⁴) against the memory available now; where the kernel does not
/// say (not Linux), everything passes.
pub fn fits_in_memory(bytes: Option<u64>) -> Result<(), TooLarge> {
    check_against(bytes, available_memory())
}

fn check_against(bytes: Option<u64>, available: Option<u64>) -> Result<(), TooLarge> {
    match available {
        Some(available) if bytes.is_none_or(|b| b > available) => Err(TooLarge { needed: bytes, available }),
        _ => Ok(()),
    }
}

/// Bytes of `counts` multiplied together and by `bytes_each`, `None` on overflow.
pub fn bytes_of(counts: &[usize], bytes_each: u64) -> Option<u64> {
    counts.iter().try_fold(bytes_each, |acc, &n| acc.checked_mul(n as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_available_is_refused_with_both_sizes() {
        let gib = 1u64 << 30;
        assert_eq!(check_against(Some(gib), Some(2 * gib)), Ok(()));
        let e = check_against(Some(3 * gib), Some(2 * gib)).unwrap_err();
        assert_eq!(e.to_string(), "needs 3.0 GiB, more than the 2.0 GiB of memory available");
        let e = check_against(bytes_of(&[usize::MAX, 4], 4), Some(gib)).unwrap_err();
        assert_eq!(e.to_string(), "needs more than 2^64 bytes, more than the 1.0 GiB of memory available");
        // Unknown available memory: nothing to check against.
        assert_eq!(check_against(None, None), Ok(()));
    }

    #[test]
    fn bytes_of_multiplies_and_reports_overflow() {
        assert_eq!(bytes_of(&[3, 5], 4), Some(60));
        assert_eq!(bytes_of(&[], 8), Some(8));
        assert_eq!(bytes_of(&[1 << 40, 1 << 40], 1), None);
    }
}
