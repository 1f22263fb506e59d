//! The query parameters of a URI (`?name=value&...`).

use std::time::Duration;

use super::client_properties::parse_client_properties;
use super::error::UriError;
use amqp_protocol::FieldValue;

use crate::params::connection::ConnectionParameters;
use crate::params::tcp::TcpOptions;
use crate::params::tls::TlsVerify;
use crate::params::tuning::Heartbeat;

#[derive(Debug, Clone, Copy)]
pub(super) enum Mechanism {
    Plain,
    AmqPlain,
    External,
}

#[derive(Default)]
pub(super) struct QueryState {
    seen: Vec<&'static str>,
    pub(super) mechanisms: Vec<Mechanism>,
}

const TLS_PARAMETERS: &[&str] = &[
    "cacertfile",
    "certfile",
    "keyfile",
    "verify",
    "server_name_indication",
    "fail_if_no_peer_cert",
];

impl QueryState {
    pub(super) fn apply(
        &mut self,
        p: &mut ConnectionParameters,
        name: &str,
        value: String,
    ) -> Result<(), UriError> {
        let invalid = |expected| UriError::InvalidValue {
            name: name.to_owned(),
            value: value.clone(),
            expected,
        };
        if name == "auth_mechanism" {
            for m in value.split(',') {
                let m = m.trim();
                self.mechanisms.push(if m.eq_ignore_ascii_case("plain") {
                    Mechanism::Plain
                } else if m.eq_ignore_ascii_case("amqplain") {
                    Mechanism::AmqPlain
                } else if m.eq_ignore_ascii_case("external") {
                    Mechanism::External
                } else {
                    return Err(invalid(
                        "plain, amqplain or external, or a comma-separated list of them",
                    ));
                });
            }
            return Ok(());
        }
        let canonical = match name {
            "heartbeat" | "heartbeat_interval" => "heartbeat",
            "connection_timeout" | "socket_timeout" => "socket_timeout",
            "connection_name" | "name" => "connection_name",
            "stack_timeout" => "stack_timeout",
            "blocked_connection_timeout" => "blocked_connection_timeout",
            "channel_max" => "channel_max",
            "frame_max" => "frame_max",
            "connection_attempts" => "connection_attempts",
            "retry_delay" => "retry_delay",
            "locale" => "locale",
            "client_properties" => "client_properties",
            "backpressure_detection" => "backpressure_detection",
            "tcp_options" => "tcp_options",
            "confirm_timeout" => "confirm_timeout",
            "ssl_options" => return Err(UriError::SslOptionsUnsupported),
            _ => match TLS_PARAMETERS
                .iter()
                .chain(super::recovery::RECOVERY_PARAMETERS)
                .copied()
                .find(|t| *t == name)
            {
                Some(t) => t,
                None => {
                    return Err(UriError::UnknownParameter {
                        name: name.to_owned(),
                    })
                }
            },
        };
        if self.seen.contains(&canonical) {
            return Err(UriError::DuplicateParameter {
                name: name.to_owned(),
            });
        }
        self.seen.push(canonical);
        if TLS_PARAMETERS.contains(&canonical) && !p.tls {
            return Err(UriError::TlsParameterWithoutTls {
                name: name.to_owned(),
            });
        }

        if super::recovery::RECOVERY_PARAMETERS.contains(&canonical) {
            return super::recovery::apply(p, canonical, &value);
        }
        match name {
            "heartbeat" | "heartbeat_interval" => {
                let secs: u16 = value
                    .parse()
                    .map_err(|_| invalid("an integer number of seconds from 0 to 65535"))?;
                p.heartbeat = if secs == 0 {
                    Heartbeat::Disabled
                } else {
                    Heartbeat::Seconds(secs)
                };
            }
            "connection_timeout" => {
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| invalid("a positive integer number of milliseconds"))?;
                p.socket_timeout = Some(Duration::from_millis(ms));
            }
            "socket_timeout" => {
                p.socket_timeout = Some(
                    seconds(&value, false)
                        .ok_or_else(|| invalid("a positive number of seconds"))?,
                );
            }
            "stack_timeout" => {
                p.stack_timeout = Some(
                    seconds(&value, false)
                        .ok_or_else(|| invalid("a positive number of seconds"))?,
                );
            }
            "blocked_connection_timeout" => {
                p.blocked_connection_timeout = Some(
                    seconds(&value, true)
                        .ok_or_else(|| invalid("a non-negative number of seconds"))?,
                );
            }
            "confirm_timeout" => {
                p.confirm_timeout = Some(
                    seconds(&value, false)
                        .ok_or_else(|| invalid("a positive number of seconds"))?,
                );
            }
            "retry_delay" => {
                p.retry_delay = seconds(&value, true)
                    .ok_or_else(|| invalid("a non-negative number of seconds"))?;
            }
            "channel_max" => {
                p.channel_max = value
                    .parse()
                    .map_err(|_| invalid("an integer from 0 (no limit) to 65535"))?;
            }
            "frame_max" => {
                p.frame_max = value
                    .parse()
                    .ok()
                    .filter(|n| *n == 0 || *n >= amqp_protocol::constants::FRAME_MIN_SIZE)
                    .ok_or_else(|| invalid("0 (no limit) or an integer from 4096 to 4294967295"))?;
            }
            "connection_attempts" => {
                p.connection_attempts = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| invalid("an integer from 1 to 4294967295"))?;
            }
            "locale" => {
                if value.is_empty() || value.len() > 255 {
                    return Err(invalid("a locale name of 1 to 255 bytes"));
                }
                p.locale = value;
            }
            "connection_name" | "name" => p.connection_name = Some(value),
            "client_properties" => {
                let table = parse_client_properties(&value).map_err(|(reason, offset)| {
                    UriError::InvalidClientProperties { reason, offset }
                })?;
                p.client_properties = Some(table);
            }
            "tcp_options" => p.tcp_options = parse_tcp_options(&value)?,
            // Pika accepts it and does nothing with it (RabbitMQ's
            // connection.blocked replaced it): said, rather than silently
            // dropped, for a URI written for a Pika that did.
            "backpressure_detection" => tracing::warn!(
                value = %value,
                "the URI's backpressure_detection is ignored, as Pika does: \
                 see on_blocked and blocked_connection_timeout"
            ),
            "cacertfile" | "certfile" | "keyfile" => {
                if value.is_empty() {
                    return Err(invalid("a file path"));
                }
                let t = &mut p.tls_options;
                match name {
                    "cacertfile" => t.cacertfile = Some(value),
                    "certfile" => t.certfile = Some(value),
                    _ => t.keyfile = Some(value),
                }
            }
            "verify" => {
                p.tls_options.verify = Some(match value.as_str() {
                    "verify_peer" => TlsVerify::VerifyPeer,
                    "verify_none" => TlsVerify::VerifyNone,
                    _ => return Err(invalid("verify_peer or verify_none")),
                });
            }
            "server_name_indication" => {
                if value.is_empty() {
                    return Err(invalid("a host name, or disable"));
                }
                p.tls_options.server_name_indication = Some(value);
            }
            "fail_if_no_peer_cert" => {
                p.tls_options.fail_if_no_peer_cert = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("true or false")),
                });
            }
            _ => unreachable!("every canonical parameter is handled"),
        }
        Ok(())
    }
}

/// Pika's `tcp_options`: a dict of socket options, such as
/// `{'TCP_KEEPIDLE': 60, 'TCP_KEEPINTVL': 10, 'TCP_KEEPCNT': 3,
/// 'TCP_USER_TIMEOUT': 30000}` (JSON spellings too).
fn parse_tcp_options(value: &str) -> Result<TcpOptions, UriError> {
    let table = parse_client_properties(value).map_err(|_| UriError::InvalidValue {
        name: "tcp_options".into(),
        value: value.to_owned(),
        expected: "a dict of TCP options, as in {'TCP_KEEPIDLE': 60, 'TCP_USER_TIMEOUT': 30000}",
    })?;
    let mut options = TcpOptions::new();
    for (key, v) in &table {
        let key = key.to_string_lossy().into_owned();
        let (low, high, expected) = match key.as_str() {
            "TCP_KEEPIDLE" => (
                1,
                TcpOptions::MAX_KEEPALIVE_SECS,
                "seconds, from 1 to 32767",
            ),
            "TCP_KEEPINTVL" => (
                1,
                TcpOptions::MAX_KEEPALIVE_SECS,
                "seconds, from 1 to 32767",
            ),
            "TCP_KEEPCNT" => (
                1,
                u64::from(TcpOptions::MAX_KEEPALIVE_COUNT),
                "a number of probes, from 1 to 127",
            ),
            "TCP_USER_TIMEOUT" => (
                0,
                TcpOptions::MAX_USER_TIMEOUT_MS,
                "milliseconds, from 0 (the system's default) to 2147483647",
            ),
            _ => return Err(UriError::UnknownTcpOption { key }),
        };
        let n = match v {
            FieldValue::I64(n) => u64::try_from(*n).ok(),
            _ => None,
        }
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| UriError::InvalidTcpOption {
            key: key.clone(),
            value: v.to_string(),
            expected,
        })?;
        options = match key.as_str() {
            "TCP_KEEPIDLE" => options.with_keepalive_idle(Duration::from_secs(n)),
            "TCP_KEEPINTVL" => options.with_keepalive_interval(Duration::from_secs(n)),
            // At most 127: checked above.
            "TCP_KEEPCNT" => options.with_keepalive_count(n as u32),
            _ => options.with_user_timeout(Duration::from_millis(n)),
        };
    }
    Ok(options)
}

/// A finite number of seconds, `>= 0` (or `> 0` unless `zero_ok`).
fn seconds(value: &str, zero_ok: bool) -> Option<Duration> {
    let secs: f64 = value.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_ok) {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}
