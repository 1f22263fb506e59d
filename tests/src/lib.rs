//! Shared support for the workspace tests.

pub mod adapter;
pub mod fuzz_checks;
pub mod json;
pub mod live;
pub mod scenarios;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
