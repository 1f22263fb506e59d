//! The URI parser's tests, through [`ConnectionParameters::from_uri`].

use std::time::Duration;

use amqp_protocol::FieldValue;

use super::error::{UriComponent, UriError};
use crate::params::connection::ConnectionParameters;
use crate::params::credentials::Credentials;
use crate::params::tls::TlsVerify;
use crate::params::tuning::Heartbeat;

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

#[test]
fn tcp_options_in_pikas_syntax() {
    // {'TCP_KEEPIDLE':60,'TCP_KEEPINTVL':10,'TCP_KEEPCNT':3,'TCP_USER_TIMEOUT':30000}
    let p = parse(
        "amqp://h?tcp_options=%7B%27TCP_KEEPIDLE%27%3A60%2C%27TCP_KEEPINTVL%27%3A10%2C\
         %27TCP_KEEPCNT%27%3A3%2C%27TCP_USER_TIMEOUT%27%3A30000%7D",
    );
    let t = p.tcp_options();
    assert_eq!(t.keepalive_idle(), Some(Duration::from_secs(60)));
    assert_eq!(t.keepalive_interval(), Some(Duration::from_secs(10)));
    assert_eq!(t.keepalive_count(), Some(3));
    assert_eq!(t.user_timeout(), Some(Duration::from_secs(30)));
    assert!(t.keepalive());
    // JSON spelling, spaces (form-encoded as '+'), one option.
    let p = parse("amqp://h?tcp_options=%7B%22TCP_KEEPCNT%22%3A+5%7D");
    assert_eq!(p.tcp_options().keepalive_count(), Some(5));
    assert_eq!(p.tcp_options().keepalive_idle(), None);
    // Empty, and a user timeout of 0 (the system's default): nothing set.
    assert!(parse("amqp://h?tcp_options=%7B%7D")
        .tcp_options()
        .is_empty());
    let p = parse("amqp://h?tcp_options=%7B%27TCP_USER_TIMEOUT%27%3A0%7D");
    assert!(p.tcp_options().is_empty());
    // Without the parameter, none.
    assert!(parse("amqp://h").tcp_options().is_empty());
}

#[test]
fn tcp_options_errors() {
    assert_eq!(
        error("amqp://h?tcp_options=%7B%27TCP_NODELAY%27%3A1%7D"),
        UriError::UnknownTcpOption {
            key: "TCP_NODELAY".into()
        }
    );
    // Keys are case-sensitive, as in Pika.
    assert!(matches!(
        error("amqp://h?tcp_options=%7B%27tcp_keepidle%27%3A1%7D"),
        UriError::UnknownTcpOption { .. }
    ));
    for (key, value) in [
        ("TCP_KEEPIDLE", "0"),
        ("TCP_KEEPIDLE", "32768"),
        ("TCP_KEEPIDLE", "-5"),
        ("TCP_KEEPIDLE", "1.5"),
        ("TCP_KEEPINTVL", "'10'"),
        ("TCP_KEEPCNT", "128"),
        ("TCP_KEEPCNT", "True"),
        ("TCP_USER_TIMEOUT", "2147483648"),
        ("TCP_USER_TIMEOUT", "None"),
    ] {
        let uri = format!("amqp://h?tcp_options=%7B%27{key}%27%3A{value}%7D");
        match error(&uri) {
            UriError::InvalidTcpOption { key: k, .. } => assert_eq!(k, key, "{uri}"),
            other => panic!("{uri}: {other:?}"),
        }
    }
    let e = error("amqp://h?tcp_options=%7B%27TCP_KEEPCNT%27%3A0%7D");
    assert_eq!(
        e.to_string(),
        "invalid value 0 for TCP option \"TCP_KEEPCNT\" in the URI's tcp_options: expected \
         a number of probes, from 1 to 127"
    );
    for value in ["", "60", "%7B%27TCP_KEEPIDLE%27%7D", "%5B1%5D"] {
        let uri = format!("amqp://h?tcp_options={value}");
        match error(&uri) {
            UriError::InvalidValue { name, .. } => assert_eq!(name, "tcp_options", "{uri}"),
            other => panic!("{uri}: {other:?}"),
        }
    }
    assert_eq!(
        error("amqp://h?tcp_options=%7B%7D&tcp_options=%7B%7D"),
        UriError::DuplicateParameter {
            name: "tcp_options".into()
        }
    );
}

/// Records the messages of `tracing` events.
struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Message(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn backpressure_detection_is_ignored_with_a_warning() {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let p = tracing::subscriber::with_default(Warnings(lines.clone()), || {
        parse("amqp://h?backpressure_detection=t")
    });
    assert_eq!(p.to_string(), parse("amqp://h").to_string());
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("WARN"), "{lines:?}");
    assert!(lines[0].contains("backpressure_detection"), "{lines:?}");
    // An unknown parameter stays an error.
    assert_eq!(
        error("amqp://h?backpressure=t"),
        UriError::UnknownParameter {
            name: "backpressure".into()
        }
    );
}
