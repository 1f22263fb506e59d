//! The live scenarios (`amqp_tests::scenarios`) run with the blocking
//! adapter, plus what only the blocking API has (timers, thread-safe
//! callbacks).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use amqp_client::blocking::Connection;
use amqp_tests::adapter::Blocking;
use amqp_tests::live::params;

amqp_tests::live_scenarios!(Blocking);
amqp_tests::live_connection_scenarios!(Blocking);
amqp_tests::live_recovery_scenarios!(Blocking);

#[test]
fn timers_and_threadsafe_callbacks_run_on_the_processing_thread() {
    let conn = Connection::open(params()).unwrap();
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

/// An ack made while the consuming thread is not reading the socket (it
/// stopped calling `next`) still reaches the broker promptly: with prefetch
/// 1, the broker then hands the consumer the second message, so the queue
/// holds none ready.
#[test]
fn an_ack_goes_out_even_when_the_consumer_stops_reading() {
    use amqp_client::blocking::{ConsumeOptions, QueueDeclareOptions};
    use amqp_protocol::BasicProperties;

    let conn = Connection::open(params()).unwrap();
    let ch = conn.channel().unwrap();
    let q = amqp_tests::live::unique("lazy-ack");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    for body in [&b"one"[..], b"two"] {
        ch.basic_publish("", &q, body, &BasicProperties::default(), false)
            .unwrap();
    }
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    // Both enqueued (the queue counts them a moment after the publishes).
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while ch.queue_declare(&q, passive.clone()).unwrap().message_count < 2 {
        assert!(std::time::Instant::now() < deadline, "not enqueued");
        std::thread::sleep(Duration::from_millis(2));
    }
    let consumer_ch = conn.channel().unwrap();
    consumer_ch.basic_qos(0, 1, false).unwrap();
    let mut it = consumer_ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    let first = it.next().unwrap().unwrap().unwrap();
    assert_eq!(&first.body[..], b"one");
    consumer_ch.basic_ack(first.delivery_tag, false).unwrap();
    // No more `next`, and nothing else sent on this connection: the ack
    // must go out all the same. Watched from another connection.
    let observer = Connection::open(params()).unwrap();
    let watch = observer.channel().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let ready = watch
            .queue_declare(&q, passive.clone())
            .unwrap()
            .message_count;
        if ready == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ack did not reach the broker: {ready} message(s) still ready"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    observer.close().unwrap();
    assert_eq!(it.cancel().unwrap(), 1, "the second message, requeued");
    ch.queue_delete(&q, Default::default()).unwrap();
    conn.close().unwrap();
}

/// Several threads wait on one connection at once, each for what only the
/// socket brings (deliveries, confirms, replies): whichever reads the
/// socket must hand every other waiter its part, and the acks and publishes
/// that a reading thread queues must all go out. Nothing may hang.
#[test]
fn threads_waiting_for_deliveries_confirms_and_replies_share_the_socket() {
    use amqp_client::blocking::{Confirmation, ConsumeOptions, QueueDeclareOptions};
    use amqp_protocol::BasicProperties;
    use std::collections::VecDeque;

    const N: usize = 5_000;
    let conn = Arc::new(Connection::open(params()).unwrap());
    let setup = conn.channel().unwrap();
    let q = amqp_tests::live::unique("shared-socket");
    setup
        .queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();

    let consumer = {
        let (conn, q) = (conn.clone(), q.clone());
        std::thread::spawn(move || {
            let ch = conn.channel().unwrap();
            ch.basic_qos(0, 50, false).unwrap();
            let mut it = ch
                .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(20)))
                .unwrap();
            for i in 0..N {
                let d = match it.next() {
                    Some(Ok(Some(d))) => d,
                    other => panic!("delivery {i}: {other:?}"),
                };
                ch.basic_ack(d.delivery_tag, false).unwrap();
            }
            it.cancel().unwrap()
        })
    };
    let publisher = {
        let (conn, q) = (conn.clone(), q.clone());
        std::thread::spawn(move || {
            let ch = conn.channel().unwrap();
            ch.confirm_delivery().unwrap();
            let mut window = VecDeque::new();
            for i in 0..N {
                if window.len() == 100 {
                    let c: Confirmation = window.pop_front().unwrap();
                    c.wait(Some(Duration::from_secs(20))).unwrap();
                }
                let body = format!("message {i}");
                window.push_back(
                    ch.publish_with_confirm(
                        "",
                        &q,
                        body.as_bytes(),
                        &BasicProperties::default(),
                        false,
                    )
                    .unwrap(),
                );
            }
            for r in Confirmation::wait_all(window) {
                r.unwrap();
            }
        })
    };
    let caller = {
        let (conn, q) = (conn.clone(), q.clone());
        std::thread::spawn(move || {
            let ch = conn.channel().unwrap();
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            for _ in 0..500 {
                ch.queue_declare(&q, passive.clone()).unwrap();
            }
        })
    };
    publisher.join().unwrap();
    caller.join().unwrap();
    let requeued = consumer.join().unwrap();
    assert_eq!(requeued, 0);
    let left = setup.queue_delete(&q, Default::default()).unwrap();
    assert_eq!(left, 0, "every message consumed and acked");
    conn.close().unwrap();
}

#[test]
fn callbacks_and_timers_from_other_threads_interrupt_a_reading_dispatcher() {
    // While nothing comes from the socket, process_data_events reads it
    // itself; a callback or a timer added by another thread must still run
    // at once, not when the read times out.
    let conn = Arc::new(Connection::open(params()).unwrap());
    let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (handle, conn2, r1, r2) = (
        conn.threadsafe_handle(),
        conn.clone(),
        ran.clone(),
        ran.clone(),
    );
    let adder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let added = std::time::Instant::now();
        handle
            .add_callback(move || r1.lock().unwrap().push(("callback", added.elapsed())))
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let added = std::time::Instant::now();
        conn2.call_later(Duration::ZERO, move || {
            r2.lock().unwrap().push(("timer", added.elapsed()))
        });
    });
    let start = std::time::Instant::now();
    while ran.lock().unwrap().len() < 2 && start.elapsed() < Duration::from_secs(5) {
        conn.process_data_events(Some(Duration::from_secs(1)))
            .unwrap();
    }
    adder.join().unwrap();
    let ran = ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 2, "{ran:?}");
    for (what, delay) in ran {
        // A read of the quiet socket lasts up to 200 ms.
        assert!(
            delay < Duration::from_millis(50),
            "{what} ran after {delay:?}"
        );
    }
    conn.close().unwrap();
}
