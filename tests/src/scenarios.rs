//! Live scenarios against the local RabbitMQ, written once against the
//! [`Adapter`] traits so that every adapter runs
//! them: every client method, the broker's refusals as typed errors,
//! heartbeats during long callbacks, a forced close, a dead peer. Each
//! scenario deletes what it declares.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use amqp_client::blocking::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions, NackOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client::{ConnectionParameters, Credentials, Error, Heartbeat};
use amqp_protocol::{basic, BasicProperties, FieldTable, ReplyCode, ShortStr};

use crate::adapter::{Adapter, Chan, Confirm, Conn};
use crate::live::{
    broker_url, connection_pid, exchange_names, params, queue_names, rabbitmqctl,
    require_local_broker, unique, Relay,
};

fn connect(a: &dyn Adapter) -> Box<dyn Conn> {
    a.open(vec![params()])
        .expect("connect to the local RabbitMQ")
}

/// A new exclusive queue with a name the broker chooses (deleted with the
/// connection).
fn exclusive_queue(ch: &dyn Chan) -> String {
    ch.queue_declare(
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .unwrap()
    .queue
}

fn text() -> BasicProperties {
    BasicProperties::default().with_content_type(ShortStr::from_static("text/plain"))
}

fn channel_code(e: &Error) -> Option<u16> {
    match e {
        Error::ChannelClosedByBroker { close, .. } => Some(close.code.0),
        _ => None,
    }
}

pub fn exchanges_declare_bind_unbind_delete(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let (a, b) = (unique("ex-a"), unique("ex-b"));
    ch.exchange_declare(&a, "topic", ExchangeDeclareOptions::default())
        .unwrap();
    ch.exchange_declare(
        &b,
        "fanout",
        ExchangeDeclareOptions {
            auto_delete: false,
            ..Default::default()
        },
    )
    .unwrap();
    ch.exchange_declare(
        &a,
        "topic",
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
    )
    .unwrap();
    ch.exchange_bind(&b, &a, "x.*", FieldTable::new()).unwrap();
    // A message published to a reaches a queue bound to b.
    let q = exclusive_queue(&*ch);
    ch.queue_bind(&q, &b, "", FieldTable::new()).unwrap();
    ch.basic_publish(&a, "x.y", b"via e2e", &text(), false)
        .unwrap();
    let got = wait_get(&*ch, &q);
    assert_eq!(got.body, "via e2e");
    ch.exchange_unbind(&b, &a, "x.*", FieldTable::new())
        .unwrap();
    ch.exchange_delete(&a, ExchangeDeleteOptions::default())
        .unwrap();
    // b still routes to q: if-unused refuses with 406.
    let e = ch
        .exchange_delete(&b, ExchangeDeleteOptions { if_unused: true })
        .unwrap_err();
    assert_eq!(channel_code(&e), Some(406), "{e:?}");
    let ch2 = conn.channel().unwrap();
    ch2.exchange_delete(&b, ExchangeDeleteOptions::default())
        .unwrap();
    ch2.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    let left = exchange_names();
    assert!(!left.contains(&a) && !left.contains(&b));
    conn.close().unwrap();
}

fn wait_get(ch: &dyn Chan, q: &str) -> Delivery {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(m) = ch.basic_get(q, true).unwrap() {
            return m.delivery;
        }
        assert!(Instant::now() < deadline, "no message in {q}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn queues_declare_bind_purge_unbind_delete_and_get(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = unique("q");
    let mut args = FieldTable::new();
    args.insert(ShortStr::from_static("x-max-length"), 100i32);
    let ok = ch
        .queue_declare(
            &q,
            QueueDeclareOptions {
                arguments: args,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (ok.queue.as_str(), ok.message_count, ok.consumer_count),
        (q.as_str(), 0, 0)
    );
    ch.queue_bind(&q, "amq.direct", &q, FieldTable::new())
        .unwrap();
    ch.confirm_delivery().unwrap();
    for i in 0..3 {
        ch.basic_publish("amq.direct", &q, format!("m{i}").as_bytes(), &text(), true)
            .unwrap();
    }
    let got = ch.basic_get(&q, false).unwrap().unwrap();
    assert_eq!(
        (got.delivery.body.as_ref(), got.message_count),
        (&b"m0"[..], 2)
    );
    assert_eq!(
        got.delivery.properties.content_type.as_ref().unwrap(),
        "text/plain"
    );
    ch.basic_reject(got.delivery.delivery_tag, true).unwrap();
    let again = ch.basic_get(&q, false).unwrap().unwrap();
    assert!(again.delivery.redelivered);
    ch.basic_nack(again.delivery.delivery_tag, NackOptions::default())
        .unwrap();
    assert_eq!(ch.queue_purge(&q).unwrap(), 3);
    assert!(ch.basic_get(&q, true).unwrap().is_none());
    ch.queue_unbind(&q, "amq.direct", &q, FieldTable::new())
        .unwrap();
    // Unbound: a mandatory publish is now returned, and the confirm says so.
    let e = ch
        .basic_publish("amq.direct", &q, b"lost?", &text(), true)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Unroutable(c) if c.code == ReplyCode::NO_ROUTE),
        "{e:?}"
    );
    assert_eq!(
        ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap(),
        0
    );
    assert!(!queue_names().contains(&q));
    conn.close().unwrap();
}

pub fn consume_with_callbacks_ack_from_another_thread_and_cancel(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    ch.basic_qos(0, 10, false).unwrap();
    for i in 0..20 {
        ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
            .unwrap();
    }
    let (tx, rx) = mpsc::channel::<(Box<dyn Chan>, u64)>();
    // A worker thread acks what the consuming thread receives.
    let worker = std::thread::spawn(move || {
        let mut n = 0;
        while let Ok((ch, tag)) = rx.recv() {
            ch.basic_ack(tag, false).unwrap();
            n += 1;
        }
        n
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let tag = ch
        .basic_consume(
            &q,
            ConsumeOptions::default(),
            Box::new(move |ch: &dyn Chan, d| {
                tx.send((ch.clone_box(), d.delivery_tag)).unwrap();
                if s.fetch_add(1, Ordering::SeqCst) + 1 == 20 {
                    ch.stop_consuming().unwrap();
                }
            }),
        )
        .unwrap();
    assert!(tag.starts_with("amqp-client."));
    ch.start_consuming().unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 20);
    // Cancelling dropped the callback and its sender: the worker finishes
    // its acks and ends.
    assert_eq!(worker.join().unwrap(), 20);
    ch.close().unwrap();
    // All acked: nothing left.
    let ch = conn.channel().unwrap();
    assert_eq!(
        ch.queue_declare(
            &q,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            }
        )
        .unwrap()
        .message_count,
        0
    );
    conn.close().unwrap();
}

pub fn consume_iterator_cancel_requeues(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    for i in 0..15 {
        ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
            .unwrap();
    }
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    for i in 0..10 {
        let d = it.next_delivery().unwrap().unwrap().unwrap();
        assert_eq!(d.body, format!("{i}"));
        ch.basic_ack(d.delivery_tag, false).unwrap();
    }
    // Let the remaining five arrive in the client's buffer.
    std::thread::sleep(Duration::from_millis(200));
    let requeued = it.cancel().unwrap();
    assert_eq!(requeued, 5);
    // The broker applies requeues asynchronously to queue.declare's count.
    let deadline = Instant::now() + Duration::from_secs(5);
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
        if ok.message_count == 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} ready, 5 expected",
            ok.message_count
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // An empty queue: the inactivity timeout yields None.
    ch.queue_purge(&q).unwrap();
    let mut it = ch
        .consume(
            &q,
            ConsumeOptions::default(),
            Some(Duration::from_millis(100)),
        )
        .unwrap();
    assert!(matches!(it.next_delivery(), Some(Ok(None))));
    assert_eq!(it.cancel().unwrap(), 0);
    conn.close().unwrap();
}

pub fn broker_cancel_ends_the_consumer_with_a_typed_error(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = unique("q-cancel");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    conn.channel()
        .unwrap()
        .queue_delete(&q, QueueDeleteOptions::default())
        .unwrap();
    let e = it.next_delivery().unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::ConsumerCancelled { consumer_tag } if *consumer_tag == it.consumer_tag()),
        "{e:?}"
    );
    assert!(it.next_delivery().is_none());
    conn.close().unwrap();
}

pub fn pipelined_confirms_tx_recover_flow(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    ch.confirm_delivery().unwrap();
    let handles: Vec<Box<dyn Confirm>> = (0..500)
        .map(|i| {
            ch.publish_with_confirm("", &q, format!("{i}").as_bytes(), &text(), false)
                .unwrap()
        })
        .collect();
    assert_eq!(handles[0].sequence_number(), 1);
    assert!(handles.into_iter().map(|h| h.wait()).all(|r| r.is_ok()));
    assert_eq!(ch.queue_purge(&q).unwrap(), 500);

    let tx = conn.channel().unwrap();
    tx.tx_select().unwrap();
    tx.basic_publish("", &q, b"rolled back", &text(), false)
        .unwrap();
    tx.tx_rollback().unwrap();
    tx.basic_publish("", &q, b"committed", &text(), false)
        .unwrap();
    tx.tx_commit().unwrap();
    let got = tx.basic_get(&q, false).unwrap().unwrap();
    assert_eq!(got.delivery.body, "committed");
    tx.tx_commit().unwrap();
    tx.basic_recover(true).unwrap();
    assert!(tx.flow(true).unwrap());
    conn.close().unwrap();
}

pub fn not_found_and_precondition_failed_close_the_channel_only(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let e = ch
        .queue_declare(
            &unique("missing"),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(channel_code(&e), Some(404), "{e:?}");
    assert!(!e.reconnect_may_help());
    assert!(!ch.is_open());
    assert!(matches!(
        ch.queue_purge("x").unwrap_err(),
        Error::ChannelClosedByBroker { .. }
    ));
    let ch = conn.channel().unwrap();
    let q = unique("q-406");
    ch.queue_declare(
        &q,
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut args = FieldTable::new();
    args.insert(ShortStr::from_static("x-max-length"), 5i32);
    let e = ch
        .queue_declare(
            &q,
            QueueDeclareOptions {
                exclusive: true,
                arguments: args,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(channel_code(&e), Some(406), "{e:?}");
    assert!(conn.is_open());
    conn.channel()
        .unwrap()
        .queue_delete(&q, QueueDeleteOptions::default())
        .unwrap();
    conn.close().unwrap();
}

/// A channel closed by the broker gives its id back, and the next channel
/// gets it. The old handle (its publishes, acks, confirms and consumer) must
/// keep failing with the old channel's error, never act on the new channel.
pub fn a_stale_handle_never_acts_on_the_channel_that_reused_its_id(a: &dyn Adapter) {
    let conn = connect(a);
    let q = unique("stale-handle");
    let old = conn.channel().unwrap();
    old.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    old.confirm_delivery().unwrap();
    let mut consumer = old
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    // 404 closes the old channel.
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let e = old
        .queue_declare(&unique("stale-missing"), passive.clone())
        .unwrap_err();
    assert_eq!(channel_code(&e), Some(404), "{e:?}");

    let new = conn.channel().unwrap();
    assert_eq!(new.id(), old.id(), "the id is reused");
    assert!(new.is_open());
    assert!(!old.is_open());
    // The old handle reports the old close, and leaves the new channel be.
    let e = old
        .basic_publish("", &q, b"stale", &text(), false)
        .unwrap_err();
    assert_eq!(channel_code(&e), Some(404), "{e:?}");
    let e = old
        .publish_with_confirm("", &q, b"stale", &text(), false)
        .err()
        .unwrap();
    assert_eq!(channel_code(&e), Some(404), "{e:?}");
    let e = old.basic_ack(1, false).unwrap_err();
    assert_eq!(channel_code(&e), Some(404), "{e:?}");
    match consumer.next_delivery() {
        Some(Err(e)) => assert_eq!(channel_code(&e), Some(404), "{e:?}"),
        other => panic!("the old consumer: {other:?}"),
    }
    // The new channel works, and nothing was published through the old.
    let ok = new.queue_declare(&q, passive).unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (0, 0));
    new.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    assert!(!queue_names().contains(&q));
    conn.close().unwrap();
}

pub fn refusals_with_540_not_implemented(a: &dyn Adapter) {
    // channel.flow active=false
    let conn = connect(a);
    let e = conn.channel().unwrap().flow(false).unwrap_err();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code == ReplyCode::NOT_IMPLEMENTED),
        "{e:?}"
    );
    assert!(conn.is_closed());
    // basic.publish immediate=true
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    ch.publish_method(
        basic::Publish {
            immediate: true,
            ..Default::default()
        },
        &text(),
        b"now",
    )
    .unwrap();
    let e = ch.basic_qos(0, 1, false).unwrap_err();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code.0 == 540),
        "{e:?}"
    );
}

pub fn wrong_password_is_an_authentication_error_not_a_hang(a: &dyn Adapter) {
    let started = Instant::now();
    let p = params().with_credentials(Credentials::plain("guest", "not-the-password"));
    let e = a.open(vec![p]).unwrap_err();
    assert!(
        matches!(&e, Error::AuthenticationRefused(c) if c.code.0 == 403),
        "{e:?}"
    );
    assert!(!e.to_string().contains("not-the-password"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

pub fn amqplain_and_a_mechanism_list(a: &dyn Adapter) {
    let conn = a
        .open(vec![
            params().with_credentials(Credentials::amqplain("guest", "guest"))
        ])
        .unwrap();
    assert!(conn.is_open());
    conn.close().unwrap();
    // EXTERNAL is not offered without the TLS plugin: PLAIN, next in the list, is used.
    let url = broker_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let uri = format!("{url}{separator}auth_mechanism=external&auth_mechanism=plain");
    let p = ConnectionParameters::from_uri(&uri)
        .unwrap()
        .without_recovery()
        .with_connection_name(unique("conn"));
    let conn = a.open(vec![p]).unwrap();
    assert!(conn.is_open());
    conn.close().unwrap();
    let e = a
        .open(vec![params().with_credentials(Credentials::External)])
        .unwrap_err();
    assert!(
        matches!(&e, Error::MechanismNotOffered { mechanism, .. } if mechanism == "EXTERNAL"),
        "{e:?}"
    );
}

pub fn missing_vhost_is_530(a: &dyn Adapter) {
    let e = a
        .open(vec![params().with_virtual_host(unique("no-such-vhost"))])
        .unwrap_err();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code == ReplyCode::NOT_ALLOWED),
        "{e:?}"
    );
}

pub fn endpoints_are_tried_in_order(a: &dyn Adapter) {
    // A closed port first, then the broker.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let list: Vec<ConnectionParameters> = vec![
        params()
            .with_port(port)
            .with_connection_attempts(2)
            .with_retry_delay(Duration::from_millis(50)),
        params(),
    ];
    // Two attempts, two failures: both reported.
    let e = a.open(vec![list[0].clone()]).unwrap_err();
    let Error::AttemptsFailed(failures) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(failures.len(), 2, "{e:?}");
    for f in failures {
        assert_eq!(f.endpoint, format!("127.0.0.1:{port}"));
        assert!(
            matches!(&f.error, Error::ConnectFailed { endpoint, .. } if *endpoint == f.endpoint),
            "{e:?}"
        );
    }
    assert!(e.reconnect_may_help());
    let conn = a.open(list).unwrap();
    assert!(conn.is_open());
    conn.close().unwrap();
}

pub fn heartbeats_flow_while_a_callback_sleeps(a: &dyn Adapter) {
    let conn = a
        .open(vec![params().with_heartbeat(Heartbeat::Seconds(1))])
        .unwrap();
    assert_eq!(conn.tuning().heartbeat, 1);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    ch.basic_publish("", &q, b"slow", &text(), false).unwrap();
    ch.basic_consume(
        &q,
        ConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        Box::new(|ch: &dyn Chan, _| {
            // Three heartbeat intervals without touching the connection.
            std::thread::sleep(Duration::from_millis(3500));
            ch.stop_consuming().unwrap();
        }),
    )
    .unwrap();
    ch.start_consuming().unwrap();
    assert!(conn.is_open(), "{:?}", conn.close_reason());
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();
}

pub fn forced_close_reaches_a_blocked_consumer_within_a_second(a: &dyn Adapter) {
    let p = params();
    let name = p.connection_name().unwrap().to_owned();
    let conn = a.open(vec![p]).unwrap();
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    let mut it = ch.consume(&q, ConsumeOptions::default(), None).unwrap();
    let pid = (0..50)
        .find_map(|_| {
            connection_pid(&name).or_else(|| {
                std::thread::sleep(Duration::from_millis(100));
                None
            })
        })
        .expect("the broker lists the connection");
    let (tx, rx) = mpsc::channel();
    let consumer = std::thread::spawn(move || {
        let r = it.next_delivery();
        tx.send(Instant::now()).unwrap();
        r
    });
    std::thread::sleep(Duration::from_millis(100));
    rabbitmqctl(&["close_connection", &pid, "test: forced close"]);
    let returned = Instant::now();
    let woke = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the consumer wakes");
    assert!(woke.saturating_duration_since(returned) < Duration::from_secs(1));
    let e = consumer.join().unwrap().unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code.0 == 320),
        "{e:?}"
    );
    assert!(e.reconnect_may_help());
}

pub fn a_peer_that_stops_answering_is_detected_within_two_intervals(a: &dyn Adapter) {
    let relay = Relay::start();
    let p = relay.params().with_heartbeat(Heartbeat::Seconds(1));
    let conn = a.open(vec![p]).unwrap();
    let ch = conn.channel().unwrap();
    let mut it = ch
        .consume(
            "amq.rabbitmq.reply-to",
            ConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            None,
        )
        .unwrap();
    relay.stop_forwarding();
    let stopped = Instant::now();
    let e = it.next_delivery().unwrap().unwrap_err();
    let took = stopped.elapsed();
    assert!(matches!(e, Error::HeartbeatTimeout), "{e:?}");
    assert!(took < Duration::from_secs(3), "detected after {took:?}");
}

pub fn broker_cancel_ends_start_consuming_with_a_typed_error(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = unique("q-cancel-cb");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let tag = ch
        .basic_consume(
            &q,
            ConsumeOptions::default(),
            Box::new(|_: &dyn Chan, _| {}),
        )
        .unwrap();
    conn.channel()
        .unwrap()
        .queue_delete(&q, QueueDeleteOptions::default())
        .unwrap();
    let e = ch.start_consuming().unwrap_err();
    assert!(
        matches!(&e, Error::ConsumerCancelled { consumer_tag } if *consumer_tag == tag),
        "{e:?}"
    );
    conn.close().unwrap();
}

/// The broker's memory high watermark as the Erlang term the broker holds
/// (`0.4`, `{absolute,1073741824}`, ...), so that it can be put back exactly.
pub fn memory_watermark() -> String {
    let term = rabbitmqctl(&["eval", "vm_memory_monitor:get_vm_memory_high_watermark()."]);
    let term = term.trim().to_owned();
    assert!(!term.is_empty(), "the broker gave no memory watermark");
    term
}

/// A memory watermark set for a test; the value found before is put back on
/// drop (also while a failed test unwinds), and checked.
pub struct Watermark {
    found: String,
}

impl Watermark {
    /// Sets the watermark to `value` (a fraction of the machine's memory).
    pub fn set(value: &str) -> Watermark {
        require_local_broker("a memory alarm blocks every publisher of the broker");
        let found = memory_watermark();
        rabbitmqctl(&["set_vm_memory_high_watermark", value]);
        Watermark { found }
    }
}

impl Drop for Watermark {
    fn drop(&mut self) {
        let restore = format!(
            "vm_memory_monitor:set_vm_memory_high_watermark({}).",
            self.found
        );
        rabbitmqctl(&["eval", &restore]);
        let now = memory_watermark();
        if now != self.found && !std::thread::panicking() {
            panic!(
                "the memory watermark is {now} after restoring {}",
                self.found
            );
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "waited {limit:?} on {} for {what}",
            crate::live::broker_addr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// connection.blocked / unblocked from a real memory alarm, and
/// `blocked_connection_timeout`. Must not run beside other live tests: the
/// alarm blocks every publisher.
pub fn blocked_unblocked_and_blocked_timeout(a: &dyn Adapter) {
    require_local_broker("a memory alarm blocks every publisher of the broker");
    let conn = a.open(vec![params()]).unwrap();
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let s = seen.clone();
    conn.on_blocked(Box::new(move |reason| {
        s.lock().unwrap().push(reason.map(str::to_owned))
    }));
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);

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
        conn.run_for(Duration::from_millis(100)).unwrap();
        assert!(
            matches!(seen.lock().unwrap().first(), Some(Some(reason)) if reason.contains("memory")),
            "{seen:?}"
        );
    }
    wait_until("connection.unblocked", Duration::from_secs(10), || {
        !conn.is_blocked()
    });
    conn.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&None));
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();

    // blocked_connection_timeout: blocked for longer closes the connection.
    let conn = a
        .open(vec![
            params().with_blocked_connection_timeout(Duration::from_secs(1))
        ])
        .unwrap();
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

/// A stream of deliveries (which makes reads coalesce, see
/// `ConnectionParameters::with_receive_coalescing`) arrives whole and in
/// order, and a single message after it still arrives at once: a read
/// waiting for a batch that never comes gives up within its window.
pub fn a_stream_then_single_messages_arrive_promptly(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    const STREAM: usize = 4000;
    let body = vec![b'x'; 1024];
    for i in 0..STREAM {
        let mut b = body.clone();
        b[..8].copy_from_slice(&(i as u64).to_be_bytes());
        ch.basic_publish("", &q, &b, &text(), false).unwrap();
    }
    ch.basic_qos(0, 1000, false).unwrap();
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(10)))
        .unwrap();
    for i in 0..STREAM {
        let d = it
            .next_delivery()
            .unwrap()
            .unwrap()
            .expect("a delivery within 10 s");
        assert_eq!(d.body.len(), 1024);
        assert_eq!(
            d.body[..8],
            (i as u64).to_be_bytes(),
            "delivery {i} out of order"
        );
        ch.basic_ack(d.delivery_tag, false).unwrap();
    }
    let mut slowest = Duration::ZERO;
    for i in 0..5 {
        let t0 = Instant::now();
        ch.basic_publish("", &q, format!("single {i}").as_bytes(), &text(), false)
            .unwrap();
        let d = it
            .next_delivery()
            .unwrap()
            .unwrap()
            .expect("a delivery within 10 s");
        slowest = slowest.max(t0.elapsed());
        assert_eq!(d.body, format!("single {i}"));
        ch.basic_ack(d.delivery_tag, false).unwrap();
    }
    // A round trip through the local broker takes about a millisecond; a
    // read stuck on a low-water mark would take a read timeout (200 ms) or
    // a heartbeat interval.
    assert!(
        slowest < Duration::from_millis(100),
        "a single message after the stream took {slowest:?}"
    );
    assert_eq!(it.cancel().unwrap(), 0);
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();
}

/// Large messages streaming in (each over frame-max, so in several body
/// frames; reads fill the read buffer, which then grows) arrive whole, in
/// order, byte for byte.
pub fn large_messages_stream_in_whole(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    const COUNT: usize = 40;
    let body = |i: usize| -> Vec<u8> {
        (0..300_000 + i * 997)
            .map(|k| (k.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8)
            .collect()
    };
    for i in 0..COUNT {
        ch.basic_publish("", &q, &body(i), &text(), false).unwrap();
    }
    ch.basic_qos(0, 100, false).unwrap();
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(10)))
        .unwrap();
    for i in 0..COUNT {
        let d = it
            .next_delivery()
            .unwrap()
            .unwrap()
            .expect("a delivery within 10 s");
        assert!(d.body == body(i), "message {i} differs");
        ch.basic_ack(d.delivery_tag, false).unwrap();
    }
    assert_eq!(it.cancel().unwrap(), 0);
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();
}

/// The messages ready in `q` and its consumers (queue.declare, passive).
fn queue_counts(ch: &dyn Chan, q: &str) -> (u32, u32) {
    let ok = ch
        .queue_declare(
            q,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )
        .unwrap();
    (ok.message_count, ok.consumer_count)
}

/// A stream queue answers a nack or a reject by closing the whole
/// connection (540): cancelling or dropping a stream consumer with
/// deliveries buffered must not send one, whether the consumer says it
/// reads a stream (`x-stream-offset` argument) or only its deliveries do
/// (RabbitMQ's `x-stream-offset` header on each).
pub fn cancel_and_drop_on_a_stream_queue_keep_the_connection(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = unique("q-stream");
    let mut args = FieldTable::new();
    args.insert("x-queue-type", "stream");
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
    for i in 0..30 {
        ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
            .unwrap();
    }
    ch.basic_qos(0, 10, false).unwrap();
    for with_argument in [true, false] {
        let mut arguments = FieldTable::new();
        if with_argument {
            arguments.insert("x-stream-offset", "first");
        }
        let options = ConsumeOptions {
            arguments,
            ..Default::default()
        };
        // Without the argument, a consumer starts at the stream's end: it
        // gets what is published after it.
        let publish_more = |ch: &dyn Chan| {
            if !with_argument {
                for i in 0..30 {
                    ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
                        .unwrap();
                }
            }
        };
        let mut it = ch
            .consume(&q, options.clone(), Some(Duration::from_secs(5)))
            .unwrap();
        publish_more(&*ch);
        let d = it.next_delivery().unwrap().unwrap().unwrap();
        ch.basic_ack(d.delivery_tag, false).unwrap();
        // The rest of the prefetch window arrives in the client's buffer.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(it.cancel().unwrap(), 0, "nothing of a stream is requeued");
        let mut it = ch
            .consume(&q, options, Some(Duration::from_secs(5)))
            .unwrap();
        publish_more(&*ch);
        it.next_delivery().unwrap().unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(it);
        // The connection is still there: a request on it is answered.
        std::thread::sleep(Duration::from_millis(300));
        assert!(conn.is_open(), "{:?}", conn.close_reason());
        let other = conn.channel().unwrap();
        wait_until(
            "the dropped consumer's cancel",
            Duration::from_secs(5),
            || queue_counts(&*other, &q).1 == 0,
        );
        other.close().unwrap();
    }
    assert!(conn.is_open(), "{:?}", conn.close_reason());
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();
}

/// Dropping a consumer read as an iterator or a stream cancels it (the
/// broker stops delivering to it) and requeues what it held.
pub fn dropping_a_consumer_cancels_it_and_requeues(a: &dyn Adapter) {
    let conn = connect(a);
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&*ch);
    for i in 0..8 {
        ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
            .unwrap();
    }
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    let d = it.next_delivery().unwrap().unwrap().unwrap();
    ch.basic_ack(d.delivery_tag, false).unwrap();
    assert_eq!(ch.consumer_tags(), vec![it.consumer_tag()]);
    std::thread::sleep(Duration::from_millis(200));
    drop(it);
    let other = conn.channel().unwrap();
    wait_until(
        "the dropped consumer's cancel and requeue",
        Duration::from_secs(5),
        || queue_counts(&*other, &q) == (7, 0),
    );
    // Nothing was lost: the seven come back, in order, to a new consumer.
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    for i in 1..8 {
        let d = it.next_delivery().unwrap().unwrap().unwrap();
        assert_eq!(d.body, format!("{i}"));
        ch.basic_ack(d.delivery_tag, false).unwrap();
    }
    assert_eq!(it.cancel().unwrap(), 0);
    assert!(ch.consumer_tags().is_empty(), "{:?}", ch.consumer_tags());
    conn.close().unwrap();
}
