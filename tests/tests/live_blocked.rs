//! connection.blocked / unblocked from a real memory alarm. In its own test
//! binary, so that no other live test publishes while the broker is blocked;
//! the watermark is always restored, even when the test fails.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::Error;
use amqp_protocol::BasicProperties;
use amqp_tests::live::{params, rabbitmqctl};

/// Restores the default watermark when dropped.
struct Watermark;

impl Watermark {
    fn set(value: &str) -> Watermark {
        rabbitmqctl(&["set_vm_memory_high_watermark", value]);
        Watermark
    }
}

impl Drop for Watermark {
    fn drop(&mut self) {
        rabbitmqctl(&["set_vm_memory_high_watermark", "0.4"]);
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn blocked_unblocked_and_blocked_timeout() {
    let conn = Connection::open(params()).unwrap();
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let s = seen.clone();
    conn.on_blocked(move |reason| s.lock().unwrap().push(reason.map(str::to_owned)));
    let ch = conn.channel().unwrap();
    let q = ch
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )
        .unwrap()
        .queue;

    {
        let _alarm = Watermark::set("0.0000001");
        // RabbitMQ blocks a connection when it publishes during an alarm.
        ch.basic_publish(
            "",
            &q,
            b"during the alarm",
            &BasicProperties::default(),
            false,
        )
        .unwrap();
        wait_until("connection.blocked", Duration::from_secs(10), || {
            conn.is_blocked()
        });
        conn.process_data_events(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(
            matches!(seen.lock().unwrap().first(), Some(Some(reason)) if reason.contains("memory")),
            "{seen:?}"
        );
    }
    wait_until("connection.unblocked", Duration::from_secs(10), || {
        !conn.is_blocked()
    });
    conn.process_data_events(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&None));
    ch.queue_delete(&q, false, false).unwrap();
    conn.close().unwrap();

    // blocked_connection_timeout: blocked for longer closes the connection.
    let conn =
        Connection::open(params().with_blocked_connection_timeout(Duration::from_secs(1))).unwrap();
    let ch = conn.channel().unwrap();
    let _alarm = Watermark::set("0.0000001");
    ch.basic_publish(
        "",
        "amq.no-such-queue",
        b"x",
        &BasicProperties::default(),
        false,
    )
    .unwrap();
    wait_until("the blocked timeout", Duration::from_secs(10), || {
        conn.is_closed()
    });
    assert!(
        matches!(conn.close_reason(), Some(Error::BlockedConnectionTimeout)),
        "{:?}",
        conn.close_reason()
    );
}
