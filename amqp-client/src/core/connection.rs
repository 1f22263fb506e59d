//! The wire state machine: [`Connection`].

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel as chan, connection, encode_content, encode_method_frame, Assembler, FieldTable,
    Frame, FrameDecoder, Method, MethodInfo, ProtocolHeader, ReplyCode, ShortStr,
};
use bytes::{BufMut, Bytes, BytesMut};

use super::channel::{Channel, ChannelState, Outgoing};
use super::frames::{not_a_frame, version_mismatch, Answer};
use super::{Config, Event, RequestId, Tuning};
use crate::error::{BrokerClose, Error};

/// The frame size accepted before connection.tune has set one.
const PRE_TUNE_FRAME_MAX: u32 = 131_072;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Start,
    SecureOrTune,
    OpenOk,
}

#[derive(Debug)]
pub(super) enum State {
    Handshake(Phase),
    Open,
    /// We sent connection.close and wait for close-ok.
    Closing {
        error: Error,
        deadline: Instant,
    },
    Closed,
}

/// The wire state machine. See the [module docs](super).
pub struct Connection {
    pub(super) config: Config,
    pub(super) state: State,
    pub(super) decoder: FrameDecoder,
    pub(super) input: BytesMut,
    pub(super) assembler: Assembler,
    pub(super) output: BytesMut,
    pub(super) events: VecDeque<Event>,
    pub(super) channels: BTreeMap<u16, Channel>,
    pub(super) connection_calls: Channel,
    pub(super) tuning: Tuning,
    pub(super) next_request: u64,
    pub(super) last_sent: Instant,
    pub(super) last_received: Instant,
    pub(super) frames_received: u64,
    pub(super) handshake_deadline: Option<Instant>,
    pub(super) blocked_since: Option<Instant>,
    pub(super) closed_event_sent: bool,
    /// A close or close-ok was queued since [`take_close_queued`](Self::take_close_queued).
    pub(super) close_queued: bool,
    pub(super) server_properties: FieldTable,
    /// `amqp_connection` span: the parent of every event and channel span.
    pub(super) span: tracing::Span,
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

pub(super) fn short(s: &str) -> ShortStr {
    // Truncate at a char boundary rather than fail: used for reply texts.
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    ShortStr::try_from(&s[..end]).unwrap_or_default()
}

pub(super) fn broker_close(
    code: u16,
    text: &ShortStr,
    class_id: u16,
    method_id: u16,
) -> BrokerClose {
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
            close_queued: false,
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

    /// Whether channel.close was sent on `channel` and its close-ok is
    /// awaited: what arrives on it meanwhile is discarded (channel.close).
    pub(crate) fn is_channel_closing(&self, channel: u16) -> bool {
        self.channels
            .get(&channel)
            .is_some_and(|c| c.state == ChannelState::Closing)
    }

    /// Whether connection.close was sent or received and the close is not
    /// finished.
    pub fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing { .. })
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
        if self.frames_received == 0 && matches!(self.state, State::Handshake(Phase::Start)) {
            match not_a_frame(&self.input) {
                Answer::Frames => {}
                Answer::Undecided => return,
                Answer::Other => {
                    let error = version_mismatch(&self.input);
                    self.input.clear();
                    return self.finish(error);
                }
            }
        }
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
            // A short answer that is no frame, then the end: say what it was.
            (State::Handshake(Phase::Start), _)
                if self.frames_received == 0
                    && !self.input.is_empty()
                    && not_a_frame(&self.input) != Answer::Frames =>
            {
                version_mismatch(&self.input)
            }
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
                    self.finish(Error::HandshakeTimeout {
                        endpoint: self.config.endpoint.clone(),
                        address: self.config.peer_address,
                    });
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

    /// The adapter does not read the socket now (the application has not
    /// taken what was delivered): the broker's silence until `now` says
    /// nothing about it, so the heartbeat timeout counts from here.
    pub fn input_paused(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
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

    pub(super) fn heartbeat_interval(&self) -> Option<Duration> {
        (self.tuning.heartbeat > 0).then(|| Duration::from_secs(u64::from(self.tuning.heartbeat)))
    }

    // --------------------------------------------------------------- output

    /// Whether a channel or connection close, or a close-ok, was queued
    /// since the last call: an adapter writes the output before it wakes
    /// the waiters, so that an application that exits on the error it
    /// learns does not take the close off the wire.
    pub fn take_close_queued(&mut self) -> bool {
        std::mem::take(&mut self.close_queued)
    }

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

    /// The highest channel number: the negotiated channel-max, where 0
    /// means no limit but the field's.
    fn channel_max(&self) -> u16 {
        match self.tuning.channel_max {
            0 => u16::MAX,
            m => m,
        }
    }

    /// Opens a channel on the lowest free id. The reply (channel.open-ok)
    /// arrives as [`Event::Reply`] for the returned request.
    pub fn open_channel(&mut self) -> Result<(u16, RequestId), Error> {
        self.check_open()?;
        let max = self.channel_max();
        let id = (1..=max)
            .find(|id| !self.channels.contains_key(id))
            .ok_or_else(|| Error::Misuse(format!("all {max} channels are in use")))?;
        self.open_on(id)
    }

    /// Opens channel `number` (Pika's `channel(channel_number=...)`):
    /// [`Error::InvalidChannelNumber`] for 0 or above the negotiated
    /// channel-max, [`Error::ChannelInUse`] while a channel of that number
    /// is open, opening or closing. The reply arrives as for
    /// [`open_channel`](Self::open_channel).
    pub fn open_channel_number(&mut self, number: u16) -> Result<RequestId, Error> {
        self.check_open()?;
        let channel_max = self.channel_max();
        if number == 0 || number > channel_max {
            return Err(Error::InvalidChannelNumber {
                channel: number,
                channel_max,
            });
        }
        if self.channels.contains_key(&number) {
            return Err(Error::ChannelInUse { channel: number });
        }
        self.open_on(number).map(|(_, request)| request)
    }

    fn open_on(&mut self, id: u16) -> Result<(u16, RequestId), Error> {
        let request = self.request_id();
        self.open_as(id, request)?;
        Ok((id, request))
    }

    /// Opens channel `number` under `request`, an id reserved earlier with
    /// [`reserve_request`](Self::reserve_request) (a recovered connection
    /// reopens its channels under the requests that were waiting).
    pub(crate) fn open_as(&mut self, number: u16, request: RequestId) -> Result<(), Error> {
        self.check_open()?;
        if self.channels.contains_key(&number) {
            return Err(Error::ChannelInUse { channel: number });
        }
        let mut ch = Channel::new(ChannelState::Opening);
        ch.span = tracing::info_span!(parent: &self.span, "amqp_channel", channel = number);
        self.channels.insert(number, ch);
        self.submit_as(number, chan::Open::default().into(), request)
    }

    /// A request id for a command submitted later (with
    /// [`call_as`](Self::call_as) or [`open_as`](Self::open_as)), on this
    /// connection or the one that replaces it.
    pub(crate) fn reserve_request(&mut self) -> RequestId {
        self.request_id()
    }

    /// Numbers this connection's requests after `previous`'s, so that the
    /// ids of a connection it replaces stay unique.
    pub(crate) fn continue_after(&mut self, previous: &Connection) {
        self.next_request = self.next_request.max(previous.next_request);
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
        let request = self.request_id();
        self.submit_as(channel, method, request)?;
        Ok(request)
    }

    /// [`call`](Self::call) under `request`, an id reserved earlier with
    /// [`reserve_request`](Self::reserve_request).
    pub(crate) fn call_as(
        &mut self,
        channel: u16,
        method: Method,
        request: RequestId,
    ) -> Result<(), Error> {
        self.check_open()?;
        match method {
            Method::ChannelOpen(_)
            | Method::ChannelClose(_)
            | Method::ConnectionClose(_)
            | Method::BasicPublish(_)
            | Method::Unknown { .. } => Err(Error::Misuse(format!(
                "call_as cannot send {}",
                method.name()
            ))),
            method => self.submit_as(channel, method, request),
        }
    }

    fn submit_as(&mut self, channel: u16, method: Method, request: RequestId) -> Result<(), Error> {
        if let Method::BasicConsume(c) = &method {
            let ch = self.channel_mut(channel)?;
            if !c.consumer_tag.is_empty() && ch.consumers.contains(&c.consumer_tag) {
                return Err(Error::DuplicateConsumerTag {
                    consumer_tag: c.consumer_tag.to_string_lossy().into_owned(),
                });
            }
        }
        let reply_to = expects_reply(&method);
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
        Ok(())
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
        self.publish_keeping(channel, method, properties, body, false)
            .map(|(r, seq, _)| (r, seq))
    }

    /// [`publish`](Self::publish), and with `keep` a copy of the encoded
    /// frames, for sending again on a recovered connection
    /// ([`publish_frames`](Self::publish_frames)).
    pub(crate) fn publish_keeping(
        &mut self,
        channel: u16,
        method: basic::Publish,
        properties: &amqp_protocol::BasicProperties,
        body: &[u8],
        keep: bool,
    ) -> Result<(RequestId, Option<u64>, Bytes), Error> {
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
        let mut kept = Bytes::new();
        if ch.queue.is_empty() && ch.in_flight.is_none() && ch.state == ChannelState::Open {
            let start = self.output.len();
            encode_content(
                &mut self.output,
                channel,
                &method,
                properties,
                body,
                frame_max,
            );
            if keep {
                kept = Bytes::copy_from_slice(&self.output[start..]);
            }
            self.events.push_back(Event::Sent { channel, request });
        } else {
            let mut frames = BytesMut::new();
            encode_content(&mut frames, channel, &method, properties, body, frame_max);
            let frames = frames.freeze();
            if keep {
                kept = frames.clone();
            }
            ch.queue.push_back(Outgoing::Publish { request, frames });
        }
        Ok((request, seq, kept))
    }

    /// Sends a message encoded earlier for this channel number (kept by
    /// [`publish_keeping`](Self::publish_keeping), maybe on another
    /// connection); its publish sequence number in confirm mode.
    pub(crate) fn publish_frames(
        &mut self,
        channel: u16,
        frames: Bytes,
    ) -> Result<Option<u64>, Error> {
        self.check_open()?;
        let request = self.request_id();
        let ch = self.channel_mut(channel)?;
        let seq = ch.confirm.then(|| {
            ch.next_seq += 1;
            ch.next_seq
        });
        ch.queue.push_back(Outgoing::Publish { request, frames });
        self.flush(channel);
        Ok(seq)
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
        self.close_queued = true;
        Ok(())
    }

    /// Closes `channel` because the peer broke the protocol on it:
    /// channel.close with `code` and `text`; once close-ok arrives, the
    /// channel's end, and the failure of what waited on it, carry `error`.
    pub fn close_channel_for(
        &mut self,
        channel: u16,
        code: ReplyCode,
        text: &str,
        error: Error,
    ) -> Result<(), Error> {
        self.close_channel(channel, code, text)?;
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.close_error = Some(error);
        }
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
        self.start_closing(code, text, Error::ConnectionClosedByClient, now);
    }

    /// Sends connection.close with `code` and `text`; the connection ends
    /// with `error` at close-ok or the close timeout.
    pub(super) fn start_closing(
        &mut self,
        code: ReplyCode,
        text: &str,
        error: Error,
        now: Instant,
    ) {
        let close = connection::Close {
            reply_code: code.0,
            reply_text: short(text),
            class_id: 0,
            method_id: 0,
        };
        encode_method_frame(&mut self.output, 0, &close.into());
        self.close_queued = true;
        self.state = State::Closing {
            error,
            deadline: now + self.config.close_timeout,
        };
    }

    /// Writes what can be written of a channel's queue: everything up to and
    /// including the next synchronous call.
    pub(super) fn flush(&mut self, channel: u16) {
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
