//! RabbitMQ URI parsing (<https://www.rabbitmq.com/docs/uri-spec>, query
//! parameters from <https://www.rabbitmq.com/docs/uri-query-parameters> and
//! Pika's `URLParameters`), written by hand: percent-decoding, IPv6
//! literals, and a small JSON-ish reader for `client_properties`.
//!
//! Its files:
//!
//! - this one: the URI's structure (scheme, userinfo, host and port, virtual
//!   host) and [`ConnectionParameters::from_uri`];
//! - `query`: the query parameters (`?name=value&...`);
//! - `client_properties`: the reader of `client_properties` values;
//! - `encoding`: percent-decoding and -encoding, and the URI that a
//!   [`ConnectionParameters`] displays as;
//! - `error`: [`UriError`], why a URI is refused.

use std::net::Ipv6Addr;
use std::str::FromStr;

use super::connection::ConnectionParameters;
use super::credentials::Credentials;

mod client_properties;
mod encoding;
mod error;
mod query;
mod recovery;
#[cfg(test)]
mod tests;

use encoding::{decode_component, percent_decode};
pub use error::{UriComponent, UriError};
use query::{Mechanism, QueryState};

impl ConnectionParameters {
    /// Parses a RabbitMQ URI (<https://www.rabbitmq.com/docs/uri-spec>):
    ///
    /// ```text
    /// amqp[s]://[user[:password]@]host[:port][/vhost][?name=value&...]
    /// ```
    ///
    /// - `amqps` turns TLS on and makes 5671 the default port.
    /// - The user, password, host and virtual host are percent-decoded. No
    ///   `user@` part means guest/guest; `user@` alone means an empty password.
    /// - An empty host means `localhost`; an IPv6 address goes in brackets
    ///   (`[::1]`) and [`host`](Self::host) gives it without them.
    /// - No path means the virtual host `/`; the path `/` alone means the
    ///   *empty* virtual host, as the specification says; `/%2f` means `/`. A
    ///   `/` in the virtual host must be encoded as `%2f`.
    /// - No fragment (`#...`): a `#`, `/` or `?` in a password must be
    ///   percent-encoded.
    ///
    /// The query accepts RabbitMQ's parameters and Pika's (`URLParameters`),
    /// each at most once except `auth_mechanism`; names are case-sensitive,
    /// values are form-decoded (percent-decoded, `+` read as a space):
    ///
    /// | parameter | value | sets |
    /// |---|---|---|
    /// | `heartbeat`, `heartbeat_interval` | seconds, integer; 0 disables | [`heartbeat`](Self::heartbeat) |
    /// | `connection_timeout` | milliseconds, integer > 0 (RabbitMQ: the TCP connect timeout) | [`socket_timeout`](Self::socket_timeout) |
    /// | `socket_timeout` | seconds, number > 0 | [`socket_timeout`](Self::socket_timeout) |
    /// | `stack_timeout` | seconds, number > 0 | [`stack_timeout`](Self::stack_timeout) |
    /// | `blocked_connection_timeout` | seconds, number ≥ 0 | [`blocked_connection_timeout`](Self::blocked_connection_timeout) |
    /// | `channel_max` | integer 0–65535 (0: no limit) | [`channel_max`](Self::channel_max) |
    /// | `frame_max` | integer, 0 (no limit) or ≥ 4096 | [`frame_max`](Self::frame_max) |
    /// | `connection_attempts` | integer ≥ 1 | [`connection_attempts`](Self::connection_attempts) |
    /// | `retry_delay` | seconds, number ≥ 0 | [`retry_delay`](Self::retry_delay) |
    /// | `locale` | string, ≤ 255 bytes | [`locale`](Self::locale) |
    /// | `connection_name`, `name` | string | [`connection_name`](Self::connection_name) |
    /// | `auth_mechanism` | `plain`, `amqplain`, `external` (any case); repeatable or comma-separated, in order of preference | [`all_credentials`](Self::all_credentials) |
    /// | `client_properties` | an object, see below | [`extra_client_properties`](Self::extra_client_properties) |
    /// | `cacertfile`, `certfile`, `keyfile` | path | [`tls_options`](Self::tls_options) |
    /// | `verify` | `verify_peer` or `verify_none` | [`tls_options`](Self::tls_options) |
    /// | `server_name_indication` | host name (`disable`: none) | [`tls_options`](Self::tls_options) |
    /// | `fail_if_no_peer_cert` | `true` or `false` | [`tls_options`](Self::tls_options) |
    /// | `tcp_options` | a dict, see below | [`tcp_options`](Self::tcp_options) |
    /// | `backpressure_detection` | anything | nothing, with a `tracing` warning (Pika ignores it too) |
    /// | `ssl_options` | — | an error: use the TLS parameters above |
    ///
    /// The TLS parameters need the `amqps` scheme: with `amqp` they are an
    /// error rather than a silently unencrypted connection.
    ///
    /// `client_properties` takes a JSON object (Pika takes a Python dict
    /// literal: single quotes, `True`, `False` and `None` are accepted too):
    /// strings become long strings (`S`), integers 64-bit integers (`l`),
    /// other numbers doubles (`d`), booleans `t`, `null` void (`V`), arrays
    /// `A` and objects nested tables (`F`). For example
    /// `client_properties={"app":"billing","replica":2}`, percent-encoded.
    ///
    /// `tcp_options` takes Pika's dict of socket options (a Python dict
    /// literal or JSON): `TCP_KEEPIDLE` and `TCP_KEEPINTVL` in seconds (1 to
    /// 32767), `TCP_KEEPCNT` (1 to 127), `TCP_USER_TIMEOUT` in milliseconds
    /// (0, the system's default, to 2147483647); any keepalive option turns
    /// keepalive on. For example
    /// `tcp_options={'TCP_KEEPIDLE':60,'TCP_KEEPINTVL':10,'TCP_KEEPCNT':3,'TCP_USER_TIMEOUT':30000}`,
    /// percent-encoded. Another key, or a value that is not an integer in
    /// range, is an error.
    ///
    /// Unknown parameters are an error naming them. Errors never contain the
    /// password; when a password holds an unencoded `/`, `?` or `#`, the
    /// error says so instead of showing parts of the URI.
    pub fn from_uri(uri: &str) -> Result<Self, UriError> {
        parse(uri)
    }
}

/// Parses a URI, as [`ConnectionParameters::from_uri`].
impl FromStr for ConnectionParameters {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, UriError> {
        ConnectionParameters::from_uri(s)
    }
}

/// Parses a whole URI: see [`ConnectionParameters::from_uri`].
fn parse(uri: &str) -> Result<ConnectionParameters, UriError> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(UriError::MissingScheme);
    };
    let tls = if scheme.eq_ignore_ascii_case("amqp") {
        false
    } else if scheme.eq_ignore_ascii_case("amqps") {
        true
    } else {
        return Err(UriError::UnsupportedScheme {
            scheme: is_scheme_syntax(scheme).then(|| scheme.to_owned()),
        });
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // With no '@' in the authority but one after it, the authority probably
    // ended inside a password: whatever fails to parse may be password text.
    let suspicious = !authority.contains('@') && tail.contains('@');
    parse_parts(tls, authority, tail).map_err(|e| {
        if suspicious {
            UriError::UnencodedUserinfoDelimiter
        } else {
            e
        }
    })
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme_syntax(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && s.len() <= 32
}

fn parse_parts(tls: bool, authority: &str, tail: &str) -> Result<ConnectionParameters, UriError> {
    if tail.contains('#') {
        return Err(UriError::Fragment);
    }
    let mut params = ConnectionParameters::new().with_tls(tls);

    // Userinfo: up to the last '@', so that a raw '@' in a password works.
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (
            ConnectionParameters::DEFAULT_USERNAME.to_owned(),
            ConnectionParameters::DEFAULT_PASSWORD.to_owned(),
        ),
        Some(userinfo) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (
                decode_component(user, UriComponent::Username)?,
                decode_component(pass, UriComponent::Password)?,
            )
        }
    };

    let (host, port) = parse_host_port(host_port)?;
    if !host.is_empty() {
        params.host = host;
    }
    params.port = port;

    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    if let Some(raw) = path.strip_prefix('/') {
        if raw.contains('/') {
            return Err(UriError::VirtualHostHasSlash {
                path: raw.to_owned(),
            });
        }
        let vhost = decode_component(raw, UriComponent::VirtualHost)?;
        if vhost.len() > 255 {
            return Err(UriError::VirtualHostTooLong { len: vhost.len() });
        }
        params.virtual_host = vhost;
    }

    let mut query_state = QueryState::default();
    for pair in query.unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name =
            percent_decode(raw_name, true).map_err(|_| UriError::InvalidPercentEncoding {
                component: UriComponent::Query,
            })?;
        let value = percent_decode(raw_value, true).map_err(|_| UriError::InvalidValue {
            name: name.clone(),
            value: raw_value.to_owned(),
            expected: "percent-encoded UTF-8",
        })?;
        query_state.apply(&mut params, &name, value)?;
    }

    params.credentials = if query_state.mechanisms.is_empty() {
        vec![Credentials::Plain { username, password }]
    } else {
        query_state
            .mechanisms
            .iter()
            .map(|m| match m {
                Mechanism::Plain => Credentials::plain(&username, &password),
                Mechanism::AmqPlain => Credentials::amqplain(&username, &password),
                Mechanism::External => Credentials::External,
            })
            .collect()
    };
    Ok(params)
}

/// Splits `host[:port]` or `[ipv6][:port]`; the host comes back decoded
/// (empty when absent), IPv6 without brackets.
fn parse_host_port(host_port: &str) -> Result<(String, Option<u16>), UriError> {
    let invalid = |reason| UriError::InvalidHost {
        host: host_port.to_owned(),
        reason,
    };
    let (host, port) = if let Some(after) = host_port.strip_prefix('[') {
        let Some((literal, rest)) = after.split_once(']') else {
            return Err(invalid("an IPv6 address lacks its closing ']'"));
        };
        let port = match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(invalid("only ':' and a port may follow ']'")),
            },
        };
        let (address, zone) = match literal.split_once("%25") {
            Some((address, zone)) => (address, Some(zone)),
            None => (literal, None),
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(invalid("not a valid IPv6 address between the brackets"));
        }
        let host = match zone {
            None => address.to_owned(),
            Some(zone) => {
                let zone = percent_decode(zone, false)
                    .ok()
                    .filter(|z| !z.is_empty())
                    .ok_or_else(|| invalid("an invalid IPv6 zone after %25"))?;
                format!("{address}%{zone}")
            }
        };
        (host, port)
    } else {
        let (raw, port) = match host_port.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(invalid("an IPv6 address must be in brackets, as in [::1]"))
            }
            Some((raw, port)) => (raw, Some(port)),
            None => (host_port, None),
        };
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=%".contains(c) || !c.is_ascii();
        if !raw.chars().all(allowed) {
            return Err(invalid("a character not allowed in a host name"));
        }
        (decode_component(raw, UriComponent::Host)?, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(text) => {
            let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            match text.parse::<u16>() {
                Ok(port) if valid && port != 0 => Some(port),
                _ => {
                    return Err(UriError::InvalidPort {
                        port: text.to_owned(),
                    })
                }
            }
        }
    };
    Ok((host, port))
}
