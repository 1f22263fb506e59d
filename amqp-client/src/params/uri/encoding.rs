//! Percent-decoding and -encoding, and the URI that [`ConnectionParameters`]
//! displays as.

use std::fmt;

use super::error::{UriComponent, UriError};
use crate::params::connection::ConnectionParameters;

#[derive(Debug)]
pub(super) enum DecodeError {
    Percent,
    Utf8,
}

/// Percent-decodes `s` (and reads `+` as a space when `plus_is_space`, as
/// form-encoded queries do), then checks the bytes are UTF-8.
pub(super) fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, DecodeError> {
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

pub(super) fn decode_component(s: &str, component: UriComponent) -> Result<String, UriError> {
    percent_decode(s, false).map_err(|e| match e {
        DecodeError::Percent => UriError::InvalidPercentEncoding { component },
        DecodeError::Utf8 => UriError::InvalidUtf8 { component },
    })
}

/// Writes `s` percent-encoded: everything but RFC 3986's unreserved
/// characters.
fn write_encoded(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            write!(f, "{}", char::from(b))?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

/// A URI for logs, without the password and the query:
/// `amqp://user@host:port/vhost` (`amqps` with TLS; no user with `EXTERNAL`;
/// the virtual host percent-encoded, so `/` is `%2F`).
impl fmt::Display for ConnectionParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.tls { "amqps://" } else { "amqp://" })?;
        if let Some(user) = self.credentials().username() {
            write_encoded(f, user)?;
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            // An IPv6 address, with its zone's `%` encoded (RFC 6874).
            write!(f, "[{}]", self.host.replace('%', "%25"))?;
        } else {
            write_encoded(f, &self.host)?;
        }
        write!(f, ":{}/", self.port())?;
        write_encoded(f, &self.virtual_host)
    }
}
