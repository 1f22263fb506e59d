//! [`Client`]: the client's behaviour on top of the wire state machine
//! ([`Connection`]), sans-IO like it, and written once for
//! every adapter.
//!
//! Where the wire machine answers "a method went out, here is its request
//! id", the client gives each channel operation a typed result
//! ([`Pending<T>`], taken with [`Client::take`]), keeps the consumer
//! registry and its buffers, pairs publisher confirms with returns into one
//! outcome per publish, and tells handles of a closed channel from those of
//! the channel that reuses its number ([`ChannelRef`]).
//!
//! An adapter feeds it bytes and time exactly as it would the wire machine
//! (`handle_input`, `handle_eof`, `handle_timeout`, `poll_transmit`,
//! `poll_timeout`), and learns
//!
//! - from [`Client::poll_ready`] which waiter to wake: the reply to a
//!   request is there, a publish was confirmed, a consumer has deliveries,
//!   or the state of a channel or the connection changed;
//! - from [`Client::poll_event`] what the application reacts to: deliveries
//!   of callback consumers, returns, confirms reported as events, broker
//!   cancels, flow, blocked, closes, each typed and carrying its channel.

mod confirms;
mod consumers;
mod ops;

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::time::Instant;

use amqp_protocol::{basic, FieldTable, Method, ReplyCode};
use bytes::Bytes;

use super::types::{Delivery, Returned};
use super::{Config, Connection, Content, Event as WireEvent, RequestId, Tuning};
use crate::error::{BrokerClose, Error};
pub use confirms::Settle;
use confirms::{Confirms, Settled};
use consumers::Consumers;
pub use consumers::{ConsumerId, ConsumerMode, NextDelivery};

/// One opening of a channel: its number, and which opening of that number
/// it is. Once a channel closed its number is reused, and a handle of the
/// old channel keeps failing with why that one closed rather than act on
/// the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelRef {
    number: u16,
    generation: u64,
}

impl ChannelRef {
    /// Channel 0: the connection itself (`update_secret`).
    pub const CONNECTION: ChannelRef = ChannelRef {
        number: 0,
        generation: 0,
    };

    /// The channel number on the wire.
    pub fn number(&self) -> u16 {
        self.number
    }
}

/// What a reply becomes before its operation's parser sees it.
// Moved once, from the wire event into the request's slot: boxing would
// cost an allocation per reply.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Reply {
    Method(Method, Option<Content>),
    Channel(ChannelRef),
    Count(usize),
}

type Parse<T> = fn(u16, Reply) -> Result<T, Error>;

/// A submitted operation whose typed result `T` is taken with
/// [`Client::take`] once [`Ready::Request`] names its
/// [`request`](Pending::request).
pub struct Pending<T> {
    request: RequestId,
    channel: u16,
    parse: Parse<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Pending<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Pending<T> {}

impl<T> std::fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("request", &self.request)
            .field("channel", &self.channel)
            .finish()
    }
}

impl<T> Pending<T> {
    /// The request, as [`Ready::Request`] names it.
    pub fn request(&self) -> RequestId {
        self.request
    }
}

/// What a request does besides carrying its reply.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Plain,
    Open,
    Consume(ConsumerId),
    /// basic.cancel; with `requeue`, what the consumer buffered goes back
    /// to the queue and the reply is how many.
    Cancel {
        consumer: Option<ConsumerId>,
        requeue: bool,
    },
}

struct Request {
    channel: ChannelRef,
    kind: Kind,
    outcome: Option<Result<Reply, Error>>,
    /// Nobody will take the outcome: undo what it did (a channel opened for
    /// nobody is closed, a consumer nobody reads is cancelled).
    abandoned: bool,
}

/// A waiter to wake: what changed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ready {
    /// The outcome of this request can be taken.
    Request(RequestId),
    /// Publishes of this channel up to this sequence number may have their
    /// outcome ([`Client::take_confirm`]).
    Confirms {
        /// The channel.
        channel: ChannelRef,
        /// The highest sequence number concerned.
        up_to: u64,
    },
    /// This consumer has a delivery to take, or ended.
    Consumer(ConsumerId),
    /// The connection opened or closed, or a channel closed.
    State,
}

/// What the application reacts to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed ([`Client::server_properties`],
    /// [`Client::tuning`]).
    Connected,
    /// A delivery for a consumer of [`ConsumerMode::Events`].
    Delivery {
        /// The channel.
        channel: ChannelRef,
        /// The consumer.
        consumer: ConsumerId,
        /// The message.
        delivery: Delivery,
    },
    /// A mandatory message the broker could not route. In confirm mode the
    /// publish's outcome is also [`Error::Unroutable`].
    Returned {
        /// The channel.
        channel: ChannelRef,
        /// The message and why.
        returned: Returned,
    },
    /// The outcome of a publish made with [`Settle::Event`].
    Confirmed {
        /// The channel.
        channel: ChannelRef,
        /// Its sequence number.
        sequence_number: u64,
        /// Acked (`Ok`), nacked, returned then acked, or the channel closed.
        outcome: Result<(), Error>,
    },
    /// The broker cancelled a consumer (a deleted queue, a failed-over
    /// replica); a buffered one still yields what it holds, then ends.
    ConsumerCancelled {
        /// The channel.
        channel: ChannelRef,
        /// The consumer.
        consumer: ConsumerId,
        /// Its tag.
        consumer_tag: String,
    },
    /// A callback consumer ([`ConsumerMode::Events`]) is over (cancelled by
    /// either side, its channel closed, or its basic.consume failed): no
    /// delivery for it follows; its callback can go.
    ConsumerEnded {
        /// The channel.
        channel: ChannelRef,
        /// The consumer.
        consumer: ConsumerId,
    },
    /// The broker asked to stop (false) or resume (true) publishing.
    Flow {
        /// The channel.
        channel: ChannelRef,
        /// Whether publishing may go on.
        active: bool,
    },
    /// The broker blocked the connection (resource alarm).
    Blocked {
        /// The broker's reason.
        reason: String,
    },
    /// The broker unblocked the connection.
    Unblocked,
    /// A channel closed; everything waiting on it failed with `error`.
    ChannelClosed {
        /// The channel.
        channel: ChannelRef,
        /// Why.
        error: Error,
    },
    /// The connection closed; everything waiting failed with `error`.
    Closed {
        /// Why.
        error: Error,
    },
}

/// The client's view of one opening of a channel.
struct ChannelData {
    generation: u64,
    /// open-ok arrived.
    open: bool,
    closed: Option<Error>,
    confirms: Confirms,
    flow_active: bool,
}

/// How many replaced channels' close errors are kept for their stale
/// handles (older ones see [`Error::ChannelClosedByClient`]).
const RETIRED_KEPT: usize = 64;

/// The client state machine. See the [module docs](self).
pub struct Client {
    wire: Connection,
    channels: HashMap<u16, ChannelData>,
    next_generation: u64,
    /// Why recently replaced channels closed: (number, generation, error).
    retired: VecDeque<(u16, u64, Error)>,
    requests: HashMap<RequestId, Request>,
    consumers: Consumers,
    events: VecDeque<Event>,
    ready: VecDeque<Ready>,
    connected: bool,
    server_properties: FieldTable,
    closed: Option<Error>,
    /// Channels with publishes not yet taken out for the socket.
    unstaged: Vec<u16>,
    /// Scratch for confirms settled as events.
    settled: Vec<Settled>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("wire", &self.wire)
            .field("requests", &self.requests.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a connection: the protocol header is ready to send.
    pub fn new(config: Config, now: Instant) -> Self {
        Client {
            wire: Connection::new(config, now),
            channels: HashMap::new(),
            next_generation: 0,
            retired: VecDeque::new(),
            requests: HashMap::new(),
            consumers: Consumers::default(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            connected: false,
            server_properties: FieldTable::new(),
            closed: None,
            unstaged: Vec::new(),
            settled: Vec::new(),
        }
    }

    // ------------------------------------------------------------------ I/O

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.wire.handle_input(data, now);
        self.absorb();
    }

    /// The stream ended (EOF) or failed.
    pub fn handle_eof(&mut self, error: Option<std::io::Error>) {
        self.wire.handle_eof(error);
        self.absorb();
    }

    /// Advances time: heartbeats, timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.wire.handle_timeout(now);
        self.absorb();
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wire.poll_timeout()
    }

    /// Bytes to write to the socket, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        let out = self.wire.poll_transmit(now);
        if out.is_some() {
            for n in self.unstaged.drain(..) {
                if let Some(c) = self.channels.get_mut(&n) {
                    c.confirms.staged = c.confirms.queued;
                }
            }
        }
        out
    }

    /// How many bytes of output wait for [`poll_transmit`](Self::poll_transmit).
    pub fn pending_output_len(&self) -> usize {
        self.wire.pending_output_len()
    }

    /// How many frames the broker sent so far.
    pub fn frames_received(&self) -> u64 {
        self.wire.frames_received()
    }

    /// False while a consumer's buffer is at its limit
    /// ([`ConsumerMode::Buffer`]): the adapter then stops reading the
    /// socket until the application takes deliveries (TCP flow control
    /// slows the broker down; heartbeats still go out).
    pub fn wants_input(&self) -> bool {
        !self.consumers.any_full()
    }

    /// Whether a consumer has a buffer limit ([`ConsumerMode::Buffer`] with
    /// a `limit`): an adapter then feeds input in small slices, checking
    /// [`wants_input`](Self::wants_input) between them, so that reading
    /// stops close to the limit.
    pub fn has_bounded_consumers(&self) -> bool {
        self.consumers.any_bounded()
    }

    /// The next waiter to wake.
    pub fn poll_ready(&mut self) -> Option<Ready> {
        self.ready.pop_front()
    }

    /// Whether waiters have something to look at.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---------------------------------------------------------------- state

    /// Whether the handshake completed and the connection is not closing.
    pub fn is_open(&self) -> bool {
        self.wire.is_open()
    }

    /// Whether the connection is finished (nothing more will be sent or
    /// received once the output is drained).
    pub fn is_closed(&self) -> bool {
        self.wire.is_closed()
    }

    /// Whether the handshake completed (true also once closed after it).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<&Error> {
        self.closed.as_ref()
    }

    /// Whether the broker has blocked the connection.
    pub fn is_blocked(&self) -> bool {
        self.wire.is_blocked()
    }

    /// What the broker announced in connection.start (empty before).
    pub fn server_properties(&self) -> &FieldTable {
        &self.server_properties
    }

    /// What was negotiated (zeros before connection.tune).
    pub fn tuning(&self) -> Tuning {
        self.wire.tuning()
    }

    /// Why `channel` (or the connection) closed, or `None` while it is
    /// usable.
    pub fn channel_error(&self, channel: ChannelRef) -> Option<Error> {
        if let Some(e) = &self.closed {
            return Some(e.clone());
        }
        if channel.number == 0 {
            return None;
        }
        match self.channels.get(&channel.number) {
            Some(c) if c.generation == channel.generation => c.closed.clone(),
            _ => Some(self.retired_error(channel)),
        }
    }

    /// The opening of channel `number` in use now (opening, open or
    /// closing), or `None` when no channel of that number is usable.
    pub fn channel_ref(&self, number: u16) -> Option<ChannelRef> {
        let c = self.channels.get(&number)?;
        let channel = ChannelRef {
            number,
            generation: c.generation,
        };
        self.channel_error(channel).is_none().then_some(channel)
    }

    /// Whether `channel` is open.
    pub fn is_channel_open(&self, channel: ChannelRef) -> bool {
        self.channel_error(channel).is_none() && self.channel(channel).is_some_and(|c| c.open)
    }

    /// Whether the broker lets `channel` publish (channel.flow).
    pub fn is_flow_active(&self, channel: ChannelRef) -> bool {
        self.channel(channel).is_some_and(|c| c.flow_active)
    }

    fn retired_error(&self, channel: ChannelRef) -> Error {
        self.retired
            .iter()
            .rev()
            .find(|(n, g, _)| *n == channel.number && *g == channel.generation)
            .map_or(
                Error::ChannelClosedByClient {
                    channel: channel.number,
                },
                |(_, _, e)| e.clone(),
            )
    }

    fn channel(&self, channel: ChannelRef) -> Option<&ChannelData> {
        self.channels
            .get(&channel.number)
            .filter(|c| c.generation == channel.generation)
    }

    fn channel_mut(&mut self, channel: ChannelRef) -> Option<&mut ChannelData> {
        self.channels
            .get_mut(&channel.number)
            .filter(|c| c.generation == channel.generation)
    }

    /// `Ok` while `channel` is usable, or why not.
    fn check(&self, channel: ChannelRef) -> Result<(), Error> {
        match self.channel_error(channel) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // ------------------------------------------------------------- requests

    fn pending<T>(&self, request: RequestId, channel: ChannelRef, parse: Parse<T>) -> Pending<T> {
        Pending {
            request,
            channel: channel.number,
            parse,
            _t: PhantomData,
        }
    }

    /// Submits a synchronous method on `channel`.
    fn call<T>(
        &mut self,
        channel: ChannelRef,
        method: Method,
        kind: Kind,
        parse: Parse<T>,
    ) -> Result<Pending<T>, Error> {
        self.check(channel)?;
        let request = self.wire.call(channel.number, method)?;
        self.requests.insert(
            request,
            Request {
                channel,
                kind,
                outcome: None,
                abandoned: false,
            },
        );
        self.absorb();
        Ok(self.pending(request, channel, parse))
    }

    /// Submits a method without reply on `channel`.
    fn send(&mut self, channel: ChannelRef, method: Method) -> Result<(), Error> {
        self.check(channel)?;
        self.wire.call(channel.number, method)?;
        self.absorb();
        Ok(())
    }

    /// The typed outcome of `pending`, once [`Ready::Request`] named it:
    /// `None` while it is awaited. Taken once; a later call reports the
    /// request as unknown.
    pub fn take<T>(&mut self, pending: &Pending<T>) -> Option<Result<T, Error>> {
        let Some(r) = self.requests.get(&pending.request) else {
            return Some(Err(self.closed.clone().unwrap_or_else(|| {
                Error::Misuse("the outcome of this request was already taken".into())
            })));
        };
        r.outcome.as_ref()?;
        let outcome = self.requests.remove(&pending.request)?.outcome?;
        Some(outcome.and_then(|reply| (pending.parse)(pending.channel, reply)))
    }

    /// Nobody will take the outcome of `request` (its future was dropped):
    /// it completes on the wire, and what it did is undone (a channel opened
    /// for nobody is closed, a consumer nobody reads is cancelled and its
    /// messages requeued).
    pub fn abandon(&mut self, request: RequestId) {
        let Some(r) = self.requests.get_mut(&request) else {
            return;
        };
        if r.outcome.is_none() {
            r.abandoned = true;
            return;
        }
        if let Some(r) = self.requests.remove(&request) {
            if let Some(outcome) = &r.outcome {
                self.undo(r.channel, r.kind, outcome.is_ok());
            }
        }
        self.absorb();
    }

    fn undo(&mut self, channel: ChannelRef, kind: Kind, succeeded: bool) {
        match kind {
            Kind::Open if succeeded => {
                let _ = self.close_channel(channel);
            }
            Kind::Consume(id) => {
                if succeeded {
                    self.drop_consumer(id);
                } else {
                    self.forget(id);
                }
            }
            _ => {}
        }
    }

    fn complete(&mut self, request: RequestId, mut outcome: Result<Reply, Error>) {
        let Some(r) = self.requests.get(&request) else {
            return;
        };
        let (channel, kind, abandoned) = (r.channel, r.kind, r.abandoned);
        match (kind, &outcome) {
            (Kind::Open, Ok(_)) => {
                if let Some(c) = self.channel_mut(channel) {
                    c.open = true;
                }
                outcome = Ok(Reply::Channel(channel));
            }
            (Kind::Consume(id), Ok(_)) => {
                if let Some(c) = self.consumers.get_mut(id) {
                    c.active = true;
                }
            }
            (Kind::Consume(id), Err(_)) => {
                self.forget(id);
            }
            (Kind::Cancel { consumer, requeue }, Ok(_)) => {
                let consumer = consumer.or_else(|| match &outcome {
                    Ok(Reply::Method(Method::BasicCancelOk(ok), _)) => self
                        .consumers
                        .find(channel.number, ok.consumer_tag.as_bytes()),
                    _ => None,
                });
                let n = consumer.map_or(0, |id| self.cancelled(channel, id, requeue));
                if requeue {
                    outcome = Ok(Reply::Count(n));
                }
            }
            _ => {}
        }
        if abandoned {
            self.requests.remove(&request);
            self.undo(channel, kind, outcome.is_ok());
            return;
        }
        if let Some(r) = self.requests.get_mut(&request) {
            r.outcome = Some(outcome);
        }
        self.ready.push_back(Ready::Request(request));
    }

    /// cancel-ok for consumer `id`: with `requeue`, its buffer goes back to
    /// the queue and it is forgotten (returns how many were requeued);
    /// otherwise a buffered consumer still yields what it holds, then ends.
    fn cancelled(&mut self, channel: ChannelRef, id: ConsumerId, requeue: bool) -> usize {
        self.consumers.release_tag(id);
        let Some(c) = self.consumers.get_mut(id) else {
            return 0;
        };
        if requeue || c.orphaned || c.mode == ConsumerMode::Events {
            let no_ack = c.no_ack;
            let buffered = self.consumers.drain(id);
            self.forget(id);
            if no_ack {
                return 0;
            }
            self.requeue(channel, buffered.iter());
            return buffered.len();
        }
        c.ended.get_or_insert(None);
        self.consumers.unlimit(id);
        self.ready.push_back(Ready::Consumer(id));
        0
    }

    /// Forgets consumer `id`; a callback consumer's end is reported
    /// ([`Event::ConsumerEnded`]) so that its adapter drops the callback.
    fn forget(&mut self, id: ConsumerId) {
        if let Some(c) = self.consumers.remove(id) {
            if c.mode == ConsumerMode::Events {
                self.events.push_back(Event::ConsumerEnded {
                    channel: c.channel,
                    consumer: id,
                });
            }
        }
    }

    /// basic.nack with requeue of each delivery.
    fn requeue<'a>(&mut self, channel: ChannelRef, deliveries: impl Iterator<Item = &'a Delivery>) {
        for d in deliveries {
            let nack = basic::Nack {
                delivery_tag: d.delivery_tag,
                multiple: false,
                requeue: true,
            };
            if self.send(channel, nack.into()).is_err() {
                return;
            }
        }
    }

    // ------------------------------------------------------------- channels

    /// Opens a channel on the lowest free number.
    pub fn open_channel(&mut self) -> Result<Pending<ChannelRef>, Error> {
        self.check(ChannelRef::CONNECTION)?;
        let (number, request) = self.wire.open_channel()?;
        self.next_generation += 1;
        let channel = ChannelRef {
            number,
            generation: self.next_generation,
        };
        let fresh = ChannelData {
            generation: channel.generation,
            open: false,
            closed: None,
            confirms: Confirms::default(),
            flow_active: true,
        };
        if let Some(old) = self.channels.insert(number, fresh) {
            let error = old
                .closed
                .unwrap_or(Error::ChannelClosedByClient { channel: number });
            if self.retired.len() == RETIRED_KEPT {
                self.retired.pop_front();
            }
            self.retired.push_back((number, old.generation, error));
        }
        self.requests.insert(
            request,
            Request {
                channel,
                kind: Kind::Open,
                outcome: None,
                abandoned: false,
            },
        );
        self.absorb();
        Ok(self.pending(request, channel, |_, reply| match reply {
            Reply::Channel(c) => Ok(c),
            _ => Err(Error::Misuse(
                "channel.open: no channel in the reply".into(),
            )),
        }))
    }

    /// Closes `channel` (channel.close, then close-ok); [`Ready::State`]
    /// and [`Event::ChannelClosed`] report the end. Closing a closed
    /// channel does nothing.
    pub fn close_channel(&mut self, channel: ChannelRef) -> Result<(), Error> {
        if self.channel_error(channel).is_some() || channel.number == 0 {
            return Ok(());
        }
        self.wire
            .close_channel(channel.number, ReplyCode::REPLY_SUCCESS, "Normal shutdown")?;
        self.absorb();
        Ok(())
    }

    /// Closes the connection (connection.close, then close-ok or the close
    /// timeout); [`Event::Closed`] reports the end.
    pub fn close(&mut self, now: Instant) {
        self.wire
            .close(ReplyCode::REPLY_SUCCESS, "Normal shutdown", now);
        self.absorb();
    }

    // --------------------------------------------------------------- events

    /// Moves the wire machine's events into the client's state.
    fn absorb(&mut self) {
        while let Some(event) = self.wire.poll_event() {
            self.absorb_one(event);
        }
    }

    fn current(&self, number: u16) -> ChannelRef {
        let generation = self.channels.get(&number).map_or(0, |c| c.generation);
        ChannelRef { number, generation }
    }

    fn absorb_one(&mut self, event: WireEvent) {
        match event {
            WireEvent::Connected {
                server_properties, ..
            } => {
                self.connected = true;
                self.server_properties = server_properties;
                self.events.push_back(Event::Connected);
                self.ready.push_back(Ready::State);
            }
            WireEvent::Reply {
                request,
                method,
                content,
                ..
            } => self.complete(request, Ok(Reply::Method(method, content))),
            WireEvent::Sent { .. } => {}
            WireEvent::Delivery {
                channel,
                deliver,
                content,
            } => self.deliver(channel, deliver, content),
            WireEvent::Return {
                channel,
                method,
                content,
            } => {
                let reason = BrokerClose {
                    code: ReplyCode(method.reply_code),
                    text: method.reply_text.to_string_lossy().into_owned(),
                    method: None,
                };
                let ch = self.current(channel);
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.confirms.returned(reason.clone());
                }
                self.events.push_back(Event::Returned {
                    channel: ch,
                    returned: Returned {
                        channel,
                        reason,
                        exchange: method.exchange.to_string_lossy().into_owned(),
                        routing_key: method.routing_key.to_string_lossy().into_owned(),
                        content,
                    },
                });
            }
            WireEvent::Confirm {
                channel,
                delivery_tag,
                multiple,
                ack,
            } => {
                let ch = self.current(channel);
                let Some(c) = self.channels.get_mut(&channel) else {
                    return;
                };
                c.confirms
                    .confirm(delivery_tag, multiple, ack, &mut self.settled);
                self.ready.push_back(Ready::Confirms {
                    channel: ch,
                    up_to: delivery_tag,
                });
                self.report_settled(ch);
            }
            WireEvent::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                let ch = self.current(channel);
                let Some(id) = self.consumers.find(channel, consumer_tag.as_bytes()) else {
                    return;
                };
                self.consumers.release_tag(id);
                let Some(c) = self.consumers.get_mut(id) else {
                    return;
                };
                let forget = c.orphaned || c.mode == ConsumerMode::Events;
                if !forget {
                    c.ended.get_or_insert(Some(Error::ConsumerCancelled {
                        consumer_tag: consumer_tag.clone(),
                    }));
                    self.consumers.unlimit(id);
                    self.ready.push_back(Ready::Consumer(id));
                }
                self.events.push_back(Event::ConsumerCancelled {
                    channel: ch,
                    consumer: id,
                    consumer_tag,
                });
                if forget {
                    self.forget(id);
                }
            }
            WireEvent::Flow { channel, active } => {
                let ch = self.current(channel);
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.flow_active = active;
                }
                self.events.push_back(Event::Flow {
                    channel: ch,
                    active,
                });
            }
            WireEvent::Blocked { reason } => self.events.push_back(Event::Blocked { reason }),
            WireEvent::Unblocked => self.events.push_back(Event::Unblocked),
            WireEvent::ChannelClosed {
                channel,
                error,
                failed,
            } => self.channel_closed(channel, error, failed),
            WireEvent::Closed { error } => {
                self.closed = Some(error.clone());
                let requests: Vec<RequestId> = self
                    .requests
                    .iter()
                    .filter(|(_, r)| r.outcome.is_none())
                    .map(|(id, _)| *id)
                    .collect();
                for r in requests {
                    self.complete(r, Err(error.clone()));
                }
                self.events.push_back(Event::Closed { error });
                self.ready.push_back(Ready::State);
            }
        }
    }

    fn report_settled(&mut self, channel: ChannelRef) {
        for (sequence_number, outcome) in self.settled.drain(..) {
            self.events.push_back(Event::Confirmed {
                channel,
                sequence_number,
                outcome,
            });
        }
    }

    fn deliver(&mut self, channel: u16, deliver: basic::Deliver, content: Content) {
        let Some(id) = self
            .consumers
            .find(channel, deliver.consumer_tag.as_bytes())
        else {
            // No consumer of ours (a broker that ignores cancel-ok): the
            // message returns to its queue when the channel closes.
            tracing::debug!(channel, consumer_tag = %deliver.consumer_tag, "delivery for no consumer");
            return;
        };
        let Some(c) = self.consumers.get(id) else {
            return;
        };
        let ch = c.channel;
        if c.orphaned {
            if !c.no_ack {
                let nack = basic::Nack {
                    delivery_tag: deliver.delivery_tag,
                    multiple: false,
                    requeue: true,
                };
                let _ = self.wire.call(channel, nack.into());
            }
            return;
        }
        let delivery = Delivery::new(channel, deliver, content);
        match c.mode {
            ConsumerMode::Events => self.events.push_back(Event::Delivery {
                channel: ch,
                consumer: id,
                delivery,
            }),
            ConsumerMode::Buffer { .. } => {
                self.consumers.push(id, delivery);
                self.ready.push_back(Ready::Consumer(id));
            }
        }
    }

    fn channel_closed(&mut self, number: u16, error: Error, failed: Vec<RequestId>) {
        let channel = self.current(number);
        for r in failed {
            self.complete(r, Err(error.clone()));
        }
        if let Some(c) = self.channels.get_mut(&number) {
            c.closed = Some(error.clone());
            c.confirms.fail_all(&error, &mut self.settled);
            self.ready.push_back(Ready::Confirms {
                channel,
                up_to: u64::MAX,
            });
        }
        self.report_settled(channel);
        for id in self.consumers.of_channel(channel) {
            self.consumers.release_tag(id);
            let Some(c) = self.consumers.get_mut(id) else {
                continue;
            };
            if c.orphaned || c.mode == ConsumerMode::Events {
                self.forget(id);
            } else {
                c.ended.get_or_insert(Some(error.clone()));
                self.consumers.unlimit(id);
                self.ready.push_back(Ready::Consumer(id));
            }
        }
        self.events
            .push_back(Event::ChannelClosed { channel, error });
        self.ready.push_back(Ready::State);
    }
}
