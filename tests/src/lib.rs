//! Shared support for the workspace tests.

pub mod fuzz_checks;
pub mod json;
pub mod live;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
