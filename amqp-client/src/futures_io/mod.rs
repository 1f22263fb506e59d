//! The async API over any `futures-io` stream (feature `futures-io`), for smol, async-std and others.
