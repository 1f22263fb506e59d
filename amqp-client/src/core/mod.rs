//! The sans-IO connection core: fed bytes ([`Connection::handle_input`]) and
//! time ([`Connection::handle_timeout`]), it yields bytes to send
//! ([`Connection::poll_transmit`]), events ([`Connection::poll_event`]) and
//! its next deadline ([`Connection::poll_timeout`]). It never touches a
//! socket or reads a clock, so it is deterministic and tested against
//! scripted broker frames with fake time. Every adapter (blocking, async,
//! event loop) drives the same core.
//!
//! It owns the handshake (protocol header, start/start-ok, secure, tune,
//! open), channel multiplexing with one outstanding synchronous method per
//! channel (later requests queue behind it, in order, publishes included),
//! content assembly and splitting by `frame_max`, publisher-confirm sequence
//! numbers, heartbeats, blocked/unblocked, and both directions of the close
//! handshakes.
//!
//! # Driving the core yourself
//!
//! An adapter for another I/O framework keeps one contract:
//!
//! 1. feed every byte read, in order, to [`Connection::handle_input`], and
//!    the stream's end or failure to [`Connection::handle_eof`];
//! 2. call [`Connection::handle_timeout`] once the deadline of
//!    [`Connection::poll_timeout`] has passed (earlier is harmless): it
//!    sends heartbeats and enforces the handshake, heartbeat,
//!    blocked-connection and close timeouts;
//! 3. after any input, time or command, write everything
//!    [`Connection::poll_transmit`] yields, in order, buffering what the
//!    transport does not take at once;
//! 4. take [`Connection::poll_event`]s and turn them into the adapter's own
//!    API; commands (`open_channel`, `call`, `publish`, ...) return a
//!    [`RequestId`] that the matching [`Event::Reply`] or [`Event::Sent`]
//!    carries.
//!
//! The `custom_io` example of this crate does it over a plain
//! `std::net::TcpStream` in a dozen lines of loop.

mod channel;
pub mod client;
mod config;
mod event;
pub mod types;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel as chan, connection, encode_content, encode_method_frame, Assembled, Assembler,
    FieldTable, Frame, FrameDecoder, FramePayload, Method, MethodInfo, ProtocolHeader, ReplyCode,
    ShortStr,
};
use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{BrokerClose, Error};
use crate::params::{negotiate_channel_max, negotiate_frame_max};
use channel::{Channel, ChannelState, Outgoing};
pub use client::{
    ChannelRef, Client, ConsumerId, ConsumerMode, NextDelivery, Pending, Ready, Settle,
};
pub use config::{Config, HeartbeatFn};
pub use event::{Content, Event, RequestId, Tuning};

/// The frame size accepted before connection.tune has set one.
const PRE_TUNE_FRAME_MAX: u32 = 131_072;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    SecureOrTune,
    OpenOk,
}

#[derive(Debug)]
enum State {
    Handshake(Phase),
    Open,
    /// We sent connection.close and wait for close-ok.
    Closing {
        error: Error,
        deadline: Instant,
    },
    Closed,
}

/// The connection state machine. See the [module docs](self).
pub struct Connection {
    config: Config,
    state: State,
    decoder: FrameDecoder,
    input: BytesMut,
    assembler: Assembler,
    output: BytesMut,
    events: VecDeque<Event>,
    channels: BTreeMap<u16, Channel>,
    connection_calls: Channel,
    tuning: Tuning,
    next_request: u64,
    last_sent: Instant,
    last_received: Instant,
    frames_received: u64,
    handshake_deadline: Option<Instant>,
    blocked_since: Option<Instant>,
    closed_event_sent: bool,
    server_properties: FieldTable,
    /// `amqp_connection` span: the parent of every event and channel span.
    span: tracing::Span,
}

/// Numbers connections in traces.
static CONNECTION_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The connection name announced in the client properties, for traces.
fn connection_name(properties: &FieldTable) -> String {
    match properties.get("connection_name") {
        Some(amqp_protocol::FieldValue::LongStr(s)) => s.to_string_lossy().into_owned(),
        _ => String::new(),
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("tuning", &self.tuning)
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

fn short(s: &str) -> ShortStr {
    // Truncate at a char boundary rather than fail: used for reply texts.
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    ShortStr::try_from(&s[..end]).unwrap_or_default()
}

fn broker_close(code: u16, text: &ShortStr, class_id: u16, method_id: u16) -> BrokerClose {
    BrokerClose {
        code: ReplyCode(code),
        text: text.to_string_lossy().into_owned(),
        method: (class_id != 0 || method_id != 0).then_some(amqp_protocol::MethodId {
            class_id,
            method_id,
        }),
    }
}

impl Connection {
    /// Starts a connection: the protocol header is ready to send.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut output = BytesMut::with_capacity(8 * 1024);
        ProtocolHeader::AMQP_0_9_1.encode(&mut output);
        let span = tracing::info_span!(
            "amqp_connection",
            id = CONNECTION_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name = %connection_name(&config.client_properties),
            vhost = %config.virtual_host,
        );
        tracing::debug!(parent: &span, mechanism = %config.mechanism, "connecting");
        Connection {
            span,
            handshake_deadline: config.handshake_timeout.map(|t| now + t),
            config,
            state: State::Handshake(Phase::Start),
            decoder: FrameDecoder::new(PRE_TUNE_FRAME_MAX),
            input: BytesMut::with_capacity(64 * 1024),
            assembler: Assembler::new(),
            output,
            events: VecDeque::new(),
            channels: BTreeMap::new(),
            connection_calls: Channel::new(ChannelState::Open),
            tuning: Tuning {
                channel_max: 0,
                frame_max: 0,
                heartbeat: 0,
            },
            next_request: 1,
            last_sent: now,
            last_received: now,
            frames_received: 0,
            blocked_since: None,
            closed_event_sent: false,
            server_properties: FieldTable::new(),
        }
    }

    /// What was negotiated (zeros before connection.tune).
    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// Whether the handshake completed and the connection is not closing.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Whether the connection is finished: nothing more will be sent or
    /// received once the output is drained.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the broker has blocked the connection.
    pub fn is_blocked(&self) -> bool {
        self.blocked_since.is_some()
    }

    // ---------------------------------------------------------------- input

    /// How many frames the broker sent so far (complete frames decoded by
    /// [`handle_input`](Self::handle_input)). An I/O loop compares it
    /// before and after a read to tell a read that brought one message from
    /// one that brought many (and may then read in larger batches).
    pub fn frames_received(&self) -> u64 {
        self.frames_received
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.last_received = now;
        self.input.extend_from_slice(data);
        loop {
            if matches!(self.state, State::Closed) {
                return;
            }
            match self.decoder.decode(&mut self.input) {
                Ok(Some(frame)) => {
                    self.frames_received += 1;
                    self.handle_frame(frame, now)
                }
                Ok(None) => return,
                Err(e) => {
                    let broken = self.decoder.check_header(&self.input).is_err();
                    self.protocol_violation(
                        Error::Protocol(e.clone()),
                        e.reply_code(),
                        &e.to_string(),
                        now,
                    );
                    if broken {
                        // The stream cannot be resynchronised.
                        self.input.clear();
                        return;
                    }
                }
            }
        }
    }

    /// The stream ended (EOF) or failed.
    pub fn handle_eof(&mut self, error: Option<std::io::Error>) {
        let error = match (&self.state, error) {
            (State::Closed, _) => return,
            (State::Closing { error, .. }, _) => error.clone(),
            (State::Handshake(Phase::SecureOrTune), _) => Error::ProbableAuthenticationFailure,
            (State::Handshake(Phase::OpenOk), _) => Error::ProbableAccessDenied,
            (_, Some(e)) => Error::from(e),
            (_, None) => Error::from(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the TCP connection",
            )),
        };
        self.finish(error);
    }

    /// Advances time: heartbeats, timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Closed => return,
            State::Closing { deadline, error } => {
                if now >= *deadline {
                    let error = error.clone();
                    self.finish(error);
                }
                return;
            }
            State::Handshake(_) => {
                if self.handshake_deadline.is_some_and(|d| now >= d) {
                    self.finish(Error::HandshakeTimeout);
                }
                return;
            }
            State::Open => {}
        }
        if let (Some(since), Some(limit)) =
            (self.blocked_since, self.config.blocked_connection_timeout)
        {
            if now >= since + limit {
                // A blocked broker does not read: a close would never be
                // answered. Give up on the connection at once.
                self.finish(Error::BlockedConnectionTimeout);
                return;
            }
        }
        if let Some(interval) = self.heartbeat_interval() {
            if now >= self.last_received + interval * 2 {
                self.finish(Error::HeartbeatTimeout);
                return;
            }
            if now >= self.last_sent + interval && self.output.is_empty() {
                Frame::heartbeat().encode(&mut self.output);
                self.last_sent = now;
            }
        }
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        match &self.state {
            State::Closed => return None,
            State::Closing { deadline, .. } => return Some(*deadline),
            State::Handshake(_) => return self.handshake_deadline,
            State::Open => {}
        }
        if let Some(interval) = self.heartbeat_interval() {
            consider(self.last_received + interval * 2);
            consider(self.last_sent + interval);
        }
        if let (Some(since), Some(limit)) =
            (self.blocked_since, self.config.blocked_connection_timeout)
        {
            consider(since + limit);
        }
        next
    }

    fn heartbeat_interval(&self) -> Option<Duration> {
        (self.tuning.heartbeat > 0).then(|| Duration::from_secs(u64::from(self.tuning.heartbeat)))
    }

    // --------------------------------------------------------------- output

    /// How many bytes of output wait for [`Connection::poll_transmit`]:
    /// for an adapter that holds publishers back while too much is queued.
    pub fn pending_output_len(&self) -> usize {
        self.output.len()
    }

    /// Bytes to write to the socket, if any. `now` is when they are
    /// written (heartbeats are sent only when nothing else was).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            self.last_sent = now;
            Some(self.output.split().freeze())
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------- commands

    fn request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn check_open(&self) -> Result<(), Error> {
        match &self.state {
            State::Open => Ok(()),
            State::Handshake(_) => Err(Error::Misuse("the connection is not open yet".into())),
            State::Closing { error, .. } => Err(error.clone()),
            State::Closed => Err(Error::Misuse("the connection is closed".into())),
        }
    }

    /// Opens a channel on the lowest free id. The reply (channel.open-ok)
    /// arrives as [`Event::Reply`] for the returned request.
    pub fn open_channel(&mut self) -> Result<(u16, RequestId), Error> {
        self.check_open()?;
        let max = match self.tuning.channel_max {
            0 => u16::MAX,
            m => m,
        };
        let id = (1..=max)
            .find(|id| !self.channels.contains_key(id))
            .ok_or_else(|| Error::Misuse(format!("all {max} channels are in use")))?;
        let mut ch = Channel::new(ChannelState::Opening);
        ch.span = tracing::info_span!(parent: &self.span, "amqp_channel", channel = id);
        self.channels.insert(id, ch);
        let request = self.submit(id, chan::Open::default().into())?;
        Ok((id, request))
    }

    fn channel_mut(&mut self, channel: u16) -> Result<&mut Channel, Error> {
        if channel == 0 {
            return Ok(&mut self.connection_calls);
        }
        match self.channels.get_mut(&channel) {
            Some(c) if c.state != ChannelState::Closing => Ok(c),
            _ => Err(Error::Misuse(format!("channel {channel} is not open"))),
        }
    }

    /// Sends a method. When it expects a reply (and its `no-wait` is not
    /// set) the reply arrives as [`Event::Reply`]; otherwise
    /// [`Event::Sent`] reports it written. Methods on a channel go out in the
    /// order they were submitted, each synchronous one after the reply to the
    /// one before.
    pub fn call(&mut self, channel: u16, method: Method) -> Result<RequestId, Error> {
        self.check_open()?;
        match method {
            Method::ChannelOpen(_) => {
                Err(Error::Misuse("use open_channel to open a channel".into()))
            }
            Method::ChannelClose(_) => {
                Err(Error::Misuse("use close_channel to close a channel".into()))
            }
            Method::ConnectionClose(_) => {
                Err(Error::Misuse("use close to close the connection".into()))
            }
            Method::BasicPublish(_) => Err(Error::Misuse("use publish to publish".into())),
            Method::Unknown { .. } => Err(Error::Misuse(
                "cannot send a method the protocol does not define".into(),
            )),
            method => self.submit(channel, method),
        }
    }

    fn submit(&mut self, channel: u16, method: Method) -> Result<RequestId, Error> {
        if let Method::BasicConsume(c) = &method {
            let ch = self.channel_mut(channel)?;
            if !c.consumer_tag.is_empty() && ch.consumers.contains(&c.consumer_tag) {
                return Err(Error::DuplicateConsumerTag {
                    consumer_tag: c.consumer_tag.to_string_lossy().into_owned(),
                });
            }
        }
        let reply_to = expects_reply(&method);
        let request = self.request_id();
        let ch = self.channel_mut(channel)?;
        if let Method::ConfirmSelect(_) = method {
            ch.confirm = true;
        }
        ch.queue.push_back(match reply_to {
            Some(info) => Outgoing::Call {
                request,
                method,
                info,
            },
            None => Outgoing::Send { request, method },
        });
        self.flush(channel);
        Ok(request)
    }

    /// Publishes a message. In confirm mode (after confirm.select was
    /// submitted on the channel), returns the publish sequence number the
    /// broker's basic.ack / basic.nack will name.
    pub fn publish(
        &mut self,
        channel: u16,
        method: basic::Publish,
        properties: &amqp_protocol::BasicProperties,
        body: &[u8],
    ) -> Result<(RequestId, Option<u64>), Error> {
        self.check_open()?;
        if channel == 0 {
            return Err(Error::Misuse("cannot publish on channel 0".into()));
        }
        let frame_max = self.tuning.frame_max;
        let request = self.request_id();
        let method = Method::BasicPublish(method);
        let ch = self.channel_mut(channel)?;
        let seq = ch.confirm.then(|| {
            ch.next_seq += 1;
            ch.next_seq
        });
        if ch.queue.is_empty() && ch.in_flight.is_none() && ch.state == ChannelState::Open {
            encode_content(
                &mut self.output,
                channel,
                &method,
                properties,
                body,
                frame_max,
            );
            self.events.push_back(Event::Sent { channel, request });
        } else {
            let mut frames = BytesMut::new();
            encode_content(&mut frames, channel, &method, properties, body, frame_max);
            ch.queue.push_back(Outgoing::Publish {
                request,
                frames: frames.freeze(),
            });
        }
        Ok((request, seq))
    }

    /// Closes a channel (channel.close, then close-ok). Requests still queued
    /// on it fail; [`Event::ChannelClosed`] reports the end.
    pub fn close_channel(
        &mut self,
        channel: u16,
        code: ReplyCode,
        text: &str,
    ) -> Result<(), Error> {
        self.check_open()?;
        if channel == 0 {
            return Err(Error::Misuse(
                "channel 0 is the connection: use close".into(),
            ));
        }
        let ch = self.channel_mut(channel)?;
        ch.state = ChannelState::Closing;
        ch.closing_failed = ch.take_unfinished();
        let close = chan::Close {
            reply_code: code.0,
            reply_text: short(text),
            class_id: 0,
            method_id: 0,
        };
        encode_method_frame(&mut self.output, channel, &close.into());
        Ok(())
    }

    /// Closes the connection: connection.close, then close-ok (or the close
    /// timeout). [`Event::Closed`] reports the end.
    pub fn close(&mut self, code: ReplyCode, text: &str, now: Instant) {
        match self.state {
            State::Closing { .. } | State::Closed => return,
            State::Handshake(Phase::Start) => {
                // Nothing negotiated yet: just drop the stream.
                self.finish(Error::ConnectionClosedByClient);
                return;
            }
            _ => {}
        }
        let close = connection::Close {
            reply_code: code.0,
            reply_text: short(text),
            class_id: 0,
            method_id: 0,
        };
        encode_method_frame(&mut self.output, 0, &close.into());
        self.state = State::Closing {
            error: Error::ConnectionClosedByClient,
            deadline: now + self.config.close_timeout,
        };
    }

    /// Writes what can be written of a channel's queue: everything up to and
    /// including the next synchronous call.
    fn flush(&mut self, channel: u16) {
        let ch = if channel == 0 {
            &mut self.connection_calls
        } else {
            match self.channels.get_mut(&channel) {
                Some(c) => c,
                None => return,
            }
        };
        while ch.in_flight.is_none() {
            // Nothing but channel.open goes out before open-ok.
            if ch.state == ChannelState::Opening
                && !matches!(
                    ch.queue.front(),
                    Some(Outgoing::Call {
                        method: Method::ChannelOpen(_),
                        ..
                    })
                )
            {
                break;
            }
            let Some(item) = ch.queue.pop_front() else {
                break;
            };
            match item {
                Outgoing::Call {
                    request,
                    method,
                    info,
                } => {
                    encode_method_frame(&mut self.output, channel, &method);
                    ch.in_flight = Some((request, info));
                }
                Outgoing::Send { request, method } => {
                    encode_method_frame(&mut self.output, channel, &method);
                    self.events.push_back(Event::Sent { channel, request });
                }
                Outgoing::Publish { request, frames } => {
                    self.output.put_slice(&frames);
                    self.events.push_back(Event::Sent { channel, request });
                }
            }
        }
    }

    // --------------------------------------------------------------- frames

    fn handle_frame(&mut self, frame: Frame, now: Instant) {
        match self.state {
            State::Handshake(phase) => return self.handshake(phase, frame, now),
            State::Closing { .. } => {
                // Only close and close-ok matter now.
                if let FramePayload::Method(m) = &frame.payload {
                    match m {
                        Method::ConnectionCloseOk(_) => {
                            if let State::Closing { error, .. } = &self.state {
                                let e = error.clone();
                                self.finish(e);
                            }
                        }
                        Method::ConnectionClose(c) => {
                            encode_method_frame(
                                &mut self.output,
                                0,
                                &connection::CloseOk {}.into(),
                            );
                            let e = Error::ConnectionClosedByBroker(broker_close(
                                c.reply_code,
                                &c.reply_text,
                                c.class_id,
                                c.method_id,
                            ));
                            self.finish(e);
                        }
                        _ => {}
                    }
                }
                return;
            }
            State::Closed => return,
            State::Open => {}
        }
        let channel = frame.channel;
        if channel != 0 && !self.channels.contains_key(&channel) {
            let e = Error::UnexpectedMethod {
                channel,
                method: match &frame.payload {
                    FramePayload::Method(m) => m.id(),
                    _ => amqp_protocol::MethodId {
                        class_id: 0,
                        method_id: 0,
                    },
                },
            };
            return self.protocol_violation(
                e,
                ReplyCode::CHANNEL_ERROR,
                "frame on a channel that is not open",
                now,
            );
        }
        if matches!(frame.payload, FramePayload::Heartbeat) && channel != 0 {
            let e = Error::UnexpectedMethod {
                channel,
                method: amqp_protocol::MethodId {
                    class_id: 0,
                    method_id: 0,
                },
            };
            return self.protocol_violation(
                e,
                ReplyCode::FRAME_ERROR,
                "heartbeat on a non-zero channel",
                now,
            );
        }
        // A channel we are closing ignores everything but close and close-ok.
        if let Some(ch) = self.channels.get(&channel) {
            if ch.state == ChannelState::Closing {
                match &frame.payload {
                    FramePayload::Method(Method::ChannelCloseOk(_)) => {
                        return self
                            .channel_closed(channel, Error::ChannelClosedByClient { channel })
                    }
                    FramePayload::Method(Method::ChannelClose(c)) => {
                        // Both sides closed at once: answer and finish.
                        encode_method_frame(&mut self.output, channel, &chan::CloseOk {}.into());
                        let e = Error::ChannelClosedByBroker {
                            channel,
                            close: broker_close(
                                c.reply_code,
                                &c.reply_text,
                                c.class_id,
                                c.method_id,
                            ),
                        };
                        return self.channel_closed(channel, e);
                    }
                    _ => {
                        self.assembler.reset_channel(channel);
                        return;
                    }
                }
            }
        }
        match self.assembler.handle_frame(frame) {
            Ok(None) => {}
            Ok(Some(Assembled::Heartbeat)) => {}
            Ok(Some(Assembled::Method { channel, method })) => {
                self.handle_method(channel, method, None, now)
            }
            Ok(Some(Assembled::Content { channel, content })) => {
                let props = match content.header.properties {
                    amqp_protocol::Properties::Basic(p) => p,
                    _ => Default::default(),
                };
                let c = Content {
                    properties: props,
                    body: content.body,
                };
                self.handle_method(channel, content.method, Some(c), now)
            }
            Err(e) => {
                let code = e.reply_code();
                let text = e.to_string();
                self.protocol_violation(Error::Protocol(e), code, &text, now)
            }
        }
    }

    fn handshake(&mut self, phase: Phase, frame: Frame, now: Instant) {
        let FramePayload::Method(method) = frame.payload else {
            if matches!(frame.payload, FramePayload::Heartbeat) {
                return;
            }
            let e = Error::UnexpectedMethod {
                channel: frame.channel,
                method: amqp_protocol::MethodId {
                    class_id: 0,
                    method_id: 0,
                },
            };
            return self.protocol_violation(
                e,
                ReplyCode::UNEXPECTED_FRAME,
                "content during the handshake",
                now,
            );
        };
        match (phase, method) {
            (_, Method::ConnectionClose(c)) => {
                encode_method_frame(&mut self.output, 0, &connection::CloseOk {}.into());
                let close = broker_close(c.reply_code, &c.reply_text, c.class_id, c.method_id);
                let e = if phase != Phase::Start && c.reply_code == ReplyCode::ACCESS_REFUSED.0 {
                    Error::AuthenticationRefused(close)
                } else {
                    Error::ConnectionClosedByBroker(close)
                };
                self.finish(e);
            }
            (Phase::Start, Method::ConnectionStart(start)) => {
                if (start.version_major, start.version_minor) != (0, 9) {
                    return self.finish(Error::ProtocolVersionMismatch {
                        server: format!("{}-{}", start.version_major, start.version_minor),
                    });
                }
                let offered = start.mechanisms.to_string_lossy().into_owned();
                let is_offered =
                    |m: &ShortStr| offered.split(' ').any(|o| o.as_bytes() == m.as_bytes());
                if !is_offered(&self.config.mechanism) {
                    let Some(pos) = self
                        .config
                        .alternatives
                        .iter()
                        .position(|(m, _)| is_offered(m))
                    else {
                        return self.finish(Error::MechanismNotOffered {
                            mechanism: self.config.mechanism.to_string_lossy().into_owned(),
                            offered,
                        });
                    };
                    let (m, r) = self.config.alternatives.swap_remove(pos);
                    self.config.mechanism = m;
                    self.config.response = r;
                }
                self.server_properties = start.server_properties;
                let ok = connection::StartOk {
                    client_properties: self.config.client_properties.clone(),
                    mechanism: self.config.mechanism.clone(),
                    response: self.config.response.clone(),
                    locale: self.config.locale.clone(),
                };
                encode_method_frame(&mut self.output, 0, &ok.into());
                self.state = State::Handshake(Phase::SecureOrTune);
            }
            (Phase::SecureOrTune, Method::ConnectionSecure(_)) => {
                // PLAIN, AMQPLAIN and EXTERNAL have no challenge: answer
                // with the same response.
                let ok = connection::SecureOk {
                    response: self.config.response.clone(),
                };
                encode_method_frame(&mut self.output, 0, &ok.into());
            }
            (Phase::SecureOrTune, Method::ConnectionTune(tune)) => {
                let channel_max = negotiate_channel_max(self.config.channel_max, tune.channel_max);
                let frame_max = negotiate_frame_max(self.config.frame_max, tune.frame_max);
                let heartbeat = (self.config.heartbeat)(tune.heartbeat);
                self.tuning = Tuning {
                    channel_max,
                    frame_max,
                    heartbeat,
                };
                self.decoder.set_max_frame_size(frame_max);
                encode_method_frame(
                    &mut self.output,
                    0,
                    &connection::TuneOk {
                        channel_max,
                        frame_max,
                        heartbeat,
                    }
                    .into(),
                );
                let open = connection::Open {
                    virtual_host: self.config.virtual_host.clone(),
                    ..Default::default()
                };
                encode_method_frame(&mut self.output, 0, &open.into());
                self.last_sent = now;
                self.state = State::Handshake(Phase::OpenOk);
            }
            (Phase::OpenOk, Method::ConnectionOpenOk(_)) => {
                self.state = State::Open;
                tracing::info!(
                    parent: &self.span,
                    channel_max = self.tuning.channel_max,
                    frame_max = self.tuning.frame_max,
                    heartbeat = self.tuning.heartbeat,
                    "connection open"
                );
                self.events.push_back(Event::Connected {
                    server_properties: std::mem::take(&mut self.server_properties),
                    tuning: self.tuning,
                });
            }
            (_, other) => {
                let e = Error::UnexpectedMethod {
                    channel: frame.channel,
                    method: other.id(),
                };
                self.protocol_violation(
                    e,
                    ReplyCode::COMMAND_INVALID,
                    "unexpected method during the handshake",
                    now,
                );
            }
        }
    }

    fn handle_method(
        &mut self,
        channel: u16,
        method: Method,
        content: Option<Content>,
        now: Instant,
    ) {
        // Methods the broker initiates.
        match method {
            Method::ConnectionClose(c) => {
                encode_method_frame(&mut self.output, 0, &connection::CloseOk {}.into());
                let e = Error::ConnectionClosedByBroker(broker_close(
                    c.reply_code,
                    &c.reply_text,
                    c.class_id,
                    c.method_id,
                ));
                return self.finish(e);
            }
            Method::ConnectionBlocked(b) => {
                self.blocked_since.get_or_insert(now);
                tracing::warn!(parent: &self.span, reason = %b.reason, "connection blocked by the broker");
                self.events.push_back(Event::Blocked {
                    reason: b.reason.to_string_lossy().into_owned(),
                });
                return;
            }
            Method::ConnectionUnblocked(_) => {
                self.blocked_since = None;
                tracing::info!(parent: &self.span, "connection unblocked");
                self.events.push_back(Event::Unblocked);
                return;
            }
            Method::ChannelClose(c) => {
                encode_method_frame(&mut self.output, channel, &chan::CloseOk {}.into());
                let e = Error::ChannelClosedByBroker {
                    channel,
                    close: broker_close(c.reply_code, &c.reply_text, c.class_id, c.method_id),
                };
                return self.channel_closed(channel, e);
            }
            Method::ChannelFlow(f) => {
                if let Some(ch) = self.channels.get(&channel) {
                    tracing::info!(parent: &ch.span, active = f.active, "channel.flow from the broker");
                }
                encode_method_frame(
                    &mut self.output,
                    channel,
                    &chan::FlowOk { active: f.active }.into(),
                );
                self.events.push_back(Event::Flow {
                    channel,
                    active: f.active,
                });
                return;
            }
            Method::BasicDeliver(deliver) => {
                let content = content.unwrap_or_else(|| Content {
                    properties: Default::default(),
                    body: Bytes::new(),
                });
                self.events.push_back(Event::Delivery {
                    channel,
                    deliver,
                    content,
                });
                return;
            }
            Method::BasicReturn(ret) => {
                let content = content.unwrap_or_else(|| Content {
                    properties: Default::default(),
                    body: Bytes::new(),
                });
                self.events.push_back(Event::Return {
                    channel,
                    method: ret,
                    content,
                });
                return;
            }
            Method::BasicAck(a) if channel != 0 => {
                self.events.push_back(Event::Confirm {
                    channel,
                    delivery_tag: a.delivery_tag,
                    multiple: a.multiple,
                    ack: true,
                });
                return;
            }
            Method::BasicNack(n) if channel != 0 => {
                self.events.push_back(Event::Confirm {
                    channel,
                    delivery_tag: n.delivery_tag,
                    multiple: n.multiple,
                    ack: false,
                });
                return;
            }
            Method::BasicCancel(c) if channel != 0 => {
                if let Some(ch) = self.channels.get(&channel) {
                    tracing::warn!(parent: &ch.span, consumer_tag = %c.consumer_tag, "consumer cancelled by the broker");
                }
                if !c.no_wait {
                    let ok = basic::CancelOk {
                        consumer_tag: c.consumer_tag.clone(),
                    };
                    encode_method_frame(&mut self.output, channel, &ok.into());
                }
                if let Some(ch) = self.channels.get_mut(&channel) {
                    ch.consumers.remove(&c.consumer_tag);
                }
                self.events.push_back(Event::ConsumerCancelled {
                    channel,
                    consumer_tag: c.consumer_tag.to_string_lossy().into_owned(),
                });
                return;
            }
            _ => {}
        }
        // Replies to our calls.
        let ch = if channel == 0 {
            Some(&mut self.connection_calls)
        } else {
            self.channels.get_mut(&channel)
        };
        let Some(ch) = ch else { return };
        match ch.in_flight {
            Some((request, info)) if info.expects(method.id()) => {
                ch.in_flight = None;
                match &method {
                    Method::ChannelOpenOk(_) => {
                        ch.state = ChannelState::Open;
                        tracing::debug!(parent: &ch.span, "channel open");
                    }
                    Method::BasicConsumeOk(ok) => {
                        ch.consumers.insert(ok.consumer_tag.clone());
                    }
                    Method::BasicCancelOk(ok) => {
                        ch.consumers.remove(&ok.consumer_tag);
                    }
                    _ => {}
                }
                self.events.push_back(Event::Reply {
                    channel,
                    request,
                    method,
                    content,
                });
                self.flush(channel);
            }
            _ => {
                let e = Error::UnexpectedMethod {
                    channel,
                    method: method.id(),
                };
                self.protocol_violation(
                    e,
                    ReplyCode::COMMAND_INVALID,
                    "a reply to no outstanding request",
                    now,
                );
            }
        }
    }

    fn channel_closed(&mut self, channel: u16, error: Error) {
        self.assembler.reset_channel(channel);
        let Some(mut ch) = self.channels.remove(&channel) else {
            return;
        };
        let failed = ch.take_unfinished();
        match &error {
            Error::ChannelClosedByClient { .. } => {
                tracing::debug!(parent: &ch.span, "channel closed")
            }
            e => tracing::warn!(parent: &ch.span, error = %e, "channel closed"),
        }
        self.events.push_back(Event::ChannelClosed {
            channel,
            error,
            failed,
        });
    }

    /// The peer broke the protocol: close the connection with `code`.
    fn protocol_violation(&mut self, error: Error, code: ReplyCode, text: &str, now: Instant) {
        if matches!(self.state, State::Closing { .. } | State::Closed) {
            return;
        }
        tracing::error!(
            parent: &self.span,
            error = %error,
            reply_code = code.0,
            "protocol violation by the peer: closing the connection"
        );
        let close = connection::Close {
            reply_code: code.0,
            reply_text: short(text),
            class_id: 0,
            method_id: 0,
        };
        encode_method_frame(&mut self.output, 0, &close.into());
        self.state = State::Closing {
            error,
            deadline: now + self.config.close_timeout,
        };
    }

    /// The connection is over: fail every channel and report once.
    fn finish(&mut self, error: Error) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.state = State::Closed;
        match &error {
            Error::ConnectionClosedByClient => {
                tracing::info!(parent: &self.span, "connection closed")
            }
            e => tracing::warn!(parent: &self.span, error = %e, "connection closed"),
        }
        let channels = std::mem::take(&mut self.channels);
        for (channel, mut ch) in channels {
            let failed = ch.take_unfinished();
            self.events.push_back(Event::ChannelClosed {
                channel,
                error: error.clone(),
                failed,
            });
        }
        if !self.closed_event_sent {
            self.closed_event_sent = true;
            self.events.push_back(Event::Closed { error });
        }
    }
}

/// The method's metadata when its sender waits for a reply: it has replies
/// and its `no-wait` argument (if any) is not set.
fn expects_reply(method: &Method) -> Option<&'static MethodInfo> {
    let info = method.info()?;
    if info.responses.is_empty()
        || method
            .fields()
            .any(|(f, v)| f.name == "no-wait" && v == amqp_protocol::ArgValue::Bit(true))
    {
        return None;
    }
    Some(info)
}
