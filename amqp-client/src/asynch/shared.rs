//! The state the driver task and the application's handles share: the core,
//! the outcome of every awaited request, consumers' buffers, publisher
//! confirms, and the wakers of whoever waits for them.
//!
//! One mutex guards it all. It is held only for short, non-blocking updates
//! (never across an `.await`, never while user callbacks run), so a plain
//! `std::sync::Mutex` is the right tool: no async lock is needed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use amqp_protocol::{basic, FieldTable, Method, ReplyCode, ShortStr};
use bytes::{Bytes, BytesMut};

use super::driver::DirectWrite;
use super::tls::Tls;
use crate::core::{Connection as Core, Content, Event, RequestId, Tuning};
use crate::error::{BrokerClose, Error};
use crate::types::{Delivery, Returned};

/// The reply to a synchronous method (and get-ok's message).
pub(crate) type Reply = Result<(Method, Option<Content>), Error>;
/// A channel's return callback.
pub(crate) type ReturnFn = Arc<dyn Fn(Returned) + Send + Sync>;
/// The connection's blocked / unblocked callback.
pub(crate) type BlockedFn = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// Above this many output bytes not yet written, publishers wait, so that a
/// fast publisher cannot pile up unbounded memory in front of a slow socket.
pub(crate) const HIGH_WATER: usize = 4 * 1024 * 1024;
/// ... until the driver brings it below this.
pub(crate) const LOW_WATER: usize = 1024 * 1024;
/// How soon the driver looks for acknowledgements queued without waking it
/// (see `Channel::send_ack`) while deliveries wait in a buffer; the interval
/// doubles, up to [`LAZY_FLUSH_MAX`], while it finds none (a consumer that
/// stopped asking for its deliveries does not keep the driver busy).
pub(crate) const LAZY_FLUSH: Duration = Duration::from_millis(5);
/// Output held back without waking the driver (see `Channel::publish_inner`)
/// stays below this many bytes.
pub(crate) const LAZY_BYTES: usize = 64 * 1024;
/// See [`LAZY_FLUSH`].
pub(crate) const LAZY_FLUSH_MAX: Duration = Duration::from_millis(200);
/// Output that follows a direct write this soon goes through the driver
/// (see [`Inner::write_or_wake`]): one system call per publish costs more
/// than one wake-up of the driver per batch.
pub(crate) const DIRECT_GAP: Duration = Duration::from_micros(20);
/// A direct write's TLS buffer is kept up to this size between writes.
const DIRECT_CIPHER_KEEP: usize = 64 * 1024;

/// What to do with the reply to a request whose future was dropped, so that
/// a cancelled `.await` never leaves the broker and the client disagreeing.
#[derive(Debug)]
pub(crate) enum Action {
    /// channel.open: close the channel nobody holds.
    CloseChannel(u16),
    /// basic.consume: cancel the consumer nobody reads.
    CancelConsumer { channel: u16, tag: ShortStr },
    /// basic.cancel: forget the consumer, requeue what it buffered.
    RemoveConsumer { channel: u16, tag: ShortStr },
}

/// An awaited request.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    waker: Option<Waker>,
    result: Option<Reply>,
    abandoned: bool,
    on_abandon: Option<Action>,
}

impl Slot {
    pub(crate) fn new(on_abandon: Option<Action>) -> Self {
        Slot {
            on_abandon,
            ..Slot::default()
        }
    }
}

/// A consumer's buffer of deliveries not yet taken by its stream.
#[derive(Debug)]
pub(crate) struct ConsumerState {
    pub(crate) queue: VecDeque<Delivery>,
    pub(crate) waker: Option<Waker>,
    /// Stop reading the socket while `queue` holds this many.
    pub(crate) limit: Option<usize>,
    /// `queue` is at or above `limit` (counted in `Inner::full_consumers`).
    pub(crate) full: bool,
    pub(crate) no_ack: bool,
    /// The broker cancelled it: the stream's last item.
    pub(crate) ended: Option<Error>,
    /// Cancelled by the application (basic.cancel): the stream ends cleanly.
    pub(crate) cancelled: bool,
    /// Its handle is gone: deliveries are requeued as they arrive.
    pub(crate) orphaned: bool,
}

impl ConsumerState {
    pub(crate) fn new(no_ack: bool, limit: Option<usize>) -> Self {
        ConsumerState {
            queue: VecDeque::new(),
            waker: None,
            limit,
            full: false,
            no_ack,
            ended: None,
            cancelled: false,
            orphaned: false,
        }
    }
}

/// Publisher confirms of one channel.
#[derive(Debug, Default)]
pub(crate) struct Confirms {
    /// confirm.select was sent.
    pub(crate) mode: bool,
    /// Sequence numbers whose [`Confirmation`](super::Confirmation) is alive
    /// and unanswered, with the waker of whoever awaits it.
    pub(crate) waiting: BTreeMap<u64, Option<Waker>>,
    /// Answers not yet taken by their `Confirmation`.
    pub(crate) done: HashMap<u64, Result<(), Error>>,
    /// A basic.return seen since the last confirm: the next ack is for it.
    pub(crate) returned: Option<BrokerClose>,
    /// The sequence number of the last publish handed to the core ...
    pub(crate) queued: u64,
    /// ... and of the last one the driver took from it to write: the
    /// broker's confirm of any publish up to here will come, and wake the
    /// driver.
    pub(crate) staged: u64,
}

/// The client's view of one channel.
#[derive(Default)]
pub(crate) struct ChannelData {
    pub(crate) closed: Option<Error>,
    pub(crate) consumers: HashMap<ShortStr, ConsumerState>,
    pub(crate) confirms: Confirms,
    pub(crate) flow_active: bool,
    pub(crate) on_return: Option<ReturnFn>,
    /// Which opening of this channel id: a closed channel's id is reused,
    /// and the handles of the old channel must not act on the new one.
    pub(crate) generation: u64,
}

/// Work for after the lock is released: wakers to wake and callbacks to run.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) wakers: Vec<Waker>,
    deferred: Vec<Deferred>,
}

enum Deferred {
    Return(ReturnFn, Box<Returned>),
    Blocked(BlockedFn, Option<String>),
}

impl Effects {
    /// Calls back, then wakes (without the lock). Callbacks first: a
    /// return callback runs before the confirmation it precedes (the broker
    /// sends basic.return before the publish's basic.ack) resolves.
    pub(crate) fn run(&mut self) {
        for d in self.deferred.drain(..) {
            match d {
                Deferred::Return(f, r) => f(*r),
                Deferred::Blocked(f, reason) => f(reason.as_deref()),
            }
        }
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

pub(crate) struct Inner {
    pub(crate) core: Core,
    /// The driver task, when it waits.
    driver: Option<Waker>,
    pub(crate) slots: HashMap<RequestId, Slot>,
    pub(crate) channels: HashMap<u16, ChannelData>,
    pub(crate) closed: Option<Error>,
    /// Why the stream failed below the core (TLS), when it did: reported
    /// instead of the core's generic "stream lost".
    pub(crate) transport_error: Option<Error>,
    pub(crate) connected: Option<(FieldTable, Tuning)>,
    pub(crate) blocked: bool,
    pub(crate) on_blocked: Option<BlockedFn>,
    /// Waiting for a rare state change (opened, a channel or the connection
    /// closed).
    state_waiters: Vec<Waker>,
    /// Publishers waiting for output room.
    pub(crate) room_waiters: Vec<Waker>,
    /// Output bytes produced and not yet written (approximate).
    pub(crate) queued: usize,
    /// Consumers with a buffer limit, and those at it: reading pauses while
    /// any is full.
    pub(crate) bounded_consumers: usize,
    pub(crate) full_consumers: usize,
    /// TLS, for `amqps`. It lives under the lock because whoever holds the
    /// lock may produce records (the driver decrypting or staging the core's
    /// output, a task writing directly): each record is made, and its place
    /// in the output taken, in one critical section, so records reach the
    /// socket in the order of their sequence numbers.
    pub(super) tls: Option<Tls>,
    /// The socket, for writes from the application's tasks (TCP on tokio,
    /// with or without TLS; see [`Inner::write_or_wake`]).
    pub(crate) direct: Option<Arc<dyn DirectWrite>>,
    /// The records of a direct write with TLS (reused).
    direct_cipher: BytesMut,
    /// What the socket did not take of a direct write: the driver writes it
    /// before anything else.
    pub(crate) direct_rest: BytesMut,
    /// The driver has written everything it staged and stages nothing
    /// without the lock: a direct write keeps the order of the bytes.
    pub(crate) driver_out_empty: bool,
    /// When the last direct write was made.
    last_direct: Option<Instant>,
    /// Output was queued in the core without waking the driver: the
    /// acknowledgements of `Channel::send_ack`, the pipelined publishes of
    /// `Channel::publish_inner`.
    pub(crate) lazy_output: bool,
    /// Numbers the openings of channels.
    next_generation: u64,
    /// The generation of each channel.open awaiting its open-ok.
    opening: HashMap<u16, u64>,
    /// Why recently replaced channels closed: (id, generation, error).
    retired: VecDeque<(u16, u64, Error)>,
}

/// How many replaced channels' close errors are kept for their stale
/// handles (older ones see [`Error::ChannelClosedByClient`]).
const RETIRED_KEPT: usize = 64;

pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    pub(crate) fn new(core: Core) -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                core,
                driver: None,
                slots: HashMap::new(),
                channels: HashMap::new(),
                closed: None,
                transport_error: None,
                connected: None,
                blocked: false,
                on_blocked: None,
                state_waiters: Vec::new(),
                room_waiters: Vec::new(),
                queued: 0,
                tls: None,
                direct: None,
                direct_cipher: BytesMut::new(),
                direct_rest: BytesMut::new(),
                driver_out_empty: false,
                last_direct: None,
                bounded_consumers: 0,
                full_consumers: 0,
                lazy_output: false,
                next_generation: 0,
                opening: HashMap::new(),
                retired: VecDeque::new(),
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is complete before the lock is released and no user
        // code runs under it, so a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl Inner {
    /// Asks the driver to run (new output, or reading may resume).
    pub(crate) fn wake_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }

    /// Writes what the core has for the socket from the calling task, when
    /// the socket allows it (TCP on tokio; with TLS the records are made
    /// here, under the lock, see [`Inner::tls`]) and the driver has nothing
    /// of its own left to write (so the bytes keep their order); otherwise,
    /// or for what the socket does not take at once, wakes the driver. A
    /// request, a reply or a single publish then leaves with one system call
    /// and no wake-up of another thread. Output that follows a direct write
    /// within [`DIRECT_GAP`] (a publisher streaming) is left to the driver,
    /// which writes it in batches.
    pub(crate) fn write_or_wake(&mut self) {
        let Some(direct) = &self.direct else {
            return self.wake_driver();
        };
        if !self.driver_out_empty || !self.direct_rest.is_empty() {
            return self.wake_driver();
        }
        let now = Instant::now();
        if self
            .last_direct
            .is_some_and(|t| now.saturating_duration_since(t) < DIRECT_GAP)
        {
            return self.wake_driver();
        }
        let Some(plain) = self.core.poll_transmit(now) else {
            return;
        };
        let mut cipher = std::mem::take(&mut self.direct_cipher);
        let mut wake = false;
        let bytes: &[u8] = match &mut self.tls {
            None => &plain,
            Some(tls) => {
                tls.stage(&plain);
                if let Err(e) = tls.encrypt(&mut cipher) {
                    // What TLS produced (an alert) still goes out, in order;
                    // the driver reports the failure.
                    self.transport_error = Some(e.clone());
                    self.core.handle_eof(Some(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e,
                    )));
                    wake = true;
                }
                // Empty during the handshake: rustls keeps the plaintext and
                // the driver sends it once the handshake is done.
                &cipher
            }
        };
        if bytes.is_empty() {
            self.direct_cipher = cipher;
            if wake {
                self.wake_driver();
            }
            return;
        }
        self.last_direct = Some(now);
        let mut written = 0;
        while written < bytes.len() {
            match direct.try_write(&bytes[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // WouldBlock, or a failure the driver meets and reports.
                Err(_) => break,
            }
        }
        self.lazy_output = false;
        self.mark_staged();
        if written < bytes.len() {
            self.direct_rest.extend_from_slice(&bytes[written..]);
            self.driver_out_empty = false;
            self.queued = self.direct_rest.len();
            wake = true;
        } else {
            self.queued = 0;
        }
        if wake {
            self.wake_driver();
        }
        cipher.clear();
        if cipher.capacity() > DIRECT_CIPHER_KEEP {
            cipher = BytesMut::new();
        }
        self.direct_cipher = cipher;
    }

    pub(crate) fn set_driver_waker(&mut self, cx: &Context<'_>) {
        register(&mut self.driver, cx);
    }

    /// Waits for a rare state change; the caller re-checks when woken.
    pub(crate) fn wait_state(&mut self, cx: &Context<'_>) {
        if !self.state_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.state_waiters.push(cx.waker().clone());
        }
    }

    /// The error of a closed connection or channel (0: the connection
    /// only), for a handle of the channel's opening `generation`.
    pub(crate) fn check(&self, channel: u16, generation: u64) -> Result<(), Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        if channel == 0 {
            return Ok(());
        }
        if let Some(e) = self.stale(channel, generation) {
            return Err(e);
        }
        match self.channels.get(&channel) {
            Some(c) => match &c.closed {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            },
            None => Err(Error::Misuse(format!("channel {channel} is not open"))),
        }
    }

    /// Starts channel.open of `channel`: the generation its open-ok gives it.
    pub(crate) fn begin_open(&mut self, channel: u16) -> u64 {
        self.next_generation += 1;
        self.opening.insert(channel, self.next_generation);
        self.next_generation
    }

    /// Why the channel `id` of `generation` closed, when its id now belongs
    /// to a later opening.
    pub(crate) fn stale(&self, id: u16, generation: u64) -> Option<Error> {
        match self.channels.get(&id) {
            Some(c) if c.generation != generation => Some(
                self.retired
                    .iter()
                    .rev()
                    .find(|(c, g, _)| *c == id && *g == generation)
                    .map_or(Error::ChannelClosedByClient { channel: id }, |(_, _, e)| {
                        e.clone()
                    }),
            ),
            _ => None,
        }
    }

    /// The state of channel `id`, while it is still the opening `generation`.
    pub(crate) fn channel(&self, id: u16, generation: u64) -> Option<&ChannelData> {
        self.channels
            .get(&id)
            .filter(|c| c.generation == generation)
    }

    /// The state of channel `id`, while it is still the opening `generation`.
    pub(crate) fn channel_mut(&mut self, id: u16, generation: u64) -> Option<&mut ChannelData> {
        self.channels
            .get_mut(&id)
            .filter(|c| c.generation == generation)
    }

    /// Removes a consumer of the opening `generation` of channel `id` (none
    /// once the id was reused).
    pub(crate) fn take_own_consumer(
        &mut self,
        id: u16,
        generation: u64,
        tag: &[u8],
    ) -> Option<ConsumerState> {
        self.channel(id, generation)?;
        self.take_consumer(id, tag)
    }

    /// A reused channel id starts afresh; the handles of the channel it
    /// replaces keep seeing why that one closed.
    fn replace_channel(&mut self, channel: u16, fx: &mut Effects) {
        let generation = self.opening.remove(&channel).unwrap_or_else(|| {
            self.next_generation += 1;
            self.next_generation
        });
        let fresh = ChannelData {
            flow_active: true,
            generation,
            ..ChannelData::default()
        };
        let Some(old) = self.channels.insert(channel, fresh) else {
            return;
        };
        // Its consumers go with it: keep the counters right.
        for s in old.consumers.values() {
            fx.wakers.extend(s.waker.clone());
            if s.limit.is_some() {
                self.bounded_consumers -= 1;
            }
            if s.full {
                self.set_not_full();
            }
        }
        for waker in old.confirms.waiting.into_values().flatten() {
            fx.wakers.push(waker);
        }
        let error = old
            .closed
            .unwrap_or(Error::ChannelClosedByClient { channel });
        if self.retired.len() == RETIRED_KEPT {
            self.retired.pop_front();
        }
        self.retired.push_back((channel, old.generation, error));
    }

    // ---------------------------------------------------------------- slots

    /// The reply to `request`, once it is there.
    pub(crate) fn poll_slot(&mut self, request: RequestId, cx: &Context<'_>) -> Poll<Reply> {
        let Some(slot) = self.slots.get_mut(&request) else {
            let e = self
                .closed
                .clone()
                .unwrap_or_else(|| Error::Misuse("the request was lost".into()));
            return Poll::Ready(Err(e));
        };
        if let Some(r) = slot.result.take() {
            self.slots.remove(&request);
            return Poll::Ready(r);
        }
        register(&mut slot.waker, cx);
        Poll::Pending
    }

    /// The future awaiting `request` was dropped.
    pub(crate) fn abandon(&mut self, request: RequestId) {
        let Some(slot) = self.slots.get_mut(&request) else {
            return;
        };
        if slot.result.is_some() {
            if let Some(slot) = self.slots.remove(&request) {
                if let (Some(action), Some(reply)) = (slot.on_abandon, slot.result) {
                    self.run_action(action, &reply);
                }
            }
        } else {
            slot.abandoned = true;
            slot.waker = None;
        }
        self.wake_driver();
    }

    fn complete(&mut self, request: RequestId, reply: Reply, fx: &mut Effects) {
        let Some(slot) = self.slots.get_mut(&request) else {
            return;
        };
        if slot.abandoned {
            if let Some(Slot {
                on_abandon: Some(action),
                ..
            }) = self.slots.remove(&request)
            {
                self.run_action(action, &reply);
            }
            return;
        }
        slot.result = Some(reply);
        if let Some(w) = slot.waker.take() {
            fx.wakers.push(w);
        }
    }

    fn run_action(&mut self, action: Action, reply: &Reply) {
        match action {
            Action::CloseChannel(channel) => {
                if reply.is_ok() {
                    let _ = self.core.close_channel(
                        channel,
                        ReplyCode::REPLY_SUCCESS,
                        "Normal shutdown",
                    );
                }
            }
            Action::CancelConsumer { channel, tag } => {
                if reply.is_err() {
                    self.take_consumer(channel, &tag);
                    return;
                }
                self.orphan_consumer(channel, tag);
            }
            Action::RemoveConsumer { channel, tag } => {
                if let Some(state) = self.take_consumer(channel, &tag) {
                    if !state.no_ack {
                        self.requeue(channel, state.queue.iter());
                    }
                }
            }
        }
        self.wake_driver();
    }

    /// A consumer whose handle is gone: requeue its buffer, requeue what
    /// still arrives, and cancel it.
    pub(crate) fn orphan_consumer(&mut self, channel: u16, tag: ShortStr) {
        let Some(c) = self.channels.get_mut(&channel) else {
            return;
        };
        let Some(state) = c.consumers.get_mut(tag.as_bytes()) else {
            return;
        };
        if state.ended.is_some() || state.cancelled || c.closed.is_some() {
            self.take_consumer(channel, &tag);
            return;
        }
        state.orphaned = true;
        let buffered = std::mem::take(&mut state.queue);
        let no_ack = state.no_ack;
        if state.full {
            state.full = false;
            self.full_consumers -= 1;
        }
        if !no_ack {
            self.requeue(channel, buffered.iter());
        }
        let cancel = basic::Cancel {
            consumer_tag: tag.clone(),
            no_wait: false,
        };
        match self.core.call(channel, cancel.into()) {
            Ok(request) => {
                self.slots.insert(
                    request,
                    Slot {
                        abandoned: true,
                        ..Slot::new(Some(Action::RemoveConsumer { channel, tag }))
                    },
                );
            }
            Err(_) => {
                self.take_consumer(channel, &tag);
            }
        }
        self.wake_driver();
    }

    /// basic.nack with requeue for each delivery.
    pub(crate) fn requeue<'a>(
        &mut self,
        channel: u16,
        deliveries: impl Iterator<Item = &'a Delivery>,
    ) {
        for d in deliveries {
            let nack = basic::Nack {
                delivery_tag: d.delivery_tag,
                multiple: false,
                requeue: true,
            };
            if self.core.call(channel, nack.into()).is_err() {
                return;
            }
        }
    }

    /// Removes a consumer's state, keeping the counters right.
    pub(crate) fn take_consumer(&mut self, channel: u16, tag: &[u8]) -> Option<ConsumerState> {
        let state = self.channels.get_mut(&channel)?.consumers.remove(tag)?;
        if state.limit.is_some() {
            self.bounded_consumers -= 1;
        }
        if state.full {
            self.set_not_full();
        }
        Some(state)
    }

    fn set_not_full(&mut self) {
        self.full_consumers -= 1;
        if self.full_consumers == 0 {
            self.wake_driver();
        }
    }

    /// The driver took all of the core's output: every publish queued so
    /// far is on its way.
    pub(crate) fn mark_staged(&mut self) {
        for c in self.channels.values_mut() {
            c.confirms.staged = c.confirms.queued;
        }
    }

    /// Whether a consumer of `channel` has deliveries buffered.
    pub(crate) fn has_buffered(&self, channel: u16) -> bool {
        self.channels
            .get(&channel)
            .is_some_and(|c| c.consumers.values().any(|s| !s.queue.is_empty()))
    }

    /// How many publishes await their confirms, on all channels.
    pub(crate) fn confirms_outstanding(&self) -> usize {
        self.channels
            .values()
            .map(|c| c.confirms.waiting.len())
            .sum()
    }

    /// Whether any channel awaits confirms.
    pub(crate) fn any_confirms_due(&self) -> bool {
        self.channels
            .values()
            .any(|c| !c.confirms.waiting.is_empty())
    }

    /// Whether the application may queue output without waking the driver
    /// (see `lazy_output`): publishes while confirms are due, acks while an
    /// acknowledging consumer has deliveries buffered.
    pub(crate) fn lazy_output_likely(&self) -> bool {
        self.channels.values().any(|c| {
            !c.confirms.waiting.is_empty()
                || c.consumers
                    .values()
                    .any(|s| !s.no_ack && !s.queue.is_empty())
        })
    }

    /// Whether any consumer has deliveries buffered.
    pub(crate) fn any_buffered(&self) -> bool {
        self.channels
            .values()
            .any(|c| c.consumers.values().any(|s| !s.queue.is_empty()))
    }

    /// Takes the next delivery of a consumer's buffer.
    pub(crate) fn pop_delivery(&mut self, channel: u16, tag: &[u8]) -> Option<Delivery> {
        let state = self.channels.get_mut(&channel)?.consumers.get_mut(tag)?;
        let d = state.queue.pop_front()?;
        if state.full && state.limit.is_some_and(|l| state.queue.len() < l) {
            state.full = false;
            self.set_not_full();
        }
        Some(d)
    }

    // --------------------------------------------------------------- events

    /// Moves the core's events into the shared structures.
    pub(crate) fn pump(&mut self, fx: &mut Effects) {
        while let Some(event) = self.core.poll_event() {
            self.handle_event(event, fx);
        }
    }

    fn state_changed(&mut self, fx: &mut Effects) {
        fx.wakers.append(&mut self.state_waiters);
    }

    fn handle_event(&mut self, event: Event, fx: &mut Effects) {
        match event {
            Event::Connected {
                server_properties,
                tuning,
            } => {
                self.connected = Some((server_properties, tuning));
                self.state_changed(fx);
            }
            Event::Reply {
                channel,
                request,
                method,
                content,
            } => {
                if let Method::ChannelOpenOk(_) = &method {
                    self.replace_channel(channel, fx);
                }
                self.complete(request, Ok((method, content)), fx);
            }
            Event::Sent { request, .. } => {
                if !self.slots.is_empty() && self.slots.contains_key(&request) {
                    let written = Method::Unknown {
                        class_id: 0,
                        method_id: 0,
                        arguments: Bytes::new(),
                    };
                    self.complete(request, Ok((written, None)), fx);
                }
            }
            Event::Delivery {
                channel,
                deliver,
                content,
            } => self.deliver(channel, deliver, content, fx),
            Event::Return {
                channel,
                method,
                content,
            } => {
                let reason = BrokerClose {
                    code: ReplyCode(method.reply_code),
                    text: method.reply_text.to_string_lossy().into_owned(),
                    method: None,
                };
                let Some(c) = self.channels.get_mut(&channel) else {
                    return;
                };
                if c.confirms.mode {
                    c.confirms.returned = Some(reason.clone());
                }
                if let Some(f) = &c.on_return {
                    fx.deferred.push(Deferred::Return(
                        f.clone(),
                        Box::new(Returned {
                            channel,
                            reason,
                            exchange: method.exchange.to_string_lossy().into_owned(),
                            routing_key: method.routing_key.to_string_lossy().into_owned(),
                            content,
                        }),
                    ));
                }
            }
            Event::Confirm {
                channel,
                delivery_tag,
                multiple,
                ack,
            } => {
                let Some(c) = self.channels.get_mut(&channel) else {
                    return;
                };
                let confirms = &mut c.confirms;
                let returned = confirms.returned.take();
                let outcome = |tag: u64| match (ack, &returned) {
                    (false, _) => Err(Error::Nacked),
                    // The return belongs to the message this ack names.
                    (true, Some(r)) if tag == delivery_tag => Err(Error::Unroutable(r.clone())),
                    (true, _) => Ok(()),
                };
                if multiple {
                    while let Some(entry) = confirms.waiting.first_entry() {
                        if *entry.key() > delivery_tag {
                            break;
                        }
                        let (tag, waker) = entry.remove_entry();
                        confirms.done.insert(tag, outcome(tag));
                        fx.wakers.extend(waker);
                    }
                } else if let Some(waker) = confirms.waiting.remove(&delivery_tag) {
                    confirms.done.insert(delivery_tag, outcome(delivery_tag));
                    fx.wakers.extend(waker);
                }
            }
            Event::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                let Some(state) = self
                    .channels
                    .get_mut(&channel)
                    .and_then(|c| c.consumers.get_mut(consumer_tag.as_bytes()))
                else {
                    return;
                };
                if state.orphaned {
                    self.take_consumer(channel, consumer_tag.as_bytes());
                    return;
                }
                state.ended = Some(Error::ConsumerCancelled { consumer_tag });
                fx.wakers.extend(state.waker.take());
                // No more deliveries will come: reading must not stay paused.
                if state.full {
                    state.full = false;
                    self.set_not_full();
                }
            }
            Event::Flow { channel, active } => {
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.flow_active = active;
                }
            }
            Event::Blocked { reason } => {
                self.blocked = true;
                if let Some(f) = &self.on_blocked {
                    fx.deferred.push(Deferred::Blocked(f.clone(), Some(reason)));
                }
            }
            Event::Unblocked => {
                self.blocked = false;
                if let Some(f) = &self.on_blocked {
                    fx.deferred.push(Deferred::Blocked(f.clone(), None));
                }
            }
            Event::ChannelClosed {
                channel,
                error,
                failed,
            } => {
                for r in failed {
                    self.complete(r, Err(error.clone()), fx);
                }
                let c = self.channels.entry(channel).or_default();
                let waiting = std::mem::take(&mut c.confirms.waiting);
                for (tag, waker) in waiting {
                    c.confirms.done.insert(tag, Err(error.clone()));
                    fx.wakers.extend(waker);
                }
                let mut no_longer_full = 0;
                let mut bounded_removed = 0;
                c.consumers.retain(|_, s| {
                    fx.wakers.extend(s.waker.take());
                    if s.full {
                        s.full = false;
                        no_longer_full += 1;
                    }
                    if s.orphaned && s.limit.is_some() {
                        bounded_removed += 1;
                    }
                    !s.orphaned
                });
                c.closed = Some(error);
                self.bounded_consumers -= bounded_removed;
                for _ in 0..no_longer_full {
                    self.set_not_full();
                }
                self.state_changed(fx);
            }
            Event::Closed { error } => {
                // A TLS failure shows to the core as a lost stream (or, during
                // its handshake, as a probable refusal): its cause is the
                // better explanation.
                let error = match (self.transport_error.take(), error) {
                    (
                        Some(cause),
                        Error::StreamLost(_)
                        | Error::ProbableAuthenticationFailure
                        | Error::ProbableAccessDenied,
                    ) => cause,
                    (_, error) => error,
                };
                let requests: Vec<RequestId> = self.slots.keys().copied().collect();
                for r in requests {
                    self.complete(r, Err(error.clone()), fx);
                }
                self.closed = Some(error);
                for c in self.channels.values_mut() {
                    for s in c.consumers.values_mut() {
                        fx.wakers.extend(s.waker.take());
                    }
                }
                fx.wakers.append(&mut self.room_waiters);
                self.state_changed(fx);
            }
        }
    }

    fn deliver(
        &mut self,
        channel: u16,
        deliver: basic::Deliver,
        content: Content,
        fx: &mut Effects,
    ) {
        let Some(state) = self
            .channels
            .get_mut(&channel)
            .and_then(|c| c.consumers.get_mut(deliver.consumer_tag.as_bytes()))
        else {
            // No consumer of ours (cannot happen with a well-behaved broker):
            // the message returns to the queue when the channel closes.
            return;
        };
        if state.orphaned {
            if !state.no_ack {
                let nack = basic::Nack {
                    delivery_tag: deliver.delivery_tag,
                    multiple: false,
                    requeue: true,
                };
                let _ = self.core.call(channel, nack.into());
            }
            return;
        }
        state
            .queue
            .push_back(Delivery::new(channel, deliver, content));
        if let Some(w) = state.waker.take() {
            fx.wakers.push(w);
        }
        if !state.full && state.limit.is_some_and(|l| state.queue.len() >= l) {
            state.full = true;
            self.full_consumers += 1;
        }
    }
}
