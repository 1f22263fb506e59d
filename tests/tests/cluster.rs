//! Against a 3-node RabbitMQ cluster of the tests' own
//! ([`amqp_tests::cluster`]): what a client sees when the node it is
//! connected to dies, and that a quorum queue's confirmed messages survive
//! it. Needs RabbitMQ installed (not running: the cluster is started here);
//! fails, saying why, without it.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, Error, FieldTable};
use amqp_tests::cluster::Cluster;

/// kill -9 of the connected node: the connection fails with a typed error
/// within two heartbeat intervals (never hangs); opening over the cluster's
/// endpoints reaches a live node, where every confirmed message of the
/// quorum queue is still there.
#[test]
fn a_killed_node_fails_its_connections_and_keeps_confirmed_quorum_messages() {
    let mut cluster = Cluster::start(3);
    let conn = Connection::open(cluster.params(0).without_recovery()).unwrap();
    let ch = conn.channel().unwrap();
    let mut args = FieldTable::new();
    args.insert("x-queue-type", "quorum");
    let q = amqp_tests::live::unique("q-quorum");
    ch.queue_declare(
        &q,
        QueueDeclareOptions {
            durable: true,
            arguments: args,
            ..Default::default()
        },
    )
    .unwrap();
    ch.confirm_delivery().unwrap();
    let n = 200;
    for i in 0..n {
        ch.basic_publish(
            "",
            &q,
            format!("{i}").as_bytes(),
            &BasicProperties::default(),
            false,
        )
        .unwrap();
    }

    cluster.kill(0);
    let killed = Instant::now();
    let e = loop {
        match ch.basic_publish("", &q, b"after", &BasicProperties::default(), false) {
            Err(e) => break e,
            Ok(()) => {
                assert!(
                    killed.elapsed() < Duration::from_secs(10),
                    "publishes still confirmed 10 s after the node was killed"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "the failure took {:?}",
        killed.elapsed()
    );
    assert!(e.reconnect_may_help(), "{e:?}");
    assert!(conn.is_closed());
    assert!(
        matches!(
            &e,
            Error::StreamLost(_) | Error::HeartbeatTimeout | Error::ConnectionClosedByBroker(_)
        ),
        "{e:?}"
    );

    // Over every endpoint, the dead one first: a live node answers.
    let endpoints = vec![cluster.params(0), cluster.params(1), cluster.params(2)];
    let started = Instant::now();
    let conn = Connection::open(endpoints).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let ch = conn.channel().unwrap();
    // The quorum queue elects a new leader: every confirmed message is there.
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(20)))
        .unwrap();
    let mut seen = vec![false; n];
    let mut got = 0;
    while got < n {
        let d = it
            .next()
            .unwrap()
            .unwrap()
            .expect("a confirmed message is missing");
        let body = String::from_utf8_lossy(&d.body).into_owned();
        if let Ok(i) = body.parse::<usize>() {
            if !seen[i] {
                seen[i] = true;
                got += 1;
            }
        }
        ch.basic_ack(d.delivery_tag, false).unwrap();
    }
    drop(it);
    ch.queue_delete(&q, Default::default()).unwrap();
    conn.close().unwrap();
}
