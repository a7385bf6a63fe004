//! In-silico experiments on fitted response models: the model stands in for the animal.
//!
//! [`mei`] finds each unit's most exciting input (Walker et al. 2019, "Inception loops"), for
//! all requested units at once: one image per unit in one batch. [`tuning`] shows every unit
//! gratings (orientation, spatial frequency, phase, size, contrast) and reads off its classic
//! tuning measures.

#[cfg(test)]
pub(crate) mod fixtures;
pub mod mei;
pub mod tuning;
