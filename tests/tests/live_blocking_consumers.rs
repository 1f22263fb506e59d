//! What only the blocking API's dispatcher has: `start_consuming` per
//! channel, `on_cancel`, and its refusal to run inside its own callbacks.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use amqp_client::blocking::{
    Channel, Connection, ConsumeOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client::Error;
use amqp_protocol::BasicProperties;
use amqp_tests::live::{params, unique};

fn exclusive_queue(ch: &Channel) -> String {
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

/// A broker cancel of a consumer on channel A does not end
/// `start_consuming` on channel B, whose deliveries go on reaching their
/// callback; A's own `start_consuming` then reports A's cancel.
#[test]
fn a_broker_cancel_reaches_its_own_channel_only() {
    let conn = Connection::open(params()).unwrap();
    let (a, b) = (conn.channel().unwrap(), conn.channel().unwrap());
    let qa = unique("q-cancel-a");
    a.queue_declare(&qa, QueueDeclareOptions::default())
        .unwrap();
    let qb = exclusive_queue(&b);
    let tag_a = a
        .basic_consume(&qa, ConsumeOptions::default(), |_, _| {})
        .unwrap();
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let tag_b = b
        .basic_consume(&qb, ConsumeOptions::default(), move |ch, d| {
            ch.basic_ack(d.delivery_tag, false).unwrap();
            if g.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                ch.basic_cancel(&d.consumer_tag.to_string_lossy()).unwrap();
            }
        })
        .unwrap();
    assert_eq!(b.consumer_tags(), vec![tag_b]);
    // The broker cancels A's consumer, then B's three messages arrive.
    conn.channel()
        .unwrap()
        .queue_delete(&qa, QueueDeleteOptions::default())
        .unwrap();
    for i in 0..3 {
        b.basic_publish(
            "",
            &qb,
            format!("{i}").as_bytes(),
            &BasicProperties::default(),
            false,
        )
        .unwrap();
    }
    b.start_consuming().unwrap();
    assert_eq!(got.load(Ordering::SeqCst), 3);
    assert!(b.consumer_tags().is_empty());
    let e = a.start_consuming().unwrap_err();
    assert!(
        matches!(&e, Error::ConsumerCancelled { consumer_tag } if *consumer_tag == tag_a),
        "{e:?}"
    );
    assert!(a.consumer_tags().is_empty());
    conn.close().unwrap();
}

/// With `on_cancel` set, a broker cancel runs it and `start_consuming`
/// ends normally once the channel has no consumer left.
#[test]
fn on_cancel_gets_the_broker_cancel() {
    let conn = Connection::open(params()).unwrap();
    let ch = conn.channel().unwrap();
    let q = unique("q-on-cancel");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let tag = ch
        .basic_consume(&q, ConsumeOptions::default(), |_, _| {})
        .unwrap();
    let (tx, rx) = mpsc::channel();
    ch.on_cancel(move |ch, tag| tx.send((ch.id(), tag.to_owned())).unwrap());
    conn.channel()
        .unwrap()
        .queue_delete(&q, QueueDeleteOptions::default())
        .unwrap();
    ch.start_consuming().unwrap();
    assert_eq!(rx.try_recv().unwrap(), (ch.id(), tag));
    assert!(ch.is_open() && !ch.is_closed());
    conn.close().unwrap();
}

/// Inside a callback, what would wait for the callback itself fails at
/// once with a typed error (it used to hang); other calls work.
#[test]
fn dispatching_from_inside_a_callback_is_a_reentrancy_error() {
    let conn = Arc::new(Connection::open(params()).unwrap());
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&ch);
    let (tx, rx) = mpsc::channel();
    let c = conn.clone();
    let q2 = q.clone();
    ch.basic_consume(&q, ConsumeOptions::default(), move |ch, d| {
        let nested = ch.start_consuming();
        let events = c.process_data_events(None);
        let sleep = c.sleep(Duration::from_millis(1));
        // A request, a get and an ack from inside the callback are fine.
        let declared = ch
            .queue_declare(
                &q2,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
            )
            .map(|ok| ok.queue);
        ch.basic_ack(d.delivery_tag, false).unwrap();
        ch.basic_cancel(&d.consumer_tag.to_string_lossy()).unwrap();
        tx.send((nested, events, sleep, declared)).unwrap();
    })
    .unwrap();
    ch.basic_publish("", &q, b"x", &BasicProperties::default(), false)
        .unwrap();
    ch.start_consuming().unwrap();
    let (nested, events, sleep, declared) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(
            nested,
            Err(Error::Reentrancy {
                operation: "start_consuming"
            })
        ),
        "{nested:?}"
    );
    assert!(
        matches!(
            events,
            Err(Error::Reentrancy {
                operation: "process_data_events"
            })
        ),
        "{events:?}"
    );
    assert!(
        matches!(sleep, Err(Error::Reentrancy { operation: "sleep" })),
        "{sleep:?}"
    );
    assert_eq!(declared.unwrap(), q);
    // Outside a callback, dispatching works again.
    conn.process_data_events(Some(Duration::ZERO)).unwrap();
    conn.close().unwrap();
}

/// `start_consuming` ends with the error of a channel the broker closed
/// (it used to end as if consuming were over).
#[test]
fn start_consuming_reports_a_channel_the_broker_closed() {
    let conn = Connection::open(params()).unwrap();
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&ch);
    ch.basic_consume(&q, ConsumeOptions::default(), |ch, d| {
        // An unknown delivery tag: the broker closes the channel (406).
        ch.basic_ack(d.delivery_tag + 1000, false).unwrap();
    })
    .unwrap();
    ch.basic_publish("", &q, b"x", &BasicProperties::default(), false)
        .unwrap();
    let e = ch.start_consuming().unwrap_err();
    assert!(e.is_precondition_failed(), "{e:?}");
    assert!(ch.is_closed());
    conn.close().unwrap();
}

/// An iterator tells how many deliveries it holds that were not yet
/// yielded.
#[test]
fn an_iterator_counts_what_it_holds() {
    let conn = Connection::open(params()).unwrap();
    let ch = conn.channel().unwrap();
    let q = exclusive_queue(&ch);
    for _ in 0..4 {
        ch.basic_publish("", &q, b"x", &BasicProperties::default(), false)
            .unwrap();
    }
    let mut it = ch
        .consume(&q, ConsumeOptions::default(), Some(Duration::from_secs(5)))
        .unwrap();
    it.next().unwrap().unwrap().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while it.buffered_len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            it.buffered_len()
        );
        // Reading is the reader thread's while this one does not wait.
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(it.buffered_len(), 3);
    assert_eq!(ch.consumer_tags(), vec![it.consumer_tag().to_owned()]);
    assert_eq!(it.cancel().unwrap(), 3);
    conn.close().unwrap();
}

/// A connection bounds what its application has not taken: an iterator
/// without prefetch (the broker pushes everything) holds about the bound,
/// and so do callback deliveries nobody dispatches; once taken, every
/// message arrives.
#[test]
fn a_connection_bounds_what_its_application_has_not_taken() {
    const BODY: usize = 10 * 1024;
    const BOUND: usize = 1024 * 1024;
    // The bound, passed by at most one read (256 KiB).
    const MOST: usize = (BOUND + 256 * 1024) / BODY + 1;
    let conn =
        Connection::open(params().with_delivery_buffer(usize::from(u16::MAX), BOUND)).unwrap();
    let ch = conn.channel().unwrap();
    let q = unique("q-bound");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let n = 500;
    let publish_all = || {
        for _ in 0..n {
            ch.basic_publish("", &q, &[7u8; BODY], &BasicProperties::default(), false)
                .unwrap();
        }
    };
    let no_ack = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    publish_all();
    let mut it = ch
        .consume(&q, no_ack.clone(), Some(Duration::from_secs(5)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let held = it.buffered_len();
    assert!(
        held > 10 && held <= MOST,
        "{held} held for a bound of {BOUND} bytes"
    );
    for _ in 0..n {
        it.next().unwrap().unwrap().unwrap();
        assert!(it.buffered_len() <= MOST);
    }
    assert_eq!(it.cancel().unwrap(), 0);

    // Callback deliveries wait for a dispatcher within the same bound.
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    ch.basic_consume(&q, no_ack, move |_, _| {
        g.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    for _ in 0..6 {
        publish_all();
    }
    std::thread::sleep(Duration::from_millis(500));
    // Nothing dispatched yet: the deliveries are held, up to the bound;
    // the rest stays in the queue. (Asked on another connection: this
    // one's replies wait behind the deliveries it does not read.)
    let other = Connection::open(params()).unwrap();
    let ready = other
        .channel()
        .unwrap()
        .queue_declare(
            &q,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )
        .unwrap()
        .message_count as usize;
    // Without the bound, all of them leave it; with it, what the client
    // holds plus what the sockets' buffers and the broker's flow control
    // take (about 1,000 of these here).
    let total = 6 * n;
    assert!(
        ready >= total / 2,
        "{} of {total} left the queue for a bound of {BOUND} bytes",
        total - ready
    );
    other.close().unwrap();
    while got.load(Ordering::SeqCst) < total {
        conn.process_data_events(Some(Duration::from_millis(100)))
            .unwrap();
    }
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();
}

/// At the bound, what the application waits for still arrives: a request's
/// reply, and a publish's confirm awaited inside a callback, although both
/// come behind deliveries nobody has taken (the thread that would take them
/// is the one waiting).
#[test]
fn at_the_bound_replies_and_confirms_still_arrive() {
    let conn = Connection::open(params().with_delivery_buffer(20, usize::MAX)).unwrap();
    let ch = conn.channel().unwrap();
    let q = unique("q-bound-wait");
    ch.queue_declare(&q, QueueDeclareOptions::default())
        .unwrap();
    let replies = exclusive_queue(&ch);
    for _ in 0..300 {
        ch.basic_publish(
            "",
            &q,
            &[7u8; 10 * 1024],
            &BasicProperties::default(),
            false,
        )
        .unwrap();
    }
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let reply_to = replies.clone();
    ch.basic_consume(&q, ConsumeOptions::default(), move |ch, d| {
        // A request from inside the callback, now and then.
        let n = g.fetch_add(1, Ordering::SeqCst) + 1;
        ch.basic_ack(d.delivery_tag, false).unwrap();
        if n.is_multiple_of(50) {
            let queue = ch
                .queue_declare(
                    &reply_to,
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(queue.queue, reply_to);
        }
        if n == 300 {
            ch.basic_cancel(&d.consumer_tag.to_string_lossy()).unwrap();
        }
    })
    .unwrap();
    let confirmed = conn.channel().unwrap();
    confirmed.confirm_delivery().unwrap();
    // Nothing dispatched yet: the connection holds 20 deliveries and has
    // paused reading; a request and a confirmed publish still complete.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(got.load(Ordering::SeqCst), 0);
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare(&q, passive).unwrap();
    confirmed
        .basic_publish("", &replies, b"reply", &BasicProperties::default(), false)
        .unwrap();
    // And from inside callbacks, while deliveries pile up behind.
    let c2 = confirmed.clone();
    let r2 = replies.clone();
    let confirms = Arc::new(AtomicUsize::new(0));
    let cf = confirms.clone();
    let t = conn.threadsafe_handle();
    for _ in 0..3 {
        let (c2, r2, cf) = (c2.clone(), r2.clone(), cf.clone());
        t.add_callback(move || {
            c2.basic_publish(
                "",
                &r2,
                b"from a callback",
                &BasicProperties::default(),
                false,
            )
            .unwrap();
            cf.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    ch.start_consuming().unwrap();
    assert_eq!(got.load(Ordering::SeqCst), 300);
    assert_eq!(confirms.load(Ordering::SeqCst), 3);
    ch.queue_delete(&q, QueueDeleteOptions::default()).unwrap();
    conn.close().unwrap();
}
