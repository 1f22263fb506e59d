//! Queue rules (class `queue`).

use amqp_protocol::{queue, ReplyCode};

use super::exchange::channel_error;
use crate::case::{fail, Case, Level};
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
];
