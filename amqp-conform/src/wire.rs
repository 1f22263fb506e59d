//! One raw connection to the broker (TCP, or TLS for `amqps://`): bytes and
//! frames out, frames in, every one of them logged, and the checks the cases
//! are made of. Every byte the cases exchange goes through [`Conn`].

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel, connection, BasicProperties, ContentHeader, FieldTable, Frame, FrameDecoder,
    FramePayload, LongStr, Method, MethodType, ReplyCode, ShortStr,
};
use bytes::{Bytes, BytesMut};
use rustls::{ClientConnection, StreamOwned};

use crate::case::{fail, Check, Ctx};

/// Anything the broker did, as one read sees it.
#[derive(Debug, Clone, PartialEq)]
// Boxing the frame would cost an allocation per read for a rarely moved value.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A frame.
    Frame(Frame),
    /// An AMQP protocol header (the broker refusing our version).
    ProtocolHeader([u8; 8]),
    /// The broker closed the socket (or reset it).
    Closed,
    /// Nothing within the time limit.
    Timeout,
    /// Bytes that do not decode as a frame: what was wrong.
    Garbage(String),
}

impl Event {
    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Event::Frame(f) => f.to_string(),
            Event::ProtocolHeader(h) => format!("protocol header {h:?}"),
            Event::Closed => "socket closed".into(),
            Event::Timeout => "nothing (timed out)".into(),
            Event::Garbage(why) => format!("undecodable bytes: {why}"),
        }
    }
}

/// The largest frame we accept before tune: the broker's proposal is not
/// known yet, and a broker may legitimately send up to its own maximum.
const READ_FRAME_MAX: u32 = 16 * 1024 * 1024;

/// The socket, in clear or through TLS.
enum Stream {
    Tcp(TcpStream),
    // Boxed: rustls's connection state is large.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Writes all of `bytes` and, through TLS, the records they make.
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes),
            Stream::Tls(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            Stream::Tls(s) => f.debug_tuple("Tls").field(&s.sock).finish(),
        }
    }
}

/// The TLS handshake over `sock`, each read within `timeout`.
fn tls_handshake(
    sock: TcpStream,
    tls: &crate::Tls,
    host: &str,
    timeout: Duration,
) -> Result<Stream, String> {
    let config = crate::tls::client_config(tls)?;
    let name = crate::tls::server_name(tls, host)?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut sock = sock;
    let _ = sock.set_read_timeout(Some(timeout));
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Err("the broker closed the connection during the handshake".into())
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no TLS handshake within {timeout:?}"))
            }
            Err(e) => {
                // The alert telling the broker why, if rustls has one.
                let _ = conn.write_tls(&mut sock);
                return Err(e.to_string());
            }
        }
    }
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, sock))))
}

/// A raw connection. Dropping it closes the socket without a handshake
/// (without TLS's close_notify either).
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    buf: BytesMut,
    decoder: FrameDecoder,
    log: Rc<RefCell<Vec<String>>>,
    tag: String,
    timeout: Duration,
    eof: bool,
    /// What the broker proposed in `connection.tune` (after [`Conn::open`]).
    pub tune: connection::Tune,
    /// What the broker sent in `connection.start`.
    pub start: connection::Start,
}

impl Conn {
    /// A TCP connection, through the TLS handshake for an `amqps://`
    /// target; nothing sent yet.
    pub fn tcp(ctx: &mut Ctx) -> Result<Conn, Check> {
        ctx.connections += 1;
        let tag = format!("c{}", ctx.connections);
        let addr = format!("{}:{}", ctx.target.host, ctx.target.port);
        let sock = TcpStream::connect(&addr)
            .map_err(|e| fail(format!("a TCP connection to {addr}"), e.to_string()))?;
        let _ = sock.set_nodelay(true);
        let _ = sock.set_write_timeout(Some(ctx.timeout));
        let stream = match &ctx.target.tls {
            None => Stream::Tcp(sock),
            Some(tls) => {
                let stream = tls_handshake(sock, tls, &ctx.target.host, ctx.timeout)
                    .map_err(|e| fail(format!("a TLS connection to {addr}"), e))?;
                ctx.note(format!("{tag} TLS established with {addr}"));
                stream
            }
        };
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(8192),
            decoder: FrameDecoder::new(READ_FRAME_MAX),
            log: ctx.log.clone(),
            tag,
            timeout: ctx.timeout,
            eof: false,
            tune: connection::Tune::default(),
            start: connection::Start::default(),
        })
    }

    /// A connection through `connection.open`, with the broker's tune values
    /// and no heartbeats.
    pub fn open(ctx: &mut Ctx) -> Result<Conn, Check> {
        let mut c = Conn::start(ctx)?;
        c.start_ok(ctx, "PLAIN")?;
        let tune = c.tune.clone();
        c.tune_ok(tune.channel_max, tune.frame_max, 0)?;
        c.connection_open(&ctx.target.vhost.clone())?;
        Ok(c)
    }

    /// TCP, the 0-9-1 protocol header, and the broker's `connection.start`.
    pub fn start(ctx: &mut Ctx) -> Result<Conn, Check> {
        let mut c = Conn::tcp(ctx)?;
        c.send_raw(b"AMQP\x00\x00\x09\x01", "protocol header AMQP 0-9-1")?;
        c.start = c.expect::<connection::Start>(0)?;
        Ok(c)
    }

    /// `connection.start-ok` with the target's credentials and `mechanism`,
    /// then the broker's `connection.tune` (kept in [`Conn::tune`]).
    pub fn start_ok(&mut self, ctx: &Ctx, mechanism: &'static str) -> Result<(), Check> {
        let mut response = vec![0];
        response.extend_from_slice(ctx.target.user.as_bytes());
        response.push(0);
        response.extend_from_slice(ctx.target.password.as_bytes());
        let mut props = FieldTable::default();
        props.insert("product", "amqp-conform");
        props.insert("version", env!("CARGO_PKG_VERSION"));
        props.insert("platform", "Rust");
        props.insert("information", "AMQP 0-9-1 conformance cases");
        self.send(
            0,
            connection::StartOk {
                client_properties: props,
                mechanism: ShortStr::from_static(mechanism),
                response: LongStr::from(Bytes::from(response)),
                locale: ShortStr::from_static("en_US"),
            },
        )?;
        self.tune = self.expect::<connection::Tune>(0)?;
        Ok(())
    }

    /// `connection.tune-ok` with these values.
    pub fn tune_ok(
        &mut self,
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
    ) -> Result<(), Check> {
        self.send(
            0,
            connection::TuneOk {
                channel_max,
                frame_max,
                heartbeat,
            },
        )
    }

    /// `connection.open` and its `open-ok`.
    pub fn connection_open(&mut self, vhost: &str) -> Result<(), Check> {
        let vhost = ShortStr::try_from(vhost)
            .map_err(|_| fail("a vhost name of at most 255 bytes", vhost.to_owned()))?;
        self.call::<connection::OpenOk>(
            0,
            connection::Open {
                virtual_host: vhost,
                ..Default::default()
            },
        )?;
        Ok(())
    }

    /// Adds a line to the case's log; frames we send go through [`masked`].
    fn record(&self, dir: &str, what: &str) {
        self.log
            .borrow_mut()
            .push(format!("{} {dir} {what}", self.tag));
    }

    /// Sends bytes as they are; `what` says what they are for the log.
    pub fn send_raw(&mut self, bytes: &[u8], what: &str) -> Result<(), Check> {
        self.record("->", what);
        self.stream
            .write_all(bytes)
            .map_err(|e| fail(format!("to send {what}"), format!("write failed: {e}")))
    }

    /// Sends a frame.
    pub fn send_frame(&mut self, frame: &Frame) -> Result<(), Check> {
        let mut buf = BytesMut::with_capacity(frame.encoded_len());
        frame.encode(&mut buf);
        self.record("->", &masked(frame));
        self.stream.write_all(&buf).map_err(|e| {
            fail(
                format!("to send {frame}"),
                format!("write failed: {e} (the broker may have closed the connection)"),
            )
        })
    }

    /// Sends a method frame.
    pub fn send(&mut self, ch: u16, method: impl Into<Method>) -> Result<(), Check> {
        self.send_frame(&Frame::method(ch, method))
    }

    /// Sends a method with content (header and body frames).
    pub fn send_content(
        &mut self,
        ch: u16,
        method: impl Into<Method>,
        props: BasicProperties,
        body: &[u8],
    ) -> Result<(), Check> {
        self.send(ch, method)?;
        let header = ContentHeader::new(body.len() as u64, props);
        self.send_frame(&Frame::header(ch, header))?;
        if !body.is_empty() {
            self.send_frame(&Frame::body(ch, Bytes::copy_from_slice(body)))?;
        }
        Ok(())
    }

    /// `basic.publish` of `body` with default properties.
    pub fn publish(
        &mut self,
        ch: u16,
        exchange: &str,
        key: &str,
        body: &[u8],
    ) -> Result<(), Check> {
        let publish = basic::Publish {
            exchange: short(exchange)?,
            routing_key: short(key)?,
            ..Default::default()
        };
        self.send_content(ch, publish, BasicProperties::default(), body)
    }

    /// The next event, within the time limit. Broker heartbeats are skipped.
    pub fn recv(&mut self) -> Event {
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.buf.starts_with(b"AMQP") && self.buf.len() >= 8 {
                let mut h = [0u8; 8];
                h.copy_from_slice(&self.buf.split_to(8));
                let ev = Event::ProtocolHeader(h);
                self.record("<-", &ev.describe());
                return ev;
            }
            if !self.buf.starts_with(b"AMQP") || self.eof {
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(frame)) => {
                        self.record("<-", &frame.to_string());
                        if frame.payload == FramePayload::Heartbeat && frame.channel == 0 {
                            continue;
                        }
                        return Event::Frame(frame);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.buf.clear();
                        let ev = Event::Garbage(e.to_string());
                        self.record("<-", &ev.describe());
                        return ev;
                    }
                }
            }
            if self.eof {
                self.record("<-", "socket closed");
                return Event::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                self.record("<-", "nothing (timed out)");
                return Event::Timeout;
            }
            let _ = self.stream.tcp().set_read_timeout(Some(deadline - now));
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.eof = true,
            }
        }
    }

    /// The next frame must be `M` on `ch`.
    pub fn expect<M: MethodType>(&mut self, ch: u16) -> Result<M, Check> {
        let expected = format!("{} on channel {ch}", M::METHOD.name);
        match self.recv() {
            Event::Frame(Frame {
                channel,
                payload: FramePayload::Method(m),
            }) if channel == ch
                && m.class_id() == M::METHOD.class_id
                && m.method_id() == M::METHOD.method_id =>
            {
                M::try_from(m)
                    .map_err(|m| fail(expected, format!("{} (not decodable as such)", m.name())))
            }
            other => Err(fail(expected, other.describe())),
        }
    }

    /// Sends `req` on `ch` and expects `Resp` there.
    pub fn call<Resp: MethodType>(
        &mut self,
        ch: u16,
        req: impl Into<Method>,
    ) -> Result<Resp, Check> {
        self.send(ch, req)?;
        self.expect::<Resp>(ch)
    }

    /// Opens channel `ch`.
    pub fn open_channel(&mut self, ch: u16) -> Result<(), Check> {
        self.call::<channel::OpenOk>(ch, channel::Open::default())
            .map(drop)
    }

    /// The broker must close the connection with one of `codes`: the next
    /// frames (others are skipped) must include `connection.close` with such
    /// a code; we answer `close-ok`, and the broker must then close the socket.
    pub fn expect_connection_close(&mut self, codes: &[ReplyCode]) -> Result<(), Check> {
        let expected = format!(
            "connection.close with {}, then the socket closed",
            codes_str(codes)
        );
        let mut skipped = Vec::new();
        loop {
            match self.recv() {
                Event::Frame(Frame {
                    channel: 0,
                    payload: FramePayload::Method(Method::ConnectionClose(close)),
                }) => {
                    let code = ReplyCode(close.reply_code);
                    let _ = self.send(0, connection::CloseOk);
                    if !codes.contains(&code) {
                        return Err(fail(
                            expected,
                            format!(
                                "connection.close with {code} {:?}",
                                close.reply_text.to_string_lossy()
                            ),
                        ));
                    }
                    return self.expect_socket_closed(&expected);
                }
                Event::Frame(Frame {
                    channel,
                    payload: FramePayload::Method(m @ Method::ChannelClose(_)),
                }) => {
                    let _ = self.send(channel, channel::CloseOk);
                    return Err(fail(expected, format!("a channel exception only: {m}")));
                }
                Event::Frame(f) => skipped.push(f),
                other => return Err(fail(expected, with_skipped(&other, &skipped))),
            }
        }
    }

    /// The broker must close channel `ch` with one of `codes` (frames on
    /// other channels are skipped); we answer `close-ok`.
    pub fn expect_channel_close(&mut self, ch: u16, codes: &[ReplyCode]) -> Result<(), Check> {
        let expected = format!("channel.close on channel {ch} with {}", codes_str(codes));
        let mut skipped = Vec::new();
        loop {
            match self.recv() {
                Event::Frame(Frame {
                    channel,
                    payload: FramePayload::Method(Method::ChannelClose(close)),
                }) if channel == ch => {
                    let code = ReplyCode(close.reply_code);
                    self.send(ch, channel::CloseOk)?;
                    if !codes.contains(&code) {
                        return Err(fail(
                            expected,
                            format!(
                                "channel.close with {code} {:?}",
                                close.reply_text.to_string_lossy()
                            ),
                        ));
                    }
                    return Ok(());
                }
                Event::Frame(Frame {
                    payload: FramePayload::Method(m @ Method::ConnectionClose(_)),
                    ..
                }) => {
                    let _ = self.send(0, connection::CloseOk);
                    return Err(fail(expected, format!("{m}")));
                }
                Event::Frame(f) if f.channel != ch => skipped.push(f),
                other => return Err(fail(expected, with_skipped(&other, &skipped))),
            }
        }
    }

    /// The socket must close, with no frame before.
    pub fn expect_socket_closed(&mut self, expected: &str) -> Result<(), Check> {
        match self.recv() {
            Event::Closed => Ok(()),
            other => Err(fail(expected, other.describe())),
        }
    }

    /// The broker must close the socket without `connection.close` (a
    /// protocol header first is allowed when `header_ok`).
    pub fn expect_abrupt_close(&mut self, header_ok: bool) -> Result<(), Check> {
        let expected = "the socket closed without connection.close";
        loop {
            match self.recv() {
                Event::Closed => return Ok(()),
                Event::ProtocolHeader(_) if header_ok => continue,
                Event::Frame(Frame {
                    payload: FramePayload::Method(m @ Method::ConnectionClose(_)),
                    ..
                }) => {
                    let _ = self.send(0, connection::CloseOk);
                    return Err(fail(expected, format!("a negotiated close: {m}")));
                }
                other => return Err(fail(expected, other.describe())),
            }
        }
    }

    /// Closes the connection with the full handshake.
    pub fn close(mut self) -> Result<(), Check> {
        self.call::<connection::CloseOk>(
            0,
            connection::Close {
                reply_code: 200,
                reply_text: ShortStr::from_static("done"),
                ..Default::default()
            },
        )?;
        Ok(())
    }

    /// `basic.get` with `no_ack`: the `get-ok` and the body, or `None` on
    /// `get-empty`.
    pub fn get(
        &mut self,
        ch: u16,
        queue: &str,
        no_ack: bool,
    ) -> Result<Option<(basic::GetOk, Bytes)>, Check> {
        self.send(
            ch,
            basic::Get {
                queue: short(queue)?,
                no_ack,
                ..Default::default()
            },
        )?;
        match self.recv() {
            Event::Frame(Frame {
                payload: FramePayload::Method(Method::BasicGetEmpty(_)),
                ..
            }) => Ok(None),
            Event::Frame(Frame {
                payload: FramePayload::Method(Method::BasicGetOk(ok)),
                ..
            }) => {
                let body = self.read_content(ch)?;
                Ok(Some((ok, body)))
            }
            other => Err(fail("basic.get-ok or basic.get-empty", other.describe())),
        }
    }

    /// A content header and its body frames on `ch`.
    pub fn read_content(&mut self, ch: u16) -> Result<Bytes, Check> {
        let size = match self.recv() {
            Event::Frame(Frame {
                channel,
                payload: FramePayload::Header(h),
            }) if channel == ch => h.body_size,
            other => return Err(fail("a content header", other.describe())),
        };
        let mut body = BytesMut::new();
        while (body.len() as u64) < size {
            match self.recv() {
                Event::Frame(Frame {
                    channel,
                    payload: FramePayload::Body(b),
                }) if channel == ch => body.extend_from_slice(&b),
                other => return Err(fail("a content body frame", other.describe())),
            }
        }
        Ok(body.freeze())
    }
}

/// What the log shows of a frame we send: the frame, with the SASL
/// response of `connection.start-ok` and `connection.secure-ok` (which
/// holds the password) replaced by `***`.
pub fn masked(frame: &Frame) -> String {
    let hidden = || LongStr::from(Bytes::from_static(b"***"));
    match &frame.payload {
        FramePayload::Method(Method::ConnectionStartOk(m)) => Frame::method(
            frame.channel,
            connection::StartOk {
                response: hidden(),
                ..m.clone()
            },
        )
        .to_string(),
        FramePayload::Method(Method::ConnectionSecureOk(_)) => {
            Frame::method(frame.channel, connection::SecureOk { response: hidden() }).to_string()
        }
        _ => frame.to_string(),
    }
}

/// A short string from a case's name, as a failed check if too long.
pub fn short(s: &str) -> Result<ShortStr, Check> {
    ShortStr::try_from(s).map_err(|_| fail("a short string of at most 255 bytes", s.to_owned()))
}

/// What a wait that skipped `skipped` ended with: the frames skipped are
/// named, since one of them may be what the broker did instead (an `-ok`
/// where a close was due).
fn with_skipped(last: &Event, skipped: &[Frame]) -> String {
    const SHOWN: usize = 3;
    if skipped.is_empty() {
        return last.describe();
    }
    let mut names: Vec<String> = skipped.iter().take(SHOWN).map(|f| f.to_string()).collect();
    if skipped.len() > SHOWN {
        names.push(format!("{} more", skipped.len() - SHOWN));
    }
    format!("{}, after {}", last.describe(), names.join("; "))
}

fn codes_str(codes: &[ReplyCode]) -> String {
    codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sasl_response_is_masked() {
        let start_ok = Frame::method(
            0,
            connection::StartOk {
                mechanism: ShortStr::from_static("PLAIN"),
                response: LongStr::from(Bytes::from_static(b"\0guest\0s3cret")),
                locale: ShortStr::from_static("en_US"),
                ..Default::default()
            },
        );
        let line = masked(&start_ok);
        assert!(line.contains("connection.start-ok"), "{line}");
        assert!(line.contains("response=\"***\""), "{line}");
        assert!(!line.contains("s3cret"), "{line}");
        let secure_ok = Frame::method(
            0,
            connection::SecureOk {
                response: LongStr::from(Bytes::from_static(b"s3cret")),
            },
        );
        assert!(!masked(&secure_ok).contains("s3cret"));
        let other = Frame::method(1, channel::Open::default());
        assert_eq!(masked(&other), other.to_string());
    }
}
