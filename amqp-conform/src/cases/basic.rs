//! Basic, tx and confirm rules (classes `basic`, `tx` and `confirm`).

use amqp_protocol::{
    basic, confirm, exchange, queue, tx, BasicProperties, Frame, FramePayload, Method, ReplyCode,
};

use super::common::{
    consume, exclusive_queue, expect_deliver, expect_nothing, get_eventually, non_zero_tag,
    publish_with, qdeclare, xdeclare,
};
use super::exchange::channel_error;
use crate::case::{fail, Case, CaseResult, Ctx, Level};
use crate::wire::{short, Conn, Event};

/// The basic, tx and confirm cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "basic.publish-missing-exchange",
        class: "basic",
        title: "basic.publish to a missing exchange: channel.close 404 not-found",
        rules: &[("basic.publish.exchange", "must-exist")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.name("missing");
            let mut c = crate::wire::Conn::open(ctx)?;
            c.open_channel(1)?;
            c.publish(1, &name, "k", b"lost")?;
            c.expect_channel_close(1, &[ReplyCode::NOT_FOUND])?;
            c.close()
        },
    },
    Case {
        id: "basic.ack-unknown-tag",
        class: "basic",
        title:
            "basic.ack of delivery tag 7, never delivered: channel.close 406 precondition-failed",
        rules: &[("basic.ack.multiple", "exists")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            channel_error(
                ctx,
                basic::Ack {
                    delivery_tag: 7,
                    multiple: false,
                },
                ReplyCode::PRECONDITION_FAILED,
            )
        },
    },
    Case {
        id: "basic.consume-no-ack",
        class: "basic",
        title: "a no-ack consumer on a new channel: the message published is delivered, with a non-zero delivery tag",
        rules: &[("basic", "09"), ("delivery-tag", "non-zero"), ("channel.flow", "initial-state")],
        reference: "",
        level: Level::Must,
        // A new channel is active: no channel.flow is sent before the
        // delivery is expected.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            consume(&mut c, 1, &q, "no-ack", true)?;
            c.publish(1, "", &q, b"no-ack")?;
            let (d, body) = expect_deliver(&mut c, 1)?;
            non_zero_tag(d.delivery_tag, "basic.deliver")?;
            if &body[..] != b"no-ack" {
                return Err(fail("the body \"no-ack\"", format!("{body:?}")));
            }
            c.close()
        },
    },
    Case {
        id: "basic.consume-ack",
        class: "basic",
        title: "an acknowledging consumer gets two messages and acks one; after reconnecting, only the other is left",
        rules: &[("basic", "10"), ("delivery-tag", "non-zero")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let q = ctx.queue("acked");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, qdeclare(&q)?)?;
            c.publish(1, "", &q, b"1")?;
            c.publish(1, "", &q, b"2")?;
            consume(&mut c, 1, &q, "ack", false)?;
            let (first, _) = expect_deliver(&mut c, 1)?;
            let (second, _) = expect_deliver(&mut c, 1)?;
            non_zero_tag(first.delivery_tag, "the first basic.deliver")?;
            non_zero_tag(second.delivery_tag, "the second basic.deliver")?;
            c.send(1, basic::Ack { delivery_tag: first.delivery_tag, multiple: false })?;
            c.close()?;
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            match get_eventually(&mut c, 1, &q, ctx.timeout)? {
                Some((ok, body)) if &body[..] == b"2" => non_zero_tag(ok.delivery_tag, "basic.get-ok")?,
                Some((_, body)) => return Err(fail("the unacknowledged message \"2\"", format!("{body:?}"))),
                None => return Err(fail("the unacknowledged message \"2\"", "basic.get-empty")),
            }
            match c.get(1, &q, true)? {
                None => c.close(),
                Some((_, body)) => Err(fail("the queue empty: the acknowledged message gone", format!("{body:?}"))),
            }
        },
    },
    Case {
        id: "basic.redelivered-after-close",
        class: "basic",
        title: "a message delivered but not acknowledged before the connection closed comes back with redelivered set",
        rules: &[("redelivered", "implementation")],
        reference: "",
        level: Level::Should,
        run: |ctx| {
            let q = ctx.queue("redelivered");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, qdeclare(&q)?)?;
            c.publish(1, "", &q, b"again")?;
            consume(&mut c, 1, &q, "unacked", false)?;
            let (d, _) = expect_deliver(&mut c, 1)?;
            if d.redelivered {
                return Err(fail("a first delivery without redelivered", "redelivered set"));
            }
            c.close()?;
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            match get_eventually(&mut c, 1, &q, ctx.timeout)? {
                Some((ok, _)) if ok.redelivered => c.close(),
                Some(_) => Err(fail("basic.get-ok with redelivered set", "redelivered not set")),
                None => Err(fail("the unacknowledged message back", "basic.get-empty")),
            }
        },
    },
    Case {
        id: "basic.priority-levels",
        class: "basic",
        title: "three messages of priority 0, then one of priority 9, on a plain queue: the priority 9 message comes first",
        rules: &[("basic", "06")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 keeps publication order: priorities need the x-max-priority argument there.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            for (body, priority) in [("low-1", 0), ("low-2", 0), ("low-3", 0), ("high", 9)] {
                let props = BasicProperties { priority: Some(priority), ..Default::default() };
                publish_with(&mut c, 1, "", &q, props, body.as_bytes())?;
            }
            match c.get(1, &q, true)? {
                Some((_, body)) if &body[..] == b"high" => c.close(),
                Some((_, body)) => Err(fail("the priority 9 message first", format!("{body:?} first"))),
                None => Err(fail("the messages in the queue", "basic.get-empty")),
            }
        },
    },
    Case {
        id: "basic.order-mixed-persistence",
        class: "basic",
        title: "six messages of one priority, persistent and transient in turn, on a durable queue: got back in order",
        rules: &[("basic", "08")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let q = ctx.queue("order");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, queue::Declare { durable: true, ..qdeclare(&q)? })?;
            for i in 0..6u8 {
                let props = BasicProperties { delivery_mode: Some(1 + i % 2), priority: Some(0), ..Default::default() };
                publish_with(&mut c, 1, "", &q, props, &[b'0' + i])?;
            }
            for i in 0..6u8 {
                match c.get(1, &q, true)? {
                    Some((_, body)) if body[..] == [b'0' + i] => {}
                    Some((_, body)) => return Err(fail(format!("message {i} next"), format!("{body:?}"))),
                    None => return Err(fail(format!("message {i} next"), "basic.get-empty")),
                }
            }
            c.close()
        },
    },
    Case {
        id: "basic.qos-prefetch-size-single-message",
        class: "basic",
        title: "basic.qos prefetch-size 16, then a 64-octet message to an idle consumer: it is delivered",
        rules: &[("basic.qos.prefetch-size", "01")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the connection with 540 ("prefetch_size!=0").
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.call::<basic::QosOk>(1, basic::Qos { prefetch_size: 16, prefetch_count: 0, global: false })?;
            consume(&mut c, 1, &q, "small-window", false)?;
            c.publish(1, "", &q, &[b'x'; 64])?;
            let (_, body) = expect_deliver(&mut c, 1)?;
            if body.len() != 64 {
                return Err(fail("the 64-octet body", format!("{} octets", body.len())));
            }
            c.close()
        },
    },
    Case {
        id: "basic.qos-prefetch-count",
        class: "basic",
        title: "basic.qos prefetch-count 2, four messages: two delivered, no third until one is acked, then one more",
        rules: &[("basic.qos.prefetch-count", "01")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.call::<basic::QosOk>(1, basic::Qos { prefetch_size: 0, prefetch_count: 2, global: false })?;
            for body in [b"1", b"2", b"3", b"4"] {
                c.publish(1, "", &q, body)?;
            }
            consume(&mut c, 1, &q, "window", false)?;
            let (first, _) = expect_deliver(&mut c, 1)?;
            expect_deliver(&mut c, 1)?;
            expect_nothing(&mut c, "third delivery while two are unacknowledged")?;
            c.send(1, basic::Ack { delivery_tag: first.delivery_tag, multiple: false })?;
            expect_deliver(&mut c, 1)?;
            c.close()
        },
    },
    Case {
        id: "basic.consume-duplicate-tag",
        class: "basic",
        title: "basic.consume twice with the same tag on one channel: connection.close 530 not-allowed",
        rules: &[("basic.consume.consumer-tag", "01")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            consume(&mut c, 1, &q, "dup", true)?;
            c.send(1, basic::Consume { queue: short(&q)?, consumer_tag: short("dup")?, no_ack: true, ..Default::default() })?;
            c.expect_connection_close(&[ReplyCode::NOT_ALLOWED])
        },
    },
    Case {
        id: "basic.consume-exclusive-consumed",
        class: "basic",
        title: "an exclusive basic.consume of a queue another connection consumes: channel.close 403 access-refused",
        rules: &[("basic.consume.exclusive", "01")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let q = ctx.queue("consumed");
            let mut a = Conn::open(ctx)?;
            a.open_channel(1)?;
            a.call::<queue::DeclareOk>(1, qdeclare(&q)?)?;
            consume(&mut a, 1, &q, "first", true)?;
            let mut b = Conn::open(ctx)?;
            b.open_channel(1)?;
            b.send(1, basic::Consume { queue: short(&q)?, exclusive: true, no_ack: true, ..Default::default() })?;
            b.expect_channel_close(1, &[ReplyCode::ACCESS_REFUSED])?;
            b.close()?;
            a.close()
        },
    },
    Case {
        id: "basic.cancel-deleted-queue",
        class: "basic",
        title: "basic.cancel of a consumer whose queue was deleted: cancel-ok",
        rules: &[("basic.cancel", "01")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            consume(&mut c, 1, &q, "orphan", true)?;
            c.open_channel(2)?;
            c.send(2, queue::Delete { queue: short(&q)?, ..Default::default() })?;
            next_skipping_cancel(&mut c, 2, "queue.delete-ok", |m| matches!(m, Method::QueueDeleteOk(_)))?;
            c.send(1, basic::Cancel { consumer_tag: short("orphan")?, no_wait: false })?;
            next_skipping_cancel(&mut c, 1, "basic.cancel-ok", |m| matches!(m, Method::BasicCancelOk(_)))?;
            c.close()
        },
    },
    Case {
        id: "basic.publish-internal-exchange",
        class: "basic",
        title: "basic.publish to an internal exchange: channel.close 403 access-refused",
        rules: &[("basic.publish.exchange", "02")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let x = ctx.exchange("internal");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, exchange::Declare { internal: true, ..xdeclare(&x, "fanout")? })?;
            c.publish(1, &x, "k", b"refused")?;
            c.expect_channel_close(1, &[ReplyCode::ACCESS_REFUSED])?;
            c.close()
        },
    },
    Case {
        id: "basic.publish-mandatory-unroutable",
        class: "basic",
        title: "a mandatory message to an exchange without bindings: basic.return 312 no-route with the message",
        rules: &[("basic.publish.mandatory", "01")],
        reference: "",
        level: Level::Should,
        run: |ctx| {
            let x = ctx.exchange("unbound");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&x, "direct")?)?;
            let publish = basic::Publish { exchange: short(&x)?, routing_key: short("nowhere")?, mandatory: true, ..Default::default() };
            c.send_content(1, publish, BasicProperties::default(), b"returned")?;
            expect_return(&mut c, ReplyCode::NO_ROUTE, b"returned")?;
            c.close()
        },
    },
    Case {
        id: "basic.publish-immediate-no-consumer",
        class: "basic",
        title: "an immediate message to a queue without consumers: basic.return 313 no-consumers with the message",
        rules: &[("basic.publish.immediate", "01")],
        reference: "",
        level: Level::Should,
        // RabbitMQ 3.10 closes the connection with 540 ("immediate=true").
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            let publish = basic::Publish { routing_key: short(&q)?, immediate: true, ..Default::default() };
            c.send_content(1, publish, BasicProperties::default(), b"returned")?;
            expect_return(&mut c, ReplyCode::NO_CONSUMERS, b"returned")?;
            c.close()
        },
    },
    Case {
        id: "basic.reject-requeue-not-same-channel",
        class: "basic",
        title: "basic.reject with requeue of a consumer's only message: not delivered to it again on the channel",
        rules: &[("basic.reject.requeue", "01")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 delivers the message again at once to the same consumer.
        run: |ctx| {
            requeued_not_redelivered(ctx, |tag| basic::Reject { delivery_tag: tag, requeue: true }.into())
        },
    },
    Case {
        id: "basic.nack-requeue-not-same-channel",
        class: "basic",
        title: "basic.nack with requeue of a consumer's only message: not delivered to it again on the channel",
        rules: &[("basic.nack.requeue", "01")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 delivers the message again at once to the same consumer.
        run: |ctx| {
            requeued_not_redelivered(ctx, |tag| basic::Nack { delivery_tag: tag, multiple: false, requeue: true }.into())
        },
    },
    Case {
        id: "basic.recover-redelivered",
        class: "basic",
        title: "basic.recover with requeue of an unacknowledged delivery: recover-ok, and the message again with redelivered set",
        rules: &[("basic.recover", "01")],
        reference: "",
        level: Level::Must,
        run: |ctx| recovered(ctx, true),
    },
    Case {
        id: "basic.recover-async-redelivered",
        class: "basic",
        title: "basic.recover-async with requeue of an unacknowledged delivery: the message again with redelivered set",
        rules: &[("basic.recover-async", "01")],
        reference: "",
        level: Level::Must,
        run: |ctx| recovered(ctx, false),
    },
    Case {
        id: "basic.nack-unknown-tag",
        class: "basic",
        title: "basic.nack of delivery tag 7, never delivered: channel.close 406 precondition-failed",
        rules: &[("basic.nack.multiple", "exists")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            channel_error(ctx, basic::Nack { delivery_tag: 7, multiple: false, requeue: false }, ReplyCode::PRECONDITION_FAILED)
        },
    },
    Case {
        id: "tx.commit-not-transacted",
        class: "tx",
        title: "tx.commit on a channel without tx.select: channel.close 406 precondition-failed",
        rules: &[("tx.commit", "transacted")],
        reference: "",
        level: Level::Must,
        run: |ctx| channel_error(ctx, tx::Commit, ReplyCode::PRECONDITION_FAILED),
    },
    Case {
        id: "tx.rollback-not-transacted",
        class: "tx",
        title: "tx.rollback on a channel without tx.select: channel.close 406 precondition-failed",
        rules: &[("tx.rollback", "transacted")],
        reference: "",
        level: Level::Must,
        run: |ctx| channel_error(ctx, tx::Rollback, ReplyCode::PRECONDITION_FAILED),
    },
    Case {
        id: "confirm.publishes-acked",
        class: "confirm",
        title: "three messages published after confirm.select: basic.ack for each of them (sequence numbers 1 to 3)",
        rules: &[("confirm", "all messages acknowledged")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.call::<confirm::SelectOk>(1, confirm::Select { no_wait: false })?;
            for body in [b"1", b"2", b"3"] {
                c.publish(1, "", &q, body)?;
            }
            let mut acked = [false; 3];
            while acked.contains(&false) {
                match c.recv() {
                    Event::Frame(Frame { channel: 1, payload: FramePayload::Method(Method::BasicAck(ack)) }) => {
                        for (i, a) in acked.iter_mut().enumerate() {
                            let seq = i as u64 + 1;
                            if seq == ack.delivery_tag || (ack.multiple && seq < ack.delivery_tag) {
                                *a = true;
                            }
                        }
                    }
                    other => {
                        let missing: Vec<String> = (1..=3).filter(|s| !acked[*s as usize - 1]).map(|s| s.to_string()).collect();
                        return Err(fail(format!("basic.ack for sequence numbers {}", missing.join(", ")), other.describe()));
                    }
                }
            }
            c.close()
        },
    },
    Case {
        id: "confirm.unroutable-return-before-ack",
        class: "confirm",
        title: "an unroutable mandatory message in confirm mode: basic.return first, then basic.ack",
        rules: &[("confirm", "unroutable messages")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let x = ctx.exchange("unbound");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&x, "direct")?)?;
            c.call::<confirm::SelectOk>(1, confirm::Select { no_wait: false })?;
            let publish = basic::Publish { exchange: short(&x)?, routing_key: short("nowhere")?, mandatory: true, ..Default::default() };
            c.send_content(1, publish, BasicProperties::default(), b"returned")?;
            expect_return(&mut c, ReplyCode::NO_ROUTE, b"returned")?;
            let ack = c.expect::<basic::Ack>(1)?;
            if ack.delivery_tag != 1 {
                return Err(fail("basic.ack of sequence number 1", format!("basic.ack delivery-tag {}", ack.delivery_tag)));
            }
            c.close()
        },
    },
];

/// The next frame must be `basic.return` on channel 1 with `code`, and the
/// returned content must be `body`.
fn expect_return(c: &mut Conn, code: ReplyCode, body: &[u8]) -> CaseResult {
    let ret = c.expect::<basic::Return>(1)?;
    if ReplyCode(ret.reply_code) != code {
        return Err(fail(
            format!("basic.return with {code}"),
            format!("basic.return with {}", ReplyCode(ret.reply_code)),
        ));
    }
    let got = c.read_content(1)?;
    if &got[..] != body {
        return Err(fail(
            format!("the returned body {body:?}"),
            format!("{got:?}"),
        ));
    }
    Ok(())
}

/// The next method on `ch` must be the one `is` accepts; a `basic.cancel`
/// from the broker (a consumer cancelled because its queue went) is skipped.
fn next_skipping_cancel(c: &mut Conn, ch: u16, what: &str, is: fn(&Method) -> bool) -> CaseResult {
    loop {
        match c.recv() {
            Event::Frame(Frame {
                payload: FramePayload::Method(Method::BasicCancel(_)),
                ..
            }) => continue,
            Event::Frame(Frame {
                channel,
                payload: FramePayload::Method(m),
            }) if channel == ch && is(&m) => return Ok(()),
            other => return Err(fail(format!("{what} on channel {ch}"), other.describe())),
        }
    }
}

/// A consumer's only message, given back with requeue by `give_back`, must
/// not be delivered to it again on the channel within the time limit.
fn requeued_not_redelivered(ctx: &mut Ctx, give_back: fn(u64) -> Method) -> CaseResult {
    let mut c = Conn::open(ctx)?;
    c.open_channel(1)?;
    let q = exclusive_queue(&mut c, 1)?;
    c.publish(1, "", &q, b"given back")?;
    consume(&mut c, 1, &q, "only", false)?;
    let (d, _) = expect_deliver(&mut c, 1)?;
    c.send(1, give_back(d.delivery_tag))?;
    expect_nothing(
        &mut c,
        "delivery of the message given back to the same consumer on the channel",
    )?;
    c.close()
}

/// An unacknowledged delivery, then `basic.recover` (`sync`) or
/// `basic.recover-async` with requeue: the message must come again with
/// redelivered set (and, for `basic.recover`, a `recover-ok`).
fn recovered(ctx: &mut Ctx, sync: bool) -> CaseResult {
    let mut c = Conn::open(ctx)?;
    c.open_channel(1)?;
    let q = exclusive_queue(&mut c, 1)?;
    c.publish(1, "", &q, b"recovered")?;
    consume(&mut c, 1, &q, "recover", false)?;
    let (first, _) = expect_deliver(&mut c, 1)?;
    if first.redelivered {
        return Err(fail(
            "a first delivery without redelivered",
            "redelivered set",
        ));
    }
    if sync {
        c.send(1, basic::Recover { requeue: true })?;
    } else {
        c.send(1, basic::RecoverAsync { requeue: true })?;
    }
    let (mut recover_ok, mut again) = (!sync, None);
    while !recover_ok || again.is_none() {
        match c.recv() {
            Event::Frame(Frame {
                channel: 1,
                payload: FramePayload::Method(Method::BasicRecoverOk(_)),
            }) if !recover_ok => recover_ok = true,
            Event::Frame(Frame {
                channel: 1,
                payload: FramePayload::Method(Method::BasicDeliver(d)),
            }) if again.is_none() => {
                c.read_content(1)?;
                again = Some(d);
            }
            other => {
                let what = if again.is_none() {
                    "the message delivered again"
                } else {
                    "basic.recover-ok"
                };
                return Err(fail(what, other.describe()));
            }
        }
    }
    match again {
        Some(d) if d.redelivered => c.close(),
        _ => Err(fail(
            "the message delivered again with redelivered set",
            "redelivered not set",
        )),
    }
}
