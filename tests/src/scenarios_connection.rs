//! Live scenarios of the connection itself, against the local RabbitMQ,
//! for every adapter: TCP options on the socket, the broker's
//! capabilities, channels opened on a chosen number, `is_closed` of
//! connections and channels.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use amqp_client::{Error, FieldValue, ServerCapabilities, TcpOptions};

use crate::adapter::Adapter;
use crate::live::{client_port, client_socket_timers, connection_pid, params, rabbitmqctl};

/// Keepalive after 60 s idle, every 10 s, 3 probes; 30 s user timeout.
fn pikas_example() -> TcpOptions {
    TcpOptions::new()
        .with_keepalive_idle(Duration::from_secs(60))
        .with_keepalive_interval(Duration::from_secs(10))
        .with_keepalive_count(3)
        .with_user_timeout(Duration::from_secs(30))
}

/// The seconds left on the socket's keepalive timer, as `ss` shows it.
fn keepalive_timer_secs(port: u16) -> Option<u64> {
    let out = client_socket_timers(port);
    let rest = out.split("timer:(keepalive,").nth(1)?;
    let secs = rest.split("sec").next()?;
    // `1min` and longer read as more than a minute.
    if secs.contains("min") {
        return Some(u64::MAX);
    }
    secs.parse().ok()
}

/// The options reach the socket: read back from it, and its keepalive timer
/// seen from outside the process; without options, keepalive stays off.
/// Over futures-io, whose runtime connects the stream, asking for them is
/// an error at open.
pub fn tcp_options_reach_the_socket(a: &dyn Adapter) {
    let p = params().with_tcp_options(pikas_example());
    if !a.sets_tcp_options() {
        let e = a.open(vec![p]).unwrap_err();
        assert!(
            matches!(&e, Error::Misuse(m) if m.contains("TCP options")),
            "{}: {e:?}",
            a.name()
        );
        return;
    }
    let name = p.connection_name().unwrap().to_owned();
    let conn = a.open(vec![p]).unwrap();
    assert_eq!(
        conn.socket_tcp_options(),
        Some(pikas_example()),
        "{}",
        a.name()
    );
    let port = client_port(&name).expect("the connection is listed");
    let left = keepalive_timer_secs(port).unwrap_or_else(|| {
        panic!(
            "{}: no keepalive timer: {}",
            a.name(),
            client_socket_timers(port)
        )
    });
    assert!(
        (1..=60).contains(&left),
        "{}: keepalive in {left} s",
        a.name()
    );
    // The connection works as usual.
    let ch = conn.channel().unwrap();
    ch.basic_qos(0, 1, false).unwrap();
    conn.close().unwrap();

    let p = params();
    let name = p.connection_name().unwrap().to_owned();
    let plain = a.open(vec![p]).unwrap();
    assert_eq!(
        plain.socket_tcp_options(),
        Some(TcpOptions::new()),
        "{}",
        a.name()
    );
    let port = client_port(&name).expect("the connection is listed");
    assert_eq!(keepalive_timer_secs(port), None, "{}", a.name());
    plain.close().unwrap();
}

/// Out-of-range options are refused before connecting.
pub fn out_of_range_tcp_options_are_a_misuse(a: &dyn Adapter) {
    let p = params().with_tcp_options(TcpOptions::new().with_keepalive_count(1000));
    let e = a.open(vec![p]).unwrap_err();
    assert!(matches!(&e, Error::Misuse(_)), "{}: {e:?}", a.name());
}

/// RabbitMQ 3.10 announces every capability the typed struct has; each
/// field agrees with the raw table.
pub fn server_capabilities_are_typed(a: &dyn Adapter) {
    let conn = a.open(vec![params()]).unwrap();
    let c = conn.server_capabilities();
    let all = ServerCapabilities::from_server_properties(&{
        let mut caps = amqp_client::FieldTable::new();
        for name in [
            "publisher_confirms",
            "basic.nack",
            "consumer_cancel_notify",
            "exchange_exchange_bindings",
            "connection.blocked",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ] {
            caps.push(
                amqp_client::ShortStr::try_from(name).unwrap(),
                FieldValue::Bool(true),
            );
        }
        let mut p = amqp_client::FieldTable::new();
        p.push(amqp_client::ShortStr::from_static("capabilities"), caps);
        p
    });
    assert_eq!(c, all, "{}", a.name());
    assert_ne!(c, ServerCapabilities::default(), "{}", a.name());
    conn.close().unwrap();
}

/// Pika's `channel(channel_number=...)`: the broker opens the chosen
/// number; 0, a number above channel-max and one in use are typed errors;
/// a closed channel's number can be chosen again.
pub fn a_channel_opens_on_a_chosen_number(a: &dyn Adapter) {
    let conn = a.open(vec![params()]).unwrap();
    let max = conn.tuning().channel_max;
    assert!(
        max > 42 && max < u16::MAX,
        "{}: channel-max {max}",
        a.name()
    );
    let ch = conn.channel_with_number(42).unwrap();
    assert_eq!(ch.id(), 42, "{}", a.name());
    // The broker knows it by that number: a method on it is answered.
    ch.basic_qos(0, 1, false).unwrap();
    match conn.channel_with_number(42).unwrap_err() {
        Error::ChannelInUse { channel: 42 } => {}
        e => panic!("{}: {e:?}", a.name()),
    }
    for n in [0, max + 1] {
        match conn.channel_with_number(n).unwrap_err() {
            Error::InvalidChannelNumber {
                channel,
                channel_max,
            } => assert_eq!((channel, channel_max), (n, max), "{}", a.name()),
            e => panic!("{}: {n}: {e:?}", a.name()),
        }
    }
    let top = conn.channel_with_number(max).unwrap();
    assert_eq!(top.id(), max, "{}", a.name());
    top.basic_qos(0, 1, false).unwrap();
    // The lowest free number is still 1.
    let first = conn.channel().unwrap();
    assert_eq!(first.id(), 1, "{}", a.name());
    ch.close().unwrap();
    let again = conn.channel_with_number(42).unwrap();
    assert_eq!(again.id(), 42, "{}", a.name());
    again.basic_qos(0, 1, false).unwrap();
    assert!(conn.is_open(), "{}", a.name());
    conn.close().unwrap();
}

/// Waits up to five seconds for `f`.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `is_closed` means closed by either side, or with the connection: a
/// channel closed by the client, one closed by the broker (404), and the
/// connection closed by the client, or by the broker with its channels.
pub fn is_closed_by_either_side(a: &dyn Adapter) {
    let p = params();
    let name = p.connection_name().unwrap().to_owned();
    let conn = a.open(vec![p]).unwrap();
    let (mine, refused, last) = (
        conn.channel().unwrap(),
        conn.channel().unwrap(),
        conn.channel().unwrap(),
    );
    for ch in [&mine, &refused, &last] {
        assert!(ch.is_open() && !ch.is_closed(), "{}", a.name());
    }
    assert!(!conn.is_closed(), "{}", a.name());
    mine.close().unwrap();
    assert!(mine.is_closed() && !mine.is_open(), "{}", a.name());
    let passive = amqp_client::types::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let e = refused
        .queue_declare(&crate::live::unique("absent"), passive)
        .unwrap_err();
    assert!(e.is_not_found(), "{}: {e:?}", a.name());
    eventually("the refused channel is closed", || refused.is_closed());
    assert!(!refused.is_open(), "{}", a.name());
    assert!(!last.is_closed() && !conn.is_closed(), "{}", a.name());
    // The broker closes the connection: it and its channels are closed.
    let pid = connection_pid(&name).expect("the connection is listed");
    rabbitmqctl(&["close_connection", &pid, "is_closed test"]);
    eventually("the connection is closed", || conn.is_closed());
    assert!(last.is_closed() && !last.is_open(), "{}", a.name());
    assert!(!conn.is_open(), "{}", a.name());

    // The client closes the connection.
    let conn = a.open(vec![params()]).unwrap();
    let ch = conn.channel().unwrap();
    conn.close().unwrap();
    assert!(conn.is_closed() && ch.is_closed(), "{}", a.name());
}

/// Defines one `#[test]` per scenario of this module, run with the
/// adapter `$adapter` (as [`live_scenarios`](crate::live_scenarios)).
#[macro_export]
macro_rules! live_connection_scenarios {
    ($adapter:expr) => {
        #[test]
        fn tcp_options_reach_the_socket() {
            $crate::scenarios_connection::tcp_options_reach_the_socket(&$adapter);
        }

        #[test]
        fn server_capabilities_are_typed() {
            $crate::scenarios_connection::server_capabilities_are_typed(&$adapter);
        }

        #[test]
        fn a_channel_opens_on_a_chosen_number() {
            $crate::scenarios_connection::a_channel_opens_on_a_chosen_number(&$adapter);
        }

        #[test]
        fn is_closed_by_either_side() {
            $crate::scenarios_connection::is_closed_by_either_side(&$adapter);
        }

        #[test]
        fn out_of_range_tcp_options_are_a_misuse() {
            $crate::scenarios_connection::out_of_range_tcp_options_are_a_misuse(&$adapter);
        }
    };
}
