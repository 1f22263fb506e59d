//! RabbitMQ URI parsing (<https://www.rabbitmq.com/docs/uri-spec>, query
//! parameters from <https://www.rabbitmq.com/docs/uri-query-parameters> and
//! Pika's `URLParameters`), written by hand: percent-decoding, IPv6
//! literals, and a small JSON-ish reader for `client_properties`.

use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use amqp_protocol::{FieldArray, FieldTable, FieldValue, ShortStr, MAX_NESTING};

use super::{ConnectionParameters, Credentials, Heartbeat, TlsVerify};

/// The part of a URI an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UriComponent {
    /// The username of the userinfo (`user` in `user:pass@`).
    Username,
    /// The password of the userinfo.
    Password,
    /// The host.
    Host,
    /// The virtual host (the path).
    VirtualHost,
    /// The query (`?name=value&...`).
    Query,
}

impl fmt::Display for UriComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriComponent::Username => "username",
            UriComponent::Password => "password",
            UriComponent::Host => "host",
            UriComponent::VirtualHost => "virtual host",
            UriComponent::Query => "query",
        })
    }
}

/// Why a URI was refused by [`ConnectionParameters::from_uri`].
///
/// Each error says what was wrong and where. None holds the password, or any
/// text that could be part of it: the username and password are never
/// echoed, and when a password with an unencoded `/`, `?` or `#` makes the
/// rest of the URI unreliable, the error is
/// [`UnencodedUserinfoDelimiter`](Self::UnencodedUserinfoDelimiter) whatever
/// went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// The URI does not start with `scheme://`.
    MissingScheme,
    /// The scheme is neither `amqp` nor `amqps`. `scheme` is `None` when the
    /// text before `://` is not a scheme's syntax (and is not shown).
    UnsupportedScheme {
        /// The scheme given.
        scheme: Option<String>,
    },
    /// The URI does not parse, and an `@` follows its authority: most likely
    /// a password holding a `/`, `?` or `#` that should be percent-encoded.
    /// The details are withheld as they could show parts of the password.
    UnencodedUserinfoDelimiter,
    /// A `%` not followed by two hexadecimal digits.
    InvalidPercentEncoding {
        /// Where.
        component: UriComponent,
    },
    /// Percent-decoded bytes that are not UTF-8.
    InvalidUtf8 {
        /// Where.
        component: UriComponent,
    },
    /// A host that is not a host name, an IPv4 address or a bracketed IPv6
    /// address.
    InvalidHost {
        /// The host as written.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A port that is not a number from 1 to 65535.
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// A virtual host holding an unencoded `/` (a multi-segment path).
    VirtualHostHasSlash {
        /// The path after its first `/`, as written.
        path: String,
    },
    /// A virtual host longer than 255 bytes once decoded.
    VirtualHostTooLong {
        /// Its decoded length, in bytes.
        len: usize,
    },
    /// A fragment (`#...`), which AMQP URIs do not have.
    Fragment,
    /// A query parameter this client does not know.
    UnknownParameter {
        /// The parameter's name.
        name: String,
    },
    /// A query parameter given twice, directly or through an alias.
    DuplicateParameter {
        /// The parameter's name, as given the second time.
        name: String,
    },
    /// A query parameter with a value it does not take.
    InvalidValue {
        /// The parameter's name.
        name: String,
        /// The value, as written in the URI.
        value: String,
        /// What the parameter takes.
        expected: &'static str,
    },
    /// A TLS query parameter in an `amqp` (not `amqps`) URI.
    TlsParameterWithoutTls {
        /// The parameter's name.
        name: String,
    },
    /// Pika's `ssl_options`, a Python dict: not supported.
    SslOptionsUnsupported,
    /// A `client_properties` value that is not a valid object.
    InvalidClientProperties {
        /// What is wrong.
        reason: &'static str,
        /// Byte offset in the decoded value.
        offset: usize,
    },
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::MissingScheme => {
                f.write_str("the URI does not start with amqp:// or amqps://")
            }
            UriError::UnsupportedScheme { scheme: Some(s) } => {
                write!(f, "unsupported URI scheme {s:?}: expected amqp or amqps")
            }
            UriError::UnsupportedScheme { scheme: None } => {
                f.write_str("unsupported URI scheme: expected amqp:// or amqps://")
            }
            UriError::UnencodedUserinfoDelimiter => f.write_str(
                "the URI does not parse, and an '@' follows its host part: if the password \
                 holds '/', '?' or '#', percent-encode them as %2F, %3F and %23 \
                 (details withheld: they could show parts of the password)",
            ),
            UriError::InvalidPercentEncoding { component } => write!(
                f,
                "invalid percent-encoding in the URI's {component}: '%' must be followed \
                 by two hexadecimal digits"
            ),
            UriError::InvalidUtf8 { component } => {
                write!(f, "the URI's {component} is not UTF-8 once percent-decoded")
            }
            UriError::InvalidHost { host, reason } => {
                write!(f, "invalid host {host:?} in the URI: {reason}")
            }
            UriError::InvalidPort { port } => write!(
                f,
                "invalid port {port:?} in the URI: expected a number from 1 to 65535"
            ),
            UriError::VirtualHostHasSlash { path } => write!(
                f,
                "the URI's path {:?} has more than one segment: a '/' in the virtual host \
                 must be percent-encoded as %2F",
                format_args!("/{path}")
            ),
            UriError::VirtualHostTooLong { len } => write!(
                f,
                "the URI's virtual host is {len} bytes long: at most 255 are allowed"
            ),
            UriError::Fragment => f.write_str(
                "the URI has a fragment ('#...'), which AMQP URIs do not have: a '#' in a \
                 virtual host or password must be percent-encoded as %23",
            ),
            UriError::UnknownParameter { name } => {
                write!(f, "unknown query parameter {name:?} in the URI")
            }
            UriError::DuplicateParameter { name } => write!(
                f,
                "query parameter {name:?} is given more than once in the URI (aliases count: \
                 heartbeat/heartbeat_interval, connection_name/name, \
                 connection_timeout/socket_timeout)"
            ),
            UriError::InvalidValue {
                name,
                value,
                expected,
            } => write!(
                f,
                "invalid value {value:?} for query parameter {name:?} in the URI: expected \
                 {expected}"
            ),
            UriError::TlsParameterWithoutTls { name } => write!(
                f,
                "query parameter {name:?} is a TLS option: it needs the amqps:// scheme"
            ),
            UriError::SslOptionsUnsupported => f.write_str(
                "query parameter \"ssl_options\" (a Python dict in Pika) is not supported: \
                 use the amqps:// scheme with cacertfile, certfile, keyfile, verify and \
                 server_name_indication",
            ),
            UriError::InvalidClientProperties { reason, offset } => write!(
                f,
                "invalid value for query parameter \"client_properties\" in the URI, at byte \
                 {offset} of the decoded value: {reason}"
            ),
        }
    }
}

impl std::error::Error for UriError {}

/// Parses a whole URI: see [`ConnectionParameters::from_uri`].
pub(super) fn parse(uri: &str) -> Result<ConnectionParameters, UriError> {
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

#[derive(Debug)]
enum DecodeError {
    Percent,
    Utf8,
}

/// Percent-decodes `s` (and reads `+` as a space when `plus_is_space`, as
/// form-encoded queries do), then checks the bytes are UTF-8.
fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(DecodeError::Percent)?;
                let digit = |b: u8| char::from(b).to_digit(16).ok_or(DecodeError::Percent);
                // to_digit(16) < 16, so the sum fits in a byte.
                out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::Utf8)
}

fn decode_component(s: &str, component: UriComponent) -> Result<String, UriError> {
    percent_decode(s, false).map_err(|e| match e {
        DecodeError::Percent => UriError::InvalidPercentEncoding { component },
        DecodeError::Utf8 => UriError::InvalidUtf8 { component },
    })
}

/// Writes `s` percent-encoded: everything but RFC 3986's unreserved
/// characters.
pub(super) fn write_encoded(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            write!(f, "{}", char::from(b))?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Mechanism {
    Plain,
    AmqPlain,
    External,
}

#[derive(Default)]
struct QueryState {
    seen: Vec<&'static str>,
    mechanisms: Vec<Mechanism>,
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
    fn apply(
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
            "ssl_options" => return Err(UriError::SslOptionsUnsupported),
            _ => match TLS_PARAMETERS.iter().copied().find(|t| *t == name) {
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
            // Pika accepts and ignores it; socket options are the I/O
            // adapter's business.
            "backpressure_detection" | "tcp_options" => {}
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

/// A finite number of seconds, `>= 0` (or `> 0` unless `zero_ok`).
fn seconds(value: &str, zero_ok: bool) -> Option<Duration> {
    let secs: f64 = value.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_ok) {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// Reads a `client_properties` value: a JSON object, with Python's literal
/// spellings accepted too (single quotes, `True`, `False`, `None`, trailing
/// commas). Errors are a reason and a byte offset.
fn parse_client_properties(text: &str) -> Result<FieldTable, (&'static str, usize)> {
    let mut r = PropsReader { text, pos: 0 };
    r.ws();
    if r.peek() != Some('{') {
        return r.fail("expected an object, as in {\"key\": \"value\"}");
    }
    let table = r.table(1)?;
    r.ws();
    if r.pos != text.len() {
        return r.fail("unexpected text after the object");
    }
    Ok(table)
}

struct PropsReader<'a> {
    text: &'a str,
    pos: usize,
}

type Read<T> = Result<T, (&'static str, usize)>;

impl PropsReader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn fail<T>(&self, reason: &'static str) -> Read<T> {
        Err((reason, self.pos))
    }

    /// An object, from its `{`; `depth` counts it.
    fn table(&mut self, depth: usize) -> Read<FieldTable> {
        self.bump();
        let mut table = FieldTable::new();
        loop {
            self.ws();
            match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(table);
                }
                Some('"' | '\'') => {}
                _ => return self.fail("expected a quoted key or '}'"),
            }
            let key_at = self.pos;
            let key = ShortStr::try_from(self.string()?)
                .map_err(|_| ("a key is longer than 255 bytes", key_at))?;
            self.ws();
            if self.peek() != Some(':') {
                return self.fail("expected ':' after a key");
            }
            self.bump();
            self.ws();
            let value = self.value(depth)?;
            // As in JSON and Python, a repeated key keeps its last value.
            table.insert(key, value);
            self.ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }

    /// An array, from its `[`; `depth` counts it.
    fn array(&mut self, depth: usize) -> Read<FieldArray> {
        self.bump();
        let mut values = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(']') {
                self.bump();
                return Ok(FieldArray(values));
            }
            values.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                _ => return self.fail("expected ',' or ']'"),
            }
        }
    }

    /// A value inside a container at `depth`.
    fn value(&mut self, depth: usize) -> Read<FieldValue> {
        match self.peek() {
            Some('{' | '[') if depth >= MAX_NESTING => {
                self.fail("objects and arrays nest too deeply")
            }
            Some('{') => Ok(FieldValue::Table(self.table(depth + 1)?)),
            Some('[') => Ok(FieldValue::Array(self.array(depth + 1)?)),
            Some('"' | '\'') => Ok(FieldValue::LongStr(self.string()?.into())),
            Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                match &self.text[start..self.pos] {
                    "true" | "True" => Ok(FieldValue::Bool(true)),
                    "false" | "False" => Ok(FieldValue::Bool(false)),
                    "null" | "None" => Ok(FieldValue::Void),
                    _ => Err(("expected true, false or null", start)),
                }
            }
            None => self.fail("unexpected end: expected a value"),
            Some(_) => {
                self.fail("expected a value: a string, number, boolean, null, object or array")
            }
        }
    }

    /// An integer (`l`) or, with a fraction or exponent, a double (`d`).
    fn number(&mut self) -> Read<FieldValue> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.bump();
        }
        let text = &self.text[start..self.pos];
        if !text.contains(['.', 'e', 'E']) {
            return text
                .parse::<i64>()
                .map(FieldValue::I64)
                .map_err(|_| ("not an integer from -2^63 to 2^63-1", start));
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(FieldValue::F64(x)),
            _ => Err(("not a finite number", start)),
        }
    }

    /// A string in single or double quotes, from its opening quote.
    fn string(&mut self) -> Read<String> {
        let quote = self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return self.fail("unterminated string"),
                Some(c) if Some(c) == quote => return Ok(out),
                Some('\\') => {
                    let c = match self.bump() {
                        Some(c @ ('"' | '\'' | '\\' | '/')) => c,
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('0') => '\0',
                        Some('u') => self.unicode_escape()?,
                        _ => return self.fail("unknown escape sequence"),
                    };
                    out.push(c);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// The rest of a `\uXXXX` escape (a surrogate pair takes two).
    fn unicode_escape(&mut self) -> Read<char> {
        let at = self.pos;
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.text[self.pos..].starts_with("\\u") {
                return Err(("a lone surrogate in a \\u escape", at));
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(("a lone surrogate in a \\u escape", at));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or(("a lone surrogate in a \\u escape", at))
    }

    fn hex4(&mut self) -> Read<u32> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(("expected four hexadecimal digits after \\u", self.pos))?;
        let n = u32::from_str_radix(digits, 16).map_err(|_| ("bad \\u escape", self.pos))?;
        self.pos += 4;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> ConnectionParameters {
        match ConnectionParameters::from_uri(uri) {
            Ok(p) => p,
            Err(e) => panic!("{uri}: {e}"),
        }
    }

    fn error(uri: &str) -> UriError {
        match ConnectionParameters::from_uri(uri) {
            Ok(p) => panic!("{uri} parsed: {p:?}"),
            Err(e) => e,
        }
    }

    fn user_pass(p: &ConnectionParameters) -> (&str, &str) {
        let c = p.credentials();
        (c.username().unwrap(), c.password().unwrap())
    }

    #[test]
    fn bare_uri_gives_the_defaults() {
        let p = parse("amqp://");
        assert_eq!(p.host(), "localhost");
        assert_eq!(p.port(), 5672);
        assert_eq!(p.virtual_host(), "/");
        assert_eq!(user_pass(&p), ("guest", "guest"));
        assert!(!p.tls());
        assert!(matches!(p.heartbeat(), Heartbeat::ServerDefault));
        let q: ConnectionParameters = "amqp://localhost".parse().unwrap();
        assert_eq!(q.to_string(), p.to_string());
    }

    /// The examples of the specification's appendix A.
    #[test]
    fn spec_examples() {
        let p = parse("amqp://user:pass@host:10000/vhost");
        assert_eq!(user_pass(&p), ("user", "pass"));
        assert_eq!(
            (p.host(), p.port(), p.virtual_host()),
            ("host", 10000, "vhost")
        );

        let p = parse("amqp://user%61:%61pass@ho%61st:10000/v%2fhost");
        assert_eq!(user_pass(&p), ("usera", "apass"));
        assert_eq!(
            (p.host(), p.port(), p.virtual_host()),
            ("hoast", 10000, "v/host")
        );

        let p = parse("amqp://:@/");
        assert_eq!(user_pass(&p), ("", ""));
        assert_eq!(
            (p.host(), p.port(), p.virtual_host()),
            ("localhost", 5672, "")
        );

        let p = parse("amqp://user@");
        assert_eq!(user_pass(&p), ("user", ""));

        let p = parse("amqp://user:pass@");
        assert_eq!(user_pass(&p), ("user", "pass"));
        assert_eq!(p.host(), "localhost");

        let p = parse("amqp://host");
        assert_eq!((p.host(), p.virtual_host()), ("host", "/"));

        let p = parse("amqp://:10000");
        assert_eq!((p.host(), p.port()), ("localhost", 10000));

        let p = parse("amqp:///vhost");
        assert_eq!((p.host(), p.virtual_host()), ("localhost", "vhost"));

        let p = parse("amqp://host/");
        assert_eq!(p.virtual_host(), "");

        let p = parse("amqp://host/%2f");
        assert_eq!(p.virtual_host(), "/");

        let p = parse("amqp://[::1]");
        assert_eq!((p.host(), p.port()), ("::1", 5672));
    }

    #[test]
    fn percent_decoding_of_user_password_and_vhost() {
        let p = parse("amqp://us%C3%A9r%3Aname:p%40ss%2Fw%3Ford%23%25+@h/my%20vhost%2Fprod");
        assert_eq!(user_pass(&p), ("usér:name", "p@ss/w?ord#%+"));
        assert_eq!(p.virtual_host(), "my vhost/prod");
        // '+' is literal outside the query
        assert_eq!(parse("amqp://h/a+b").virtual_host(), "a+b");
        // a raw '@' in the password still splits at the last '@'
        let p = parse("amqp://user:p@ss@host");
        assert_eq!(user_pass(&p), ("user", "p@ss"));
        assert_eq!(p.host(), "host");
        // ':' in the password
        assert_eq!(user_pass(&parse("amqp://u:a:b@h")), ("u", "a:b"));
        // upper-case scheme
        assert!(parse("AMQPS://h").tls());
    }

    #[test]
    fn ipv6_hosts() {
        let p = parse("amqp://u:p@[2001:db8::7]:5673/v");
        assert_eq!(
            (p.host(), p.port(), p.virtual_host()),
            ("2001:db8::7", 5673, "v")
        );
        assert_eq!(p.to_string(), "amqp://u@[2001:db8::7]:5673/v");
        let p = parse("amqps://[fe80::1%25eth0]");
        assert_eq!((p.host(), p.port()), ("fe80::1%eth0", 5671));
        assert_eq!(p.to_string(), "amqps://guest@[fe80::1%25eth0]:5671/%2F");
        assert_eq!(parse("amqp://[::1]:").port(), 5672);
        assert_eq!(parse("amqp://127.0.0.1:1").host(), "127.0.0.1");
    }

    #[test]
    fn amqps_default_port_and_explicit_port() {
        let p = parse("amqps://host");
        assert!(p.tls());
        assert_eq!(p.port(), 5671);
        assert_eq!(parse("amqps://host:5673").port(), 5673);
        assert_eq!(parse("amqp://host").port(), 5672);
    }

    #[test]
    fn empty_and_absent_vhost() {
        assert_eq!(parse("amqp://host/").virtual_host(), "");
        assert_eq!(parse("amqp://host/?heartbeat=1").virtual_host(), "");
        assert_eq!(parse("amqp://host").virtual_host(), "/");
        assert_eq!(parse("amqp://host?heartbeat=1").virtual_host(), "/");
        assert_eq!(parse("amqp://host/%2F").virtual_host(), "/");
    }

    #[test]
    fn every_query_parameter() {
        let p = parse(
            "amqps://h/?heartbeat=30&connection_timeout=2500&channel_max=2047&frame_max=8192\
             &auth_mechanism=external&auth_mechanism=AMQPLAIN,plain\
             &cacertfile=/etc/ca.pem&certfile=/etc/c.pem&keyfile=/etc/k.pem&verify=verify_peer\
             &server_name_indication=rabbit.example&fail_if_no_peer_cert=true\
             &backpressure_detection=t&blocked_connection_timeout=1.5\
             &client_properties=%7B%22app%22%3A+%22billing%22%7D&connection_attempts=3\
             &locale=fr_FR&retry_delay=0.25&stack_timeout=20&tcp_options=%7B%7D\
             &name=worker",
        );
        assert!(matches!(p.heartbeat(), Heartbeat::Seconds(30)));
        assert_eq!(p.socket_timeout(), Some(Duration::from_millis(2500)));
        assert_eq!(p.channel_max(), 2047);
        assert_eq!(p.frame_max(), 8192);
        let mechanisms: Vec<_> = p
            .all_credentials()
            .iter()
            .map(Credentials::mechanism)
            .collect();
        assert_eq!(mechanisms, ["EXTERNAL", "AMQPLAIN", "PLAIN"]);
        assert_eq!(
            p.all_credentials()[1],
            Credentials::amqplain("guest", "guest")
        );
        let t = p.tls_options();
        assert_eq!(t.cacertfile(), Some("/etc/ca.pem"));
        assert_eq!(t.certfile(), Some("/etc/c.pem"));
        assert_eq!(t.keyfile(), Some("/etc/k.pem"));
        assert_eq!(t.verify(), Some(TlsVerify::VerifyPeer));
        assert_eq!(t.server_name_indication(), Some("rabbit.example"));
        assert_eq!(t.fail_if_no_peer_cert(), Some(true));
        assert_eq!(
            p.blocked_connection_timeout(),
            Some(Duration::from_millis(1500))
        );
        let extra = p.extra_client_properties().unwrap();
        assert_eq!(extra.get("app"), Some(&FieldValue::from("billing")));
        assert_eq!(p.connection_attempts(), 3);
        assert_eq!(p.locale(), "fr_FR");
        assert_eq!(p.retry_delay(), Duration::from_millis(250));
        assert_eq!(p.stack_timeout(), Some(Duration::from_secs(20)));
        assert_eq!(p.connection_name(), Some("worker"));
        assert_eq!(
            p.client_properties().get("connection_name"),
            Some(&FieldValue::from("worker"))
        );

        // The Pika spellings and the rest.
        let p = parse(
            "amqp://h?heartbeat_interval=0&socket_timeout=0.5&connection_name=a%20b\
             &frame_max=0&channel_max=0",
        );
        assert!(matches!(p.heartbeat(), Heartbeat::Disabled));
        assert_eq!(p.socket_timeout(), Some(Duration::from_millis(500)));
        assert_eq!(p.connection_name(), Some("a b"));
        assert_eq!((p.frame_max(), p.channel_max()), (0, 0));
        let p = parse(
            "amqps://h?verify=verify_none&fail_if_no_peer_cert=false&blocked_connection_timeout=0",
        );
        assert_eq!(p.tls_options().verify(), Some(TlsVerify::VerifyNone));
        assert_eq!(p.tls_options().fail_if_no_peer_cert(), Some(false));
        assert_eq!(p.blocked_connection_timeout(), Some(Duration::ZERO));
        // Empty pairs are skipped.
        assert_eq!(parse("amqp://h?&&channel_max=1&").channel_max(), 1);
        // auth_mechanism keeps the URI's user
        let p = parse("amqp://bob:pw@h?auth_mechanism=amqplain");
        assert_eq!(p.all_credentials(), [Credentials::amqplain("bob", "pw")]);
    }

    #[test]
    fn client_properties_values() {
        let text = r#" { "s": "x\"\u00e9\ud83d\ude00", 'py': 'single', "i": -42, "f": 1.5,
            "e": 2e3, "t": true, "F": False, "n": null, "N": None,
            "nested": {"a": [1, "two", [true]],}, "dup": 1, "dup": 2, } "#;
        let t = parse_client_properties(text).unwrap();
        assert_eq!(t.get("s"), Some(&FieldValue::from("x\"é😀")));
        assert_eq!(t.get("py"), Some(&FieldValue::from("single")));
        assert_eq!(t.get("i"), Some(&FieldValue::I64(-42)));
        assert_eq!(t.get("f"), Some(&FieldValue::F64(1.5)));
        assert_eq!(t.get("e"), Some(&FieldValue::F64(2000.0)));
        assert_eq!(t.get("t"), Some(&FieldValue::Bool(true)));
        assert_eq!(t.get("F"), Some(&FieldValue::Bool(false)));
        assert_eq!(t.get("n"), Some(&FieldValue::Void));
        assert_eq!(t.get("N"), Some(&FieldValue::Void));
        assert_eq!(t.get("dup"), Some(&FieldValue::I64(2)));
        let Some(FieldValue::Table(nested)) = t.get("nested") else {
            panic!("nested")
        };
        assert_eq!(
            nested.get("a"),
            Some(&FieldValue::Array(FieldArray(vec![
                FieldValue::I64(1),
                FieldValue::from("two"),
                FieldValue::Array(FieldArray(vec![FieldValue::Bool(true)])),
            ])))
        );
        assert_eq!(parse_client_properties("{}").unwrap(), FieldTable::new());

        for (bad, offset) in [
            ("", 0),
            ("[]", 0),
            ("{", 1),
            ("{\"a\"}", 4),
            ("{\"a\": }", 6),
            ("{\"a\": 1} x", 9),
            ("{a: 1}", 1),
            ("{\"a\": \"x}", 9),
            ("{\"a\": yes}", 6),
            ("{\"a\": 99999999999999999999}", 6),
            ("{\"a\": 1e999}", 6),
            ("{\"a\": \"\\q\"}", 9),
            ("{\"a\": \"\\ud800\"}", 9),
            ("{\"a\": 1 \"b\": 2}", 8),
        ] {
            match parse_client_properties(bad) {
                Err((_, at)) => assert_eq!(at, offset, "{bad}"),
                Ok(t) => panic!("{bad} parsed: {t}"),
            }
        }
        let long_key = format!("{{\"{}\": 1}}", "k".repeat(256));
        assert!(parse_client_properties(&long_key).is_err());
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            parse_client_properties(&deep).unwrap_err().0,
            "objects and arrays nest too deeply"
        );
        assert!(matches!(
            error("amqp://h?client_properties=%7Bx"),
            UriError::InvalidClientProperties { offset: 1, .. }
        ));
    }

    #[test]
    fn scheme_errors() {
        assert_eq!(
            error("http://host"),
            UriError::UnsupportedScheme {
                scheme: Some("http".into())
            }
        );
        assert_eq!(error("amqp:/host"), UriError::MissingScheme);
        assert_eq!(error("localhost:5672"), UriError::MissingScheme);
        assert_eq!(
            error("a b://host"),
            UriError::UnsupportedScheme { scheme: None }
        );
        assert!(error("http://host").to_string().contains("\"http\""));
    }

    #[test]
    fn port_errors() {
        for port in ["99999", "65536", "0", "abc", "-1", "+80", "1 2"] {
            assert_eq!(
                error(&format!("amqp://host:{port}/v")),
                UriError::InvalidPort { port: port.into() },
                "{port}"
            );
        }
        assert_eq!(
            error("amqp://[::1]:x"),
            UriError::InvalidPort { port: "x".into() }
        );
    }

    #[test]
    fn host_errors() {
        for uri in [
            "amqp://[::1",
            "amqp://[::1]x",
            "amqp://[not-ipv6]",
            "amqp://::1",
            "amqp://fe80::1:5672",
            "amqp://ho st",
            "amqp://h<st",
            "amqp://[fe80::1%25]",
        ] {
            assert!(matches!(error(uri), UriError::InvalidHost { .. }), "{uri}");
        }
        assert_eq!(
            error("amqp://ho%zzst"),
            UriError::InvalidPercentEncoding {
                component: UriComponent::Host
            }
        );
    }

    #[test]
    fn component_errors() {
        assert_eq!(
            error("amqp://us%4:p@h"),
            UriError::InvalidPercentEncoding {
                component: UriComponent::Username
            }
        );
        assert_eq!(
            error("amqp://u:p%@h"),
            UriError::InvalidPercentEncoding {
                component: UriComponent::Password
            }
        );
        assert_eq!(
            error("amqp://u:%FF@h"),
            UriError::InvalidUtf8 {
                component: UriComponent::Password
            }
        );
        assert_eq!(
            error("amqp://h/a%2"),
            UriError::InvalidPercentEncoding {
                component: UriComponent::VirtualHost
            }
        );
        assert_eq!(
            error("amqp://h/a/b"),
            UriError::VirtualHostHasSlash { path: "a/b".into() }
        );
        assert_eq!(
            error(&format!("amqp://h/{}", "v".repeat(256))),
            UriError::VirtualHostTooLong { len: 256 }
        );
        assert_eq!(
            parse(&format!("amqp://h/{}", "v".repeat(255)))
                .virtual_host()
                .len(),
            255
        );
        assert_eq!(error("amqp://h/v#frag"), UriError::Fragment);
        assert_eq!(
            error("amqp://h?%zz=1"),
            UriError::InvalidPercentEncoding {
                component: UriComponent::Query
            }
        );
    }

    #[test]
    fn parameter_errors() {
        assert_eq!(
            error("amqp://h?heartbeat=5&bogus=1"),
            UriError::UnknownParameter {
                name: "bogus".into()
            }
        );
        assert!(error("amqp://h?Heartbeat=5")
            .to_string()
            .contains("\"Heartbeat\""));
        assert_eq!(
            error("amqp://h?heartbeat=5&heartbeat_interval=6"),
            UriError::DuplicateParameter {
                name: "heartbeat_interval".into()
            }
        );
        assert_eq!(
            error("amqp://h?connection_timeout=5&socket_timeout=6"),
            UriError::DuplicateParameter {
                name: "socket_timeout".into()
            }
        );
        assert_eq!(
            error("amqp://h?ssl_options=%7B%7D"),
            UriError::SslOptionsUnsupported
        );
        assert_eq!(
            error("amqp://h?cacertfile=/ca.pem"),
            UriError::TlsParameterWithoutTls {
                name: "cacertfile".into()
            }
        );
        for (name, value) in [
            ("heartbeat", "-1"),
            ("heartbeat", "65536"),
            ("heartbeat", "1.5"),
            ("heartbeat_interval", "x"),
            ("connection_timeout", "0"),
            ("connection_timeout", "1.5"),
            ("channel_max", "65536"),
            ("channel_max", "-1"),
            ("frame_max", "4095"),
            ("frame_max", "1"),
            ("frame_max", "4294967296"),
            ("connection_attempts", "0"),
            ("connection_attempts", "many"),
            ("retry_delay", "-1"),
            ("retry_delay", "nan"),
            ("retry_delay", "inf"),
            ("socket_timeout", "0"),
            ("socket_timeout", ""),
            ("stack_timeout", "-0.5"),
            ("blocked_connection_timeout", "x"),
            ("blocked_connection_timeout", "1e30"),
            ("locale", ""),
            ("auth_mechanism", "scram"),
            ("auth_mechanism", "plain,"),
            ("verify", "yes"),
            ("fail_if_no_peer_cert", "1"),
            ("cacertfile", ""),
            ("server_name_indication", ""),
        ] {
            let uri = format!("amqps://h?{name}={value}");
            match error(&uri) {
                UriError::InvalidValue {
                    name: n, value: v, ..
                } => assert_eq!((n.as_str(), v.as_str()), (name, value), "{uri}"),
                other => panic!("{uri}: {other:?}"),
            }
        }
        assert!(matches!(
            error("amqp://h?locale=%FF"),
            UriError::InvalidValue {
                expected: "percent-encoded UTF-8",
                ..
            }
        ));
        let long_locale = format!("amqp://h?locale={}", "x".repeat(256));
        assert!(matches!(error(&long_locale), UriError::InvalidValue { .. }));
        let e = error("amqp://h?channel_max=lots");
        assert_eq!(
            e.to_string(),
            "invalid value \"lots\" for query parameter \"channel_max\" in the URI: expected \
             an integer from 0 (no limit) to 65535"
        );
    }

    #[test]
    fn errors_never_show_the_password() {
        let cases = [
            "amqp://user:s3cret@host:99999/v",
            "amqp://user:s3cret@host:port/v",
            "amqp://user:s3cret@host/a/b",
            "amqp://user:s3cret@host?bogus=1",
            "amqp://user:s3cret@ho st",
            "amqp://user:s3cret%@host",
            "amqp://user:s3cret%FF@host",
            // unencoded delimiters in the password
            "amqp://user:s3/cret@host/v",
            "amqp://user:s3?cret@host/v",
            "amqp://user:s3#cret@host/v",
            "amqp://user:s3cret/@host",
            "amqp://user:s3cret?@host",
            "amqp://user:s3cret#@host",
            "amqp://user:s3cret?heartbeat=x@host",
        ];
        for uri in cases {
            let e = error(uri);
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains("s3"), "{uri}: {text}");
                assert!(!text.contains("cret"), "{uri}: {text}");
            }
        }
        assert_eq!(
            error("amqp://user:s3/cret@host/v"),
            UriError::UnencodedUserinfoDelimiter
        );
        assert_eq!(
            error("amqp://user:s3cret@host:99999/v"),
            UriError::InvalidPort {
                port: "99999".into()
            }
        );
        // A legitimate '@' in the virtual host still parses.
        assert_eq!(parse("amqp://host/team@corp").virtual_host(), "team@corp");
    }

    #[test]
    fn display_percent_encodes() {
        let p = parse("amqp://us%20er:pw@h/v%2Fh%C3%A9");
        assert_eq!(p.to_string(), "amqp://us%20er@h:5672/v%2Fh%C3%A9");
        let p = parse("amqps://h?auth_mechanism=external");
        assert_eq!(p.to_string(), "amqps://h:5671/%2F");
        // what Display gives parses back to the same place
        let q = parse(&parse("amqp://a%40b:pw@[::1]:1/x%2Fy").to_string());
        assert_eq!(
            (
                q.host(),
                q.port(),
                q.virtual_host(),
                q.credentials().username()
            ),
            ("::1", 1, "x/y", Some("a@b"))
        );
    }
}
