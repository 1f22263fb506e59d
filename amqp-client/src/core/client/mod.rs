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
//!
//! # Handles, and the recovery to come
//!
//! An application's handles name what the client owns, never what the wire
//! owns: a channel handle holds a [`ChannelRef`] (a number and which
//! opening of it), a consumer handle a [`ConsumerId`], a confirmation a
//! `ChannelRef` and a publish sequence number. Request ids, delivery tags on
//! the wire and the wire's channel table stay inside. So when automatic
//! recovery reopens a connection, it can reopen each channel under the same
//! number and generation, re-register each consumer under the same id and
//! tag, and settle or republish each unconfirmed publish, inside this
//! layer, and every handle keeps working; a handle goes stale only when the
//! application or the broker closed its channel. Adapters hold no state that
//! recovery would have to rebuild.

mod absorb;
mod confirms;
mod consumers;
mod ops;
mod recovery;
mod replay;
mod republish;
mod requests;
mod tags;
mod topology;

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::time::Instant;

use amqp_protocol::{FieldTable, Method};
use bytes::Bytes;

use super::types::{Delivery, Returned};
use super::{Config, Connection, Content, RequestId, ServerCapabilities, Tuning};
use crate::error::Error;
pub use confirms::Settle;
use confirms::{Confirms, Settled};
pub use consumers::{ConsumerId, ConsumerMode, NextDelivery};
use consumers::{Consumers, Held};
pub use recovery::RecoveryEvent;
pub use topology::{RecordedQueue, Topology};

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
    /// basic.qos: recorded once the broker confirms it.
    Qos(Prefetch, bool),
    /// tx.select: recorded once the broker confirms it.
    TxSelect,
    /// tx.commit or tx.rollback: the transaction ends.
    TxEnd,
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
    /// The method, kept when it changes the recorded topology once
    /// confirmed, or may be sent again after a recovery.
    method: Option<Method>,
    /// Submitted while the connection was being recovered: not sent yet.
    deferred: bool,
    /// The method's name, for errors.
    name: &'static str,
}

/// A waiter to wake: what changed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ready {
    /// The outcome of this request can be taken.
    Request(RequestId),
    /// Publishes of this channel have their outcome
    /// ([`Client::take_confirm`]): every one up to `up_to` with `multiple`,
    /// else `up_to` alone.
    Confirms {
        /// The channel.
        channel: ChannelRef,
        /// The highest sequence number concerned.
        up_to: u64,
        /// Every earlier unconfirmed one too.
        multiple: bool,
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
    /// Automatic recovery: the connection was lost, an attempt, recovered,
    /// gave up, a queue renamed, an entity refused.
    Recovery(RecoveryEvent),
}

/// What [`Client::poll_next`] yields.
// Matched at once: boxing the event would cost an allocation per delivery.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next {
    /// A waiter to wake.
    Ready(Ready),
    /// An event for the application.
    Event(Event),
}

/// Wake-ups and events in the order the core produced them.
#[derive(Default)]
struct Outbox {
    ready: VecDeque<(u64, Ready)>,
    events: VecDeque<(u64, Event)>,
    seq: u64,
    /// The deliveries among `events`.
    held: Held,
    /// Which events the adapter takes (see [`Client::set_event_filter`]).
    filter: Option<fn(&Event) -> bool>,
    /// The recovery events among `events`.
    recovery_events: usize,
}

/// Recovery events kept for an application that does not take them: past
/// this many, attempts are no longer queued.
const RECOVERY_EVENTS_KEPT: usize = 64;

impl Outbox {
    fn ready(&mut self, r: Ready) {
        self.seq += 1;
        self.ready.push_back((self.seq, r));
    }

    fn event(&mut self, e: Event) {
        if self.filter.is_some_and(|wanted| !wanted(&e)) {
            return;
        }
        if let Event::Recovery(r) = &e {
            // An application that never takes events must not pile up one
            // per attempt of a long recovery (tracing logs them all).
            if self.recovery_events >= RECOVERY_EVENTS_KEPT
                && matches!(
                    r,
                    RecoveryEvent::Attempt { .. } | RecoveryEvent::AttemptFailed { .. }
                )
            {
                return;
            }
            self.recovery_events += 1;
        }
        if let Event::Delivery { delivery, .. } = &e {
            self.held.add(delivery);
        }
        self.seq += 1;
        self.events.push_back((self.seq, e));
    }

    fn pop_event(&mut self) -> Option<Event> {
        let (_, e) = self.events.pop_front()?;
        match &e {
            Event::Delivery { delivery, .. } => self.held.sub(delivery),
            Event::Recovery(_) => self.recovery_events -= 1,
            _ => {}
        }
        Some(e)
    }
}

/// The client's view of one opening of a channel.
struct ChannelData {
    generation: u64,
    /// open-ok arrived.
    open: bool,
    closed: Option<Error>,
    confirms: Confirms,
    flow_active: bool,
    /// Delivery tags as the application sees them.
    tags: tags::DeliveryTags,
    /// What the broker confirmed of the channel's settings.
    settings: ChannelSettings,
    /// A recovery lost the transaction in progress: the next commit
    /// fails with [`Error::TransactionLost`].
    tx_lost: bool,
    /// The transaction in progress holds publishes or acknowledgements.
    tx_dirty: bool,
    /// Closed by the client to be opened again under the same handle (a
    /// broker that nacks every publish of the channel): commands wait in
    /// the client until the close-ok.
    closing_to_reopen: bool,
    /// Deliveries of stream consumers not yet acknowledged: (tag,
    /// consumer, stream offset), for the offset a recovery resumes from.
    stream_tags: VecDeque<(u64, ConsumerId, i64)>,
}

/// A basic.qos limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefetch {
    /// `prefetch-size` (octets; RabbitMQ supports 0 only).
    pub size: u32,
    /// `prefetch-count` (messages; 0: no limit).
    pub count: u16,
}

/// A channel's settings as the broker confirmed them: what a channel opened
/// again (after a recovery) must ask for again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelSettings {
    /// The last basic.qos with `global = false` (RabbitMQ: per consumer).
    pub consumer_prefetch: Option<Prefetch>,
    /// The last basic.qos with `global = true` (RabbitMQ: per channel).
    pub channel_prefetch: Option<Prefetch>,
    /// confirm.select was confirmed.
    pub confirm: bool,
    /// tx.select was confirmed.
    pub transactional: bool,
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
    out: Outbox,
    connected: bool,
    server_properties: FieldTable,
    server_capabilities: ServerCapabilities,
    closed: Option<Error>,
    /// Channels with publishes not yet taken out for the socket.
    unstaged: Vec<u16>,
    /// Scratch for confirms settled as events.
    settled: Vec<Settled>,
    /// The bound on deliveries held for the application.
    limits: Held,
    /// What the application declared, as the broker confirmed it.
    topology: Topology,
    /// Automatic recovery (`None`: off, or no endpoints yet).
    recovery: Option<recovery::Recovery>,
    /// The latest time the adapter gave.
    now: Instant,
    /// The channel a recovery declares the topology on, until it closes.
    replay_channel: Option<u16>,
    /// The requests of a replay (a recovery's, or one channel's reopening):
    /// what each is.
    replay_steps: HashMap<RequestId, recovery::Step>,
    /// Publishes without confirms made while recovering: channel number
    /// and frames.
    deferred: VecDeque<(u16, Bytes)>,
    /// The publishes held while recovering, confirm mode included.
    deferred_held: Held,
    /// When the last recovery completed (nacks soon after are retried).
    recovered_at: Option<Instant>,
    /// When nacked publishes are to be published again ...
    nack_retry_at: Option<Instant>,
    /// ... and how many retries this window made (for the backoff).
    nack_retries_made: u32,
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
        let limits = Held {
            count: config.max_held_deliveries.max(1),
            bytes: config.max_held_bytes.max(1),
        };
        Client {
            wire: Connection::new(config, now),
            channels: HashMap::new(),
            next_generation: 0,
            retired: VecDeque::new(),
            requests: HashMap::new(),
            consumers: Consumers::default(),
            out: Outbox::default(),
            connected: false,
            server_properties: FieldTable::new(),
            server_capabilities: ServerCapabilities::default(),
            closed: None,
            unstaged: Vec::new(),
            settled: Vec::new(),
            limits,
            topology: Topology::default(),
            recovery: None,
            now,
            replay_channel: None,
            replay_steps: HashMap::new(),
            deferred: VecDeque::new(),
            deferred_held: Held::default(),
            recovered_at: None,
            nack_retry_at: None,
            nack_retries_made: 0,
        }
    }

    // ------------------------------------------------------------------ I/O

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.now = now;
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
        self.now = now;
        if !self.wants_input() {
            // The adapter is not reading (see `wants_input`): the broker's
            // heartbeats wait in the socket, unread.
            self.wire.input_paused(now);
        }
        self.wire.handle_timeout(now);
        self.absorb();
        if self.nack_retry_at.is_some() || self.wire.config.confirm_timeout.is_some() {
            self.publish_timers(now);
            self.absorb();
        }
        self.check_replay_deadline(now);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut wire = self.wire.poll_timeout();
        if let Some(d) = self.replay_deadline() {
            wire = Some(wire.map_or(d, |w| w.min(d)));
        }
        if self.nack_retry_at.is_none() && self.wire.config.confirm_timeout.is_none() {
            return wire;
        }
        match (wire, self.publish_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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

    /// Whether a channel or connection close, or a close-ok, was queued
    /// since the last call: an adapter writes the output before it wakes
    /// the waiters, so that an application that exits on the error it
    /// learns does not take the close off the wire.
    pub fn take_close_queued(&mut self) -> bool {
        self.wire.take_close_queued()
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
    /// ([`ConsumerMode::Buffer`]), or while the deliveries the application
    /// has not taken (buffered, or among the events) reach the connection's
    /// bound ([`Config::max_held_deliveries`], [`Config::max_held_bytes`]):
    /// the adapter then stops reading the socket until the application
    /// takes deliveries (TCP flow control slows the broker down; heartbeats
    /// still go out, and the broker's, unread meanwhile, are not missed).
    /// While a request awaits its reply, or the connection closes, reading
    /// goes on (the reply may be behind the held deliveries); an adapter
    /// whose application waits for a publish's confirm reads on too.
    pub fn wants_input(&self) -> bool {
        if self.wire.is_closing() || self.awaits_reply() {
            // The reply (a close-ok, a request's) may be behind the held
            // deliveries: reading on to it takes at most what the broker
            // wrote before it, which its socket and flow control bound.
            return true;
        }
        let held = self.held();
        !self.consumers.any_full()
            && held.count < self.limits.count
            && held.bytes < self.limits.bytes
    }

    /// Whether a synchronous request awaits its reply.
    fn awaits_reply(&self) -> bool {
        self.requests.values().any(|r| r.outcome.is_none())
    }

    /// Deliveries the core holds that the application has not taken (in
    /// consumers' buffers and among the events), and their body bytes.
    pub fn held_deliveries(&self) -> (usize, usize) {
        let held = self.held();
        (held.count, held.bytes)
    }

    fn held(&self) -> Held {
        let (a, b) = (self.consumers.held(), self.out.held);
        Held {
            count: a.count + b.count,
            bytes: a.bytes + b.bytes,
        }
    }

    /// Keeps only the events `wanted` accepts: those an adapter does not
    /// present are not queued for it (so that they cannot pile up).
    pub fn set_event_filter(&mut self, wanted: fn(&Event) -> bool) {
        self.out.filter = Some(wanted);
    }

    /// The exchanges, queues and bindings the application declared through
    /// this connection, as the broker confirmed them (see [`Topology`]).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// How many events wait to be taken.
    pub fn event_count(&self) -> usize {
        self.out.events.len()
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
        self.out.ready.pop_front().map(|(_, r)| r)
    }

    /// Whether waiters have something to look at.
    pub fn has_ready(&self) -> bool {
        !self.out.ready.is_empty()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.pop_event()
    }

    /// The next wake-up or event, whichever the core produced first: for an
    /// adapter that runs everything as callbacks in wire order (a
    /// delivery that arrived before a cancel-ok reaches its callback before
    /// the cancel's completion does).
    pub fn poll_next(&mut self) -> Option<Next> {
        let ready = self.out.ready.front().map(|(n, _)| *n);
        let event = self.out.events.front().map(|(n, _)| *n);
        match (ready, event) {
            (Some(r), Some(e)) if e < r => self.poll_event().map(Next::Event),
            (Some(_), _) => self.poll_ready().map(Next::Ready),
            (None, Some(_)) => self.poll_event().map(Next::Event),
            (None, None) => None,
        }
    }

    // ---------------------------------------------------------------- state

    /// Whether the handshake completed and the connection is not closing.
    pub fn is_open(&self) -> bool {
        self.wire.is_open()
    }

    /// Whether the connection is finished (nothing more will be sent or
    /// received once the output is drained). A connection being recovered
    /// is not ([`is_recovering`](Self::is_recovering)): its stream is.
    pub fn is_closed(&self) -> bool {
        self.wire.is_closed() && !self.is_recovering()
    }

    /// Whether the current stream is over (closed, or lost and being
    /// recovered): an adapter stops reading and writing it.
    pub fn is_stream_closed(&self) -> bool {
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

    /// What the broker says it supports, read once from the
    /// `capabilities` of its server properties (all `false` before).
    pub fn server_capabilities(&self) -> ServerCapabilities {
        self.server_capabilities
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
}
