//! Exchange rules (class `exchange`).

use amqp_protocol::{exchange, Method, ReplyCode};

use crate::case::{Case, CaseResult, Ctx, Level};
use crate::wire::{short, Conn};

fn declare(name: &str, kind: &str, passive: bool) -> Result<exchange::Declare, crate::Check> {
    Ok(exchange::Declare {
        exchange: short(name)?,
        kind: short(kind)?,
        passive,
        ..Default::default()
    })
}

/// Sends `method` on a fresh channel 1; the broker must close that channel
/// with `code`.
pub(super) fn channel_error(
    ctx: &mut Ctx,
    method: impl Into<Method>,
    code: ReplyCode,
) -> CaseResult {
    let mut c = Conn::open(ctx)?;
    c.open_channel(1)?;
    c.send(1, method)?;
    c.expect_channel_close(1, &[code])?;
    c.close()
}

/// The exchange cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "exchange.standard-instances",
        class: "exchange",
        title: "amq.direct and amq.fanout exist (passive declare succeeds)",
        rules: &[("exchange", "required-instances")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            for (name, kind) in [("amq.direct", "direct"), ("amq.fanout", "fanout")] {
                c.call::<exchange::DeclareOk>(1, declare(name, kind, true)?)?;
            }
            c.close()
        },
    },
    Case {
        id: "exchange.declare-passive-missing",
        class: "exchange",
        title: "passive exchange.declare of a missing exchange: channel.close 404 not-found",
        rules: &[("exchange.declare.passive", "not-found")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.name("missing");
            channel_error(ctx, declare(&name, "direct", true)?, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "exchange.declare-reserved-name",
        class: "exchange",
        title: "exchange.declare of a new amq.* name: channel.close 403 access-refused",
        rules: &[("exchange.declare.exchange", "reserved")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            // Not registered for cleanup: the broker must refuse to create it.
            let name = format!("amq.{}", ctx.name("reserved"));
            channel_error(
                ctx,
                declare(&name, "direct", false)?,
                ReplyCode::ACCESS_REFUSED,
            )
        },
    },
    Case {
        id: "exchange.declare-unknown-type",
        class: "exchange",
        title: "exchange.declare with an unknown type: connection.close 503 command-invalid",
        rules: &[("exchange.declare.type", "support")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.exchange("unknown-type");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send(1, declare(&name, "no-such-type", false)?)?;
            c.expect_connection_close(&[ReplyCode::COMMAND_INVALID])
        },
    },
    Case {
        id: "exchange.redeclare-other-type",
        class: "exchange",
        title: "redeclaring a direct exchange as fanout: connection.close 530 not-allowed",
        rules: &[("exchange.declare.type", "typed")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 406 (precondition-failed,
        // "inequivalent arg 'type'") instead.
        run: |ctx| {
            let name = ctx.exchange("typed");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, declare(&name, "direct", false)?)?;
            c.send(1, declare(&name, "fanout", false)?)?;
            c.expect_connection_close(&[ReplyCode::NOT_ALLOWED])
        },
    },
    Case {
        id: "exchange.delete-missing",
        class: "exchange",
        title: "exchange.delete of a missing exchange: channel.close 404 not-found",
        rules: &[("exchange.delete.exchange", "exists")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers delete-ok: deletion is idempotent there.
        run: |ctx| {
            let name = ctx.name("missing");
            let delete = exchange::Delete {
                exchange: short(&name)?,
                ..Default::default()
            };
            channel_error(ctx, delete, ReplyCode::NOT_FOUND)
        },
    },
];
