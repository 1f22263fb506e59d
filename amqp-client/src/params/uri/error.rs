//! Why a URI is refused.

use std::fmt;

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

/// Why a URI was refused by
/// [`ConnectionParameters::from_uri`](crate::params::ConnectionParameters::from_uri).
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
    /// A `tcp_options` key that is not one of `TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT` and `TCP_USER_TIMEOUT`.
    UnknownTcpOption {
        /// The key.
        key: String,
    },
    /// A `tcp_options` value that is not an integer in the option's range.
    InvalidTcpOption {
        /// The option's key.
        key: String,
        /// The value, as read.
        value: String,
        /// What the option takes.
        expected: &'static str,
    },
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
            UriError::UnknownTcpOption { key } => write!(
                f,
                "unknown TCP option {key:?} in the URI's tcp_options: expected TCP_KEEPIDLE, \
                 TCP_KEEPINTVL, TCP_KEEPCNT or TCP_USER_TIMEOUT"
            ),
            UriError::InvalidTcpOption {
                key,
                value,
                expected,
            } => write!(
                f,
                "invalid value {value} for TCP option {key:?} in the URI's tcp_options: \
                 expected {expected}"
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
