//! Simulated datasets with known ground truth, for checking that models recover what is there.

pub mod sparse;
pub mod sprites;
pub mod truth;
pub mod v1;
