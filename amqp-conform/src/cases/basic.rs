//! Basic and tx rules (classes `basic` and `tx`).

use amqp_protocol::{basic, tx, ReplyCode};

use super::exchange::channel_error;
use crate::case::{Case, Level};

/// The basic and tx cases.
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
];
