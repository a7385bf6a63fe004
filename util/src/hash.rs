//! FNV-1a, 64 bit: a fast, dependency-free hash for telling whether bytes changed (a dataset's
//! fingerprint, a checkpoint's checksums). Not for anything adversarial.

/// An FNV-1a hash fed in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far, as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    /// The hash of `bytes`, as 16 hex digits.
    pub fn of(bytes: &[u8]) -> String {
        let mut h = Fnv1a::default();
        h.update(bytes);
        h.hex()
    }
}
