//! The broker cases, one module per class.

use crate::case::Case;

mod basic;
mod channel;
mod common;
mod connection;
mod exchange;
mod framing;
mod queue;

/// Every broker case, grouped by class in a fixed order.
pub fn all() -> Vec<&'static Case> {
    [
        framing::CASES,
        connection::CASES,
        channel::CASES,
        exchange::CASES,
        queue::CASES,
        basic::CASES,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The case with this id.
pub fn find(id: &str) -> Option<&'static Case> {
    all().into_iter().find(|c| c.id == id)
}
