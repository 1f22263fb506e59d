//! [`Channel`]: every channel operation as a blocking call, publisher
//! confirms ([`Confirmation`]), consumers as iterators ([`ConsumeIter`]) or
//! callbacks (run by the dispatcher in `dispatch.rs`). Each operation is
//! the core's, of the same name; this file only waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::shared::{Inner, Shared};
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
    pub(super) shared: Arc<Shared>,
    pub(super) callbacks: Arc<Mutex<Callbacks>>,
    /// The opening of the channel this handle belongs to: once it closed,
    /// its number is reused, and this handle keeps failing with why it
    /// closed rather than act on the new channel.
    pub(super) chan: ChannelRef,
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

    /// The tags of this channel's consumers, callbacks and iterators alike
    /// (Pika's `consumer_tags`).
    pub fn consumer_tags(&self) -> Vec<String> {
        self.shared.lock().core.consumer_tags(self.chan)
    }

    /// Called with this channel and the consumer tag when the broker
    /// cancels one of its consumers (its queue was deleted, ...), from
    /// `process_data_events` or `start_consuming`. While it is set, such a
    /// cancel no longer ends `start_consuming` with
    /// [`Error::ConsumerCancelled`]. An iterator ([`ConsumeIter`]) still
    /// ends with that error.
    pub fn on_cancel(&self, callback: impl Fn(&Channel, &str) + Send + Sync + 'static) {
        lock_callbacks(&self.callbacks)
            .cancels
            .insert(self.chan, Arc::new(callback));
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
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        match self.publish(op)? {
            None => Ok(()),
            Some(seq) => self.confirmation(seq).wait(None),
        }
    }

    /// A publish whose confirm is waited for with the [`Confirmation`].
    fn publish_tracked(
        &self,
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Confirmation, Error> {
        match self.publish(op)? {
            Some(seq) => Ok(self.confirmation(seq)),
            None => Err(Error::Misuse("a publish without confirm mode".into())),
        }
    }

    /// A publish whose confirm nobody waits for.
    fn publish_untracked(
        &self,
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        self.publish(op).map(|_| ())
    }

    /// Hands a publish to the core; waits (without the lock) while too much
    /// output is queued.
    fn publish(
        &self,
        mut op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Option<u64>, Error> {
        let mut inner = self.shared.lock();
        let mut until = None;
        let seq = loop {
            match op(&mut inner.core, self.chan) {
                // The connection is being recovered and the publishes held
                // meanwhile fill their buffer: wait for room, within the
                // policy's bound.
                Err(Error::Recovering) => {
                    let Some(deadline) = inner.core.publish_wait(&mut until, Instant::now()) else {
                        return Err(Error::Recovering);
                    };
                    inner = self.shared.wait(inner, Some(deadline));
                }
                other => break other?,
            }
        };
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
            inner = shared.wait_reading_for_confirm(inner, deadline);
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

    /// How many deliveries were received and not yet yielded (Pika's
    /// `get_waiting_message_count`).
    pub fn buffered_len(&self) -> usize {
        self.channel.shared.lock().core.buffered_len(self.consumer)
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
                NextDelivery::Delivery(d) => {
                    shared.taken(&mut inner);
                    return Some(Ok(Some(d)));
                }
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

pub(super) type ConsumerFn = Arc<Mutex<Box<dyn FnMut(&Channel, Delivery) + Send>>>;
pub(super) type ReturnFn = Arc<dyn Fn(&Channel, Returned) + Send + Sync>;
pub(super) type CancelFn = Arc<dyn Fn(&Channel, &str) + Send + Sync>;
pub(super) type BlockedFn = Arc<dyn Fn(Option<&str>) + Send + Sync>;
pub(super) type RecoveryFn = Arc<dyn Fn(&crate::core::client::RecoveryEvent) + Send + Sync>;

/// The application's callbacks, by the core's ids, kept apart from the core
/// so that they run without its lock.
#[derive(Default)]
pub(super) struct Callbacks {
    pub(super) consumers: HashMap<ConsumerId, ConsumerFn>,
    pub(super) returns: HashMap<ChannelRef, ReturnFn>,
    pub(super) cancels: HashMap<ChannelRef, CancelFn>,
    pub(super) blocked: Option<BlockedFn>,
    pub(super) recovery: Option<RecoveryFn>,
    /// Broker cancels of callback consumers (channel, tag) that a
    /// dispatcher for another channel took: they end the next
    /// `start_consuming` of their own channel, or `process_data_events`.
    pub(super) undelivered_cancels: Vec<(ChannelRef, String)>,
}

pub(super) fn lock_callbacks(c: &Mutex<Callbacks>) -> std::sync::MutexGuard<'_, Callbacks> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}
