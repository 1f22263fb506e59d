//! State shared by the application's threads and the I/O threads: the core
//! behind one mutex, and what its events produced, waiting to be taken.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use amqp_protocol::{FieldTable, Method, ShortStr};
use bytes::Bytes;

use crate::core::{Connection as Core, Content, Event, RequestId, Tuning};
use crate::error::{BrokerClose, Error};

use super::io::{Interrupt, OutReceiver, ReadOnce, WriteQueued, HANDOVER, MAX_READ_WAIT};
use super::Delivery;
use crate::types::Returned;

/// The outcome of a synchronous call.
pub(super) type Reply = Result<(Method, Option<Content>), Error>;

/// Where a consumer's deliveries go.
pub(super) enum Sink {
    /// Dispatched to a callback by `process_data_events`.
    Callback,
    /// Queued for an iterator.
    Queue(VecDeque<Delivery>),
}

/// Something to run on the application's thread in `process_data_events`.
pub(super) enum Dispatch {
    Delivery(u16, Delivery),
    Return(Returned),
    Blocked(String),
    Unblocked,
    /// The broker cancelled a callback consumer.
    Cancelled(String),
}

/// Publish sequence numbers are small consecutive integers that only this
/// process chooses: a multiplicative hash spreads them well, far cheaper
/// than SipHash.
#[derive(Default)]
pub(super) struct SeqHasher(u64);

impl std::hash::Hasher for SeqHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

type SeqBuild = std::hash::BuildHasherDefault<SeqHasher>;

/// Unconfirmed sequence numbers, in increasing order (they are assigned in
/// order): a multiple confirm takes them from the front.
#[derive(Default)]
pub(super) struct Unconfirmed(VecDeque<u64>);

impl Unconfirmed {
    pub(super) fn insert(&mut self, seq: u64) {
        match self.0.back() {
            Some(&last) if last >= seq => {
                if let Err(i) = self.0.binary_search(&seq) {
                    self.0.insert(i, seq);
                }
            }
            _ => self.0.push_back(seq),
        }
    }

    pub(super) fn contains(&self, seq: u64) -> bool {
        self.0.binary_search(&seq).is_ok()
    }

    pub(super) fn remove(&mut self, seq: u64) -> bool {
        if self.0.front() == Some(&seq) {
            self.0.pop_front();
            return true;
        }
        match self.0.binary_search(&seq) {
            Ok(i) => self.0.remove(i).is_some(),
            Err(_) => false,
        }
    }

    /// Removes and returns the smallest sequence number if it is at most
    /// `up_to`.
    pub(super) fn pop_up_to(&mut self, up_to: u64) -> Option<u64> {
        match self.0.front() {
            Some(&seq) if seq <= up_to => self.0.pop_front(),
            _ => None,
        }
    }

    pub(super) fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, u64> {
        self.0.drain(..)
    }
}

#[derive(Default)]
pub(super) struct ConfirmState {
    pub(super) enabled: bool,
    /// Sequence numbers published and not yet confirmed.
    pub(super) pending: Unconfirmed,
    /// Outcomes not yet collected by their publisher: `Ok` (acked) or the error.
    pub(super) done: HashMap<u64, Result<(), Error>, SeqBuild>,
    /// A basic.return that the next confirm belongs to.
    pub(super) returned: Option<BrokerClose>,
    /// Sequence numbers whose `Confirmation` was dropped unwaited: their
    /// outcome is not kept.
    pub(super) abandoned: HashSet<u64, SeqBuild>,
}

impl ConfirmState {
    /// Records the outcome of `tag` for its publisher (unless its
    /// `Confirmation` was dropped).
    fn settle(&mut self, tag: u64, outcome: Result<(), Error>) {
        if !self.abandoned.is_empty() && self.abandoned.remove(&tag) {
            return;
        }
        self.done.insert(tag, outcome);
    }
}

#[derive(Default)]
pub(super) struct ChannelData {
    pub(super) closed: Option<Error>,
    pub(super) consumers: HashMap<ShortStr, Sink>,
    /// Consumers the broker cancelled, with the error their users see.
    pub(super) cancelled: HashMap<String, Error>,
    pub(super) confirms: ConfirmState,
    pub(super) flow_active: bool,
    /// Which opening of this channel id (see `Channel::stale`).
    pub(super) generation: u64,
}

pub(super) struct Inner {
    pub(super) core: Core,
    pub(super) writer: Option<super::io::OutSender>,
    /// Requests someone waits for, and their outcomes once known.
    pub(super) awaited: HashSet<RequestId>,
    pub(super) replies: HashMap<RequestId, Reply>,
    pub(super) channels: HashMap<u16, ChannelData>,
    pub(super) dispatch: VecDeque<Dispatch>,
    pub(super) closed: Option<Error>,
    pub(super) connected: Option<(FieldTable, Tuning)>,
    pub(super) blocked: bool,
    pub(super) threadsafe_callbacks: VecDeque<Box<dyn FnOnce() + Send>>,
    pub(super) timers: BTreeMap<(Instant, u64), Box<dyn FnOnce() + Send>>,
    pub(super) next_timer: u64,
    /// Numbers the openings of channels (see `Channel::stale`).
    pub(super) next_generation: u64,
    /// Why recently replaced channels closed: (id, generation, error).
    pub(super) retired: VecDeque<(u16, u64, Error)>,
    /// Threads parked in [`Shared::wait`]: waking costs a system call, so
    /// [`Shared::pump`] skips it when nobody waits.
    pub(super) waiters: usize,
}

pub(super) struct Shared {
    pub(super) inner: Mutex<Inner>,
    pub(super) cond: Condvar,
    /// Bytes handed to the writer and not yet written: publishers wait while
    /// it is above [`HIGH_WATER`], so a fast publisher cannot pile up
    /// unbounded memory in front of a slow socket.
    pub(super) queued: AtomicUsize,
    pub(super) room: Mutex<()>,
    pub(super) room_cond: Condvar,
    /// What the writer (or a reading application thread) is to write.
    pub(super) out: OutReceiver,
    /// The socket's write side, held by whichever thread writes.
    pub(super) write_side: Mutex<Option<Box<dyn WriteQueued>>>,
    /// The socket's read side, held by whichever thread reads (see
    /// [`Shared::wait_reading`]); `None` until the I/O starts.
    pub(super) read_side: Mutex<Option<Box<dyn ReadOnce>>>,
    /// When an application thread last read the socket, in microseconds
    /// since `epoch` (0: never).
    pub(super) app_read_at: AtomicU64,
    /// The thread (see [`thread_number`]) that last read the socket in
    /// [`Shared::wait_reading`].
    pub(super) app_reader: AtomicU64,
    /// The reader thread is (about to be) blocked in a read: output queued
    /// lazily must wake the writer.
    pub(super) reader_reads: std::sync::atomic::AtomicBool,
    /// Application threads parked in [`Shared::wait_reading`] because
    /// another thread held the read side.
    pub(super) app_wants_read: AtomicUsize,
    pub(super) epoch: Instant,
    /// Wakes a dispatching thread that reads the socket (see
    /// [`Shared::wait_dispatching`]).
    pub(super) interrupt: Interrupt,
}

/// Above this many queued output bytes, publishers wait.
pub(super) const HIGH_WATER: usize = 4 * 1024 * 1024;
/// ... until the writer brings it below this.
pub(super) const LOW_WATER: usize = 1024 * 1024;

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another thread while holding the lock leaves consistent
        // data here (every update is complete before user code runs), so
        // poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn wait<'a>(
        &self,
        mut guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        guard.waiters += 1;
        let mut guard = match until {
            None => self.cond.wait(guard).unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                let d = t.saturating_duration_since(Instant::now());
                self.cond
                    .wait_timeout(guard, d)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
        };
        guard.waiters -= 1;
        guard
    }

    pub(super) fn lock_write_side(&self) -> MutexGuard<'_, Option<Box<dyn WriteQueued>>> {
        self.write_side.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is queued, on this thread, unless another thread is
    /// writing (it then writes this too). Called without the core's lock.
    fn flush_directly(&self) {
        let Ok(mut side) = self.write_side.try_lock() else {
            return;
        };
        let Some(w) = side.as_mut() else { return };
        match w.write_queued(&self.out) {
            Ok(n) => self.written(n),
            Err(e) => {
                drop(side);
                let mut inner = self.lock();
                inner.core.handle_eof(Some(e));
                self.pump(&mut inner);
            }
        }
    }

    pub(super) fn lock_read_side(&self) -> MutexGuard<'_, Option<Box<dyn ReadOnce>>> {
        self.read_side.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_application_read(&self) {
        self.app_reader.store(thread_number(), Ordering::Relaxed);
        let micros = self.epoch.elapsed().as_micros() as u64 + 1;
        self.app_read_at.store(micros, Ordering::Relaxed);
    }

    /// Whether an application thread reads the socket, waits to, or did so
    /// within [`HANDOVER`]: then the reader thread keeps off it.
    pub(super) fn application_reads(&self) -> bool {
        if self.app_wants_read.load(Ordering::Relaxed) > 0 {
            return true;
        }
        let at = self.app_read_at.load(Ordering::Relaxed);
        at != 0
            && (self.epoch.elapsed().as_micros() as u64 + 1).saturating_sub(at)
                < HANDOVER.as_micros() as u64
    }

    /// Like [`Shared::wait`], for what only the socket can bring (a
    /// delivery, a confirm, a reply): when no other thread reads the socket,
    /// this one reads it (once, at most until `until`) instead of parking
    /// until the reader thread wakes it. Returns after that read or wake-up;
    /// the caller checks its condition again.
    pub(super) fn wait_reading<'a>(
        &'a self,
        guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        self.wait_reading_with(guard, until, None)
    }

    /// [`Shared::wait_reading`] for a thread that also waits for what other
    /// threads add (thread-safe callbacks, timers: they fire
    /// [`Shared::interrupt`]): `start_consuming` and `process_data_events`.
    /// Where no interrupt is available, it parks as [`Shared::wait`] does.
    pub(super) fn wait_dispatching<'a>(
        &'a self,
        guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        if !self.interrupt.available() {
            return self.wait(guard, until);
        }
        // Armed under the lock: whatever is added after the caller looked
        // (under the same lock) fires it.
        self.interrupt.arm();
        let guard = self.wait_reading_with(guard, until, Some(&self.interrupt));
        self.interrupt.disarm();
        guard
    }

    fn wait_reading_with<'a>(
        &'a self,
        guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> MutexGuard<'a, Inner> {
        if self.out.has_pending() {
            // Acks queued lazily (and whatever came after them) go out
            // before this thread reads: one write for a whole batch.
            drop(guard);
            self.flush_directly();
            return self.lock();
        }
        let now = Instant::now();
        let mut wait = guard
            .core
            .poll_timeout()
            .map_or(MAX_READ_WAIT, |t| t.saturating_duration_since(now));
        if let Some(u) = until {
            wait = wait.min(u.saturating_duration_since(now));
        }
        if !guard.core.is_closed() {
            // Never waits for the read side while holding the core's lock
            // (the reader holds the read side and then takes the core's).
            if let Ok(mut side) = self.read_side.try_lock() {
                if let Some(s) = side.as_mut() {
                    drop(guard);
                    self.mark_application_read();
                    s.read_once(self, wait, interrupt);
                    self.mark_application_read();
                    drop(side);
                    return self.lock();
                }
            }
        }
        self.app_wants_read.fetch_add(1, Ordering::Relaxed);
        let guard = self.wait(guard, until);
        self.app_wants_read.fetch_sub(1, Ordering::Relaxed);
        guard
    }

    /// [`Shared::pump`] after an ack, nack or reject: while an application
    /// thread reads the socket, its output is queued without waking the
    /// writer, and that thread writes it before its next read (the reader
    /// thread wakes the writer within [`HANDOVER`] otherwise).
    pub(super) fn pump_ack(&self, inner: &mut Inner) {
        self.pump_inner(inner, self.application_reads());
    }

    /// [`Shared::pump`] after a publish: when this thread is the one that
    /// reads the socket (it waits for confirms or deliveries in between), the
    /// frames are queued without waking the writer and this thread writes
    /// them, with whatever else it queued, before its next read: one write
    /// per window of publishes, and no thread hop for a request/response.
    pub(super) fn pump_publish(&self, inner: &mut Inner) {
        let lazy =
            self.application_reads() && self.app_reader.load(Ordering::Relaxed) == thread_number();
        self.pump_inner(inner, lazy);
    }

    /// Moves the core's output to the writer and its events into the shared
    /// structures, then wakes every waiter.
    pub(super) fn pump(&self, inner: &mut Inner) {
        self.pump_inner(inner, false);
    }

    fn pump_inner(&self, inner: &mut Inner, lazy: bool) {
        let now = Instant::now();
        while let Some(bytes) = inner.core.poll_transmit(now) {
            if let Some(w) = &inner.writer {
                let n = bytes.len();
                self.queued.fetch_add(n, Ordering::AcqRel);
                let sent = if lazy {
                    w.send_lazy(bytes)
                } else {
                    w.send(bytes)
                };
                if sent.is_err() {
                    self.queued.fetch_sub(n, Ordering::AcqRel);
                    inner.writer = None;
                }
            }
        }
        // Queued lazily while the reader thread blocks in a read (nobody
        // would write it soon): wake the writer after all. Pairs with the
        // reader's store-then-kick, so that one of the two sees the other.
        if lazy && self.reader_reads.load(Ordering::SeqCst) {
            self.out.kick();
        }
        // Waking every waiter costs a system call: only do it when an event
        // someone may wait for was handled (a publish's "written" is not).
        let mut wake = false;
        while let Some(event) = inner.core.poll_event() {
            wake |=
                !matches!(&event, Event::Sent { request, .. } if !inner.awaited.contains(request));
            inner.handle_event(event);
        }
        if inner.core.is_closed() {
            // Dropping the sender lets the writer drain and shut the socket.
            inner.writer = None;
            wake = true;
        }
        if wake && inner.waiters > 0 {
            self.cond.notify_all();
        }
    }
}

impl Shared {
    /// Called by the writer after writing `n` bytes.
    pub(super) fn written(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before >= LOW_WATER && before - n < LOW_WATER {
            let _guard = self.room.lock().unwrap_or_else(|p| p.into_inner());
            self.room_cond.notify_all();
        }
    }

    /// Waits (without holding the core's lock) while too much output is
    /// queued; returns at once when the connection is gone.
    pub(super) fn wait_for_room(&self) {
        if self.queued.load(Ordering::Acquire) <= HIGH_WATER {
            return;
        }
        // Output queued lazily does not wake the writer: write it here.
        self.flush_directly();
        self.out.kick();
        let mut guard = self.room.lock().unwrap_or_else(|p| p.into_inner());
        while self.queued.load(Ordering::Acquire) > LOW_WATER {
            let (g, timeout) = self
                .room_cond
                .wait_timeout(guard, std::time::Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner());
            guard = g;
            if timeout.timed_out() && self.lock().closed.is_some() {
                return;
            }
        }
    }
}

/// How many replaced channels' close errors are kept for their stale
/// handles (older ones see [`Error::ChannelClosedByClient`]).
const RETIRED_KEPT: usize = 64;

impl Inner {
    /// Why the channel `id` of `generation` closed, once its id was reused.
    pub(super) fn retired_error(&self, id: u16, generation: u64) -> Error {
        self.retired
            .iter()
            .rev()
            .find(|(c, g, _)| *c == id && *g == generation)
            .map_or(Error::ChannelClosedByClient { channel: id }, |(_, _, e)| {
                e.clone()
            })
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected {
                server_properties,
                tuning,
            } => self.connected = Some((server_properties, tuning)),
            Event::Reply {
                request,
                method,
                content,
                channel,
            } => {
                if let Method::ChannelOpenOk(_) = &method {
                    // A reused channel id starts afresh; the handles of the
                    // channel it replaces keep seeing why that one closed.
                    self.next_generation += 1;
                    let fresh = ChannelData {
                        flow_active: true,
                        generation: self.next_generation,
                        ..ChannelData::default()
                    };
                    if let Some(old) = self.channels.insert(channel, fresh) {
                        let error = old
                            .closed
                            .unwrap_or(Error::ChannelClosedByClient { channel });
                        if self.retired.len() == RETIRED_KEPT {
                            self.retired.pop_front();
                        }
                        self.retired.push_back((channel, old.generation, error));
                    }
                }
                if self.awaited.remove(&request) {
                    self.replies.insert(request, Ok((method, content)));
                }
            }
            Event::Sent { request, .. } => {
                if self.awaited.remove(&request) {
                    self.replies.insert(
                        request,
                        Ok((
                            Method::Unknown {
                                class_id: 0,
                                method_id: 0,
                                arguments: Bytes::new(),
                            },
                            None,
                        )),
                    );
                }
            }
            Event::Delivery {
                channel,
                deliver,
                content,
            } => {
                let delivery = Delivery::new(channel, deliver, content);
                let sink = self
                    .channels
                    .get_mut(&channel)
                    .and_then(|c| c.consumers.get_mut(delivery.consumer_tag.as_bytes()));
                match sink {
                    Some(Sink::Queue(q)) => q.push_back(delivery),
                    // Callback consumers, and deliveries that race with a
                    // cancel, go to the dispatcher (which nacks the latter).
                    _ => self
                        .dispatch
                        .push_back(Dispatch::Delivery(channel, delivery)),
                }
            }
            Event::Return {
                channel,
                method,
                content,
            } => {
                let reason = BrokerClose {
                    code: amqp_protocol::ReplyCode(method.reply_code),
                    text: method.reply_text.to_string_lossy().into_owned(),
                    method: None,
                };
                if let Some(c) = self.channels.get_mut(&channel) {
                    if c.confirms.enabled {
                        c.confirms.returned = Some(reason.clone());
                    }
                }
                self.dispatch.push_back(Dispatch::Return(Returned {
                    channel,
                    reason,
                    exchange: method.exchange.to_string_lossy().into_owned(),
                    routing_key: method.routing_key.to_string_lossy().into_owned(),
                    content,
                }));
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
                    while let Some(tag) = confirms.pending.pop_up_to(delivery_tag) {
                        confirms.settle(tag, outcome(tag));
                    }
                } else if confirms.pending.remove(delivery_tag) {
                    confirms.settle(delivery_tag, outcome(delivery_tag));
                }
            }
            Event::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                if let Some(c) = self.channels.get_mut(&channel) {
                    if let Some(Sink::Callback) = c.consumers.remove(consumer_tag.as_bytes()) {
                        self.dispatch
                            .push_back(Dispatch::Cancelled(consumer_tag.clone()));
                    }
                    c.cancelled.insert(
                        consumer_tag.clone(),
                        Error::ConsumerCancelled {
                            consumer_tag: consumer_tag.clone(),
                        },
                    );
                }
            }
            Event::Flow { channel, active } => {
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.flow_active = active;
                }
            }
            Event::Blocked { reason } => {
                self.blocked = true;
                self.dispatch.push_back(Dispatch::Blocked(reason));
            }
            Event::Unblocked => {
                self.blocked = false;
                self.dispatch.push_back(Dispatch::Unblocked);
            }
            Event::ChannelClosed {
                channel,
                error,
                failed,
            } => {
                for r in failed {
                    if self.awaited.remove(&r) {
                        self.replies.insert(r, Err(error.clone()));
                    }
                }
                let c = self.channels.entry(channel).or_default();
                let pending: Vec<u64> = c.confirms.pending.drain().collect();
                for tag in pending {
                    c.confirms.settle(tag, Err(error.clone()));
                }
                c.closed = Some(error);
            }
            Event::Closed { error } => {
                for r in self.awaited.drain() {
                    self.replies.insert(r, Err(error.clone()));
                }
                self.closed = Some(error);
            }
        }
    }
}

/// A small number per thread, for telling threads apart cheaply.
pub(super) fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static NUMBER: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}
