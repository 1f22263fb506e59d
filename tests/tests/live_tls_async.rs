//! TLS against a second RabbitMQ node ([`amqp_tests::tls_node`]) with the
//! async adapters: tokio on a multi-threaded runtime, and the futures-io
//! adapter on smol. A trusted CA, an untrusted one, a wrong host name,
//! mutual TLS with SASL EXTERNAL, an untrusted client certificate, and TLS
//! to the plain port.
//!
//! One test starts the node once and runs the cases in turn with each
//! runtime; the node is stopped and its files removed when the test ends,
//! passed or failed.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use amqp_client::error::TlsFailure;
use amqp_client::tokio::{
    Channel, Connection, ConsumeOptions, Consumer, Delivery, QueueDeclareOptions,
};
use amqp_client::{ConnectionParameters, Credentials, Error, TlsOptions};
use amqp_protocol::BasicProperties;
use amqp_tests::adapter_async::Exec;
use amqp_tests::adapter_smol::{SmolExec, SmolRuntime};
use amqp_tests::adapter_tokio::{multi_thread, TokioExec};
use amqp_tests::live::{unique, Relay};
use amqp_tests::tls_node::TlsNode;

#[test]
fn tls_with_the_async_adapters() {
    let node = TlsNode::start();
    run_cases(&Runtime::Tokio(multi_thread()), &node);
    run_cases(&Runtime::Smol(SmolExec), &node);
}

/// An adapter and the runtime it runs on. Both adapters' handles are the
/// same types: only opening and blocking differ.
enum Runtime {
    /// `amqp_client::tokio` on a multi-threaded runtime.
    Tokio(TokioExec),
    /// `amqp_client::futures_io` on smol.
    Smol(SmolExec),
}

impl Runtime {
    fn name(&self) -> &'static str {
        match self {
            Runtime::Tokio(_) => "tokio",
            Runtime::Smol(_) => "smol",
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match self {
            Runtime::Tokio(exec) => exec.block_on(f),
            Runtime::Smol(exec) => exec.block_on(f),
        }
    }

    /// Opens a connection, or `None` when that takes longer than `limit`.
    fn open_within(
        &self,
        limit: Duration,
        params: ConnectionParameters,
    ) -> Option<Result<Connection, Error>> {
        match self {
            Runtime::Tokio(exec) => exec.block_on_timeout(limit, Connection::open(params)),
            Runtime::Smol(exec) => exec.block_on_timeout(
                limit,
                amqp_client::futures_io::Connection::open_with(SmolRuntime, params),
            ),
        }
    }

    /// The consumer's next delivery, or `None` when that takes longer than
    /// `limit`.
    fn next_within(
        &self,
        limit: Duration,
        consumer: &mut Consumer,
    ) -> Option<Option<Result<Delivery, Error>>> {
        use futures_util::StreamExt;
        match self {
            Runtime::Tokio(exec) => exec.block_on_timeout(limit, consumer.next()),
            Runtime::Smol(exec) => exec.block_on_timeout(limit, consumer.next()),
        }
    }

    fn open(&self, params: ConnectionParameters) -> Result<Connection, Error> {
        self.open_within(Duration::from_secs(30), params)
            .expect("opening hangs")
    }
}

fn run_cases(rt: &Runtime, node: &TlsNode) {
    type Case = (&'static str, fn(&Runtime, &TlsNode));
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
        ("TLS to the plain port", tls_to_the_plain_port_fails_fast),
        (
            "direct and driver writes keep their order",
            direct_and_driver_writes_keep_their_order,
        ),
        (
            "publishes keep their order behind a stalled socket",
            publishes_keep_their_order_behind_a_stalled_socket,
        ),
    ];
    for (name, case) in cases {
        eprintln!("--- {}: {name}", rt.name());
        case(rt, node);
    }
}

fn params(node: &TlsNode, options: TlsOptions) -> ConnectionParameters {
    ConnectionParameters::new()
        .with_host("localhost")
        .with_port(node.tls_port())
        .with_connection_name(unique("tls-async"))
        .with_socket_timeout(Duration::from_secs(5))
        .with_tls_options(options.with_cacertfile(path(&node.ca())))
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A new exclusive queue with a name the broker chooses.
async fn exclusive_queue(ch: &Channel) -> String {
    ch.queue_declare(
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .queue
}

/// Publishes `body` to a new exclusive queue and gets it back.
fn round_trip(rt: &Runtime, conn: &Connection, body: &[u8]) {
    rt.block_on(async {
        let ch = conn.channel().await.unwrap();
        let queue = exclusive_queue(&ch).await;
        ch.basic_publish("", &queue, body, &BasicProperties::default(), false)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(m) = ch.basic_get(&queue, true).await.unwrap() {
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
        ch.close().await.unwrap();
    });
}

fn close(rt: &Runtime, conn: Connection) {
    rt.block_on(conn.close()).unwrap();
}

/// Opening fails, quickly, with this kind of TLS error.
fn open_fails(rt: &Runtime, params: ConnectionParameters, kind: TlsFailure, text: &str) -> Error {
    let e = open_error(rt, params);
    assert_eq!(e.tls_failure(), Some(kind), "{e:?}");
    assert!(e.to_string().contains(text), "{e}");
    assert!(!e.reconnect_may_help(), "{e}");
    e
}

/// Opens a connection that must fail, within 4 s.
fn open_error(rt: &Runtime, params: ConnectionParameters) -> Error {
    let started = Instant::now();
    let e = match rt.open_within(Duration::from_secs(10), params) {
        Some(Err(e)) => e,
        Some(Ok(_)) => panic!("the connection opened"),
        None => panic!("opening hangs"),
    };
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    e
}

fn trusted_ca_publish_and_get(rt: &Runtime, node: &TlsNode) {
    let conn = rt.open(params(node, TlsOptions::new())).unwrap();
    assert!(conn.is_open());
    round_trip(rt, &conn, b"hello over TLS");
    // Larger than a TLS record (16 KiB) and a frame (128 KiB).
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    round_trip(rt, &conn, &big);
    // By IP address, which the certificate also names.
    let by_ip = params(node, TlsOptions::new()).with_host("127.0.0.1");
    let conn2 = rt.open(by_ip).unwrap();
    round_trip(rt, &conn2, b"by address");
    close(rt, conn2);
    close(rt, conn);
}

fn untrusted_ca_is_a_certificate_error(rt: &Runtime, node: &TlsNode) {
    let p = params(node, TlsOptions::new())
        .with_tls_options(TlsOptions::new().with_cacertfile(path(&node.other_ca())));
    let e = open_fails(rt, p, TlsFailure::Certificate, "UnknownIssuer");
    eprintln!("    {e}");
}

fn wrong_host_name_is_a_host_name_error(rt: &Runtime, node: &TlsNode) {
    let p = params(
        node,
        TlsOptions::new().with_server_name_indication("wrong.example"),
    );
    let e = open_fails(rt, p, TlsFailure::HostName, "wrong.example");
    eprintln!("    {e}");
}

fn external_with_a_client_certificate(rt: &Runtime, node: &TlsNode) {
    let options = TlsOptions::new()
        .with_certfile(path(&node.client_cert()))
        .with_keyfile(path(&node.client_key()));
    let p = params(node, options).with_credentials(Credentials::External);
    let conn = rt.open(p).unwrap();
    round_trip(rt, &conn, b"authenticated by certificate");
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
    close(rt, conn);
}

fn untrusted_client_certificate_is_refused(rt: &Runtime, node: &TlsNode) {
    let options = TlsOptions::new()
        .with_certfile(path(&node.untrusted_client_cert()))
        .with_keyfile(path(&node.untrusted_client_key()));
    let p = params(node, options).with_credentials(Credentials::External);
    // With TLS 1.3 the client's part of the handshake is over when the
    // broker refuses the certificate: its alert ends the AMQP handshake,
    // and is reported as the TLS error it is.
    let e = open_error(rt, p);
    amqp_tests::tls_node::assert_client_certificate_refused(&e);
    eprintln!("    {e}");
}

fn tls_to_the_plain_port_fails_fast(rt: &Runtime, node: &TlsNode) {
    let p = params(node, TlsOptions::new()).with_port(node.amqp_port());
    let started = Instant::now();
    let e = rt.open(p).expect_err("TLS to a plain AMQP port opened");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(e.tls_failure().is_some(), "{e:?}");
    eprintln!("    {e}");
}

/// Publishes made by the application's task and written by it (alone, after
/// a pause: one record each, encrypted under the connection's lock) mixed
/// with publishes the driver writes (a burst, and 300 KB messages that the
/// socket does not take at once), while a consumer on the same connection
/// receives them: every message arrives whole and in order, so the TLS
/// records reached the socket in the order of their sequence numbers (a
/// record out of order fails the connection).
fn direct_and_driver_writes_keep_their_order(rt: &Runtime, node: &TlsNode) {
    const N: u32 = 90;
    let body = |i: u32| -> Vec<u8> {
        let len = match i % 15 {
            4 => 300_000,
            9 => 70_000,
            _ => 16 + (i as usize % 7) * 100,
        };
        let mut b: Vec<u8> = (0..len).map(|k| (k as u32 * 31 + i) as u8).collect();
        b[..4].copy_from_slice(&i.to_be_bytes());
        b
    };
    let conn = rt.open(params(node, TlsOptions::new())).unwrap();
    let (ch, publisher, mut consumer) = rt.block_on(async {
        let ch = conn.channel().await.unwrap();
        let queue = exclusive_queue(&ch).await;
        let consumer = ch
            .basic_consume(
                &queue,
                ConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let publisher = conn.channel().await.unwrap();
        for i in 0..N {
            publisher
                .basic_publish("", &queue, &body(i), &BasicProperties::default(), false)
                .await
                .unwrap();
            // Mostly lone publishes, written directly; every sixth starts a
            // burst the driver writes.
            if i % 6 != 5 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        (ch, publisher, consumer)
    });
    for i in 0..N {
        let d = rt
            .next_within(Duration::from_secs(10), &mut consumer)
            .expect("a message did not arrive")
            .expect("the consumer ended")
            .unwrap();
        assert!(
            d.body[..] == body(i)[..],
            "message {i} changed or came out of order"
        );
    }
    rt.block_on(async {
        ch.close().await.unwrap();
        publisher.close().await.unwrap();
    });
    close(rt, conn);
}

/// The adapters' stalled-socket check over TLS: a relay in front of the TLS
/// port stops reading while 3 MiB messages and small publishes a few
/// milliseconds apart are sent; every message arrives whole and in order.
/// Its records are encrypted by the driver and by the publishing task in
/// turn; one sent ahead of an earlier one fails the TLS connection.
fn publishes_keep_their_order_behind_a_stalled_socket(rt: &Runtime, node: &TlsNode) {
    use amqp_tests::adapter_async::checks::{publishes_keep_their_order_behind, Sleep};
    let relay = Relay::start_to(("127.0.0.1", node.tls_port()));
    let conn = rt
        .open(params(node, TlsOptions::new()).with_port(relay.addr.port()))
        .unwrap();
    let sleep: Sleep = match rt {
        Runtime::Tokio(_) => |d| Box::pin(tokio::time::sleep(d)),
        Runtime::Smol(_) => |d| {
            Box::pin(async move {
                smol::Timer::after(d).await;
            })
        },
    };
    rt.block_on(publishes_keep_their_order_behind(&relay, conn, sleep));
}
