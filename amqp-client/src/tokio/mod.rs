//! The async API on tokio (feature `tokio`).
