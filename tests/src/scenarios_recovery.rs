//! Live scenarios of automatic recovery, against the local RabbitMQ, for
//! every adapter: `rabbitmqctl close_connection` (320 connection-forced)
//! in the middle of a confirmed publish run, and in the middle of a
//! consumption with manual acknowledgements.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqp_client::blocking::{ConsumeOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, Error};

use crate::adapter::{Adapter, Chan};
use crate::live::{connection_pid, rabbitmqctl, recovering_params, unique};

/// Closes the broker's side of the connection named `name` from another
/// thread once `go` is set; the thread returns the closed connection's pid.
fn close_when(name: String, go: Arc<AtomicBool>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !go.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the run never asked for the close"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = (0..100)
            .find_map(|_| {
                connection_pid(&name).or_else(|| {
                    std::thread::sleep(Duration::from_millis(50));
                    None
                })
            })
            .expect("the broker lists the connection");
        rabbitmqctl(&["close_connection", &pid, "test: forced close"]);
        pid
    })
}

/// The connection named `name` is there again, another one than `closed`.
fn assert_reconnected(name: &str, closed: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connection_pid(name) {
            Some(pid) if pid != closed => return,
            _ => assert!(Instant::now() < deadline, "no new connection named {name}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A durable classic queue for the run; deleted by the caller.
fn queue(ch: &dyn Chan) -> String {
    let q = unique("q-recover");
    let o = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(&q, o).unwrap();
    q
}

/// Every message's number, read back from the queue (each at least once);
/// how many were read in all.
fn drain(ch: &dyn Chan, q: &str, n: usize) -> (Vec<bool>, usize) {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let count = ch.queue_declare(q, passive).unwrap().message_count as usize;
    let o = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut it = ch.consume(q, o, Some(Duration::from_secs(10))).unwrap();
    let mut seen = vec![false; n];
    for _ in 0..count {
        let m = it
            .next_delivery()
            .unwrap()
            .unwrap()
            .expect("a message within 10 s");
        let i: usize = String::from_utf8_lossy(&m.body).parse().unwrap();
        seen[i] = true;
    }
    (seen, count)
}

/// A forced close in the middle of a pipelined confirmed publish run: the
/// connection recovers by itself, every publish gets an outcome and every
/// one is acked (those unconfirmed at the close published again), and
/// every message is in the queue at least once.
pub fn a_forced_close_during_confirmed_publishes_loses_nothing(a: &dyn Adapter) {
    let p = recovering_params();
    let name = p.connection_name().unwrap().to_owned();
    let conn = a.open(vec![p]).unwrap();
    let ch = conn.channel().unwrap();
    let q = queue(&*ch);
    ch.confirm_delivery().unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let closer = close_when(name.clone(), go.clone());
    // Publishes go on until well after the close landed.
    let mut window = VecDeque::new();
    let mut outcomes = 0;
    let mut i = 0;
    let mut after_close = None;
    while after_close.is_none_or(|k| i < k) {
        if i == 500 {
            go.store(true, Ordering::SeqCst);
        }
        if after_close.is_none() && closer.is_finished() {
            after_close = Some(i + 1000);
        }
        assert!(i < 1_000_000, "the close never landed");
        let c = ch
            .publish_with_confirm(
                "",
                &q,
                i.to_string().as_bytes(),
                &BasicProperties::default(),
                false,
            )
            .unwrap();
        window.push_back(c);
        if window.len() >= 64 {
            window.pop_front().unwrap().wait().unwrap();
            outcomes += 1;
        }
        if i >= 500 && i % 16 == 0 {
            // A steady rate while the close comes: enough to have
            // publishes in flight, not so many that draining takes long.
            std::thread::sleep(Duration::from_millis(1));
        }
        i += 1;
    }
    let n = i;
    for c in window {
        c.wait().unwrap();
        outcomes += 1;
    }
    assert_eq!(outcomes, n);
    let closed = closer.join().unwrap();
    assert_reconnected(&name, &closed);
    assert!(conn.is_open(), "recovered");
    let (seen, read) = drain(&*ch, &q, n);
    let missing: Vec<usize> = (0..n).filter(|i| !seen[*i]).collect();
    assert!(missing.is_empty(), "confirmed but missing: {missing:?}");
    assert!(read >= n, "{read} read");
    ch.queue_delete(&q, Default::default()).unwrap();
    conn.close().unwrap();
}

/// A forced close in the middle of a consumption with manual acks: the
/// consumer carries on by itself, every message is processed at least
/// once, an acknowledgement of a delivery from before the close is refused
/// with a typed error (never sent), and the queue ends empty.
pub fn a_forced_close_during_consumption_loses_nothing(a: &dyn Adapter) {
    let p = recovering_params();
    let name = p.connection_name().unwrap().to_owned();
    let conn = a.open(vec![p]).unwrap();
    let ch = conn.channel().unwrap();
    let q = queue(&*ch);
    let n = 2000;
    for i in 0..n {
        ch.basic_publish(
            "",
            &q,
            i.to_string().as_bytes(),
            &BasicProperties::default(),
            false,
        )
        .unwrap();
    }
    ch.basic_qos(0, 50, false).unwrap();
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(20)))
        .unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let closer = close_when(name.clone(), go.clone());
    let mut seen = vec![false; n];
    let mut processed = 0;
    let mut stale = 0;
    let started = Instant::now();
    while seen.iter().any(|s| !s) {
        assert!(started.elapsed() < Duration::from_secs(60), "stuck");
        let d = it
            .next_delivery()
            .expect("the consumer goes on")
            .expect("no error across the recovery")
            .expect("a delivery within 20 s");
        let i: usize = String::from_utf8_lossy(&d.body).parse().unwrap();
        seen[i] = true;
        processed += 1;
        if processed == n / 4 {
            go.store(true, Ordering::SeqCst);
        }
        if processed >= n / 4 && !closer.is_finished() {
            // Slowly, so that the close lands in the middle.
            std::thread::sleep(Duration::from_millis(2));
        }
        match ch.basic_ack(d.delivery_tag, false) {
            Ok(()) => {}
            Err(Error::StaleDeliveryTag { .. }) | Err(Error::Recovering) => stale += 1,
            Err(e) => panic!("ack: {e}"),
        }
    }
    let closed = closer.join().unwrap();
    assert_reconnected(&name, &closed);
    assert!(processed >= n);
    assert!(stale <= 51, "{stale} stale acknowledgements");
    drop(it);
    // Everything acknowledged: the queue is empty once the last acks land.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = ch
            .queue_declare(
                &q,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
            )
            .unwrap();
        if ok.message_count == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} messages left",
            ok.message_count
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ch.queue_delete(&q, Default::default()).unwrap();
    conn.close().unwrap();
}

/// Defines the recovery scenarios as `#[test]`s for `$adapter`.
#[macro_export]
macro_rules! live_recovery_scenarios {
    ($adapter:expr) => {
        #[test]
        fn a_forced_close_during_confirmed_publishes_loses_nothing() {
            $crate::scenarios_recovery::a_forced_close_during_confirmed_publishes_loses_nothing(
                &$adapter,
            );
        }

        #[test]
        fn a_forced_close_during_consumption_loses_nothing() {
            $crate::scenarios_recovery::a_forced_close_during_consumption_loses_nothing(&$adapter);
        }
    };
}
