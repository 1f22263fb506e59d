//! Connection negotiation, tuning and closing (class `connection`).

use amqp_protocol::{
    basic, channel, connection, queue, BasicProperties, ContentHeader, Frame, FramePayload, Method,
    ReplyCode, ShortStr,
};
use bytes::Bytes;

use crate::case::{fail, Case, Check, Level};
use crate::wire::{Conn, Event};

/// The connection cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "connection.start-version",
        class: "connection",
        title: "connection.start offers version 0-9 (not above what the client asked for)",
        rules: &[("connection.start", "server-support")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let c = Conn::start(ctx)?;
            let v = (c.start.version_major, c.start.version_minor);
            if v != (0, 9) {
                return Err(fail("version 0-9", format!("version {}-{}", v.0, v.1)));
            }
            Ok(())
        },
    },
    Case {
        id: "connection.start-locales",
        class: "connection",
        title: "connection.start lists the en_US locale",
        rules: &[("connection.start.locales", "required-support")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let c = Conn::start(ctx)?;
            let locales = c.start.locales.to_string_lossy().into_owned();
            if !locales.split(' ').any(|l| l == "en_US") {
                return Err(fail("en_US among the locales", format!("{locales:?}")));
            }
            Ok(())
        },
    },
    Case {
        id: "connection.start-server-properties",
        class: "connection",
        title: "connection.start's server-properties hold host, product, version, platform, copyright, information",
        rules: &[("connection.start.server-properties", "required-fields")],
        reference: "",
        level: Level::Should,
        // RabbitMQ 3.10 sends no "host": this case fails against it.
        run: |ctx| {
            let c = Conn::start(ctx)?;
            let props = &c.start.server_properties;
            let missing: Vec<&str> = ["host", "product", "version", "platform", "copyright", "information"]
                .into_iter()
                .filter(|k| props.get(k).is_none())
                .collect();
            if !missing.is_empty() {
                return Err(fail("all six fields", format!("missing {}", missing.join(", "))));
            }
            Ok(())
        },
    },
    Case {
        id: "connection.unknown-mechanism",
        class: "connection",
        title: "start-ok with a mechanism the broker did not offer: the socket closed without further data",
        rules: &[("connection.start-ok.mechanism", "validity")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            let _ = c.send(
                0,
                connection::StartOk {
                    mechanism: ShortStr::from_static("NO-SUCH-MECHANISM"),
                    locale: ShortStr::from_static("en_US"),
                    ..Default::default()
                },
            );
            c.expect_abrupt_close(false)
        },
    },
    Case {
        id: "connection.tune-ok-channel-max-above",
        class: "connection",
        title: "tune-ok with channel-max above the broker's: the socket closed without a negotiated close",
        rules: &[("connection.tune-ok.channel-max", "upper-limit")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            c.start_ok(ctx, "PLAIN")?;
            let t = c.tune.clone();
            if t.channel_max == 0 || t.channel_max == u16::MAX {
                return Err(Check::NotApplicable(format!("the broker's channel-max is {}", t.channel_max)));
            }
            c.tune_ok(t.channel_max + 1, t.frame_max, 0)?;
            let _ = c.send(0, connection::Open { virtual_host: ShortStr::try_from(ctx.target.vhost.as_str()).unwrap_or_default(), ..Default::default() });
            c.expect_abrupt_close(false)
        },
    },
    Case {
        id: "connection.tune-ok-frame-max-above",
        class: "connection",
        title: "tune-ok with frame-max above the broker's: the socket closed without a negotiated close",
        rules: &[("connection.tune-ok.frame-max", "upper-limit")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            c.start_ok(ctx, "PLAIN")?;
            let t = c.tune.clone();
            if t.frame_max == 0 || t.frame_max == u32::MAX {
                return Err(Check::NotApplicable(format!("the broker's frame-max is {}", t.frame_max)));
            }
            c.tune_ok(t.channel_max, t.frame_max + 1, 0)?;
            let _ = c.send(0, connection::Open { virtual_host: ShortStr::try_from(ctx.target.vhost.as_str()).unwrap_or_default(), ..Default::default() });
            c.expect_abrupt_close(false)
        },
    },
    Case {
        id: "connection.tune-ok-frame-max-below-minimum",
        class: "connection",
        title: "tune-ok with frame-max 4095, below frame-min-size: the connection refused (closed, negotiated or not)",
        rules: &[("connection.tune-ok.frame-max", "minimum")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            c.start_ok(ctx, "PLAIN")?;
            let t = c.tune.clone();
            c.tune_ok(t.channel_max, 4095, 0)?;
            let _ = c.send(0, connection::Open { virtual_host: ShortStr::try_from(ctx.target.vhost.as_str()).unwrap_or_default(), ..Default::default() });
            connection_ends(&mut c)
        },
    },
    Case {
        id: "connection.frame-min-size-accepted",
        class: "connection",
        title: "with frame-max 4096 negotiated, a frame of exactly 4096 octets is accepted",
        rules: &[("connection.tune.frame-max", "minimum"), ("connection.tune-ok.frame-max", "minimum")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            c.start_ok(ctx, "PLAIN")?;
            let t = c.tune.clone();
            c.tune_ok(t.channel_max, 4096, 0)?;
            c.connection_open(&ctx.target.vhost.clone())?;
            c.open_channel(1)?;
            let q = c.call::<queue::DeclareOk>(1, queue::Declare { exclusive: true, ..Default::default() })?;
            let body = Bytes::from(vec![b'x'; 4096 - 8]);
            c.send(1, basic::Publish { routing_key: q.queue.clone(), ..Default::default() })?;
            c.send_frame(&Frame::header(1, ContentHeader::new(body.len() as u64, BasicProperties::default())))?;
            c.send_frame(&Frame::body(1, body.clone()))?;
            let queue = q.queue.to_string_lossy().into_owned();
            match c.get(1, &queue, true)? {
                Some((_, got)) if got == body => c.close(),
                Some((_, got)) => Err(fail("the 4088-octet body back", format!("{} octets", got.len()))),
                None => Err(fail("the message back", "basic.get-empty")),
            }
        },
    },
    Case {
        id: "connection.channel-max-exceeded",
        class: "connection",
        title: "channel.open on a channel above the negotiated channel-max (2): connection.close 504 or 530",
        rules: &[],
        reference: "connection.tune channel-max; constants channel-error, not-allowed",
        level: Level::Must,
        // RabbitMQ 3.10 answers channel.open-ok: it limits how many channels
        // are open, not the channel number, as channel-max defines it.
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            c.start_ok(ctx, "PLAIN")?;
            let t = c.tune.clone();
            c.tune_ok(2, t.frame_max, 0)?;
            c.connection_open(&ctx.target.vhost.clone())?;
            c.send(3, channel::Open::default())?;
            c.expect_connection_close(&[ReplyCode::CHANNEL_ERROR, ReplyCode::NOT_ALLOWED])
        },
    },
    Case {
        id: "connection.unknown-vhost",
        class: "connection",
        title: "connection.open of a vhost that does not exist: connection.close 530, 403 or 402",
        rules: &[("connection.open.virtual-host", "security")],
        reference: "",
        level: Level::Should,
        run: |ctx| {
            let mut c = Conn::start(ctx)?;
            c.start_ok(ctx, "PLAIN")?;
            let t = c.tune.clone();
            c.tune_ok(t.channel_max, t.frame_max, 0)?;
            let vhost = ctx.name("no-such-vhost");
            c.send(0, connection::Open { virtual_host: crate::wire::short(&vhost)?, ..Default::default() })?;
            c.expect_connection_close(&[ReplyCode::NOT_ALLOWED, ReplyCode::ACCESS_REFUSED, ReplyCode::INVALID_PATH])
        },
    },
    Case {
        id: "connection.method-on-unopened-channel",
        class: "connection",
        title: "queue.declare on channel 5, never opened: connection.close 504 channel-error",
        rules: &[],
        reference: "constant channel-error",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.send(5, queue::Declare { exclusive: true, ..Default::default() })?;
            c.expect_connection_close(&[ReplyCode::CHANNEL_ERROR])
        },
    },
    Case {
        id: "connection.server-to-client-method",
        class: "connection",
        title: "basic.deliver sent by the client: connection.close 503 command-invalid",
        rules: &[],
        reference: "basic.deliver (chassis: client only); constant command-invalid",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send_content(1, basic::Deliver::default(), BasicProperties::default(), b"x")?;
            c.expect_connection_close(&[ReplyCode::COMMAND_INVALID])
        },
    },
    Case {
        id: "connection.close-by-client",
        class: "connection",
        title: "connection.close from the client: close-ok, and nothing after it",
        rules: &[],
        reference: "connection.close, connection.close-ok",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send(0, connection::Close { reply_code: 200, reply_text: ShortStr::from_static("bye"), ..Default::default() })?;
            c.expect::<connection::CloseOk>(0)?;
            // The receiver of close-ok closes the socket (connection.close-ok):
            // the broker may keep it open, but must send nothing more.
            match c.recv() {
                Event::Closed | Event::Timeout => Ok(()),
                other => Err(fail("nothing after close-ok", other.describe())),
            }
        },
    },
    Case {
        id: "connection.close-by-server",
        class: "connection",
        title: "after the broker's connection.close, a method is discarded; close-ok ends the connection",
        rules: &[("connection.close", "stability")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.send(5, channel::Flow { active: true })?;
            let close = c.expect::<connection::Close>(0)?;
            let _ = close;
            // Discarded: no channel.open-ok may come back.
            c.send(1, channel::Open::default())?;
            c.send(0, connection::CloseOk)?;
            c.expect_socket_closed("the socket closed after close-ok, with nothing sent in between")
        },
    },
    Case {
        id: "connection.close-crossed",
        class: "connection",
        title: "a connection.close answering the broker's connection.close: close-ok",
        rules: &[("connection.close", "stability")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.send(5, channel::Flow { active: true })?;
            c.expect::<connection::Close>(0)?;
            c.send(0, connection::Close { reply_code: 200, reply_text: ShortStr::from_static("crossed"), ..Default::default() })?;
            c.expect::<connection::CloseOk>(0)?;
            Ok(())
        },
    },
];

fn connection_ends(c: &mut Conn) -> Result<(), Check> {
    let expected = "the connection closed";
    match c.recv() {
        Event::Closed => Ok(()),
        Event::Frame(Frame {
            payload: FramePayload::Method(Method::ConnectionClose(_)),
            ..
        }) => {
            let _ = c.send(0, connection::CloseOk);
            c.expect_socket_closed(expected)
        }
        other => Err(fail(expected, other.describe())),
    }
}
