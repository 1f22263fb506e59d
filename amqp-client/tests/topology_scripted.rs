//! The topology the client layer records, against the scripted broker.

#![allow(clippy::unwrap_used)]

mod scripted;

use amqp_client::core::ConsumerMode;
use amqp_client::types::{ConsumeOptions, QueueDeclareOptions};
use amqp_protocol::{basic, channel, queue};
use scripted::{ss, Broker};

/// The topology is recorded as the broker confirms it: a refused declare
/// and a passive one are not; a server-named queue keeps the broker's
/// name; an auto-delete queue goes with its last consumer.
#[test]
fn the_topology_is_recorded_as_the_broker_confirms_it() {
    let mut b = Broker::connected();
    let ch = b.open();
    let auto_delete = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    let p = b.client.queue_declare(ch, "", auto_delete).unwrap();
    assert!(b.client.topology().is_empty(), "recorded before declare-ok");
    b.methods();
    b.send(
        ch.number(),
        queue::DeclareOk {
            queue: ss("amq.gen-7"),
            ..Default::default()
        },
    );
    b.result(&p).unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let p = b.client.queue_declare(ch, "other", passive).unwrap();
    b.methods();
    b.send(
        ch.number(),
        queue::DeclareOk {
            queue: ss("other"),
            ..Default::default()
        },
    );
    b.result(&p).unwrap();
    let queues: Vec<_> = b
        .client
        .topology()
        .queues()
        .iter()
        .map(|q| q.name.clone())
        .collect();
    assert_eq!(queues, [ss("amq.gen-7")]);
    assert!(b.client.topology().queues()[0].server_named);

    // A consumer on it; cancelled, it takes the auto-delete queue along.
    let options = ConsumeOptions {
        consumer_tag: "c".into(),
        ..Default::default()
    };
    let (id, p) = b
        .client
        .basic_consume(
            ch,
            "amq.gen-7",
            options,
            ConsumerMode::Buffer { limit: None },
        )
        .unwrap();
    b.methods();
    b.send(
        ch.number(),
        basic::ConsumeOk {
            consumer_tag: ss("c"),
        },
    );
    b.result(&p).unwrap();
    let p = b.client.cancel_consumer(id).unwrap();
    b.methods();
    assert!(!b.client.topology().is_empty(), "gone only at cancel-ok");
    b.send(
        ch.number(),
        basic::CancelOk {
            consumer_tag: ss("c"),
        },
    );
    b.result(&p).unwrap();
    assert!(b.client.topology().is_empty());

    // A declare the broker refuses closes the channel and records nothing.
    let ch = b.open();
    let p = b
        .client
        .queue_declare(ch, "q", QueueDeclareOptions::default())
        .unwrap();
    b.methods();
    b.send(
        ch.number(),
        channel::Close {
            reply_code: 406,
            reply_text: ss("PRECONDITION_FAILED"),
            class_id: 50,
            method_id: 10,
        },
    );
    assert!(b.result(&p).is_err());
    assert!(b.client.topology().is_empty());
}

/// A channel's QoS, confirm and transaction modes are recorded as the
/// broker confirms them: what a recovered channel must ask for again.
#[test]
fn channel_settings_are_recorded_as_confirmed() {
    use amqp_client::core::Prefetch;
    use amqp_protocol::{confirm, tx};

    let mut b = Broker::connected();
    let ch = b.open();
    let p = b.client.basic_qos(ch, 0, 10, false).unwrap();
    b.methods();
    let s = b.client.channel_settings(ch).unwrap();
    assert_eq!(s.consumer_prefetch, None, "recorded before qos-ok");
    b.send(ch.number(), basic::QosOk {});
    b.result(&p).unwrap();
    let p = b.client.basic_qos(ch, 0, 50, true).unwrap();
    b.methods();
    b.send(ch.number(), basic::QosOk {});
    b.result(&p).unwrap();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    let s = b.client.channel_settings(ch).unwrap();
    assert_eq!(s.consumer_prefetch, Some(Prefetch { size: 0, count: 10 }));
    assert_eq!(s.channel_prefetch, Some(Prefetch { size: 0, count: 50 }));
    assert!(s.confirm && !s.transactional);

    let other = b.open();
    let p = b.client.tx_select(other).unwrap();
    b.methods();
    b.send(other.number(), tx::SelectOk {});
    b.result(&p).unwrap();
    assert!(b.client.channel_settings(other).unwrap().transactional);

    // A closed channel has none.
    let p = b.client.basic_qos(other, 0, 1, false).unwrap();
    b.methods();
    b.send(
        other.number(),
        channel::Close {
            reply_code: 540,
            reply_text: ss("NOT_IMPLEMENTED"),
            class_id: 60,
            method_id: 10,
        },
    );
    assert!(b.result(&p).is_err());
    assert_eq!(b.client.channel_settings(other), None);
}

/// A consumer keeps what registering it again takes: its queue, its tag
/// (generated or not) and its options.
#[test]
fn consumers_keep_what_registering_them_again_takes() {
    use amqp_protocol::FieldTable;

    let mut b = Broker::connected();
    let ch = b.open();
    let mut arguments = FieldTable::new();
    arguments.insert("x-priority", 5i32);
    let options = ConsumeOptions {
        exclusive: true,
        arguments: arguments.clone(),
        ..Default::default()
    };
    let (id, _) = b
        .client
        .basic_consume(ch, "jobs", options, ConsumerMode::Buffer { limit: None })
        .unwrap();
    let (queue, kept) = b.client.consumer_options(id).unwrap();
    assert_eq!(queue, "jobs");
    assert!(
        kept.consumer_tag.starts_with("amqp-client."),
        "{}",
        kept.consumer_tag
    );
    assert!(kept.exclusive && !kept.no_ack && !kept.no_local);
    assert_eq!(kept.arguments, arguments);
    assert_eq!(
        b.client
            .consumer_tag(id)
            .map(|t| t.to_string_lossy().into_owned()),
        Some(kept.consumer_tag)
    );
}
