//! Connection parameters: where to connect, how to authenticate, what to
//! negotiate.
//!
//! The counterpart of Pika's `Parameters`, `ConnectionParameters` and
//! `URLParameters` (in `pika/connection.py`):
//!
//! - [`ConnectionParameters`]: one host and port, built with `with_*` setters
//!   (Pika's defaults) or parsed from a RabbitMQ URI
//!   ([`from_uri`](ConnectionParameters::from_uri), [`FromStr`](std::str::FromStr));
//! - [`Credentials`]: the SASL mechanism and its `connection.start-ok`
//!   response (`PLAIN`, `AMQPLAIN`, `EXTERNAL`);
//! - [`Heartbeat`], [`negotiate_channel_max`], [`negotiate_frame_max`] and
//!   [`ConnectionParameters::tune_ok`]: the `connection.tune` negotiation
//!   rules;
//! - [`Endpoints`]: an ordered list of parameter sets and the plan of
//!   connection [`Attempt`]s over it;
//! - [`TlsOptions`]: the TLS settings of a URI's query, as plain data;
//! - [`TcpOptions`]: keepalive probes and `TCP_USER_TIMEOUT` (Pika's
//!   `tcp_options`).
//!
//! Everything here is pure data and arithmetic: no sockets, no clock, no DNS.
//!
//! # Secrets
//!
//! Passwords never appear in the `Debug` or `Display` output of any type of
//! this module, nor in [`UriError`]s. The only way to read one is to ask for
//! it: [`Credentials::password`] and [`Credentials::response`].

mod connection;
mod credentials;
mod endpoints;
pub(crate) mod tcp;
mod tls;
mod tuning;
mod uri;

pub use connection::ConnectionParameters;
pub use credentials::Credentials;
pub use endpoints::{Attempt, Attempts, Endpoints};
pub use tcp::TcpOptions;
pub use tls::{TlsOptions, TlsRoots, TlsVerify};
pub use tuning::{negotiate_channel_max, negotiate_frame_max, Heartbeat};
pub use uri::{UriComponent, UriError};

#[cfg(test)]
mod tests {
    use super::*;

    // The rule of "Secrets" above, for the types of every file at once.
    #[test]
    fn password_absent_from_debug_and_display() {
        let c = Credentials::plain("alice", "s3cret");
        let a = Credentials::amqplain("alice", "s3cret");
        assert_eq!(
            format!("{c:?}"),
            r#"Plain { username: "alice", password: *** }"#
        );
        assert_eq!(
            format!("{a:?}"),
            r#"AmqPlain { username: "alice", password: *** }"#
        );
        assert_eq!(format!("{:?}", Credentials::External), "External");
        assert_eq!(c.password(), Some("s3cret"));
        let p = ConnectionParameters::new()
            .with_credentials(c)
            .with_additional_credentials(a);
        for text in [format!("{p:?}"), format!("{p:#?}"), p.to_string()] {
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("alice"), "{text}");
        }
        let e = Endpoints::from(p);
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
