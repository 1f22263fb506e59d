//! The client layer of the core ([`Client`]) against a scripted broker with
//! fake time: typed results, the consumer registry, one outcome per publish,
//! stale channel handles and what an abandoned request undoes.

#![allow(clippy::unwrap_used)]

mod scripted;

use amqp_client::core::client::Event;
use amqp_client::core::{ConsumerMode, NextDelivery, Ready, Settle};
use amqp_client::types::{NackOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, Error, ReplyCode};
use amqp_protocol::{basic, channel, confirm, connection, queue, Method};

use scripted::{ss, Broker};

#[test]
fn typed_results_of_channel_operations() {
    let mut b = Broker::connected();
    let ch = b.open();
    let p = b
        .client
        .queue_declare(ch, "", QueueDeclareOptions::default())
        .unwrap();
    b.methods();
    b.send(
        ch.number(),
        queue::DeclareOk {
            queue: ss("amq.gen-1"),
            message_count: 3,
            consumer_count: 1,
        },
    );
    let ok = b.result(&p).unwrap();
    assert_eq!(
        (ok.queue.as_str(), ok.message_count, ok.consumer_count),
        ("amq.gen-1", 3, 1)
    );
    assert!(
        b.client.take(&p).unwrap().is_err(),
        "an outcome is taken once"
    );

    let p = b.client.queue_purge(ch, "q").unwrap();
    b.methods();
    b.send(ch.number(), queue::PurgeOk { message_count: 7 });
    assert_eq!(b.result(&p).unwrap(), 7);

    let p = b.client.basic_get(ch, "q", false).unwrap();
    b.methods();
    b.send(ch.number(), basic::GetEmpty::default());
    assert!(b.result(&p).unwrap().is_none());

    let p = b.client.basic_get(ch, "q", false).unwrap();
    b.methods();
    let ok = basic::GetOk {
        delivery_tag: 9,
        redelivered: true,
        exchange: ss("x"),
        routing_key: ss("k"),
        message_count: 2,
    };
    b.send_content(ch.number(), ok, b"got");
    let got = b.result(&p).unwrap().unwrap();
    assert_eq!(got.message_count, 2);
    assert_eq!(got.delivery.delivery_tag, 9);
    assert_eq!(&got.delivery.body[..], b"got");
    assert_eq!(got.delivery.channel, ch.number());
}

#[test]
fn buffered_consumer_yields_its_deliveries_then_the_broker_cancel() {
    let mut b = Broker::connected();
    let ch = b.open();
    let id = b.consume(ch, "c1", ConsumerMode::Buffer { limit: Some(2) });
    assert!(matches!(b.client.next_delivery(id), NextDelivery::Empty));
    b.deliver(ch.number(), "c1", 1, b"one");
    assert!(b.client.wants_input());
    b.deliver(ch.number(), "c1", 2, b"two");
    assert!(!b.client.wants_input(), "reading pauses at the limit");
    assert_eq!(b.client.buffered_len(id), 2);
    assert_eq!(
        b.readies(),
        vec![Ready::Consumer(id), Ready::Consumer(id)],
        "one wake-up per delivery"
    );
    b.send(
        ch.number(),
        basic::Cancel {
            consumer_tag: ss("c1"),
            no_wait: false,
        },
    );
    let m = b.methods();
    assert!(
        matches!(&m[..], [(_, Method::BasicCancelOk(ok))] if ok.consumer_tag == "c1"),
        "{m:?}"
    );
    assert!(b
        .events()
        .iter()
        .any(|e| matches!(e, Event::ConsumerCancelled { consumer, consumer_tag, .. } if *consumer == id && consumer_tag == "c1")));
    let NextDelivery::Delivery(d) = b.client.next_delivery(id) else {
        panic!("the buffer first")
    };
    assert_eq!(d.delivery_tag, 1);
    assert!(b.client.wants_input(), "below the limit again");
    assert!(matches!(
        b.client.next_delivery(id),
        NextDelivery::Delivery(_)
    ));
    assert!(matches!(
        b.client.next_delivery(id),
        NextDelivery::End(Some(Error::ConsumerCancelled { .. }))
    ));
    // The tag is free again.
    b.consume(ch, "c1", ConsumerMode::Buffer { limit: None });
}

#[test]
fn callback_consumers_get_deliveries_as_events() {
    let mut b = Broker::connected();
    let ch = b.open();
    let id = b.consume(ch, "cb", ConsumerMode::Events);
    b.deliver(ch.number(), "cb", 1, b"x");
    let ev = b.events();
    let [Event::Delivery {
        channel,
        consumer,
        delivery,
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((*channel, *consumer, delivery.delivery_tag), (ch, id, 1));
    assert!(b.readies().is_empty(), "no waiter to wake");
    assert_eq!(b.client.event_consumers(ch).len(), 1);
    let p = b.client.basic_cancel(ch, "cb").unwrap();
    b.methods();
    b.send(
        ch.number(),
        basic::CancelOk {
            consumer_tag: ss("cb"),
        },
    );
    b.result(&p).unwrap();
    assert!(b.client.event_consumers(ch).is_empty());
    assert!(
        matches!(b.events()[..], [Event::ConsumerEnded { consumer, .. }] if consumer == id),
        "the callback can go"
    );
}

#[test]
fn cancel_consumer_requeues_what_the_application_did_not_take() {
    let mut b = Broker::connected();
    let ch = b.open();
    let id = b.consume(ch, "c", ConsumerMode::Buffer { limit: None });
    b.deliver(ch.number(), "c", 1, b"a");
    b.deliver(ch.number(), "c", 2, b"b");
    assert!(matches!(
        b.client.next_delivery(id),
        NextDelivery::Delivery(_)
    ));
    let p = b.client.cancel_consumer(id).unwrap();
    assert!(matches!(&b.methods()[..], [(_, Method::BasicCancel(_))]));
    // One more arrives before cancel-ok: it is requeued too.
    b.deliver(ch.number(), "c", 3, b"c");
    b.send(
        ch.number(),
        basic::CancelOk {
            consumer_tag: ss("c"),
        },
    );
    assert_eq!(b.result(&p).unwrap(), 2);
    let nacked: Vec<u64> = b
        .methods()
        .into_iter()
        .map(|(_, m)| match m {
            Method::BasicNack(n) => {
                assert!(n.requeue && !n.multiple);
                n.delivery_tag
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(nacked, vec![2, 3]);
}

#[test]
fn one_outcome_per_publish_with_confirms() {
    let mut b = Broker::connected();
    let ch = b.open();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    let props = BasicProperties::default();
    let mut seqs = Vec::new();
    for i in 0..5 {
        let settle = if i == 4 { Settle::Event } else { Settle::Take };
        let seq = b
            .client
            .basic_publish(ch, "", "q", b"m", &props, true, settle)
            .unwrap();
        seqs.push(seq.unwrap());
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert!(!b.client.is_staged(ch, 1));
    b.take_output();
    assert!(b.client.is_staged(ch, 5));
    assert!(b.client.take_confirm(ch, 1).is_none(), "awaited");
    // Publish 2 is returned, then acked: unroutable.
    let ret = basic::Return {
        reply_code: 312,
        reply_text: ss("NO_ROUTE"),
        exchange: ss(""),
        routing_key: ss("q"),
    };
    b.send_content(ch.number(), ret, b"m");
    b.send(
        ch.number(),
        basic::Ack {
            delivery_tag: 2,
            multiple: true,
        },
    );
    assert!(b.readies().contains(&Ready::Confirms {
        channel: ch,
        up_to: 2,
        multiple: true,
    }));
    assert!(matches!(
        b.events()[..],
        [Event::Returned { channel, .. }] if channel == ch
    ));
    assert!(matches!(b.client.take_confirm(ch, 1), Some(Ok(()))));
    assert!(matches!(
        b.client.take_confirm(ch, 2),
        Some(Err(Error::Unroutable(r))) if r.code == ReplyCode(312)
    ));
    b.send(
        ch.number(),
        basic::Nack {
            delivery_tag: 3,
            multiple: false,
            requeue: false,
        },
    );
    assert!(matches!(
        b.client.take_confirm(ch, 3),
        Some(Err(Error::Nacked))
    ));
    // The channel closes with 4 and 5 unanswered: both fail with its error,
    // 5 as an event.
    b.send(
        ch.number(),
        channel::Close {
            reply_code: 406,
            reply_text: ss("PRECONDITION_FAILED"),
            class_id: 0,
            method_id: 0,
        },
    );
    assert!(matches!(
        b.client.take_confirm(ch, 4),
        Some(Err(Error::ChannelClosedByBroker { .. }))
    ));
    let ev = b.events();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::Confirmed {
                sequence_number: 5,
                outcome: Err(Error::ChannelClosedByBroker { .. }),
                ..
            }
        )),
        "{ev:?}"
    );
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::ChannelClosed { channel, .. } if *channel == ch)));
}

/// The `exists` rule of basic.ack, applied to the broker's confirms: a
/// confirm naming a publish the channel never made closes the channel
/// with 406, and the publishes it left unconfirmed fail with that error
/// rather than be taken as confirmed.
#[test]
fn a_confirm_of_a_publish_never_made_closes_the_channel() {
    for (confirm_mode, delivery_tag, multiple) in [
        (true, 3, false),
        (true, 3, true),
        (true, 0, false),
        (false, 1, false),
    ] {
        let mut b = Broker::connected();
        let ch = b.open();
        if confirm_mode {
            let p = b.client.confirm_delivery(ch).unwrap();
            b.methods();
            b.send(ch.number(), confirm::SelectOk {});
            b.result(&p).unwrap();
        }
        let props = BasicProperties::default();
        let mut seqs = Vec::new();
        for _ in 0..2 {
            let seq = b
                .client
                .basic_publish(ch, "", "q", b"m", &props, false, Settle::Take)
                .unwrap();
            seqs.extend(seq);
        }
        b.methods();
        b.send(
            ch.number(),
            basic::Ack {
                delivery_tag,
                multiple,
            },
        );
        let sent = b.methods();
        assert!(
            matches!(
                &sent[..],
                [(n, Method::ChannelClose(c))] if *n == ch.number() && c.reply_code == 406
            ),
            "{confirm_mode} {delivery_tag} {multiple}: {sent:?}"
        );
        for &seq in &seqs {
            assert!(b.client.take_confirm(ch, seq).is_none(), "not confirmed");
        }
        b.send(ch.number(), channel::CloseOk {});
        let published = if confirm_mode { 2 } else { 0 };
        for &seq in &seqs {
            assert!(
                matches!(
                    b.client.take_confirm(ch, seq),
                    Some(Err(Error::UnknownConfirmTag { delivery_tag: t, published: p, .. }))
                        if t == delivery_tag && p == published
                ),
                "{seq}"
            );
        }
        let ev = b.events();
        assert!(
            ev.iter().any(|e| matches!(
                e,
                Event::ChannelClosed { channel, .. } if *channel == ch
            )),
            "{ev:?}"
        );
    }
    // Acks within what was published are confirms.
    let mut b = Broker::connected();
    let ch = b.open();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    let props = BasicProperties::default();
    for _ in 0..2 {
        b.client
            .basic_publish(ch, "", "q", b"m", &props, false, Settle::Take)
            .unwrap();
    }
    b.methods();
    b.send(
        ch.number(),
        basic::Ack {
            delivery_tag: 0,
            multiple: true,
        },
    );
    assert!(b.methods().is_empty());
    assert!(matches!(b.client.take_confirm(ch, 2), Some(Ok(()))));
}

#[test]
fn a_stale_handle_keeps_its_own_channels_error() {
    let mut b = Broker::connected();
    let old = b.open();
    b.send(
        old.number(),
        channel::Close {
            reply_code: 404,
            reply_text: ss("NOT_FOUND"),
            class_id: 50,
            method_id: 10,
        },
    );
    b.methods();
    let new = b.open();
    assert_eq!(new.number(), old.number(), "the number is reused");
    assert_ne!(new, old);
    assert!(matches!(
        b.client.channel_error(old),
        Some(Error::ChannelClosedByBroker { close, .. }) if close.code == ReplyCode(404)
    ));
    assert!(b.client.queue_purge(old, "q").is_err());
    assert!(
        b.methods().is_empty(),
        "nothing goes out on the new channel"
    );
    assert!(b.client.channel_error(new).is_none());
}

#[test]
fn an_abandoned_open_closes_the_channel_nobody_holds() {
    let mut b = Broker::connected();
    let p = b.client.open_channel().unwrap();
    let m = b.methods();
    let [(n, Method::ChannelOpen(_))] = m[..] else {
        panic!("{m:?}")
    };
    b.client.abandon(p.request());
    b.send(n, channel::OpenOk::default());
    assert!(matches!(&b.methods()[..], [(c, Method::ChannelClose(_))] if *c == n));
    assert!(!b.readies().contains(&Ready::Request(p.request())));
}

#[test]
fn a_dropped_consumer_is_cancelled_and_its_messages_requeued() {
    let mut b = Broker::connected();
    let ch = b.open();
    let id = b.consume(ch, "gone", ConsumerMode::Buffer { limit: None });
    b.deliver(ch.number(), "gone", 1, b"a");
    b.client.drop_consumer(id);
    let m = b.methods();
    assert!(
        matches!(&m[..], [(_, Method::BasicNack(n)), (_, Method::BasicCancel(_))] if n.delivery_tag == 1),
        "{m:?}"
    );
    // A delivery racing with the cancel goes back too (written after
    // cancel-ok: the channel's methods keep their order).
    b.deliver(ch.number(), "gone", 2, b"b");
    b.send(
        ch.number(),
        basic::CancelOk {
            consumer_tag: ss("gone"),
        },
    );
    assert!(matches!(&b.methods()[..], [(_, Method::BasicNack(n))] if n.delivery_tag == 2));
    assert!(matches!(
        b.client.next_delivery(id),
        NextDelivery::End(None)
    ));
}

#[test]
fn nack_options_default_to_requeue() {
    let mut b = Broker::connected();
    let ch = b.open();
    b.client.basic_nack(ch, 4, NackOptions::default()).unwrap();
    assert!(matches!(
        &b.methods()[..],
        [(_, Method::BasicNack(n))] if n.delivery_tag == 4 && n.requeue && !n.multiple
    ));
}

#[test]
fn the_connection_closing_fails_every_waiter() {
    let mut b = Broker::connected();
    let ch = b.open();
    let p = b.client.queue_purge(ch, "q").unwrap();
    let id = b.consume_pending(ch);
    b.send(
        0,
        connection::Close {
            reply_code: 320,
            reply_text: ss("CONNECTION_FORCED"),
            class_id: 0,
            method_id: 0,
        },
    );
    let r = b.readies();
    assert!(r.contains(&Ready::Request(p.request())) && r.contains(&Ready::State));
    assert!(matches!(
        b.client.take(&p),
        Some(Err(Error::ConnectionClosedByBroker(c))) if c.code == ReplyCode(320)
    ));
    assert!(matches!(
        b.client.next_delivery(id),
        NextDelivery::End(Some(_))
    ));
    assert!(b.client.close_reason().is_some());
    assert!(b.client.open_channel().is_err());
}

#[test]
fn an_ended_consumer_at_its_limit_no_longer_pauses_reading() {
    let mut b = Broker::connected();
    let ch = b.open();
    let limit = ConsumerMode::Buffer { limit: Some(1) };
    let cancelled = b.consume(ch, "c1", limit);
    let closed = b.consume(ch, "c2", limit);
    b.deliver(ch.number(), "c1", 1, b"a");
    b.deliver(ch.number(), "c2", 2, b"b");
    assert!(!b.client.wants_input());
    // No more deliveries come for a consumer the broker cancelled ...
    b.send(
        ch.number(),
        basic::Cancel {
            consumer_tag: ss("c1"),
            no_wait: false,
        },
    );
    assert!(!b.client.wants_input(), "c2 is still full");
    // ... nor for those of a closed channel.
    b.send(
        ch.number(),
        channel::Close {
            reply_code: 406,
            reply_text: ss("PRECONDITION_FAILED"),
            class_id: 0,
            method_id: 0,
        },
    );
    assert!(b.client.wants_input(), "reading resumes");
    // What they buffered is still theirs to take.
    for id in [cancelled, closed] {
        assert!(matches!(
            b.client.next_delivery(id),
            NextDelivery::Delivery(_)
        ));
        assert!(matches!(
            b.client.next_delivery(id),
            NextDelivery::End(Some(_))
        ));
    }
    assert!(b.client.wants_input());
}

#[test]
fn cancelling_a_full_consumer_lets_reading_go_on_until_cancel_ok() {
    let mut b = Broker::connected();
    let ch = b.open();
    let id = b.consume(ch, "full", ConsumerMode::Buffer { limit: Some(1) });
    b.deliver(ch.number(), "full", 1, b"a");
    assert!(!b.client.wants_input());
    assert!(b.client.has_bounded_consumers());
    let p = b.client.cancel_consumer(id).unwrap();
    assert!(
        b.client.wants_input(),
        "the cancel-ok must be read, whatever the buffer holds"
    );
    b.methods();
    b.deliver(ch.number(), "full", 2, b"b");
    assert!(b.client.wants_input(), "no limit while cancelling");
    b.send(
        ch.number(),
        basic::CancelOk {
            consumer_tag: ss("full"),
        },
    );
    assert_eq!(b.result(&p).unwrap(), 2, "both go back to the queue");
    assert!(!b.client.has_bounded_consumers());
}

#[test]
fn poll_next_keeps_wire_order_between_wake_ups_and_events() {
    let mut b = Broker::connected();
    let ch = b.open();
    b.consume(ch, "cb", ConsumerMode::Events);
    let p = b.client.basic_cancel(ch, "cb").unwrap();
    b.methods();
    // A delivery that was on its way before the cancel-ok.
    b.deliver(ch.number(), "cb", 1, b"late");
    b.send(
        ch.number(),
        basic::CancelOk {
            consumer_tag: ss("cb"),
        },
    );
    let order: Vec<&str> = std::iter::from_fn(|| b.client.poll_next())
        .map(|n| match n {
            amqp_client::core::Next::Event(Event::Delivery { .. }) => "delivery",
            amqp_client::core::Next::Ready(Ready::Request(r)) if r == p.request() => "cancel-ok",
            amqp_client::core::Next::Event(Event::ConsumerEnded { .. }) => "ended",
            _ => "other",
        })
        .collect();
    assert_eq!(order, vec!["delivery", "ended", "cancel-ok"]);
}

/// Pika's `channel(channel_number=...)`: the chosen number goes on the
/// wire, typed errors for 0, above channel-max (2047 here) and a number in
/// use, and the lowest-free choice skips a chosen number.
#[test]
fn opening_a_channel_with_a_chosen_number() {
    let mut b = Broker::connected();
    let p = b.client.open_channel_number(7).unwrap();
    let m = b.methods();
    assert!(matches!(m[..], [(7, Method::ChannelOpen(_))]), "{m:?}");
    b.send(7, channel::OpenOk::default());
    let seven = b.result(&p).unwrap();
    assert_eq!(seven.number(), 7);
    assert!(b.client.is_channel_open(seven));

    for (n, expected) in [
        (
            0,
            Error::InvalidChannelNumber {
                channel: 0,
                channel_max: 2047,
            },
        ),
        (
            2048,
            Error::InvalidChannelNumber {
                channel: 2048,
                channel_max: 2047,
            },
        ),
        (7, Error::ChannelInUse { channel: 7 }),
    ] {
        match b.client.open_channel_number(n) {
            Err(e) => assert_eq!(e.to_string(), expected.to_string(), "{n}"),
            Ok(_) => panic!("channel {n} opened"),
        }
    }
    assert!(b.methods().is_empty(), "nothing sent for a refused number");
    // The highest number is fine; a number still opening is in use.
    let p = b.client.open_channel_number(2047).unwrap();
    assert!(matches!(
        b.client.open_channel_number(2047),
        Err(Error::ChannelInUse { channel: 2047 })
    ));
    let m = b.methods();
    assert!(matches!(m[..], [(2047, Method::ChannelOpen(_))]), "{m:?}");
    b.send(2047, channel::OpenOk::default());
    assert_eq!(b.result(&p).unwrap().number(), 2047);

    // Channels 1 to 6 are free: the lowest-free choice takes 1, ..., 6,
    // then 8.
    let numbers: Vec<u16> = (0..7).map(|_| b.open().number()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 8]);

    // Closed, its number can be chosen again.
    b.client.close_channel(seven).unwrap();
    let m = b.methods();
    assert!(matches!(m[..], [(7, Method::ChannelClose(_))]), "{m:?}");
    b.send(7, channel::CloseOk);
    b.readies();
    b.events();
    let p = b.client.open_channel_number(7).unwrap();
    b.methods();
    b.send(7, channel::OpenOk::default());
    let again = b.result(&p).unwrap();
    assert_eq!(again.number(), 7);
    assert_ne!(again, seven, "a new opening, not the old handle");
}
