//! TLS against a second RabbitMQ node ([`amqp_tests::tls_node`]) with the
//! blocking adapter: a trusted and an untrusted CA, a wrong host name,
//! mutual TLS with SASL EXTERNAL, `verify_none`, and `amqps://` URIs with
//! the TLS query options; then with the event-loop adapter: a trusted CA,
//! an untrusted CA and an untrusted client certificate.
//!
//! One test starts the node once and runs the cases in turn; the node is
//! stopped and its files removed when the test ends, passed or failed.

#![allow(clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::error::TlsFailure;
use amqp_client::event_loop as el;
use amqp_client::{ConnectionParameters, Credentials, Error, TlsOptions, TlsVerify};
use amqp_protocol::BasicProperties;
use amqp_tests::live::unique;
use amqp_tests::tls_node::TlsNode;

#[test]
fn tls_against_a_second_node() {
    let node = TlsNode::start();
    type Case = (&'static str, fn(&TlsNode));
    let cases: &[Case] = &[
        ("trusted CA: publish and get", trusted_ca_publish_and_get),
        (
            "untrusted CA: certificate error",
            untrusted_ca_is_a_certificate_error,
        ),
        (
            "wrong host name: host name error",
            wrong_host_name_is_a_host_name_error,
        ),
        (
            "client certificate: EXTERNAL",
            external_with_a_client_certificate,
        ),
        (
            "untrusted client certificate",
            untrusted_client_certificate_is_refused,
        ),
        (
            "verify_none accepts an untrusted CA",
            verify_none_accepts_an_untrusted_ca,
        ),
        (
            "amqps URI with TLS query options",
            amqps_uri_with_tls_options,
        ),
        ("TLS to the plain port", tls_to_the_plain_port_fails_fast),
        (
            "event loop, trusted CA: publish and get",
            event_loop_publish_and_get,
        ),
        (
            "event loop, untrusted CA: certificate error",
            event_loop_untrusted_ca_is_a_certificate_error,
        ),
        (
            "event loop, untrusted client certificate",
            event_loop_untrusted_client_certificate_is_refused,
        ),
    ];
    for (name, case) in cases {
        eprintln!("--- {name}");
        case(&node);
    }
}

fn params(node: &TlsNode, options: TlsOptions) -> ConnectionParameters {
    ConnectionParameters::new()
        .with_host("localhost")
        .with_port(node.tls_port())
        .with_connection_name(unique("tls"))
        .with_socket_timeout(Duration::from_secs(5))
        .with_tls_options(options.with_cacertfile(node.ca().display().to_string()))
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Publishes `body` to a new exclusive queue and gets it back.
fn round_trip(conn: &Connection, body: &[u8]) {
    let ch = conn.channel().unwrap();
    let queue = ch
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )
        .unwrap()
        .queue;
    ch.basic_publish("", &queue, body, &BasicProperties::default(), false)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(m) = ch.basic_get(&queue, true).unwrap() {
            assert_eq!(m.delivery.body.len(), body.len());
            assert!(
                m.delivery.body[..] == body[..],
                "the body changed on the way"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the message did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
    ch.close().unwrap();
}

/// Opening fails, quickly, with this kind of TLS error.
fn open_fails(params: ConnectionParameters, kind: TlsFailure, text: &str) -> Error {
    let started = Instant::now();
    let e = Connection::open(params).expect_err("the connection opened");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(e.tls_failure(), Some(kind), "{e:?}");
    assert!(e.to_string().contains(text), "{e}");
    assert!(!e.reconnect_may_help(), "{e}");
    e
}

fn trusted_ca_publish_and_get(node: &TlsNode) {
    let conn = Connection::open(params(node, TlsOptions::new())).unwrap();
    assert!(conn.is_open());
    round_trip(&conn, b"hello over TLS");
    // Larger than a TLS record (16 KiB) and a frame (128 KiB).
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    round_trip(&conn, &big);
    // By IP address, which the certificate also names.
    let by_ip = params(node, TlsOptions::new()).with_host("127.0.0.1");
    let conn2 = Connection::open(by_ip).unwrap();
    round_trip(&conn2, b"by address");
    conn2.close().unwrap();
    conn.close().unwrap();
}

fn untrusted_ca_is_a_certificate_error(node: &TlsNode) {
    let p = params(node, TlsOptions::new())
        .with_tls_options(TlsOptions::new().with_cacertfile(path(&node.other_ca())));
    let e = open_fails(p, TlsFailure::Certificate, "UnknownIssuer");
    eprintln!("    {e}");
}

fn wrong_host_name_is_a_host_name_error(node: &TlsNode) {
    let p = params(
        node,
        TlsOptions::new().with_server_name_indication("wrong.example"),
    );
    let e = open_fails(p, TlsFailure::HostName, "wrong.example");
    eprintln!("    {e}");
}

fn external_with_a_client_certificate(node: &TlsNode) {
    let options = TlsOptions::new()
        .with_certfile(path(&node.client_cert()))
        .with_keyfile(path(&node.client_key()));
    let p = params(node, options).with_credentials(Credentials::External);
    let conn = Connection::open(p).unwrap();
    round_trip(&conn, b"authenticated by certificate");
    let listed = node
        .ctl(&[
            "list_connections",
            "-q",
            "--no-table-headers",
            "user",
            "auth_mechanism",
            "ssl",
        ])
        .unwrap();
    let external: Vec<&str> = listed.lines().filter(|l| l.contains("EXTERNAL")).collect();
    assert_eq!(external.len(), 1, "{listed}");
    let fields: Vec<&str> = external[0].split_whitespace().collect();
    assert_eq!(
        fields,
        [TlsNode::CLIENT_USER, "EXTERNAL", "true"],
        "{listed}"
    );
    conn.close().unwrap();

    // The key may also be in the certificate file.
    let both = node.client_cert().with_file_name("client-and-key.pem");
    let mut pem = std::fs::read(node.client_cert()).unwrap();
    pem.extend(std::fs::read(node.client_key()).unwrap());
    std::fs::write(&both, pem).unwrap();
    let p = params(node, TlsOptions::new().with_certfile(path(&both)))
        .with_credentials(Credentials::External);
    Connection::open(p).unwrap().close().unwrap();

    // Without a client certificate, EXTERNAL has no identity.
    let p = params(node, TlsOptions::new()).with_credentials(Credentials::External);
    let e = Connection::open(p).expect_err("EXTERNAL without a certificate");
    assert!(
        e.is_access_refused() || matches!(e, Error::ProbableAuthenticationFailure),
        "{e:?}"
    );
}

fn untrusted_client_certificate_is_refused(node: &TlsNode) {
    let options = TlsOptions::new()
        .with_certfile(path(&node.untrusted_client_cert()))
        .with_keyfile(path(&node.untrusted_client_key()));
    let p = params(node, options).with_credentials(Credentials::External);
    let started = Instant::now();
    let e = Connection::open(p).expect_err("an untrusted client certificate was accepted");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    amqp_tests::tls_node::assert_client_certificate_refused(&e);
    eprintln!("    {e}");
}

fn verify_none_accepts_an_untrusted_ca(node: &TlsNode) {
    // Insecure: anyone on the path could impersonate the broker.
    let options = TlsOptions::new()
        .with_cacertfile(path(&node.other_ca()))
        .with_verify(TlsVerify::VerifyNone)
        .with_server_name_indication("wrong.example");
    let p = params(node, TlsOptions::new()).with_tls_options(options);
    let conn = Connection::open(p).unwrap();
    round_trip(&conn, b"unverified");
    conn.close().unwrap();
}

fn amqps_uri_with_tls_options(node: &TlsNode) {
    let uri = format!(
        "amqps://localhost:{port}/%2F?auth_mechanism=external&cacertfile={ca}\
         &certfile={cert}&keyfile={key}&verify=verify_peer\
         &server_name_indication=localhost&connection_name={name}",
        port = node.tls_port(),
        ca = encode(&path(&node.ca())),
        cert = encode(&path(&node.client_cert())),
        key = encode(&path(&node.client_key())),
        name = unique("tls-uri"),
    );
    let conn = Connection::open_uri(&uri).unwrap();
    round_trip(&conn, b"from a URI");
    conn.close().unwrap();

    let wrong = format!(
        "amqps://localhost:{}?cacertfile={}",
        node.tls_port(),
        encode(&path(&node.other_ca()))
    );
    let e = Connection::open_uri(&wrong).expect_err("an untrusted CA");
    assert_eq!(e.tls_failure(), Some(TlsFailure::Certificate), "{e:?}");

    let unverified = format!("amqps://localhost:{}?verify=verify_none", node.tls_port());
    Connection::open_uri(&unverified).unwrap().close().unwrap();
}

fn tls_to_the_plain_port_fails_fast(node: &TlsNode) {
    let p = params(node, TlsOptions::new()).with_port(node.amqp_port());
    let started = Instant::now();
    let e = Connection::open(p).expect_err("TLS to a plain AMQP port");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(e.tls_failure().is_some(), "{e:?}");
    eprintln!("    {e}");
}

/// Runs the loop until a callback stops it; fails when that takes longer
/// than `limit`.
fn run_loop(lp: &el::EventLoop, limit: Duration) {
    let timed_out = Rc::new(Cell::new(false));
    let (flag, handle) = (timed_out.clone(), lp.handle());
    let timer = lp.call_later(limit, move || {
        flag.set(true);
        handle.stop();
    });
    lp.run().unwrap();
    lp.remove_timeout(timer);
    assert!(!timed_out.get(), "the event loop ran longer than {limit:?}");
}

/// The bodies fetched with basic.get, or the errors met on the way.
type Fetched = Rc<RefCell<Vec<Result<Vec<u8>, Error>>>>;

/// Gets `left` messages from `queue`, one at a time, polling while it is
/// empty; then (or at the first error) closes the connection.
fn get_messages(ch: el::Channel, queue: Rc<str>, left: usize, fetched: Fetched, until: Instant) {
    if left == 0 {
        return ch.connection().close();
    }
    let again = ch.clone();
    let done = fetched.clone();
    let requested = ch.basic_get(
        &queue.clone(),
        true,
        Some(move |r: Result<Option<el::GetMessage>, Error>| match r {
            Ok(Some(m)) => {
                done.borrow_mut().push(Ok(m.delivery.body.to_vec()));
                get_messages(again, queue, left - 1, done, until);
            }
            Ok(None) if Instant::now() < until => {
                if let Some(lp) = again.connection().event_loop() {
                    lp.call_later(Duration::from_millis(20), move || {
                        get_messages(again, queue, left, done, until)
                    });
                }
            }
            Ok(None) => {
                done.borrow_mut().push(Err(Error::Timeout {
                    what: "the published message".into(),
                }));
                again.connection().close();
            }
            Err(e) => {
                done.borrow_mut().push(Err(e));
                again.connection().close();
            }
        }),
    );
    if let Err(e) = requested {
        fetched.borrow_mut().push(Err(e));
        ch.connection().close();
    }
}

/// Declares an exclusive queue, publishes `sent` to it, then gets them
/// back one at a time (see [`get_messages`]).
fn declare_publish_and_get(ch: el::Channel, sent: Vec<Vec<u8>>, done: Fetched) {
    let options = el::QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let declared = ch.clone();
    let result = ch.queue_declare(
        "",
        options,
        Some(move |r: Result<el::QueueDeclareOk, Error>| {
            let ch = declared;
            let queue: Rc<str> = match r {
                Ok(ok) => ok.queue.into(),
                Err(e) => {
                    done.borrow_mut().push(Err(e));
                    return ch.connection().close();
                }
            };
            for body in &sent {
                let props = BasicProperties::default();
                if let Err(e) = ch.basic_publish("", &queue, body, &props, false) {
                    done.borrow_mut().push(Err(e));
                    return ch.connection().close();
                }
            }
            let until = Instant::now() + Duration::from_secs(5);
            get_messages(ch, queue, sent.len(), done, until);
        }),
    );
    if let Err(e) = result {
        panic!("queue.declare: {e}");
    }
}

fn event_loop_publish_and_get(node: &TlsNode) {
    let small = b"hello over TLS, from the event loop".to_vec();
    // Larger than a TLS record (16 KiB) and a frame (128 KiB): written in
    // several turns of the loop.
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let bodies = vec![small, big];

    let lp = el::EventLoop::new().unwrap();
    let conn = el::Connection::open(&lp, params(node, TlsOptions::new()));
    let fetched: Fetched = Rc::default();
    let ended: Rc<RefCell<Option<Error>>> = Rc::default();
    let (done, sent) = (fetched.clone(), bodies.clone());
    conn.on_open(move |conn| {
        let (done, sent) = (done.clone(), sent.clone());
        let (failed, closer) = (done.clone(), conn.clone());
        let opened = conn.channel(move |ch| {
            let ch = match ch {
                Ok(ch) => ch,
                Err(e) => {
                    done.borrow_mut().push(Err(e));
                    return closer.close();
                }
            };
            declare_publish_and_get(ch, sent, done);
        });
        if let Err(e) = opened {
            failed.borrow_mut().push(Err(e));
            conn.close();
        }
    });
    let (why, handle) = (ended.clone(), lp.handle());
    conn.on_open_error(move |e| {
        *why.borrow_mut() = Some(e);
        handle.stop();
    });
    let (why, handle) = (ended.clone(), lp.handle());
    conn.on_close(move |_, e| {
        *why.borrow_mut() = Some(e);
        handle.stop();
    });
    run_loop(&lp, Duration::from_secs(30));

    let ended = ended.borrow_mut().take();
    assert!(
        matches!(ended, Some(Error::ConnectionClosedByClient)),
        "{ended:?}"
    );
    let fetched = std::mem::take(&mut *fetched.borrow_mut());
    assert_eq!(fetched.len(), bodies.len(), "{fetched:?}");
    for (got, sent) in fetched.into_iter().zip(&bodies) {
        let got = got.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == *sent, "the body changed on the way");
    }
    assert!(conn.is_closed());
}

/// Opening with the event loop fails, quickly, with this kind of TLS error.
fn event_loop_open_fails(params: ConnectionParameters, kind: TlsFailure, text: &str) -> Error {
    let e = event_loop_open_error(params);
    assert_eq!(e.tls_failure(), Some(kind), "{e:?}");
    assert!(e.to_string().contains(text), "{e}");
    assert!(!e.reconnect_may_help(), "{e}");
    e
}

/// Opens an event-loop connection that must fail, within 4 s.
fn event_loop_open_error(params: ConnectionParameters) -> Error {
    let lp = el::EventLoop::new().unwrap();
    let conn = el::Connection::open(&lp, params);
    let outcome: Rc<RefCell<Option<Result<(), Error>>>> = Rc::default();
    let (opened, handle) = (outcome.clone(), lp.handle());
    conn.on_open(move |conn| {
        *opened.borrow_mut() = Some(Ok(()));
        conn.close();
    });
    conn.on_close(move |_, _| handle.stop());
    let (failed, handle) = (outcome.clone(), lp.handle());
    conn.on_open_error(move |e| {
        *failed.borrow_mut() = Some(Err(e));
        handle.stop();
    });
    let started = Instant::now();
    run_loop(&lp, Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let e = match outcome.borrow_mut().take() {
        Some(Err(e)) => e,
        other => panic!("the connection opened: {other:?}"),
    };
    assert!(conn.is_closed());
    e
}

fn event_loop_untrusted_ca_is_a_certificate_error(node: &TlsNode) {
    let p = params(node, TlsOptions::new())
        .with_tls_options(TlsOptions::new().with_cacertfile(path(&node.other_ca())));
    let e = event_loop_open_fails(p, TlsFailure::Certificate, "UnknownIssuer");
    eprintln!("    {e}");
}

fn event_loop_untrusted_client_certificate_is_refused(node: &TlsNode) {
    // The broker's alert comes after the client's part of the handshake
    // (TLS 1.3), while the core waits for connection.start.
    let options = TlsOptions::new()
        .with_certfile(path(&node.untrusted_client_cert()))
        .with_keyfile(path(&node.untrusted_client_key()));
    let p = params(node, options).with_credentials(Credentials::External);
    let e = event_loop_open_error(p);
    amqp_tests::tls_node::assert_client_certificate_refused(&e);
    eprintln!("    {e}");
}

/// Percent-encodes a URI query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
