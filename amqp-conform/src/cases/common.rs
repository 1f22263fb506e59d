//! Small helpers the cases share: declarations, deliveries, and waiting for
//! nothing to happen.

use amqp_protocol::{
    basic, exchange, queue, BasicProperties, Frame, FramePayload, Method, ReplyCode,
};
use bytes::Bytes;

use crate::case::{fail, Check};
use crate::wire::{short, Conn, Event};

/// The reply codes of channel exceptions (the soft errors of the
/// specification's constants): what a rule that says only "raise a channel
/// exception" accepts.
pub(super) const CHANNEL_EXCEPTIONS: &[ReplyCode] = &[
    ReplyCode::CONTENT_TOO_LARGE,
    ReplyCode::NO_ROUTE,
    ReplyCode::NO_CONSUMERS,
    ReplyCode::ACCESS_REFUSED,
    ReplyCode::NOT_FOUND,
    ReplyCode::RESOURCE_LOCKED,
    ReplyCode::PRECONDITION_FAILED,
];

/// The reply codes of connection exceptions (the hard errors).
const CONNECTION_EXCEPTIONS: &[ReplyCode] = &[
    ReplyCode::CONNECTION_FORCED,
    ReplyCode::INVALID_PATH,
    ReplyCode::FRAME_ERROR,
    ReplyCode::SYNTAX_ERROR,
    ReplyCode::COMMAND_INVALID,
    ReplyCode::CHANNEL_ERROR,
    ReplyCode::UNEXPECTED_FRAME,
    ReplyCode::RESOURCE_ERROR,
    ReplyCode::NOT_ALLOWED,
    ReplyCode::NOT_IMPLEMENTED,
    ReplyCode::INTERNAL_ERROR,
];

/// `exchange.declare` of `name` with `kind`, not passive, transient.
pub(super) fn xdeclare(name: &str, kind: &str) -> Result<exchange::Declare, Check> {
    Ok(exchange::Declare {
        exchange: short(name)?,
        kind: short(kind)?,
        ..Default::default()
    })
}

/// `queue.declare` of `name`, not passive, transient, shared.
pub(super) fn qdeclare(name: &str) -> Result<queue::Declare, Check> {
    Ok(queue::Declare {
        queue: short(name)?,
        ..Default::default()
    })
}

/// Declares an exclusive queue with a name the broker chooses; its name.
pub(super) fn exclusive_queue(c: &mut Conn, ch: u16) -> Result<String, Check> {
    let ok = c.call::<queue::DeclareOk>(
        ch,
        queue::Declare {
            exclusive: true,
            ..Default::default()
        },
    )?;
    Ok(ok.queue.to_string_lossy().into_owned())
}

/// `queue.bind` of `queue` to `exchange` with `key`, and its `bind-ok`.
pub(super) fn bind(
    c: &mut Conn,
    ch: u16,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), Check> {
    c.call::<queue::BindOk>(
        ch,
        queue::Bind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(key)?,
            ..Default::default()
        },
    )
    .map(drop)
}

/// `basic.consume` of `queue` with tag `tag`, and its `consume-ok`.
pub(super) fn consume(
    c: &mut Conn,
    ch: u16,
    queue: &str,
    tag: &str,
    no_ack: bool,
) -> Result<(), Check> {
    c.call::<basic::ConsumeOk>(
        ch,
        basic::Consume {
            queue: short(queue)?,
            consumer_tag: short(tag)?,
            no_ack,
            ..Default::default()
        },
    )
    .map(drop)
}

/// `basic.publish` of `body` with these properties.
pub(super) fn publish_with(
    c: &mut Conn,
    ch: u16,
    exchange: &str,
    key: &str,
    props: BasicProperties,
    body: &[u8],
) -> Result<(), Check> {
    let publish = basic::Publish {
        exchange: short(exchange)?,
        routing_key: short(key)?,
        ..Default::default()
    };
    c.send_content(ch, publish, props, body)
}

/// The next frame must be a `basic.deliver` on `ch`, with its content.
pub(super) fn expect_deliver(c: &mut Conn, ch: u16) -> Result<(basic::Deliver, Bytes), Check> {
    match c.recv() {
        Event::Frame(Frame {
            channel,
            payload: FramePayload::Method(Method::BasicDeliver(d)),
        }) if channel == ch => {
            let body = c.read_content(ch)?;
            Ok((d, body))
        }
        other => Err(fail(
            format!("basic.deliver on channel {ch}"),
            other.describe(),
        )),
    }
}

/// Nothing may arrive within the time limit (`what` says what must not).
pub(super) fn expect_nothing(c: &mut Conn, what: &str) -> Result<(), Check> {
    match c.recv() {
        Event::Timeout => Ok(()),
        other => Err(fail(
            format!("no {what} (nothing within the time limit)"),
            other.describe(),
        )),
    }
}

/// A delivery tag must not be zero.
pub(super) fn non_zero_tag(tag: u64, what: &str) -> Result<(), Check> {
    if tag == 0 {
        return Err(fail(
            format!("a non-zero delivery tag on {what}"),
            "delivery tag 0",
        ));
    }
    Ok(())
}

/// Passive `queue.declare` of `queue`: its `declare-ok` (the queue exists).
pub(super) fn queue_exists(c: &mut Conn, ch: u16, queue: &str) -> Result<queue::DeclareOk, Check> {
    c.call::<queue::DeclareOk>(
        ch,
        queue::Declare {
            queue: short(queue)?,
            passive: true,
            ..Default::default()
        },
    )
}

/// Passive `exchange.declare` of `name`: its `declare-ok` (it exists).
pub(super) fn exchange_exists(c: &mut Conn, ch: u16, name: &str) -> Result<(), Check> {
    c.call::<exchange::DeclareOk>(
        ch,
        exchange::Declare {
            exchange: short(name)?,
            passive: true,
            ..Default::default()
        },
    )
    .map(drop)
}

/// A routing or binding key from a case's unique name: the name's dots
/// become dashes so that it is one word for topic matching.
pub(super) fn word(name: &str) -> String {
    name.replace('.', "-")
}

/// The next frame must be `connection.close` with a connection exception's
/// code (any of them); we answer `close-ok`, and the socket must close.
pub(super) fn expect_connection_exception(c: &mut Conn) -> Result<(), Check> {
    let expected = "connection.close with a connection exception's code, then the socket closed";
    match c.recv() {
        Event::Frame(Frame {
            channel: 0,
            payload: FramePayload::Method(Method::ConnectionClose(close)),
        }) => {
            let _ = c.send(0, amqp_protocol::connection::CloseOk);
            let code = ReplyCode(close.reply_code);
            if !CONNECTION_EXCEPTIONS.contains(&code) {
                return Err(fail(expected, format!("connection.close with {code}")));
            }
            c.expect_socket_closed(expected)
        }
        other => Err(fail(expected, other.describe())),
    }
}

/// `basic.get` of `queue` (no-ack) until it gives a message or `within`
/// has passed: for a message the broker requeues when another connection
/// closes, which the specification does not require to be instantaneous.
pub(super) fn get_eventually(
    c: &mut Conn,
    ch: u16,
    queue: &str,
    within: std::time::Duration,
) -> Result<Option<(basic::GetOk, Bytes)>, Check> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let got = c.get(ch, queue, true)?;
        if got.is_some() || std::time::Instant::now() >= deadline {
            return Ok(got);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
