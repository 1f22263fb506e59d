//! Shared support for the workspace tests.

pub mod json;
