//! [`Channel`]: every channel operation as a blocking call, publisher
//! confirms ([`Confirmation`]), consumers as iterators ([`ConsumeIter`]) or
//! callbacks, and the dispatcher that runs the callbacks. Each operation is
//! the core's, of the same name; this file only waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::shared::{Inner, Shared, Task};
use crate::core::client::Event;
use crate::core::{ChannelRef, Client, ConsumerId, ConsumerMode, NextDelivery, Pending};
use crate::error::Error;
pub use crate::types::{
    ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage, NackOptions,
    QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions,
};
use crate::types::{Delivery, Returned};

/// A channel. Cheap to clone; `Send + Sync`: any thread may use it (for
/// example to ack a delivery received on another thread).
#[derive(Clone)]
pub struct Channel {
    shared: Arc<Shared>,
    callbacks: Arc<Mutex<Callbacks>>,
    /// The opening of the channel this handle belongs to: once it closed,
    /// its number is reused, and this handle keeps failing with why it
    /// closed rather than act on the new channel.
    chan: ChannelRef,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id()).finish()
    }
}

/// Waits for the outcome of `pending`, reading the socket when no other
/// thread does.
pub(super) fn wait<'a, T>(
    shared: &'a Shared,
    mut inner: MutexGuard<'a, Inner>,
    pending: Pending<T>,
) -> Result<T, Error> {
    loop {
        if let Some(r) = inner.core.take(&pending) {
            return r;
        }
        inner = shared.wait_reading(inner, None);
    }
}

impl Channel {
    pub(super) fn new(
        shared: Arc<Shared>,
        callbacks: Arc<Mutex<Callbacks>>,
        chan: ChannelRef,
    ) -> Self {
        Channel {
            shared,
            callbacks,
            chan,
        }
    }

    /// The channel id.
    pub fn id(&self) -> u16 {
        self.chan.number()
    }

    /// Whether the channel is open.
    pub fn is_open(&self) -> bool {
        self.shared.lock().core.is_channel_open(self.chan)
    }

    /// Whether the channel is closed: by either side, or with its
    /// connection (closed or lost).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().core.channel_error(self.chan).is_some()
    }

    /// Why the channel (or its connection) closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.shared.lock().core.channel_error(self.chan)
    }

    /// Whether the broker lets this channel publish (channel.flow).
    pub fn is_flow_active(&self) -> bool {
        self.shared.lock().core.is_flow_active(self.chan)
    }

    /// Submits an operation to the core and waits for its outcome.
    fn request<T>(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Pending<T>, Error>,
    ) -> Result<T, Error> {
        let mut inner = self.shared.lock();
        let pending = op(&mut inner.core, self.chan)?;
        self.shared.pump(&mut inner);
        wait(&self.shared, inner, pending)
    }

    /// Sends an ack, nack or reject without waiting: written in batches
    /// while an application thread reads the socket (see `Shared::pump_ack`).
    fn acknowledge(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        op(&mut inner.core, self.chan)?;
        self.shared.pump_ack(&mut inner);
        Ok(())
    }

    crate::core::vocabulary::channel_operations!(blocking);

    /// basic.consume with a callback, run by
    /// [`start_consuming`](Self::start_consuming) or
    /// [`Connection::process_data_events`](super::Connection::process_data_events)
    /// on the thread calling them. Returns the consumer tag.
    pub fn basic_consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        callback: impl FnMut(&Channel, Delivery) + Send + 'static,
    ) -> Result<String, Error> {
        let mut inner = self.shared.lock();
        let (id, pending) =
            inner
                .core
                .basic_consume(self.chan, queue, options, ConsumerMode::Events)?;
        // Registered before the reply can bring deliveries.
        lock_callbacks(&self.callbacks)
            .consumers
            .insert(id, Arc::new(Mutex::new(Box::new(callback))));
        self.shared.pump(&mut inner);
        let r = wait(&self.shared, inner, pending);
        if r.is_err() {
            lock_callbacks(&self.callbacks).consumers.remove(&id);
        }
        r
    }

    /// Runs consumer callbacks until no callback consumer remains on this
    /// channel (see [`stop_consuming`](Self::stop_consuming)).
    pub fn start_consuming(&self) -> Result<(), Error> {
        run_dispatch(&self.shared, &self.callbacks, None, Some(self.chan))
    }

    /// Cancels every callback consumer of this channel, which ends
    /// [`start_consuming`](Self::start_consuming).
    pub fn stop_consuming(&self) -> Result<(), Error> {
        let consumers = self.shared.lock().core.event_consumers(self.chan);
        for (_, tag) in consumers {
            self.basic_cancel(&tag.to_string_lossy())?;
        }
        Ok(())
    }

    /// Consumes `queue` as an iterator: each item is `Ok(Some(delivery))`, or
    /// `Ok(None)` after `inactivity_timeout` without one (when given), or the
    /// error that ended the consumer (broker cancel, channel or connection
    /// closed). [`ConsumeIter::cancel`] ends it and requeues what was
    /// received but not yet yielded; dropping it does the same.
    pub fn consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        inactivity_timeout: Option<Duration>,
    ) -> Result<ConsumeIter, Error> {
        let mut inner = self.shared.lock();
        let (id, pending) = inner.core.basic_consume(
            self.chan,
            queue,
            options,
            ConsumerMode::Buffer { limit: None },
        )?;
        self.shared.pump(&mut inner);
        let tag = wait(&self.shared, inner, pending)?;
        Ok(ConsumeIter {
            channel: self.clone(),
            consumer: id,
            tag,
            inactivity_timeout,
            done: false,
        })
    }

    /// A publish that waits for its confirm in confirm mode.
    fn publish_and_wait(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        match self.publish(op)? {
            None => Ok(()),
            Some(seq) => self.confirmation(seq).wait(None),
        }
    }

    /// A publish whose confirm is waited for with the [`Confirmation`].
    fn publish_tracked(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Confirmation, Error> {
        match self.publish(op)? {
            Some(seq) => Ok(self.confirmation(seq)),
            None => Err(Error::Misuse("a publish without confirm mode".into())),
        }
    }

    /// A publish whose confirm nobody waits for.
    fn publish_untracked(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        self.publish(op).map(|_| ())
    }

    /// Hands a publish to the core; waits (without the lock) while too much
    /// output is queued.
    fn publish(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Option<u64>, Error> {
        let mut inner = self.shared.lock();
        let seq = op(&mut inner.core, self.chan)?;
        self.shared.pump_publish(&mut inner);
        drop(inner);
        self.shared.wait_for_room();
        Ok(seq)
    }

    fn confirmation(&self, seq: u64) -> Confirmation {
        Confirmation {
            channel: self.clone(),
            seq,
            waited: false,
        }
    }

    /// Called for each message the broker returns on this channel, from
    /// `process_data_events` or `start_consuming`.
    pub fn on_return(&self, callback: impl Fn(&Channel, Returned) + Send + Sync + 'static) {
        lock_callbacks(&self.callbacks)
            .returns
            .insert(self.chan, Arc::new(callback));
    }

    /// Closes the channel; a closed channel's close does nothing.
    pub fn close(&self) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        inner.core.close_channel(self.chan)?;
        self.shared.pump(&mut inner);
        while inner.core.channel_error(self.chan).is_none() {
            inner = self.shared.wait(inner, None);
        }
        Ok(())
    }
}

/// The broker's answer to one publish in confirm mode. Dropping it without
/// waiting discards the answer.
#[derive(Debug)]
pub struct Confirmation {
    channel: Channel,
    seq: u64,
    waited: bool,
}

impl Drop for Confirmation {
    fn drop(&mut self) {
        if !self.waited {
            let chan = self.channel.chan;
            self.channel
                .shared
                .lock()
                .core
                .abandon_confirm(chan, self.seq);
        }
    }
}

impl Confirmation {
    /// The publish sequence number.
    pub fn sequence_number(&self) -> u64 {
        self.seq
    }

    /// Waits for the ack (`Ok`), a nack ([`Error::Nacked`]), a return
    /// ([`Error::Unroutable`]) or the end of the channel or connection. With
    /// `Some(timeout)`, gives up after it with [`Error::Timeout`].
    pub fn wait(mut self, timeout: Option<Duration>) -> Result<(), Error> {
        let result = self.wait_inner(timeout);
        // A timed-out wait leaves the answer to be discarded on drop.
        self.waited = !matches!(result, Err(Error::Timeout { .. }));
        result
    }

    fn wait_inner(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let shared = &self.channel.shared;
        let mut inner = shared.lock();
        loop {
            if let Some(r) = inner.core.take_confirm(self.channel.chan, self.seq) {
                return r;
            }
            if let Some(e) = inner.core.close_reason() {
                return Err(e.clone());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout {
                    what: format!("the confirm of publish {}", self.seq),
                });
            }
            inner = shared.wait_reading(inner, deadline);
        }
    }

    /// Waits for every confirmation; the results in the same order.
    pub fn wait_all(
        confirmations: impl IntoIterator<Item = Confirmation>,
    ) -> Vec<Result<(), Error>> {
        confirmations.into_iter().map(|c| c.wait(None)).collect()
    }
}

/// The iterator of [`Channel::consume`]. Dropping it before it ended
/// cancels the consumer and requeues what it received but did not yield.
#[derive(Debug)]
pub struct ConsumeIter {
    channel: Channel,
    consumer: ConsumerId,
    tag: String,
    inactivity_timeout: Option<Duration>,
    done: bool,
}

impl ConsumeIter {
    /// The consumer tag.
    pub fn consumer_tag(&self) -> &str {
        &self.tag
    }

    /// The channel (to ack on).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Cancels the consumer and requeues (nack with requeue) every message
    /// received but not yet yielded, deliveries that arrive until the
    /// broker's cancel-ok included; returns how many (0 for a no-ack
    /// consumer, whose messages cannot go back).
    pub fn cancel(mut self) -> Result<usize, Error> {
        self.done = true;
        let shared = &self.channel.shared;
        let mut inner = shared.lock();
        let pending = inner.core.cancel_consumer(self.consumer)?;
        shared.pump(&mut inner);
        wait(shared, inner, pending)
    }
}

impl Drop for ConsumeIter {
    fn drop(&mut self) {
        if !self.done {
            let shared = &self.channel.shared;
            let mut inner = shared.lock();
            inner.core.drop_consumer(self.consumer);
            shared.pump(&mut inner);
        }
    }
}

impl Iterator for ConsumeIter {
    type Item = Result<Option<Delivery>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let deadline = self.inactivity_timeout.map(|t| Instant::now() + t);
        let shared = self.channel.shared.clone();
        let mut inner = shared.lock();
        loop {
            match inner.core.next_delivery(self.consumer) {
                NextDelivery::Delivery(d) => return Some(Ok(Some(d))),
                NextDelivery::End(e) => {
                    self.done = true;
                    return e.map(Err);
                }
                NextDelivery::Empty => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(Ok(None));
            }
            inner = shared.wait_reading(inner, deadline);
        }
    }
}

type ConsumerFn = Arc<Mutex<Box<dyn FnMut(&Channel, Delivery) + Send>>>;
type ReturnFn = Arc<dyn Fn(&Channel, Returned) + Send + Sync>;
type BlockedFn = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// The application's callbacks, by the core's ids, kept apart from the core
/// so that they run without its lock.
#[derive(Default)]
pub(super) struct Callbacks {
    pub(super) consumers: HashMap<ConsumerId, ConsumerFn>,
    pub(super) returns: HashMap<ChannelRef, ReturnFn>,
    pub(super) blocked: Option<BlockedFn>,
}

pub(super) fn lock_callbacks(c: &Mutex<Callbacks>) -> std::sync::MutexGuard<'_, Callbacks> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

enum Work {
    Run(Task),
    Deliver(ChannelRef, ConsumerId, Delivery),
    Return(ChannelRef, Returned),
    Blocked(Option<String>),
}

/// The dispatcher behind `process_data_events` and `start_consuming`: takes
/// one item at a time under the lock and runs it without.
/// `until_idle_channel`: stop when that channel has no callback consumer.
pub(super) fn run_dispatch(
    shared: &Arc<Shared>,
    callbacks: &Arc<Mutex<Callbacks>>,
    deadline: Option<Instant>,
    until_idle_channel: Option<ChannelRef>,
) -> Result<(), Error> {
    let mut ran = false;
    loop {
        let work = {
            let mut inner = shared.lock();
            loop {
                let now = Instant::now();
                if let Some(cb) = inner.timers.pop_due(now) {
                    break Work::Run(cb);
                }
                if let Some(cb) = inner.threadsafe_callbacks.pop_front() {
                    break Work::Run(cb);
                }
                if let Some(event) = inner.dispatch.pop_front() {
                    match event {
                        Event::Delivery {
                            channel,
                            consumer,
                            delivery,
                        } => break Work::Deliver(channel, consumer, delivery),
                        Event::Returned { channel, returned } => {
                            break Work::Return(channel, returned)
                        }
                        Event::Blocked { reason } => break Work::Blocked(Some(reason)),
                        Event::Unblocked => break Work::Blocked(None),
                        Event::ConsumerCancelled {
                            consumer,
                            consumer_tag,
                            ..
                        } => {
                            // Only a callback consumer's end concerns the
                            // dispatcher (an iterator reports its own).
                            if lock_callbacks(callbacks)
                                .consumers
                                .remove(&consumer)
                                .is_some()
                            {
                                return Err(Error::ConsumerCancelled { consumer_tag });
                            }
                            continue;
                        }
                        Event::ConsumerEnded { consumer, .. } => {
                            lock_callbacks(callbacks).consumers.remove(&consumer);
                            continue;
                        }
                        _ => continue,
                    }
                }
                if let Some(e) = inner.core.close_reason() {
                    return Err(e.clone());
                }
                if let Some(ch) = until_idle_channel {
                    if inner.core.channel_error(ch).is_some()
                        || inner.core.event_consumers(ch).is_empty()
                    {
                        return Ok(());
                    }
                }
                let limit = match deadline {
                    Some(d) if now >= d => return Ok(()),
                    None if ran && until_idle_channel.is_none() => return Ok(()),
                    other => other,
                };
                let next_timer = inner.timers.next_deadline();
                let until = match (limit, next_timer) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // Reads the socket itself when no other thread does (a
                // batch of deliveries then needs no thread hand-off); other
                // threads' callbacks and timers interrupt the read.
                inner = shared.wait_dispatching(inner, until);
            }
        };
        ran = true;
        match work {
            Work::Run(cb) => cb(),
            Work::Deliver(chan, consumer, delivery) => {
                let cb = lock_callbacks(callbacks).consumers.get(&consumer).cloned();
                if let Some(cb) = cb {
                    let channel = Channel::new(shared.clone(), callbacks.clone(), chan);
                    let mut f = cb.lock().unwrap_or_else(|p| p.into_inner());
                    f(&channel, delivery);
                }
                // Without a callback (cancelled meanwhile) an unacked message
                // goes back to the queue when the channel closes.
            }
            Work::Return(chan, r) => {
                let cb = lock_callbacks(callbacks).returns.get(&chan).cloned();
                if let Some(cb) = cb {
                    let channel = Channel::new(shared.clone(), callbacks.clone(), chan);
                    cb(&channel, r);
                }
            }
            Work::Blocked(reason) => {
                let cb = lock_callbacks(callbacks).blocked.clone();
                if let Some(cb) = cb {
                    cb(reason.as_deref());
                }
            }
        }
    }
}
