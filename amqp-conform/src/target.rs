//! The broker to test, from an `amqp://` or `amqps://` URI.

use std::fmt;
use std::path::PathBuf;

/// Where the broker listens, how to log in, and whether over TLS.
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
    /// TLS settings for `amqps://`; `None` for plain TCP.
    pub tls: Option<Tls>,
}

/// How to check the broker's certificate (the `amqps://` URI's query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tls {
    /// The CA certificates (PEM) to trust (`cacertfile=PATH`); without it,
    /// the system's trust store, or Mozilla's roots when it has none.
    pub cacertfile: Option<PathBuf>,
    /// `verify=verify_none`: accept any certificate, for test brokers only
    /// (`verify_peer`, the default, checks the chain and the host name).
    pub verify_none: bool,
    /// The name sent (SNI) and checked against the certificate
    /// (`server_name_indication=NAME`); the URI's host by default.
    pub server_name: Option<String>,
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
    /// Parses `amqp://user:password@host:port/vhost` or
    /// `amqps://user:password@host:port/vhost?cacertfile=PATH`; user and
    /// password default to `guest`, the port to 5672 (5671 for `amqps`),
    /// the vhost to `/`. An `amqps` URI's query may hold `cacertfile`,
    /// `verify` (`verify_peer` or `verify_none`) and
    /// `server_name_indication`; any other query parameter is refused
    /// rather than ignored.
    pub fn parse(uri: &str) -> Result<Target, UriError> {
        let (secure, rest) = match uri.split_once("://") {
            Some(("amqp", rest)) => (false, rest),
            Some(("amqps", rest)) => (true, rest),
            Some((scheme, _)) => return Err(UriError(format!("unknown scheme {scheme:?}"))),
            None => return Err(UriError(format!("{uri:?} has no scheme"))),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let tls = if secure {
            Some(tls_query(query.unwrap_or(""))?)
        } else if query.is_some_and(|q| !q.is_empty()) {
            return Err(UriError(
                "query parameters are TLS settings: use amqps:// with them".into(),
            ));
        } else {
            None
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
                Some((user, pass)) => (
                    decode(user)?,
                    // Never repeated in an error: it is the password.
                    decode(pass).map_err(|_| UriError("the password is badly escaped".into()))?,
                ),
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
            None => (hostport, if secure { 5671 } else { 5672 }),
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
            tls,
        })
    }
}

impl Target {
    /// For `amqps`, builds the TLS configuration every connection will use
    /// (reading the CA file): an error saying what is wrong, before any case
    /// runs. Nothing to do for `amqp`.
    pub fn check_tls(&self) -> Result<(), String> {
        match &self.tls {
            Some(tls) => crate::tls::client_config(tls).map(drop),
            None => Ok(()),
        }
    }
}

fn tls_query(query: &str) -> Result<Tls, UriError> {
    let mut tls = Tls::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value)?;
        match key {
            "cacertfile" if !value.is_empty() => tls.cacertfile = Some(PathBuf::from(value)),
            "verify" => {
                tls.verify_none = match value.as_str() {
                    "verify_peer" => false,
                    "verify_none" => true,
                    _ => {
                        return Err(UriError(format!(
                            "verify={value:?}: verify_peer or verify_none"
                        )))
                    }
                }
            }
            "server_name_indication" if !value.is_empty() => tls.server_name = Some(value),
            "cacertfile" | "server_name_indication" => {
                return Err(UriError(format!("{key} is empty")))
            }
            _ => {
                return Err(UriError(format!(
                    "unsupported query parameter {key:?} (cacertfile, verify and \
                     server_name_indication are)"
                )))
            }
        }
    }
    Ok(tls)
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
        assert_eq!(Target::parse("amqp://h").unwrap().tls, None);
        assert!(Target::parse("amqp://h/?cacertfile=/ca.pem").is_err());
        assert!(Target::parse("amqp://h:99999/").is_err());
        assert!(Target::parse("amqp://h/%zz").is_err());
    }

    #[test]
    fn parses_amqps_with_its_tls_query() {
        let t = Target::parse(
            "amqps://u:p@localhost/%2f?cacertfile=%2Ftmp%2Fca.pem&verify=verify_peer\
             &server_name_indication=broker.example",
        )
        .unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.vhost.as_str()),
            ("localhost", 5671, "/")
        );
        let tls = t.tls.unwrap();
        assert_eq!(tls.cacertfile, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(!tls.verify_none);
        assert_eq!(tls.server_name.as_deref(), Some("broker.example"));
        let t = Target::parse("amqps://h:5673?verify=verify_none").unwrap();
        assert_eq!((t.port, t.vhost.as_str()), (5673, "/"));
        assert!(t.tls.unwrap().verify_none);
        assert_eq!(
            Target::parse("amqps://h").unwrap().tls,
            Some(Tls::default())
        );
        assert!(Target::parse("amqps://h?verify=maybe").is_err());
        assert!(Target::parse("amqps://h?heartbeat=10").is_err());
        assert!(Target::parse("amqps://h?cacertfile=").is_err());
    }

    #[test]
    fn a_bad_password_escape_does_not_echo_it() {
        let e = Target::parse("amqp://u:s3cret%zz@h/").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
