//! The live scenarios (`amqp_tests::scenarios`) run with the event-loop
//! adapter, plus what only the callback API has.

#![allow(clippy::unwrap_used)]

amqp_tests::live_scenarios!(amqp_tests::adapter_event_loop::EventLoop);
amqp_tests::live_connection_scenarios!(amqp_tests::adapter_event_loop::EventLoop);
amqp_tests::live_recovery_scenarios!(amqp_tests::adapter_event_loop::EventLoop);

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqp_client::event_loop::{no_callback, Channel, Connection, EventLoop};
use amqp_client::types::QueueDeclareOptions;
use amqp_client::Error;
use amqp_protocol::BasicProperties;
use amqp_tests::live::{params, queue_names};

/// Stops the loop after `limit` whatever happens, so a broken test fails
/// instead of hanging.
fn watchdog(lp: &EventLoop, limit: Duration) {
    let handle = lp.handle();
    lp.call_later(limit, move || handle.stop());
}

#[test]
fn open_error_then_open_and_close_callbacks() {
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(20));
    let log: Rc<RefCell<Vec<String>>> = Rc::default();

    // Only the closed port: on_open_error with a typed error.
    let bad = Connection::open(
        &lp,
        params()
            .with_port(closed_port)
            .with_connection_attempts(2)
            .with_retry_delay(Duration::from_millis(50)),
    );
    let l = log.clone();
    bad.on_open(move |_| l.borrow_mut().push("bad opened".into()));
    // The loop stops once both connections are done.
    let finished = {
        let (l, handle) = (log.clone(), lp.handle());
        move |what: &str| {
            l.borrow_mut().push(what.to_owned());
            if l.borrow().len() == 3 {
                handle.stop();
            }
        }
    };
    let done = finished.clone();
    bad.on_open_error(move |e| {
        // Both attempts' failures.
        let Error::AttemptsFailed(failures) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(failures.len(), 2, "{e:?}");
        assert!(
            failures.iter().all(|f| matches!(&f.error, Error::ConnectFailed { endpoint, .. } if endpoint.ends_with(&format!(":{closed_port}")))),
            "{e:?}"
        );
        done("open error");
    });

    // The closed port, then the broker: on_open, then on_close after close().
    let good = Connection::open(&lp, vec![params().with_port(closed_port), params()]);
    let l = log.clone();
    good.on_open(move |conn| {
        assert!(conn.is_open());
        assert!(conn.tuning().frame_max > 0);
        l.borrow_mut().push("opened".into());
        conn.close();
    });
    good.on_open_error(|e| panic!("{e}"));
    good.on_close(move |conn, e| {
        assert!(matches!(e, Error::ConnectionClosedByClient), "{e:?}");
        assert!(conn.is_closed());
        finished("closed");
    });
    lp.run().unwrap();
    let mut got = log.borrow().clone();
    got.sort();
    assert_eq!(got, ["closed", "open error", "opened"]);
    assert!(good.is_closed() && bad.is_closed());
}

#[test]
fn timers_run_in_order_and_can_be_removed() {
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(5));
    let order: Rc<RefCell<Vec<&str>>> = Rc::default();
    let started = Instant::now();
    let o = order.clone();
    lp.call_later(Duration::from_millis(60), move || {
        o.borrow_mut().push("60ms")
    });
    let o = order.clone();
    lp.call_later(Duration::from_millis(20), move || {
        o.borrow_mut().push("20ms")
    });
    let o = order.clone();
    let removed = lp.call_later(Duration::from_millis(40), move || {
        o.borrow_mut().push("removed")
    });
    let (o, inner) = (order.clone(), lp.clone());
    lp.call_later(Duration::ZERO, move || {
        o.borrow_mut().push("now");
        // A timer made by a timer.
        let o2 = o.clone();
        inner.call_later(Duration::from_millis(10), move || {
            o2.borrow_mut().push("nested")
        });
    });
    assert!(lp.remove_timeout(removed));
    assert!(!lp.remove_timeout(removed));
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(100), move || stopper.stop());
    lp.run().unwrap();
    assert_eq!(*order.borrow(), ["now", "nested", "20ms", "60ms"]);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn threadsafe_callbacks_run_on_the_loop_thread() {
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(5));
    let loop_thread = std::thread::current().id();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handle = lp.handle();
    let s = seen.clone();
    let other = std::thread::spawn(move || {
        for i in 0..3 {
            let s = s.clone();
            handle
                .add_callback_threadsafe(move |lp| {
                    s.lock().unwrap().push((i, std::thread::current().id()));
                    if i == 2 {
                        lp.stop();
                    }
                })
                .unwrap();
        }
    });
    lp.run().unwrap();
    other.join().unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got, [(0, loop_thread), (1, loop_thread), (2, loop_thread)]);
    // Once the loop is dropped, scheduling fails instead of being lost.
    let handle = lp.handle();
    drop(lp);
    assert!(handle.add_callback_threadsafe(|_| {}).is_err());
}

#[test]
fn confirms_and_a_consumer_with_callbacks() {
    const N: u64 = 200;
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(20));
    let conn = Connection::open(&lp, params());
    conn.on_open_error(|e| panic!("{e}"));
    let acked: Rc<RefCell<Vec<u64>>> = Rc::default();
    let received = Rc::new(RefCell::new(0u64));
    let queue: Rc<RefCell<String>> = Rc::default();
    let (a, r, q) = (acked.clone(), received.clone(), queue.clone());
    conn.on_open(move |conn| {
        conn.channel(move |ch| {
            let ch = ch.unwrap();
            let (q2, ch2) = (q.clone(), ch.clone());
            ch.queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                Some(
                    move |ok: Result<amqp_client::types::QueueDeclareOk, Error>| {
                        let name = ok.unwrap().queue;
                        *q2.borrow_mut() = name.clone();
                        let (a, r) = (a.clone(), r.clone());
                        // One outcome per publish, in order, however the
                        // broker grouped its acks.
                        ch2.on_confirm(move |_, seq, outcome| {
                            assert!(outcome.is_ok(), "{outcome:?}");
                            a.borrow_mut().push(seq);
                        });
                        ch2.confirm_delivery(no_callback()).unwrap();
                        for i in 1..=N {
                            let seq = ch2
                                .basic_publish(
                                    "",
                                    &name,
                                    format!("{i}").as_bytes(),
                                    &BasicProperties::default(),
                                    false,
                                )
                                .unwrap();
                            assert_eq!(seq, Some(i));
                        }
                        ch2.basic_consume(
                            &name,
                            Default::default(),
                            move |ch, d| {
                                ch.basic_ack(d.delivery_tag, false).unwrap();
                                *r.borrow_mut() += 1;
                                if *r.borrow() == N {
                                    ch.connection().close();
                                }
                            },
                            Some(|tag: Result<String, Error>| {
                                assert!(tag.unwrap().starts_with("amqp-client."))
                            }),
                        )
                        .unwrap();
                    },
                ),
            )
            .unwrap();
        })
        .unwrap();
    });
    let handle = lp.handle();
    conn.on_close(move |_, e| {
        assert!(matches!(e, Error::ConnectionClosedByClient), "{e:?}");
        handle.stop();
    });
    lp.run().unwrap();
    assert_eq!(*received.borrow(), N);
    assert_eq!(*acked.borrow(), (1..=N).collect::<Vec<_>>());
    // Exclusive: gone with the connection.
    assert!(!queue_names().contains(&queue.borrow()));
}

#[test]
fn channel_errors_reach_the_completion_and_on_close() {
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(10));
    let conn = Connection::open(&lp, params());
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let l = log.clone();
    conn.on_open(move |conn| {
        conn.channel(move |ch| {
            let ch = ch.unwrap();
            let l2 = l.clone();
            ch.on_close(move |ch, e| {
                assert_eq!(e.reply_code().map(|c| c.0), Some(404));
                assert!(ch.is_closed());
                l2.borrow_mut().push("on_close".into());
                ch.connection().close();
            });
            let l3 = l.clone();
            ch.queue_declare(
                &amqp_tests::live::unique("missing"),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Some(move |r: Result<_, Error>| {
                    assert!(r.unwrap_err().is_not_found());
                    l3.borrow_mut().push("completion".into());
                }),
            )
            .unwrap();
            // Queued behind the failing call: fails with the same error.
            let l4 = l.clone();
            ch.queue_purge(
                "anything",
                Some(move |r: Result<u32, Error>| {
                    assert!(r.unwrap_err().is_not_found());
                    l4.borrow_mut().push("queued".into());
                }),
            )
            .unwrap();
        })
        .unwrap();
    });
    let handle = lp.handle();
    conn.on_close(move |_, _| handle.stop());
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["completion", "queued", "on_close"]);
}

#[test]
fn stop_returns_and_run_resumes() {
    let lp = EventLoop::new().unwrap();
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(10), move || stopper.stop());
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    // run() again, stopped from another thread this time.
    let handle = lp.handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        handle.stop();
    });
    lp.run().unwrap();
    t.join().unwrap();
    // run() from inside a callback is refused.
    let (inner, stopper) = (lp.clone(), lp.clone());
    let refused = Rc::new(RefCell::new(None));
    let r = refused.clone();
    lp.call_later(Duration::ZERO, move || {
        *r.borrow_mut() = Some(inner.run().is_err());
        stopper.stop();
    });
    lp.run().unwrap();
    assert_eq!(*refused.borrow(), Some(true));
}

#[test]
fn no_endpoint_is_an_open_error() {
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(5));
    let conn = Connection::open(&lp, amqp_client::Endpoints::new());
    let got = Rc::new(RefCell::new(None));
    let (g, stopper) = (got.clone(), lp.clone());
    conn.on_open_error(move |e| {
        *g.borrow_mut() = Some(e);
        stopper.stop();
    });
    lp.run().unwrap();
    assert!(matches!(*got.borrow(), Some(Error::Misuse(_))), "{got:?}");
    assert!(conn.is_closed());
    assert!(conn.channel(|_| panic!("no channel")).is_err());
}

#[test]
fn buffered_output_grows_with_publishes_and_drains() {
    // 100 publishes of 256 KiB in one callback: more than the socket takes
    // at once, so the loop buffers them, says how much, and drains.
    const N: usize = 100;
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(20));
    let conn = Connection::open(&lp, params());
    conn.on_open_error(|e| panic!("{e}"));
    let seen: Rc<RefCell<Vec<usize>>> = Rc::default();
    let (s, lp2) = (seen.clone(), lp.clone());
    conn.on_open(move |conn| {
        let (s, lp2) = (s.clone(), lp2.clone());
        conn.channel(move |ch| publish_then_poll(ch.unwrap(), N, s, lp2))
            .unwrap();
    });
    let handle = lp.handle();
    conn.on_close(move |_, e| {
        assert!(matches!(e, Error::ConnectionClosedByClient), "{e:?}");
        handle.stop();
    });
    lp.run().unwrap();
    let seen = seen.borrow();
    assert!(
        seen[0] >= N * 256 * 1024,
        "right after the publishes, everything is buffered: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&0), "drained: {seen:?}");
}

/// Declares a queue, publishes `n` messages of 256 KiB to it in one go,
/// then records the connection's buffered output every 5 ms until it is
/// drained, and closes the connection.
fn publish_then_poll(ch: Channel, n: usize, seen: Rc<RefCell<Vec<usize>>>, lp: EventLoop) {
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let declared = ch.clone();
    let on_declared = move |ok: Result<amqp_client::types::QueueDeclareOk, Error>| {
        let (ch, name) = (declared, ok.unwrap().queue);
        let body = vec![7u8; 256 * 1024];
        for _ in 0..n {
            ch.basic_publish("", &name, &body, &BasicProperties::default(), false)
                .unwrap();
        }
        let conn = ch.connection();
        seen.borrow_mut().push(conn.buffered_output());
        // Poll until the loop has written everything.
        fn poll(lp: EventLoop, conn: Connection, s: Rc<RefCell<Vec<usize>>>) {
            let left = conn.buffered_output();
            s.borrow_mut().push(left);
            if left == 0 {
                conn.close();
            } else {
                let lp2 = lp.clone();
                lp.call_later(Duration::from_millis(5), move || poll(lp2, conn, s));
            }
        }
        let lp2 = lp.clone();
        lp.call_later(Duration::from_millis(5), move || poll(lp2, conn, seen));
    };
    ch.queue_declare("", options, Some(on_declared)).unwrap();
}

#[test]
fn a_returned_mandatory_publish_is_reported_then_unroutable() {
    let lp = EventLoop::new().unwrap();
    watchdog(&lp, Duration::from_secs(10));
    let conn = Connection::open(&lp, params());
    conn.on_open_error(|e| panic!("{e}"));
    let key = amqp_tests::live::unique("nowhere");
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let (l, k) = (log.clone(), key.clone());
    conn.on_open(move |conn| {
        let (l, k) = (l.clone(), k.clone());
        conn.channel(move |ch| {
            let ch = ch.unwrap();
            let found = ch.connection().channel_by_id(ch.id());
            assert_eq!(found.map(|c| c.id()), Some(ch.id()));
            let l2 = l.clone();
            ch.on_return(move |_, returned| {
                assert_eq!(returned.reason.code.0, 312, "{returned:?}");
                l2.borrow_mut()
                    .push(format!("returned {}", returned.routing_key));
            });
            ch.on_confirm(move |ch, seq, outcome| {
                l.borrow_mut().push(match outcome {
                    Ok(()) => format!("{seq} acked"),
                    Err(Error::Unroutable(r)) => format!("{seq} unroutable {}", r.code.0),
                    Err(e) => format!("{seq} {e}"),
                });
                if seq == 2 {
                    ch.connection().close();
                }
            });
            ch.confirm_delivery(no_callback()).unwrap();
            let props = BasicProperties::default();
            // Mandatory, routed nowhere: returned, then acked.
            let seq = ch.basic_publish("amq.direct", &k, b"lost", &props, true);
            assert_eq!(seq.unwrap(), Some(1));
            // Not mandatory: dropped by the broker, and acked.
            let seq = ch.basic_publish("amq.direct", &k, b"dropped", &props, false);
            assert_eq!(seq.unwrap(), Some(2));
        })
        .unwrap();
    });
    let handle = lp.handle();
    conn.on_close(move |_, e| {
        assert!(matches!(e, Error::ConnectionClosedByClient), "{e:?}");
        handle.stop();
    });
    lp.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            format!("returned {key}"),
            "1 unroutable 312".into(),
            "2 acked".into()
        ]
    );
}
