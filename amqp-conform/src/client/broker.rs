//! The scripted broker: accepting, reading frames, answering the workload.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel, confirm, connection, queue, Frame, FramePayload, Method, ShortStr,
};
use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::peer::{Peer, ScriptedBroker};

/// One line of the wire log: who sent what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLine {
    /// Since the broker accepted the connection.
    pub at: Duration,
    /// `client` or `broker`.
    pub from: &'static str,
    /// The frame, decoded, or what happened to the socket.
    pub what: String,
}

/// What happened on the wire of the (first) connection.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    /// Connections the client opened.
    pub connections: usize,
    /// Every frame and socket event, in order.
    pub lines: Vec<WireLine>,
    /// The reply code and text of the client's `connection.close`.
    pub client_close: Option<(u16, String)>,
    /// Whether the client sent `channel.close-ok`.
    pub channel_close_ok: bool,
    /// Whether the client closed (or reset) the socket, and when.
    pub socket_closed: Option<Duration>,
    /// When the broker misbehaved (sent the fault, or went silent).
    pub fault_at: Option<Duration>,
    /// Publishes received (complete contents).
    pub published: u32,
    /// Deliveries the client acked.
    pub acked: u32,
    /// The delivery tags the client acked.
    pub acked_tags: Vec<u64>,
    /// The reply code of a `channel.close` the client sent.
    pub client_channel_close: Option<u16>,
    /// Whether the client sent anything after the fault other than
    /// `connection.close`, `close-ok` and heartbeats.
    pub spoke_after_fault: bool,
    /// Whether the client sent `connection.close-ok`.
    pub connection_close_ok: bool,
    /// `basic.publish` methods the client sent after the fault.
    pub publishes_after_fault: u32,
    /// Body bytes the broker streamed (the `huge-content` scenario).
    pub streamed: u64,
}

/// Called with each wire line as it happens (the command line's `--listen`).
pub type Echo = Box<dyn Fn(&WireLine) + Send + Sync>;

/// A scripted broker serving one scenario, on [`ScriptedBroker`]: a
/// thread accepting connections, a thread per connection. The first
/// connection's wire is recorded; stops (closing every socket) on
/// [`Broker::stop`] or drop.
#[derive(Debug)]
pub struct Broker {
    port: u16,
    stop: Arc<AtomicBool>,
    wire: Arc<Mutex<Wire>>,
    scripted: Option<ScriptedBroker>,
}

impl Broker {
    /// Listens on `addr` (`127.0.0.1:0` for a free port).
    pub fn start(addr: &str, scenario: Scenario) -> std::io::Result<Broker> {
        Broker::start_with(addr, scenario, None)
    }

    /// Listens on `addr`; each wire line is also passed to `echo` as it
    /// happens.
    pub fn start_with(
        addr: &str,
        scenario: Scenario,
        echo: Option<Echo>,
    ) -> std::io::Result<Broker> {
        let stop = Arc::new(AtomicBool::new(false));
        let wire = Arc::new(Mutex::new(Wire::default()));
        let echo: Arc<Option<Echo>> = Arc::new(echo);
        let (s, w) = (stop.clone(), wire.clone());
        let scripted = ScriptedBroker::listen(addr, usize::MAX, move |peer| {
            let first = {
                let mut w = lock(&w);
                w.connections += 1;
                w.connections == 1
            };
            let mut c = Served::new(peer, scenario, echo.clone());
            c.serve(&s);
            if first {
                let mut w = lock(&w);
                let connections = w.connections;
                *w = std::mem::take(&mut c.wire);
                w.connections = connections;
            }
            Ok(())
        })?;
        Ok(Broker {
            port: scripted.port(),
            stop,
            wire,
            scripted: Some(scripted),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it; the first connection's wire.
    pub fn stop(mut self) -> Wire {
        self.shutdown();
        let w = lock(&self.wire).clone();
        w
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(s) = self.scripted.take() {
            s.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One served connection.
pub(super) struct Served {
    /// The connection, on the scripted-peer machinery.
    pub(super) peer: Peer,
    pub(super) scenario: Scenario,
    pub(super) echo: Arc<Option<Echo>>,
    pub(super) wire: Wire,
    pub(super) started: Instant,
    /// The broker has gone silent (no heartbeats, no replies).
    pub(super) silent: bool,
    /// Heartbeats negotiated, in seconds.
    pub(super) heartbeat: u16,
    pub(super) last_sent: Instant,
    /// A publish being received: its body bytes still to come.
    pub(super) content_left: Option<u64>,
    /// The queue declared.
    pub(super) queue: String,
    /// Deliveries sent.
    pub(super) delivered: u64,
    /// The client's channel (the first it opened).
    pub(super) channel: u16,
    /// Written when the socket takes it (streaming, dripping): what the
    /// socket did not take yet.
    pub(super) out: BytesMut,
    /// Writes wait at most a few milliseconds ([`Served::out`] keeps the rest).
    pub(super) nonblocking: bool,
    /// Body frames to stream without end on this channel, this big.
    pub(super) streaming: Option<(u16, usize)>,
    /// Bytes to send one per second, from this position, the next at.
    pub(super) drip: Option<(Bytes, usize, Instant)>,
    /// The frame-max the client agreed to.
    pub(super) frame_max: u32,
}

impl Served {
    pub(super) fn new(peer: Peer, scenario: Scenario, echo: Arc<Option<Echo>>) -> Served {
        Served {
            peer,
            scenario,
            echo,
            wire: Wire::default(),
            started: Instant::now(),
            silent: false,
            heartbeat: 0,
            last_sent: Instant::now(),
            content_left: None,
            queue: String::new(),
            delivered: 0,
            channel: 1,
            out: BytesMut::new(),
            nonblocking: false,
            streaming: None,
            drip: None,
            frame_max: FRAME_MAX,
        }
    }

    pub(super) fn log(&mut self, from: &'static str, what: String) {
        let line = WireLine {
            at: self.started.elapsed(),
            from,
            what,
        };
        if let Some(echo) = self.echo.as_ref() {
            echo(&line);
        }
        self.wire.lines.push(line);
    }

    pub(super) fn fault(&mut self) {
        if self.wire.fault_at.is_none() {
            self.wire.fault_at = Some(self.started.elapsed());
        }
    }

    pub(super) fn write(&mut self, bytes: &[u8], what: String) -> std::io::Result<()> {
        self.log("broker", what);
        self.last_sent = Instant::now();
        if !self.nonblocking {
            return self.peer.stream().write_all(bytes);
        }
        self.out.extend_from_slice(bytes);
        self.flush_out()
    }

    /// From now on, writes wait at most 10 ms; what the socket does not
    /// take is kept in order and written by [`Served::pump`].
    pub(super) fn write_nonblocking(&mut self) {
        self.nonblocking = true;
        let _ = self
            .peer
            .stream()
            .set_write_timeout(Some(Duration::from_millis(10)));
    }

    fn flush_out(&mut self) -> std::io::Result<()> {
        while !self.out.is_empty() {
            match self.peer.stream().write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    let _ = self.out.split_to(n);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Between reads: the next byte of a drip, more body frames of a
    /// stream, and what the socket did not take yet.
    fn pump(&mut self) -> std::io::Result<()> {
        if let Some((bytes, at, next)) = self.drip.take() {
            if Instant::now() < next {
                self.drip = Some((bytes, at, next));
            } else if at < bytes.len() {
                self.last_sent = Instant::now();
                self.peer.stream().write_all(&bytes[at..at + 1])?;
                self.drip = Some((bytes, at + 1, next + Duration::from_secs(1)));
            }
        }
        if let Some((ch, size)) = self.streaming {
            if self.out.len() < 4 << 20 {
                let body = vec![b'x'; size];
                while self.out.len() < 4 << 20 {
                    let frame = Frame::body(ch, Bytes::copy_from_slice(&body));
                    frame.encode(&mut self.out);
                    self.wire.streamed += size as u64;
                }
                self.last_sent = Instant::now();
            }
        }
        if self.nonblocking {
            self.flush_out()?;
        }
        Ok(())
    }

    /// Ends a stream of body frames (the client closed), logging its size.
    fn stop_streaming(&mut self) {
        if self.streaming.take().is_some() {
            let streamed = self.wire.streamed;
            self.log(
                "broker",
                format!("({streamed} bytes of body frames streamed)"),
            );
        }
    }

    pub(super) fn send(&mut self, ch: u16, method: impl Into<Method>) -> std::io::Result<()> {
        self.send_frame(&Frame::method(ch, method))
    }

    pub(super) fn send_frame(&mut self, frame: &Frame) -> std::io::Result<()> {
        let mut buf = BytesMut::with_capacity(frame.encoded_len());
        frame.encode(&mut buf);
        self.write(&buf, frame.to_string())
    }

    /// A frame as raw parts, well formed or not.
    pub(super) fn send_raw_frame(
        &mut self,
        kind: u8,
        ch: u16,
        payload: &[u8],
        end: u8,
        what: String,
    ) -> std::io::Result<()> {
        let mut buf = BytesMut::new();
        buf.put_u8(kind);
        buf.put_u16(ch);
        buf.put_u32(payload.len() as u32);
        buf.put_slice(payload);
        buf.put_u8(end);
        self.write(&buf, what)
    }

    fn serve(&mut self, stop: &AtomicBool) {
        let mut header_read = false;
        // After bytes that do not decode: read on only to see the socket end.
        let mut undecodable = false;
        while !stop.load(Ordering::SeqCst) {
            // At most 50 ms for the client (1 ms while streaming), so that
            // heartbeats, drips and streams go on between reads.
            let wait = Duration::from_millis(if self.nonblocking { 1 } else { 50 });
            if undecodable {
                if let Some(end) = self.discard(wait) {
                    self.stop_streaming();
                    self.client_gone(&end);
                    return;
                }
            } else {
                let read = if !header_read {
                    match self.peer.try_read_protocol_header(wait) {
                        Ok(Some(header)) => {
                            self.log("client", format!("protocol header {:?}", &header[..]));
                            header_read = true;
                            if self.opening().is_err() {
                                return;
                            }
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    }
                } else {
                    match self.peer.try_recv_frame_raw(wait) {
                        Ok(Some(frame)) => {
                            self.log("client", frame.to_string());
                            match self.on_frame(frame) {
                                Ok(true) => Ok(()),
                                Ok(false) => return,
                                Err(_) => {
                                    self.client_gone("write failed");
                                    return;
                                }
                            }
                        }
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    }
                };
                match read {
                    Ok(()) => {}
                    Err(e) if e.is_undecodable() => {
                        self.log("client", format!("undecodable bytes: {e}"));
                        undecodable = true;
                    }
                    Err(e) => {
                        self.stop_streaming();
                        if self.peer.client_closed() {
                            self.client_gone("socket closed (FIN)");
                        } else {
                            self.client_gone(&format!("socket error: {e}"));
                        }
                        return;
                    }
                }
            }
            if self.heartbeat > 0
                && !self.silent
                && self.last_sent.elapsed()
                    >= Duration::from_millis(500 * u64::from(self.heartbeat))
                && self.send_frame(&Frame::heartbeat()).is_err()
            {
                return;
            }
            if self.pump().is_err() {
                self.stop_streaming();
                self.client_gone("write failed");
                return;
            }
        }
    }

    /// Reads and drops what the client sends, within `wait`; how the
    /// socket ended, when it did.
    fn discard(&mut self, wait: Duration) -> Option<String> {
        let stream = self.peer.stream();
        let _ = stream.set_read_timeout(Some(wait));
        let mut chunk = [0u8; 65536];
        match (&*stream).read(&mut chunk) {
            Ok(0) => Some("socket closed (FIN)".into()),
            Ok(_) => None,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) if e.kind() == ErrorKind::Interrupted => None,
            Err(e) => Some(format!("socket error: {e}")),
        }
    }

    pub(super) fn client_gone(&mut self, what: &str) {
        if self.wire.socket_closed.is_none() {
            self.wire.socket_closed = Some(self.started.elapsed());
        }
        self.log("client", what.to_owned());
    }

    /// Answers one frame from the client; `false` once the connection is over.
    fn on_frame(&mut self, frame: Frame) -> std::io::Result<bool> {
        let ch = frame.channel;
        let method = match frame.payload {
            FramePayload::Method(m) => m,
            FramePayload::Heartbeat => return Ok(true),
            FramePayload::Header(h) => {
                self.note_after_fault();
                self.content_left = Some(h.body_size);
                if h.body_size == 0 {
                    return self.published(ch);
                }
                return Ok(true);
            }
            FramePayload::Body(b) => {
                self.note_after_fault();
                if let Some(left) = self.content_left {
                    let left = left.saturating_sub(b.len() as u64);
                    self.content_left = Some(left);
                    if left == 0 {
                        return self.published(ch);
                    }
                }
                return Ok(true);
            }
        };
        match &method {
            Method::ConnectionClose(c) => {
                self.stop_streaming();
                if self.wire.client_close.is_none() {
                    self.wire.client_close =
                        Some((c.reply_code, c.reply_text.to_string_lossy().into_owned()));
                }
                self.send(0, connection::CloseOk {})?;
                return Ok(true);
            }
            Method::ConnectionCloseOk(_) => {
                self.wire.connection_close_ok = true;
                let _ = self.peer.stream().shutdown(Shutdown::Both);
                return Ok(false);
            }
            Method::ChannelCloseOk(_) => {
                self.wire.channel_close_ok = true;
                return Ok(true);
            }
            _ => {}
        }
        self.note_after_fault();
        if matches!(method, Method::BasicPublish(_)) && self.wire.fault_at.is_some() {
            self.wire.publishes_after_fault += 1;
        }
        if matches!(method, Method::ChannelClose(_)) {
            self.stop_streaming();
        }
        if self.silent {
            return Ok(true);
        }
        match method {
            Method::ConnectionStartOk(_) => {
                let frame_max = if self.scenario.id == "frame-max" {
                    4096
                } else {
                    FRAME_MAX
                };
                self.send(
                    0,
                    connection::Tune {
                        channel_max: 2047,
                        frame_max,
                        heartbeat: HEARTBEAT,
                    },
                )?;
            }
            Method::ConnectionTuneOk(t) => {
                self.heartbeat = t.heartbeat;
                if t.frame_max != 0 {
                    self.frame_max = t.frame_max;
                }
            }
            Method::ConnectionOpen(_) => self.send(0, connection::OpenOk::default())?,
            Method::ChannelOpen(_) => {
                self.channel = ch;
                self.send(ch, channel::OpenOk::default())?;
            }
            Method::ChannelClose(c) => {
                self.wire.client_channel_close.get_or_insert(c.reply_code);
                self.send(ch, channel::CloseOk {})?;
            }
            Method::QueueDeclare(_) if self.scenario.id == "unexpected-reply" => {
                self.fault();
                self.send(ch, amqp_protocol::exchange::DeclareOk {})?;
            }
            Method::QueueDeclare(d) => {
                self.queue = if d.queue.is_empty() {
                    "amq.gen-conform".into()
                } else {
                    d.queue.to_string_lossy().into_owned()
                };
                if !d.no_wait {
                    let queue = ShortStr::try_from(self.queue.as_str()).unwrap_or_default();
                    self.send(
                        ch,
                        queue::DeclareOk {
                            queue,
                            message_count: 0,
                            consumer_count: 0,
                        },
                    )?;
                }
            }
            Method::ConfirmSelect(s) => {
                if !s.no_wait {
                    self.send(ch, confirm::SelectOk {})?;
                }
                if self.scenario.id == "unknown-channel" {
                    self.fault();
                    let other = if ch == 7 { 8 } else { 7 };
                    self.send(
                        other,
                        basic::Ack {
                            delivery_tag: 1,
                            multiple: false,
                        },
                    )?;
                }
            }
            // The 5th publish's method frame: the connection closed
            // before its content.
            Method::BasicPublish(_)
                if self.wire.published == 4 && self.scenario.id == "close-mid-publish" =>
            {
                self.fault();
                self.silent = true;
                self.send(
                    0,
                    connection::Close {
                        reply_code: 320,
                        reply_text: ShortStr::from_static("CONNECTION_FORCED - scripted"),
                        class_id: 0,
                        method_id: 0,
                    },
                )?;
            }
            // The first publish: silence from now on.
            Method::BasicPublish(_)
                if self.wire.published == 0 && self.scenario.id == "no-heartbeat" =>
            {
                // The silence began with the last byte sent.
                self.wire.fault_at = Some(self.last_sent.duration_since(self.started));
                self.silent = true;
            }
            Method::BasicConsume(c) => {
                let tag = if c.consumer_tag.is_empty() {
                    ShortStr::from_static("amq.ctag-conform")
                } else {
                    c.consumer_tag.clone()
                };
                if !c.no_wait {
                    self.send(
                        ch,
                        basic::ConsumeOk {
                            consumer_tag: tag.clone(),
                        },
                    )?;
                }
                if self.scenario.id == "unknown-consumer-tag" {
                    self.fault();
                    self.deliver(ch, &ShortStr::from_static("amq.ctag-unknown"))?;
                }
                for _ in 0..CONSUMES {
                    self.deliver(ch, &tag)?;
                    if matches!(
                        self.scenario.id,
                        "frame-max" | "body-too-long" | "huge-content"
                    ) {
                        break;
                    }
                }
            }
            Method::BasicAck(a) => {
                self.wire.acked += 1;
                self.wire.acked_tags.push(a.delivery_tag);
            }
            Method::BasicCancel(c) if !c.no_wait => self.send(
                ch,
                basic::CancelOk {
                    consumer_tag: c.consumer_tag,
                },
            )?,
            Method::BasicQos(_) => self.send(ch, basic::QosOk {})?,
            _ => {}
        }
        Ok(true)
    }

    pub(super) fn note_after_fault(&mut self) {
        if self.wire.fault_at.is_some() {
            self.wire.spoke_after_fault = true;
        }
    }
}
