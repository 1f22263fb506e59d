//! TLS (`amqps://`) with rustls and the ring crypto provider (feature `tls`).
