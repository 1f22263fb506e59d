//! The broker to test, from an `amqp://` URI.

use std::fmt;

/// Where the broker listens and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port (5672 unless the URI names one).
    pub port: u16,
    /// User name for `PLAIN`.
    pub user: String,
    /// Password for `PLAIN`.
    pub password: String,
    /// Virtual host, percent-decoded (`/` when the URI has no path).
    pub vhost: String,
}

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid broker URI: {}", self.0)
    }
}

impl std::error::Error for UriError {}

impl Target {
    /// Parses `amqp://user:password@host:port/vhost`; user and password
    /// default to `guest`, the vhost to `/`. `amqps` is refused: TLS is not
    /// supported yet, and silently testing in clear would test another port.
    pub fn parse(uri: &str) -> Result<Target, UriError> {
        let rest = match uri.split_once("://") {
            Some(("amqp", rest)) => rest,
            Some(("amqps", _)) => return Err(UriError("amqps is not supported yet".into())),
            Some((scheme, _)) => return Err(UriError(format!("unknown scheme {scheme:?}"))),
            None => return Err(UriError(format!("{uri:?} has no scheme"))),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (decode(user)?, decode(pass)?),
                None => (decode(u)?, String::new()),
            },
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| UriError(format!("port {p:?} is not a number from 0 to 65535")))?;
                (h, port)
            }
            None => (hostport, 5672),
        };
        if host.is_empty() {
            return Err(UriError("no host".into()));
        }
        let vhost = match path {
            None | Some("") => "/".to_owned(),
            Some(p) => decode(p)?,
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            user,
            password,
            vhost,
        })
    }
}

fn decode(s: &str) -> Result<String, UriError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| UriError(format!("bad percent escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriError(format!("{s:?} is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_vhost_escape() {
        let t = Target::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.vhost.as_str()),
            ("127.0.0.1", 5672, "/")
        );
        assert_eq!((t.user.as_str(), t.password.as_str()), ("guest", "guest"));
        assert_eq!(Target::parse("amqp://h").unwrap().vhost, "/");
        assert!(Target::parse("amqps://h").is_err());
        assert!(Target::parse("amqp://h:99999/").is_err());
        assert!(Target::parse("amqp://h/%zz").is_err());
    }
}
