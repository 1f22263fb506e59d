//! Automatic recovery against a 3-node RabbitMQ cluster of the tests' own
//! ([`amqp_tests::cluster`]): the node the client is connected to is
//! killed, frozen, or cut off by a firewall rule, and the client carries
//! on through another node with nothing confirmed lost. Needs RabbitMQ
//! installed (the cluster is started here), and for the partition test
//! root and iptables; fails, saying why, without them. The tests run one
//! at a time (each starts its own cluster).

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqp_client::blocking::{Channel, Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::core::client::RecoveryEvent;
use amqp_client::{BasicProperties, Error, FieldTable};
use amqp_tests::cluster::Cluster;
use amqp_tests::live::unique;

/// One cluster at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    amqp_tests::log::init();
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every node, the one at `first` first (the client connects there).
fn endpoints(cluster: &Cluster, first: usize) -> Vec<amqp_client::ConnectionParameters> {
    let n = cluster.nodes.len();
    (0..n).map(|k| cluster.params((first + k) % n)).collect()
}

fn quorum(ch: &Channel, q: &str) {
    let mut arguments = FieldTable::new();
    arguments.insert("x-queue-type", "quorum");
    let o = QueueDeclareOptions {
        durable: true,
        arguments,
        ..Default::default()
    };
    ch.queue_declare(q, o).unwrap();
}

/// Reads every message of `q` (no-ack) through `ch`: how many times each
/// number was seen.
fn drain(ch: &Channel, q: &str, n: usize) -> Vec<u32> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let count = ch.queue_declare(q, passive).unwrap().message_count as usize;
    ch.basic_qos(0, 1000, false).unwrap();
    let o = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut it = ch.consume(q, o, Some(Duration::from_secs(20))).unwrap();
    let mut seen = vec![0u32; n];
    for _ in 0..count {
        let d = it.next().unwrap().unwrap().expect("a message within 20 s");
        let i: usize = String::from_utf8_lossy(&d.body).parse().unwrap();
        seen[i] += 1;
    }
    seen
}

/// Publishes `n` numbered messages with a window of `window` confirms in
/// flight; `fault` runs once `at` were published. Every publish must have
/// an outcome, and every outcome be an ack. Returns when the first publish
/// after the fault was confirmed, counted from the fault.
fn publish_through(
    ch: &Channel,
    q: &str,
    n: usize,
    window: usize,
    at: usize,
    fault: &mut dyn FnMut(),
) -> Duration {
    let mut pending = VecDeque::new();
    let mut faulted = None;
    let mut resumed = None;
    for i in 0..n {
        if i == at {
            fault();
            faulted = Some((Instant::now(), i));
        }
        let c = ch
            .publish_with_confirm(
                "",
                q,
                i.to_string().as_bytes(),
                &BasicProperties::default(),
                false,
            )
            .unwrap_or_else(|e| panic!("publish {i}: {e}"));
        pending.push_back((i, c));
        while pending.len() >= window {
            let (k, c) = pending.pop_front().unwrap();
            c.wait(None).unwrap_or_else(|e| {
                let after = faulted.map(|(t, _)| t.elapsed());
                panic!("publish {k}: {e} ({after:?} after the fault)")
            });
            if let Some((t, from)) = faulted {
                if resumed.is_none() && k >= from {
                    resumed = Some(t.elapsed());
                }
            }
        }
    }
    for (k, c) in pending {
        c.wait(None).unwrap_or_else(|e| panic!("publish {k}: {e}"));
        if let Some((t, from)) = faulted {
            if resumed.is_none() && k >= from {
                resumed = Some(t.elapsed());
            }
        }
    }
    resumed.expect("publishes after the fault")
}

/// kill -9 of the connected node (the quorum queue's leader) during
/// 100,000 confirmed publishes: the client recovers through another node,
/// every publish is acked (nacks during the leader election are retried),
/// and draining the queue finds every number, duplicates counted.
#[test]
fn kill_9_during_confirmed_publishes_loses_nothing() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let conn = Connection::open(endpoints(&cluster, 0)).unwrap();
    let ch = conn.channel().unwrap();
    let q = unique("q-kill");
    quorum(&ch, &q);
    ch.confirm_delivery().unwrap();
    let n = 100_000;
    let started = Instant::now();
    let resumed = publish_through(&ch, &q, n, 256, n / 3, &mut || cluster.kill(0));
    eprintln!(
        "100,000 confirmed publishes in {:?}; publishing resumed {resumed:?} after the kill",
        started.elapsed()
    );
    assert!(conn.is_open());
    let reader = Connection::open(endpoints(&cluster, 1)).unwrap();
    let rch = reader.channel().unwrap();
    let seen = drain(&rch, &q, n);
    let missing: Vec<usize> = (0..n).filter(|i| seen[*i] == 0).collect();
    let duplicates: u32 = seen.iter().map(|c| c.saturating_sub(1)).sum();
    eprintln!("{duplicates} duplicates (published again after the kill)");
    assert!(
        missing.is_empty(),
        "{} confirmed but missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    rch.queue_delete(&q, Default::default()).unwrap();
}

/// A consumer with manual acks on a quorum queue whose node is killed:
/// it carries on through another node, processes every message at least
/// once, and never settles a message it was not given (an ack of a tag
/// from before the recovery is refused, not sent): the queue ends empty
/// with every message seen.
#[test]
fn kill_9_during_consumption_processes_everything() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let q = unique("q-consume");
    let n = 5000;
    {
        let publisher = Connection::open(endpoints(&cluster, 1)).unwrap();
        let ch = publisher.channel().unwrap();
        quorum(&ch, &q);
        ch.confirm_delivery().unwrap();
        let mut pending = VecDeque::new();
        for i in 0..n {
            pending.push_back(
                ch.publish_with_confirm(
                    "",
                    &q,
                    i.to_string().as_bytes(),
                    &BasicProperties::default(),
                    false,
                )
                .unwrap(),
            );
            if pending.len() > 256 {
                pending.pop_front().unwrap().wait(None).unwrap();
            }
        }
        for c in pending {
            c.wait(None).unwrap();
        }
    }
    let conn = Connection::open(endpoints(&cluster, 0)).unwrap();
    let ch = conn.channel().unwrap();
    ch.basic_qos(0, 100, false).unwrap();
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(30)))
        .unwrap();
    let mut seen = vec![0u32; n];
    let mut stale = 0;
    let mut processed = 0;
    while seen.contains(&0) {
        let d = it
            .next()
            .expect("the consumer goes on")
            .expect("no error across the recovery")
            .expect("a delivery within 30 s");
        let i: usize = String::from_utf8_lossy(&d.body).parse().unwrap();
        seen[i] += 1;
        processed += 1;
        if processed == n / 3 {
            cluster.kill(0);
        }
        match ch.basic_ack(d.delivery_tag, false) {
            Ok(()) => {}
            Err(Error::StaleDeliveryTag { .. } | Error::Recovering) => stale += 1,
            Err(e) => panic!("ack: {e}"),
        }
    }
    drop(it);
    let redelivered: u32 = seen.iter().map(|c| c.saturating_sub(1)).sum();
    eprintln!("{redelivered} delivered again, {stale} acknowledgements refused as stale");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = ch.queue_declare(&q, passive.clone()).unwrap().message_count;
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} messages left unsettled");
        std::thread::sleep(Duration::from_millis(200));
    }
    ch.queue_delete(&q, Default::default()).unwrap();
}

/// The time from a fault of node 0 until a confirmed publish through the
/// recovered connection, with heartbeat 2 s (the queue's leader on node
/// 1, which stays up).
fn resume_after(cluster: &Cluster, fault: &mut dyn FnMut()) -> Duration {
    let q = unique("q-resume");
    {
        let leader = Connection::open(endpoints(cluster, 1)).unwrap();
        quorum(&leader.channel().unwrap(), &q);
    }
    let conn = Connection::open(endpoints(cluster, 0)).unwrap();
    let ch = conn.channel().unwrap();
    ch.confirm_delivery().unwrap();
    let resumed = publish_through(&ch, &q, 2000, 16, 500, fault);
    let other = Connection::open(endpoints(cluster, 1)).unwrap();
    let och = other.channel().unwrap();
    let seen = drain(&och, &q, 2000);
    assert!(
        seen.iter().all(|c| *c > 0),
        "a confirmed message is missing"
    );
    och.queue_delete(&q, Default::default()).unwrap();
    resumed
}

/// SIGSTOP of the connected node for 30 s: the heartbeats notice, the
/// client recovers through another node, and publishing resumes within two
/// heartbeat intervals plus 5 s.
#[test]
fn a_frozen_node_is_left_within_two_heartbeats() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let frozen = Arc::new(Mutex::new(None::<Instant>));
    let resumed = resume_after(&cluster, &mut || {
        cluster.freeze(0);
        *frozen.lock().unwrap() = Some(Instant::now());
    });
    eprintln!("publishing resumed {resumed:?} after the freeze");
    assert!(
        resumed < Duration::from_secs(2 * 2 + 5),
        "resumed after {resumed:?}"
    );
    let since = frozen.lock().unwrap().unwrap().elapsed();
    std::thread::sleep(Duration::from_secs(30).saturating_sub(since));
    cluster.thaw(0);
}

/// A silent partition: iptables drops the client's traffic to its node
/// (no RST, no FIN); publishing resumes through another node within two
/// heartbeat intervals plus 5 s.
#[test]
fn a_silent_partition_is_left_within_two_heartbeats() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let port = cluster.nodes[0].amqp_port;
    let mut cut = None;
    let resumed = resume_after(&cluster, &mut || {
        cut = Some(amqp_tests::firewall::Drop::port(port));
    });
    drop(cut);
    eprintln!("publishing resumed {resumed:?} after the partition");
    assert!(
        resumed < Duration::from_secs(2 * 2 + 5),
        "resumed after {resumed:?}"
    );
}

/// A stream consumer that loses its node resumes from the offset after the
/// last one it acknowledged: no gap, and duplicates only within the window
/// of unacknowledged deliveries.
#[test]
fn a_stream_consumer_resumes_without_a_gap() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let q = unique("s-stream");
    let n = 3000;
    let prefetch = 50;
    {
        let publisher = Connection::open(endpoints(&cluster, 1)).unwrap();
        let ch = publisher.channel().unwrap();
        let mut arguments = FieldTable::new();
        arguments.insert("x-queue-type", "stream");
        let o = QueueDeclareOptions {
            durable: true,
            arguments,
            ..Default::default()
        };
        ch.queue_declare(&q, o).unwrap();
        ch.confirm_delivery().unwrap();
        let mut pending = VecDeque::new();
        for i in 0..n {
            pending.push_back(
                ch.publish_with_confirm(
                    "",
                    &q,
                    i.to_string().as_bytes(),
                    &BasicProperties::default(),
                    false,
                )
                .unwrap(),
            );
            if pending.len() > 256 {
                pending.pop_front().unwrap().wait(None).unwrap();
            }
        }
        for c in pending {
            c.wait(None).unwrap();
        }
    }
    let conn = Connection::open(endpoints(&cluster, 0)).unwrap();
    let ch = conn.channel().unwrap();
    ch.basic_qos(0, prefetch, false).unwrap();
    let mut arguments = FieldTable::new();
    arguments.insert("x-stream-offset", "first");
    let o = ConsumeOptions {
        arguments,
        ..Default::default()
    };
    let mut it = ch.consume(&q, o, Some(Duration::from_secs(30))).unwrap();
    let mut seen = vec![0u32; n];
    let mut next_expected = 0usize;
    let mut processed = 0;
    while next_expected < n {
        let d = it
            .next()
            .expect("the consumer goes on")
            .expect("no error across the recovery")
            .expect("a delivery within 30 s");
        let i: usize = String::from_utf8_lossy(&d.body).parse().unwrap();
        assert!(i <= next_expected, "a gap: {i} after {next_expected}");
        seen[i] += 1;
        next_expected = next_expected.max(i + 1);
        processed += 1;
        if processed == n / 3 {
            cluster.kill(0);
        }
        let _ = ch.basic_ack(d.delivery_tag, false);
    }
    let duplicates: u32 = seen.iter().map(|c| c.saturating_sub(1)).sum();
    eprintln!("{duplicates} delivered twice");
    assert!(
        duplicates <= u32::from(prefetch),
        "{duplicates} duplicates, more than the {prefetch} unacknowledged"
    );
    drop(it);
    let other = Connection::open(endpoints(&cluster, 1)).unwrap();
    other
        .channel()
        .unwrap()
        .queue_delete(&q, Default::default())
        .unwrap();
}

/// A server-named exclusive queue, bound, with a consumer, on the node
/// that is killed: recovery declares it anew on another node, tells the
/// application its new name, moves its binding and consumer there, and
/// messages routed to the binding reach the consumer.
#[test]
fn a_server_named_queue_comes_back_under_a_new_name() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let conn = Connection::open(endpoints(&cluster, 0)).unwrap();
    let renamed = Arc::new(Mutex::new(None::<(String, String)>));
    let r = renamed.clone();
    conn.on_recovery(move |e| {
        if let RecoveryEvent::QueueRenamed { old, new } = e {
            *r.lock().unwrap() = Some((old.clone(), new.clone()));
        }
    });
    let ch = conn.channel().unwrap();
    let o = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let old = ch.queue_declare("", o).unwrap().queue;
    let key = unique("key");
    ch.queue_bind(&old, "amq.direct", &key, FieldTable::new())
        .unwrap();
    let o = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut it = ch.consume(&old, o, Some(Duration::from_secs(20))).unwrap();
    cluster.kill(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while conn.is_recovering() || !conn.is_open() {
        assert!(Instant::now() < deadline, "not recovered within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The new binding exists once recovered: a message routed to it reaches
    // the consumer.
    let publisher = Connection::open(endpoints(&cluster, 2)).unwrap();
    let pch = publisher.channel().unwrap();
    pch.basic_publish(
        "amq.direct",
        &key,
        b"after",
        &BasicProperties::default(),
        true,
    )
    .unwrap();
    let d = it
        .next()
        .unwrap()
        .unwrap()
        .expect("the message within 20 s");
    assert_eq!(&d.body[..], b"after");
    // The rename reached the application (recovery events run where
    // callbacks run).
    conn.process_data_events(Some(Duration::ZERO)).unwrap();
    let (from, to) = renamed
        .lock()
        .unwrap()
        .clone()
        .expect("a QueueRenamed event");
    assert_eq!(from, old);
    assert_ne!(to, old);
    assert!(to.starts_with("amq.gen-"), "{to}");
}
