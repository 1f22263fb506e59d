//! The state the driver task and the application's handles share: the
//! client core ([`Client`]: every request's outcome, the consumers and
//! their buffers, publisher confirms, the channels), the wakers of whoever
//! waits on one of those, keyed by the core's ids, the callbacks, and what
//! the I/O needs under the lock (TLS, direct writes, back-pressure).
//!
//! One mutex guards it all. It is held only for short, non-blocking updates
//! (never across an `.await`, never while user callbacks run), so a plain
//! `std::sync::Mutex` is the right tool: no async lock is needed.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::tls::Tls;
use super::transport::DirectWrite;
use crate::core::client::RecoveryEvent;
use crate::core::client::{Event, Ready};
use crate::core::{ChannelRef, Client, ConsumerId, RequestId};
use crate::error::Error;
use crate::types::Returned;

/// A channel's return callback.
/// A channel's return callback, given the connection's shared state to make
/// the channel handle from.
pub(crate) type ReturnFn = Arc<dyn Fn(&Arc<Shared>, ChannelRef, Returned) + Send + Sync>;
/// The connection's blocked / unblocked callback.
pub(crate) type BlockedFn = Arc<dyn Fn(Option<&str>) + Send + Sync>;
pub(crate) type RecoveryFn = Arc<dyn Fn(&RecoveryEvent) + Send + Sync>;

/// Above this many output bytes not yet written, publishers wait, so that a
/// fast publisher cannot pile up unbounded memory in front of a slow socket.
pub(crate) const HIGH_WATER: usize = 4 * 1024 * 1024;
/// ... until the driver brings it below this.
pub(crate) const LOW_WATER: usize = 1024 * 1024;
/// How soon the driver looks for acknowledgements queued without waking it
/// (see `Channel::acknowledge`) while deliveries wait in a buffer; the
/// interval doubles, up to [`LAZY_FLUSH_MAX`], while it finds none (a
/// consumer that stopped asking for its deliveries does not keep the driver
/// busy).
pub(crate) const LAZY_FLUSH: Duration = Duration::from_millis(5);
/// See [`LAZY_FLUSH`].
pub(crate) const LAZY_FLUSH_MAX: Duration = Duration::from_millis(200);

/// Work for after the lock is released: wakers to wake and callbacks to run.
#[derive(Default)]
pub(crate) struct Effects {
    wakers: Vec<Waker>,
    deferred: Vec<Deferred>,
}

enum Deferred {
    Return(ReturnFn, ChannelRef, Box<Returned>),
    Blocked(BlockedFn, Option<String>),
    Recovery(RecoveryFn, RecoveryEvent),
}

impl Effects {
    /// Calls back, then wakes (without the lock). Callbacks first: a
    /// return callback runs before the confirmation it precedes (the broker
    /// sends basic.return before the publish's basic.ack) resolves.
    pub(crate) fn run(&mut self, shared: &Arc<Shared>) {
        for d in self.deferred.drain(..) {
            match d {
                Deferred::Return(f, channel, r) => f(shared, channel, *r),
                Deferred::Blocked(f, reason) => f(reason.as_deref()),
                Deferred::Recovery(f, event) => f(&event),
            }
        }
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    /// The driver task, when it waits.
    driver: Option<Waker>,
    /// Futures awaiting the outcome of a request ...
    requests: HashMap<RequestId, Waker>,
    /// ... a publish's confirm, by channel and sequence number ...
    confirms: HashMap<ChannelRef, BTreeMap<u64, Waker>>,
    /// ... a consumer's next delivery ...
    consumers: HashMap<ConsumerId, Waker>,
    /// ... a rare state change (opened, a channel or the connection
    /// closed) ...
    state_waiters: Vec<Waker>,
    /// ... and publishers waiting for output room.
    room_waiters: Vec<Waker>,
    on_return: HashMap<ChannelRef, ReturnFn>,
    on_blocked: Option<BlockedFn>,
    on_recovery: Option<RecoveryFn>,
    /// Why the stream failed below the core (TLS), when it did: reported
    /// instead of the core's generic "stream lost".
    pub(crate) transport_error: Option<Error>,
    /// Output bytes produced and not yet written (approximate).
    pub(crate) queued: usize,
    /// TLS, for `amqps`. It lives under the lock because whoever holds the
    /// lock may produce records (the driver decrypting or staging the core's
    /// output, a task writing directly): each record is made, and its place
    /// in the output taken, in one critical section, so records reach the
    /// socket in the order of their sequence numbers.
    pub(super) tls: Option<Tls>,
    /// The socket, for writes from the application's tasks (TCP on tokio,
    /// with or without TLS; see `Inner::write_or_wake`).
    pub(crate) direct: Option<Arc<dyn DirectWrite>>,
    /// The records of a direct write with TLS (reused).
    pub(super) direct_cipher: BytesMut,
    /// What the socket did not take of a direct write: the driver writes it
    /// before anything else.
    pub(crate) direct_rest: BytesMut,
    /// The driver has written everything it staged and stages nothing
    /// without the lock: a direct write keeps the order of the bytes.
    pub(crate) driver_out_empty: bool,
    /// When the last direct write was made.
    pub(super) last_direct: Option<Instant>,
    /// Output was queued in the core without waking the driver: the
    /// acknowledgements of `Channel::acknowledge`.
    pub(crate) lazy_output: bool,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    pub(crate) fn new(client: Client) -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                client,
                driver: None,
                requests: HashMap::new(),
                confirms: HashMap::new(),
                consumers: HashMap::new(),
                state_waiters: Vec::new(),
                room_waiters: Vec::new(),
                on_return: HashMap::new(),
                on_blocked: None,
                on_recovery: None,
                transport_error: None,
                queued: 0,
                tls: None,
                direct: None,
                direct_cipher: BytesMut::new(),
                direct_rest: BytesMut::new(),
                driver_out_empty: false,
                last_direct: None,
                lazy_output: false,
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is complete before the lock is released and no user
        // code runs under it, so a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps `cx`'s waker in `slot` (unless it already wakes the same task).
fn register(slot: &mut Waker, cx: &Context<'_>) {
    if !slot.will_wake(cx.waker()) {
        *slot = cx.waker().clone();
    }
}

fn register_in<K: Hash + Eq>(map: &mut HashMap<K, Waker>, key: K, cx: &Context<'_>) {
    match map.entry(key) {
        Entry::Occupied(mut e) => register(e.get_mut(), cx),
        Entry::Vacant(e) => {
            e.insert(cx.waker().clone());
        }
    }
}

fn register_list(list: &mut Vec<Waker>, cx: &Context<'_>) {
    if !list.iter().any(|w| w.will_wake(cx.waker())) {
        list.push(cx.waker().clone());
    }
}

impl Inner {
    /// Asks the driver to run (new output, or reading may resume).
    pub(crate) fn wake_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }

    pub(crate) fn set_driver_waker(&mut self, cx: &Context<'_>) {
        match &mut self.driver {
            Some(w) => register(w, cx),
            None => self.driver = Some(cx.waker().clone()),
        }
    }

    /// The error to report for `e`: a TLS failure shows to the core as a
    /// lost stream (or, during its handshake, as a probable refusal), and
    /// its cause is the better explanation.
    pub(crate) fn explain(&self, e: Error) -> Error {
        match (&self.transport_error, e) {
            (
                Some(cause),
                Error::StreamLost(_)
                | Error::ProbableAuthenticationFailure
                | Error::ProbableAccessDenied,
            ) => cause.clone(),
            (_, e) => e,
        }
    }

    /// Why the connection closed, once it has.
    pub(crate) fn close_reason(&self) -> Option<Error> {
        self.client.close_reason().map(|e| self.explain(e.clone()))
    }

    /// Why `channel` (or the connection) closed, or `None` while it is
    /// usable.
    pub(crate) fn channel_error(&self, channel: ChannelRef) -> Option<Error> {
        self.client.channel_error(channel).map(|e| self.explain(e))
    }

    // -------------------------------------------------------------- waiters

    /// Waits for a rare state change; the caller re-checks when woken.
    pub(crate) fn wait_state(&mut self, cx: &Context<'_>) {
        register_list(&mut self.state_waiters, cx);
    }

    /// Waits for output room (and has the driver make some).
    pub(crate) fn wait_room(&mut self, cx: &Context<'_>) {
        register_list(&mut self.room_waiters, cx);
        self.wake_driver();
    }

    /// Whether publishers wait for output room.
    pub(crate) fn room_wanted(&self) -> bool {
        !self.room_waiters.is_empty()
    }

    /// There is output room again: publishers waiting for it go on.
    pub(crate) fn room_made(&mut self, fx: &mut Effects) {
        fx.wakers.append(&mut self.room_waiters);
    }

    /// Waits for the outcome of `request`.
    pub(crate) fn wait_request(&mut self, request: RequestId, cx: &Context<'_>) {
        register_in(&mut self.requests, request, cx);
    }

    /// Nobody waits for `request` any more.
    pub(crate) fn forget_request(&mut self, request: RequestId) {
        if !self.requests.is_empty() {
            self.requests.remove(&request);
        }
    }

    /// Waits for consumer `id`'s next delivery or end.
    pub(crate) fn wait_consumer(&mut self, id: ConsumerId, cx: &Context<'_>) {
        register_in(&mut self.consumers, id, cx);
    }

    /// Nobody waits for consumer `id` any more.
    pub(crate) fn forget_consumer(&mut self, id: ConsumerId) {
        self.consumers.remove(&id);
    }

    /// Waits for the outcome of publish `seq` of `channel`.
    pub(crate) fn wait_confirm(&mut self, channel: ChannelRef, seq: u64, cx: &Context<'_>) {
        let waiting = self.confirms.entry(channel).or_default();
        match waiting.get_mut(&seq) {
            Some(w) => register(w, cx),
            None => {
                waiting.insert(seq, cx.waker().clone());
                if !self.client.wants_input() {
                    // The driver may have paused reading: it reads on now.
                    self.wake_driver();
                }
            }
        }
    }

    /// Whether the driver reads: the core wants input, or a task awaits a
    /// publish's confirm, which may be behind deliveries the application
    /// has not taken (reading on to it takes at most what the broker wrote
    /// before it).
    pub(crate) fn wants_input(&self) -> bool {
        self.client.wants_input() || self.confirms.values().any(|w| !w.is_empty())
    }

    /// Nobody waits for publish `seq` of `channel` any more.
    pub(crate) fn forget_confirm(&mut self, channel: ChannelRef, seq: u64) {
        if let Some(waiting) = self.confirms.get_mut(&channel) {
            waiting.remove(&seq);
        }
    }

    // ------------------------------------------------------------ callbacks

    /// Calls `f` for each message the broker returns on `channel` (while
    /// it is open).
    pub(crate) fn set_on_return(&mut self, channel: ChannelRef, f: ReturnFn) {
        if self.client.channel_error(channel).is_none() {
            self.on_return.insert(channel, f);
        }
    }

    /// Calls `f` when the broker blocks or unblocks the connection.
    pub(crate) fn set_on_blocked(&mut self, f: BlockedFn) {
        self.on_blocked = Some(f);
    }

    /// Calls `f` with what automatic recovery does.
    pub(crate) fn set_on_recovery(&mut self, f: RecoveryFn) {
        self.on_recovery = Some(f);
    }

    // --------------------------------------------------------------- events

    /// Takes what the core has for the waiters and the application: the
    /// wakers concerned and the callbacks to run go to `fx`.
    pub(crate) fn pump(&mut self, fx: &mut Effects) {
        while let Some(ready) = self.client.poll_ready() {
            match ready {
                Ready::Request(id) => fx.wakers.extend(self.requests.remove(&id)),
                Ready::Consumer(id) => fx.wakers.extend(self.consumers.remove(&id)),
                Ready::Confirms {
                    channel,
                    up_to,
                    multiple,
                } => {
                    let Some(waiting) = self.confirms.get_mut(&channel) else {
                        continue;
                    };
                    if !multiple {
                        fx.wakers.extend(waiting.remove(&up_to));
                        continue;
                    }
                    while let Some(entry) = waiting.first_entry() {
                        if *entry.key() > up_to {
                            break;
                        }
                        fx.wakers.push(entry.remove());
                    }
                }
                Ready::State => fx.wakers.append(&mut self.state_waiters),
            }
        }
        // Deliveries reach the consumers' buffers and publish outcomes wait
        // to be taken: only what calls back, or frees room, is left here.
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::Returned { channel, returned } => {
                    if let Some(f) = self.on_return.get(&channel) {
                        fx.deferred
                            .push(Deferred::Return(f.clone(), channel, Box::new(returned)));
                    }
                }
                Event::Recovery(event) => {
                    if let Some(f) = &self.on_recovery {
                        fx.deferred.push(Deferred::Recovery(f.clone(), event));
                    }
                    // Publishers waiting for room in the recovery's buffer
                    // look again.
                    fx.wakers.append(&mut self.room_waiters);
                }
                Event::Blocked { reason } => {
                    if let Some(f) = &self.on_blocked {
                        fx.deferred.push(Deferred::Blocked(f.clone(), Some(reason)));
                    }
                }
                Event::Unblocked => {
                    if let Some(f) = &self.on_blocked {
                        fx.deferred.push(Deferred::Blocked(f.clone(), None));
                    }
                }
                Event::ChannelClosed { channel, .. } => {
                    self.on_return.remove(&channel);
                    self.confirms.remove(&channel);
                }
                Event::Closed { .. } => {
                    self.on_return.clear();
                    fx.wakers.append(&mut self.room_waiters);
                }
                _ => {}
            }
        }
    }
}
