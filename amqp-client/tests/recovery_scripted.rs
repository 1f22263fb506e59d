//! Automatic recovery in the core, against the scripted broker with fake
//! time: what is declared again and in which order, what happens to
//! publishes, deliveries and calls in flight, faults in the middle of it,
//! refusals, and its end.

#![allow(clippy::unwrap_used)]

mod scripted;

use amqp_client::core::client::{Event, RecoveryEvent};
use amqp_client::core::{ConsumerMode, NextDelivery, RecoveryPolicy, Settle};
use amqp_client::types::{ConsumeOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, Error};
use amqp_protocol::{basic, channel, confirm, connection, exchange, queue, Method, ReplyCode};
use scripted::{ss, Broker};

fn recovery_events(b: &mut Broker) -> Vec<RecoveryEvent> {
    b.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Recovery(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn publish(b: &mut Broker, ch: amqp_client::core::ChannelRef, key: &str) -> Option<u64> {
    b.client
        .basic_publish(
            ch,
            "",
            key,
            b"m",
            &BasicProperties::default(),
            false,
            Settle::Take,
        )
        .unwrap()
}

/// Everything comes back in order: the topology one method at a time on a
/// channel of its own (a server-named queue under its new name, which its
/// binding, consumer and unsent publishes follow), then the channel under
/// its number with its QoS, confirm mode, consumer and waiting declare,
/// then the unconfirmed publishes and those made meanwhile, whose
/// confirmations resolve from the new ones. Delivery tags go on
/// increasing; an old one is refused; a purge in flight fails.
#[test]
fn a_lost_connection_comes_back_with_everything_in_order() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    let n = ch.number();
    // A server-named queue, bound, with a consumer.
    let p = b
        .client
        .queue_declare(ch, "", QueueDeclareOptions::default())
        .unwrap();
    b.methods();
    b.send(
        n,
        queue::DeclareOk {
            queue: ss("amq.gen-old"),
            ..Default::default()
        },
    );
    b.result(&p).unwrap();
    let p = b
        .client
        .queue_bind(ch, "amq.gen-old", "amq.topic", "k", Default::default())
        .unwrap();
    b.methods();
    b.send(n, queue::BindOk {});
    b.result(&p).unwrap();
    let p = b.client.basic_qos(ch, 0, 10, false).unwrap();
    b.methods();
    b.send(n, basic::QosOk {});
    b.result(&p).unwrap();
    let options = ConsumeOptions {
        consumer_tag: "c".into(),
        ..Default::default()
    };
    let (consumer, p) = b
        .client
        .basic_consume(
            ch,
            "amq.gen-old",
            options,
            ConsumerMode::Buffer { limit: None },
        )
        .unwrap();
    b.methods();
    b.send(
        n,
        basic::ConsumeOk {
            consumer_tag: ss("c"),
        },
    );
    b.result(&p).unwrap();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(n, confirm::SelectOk {});
    b.result(&p).unwrap();
    // Two deliveries taken, one buffered; three publishes, one confirmed.
    b.deliver(n, "c", 1, b"d1");
    b.deliver(n, "c", 2, b"d2");
    b.deliver(n, "c", 3, b"d3");
    for _ in 0..2 {
        assert!(matches!(
            b.client.next_delivery(consumer),
            NextDelivery::Delivery(_)
        ));
    }
    let seqs: Vec<u64> = (0..3)
        .map(|_| publish(&mut b, ch, "amq.gen-old").unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    b.methods();
    b.send(
        n,
        basic::Ack {
            delivery_tag: 1,
            multiple: false,
        },
    );
    assert!(matches!(b.client.take_confirm(ch, 1), Some(Ok(()))));
    // In flight when the connection goes: a declare (sent again) and a
    // purge (failed).
    let declare = b
        .client
        .exchange_declare(ch, "x", "fanout", Default::default())
        .unwrap();
    let purge = b.client.queue_purge(ch, "other").unwrap();
    b.methods();
    b.readies();
    b.events();

    b.lose();
    assert!(b.client.is_recovering());
    assert!(matches!(
        recovery_events(&mut b)[..],
        [RecoveryEvent::Started {
            cause: Error::StreamLost(_)
        }]
    ));
    assert!(matches!(
        b.result(&purge),
        Err(Error::ConnectionRecovered {
            method: "queue.purge"
        })
    ));
    assert!(b.client.take(&declare).is_none(), "the declare waits");
    // The buffered delivery went back with the connection; its tag and the
    // taken ones cannot be acknowledged any more.
    assert!(matches!(
        b.client.next_delivery(consumer),
        NextDelivery::Empty
    ));
    assert!(matches!(
        b.client.basic_ack(ch, 2, false),
        Err(Error::StaleDeliveryTag {
            delivery_tag: 2,
            ..
        })
    ));
    // A publish meanwhile waits in the client, with the next number.
    assert_eq!(publish(&mut b, ch, "amq.gen-old"), Some(4));
    assert!(b.client.take_confirm(ch, 2).is_none());

    assert_eq!(b.reconnect(), 1, "the endpoint after the lost one");
    assert!(matches!(
        recovery_events(&mut b)[..],
        [RecoveryEvent::Attempt { attempt: 1, .. }]
    ));
    b.handshake();
    // The topology, on a channel of its own, one method at a time.
    let m = b.methods();
    assert!(matches!(&m[..], [(2047, Method::ChannelOpen(_))]), "{m:?}");
    b.send(2047, channel::OpenOk::default());
    let m = b.methods();
    let [(2047, Method::QueueDeclare(d))] = &m[..] else {
        panic!("{m:?}")
    };
    assert!(
        d.queue.is_empty(),
        "a server-named queue asks for a new name"
    );
    b.send(
        2047,
        queue::DeclareOk {
            queue: ss("amq.gen-new"),
            ..Default::default()
        },
    );
    let m = b.methods();
    let [(2047, Method::QueueBind(bind))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(bind.queue, ss("amq.gen-new"));
    assert!(matches!(
        &recovery_events(&mut b)[..],
        [RecoveryEvent::QueueRenamed { old, new }] if old == "amq.gen-old" && new == "amq.gen-new"
    ));
    b.send(2047, queue::BindOk {});
    // Then the channel, under its number.
    let m = b.methods();
    let names: Vec<(u16, &str)> = m.iter().map(|(c, m)| (*c, m.name())).collect();
    assert_eq!(
        names,
        [(2047, "channel.close"), (n, "channel.open")],
        "{m:?}"
    );
    b.send(2047, channel::CloseOk {});
    b.send(n, channel::OpenOk::default());
    let m = b.methods();
    let names: Vec<&str> = m.iter().map(|(_, m)| m.name()).collect();
    assert_eq!(names, ["basic.qos"]);
    b.send(n, basic::QosOk {});
    assert_eq!(b.methods()[0].1.name(), "confirm.select");
    b.send(n, confirm::SelectOk {});
    let m = b.methods();
    let [(_, Method::BasicConsume(c))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(
        (c.consumer_tag.clone(), c.queue.clone()),
        (ss("c"), ss("amq.gen-new"))
    );
    b.send(
        n,
        basic::ConsumeOk {
            consumer_tag: ss("c"),
        },
    );
    assert_eq!(b.methods()[0].1.name(), "exchange.declare");
    b.send(n, exchange::DeclareOk {});
    // The two unconfirmed publishes and the one made meanwhile, routed to
    // the new name.
    let m = b.methods();
    assert_eq!(m.len(), 3, "{m:?}");
    for (_, p) in &m {
        let Method::BasicPublish(p) = p else {
            panic!("{m:?}")
        };
        assert_eq!(p.routing_key, ss("amq.gen-new"));
    }
    assert!(b.result(&declare).is_ok());
    assert!(b.client.is_open() && !b.client.is_recovering());
    assert!(matches!(
        &recovery_events(&mut b)[..],
        [RecoveryEvent::Recovered { endpoint, .. }] if endpoint == "b:5672"
    ));
    // Their confirmations resolve from the new ones: the broker's 1..3
    // are the application's 2..4.
    b.send(
        n,
        basic::Ack {
            delivery_tag: 2,
            multiple: true,
        },
    );
    assert!(matches!(b.client.take_confirm(ch, 2), Some(Ok(()))));
    assert!(matches!(b.client.take_confirm(ch, 3), Some(Ok(()))));
    assert!(b.client.take_confirm(ch, 4).is_none());
    b.send(
        n,
        basic::Nack {
            delivery_tag: 3,
            multiple: false,
            requeue: false,
        },
    );
    // Delivery tags go on from the highest handed out.
    b.deliver(n, "c", 1, b"d4");
    let NextDelivery::Delivery(d) = b.client.next_delivery(consumer) else {
        panic!()
    };
    assert_eq!(d.delivery_tag, 4);
    b.client.basic_ack(ch, 4, false).unwrap();
    let m = b.methods();
    assert!(
        matches!(&m[..], [(_, Method::BasicAck(a))] if a.delivery_tag == 1),
        "{m:?}"
    );
}

/// A fault in the middle of the replay is one more failed attempt: the
/// next one starts over from the topology.
#[test]
fn a_fault_during_the_replay_is_one_more_attempt() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    let p = b
        .client
        .exchange_declare(ch, "x", "fanout", Default::default())
        .unwrap();
    b.methods();
    b.send(ch.number(), exchange::DeclareOk {});
    b.result(&p).unwrap();
    b.lose();
    assert_eq!(b.reconnect(), 1);
    b.handshake();
    let m = b.methods();
    assert_eq!(m.len(), 1, "the replay's channel: {m:?}");
    b.send(2047, channel::OpenOk::default());
    let m = b.methods();
    assert!(
        matches!(&m[..], [(2047, Method::ExchangeDeclare(_))]),
        "{m:?}"
    );
    b.lose();
    let events = recovery_events(&mut b);
    assert!(
        matches!(&events[..], [.., RecoveryEvent::AttemptFailed { endpoint, .. }] if endpoint == "b:5672"),
        "{events:?}"
    );
    assert!(b.client.is_recovering());
    let before = b.now;
    assert_eq!(b.reconnect(), 0, "then the other endpoint");
    assert!(b.now > before, "after a backoff");
    b.handshake();
    b.send(2047, channel::OpenOk::default());
    let m = b.methods();
    assert!(matches!(&m[1], (2047, Method::ExchangeDeclare(d)) if d.exchange == ss("x")));
    b.send(2047, exchange::DeclareOk {});
    b.send(2047, channel::CloseOk {});
    let m = b.methods();
    assert_eq!(m.last().unwrap().1.name(), "channel.open");
    b.send(ch.number(), channel::OpenOk::default());
    assert!(!b.client.is_recovering());
    assert!(b.client.is_channel_open(ch), "the same handle");
}

/// A refused entity is skipped and reported, and the replay goes on; a
/// queue still locked by the old connection (405) makes the attempt fail
/// and the recovery try again later.
#[test]
fn refusals_during_the_replay() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    for name in ["x1", "x2"] {
        let p = b
            .client
            .exchange_declare(ch, name, "fanout", Default::default())
            .unwrap();
        b.methods();
        b.send(ch.number(), exchange::DeclareOk {});
        b.result(&p).unwrap();
    }
    let p = b
        .client
        .queue_declare(ch, "excl", QueueDeclareOptions::default())
        .unwrap();
    b.methods();
    b.send(
        ch.number(),
        queue::DeclareOk {
            queue: ss("excl"),
            ..Default::default()
        },
    );
    b.result(&p).unwrap();
    b.lose();
    b.reconnect();
    b.handshake();
    b.methods();
    b.send(2047, channel::OpenOk::default());
    // x1 refused: skipped, reported; the replay's channel opens again.
    b.send(
        2047,
        channel::Close {
            reply_code: 406,
            reply_text: ss("PRECONDITION_FAILED - inequivalent arg 'type'"),
            class_id: 40,
            method_id: 10,
        },
    );
    let m = b.methods();
    let names: Vec<&str> = m.iter().map(|(_, m)| m.name()).collect();
    assert_eq!(
        names,
        ["exchange.declare", "channel.close-ok", "channel.open"]
    );
    let events = recovery_events(&mut b);
    assert!(
        matches!(&events[..], [.., RecoveryEvent::Refused { entity, error: Error::ChannelClosedByBroker { .. } }] if entity == "exchange.declare x1"),
        "{events:?}"
    );
    assert_eq!(b.client.topology().exchanges().len(), 1, "x1 forgotten");
    b.send(2047, channel::OpenOk::default());
    let m = b.methods();
    assert!(
        matches!(&m[..], [(2047, Method::ExchangeDeclare(d))] if d.exchange == ss("x2")),
        "{m:?}"
    );
    b.send(2047, exchange::DeclareOk {});
    // The queue is still locked by the old connection: this attempt ends.
    b.methods();
    b.send(
        2047,
        channel::Close {
            reply_code: 405,
            reply_text: ss("RESOURCE_LOCKED - cannot obtain exclusive access"),
            class_id: 50,
            method_id: 10,
        },
    );
    let m = b.methods();
    assert!(
        m.iter()
            .any(|(c, m)| *c == 0 && m.name() == "connection.close"),
        "{m:?}"
    );
    b.send(0, connection::CloseOk {});
    let events = recovery_events(&mut b);
    assert!(
        matches!(&events[..], [.., RecoveryEvent::AttemptFailed { error: Error::ChannelClosedByBroker { close, .. }, .. }] if close.code == ReplyCode::RESOURCE_LOCKED),
        "{events:?}"
    );
    assert!(b.client.is_recovering());
    b.reconnect();
    b.handshake();
    b.methods();
    b.send(2047, channel::OpenOk::default());
    let m = b.methods();
    assert!(
        matches!(&m[..], [(2047, Method::ExchangeDeclare(d))] if d.exchange == ss("x2")),
        "{m:?}"
    );
}

/// Refused credentials end the recovery: everything waiting fails with
/// that error; so does `close()` during it, with the client's close.
#[test]
fn recovery_ends_on_refused_credentials_or_close() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    b.lose();
    b.reconnect();
    b.take_output();
    b.send(
        0,
        connection::Start {
            version_major: 0,
            version_minor: 9,
            server_properties: Default::default(),
            mechanisms: "PLAIN".into(),
            locales: "en_US".into(),
        },
    );
    b.send(
        0,
        connection::Close {
            reply_code: 403,
            reply_text: ss("ACCESS_REFUSED - Login was refused"),
            class_id: 0,
            method_id: 0,
        },
    );
    assert!(b.client.poll_reconnect(b.now).is_none());
    assert!(!b.client.is_recovering());
    let events = b.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Recovery(RecoveryEvent::GaveUp { .. }))),
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(Event::Closed {
            error: Error::AuthenticationRefused(_)
        })
    ));
    assert!(b.client.channel_error(ch).is_some());

    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    b.lose();
    let a = b.client.poll_reconnect(b.now).unwrap();
    b.client.close(a.at);
    assert!(b.client.poll_reconnect(b.now).is_none());
    assert!(matches!(
        b.client.close_reason(),
        Some(Error::ConnectionClosedByClient)
    ));
    assert!(matches!(
        b.client.channel_error(ch),
        Some(Error::ConnectionClosedByClient)
    ));
}

/// `close()` while the new connection replays: it is closed properly
/// (connection.close, close-ok), and the client ends closed by the
/// application, its channels too.
#[test]
fn close_during_the_replay_closes_the_new_connection() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    b.lose();
    b.reconnect();
    b.handshake();
    b.methods();
    b.client.close(b.now);
    let m = b.methods();
    assert!(
        m.iter()
            .any(|(c, m)| *c == 0 && m.name() == "connection.close"),
        "{m:?}"
    );
    assert!(!b.client.is_recovering());
    b.send(0, connection::CloseOk {});
    assert!(b.client.is_closed());
    assert!(matches!(
        b.client.close_reason(),
        Some(Error::ConnectionClosedByClient)
    ));
    assert!(b.client.channel_error(ch).is_some());
}

/// A broker that accepts the new connection but never answers its replay
/// does not hold the recovery: past the attempt's time the connection is
/// closed, and the next attempt follows.
#[test]
fn a_replay_without_answers_is_one_more_attempt() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    b.open();
    b.lose();
    b.reconnect();
    b.handshake();
    let m = b.methods();
    assert!(matches!(&m[..], [(1, Method::ChannelOpen(_))]), "{m:?}");
    // No open-ok, ever.
    let due = b.client.poll_timeout().expect("a deadline for the replay");
    assert_eq!(due, b.now + RecoveryPolicy::DEFAULT_ATTEMPT_TIMEOUT);
    b.now = due;
    b.client.handle_timeout(b.now);
    let m = b.methods();
    assert!(
        m.iter()
            .any(|(c, m)| *c == 0 && m.name() == "connection.close"),
        "{m:?}"
    );
    b.send(0, connection::CloseOk {});
    let events = recovery_events(&mut b);
    assert!(
        matches!(
            &events[..],
            [
                ..,
                RecoveryEvent::AttemptFailed {
                    error: Error::HandshakeTimeout { .. },
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    assert!(b.client.is_recovering());
    assert!(b.client.poll_reconnect(b.now).is_some(), "another attempt");
}

/// Recovery off: the loss closes the client, as before.
#[test]
fn without_recovery_a_loss_closes() {
    let mut b = Broker::connected();
    let ch = b.open();
    b.lose();
    assert!(!b.client.is_recovering());
    assert!(matches!(
        b.client.close_reason(),
        Some(Error::StreamLost(_))
    ));
    assert!(b.client.channel_error(ch).is_some());
}

/// A channel in confirm mode, recovered once: (broker, channel).
fn recovered_confirm_channel(policy: RecoveryPolicy) -> (Broker, amqp_client::core::ChannelRef) {
    let mut b = Broker::recovering(policy);
    let ch = b.open();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    b.lose();
    b.reconnect();
    b.handshake();
    // Nothing recorded: the channel opens at once.
    let m = b.methods();
    assert!(matches!(&m[..], [(1, Method::ChannelOpen(_))]), "{m:?}");
    b.send(ch.number(), channel::OpenOk::default());
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    assert!(!b.client.is_recovering());
    b.events();
    b.readies();
    (b, ch)
}

/// Within the window after a recovery, a nack publishes the message again
/// after a backoff, on the channel opened again under the same handle
/// (RabbitMQ 3.10 nacks a channel's publishes to a quorum queue for as
/// long as the channel lives once the leader it knew is gone), up to the
/// policy's limit, then reports it; a nack outside the window reaches the
/// publisher at once.
#[test]
fn nacks_soon_after_a_recovery_are_retried_then_reported() {
    let policy = RecoveryPolicy {
        nack_retries: 2,
        ..Default::default()
    };
    let (mut b, ch) = recovered_confirm_channel(policy);
    let n = ch.number();
    let seq = publish(&mut b, ch, "q").unwrap();
    b.methods();
    let nack = |tag| basic::Nack {
        delivery_tag: tag,
        multiple: false,
        requeue: false,
    };
    for _ in 0..2 {
        b.send(n, nack(1));
        assert!(b.client.take_confirm(ch, seq).is_none(), "kept for a retry");
        let due = b.client.poll_timeout().expect("a retry is due");
        assert!(due > b.now);
        b.now = due;
        b.client.handle_timeout(b.now);
        let m = b.methods();
        assert!(matches!(&m[..], [(_, Method::ChannelClose(_))]), "{m:?}");
        // A publish meanwhile waits for the channel's new opening.
        assert!(publish(&mut b, ch, "q").is_some());
        b.send(n, channel::CloseOk {});
        let m = b.methods();
        assert!(matches!(&m[..], [(_, Method::ChannelOpen(_))]), "{m:?}");
        b.send(n, channel::OpenOk::default());
        assert_eq!(b.methods()[0].1.name(), "confirm.select");
        b.send(n, confirm::SelectOk {});
        let m = b.methods();
        assert!(
            m.iter().all(|(_, m)| matches!(m, Method::BasicPublish(_))) && m.len() == 2,
            "{m:?}"
        );
        assert!(b.client.is_channel_open(ch), "the same handle");
        // The later publish is acked on the new channel (its number 2).
        b.send(
            n,
            basic::Ack {
                delivery_tag: 2,
                multiple: false,
            },
        );
    }
    b.send(n, nack(1));
    assert!(matches!(
        b.client.take_confirm(ch, seq),
        Some(Err(Error::Nacked))
    ));
    // Past the window: reported at once (the broker's third publish on
    // this opening of the channel).
    b.now += RecoveryPolicy::DEFAULT_NACK_RETRY_WINDOW;
    b.client.handle_timeout(b.now);
    let seq = publish(&mut b, ch, "q").unwrap();
    b.methods();
    b.send(n, nack(3));
    assert!(matches!(
        b.client.take_confirm(ch, seq),
        Some(Err(Error::Nacked))
    ));
}

/// With a confirm timeout, a publish the broker never answers fails with
/// a typed unknown outcome once it passes; a later ack of it is ignored.
#[test]
fn a_confirm_timeout_reports_an_unknown_outcome() {
    let now = std::time::Instant::now();
    let mut config = amqp_client::core::Config::plain("guest", "guest");
    config.confirm_timeout = Some(std::time::Duration::from_secs(5));
    let mut b = Broker::with_config(config, now);
    let ch = b.open();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    let seq = publish(&mut b, ch, "q").unwrap();
    b.methods();
    let due = b.client.poll_timeout().expect("the timeout is a deadline");
    assert_eq!(due, b.now + std::time::Duration::from_secs(5));
    b.now = due;
    b.client.handle_timeout(b.now);
    assert!(matches!(
        b.client.take_confirm(ch, seq),
        Some(Err(Error::ConfirmTimeout { .. }))
    ));
    b.send(
        ch.number(),
        basic::Ack {
            delivery_tag: 1,
            multiple: false,
        },
    );
    assert!(b.client.is_channel_open(ch));
}

/// An open transaction does not survive: its commit fails with a typed
/// error and nothing is sent; the channel stays transactional, and the
/// next transaction commits.
#[test]
fn an_open_transaction_is_lost_with_the_connection() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    let n = ch.number();
    let p = b.client.tx_select(ch).unwrap();
    b.methods();
    b.send(n, amqp_protocol::tx::SelectOk {});
    b.result(&p).unwrap();
    publish(&mut b, ch, "q");
    b.methods();
    b.lose();
    b.reconnect();
    b.handshake();
    b.methods();
    b.send(n, channel::OpenOk::default());
    assert_eq!(b.methods()[0].1.name(), "tx.select");
    b.send(n, amqp_protocol::tx::SelectOk {});
    assert!(!b.client.is_recovering());
    assert!(matches!(
        b.client.tx_commit(ch),
        Err(Error::TransactionLost { .. })
    ));
    assert!(b.methods().is_empty(), "nothing sent");
    publish(&mut b, ch, "q");
    let p = b.client.tx_commit(ch).unwrap();
    let m = b.methods();
    assert_eq!(m.last().unwrap().1.name(), "tx.commit");
    b.send(n, amqp_protocol::tx::CommitOk {});
    b.result(&p).unwrap();
}

/// A stream consumer resumes at the offset after the last delivery its
/// application acknowledged; a fault while the consumers are registered
/// again is one more attempt.
#[test]
fn a_stream_consumer_resumes_after_its_last_acknowledged_offset() {
    let mut b = Broker::recovering(RecoveryPolicy::default());
    let ch = b.open();
    let n = ch.number();
    let mut arguments = amqp_protocol::FieldTable::new();
    arguments.insert("x-stream-offset", "first");
    let options = ConsumeOptions {
        consumer_tag: "s".into(),
        arguments,
        ..Default::default()
    };
    let (consumer, p) = b
        .client
        .basic_consume(ch, "stream", options, ConsumerMode::Buffer { limit: None })
        .unwrap();
    b.methods();
    b.send(
        n,
        basic::ConsumeOk {
            consumer_tag: ss("s"),
        },
    );
    b.result(&p).unwrap();
    for (tag, offset) in [(1u64, 40i64), (2, 41), (3, 42)] {
        let mut headers = amqp_protocol::FieldTable::new();
        headers.insert("x-stream-offset", amqp_protocol::FieldValue::I64(offset));
        let props = BasicProperties {
            headers: Some(headers),
            ..Default::default()
        };
        let d = basic::Deliver {
            consumer_tag: ss("s"),
            delivery_tag: tag,
            redelivered: false,
            exchange: ss(""),
            routing_key: ss("stream"),
        };
        let mut bytes = Vec::new();
        amqp_protocol::Frame::method(n, d).encode(&mut bytes);
        amqp_protocol::Frame::header(n, amqp_protocol::ContentHeader::new(1, props))
            .encode(&mut bytes);
        amqp_protocol::Frame::body(n, bytes::Bytes::from_static(b"x")).encode(&mut bytes);
        b.client.handle_input(&bytes, b.now);
    }
    for _ in 0..3 {
        assert!(matches!(
            b.client.next_delivery(consumer),
            NextDelivery::Delivery(_)
        ));
    }
    b.client.basic_ack(ch, 2, true).unwrap();
    b.methods();
    b.lose();
    let consume_offset = |b: &mut Broker| {
        b.reconnect();
        b.handshake();
        b.methods();
        b.send(n, channel::OpenOk::default());
        let m = b.methods();
        let [(_, Method::BasicConsume(c))] = &m[..] else {
            panic!("{m:?}")
        };
        c.arguments.get("x-stream-offset").cloned()
    };
    assert_eq!(
        consume_offset(&mut b),
        Some(amqp_protocol::FieldValue::I64(42)),
        "after 41, the last acknowledged"
    );
    // A fault while the consumer is registered again: the next attempt
    // registers it again, from the same offset.
    b.lose();
    assert!(b.client.is_recovering());
    assert_eq!(
        consume_offset(&mut b),
        Some(amqp_protocol::FieldValue::I64(42))
    );
    b.send(
        n,
        basic::ConsumeOk {
            consumer_tag: ss("s"),
        },
    );
    assert!(!b.client.is_recovering());
}

/// With `republish` off, publishes unconfirmed at the loss fail with a
/// typed unknown outcome rather than being published again.
#[test]
fn without_republish_unconfirmed_publishes_fail_as_unknown() {
    let policy = RecoveryPolicy {
        republish: false,
        ..Default::default()
    };
    let mut b = Broker::recovering(policy);
    let ch = b.open();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    let seq = publish(&mut b, ch, "q").unwrap();
    b.methods();
    b.lose();
    assert!(matches!(
        b.client.take_confirm(ch, seq),
        Some(Err(Error::PublishOutcomeUnknown))
    ));
}
