//! Protocol header and frame-level cases (specification sections 4.2.2 to
//! 4.2.7): what the broker must do with bytes that are not a valid frame.

use amqp_protocol::{basic, channel, queue, BasicProperties, ContentHeader, Frame, ReplyCode};
use bytes::Bytes;

use crate::case::{fail, Case, CaseResult, Ctx, Level};
use crate::wire::{Conn, Event};

const START_RULES: &[(&str, &str)] = &[
    ("connection.start", "protocol-name"),
    ("connection.start", "server-support"),
];

/// The framing cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "framing.header-wrong-version",
        class: "framing",
        title: "protocol header AMQP 0-9-9: a valid protocol header back, then the socket closed",
        rules: START_RULES,
        reference: "4.2.2",
        level: Level::Must,
        run: |ctx| refused_header(ctx, b"AMQP\x00\x00\x09\x09"),
    },
    Case {
        id: "framing.header-wrong-protocol-id",
        class: "framing",
        title: "protocol header with protocol id 7: a valid protocol header back, then the socket closed",
        rules: START_RULES,
        reference: "4.2.2",
        level: Level::Must,
        run: |ctx| refused_header(ctx, b"AMQP\x07\x00\x09\x01"),
    },
    Case {
        id: "framing.header-garbage",
        class: "framing",
        title: "an HTTP request instead of a protocol header: a valid protocol header back, then the socket closed",
        rules: START_RULES,
        reference: "4.2.2",
        level: Level::Must,
        run: |ctx| refused_header(ctx, b"GET / HTTP/1.1\r\n\r\n"),
    },
    Case {
        id: "framing.bad-frame-end",
        class: "framing",
        title: "a method frame ending in 0x00 instead of 0xCE: connection.close 501 frame-error",
        rules: &[],
        reference: "4.2.3 (frame-end)",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            let mut bytes = encoded(&Frame::method(1, channel::Open::default()));
            if let Some(end) = bytes.last_mut() {
                *end = 0;
            }
            c.send_raw(&bytes, "channel.open on channel 1 with frame end 0x00")?;
            c.expect_connection_close(&[ReplyCode::FRAME_ERROR])
        },
    },
    Case {
        id: "framing.unknown-frame-type",
        class: "framing",
        title: "a frame of type 9: connection.close 501 frame-error",
        rules: &[],
        reference: "4.2.3 (frame types 1, 2, 3, 8)",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.send_raw(&[9, 0, 0, 0, 0, 0, 0, 0xCE], "a frame of type 9, channel 0, empty")?;
            c.expect_connection_close(&[ReplyCode::FRAME_ERROR])
        },
    },
    Case {
        id: "framing.frame-over-frame-max",
        class: "framing",
        title: "a body frame one octet over the negotiated frame-max: connection.close 501 frame-error",
        rules: &[],
        reference: "4.2.3 (frame-max), connection.tune",
        level: Level::Must,
        // RabbitMQ 3.10 accepts the frame and sends nothing.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            let frame_max = c.tune.frame_max;
            if frame_max == 0 {
                return Err(crate::Check::NotApplicable("the broker sets no frame-max".into()));
            }
            c.open_channel(1)?;
            let body_len = frame_max as usize - 8 + 1;
            c.send(1, basic::Publish::default())?;
            let header = ContentHeader::new(body_len as u64, BasicProperties::default());
            c.send_frame(&Frame::header(1, header))?;
            c.send_frame(&Frame::body(1, Bytes::from(vec![b'x'; body_len])))?;
            c.expect_connection_close(&[ReplyCode::FRAME_ERROR])
        },
    },
    Case {
        id: "framing.heartbeat-nonzero-channel",
        class: "framing",
        title: "a heartbeat frame on (open) channel 1: connection.close 501 frame-error",
        rules: &[],
        reference: "4.2.7 (heartbeat frames use channel 0)",
        level: Level::Must,
        // RabbitMQ 3.10 closes the connection with 505 (unexpected-frame).
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send_raw(&[8, 0, 1, 0, 0, 0, 0, 0xCE], "heartbeat on channel 1")?;
            c.expect_connection_close(&[ReplyCode::FRAME_ERROR])
        },
    },
    Case {
        id: "framing.header-without-method",
        class: "framing",
        title: "a content header with no method before it: connection.close 505 unexpected-frame",
        rules: &[],
        reference: "4.2.6, constant unexpected-frame",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let header = ContentHeader::new(3, BasicProperties::default());
            c.send_frame(&Frame::header(1, header))?;
            c.expect_connection_close(&[ReplyCode::UNEXPECTED_FRAME])
        },
    },
    Case {
        id: "framing.body-longer-than-declared",
        class: "framing",
        title: "a body frame of 8 octets after a header declaring 4: connection.close 505 unexpected-frame",
        rules: &[],
        reference: "4.2.6, constant unexpected-frame",
        level: Level::Must,
        // RabbitMQ 3.10 sends nothing and keeps the connection open.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send(1, basic::Publish::default())?;
            let header = ContentHeader::new(4, BasicProperties::default());
            c.send_frame(&Frame::header(1, header))?;
            c.send_frame(&Frame::body(1, Bytes::from_static(b"12345678")))?;
            c.expect_connection_close(&[ReplyCode::UNEXPECTED_FRAME])
        },
    },
    Case {
        id: "framing.body-without-header",
        class: "framing",
        title: "a body frame right after a method without content: connection.close 505 unexpected-frame",
        rules: &[],
        reference: "4.2.6, constant unexpected-frame",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send(1, queue::Declare { exclusive: true, ..Default::default() })?;
            c.expect::<queue::DeclareOk>(1)?;
            c.send_frame(&Frame::body(1, Bytes::from_static(b"orphan")))?;
            c.expect_connection_close(&[ReplyCode::UNEXPECTED_FRAME])
        },
    },
];

fn encoded(frame: &Frame) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    frame.encode(&mut buf);
    buf.to_vec()
}

fn refused_header(ctx: &mut Ctx, header: &[u8]) -> CaseResult {
    let mut c = Conn::tcp(ctx)?;
    c.send_raw(header, &format!("{header:?}"))?;
    let expected = "a protocol header AMQP 0-9-1 (or lower), then the socket closed";
    match c.recv() {
        Event::ProtocolHeader(h) => {
            if h[4] != 0 || (h[5], h[6], h[7]) > (0, 9, 1) {
                return Err(fail(expected, format!("protocol header {h:?}")));
            }
            c.expect_socket_closed(expected)
        }
        other => Err(fail(expected, other.describe())),
    }
}
