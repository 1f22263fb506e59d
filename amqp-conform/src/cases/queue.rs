//! Queue rules (class `queue`).

use amqp_protocol::{basic, exchange, queue, Method, ReplyCode};

use super::common::{
    bind, consume, exclusive_queue, expect_connection_exception, qdeclare, queue_exists, word,
    xdeclare, CHANNEL_EXCEPTIONS,
};

use super::exchange::channel_error;
use crate::case::{fail, Case, Check, Level};
use crate::wire::{short, Conn};

/// The queue cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "queue.declare-generated-name",
        class: "queue",
        title: "queue.declare with an empty name: declare-ok with a generated, non-empty name",
        rules: &[("queue.declare.queue", "default-name")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let ok = c.call::<queue::DeclareOk>(
                1,
                queue::Declare {
                    exclusive: true,
                    ..Default::default()
                },
            )?;
            if ok.queue.is_empty() {
                return Err(fail("a generated queue name", "an empty name"));
            }
            c.close()
        },
    },
    Case {
        id: "queue.default-binding",
        class: "queue",
        title: "a message published to the default exchange with a queue's name reaches that queue",
        rules: &[
            ("queue.declare", "default-binding"),
            ("exchange", "default-exchange"),
            ("basic.publish.exchange", "default-exchange"),
        ],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let ok = c.call::<queue::DeclareOk>(
                1,
                queue::Declare {
                    exclusive: true,
                    ..Default::default()
                },
            )?;
            let name = ok.queue.to_string_lossy().into_owned();
            c.publish(1, "", &name, b"default")?;
            match c.get(1, &name, true)? {
                Some((_, body)) if &body[..] == b"default" => c.close(),
                Some((_, body)) => Err(fail("the body \"default\"", format!("{body:?}"))),
                None => Err(fail("the message in the queue", "basic.get-empty")),
            }
        },
    },
    Case {
        id: "queue.declare-reserved-name",
        class: "queue",
        title: "queue.declare of a new amq.* name: channel.close 403 access-refused",
        rules: &[("queue.declare.queue", "reserved")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = format!("amq.{}", ctx.name("reserved"));
            channel_error(
                ctx,
                queue::Declare {
                    queue: short(&name)?,
                    exclusive: true,
                    ..Default::default()
                },
                ReplyCode::ACCESS_REFUSED,
            )
        },
    },
    Case {
        id: "queue.declare-passive-missing",
        class: "queue",
        title: "passive queue.declare of a missing queue: channel.close 404 not-found",
        rules: &[("queue.declare.passive", "passive")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.name("missing");
            channel_error(
                ctx,
                queue::Declare {
                    queue: short(&name)?,
                    passive: true,
                    ..Default::default()
                },
                ReplyCode::NOT_FOUND,
            )
        },
    },
    Case {
        id: "queue.bind-missing-queue",
        class: "queue",
        title: "queue.bind of a missing queue to amq.direct: channel.close 404 not-found",
        rules: &[("queue.bind.queue", "must-exist")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.name("missing");
            let bind = queue::Bind {
                queue: short(&name)?,
                exchange: short("amq.direct")?,
                ..Default::default()
            };
            channel_error(ctx, bind, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "queue.bind-missing-exchange",
        class: "queue",
        title: "queue.bind of a queue to a missing exchange: channel.close 404 not-found",
        rules: &[("queue.bind.exchange", "exchange-existence")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let missing = ctx.name("missing");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let ok = c.call::<queue::DeclareOk>(
                1,
                queue::Declare {
                    exclusive: true,
                    ..Default::default()
                },
            )?;
            c.send(
                1,
                queue::Bind {
                    queue: ok.queue,
                    exchange: short(&missing)?,
                    ..Default::default()
                },
            )?;
            c.expect_channel_close(1, &[ReplyCode::NOT_FOUND])?;
            c.close()
        },
    },
    Case {
        id: "queue.purge-missing",
        class: "queue",
        title: "queue.purge of a missing queue: channel.close 404 not-found",
        rules: &[("queue.purge.queue", "must-exist")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.name("missing");
            channel_error(
                ctx,
                queue::Purge {
                    queue: short(&name)?,
                    ..Default::default()
                },
                ReplyCode::NOT_FOUND,
            )
        },
    },
    Case {
        id: "queue.delete-missing",
        class: "queue",
        title: "queue.delete of a missing queue: channel.close 404 not-found",
        rules: &[("queue.delete.queue", "must-exist")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers delete-ok with message-count 0: deletion is
        // idempotent there.
        run: |ctx| {
            let name = ctx.name("missing");
            channel_error(
                ctx,
                queue::Delete {
                    queue: short(&name)?,
                    ..Default::default()
                },
                ReplyCode::NOT_FOUND,
            )
        },
    },
    Case {
        id: "queue.declare-illegal-name",
        class: "queue",
        title: "queue.declare of a name with a space and a '!': channel.close 406 precondition-failed",
        rules: &[("queue.declare.queue", "syntax")],
        reference: "",
        // The rule states the syntax of the queue-name domain and names its
        // on-failure code: a requirement, though it has no keyword.
        level: Level::Must,
        // RabbitMQ 3.10 answers declare-ok: it does not enforce the syntax.
        run: |ctx| {
            // Registered for cleanup in case the broker creates it.
            let name = ctx.queue("illegal name!");
            channel_error(ctx, qdeclare(&name)?, ReplyCode::PRECONDITION_FAILED)
        },
    },
    Case {
        id: "queue.redeclare-other-durable",
        class: "queue",
        title: "queue.declare again, same fields: declare-ok; then durable instead of transient: a channel exception",
        rules: &[("queue.declare.passive", "equivalent")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.queue("equivalent");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, qdeclare(&name)?)?;
            c.call::<queue::DeclareOk>(1, qdeclare(&name)?)?;
            c.send(1, queue::Declare { durable: true, ..qdeclare(&name)? })?;
            c.expect_channel_close(1, CHANNEL_EXCEPTIONS)?;
            c.close()
        },
    },
    Case {
        id: "queue.declare-durable-and-transient",
        class: "queue",
        title: "queue.declare of a durable and a transient named queue: declare-ok for each, and both exist",
        rules: &[("queue.declare.durable", "types")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let durable = ctx.queue("durable");
            let transient = ctx.queue("transient");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, queue::Declare { durable: true, ..qdeclare(&durable)? })?;
            c.call::<queue::DeclareOk>(1, qdeclare(&transient)?)?;
            queue_exists(&mut c, 1, &durable)?;
            queue_exists(&mut c, 1, &transient)?;
            c.close()
        },
    },
    Case {
        id: "queue.declare-exclusive-and-shared",
        class: "queue",
        title: "queue.declare of an exclusive and a shared named queue: declare-ok for each; only the shared one is visible to another connection",
        rules: &[("queue.declare.exclusive", "types")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let exclusive = ctx.queue("exclusive");
            let shared = ctx.queue("shared");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, queue::Declare { exclusive: true, ..qdeclare(&exclusive)? })?;
            c.call::<queue::DeclareOk>(1, qdeclare(&shared)?)?;
            let mut other = Conn::open(ctx)?;
            other.open_channel(1)?;
            queue_exists(&mut other, 1, &shared)?;
            other.send(1, queue::Declare { passive: true, ..qdeclare(&exclusive)? })?;
            other.expect_channel_close(1, &[ReplyCode::RESOURCE_LOCKED])?;
            other.close()?;
            c.close()
        },
    },
    Case {
        id: "queue.exclusive-other-connection",
        class: "queue",
        title: "declare, bind, consume, purge and delete of another connection's exclusive queue: channel.close 405 for each",
        rules: &[("queue.declare.exclusive", "exclusive")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.queue("exclusive");
            let mut owner = Conn::open(ctx)?;
            owner.open_channel(1)?;
            owner.call::<queue::DeclareOk>(1, queue::Declare { exclusive: true, ..qdeclare(&name)? })?;
            let mut c = Conn::open(ctx)?;
            let q = short(&name)?;
            let attempts: Vec<(&str, Method)> = vec![
                ("queue.declare", queue::Declare { exclusive: true, ..qdeclare(&name)? }.into()),
                ("queue.bind", queue::Bind { queue: q.clone(), exchange: short("amq.direct")?, routing_key: q.clone(), ..Default::default() }.into()),
                ("basic.consume", basic::Consume { queue: q.clone(), ..Default::default() }.into()),
                ("queue.purge", queue::Purge { queue: q.clone(), ..Default::default() }.into()),
                ("queue.delete", queue::Delete { queue: q.clone(), ..Default::default() }.into()),
            ];
            for (ch, (what, method)) in (1..).zip(attempts) {
                c.open_channel(ch)?;
                c.send(ch, method)?;
                c.expect_channel_close(ch, &[ReplyCode::RESOURCE_LOCKED])
                    .map_err(|e| with_context(e, what))?;
            }
            c.close()?;
            owner.close()
        },
    },
    Case {
        id: "queue.redeclare-other-auto-delete",
        class: "queue",
        title: "redeclaring queues with auto-delete reversed: declare-ok, and each keeps its first flag",
        rules: &[("queue.declare.auto-delete", "pre-existence")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 406 ("inequivalent arg 'auto_delete'").
        run: |ctx| {
            let explicit = ctx.queue("explicit-delete");
            let auto = ctx.queue("auto-delete");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<queue::DeclareOk>(1, qdeclare(&explicit)?)?;
            c.call::<queue::DeclareOk>(1, queue::Declare { auto_delete: true, ..qdeclare(&auto)? })?;
            c.call::<queue::DeclareOk>(1, queue::Declare { auto_delete: true, ..qdeclare(&explicit)? })?;
            c.call::<queue::DeclareOk>(1, qdeclare(&auto)?)?;
            // An auto-delete queue goes when its last consumer is cancelled.
            for q in [&explicit, &auto] {
                consume(&mut c, 1, q, "t", true)?;
                c.call::<basic::CancelOk>(1, basic::Cancel { consumer_tag: short("t")?, no_wait: false })?;
            }
            queue_exists(&mut c, 1, &explicit)?;
            c.send(1, queue::Declare { passive: true, ..qdeclare(&auto)? })?;
            c.expect_channel_close(1, &[ReplyCode::NOT_FOUND])
                .map_err(|e| with_context(e, "the auto-delete queue gone after its consumer was cancelled"))?;
            c.close()
        },
    },
    Case {
        id: "queue.bind-twice",
        class: "queue",
        title: "the same queue.bind twice: bind-ok both times",
        rules: &[("queue.bind", "duplicates")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, "amq.direct", "twice")?;
            bind(&mut c, 1, &q, "amq.direct", "twice")?;
            c.close()
        },
    },
    Case {
        id: "queue.bind-single-delivery",
        class: "queue",
        title: "a queue bound to amq.topic three ways, one message matching all: queued once",
        rules: &[("queue.bind", "unique")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let key = word(&ctx.name("k"));
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            for pattern in [format!("{key}.x"), format!("{key}.*"), format!("{key}.#")] {
                bind(&mut c, 1, &q, "amq.topic", &pattern)?;
            }
            c.publish(1, "amq.topic", &format!("{key}.x"), b"once")?;
            if c.get(1, &q, true)?.is_none() {
                return Err(fail("the message in the queue", "basic.get-empty"));
            }
            match c.get(1, &q, true)? {
                None => c.close(),
                Some(_) => Err(fail("one copy of the message", "a second copy in the queue")),
            }
        },
    },
    Case {
        id: "queue.bind-durable-to-transient",
        class: "queue",
        title: "queue.bind of a durable queue to a transient exchange: bind-ok",
        rules: &[("queue.bind", "transient-exchange")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let x = ctx.exchange("transient");
            let q = ctx.queue("durable");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&x, "direct")?)?;
            c.call::<queue::DeclareOk>(1, queue::Declare { durable: true, ..qdeclare(&q)? })?;
            bind(&mut c, 1, &q, &x, "k")?;
            c.close()
        },
    },
    Case {
        id: "queue.blank-name-fresh-channel",
        class: "queue",
        title: "queue.bind, unbind, purge and delete with a blank queue name on a channel that declared none: channel.close 404 for each",
        rules: &[
            ("queue.bind.queue", "queue-known"),
            ("queue.unbind.queue", "queue-known"),
            ("queue.purge.queue", "queue-known"),
            ("queue.delete.queue", "queue-known"),
        ],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            let x = short("amq.direct")?;
            let attempts: Vec<(&str, Method)> = vec![
                ("queue.bind", queue::Bind { exchange: x.clone(), ..Default::default() }.into()),
                ("queue.unbind", queue::Unbind { exchange: x.clone(), ..Default::default() }.into()),
                ("queue.purge", queue::Purge::default().into()),
                ("queue.delete", queue::Delete::default().into()),
            ];
            for (ch, (what, method)) in (1..).zip(attempts) {
                c.open_channel(ch)?;
                c.send(ch, method)?;
                c.expect_channel_close(ch, &[ReplyCode::NOT_FOUND])
                    .map_err(|e| with_context(e, what))?;
            }
            c.close()
        },
    },
    Case {
        id: "queue.bind-default-exchange",
        class: "queue",
        title: "queue.bind and queue.unbind with a blank exchange name (the default exchange): bind-ok, unbind-ok",
        rules: &[
            ("queue.bind.exchange", "default-exchange"),
            ("queue.unbind.exchange", "default-exchange"),
        ],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 403: no bindings to or from the default exchange.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, "", &q)?;
            c.call::<queue::UnbindOk>(1, queue::Unbind { queue: short(&q)?, routing_key: short(&q)?, ..Default::default() })?;
            c.close()
        },
    },
    Case {
        id: "queue.direct-key-matching",
        class: "queue",
        title: "a queue bound to a direct exchange with key K: a message published with K reaches it",
        rules: &[("queue.bind.routing-key", "direct-exchange-key-matching")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let x = ctx.exchange("direct");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&x, "direct")?)?;
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, &x, "key-K")?;
            c.publish(1, &x, "key-K", b"K")?;
            match c.get(1, &q, true)? {
                Some((_, body)) if &body[..] == b"K" => c.close(),
                Some((_, body)) => Err(fail("the body \"K\"", format!("{body:?}"))),
                None => Err(fail("the message in the queue", "basic.get-empty")),
            }
        },
    },
    Case {
        id: "queue.unbind-missing-binding",
        class: "queue",
        title: "queue.unbind of a binding that does not exist, queue and exchange existing: a connection exception",
        rules: &[("queue.unbind", "01")],
        reference: "",
        level: Level::Must,
        // A missing queue or exchange has rules of its own (404, a channel
        // exception); the failure left to this rule is a binding that is
        // not there.
        // RabbitMQ 3.10 answers unbind-ok: unbinding is idempotent there.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.send(1, queue::Unbind { queue: short(&q)?, exchange: short("amq.direct")?, routing_key: short("never-bound")?, ..Default::default() })?;
            expect_connection_exception(&mut c)
        },
    },
    Case {
        id: "queue.unbind-missing-queue",
        class: "queue",
        title: "queue.unbind of a missing queue: channel.close 404 not-found",
        rules: &[("queue.unbind.queue", "must-exist")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers unbind-ok: unbinding is idempotent there.
        run: |ctx| {
            let missing = ctx.name("missing");
            let unbind = queue::Unbind { queue: short(&missing)?, exchange: short("amq.direct")?, routing_key: short("k")?, ..Default::default() };
            channel_error(ctx, unbind, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "queue.unbind-missing-exchange",
        class: "queue",
        title: "queue.unbind of a queue from a missing exchange: channel.close 404 not-found",
        rules: &[("queue.unbind.exchange", "must-exist")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers unbind-ok: unbinding is idempotent there.
        run: |ctx| {
            let missing = ctx.name("missing");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.send(1, queue::Unbind { queue: short(&q)?, exchange: short(&missing)?, routing_key: short("k")?, ..Default::default() })?;
            c.expect_channel_close(1, &[ReplyCode::NOT_FOUND])?;
            c.close()
        },
    },
    Case {
        id: "queue.purge-keeps-unacked",
        class: "queue",
        title: "queue.purge while a got message is unacknowledged: the message survives (rejected with requeue, it is got again)",
        rules: &[("queue.purge", "02")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.publish(1, "", &q, b"held")?;
            let Some((ok, _)) = c.get(1, &q, false)? else {
                return Err(fail("the message in the queue", "basic.get-empty"));
            };
            c.call::<queue::PurgeOk>(1, queue::Purge { queue: short(&q)?, ..Default::default() })?;
            c.send(1, basic::Reject { delivery_tag: ok.delivery_tag, requeue: true })?;
            match c.get(1, &q, true)? {
                Some((_, body)) if &body[..] == b"held" => c.close(),
                Some((_, body)) => Err(fail("the body \"held\"", format!("{body:?}"))),
                None => Err(fail("the unacknowledged message back after the purge", "basic.get-empty: the purge removed it")),
            }
        },
    },
    Case {
        id: "queue.delete-if-unused-consumed",
        class: "queue",
        title: "queue.delete if-unused of a queue with a consumer: channel.close 406, and the queue still exists",
        rules: &[("queue.delete.if-unused", "in-use")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.open_channel(2)?;
            consume(&mut c, 2, &q, "in-use", true)?;
            c.send(1, queue::Delete { queue: short(&q)?, if_unused: true, ..Default::default() })?;
            c.expect_channel_close(1, &[ReplyCode::PRECONDITION_FAILED])?;
            c.open_channel(1)?;
            queue_exists(&mut c, 1, &q)?;
            c.close()
        },
    },
    Case {
        id: "queue.delete-if-empty-not-empty",
        class: "queue",
        title: "queue.delete if-empty of a queue holding a message: channel.close 406, and the message is still there",
        rules: &[("queue.delete.if-empty", "not-empty")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.publish(1, "", &q, b"kept")?;
            c.send(1, queue::Delete { queue: short(&q)?, if_empty: true, ..Default::default() })?;
            c.expect_channel_close(1, &[ReplyCode::PRECONDITION_FAILED])?;
            c.open_channel(1)?;
            match c.get(1, &q, true)? {
                Some(_) => c.close(),
                None => Err(fail("the message still in the queue", "basic.get-empty")),
            }
        },
    },
];

/// Says which attempt a failed check was about.
pub(super) fn with_context(e: Check, what: &str) -> Check {
    match e {
        Check::Fail { expected, observed } => Check::Fail {
            expected: format!("{what}: {expected}"),
            observed,
        },
        other => other,
    }
}
