//! The blocking API against the local RabbitMQ: every client method, the
//! broker's refusals as typed errors, heartbeats during long callbacks, a
//! forced close, a dead peer. Every test deletes what it declares.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use amqp_client::blocking::{
    Confirmation, Connection, ConsumeOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use amqp_client::{ConnectionParameters, Credentials, Error, Heartbeat};
use amqp_protocol::{basic, BasicProperties, FieldTable, ReplyCode, ShortStr};
use amqp_tests::live::{
    connection_pid, exchange_names, params, queue_names, rabbitmqctl, unique, Relay,
};

fn connect() -> Connection {
    Connection::open(params()).expect("connect to the local RabbitMQ")
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

#[test]
fn exchanges_declare_bind_unbind_delete() {
    let conn = connect();
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
    ch.queue_bind(&q, &b, "", FieldTable::new()).unwrap();
    ch.basic_publish(&a, "x.y", b"via e2e", &text(), false)
        .unwrap();
    let got = wait_get(&ch, &q);
    assert_eq!(got.body, "via e2e");
    ch.exchange_unbind(&b, &a, "x.*", FieldTable::new())
        .unwrap();
    ch.exchange_delete(&a, false).unwrap();
    // b still routes to q: if-unused refuses with 406.
    let e = ch.exchange_delete(&b, true).unwrap_err();
    assert_eq!(channel_code(&e), Some(406), "{e:?}");
    let ch2 = conn.channel().unwrap();
    ch2.exchange_delete(&b, false).unwrap();
    ch2.queue_delete(&q, false, false).unwrap();
    let left = exchange_names();
    assert!(!left.contains(&a) && !left.contains(&b));
    conn.close().unwrap();
}

fn wait_get(ch: &amqp_client::blocking::Channel, q: &str) -> amqp_client::blocking::Delivery {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(m) = ch.basic_get(q, true).unwrap() {
            return m.delivery;
        }
        assert!(Instant::now() < deadline, "no message in {q}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn queues_declare_bind_purge_unbind_delete_and_get() {
    let conn = connect();
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
    ch.basic_nack(again.delivery.delivery_tag, false, true)
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
    assert_eq!(ch.queue_delete(&q, false, false).unwrap(), 0);
    assert!(!queue_names().contains(&q));
    conn.close().unwrap();
}

#[test]
fn consume_with_callbacks_ack_from_another_thread_and_cancel() {
    let conn = connect();
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
    ch.basic_qos(0, 10, false).unwrap();
    for i in 0..20 {
        ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
            .unwrap();
    }
    let (tx, rx) = mpsc::channel::<(amqp_client::blocking::Channel, u64)>();
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
        .basic_consume(&q, ConsumeOptions::default(), move |ch, d| {
            tx.send((ch.clone(), d.delivery_tag)).unwrap();
            if s.fetch_add(1, Ordering::SeqCst) + 1 == 20 {
                ch.stop_consuming().unwrap();
            }
        })
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

#[test]
fn consume_iterator_cancel_requeues() {
    let conn = connect();
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
    for i in 0..15 {
        ch.basic_publish("", &q, format!("{i}").as_bytes(), &text(), false)
            .unwrap();
    }
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    for i in 0..10 {
        let d = it.next().unwrap().unwrap().unwrap();
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
    assert!(matches!(it.next(), Some(Ok(None))));
    assert_eq!(it.cancel().unwrap(), 0);
    conn.close().unwrap();
}

#[test]
fn broker_cancel_ends_the_consumer_with_a_typed_error() {
    let conn = connect();
    let ch = conn.channel().unwrap();
    let q = unique("q-cancel");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    conn.channel()
        .unwrap()
        .queue_delete(&q, false, false)
        .unwrap();
    let e = it.next().unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::ConsumerCancelled { consumer_tag } if consumer_tag == it.consumer_tag()),
        "{e:?}"
    );
    assert!(it.next().is_none());
    conn.close().unwrap();
}

#[test]
fn pipelined_confirms_tx_recover_flow() {
    let conn = connect();
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
    ch.confirm_delivery().unwrap();
    let handles: Vec<Confirmation> = (0..500)
        .map(|i| {
            ch.publish_with_confirm("", &q, format!("{i}").as_bytes(), &text(), false)
                .unwrap()
        })
        .collect();
    assert_eq!(handles[0].sequence_number(), 1);
    assert!(Confirmation::wait_all(handles).iter().all(Result::is_ok));
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

#[test]
fn not_found_and_precondition_failed_close_the_channel_only() {
    let conn = connect();
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
        .queue_delete(&q, false, false)
        .unwrap();
    conn.close().unwrap();
}

#[test]
fn refusals_with_540_not_implemented() {
    // channel.flow active=false
    let conn = connect();
    let e = conn.channel().unwrap().flow(false).unwrap_err();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code == ReplyCode::NOT_IMPLEMENTED),
        "{e:?}"
    );
    assert!(conn.is_closed());
    // basic.publish immediate=true
    let conn = connect();
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

#[test]
fn wrong_password_is_an_authentication_error_not_a_hang() {
    let started = Instant::now();
    let p = params().with_credentials(Credentials::plain("guest", "not-the-password"));
    let e = Connection::open(p).unwrap_err();
    assert!(
        matches!(&e, Error::AuthenticationRefused(c) if c.code.0 == 403),
        "{e:?}"
    );
    assert!(!e.to_string().contains("not-the-password"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn missing_vhost_is_530() {
    let e = Connection::open(params().with_virtual_host(unique("no-such-vhost"))).unwrap_err();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code == ReplyCode::NOT_ALLOWED),
        "{e:?}"
    );
}

#[test]
fn endpoints_are_tried_in_order() {
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
    let e = Connection::open(list[0].clone()).unwrap_err();
    assert!(
        matches!(&e, Error::ConnectFailed { endpoint, .. } if endpoint.ends_with(&format!(":{port}"))),
        "{e:?}"
    );
    assert!(e.reconnect_may_help());
    let conn = Connection::open(list).unwrap();
    assert!(conn.is_open());
    conn.close().unwrap();
}

#[test]
fn heartbeats_flow_while_a_callback_sleeps() {
    let conn = Connection::open(params().with_heartbeat(Heartbeat::Seconds(1))).unwrap();
    assert_eq!(conn.server_properties().1.heartbeat, 1);
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
    ch.basic_publish("", &q, b"slow", &text(), false).unwrap();
    ch.basic_consume(
        &q,
        ConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        |ch, _| {
            // Three heartbeat intervals without touching the connection.
            std::thread::sleep(Duration::from_millis(3500));
            ch.stop_consuming().unwrap();
        },
    )
    .unwrap();
    ch.start_consuming().unwrap();
    assert!(conn.is_open(), "{:?}", conn.close_reason());
    ch.queue_delete(&q, false, false).unwrap();
    conn.close().unwrap();
}

#[test]
fn forced_close_reaches_a_blocked_consumer_within_a_second() {
    let p = params();
    let name = p.connection_name().unwrap().to_owned();
    let conn = Connection::open(p).unwrap();
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
        let r = it.next();
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

#[test]
fn a_peer_that_stops_answering_is_detected_within_two_intervals() {
    let relay = Relay::start();
    let p = params()
        .with_port(relay.addr.port())
        .with_heartbeat(Heartbeat::Seconds(1));
    let conn = Connection::open(p).unwrap();
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
    let e = it.next().unwrap().unwrap_err();
    let took = stopped.elapsed();
    assert!(matches!(e, Error::HeartbeatTimeout), "{e:?}");
    assert!(took < Duration::from_secs(3), "detected after {took:?}");
}

#[test]
fn broker_cancel_ends_start_consuming_with_a_typed_error() {
    let conn = connect();
    let ch = conn.channel().unwrap();
    let q = unique("q-cancel-cb");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let tag = ch
        .basic_consume(&q, ConsumeOptions::default(), |_, _| {})
        .unwrap();
    conn.channel()
        .unwrap()
        .queue_delete(&q, false, false)
        .unwrap();
    let e = ch.start_consuming().unwrap_err();
    assert!(
        matches!(&e, Error::ConsumerCancelled { consumer_tag } if *consumer_tag == tag),
        "{e:?}"
    );
    conn.close().unwrap();
}

#[test]
fn timers_and_threadsafe_callbacks_run_on_the_processing_thread() {
    let conn = connect();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (o1, o2, o3) = (order.clone(), order.clone(), order.clone());
    let main = std::thread::current().id();
    conn.call_later(Duration::from_millis(200), move || {
        o1.lock()
            .unwrap()
            .push(("late", std::thread::current().id()))
    });
    let cancelled = conn.call_later(Duration::from_millis(100), move || {
        o2.lock()
            .unwrap()
            .push(("never", std::thread::current().id()))
    });
    assert!(conn.remove_timeout(cancelled));
    let handle = conn.threadsafe_handle();
    std::thread::spawn(move || {
        handle
            .add_callback(move || {
                o3.lock()
                    .unwrap()
                    .push(("soon", std::thread::current().id()))
            })
            .unwrap()
    })
    .join()
    .unwrap();
    conn.process_data_events(Some(Duration::from_millis(400)))
        .unwrap();
    let got = order.lock().unwrap().clone();
    assert_eq!(got, vec![("soon", main), ("late", main)]);
    conn.close().unwrap();
}
