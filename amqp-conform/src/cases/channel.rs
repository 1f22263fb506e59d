//! Opening and closing channels (class `channel`).

use amqp_protocol::{channel, queue, ReplyCode, ShortStr};

use crate::case::{fail, Case, Level};
use crate::wire::{short, Conn, Event};

/// The channel cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "channel.open-twice",
        class: "channel",
        title: "channel.open on an open channel: connection.close 504 channel-error",
        rules: &[("channel.open", "state")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send(1, channel::Open::default())?;
            c.expect_connection_close(&[ReplyCode::CHANNEL_ERROR])
        },
    },
    Case {
        id: "channel.close-by-client",
        class: "channel",
        title: "channel.close from the client: close-ok, and the channel number can be opened again",
        rules: &[],
        reference: "channel.close, channel.close-ok",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<channel::CloseOk>(
                1,
                channel::Close { reply_code: 200, reply_text: ShortStr::from_static("bye"), ..Default::default() },
            )?;
            c.open_channel(1)?;
            c.close()
        },
    },
    Case {
        id: "channel.close-by-server",
        class: "channel",
        title: "after the broker's channel.close (404), a method on the channel is discarded; close-ok frees it",
        rules: &[("channel.close", "stability")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let missing = ctx.name("missing");
            c.send(1, queue::Declare { queue: short(&missing)?, passive: true, ..Default::default() })?;
            let close = c.expect::<channel::Close>(1)?;
            if ReplyCode(close.reply_code) != ReplyCode::NOT_FOUND {
                return Err(fail("channel.close 404 for a passive declare of a missing queue", format!("{}", ReplyCode(close.reply_code))));
            }
            // Must be discarded: no declare-ok, no error.
            c.send(1, queue::Declare { exclusive: true, ..Default::default() })?;
            c.send(1, channel::CloseOk)?;
            c.send(1, channel::Open::default())?;
            match c.recv() {
                Event::Frame(f) if matches!(f.payload, amqp_protocol::FramePayload::Method(amqp_protocol::Method::ChannelOpenOk(_))) => c.close(),
                other => Err(fail("channel.open-ok (the method sent while closing discarded)", other.describe())),
            }
        },
    },
];
