//! Machinery shared by the async adapters ([`crate::tokio`], [`crate::futures_io`]).
