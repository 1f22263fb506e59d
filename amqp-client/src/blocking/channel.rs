//! [`Channel`]: every method a client sends, publisher confirms, consumers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel as chan, confirm, exchange, queue, tx, BasicProperties, FieldTable, Method,
    ReplyCode, ShortStr,
};

use super::shared::{Inner, Shared, Sink};
use super::{lock_callbacks, run_dispatch, Callbacks, Delivery, Returned};
use crate::core::{Content, RequestId};
use crate::error::Error;
pub(super) use crate::types::short;
use crate::types::unexpected;
pub use crate::types::{
    ConsumeOptions, ExchangeDeclareOptions, GetMessage, QueueDeclareOk, QueueDeclareOptions,
};

static CONSUMER_SEQ: AtomicU64 = AtomicU64::new(1);

/// A channel. Cheap to clone; `Send + Sync`: any thread may use it (for
/// example to ack a delivery received on another thread).
#[derive(Clone)]
pub struct Channel {
    shared: Arc<Shared>,
    callbacks: Arc<Mutex<Callbacks>>,
    id: u16,
    /// Which opening of channel `id` this handle belongs to: a closed
    /// channel's id is reused, and its old handles must not act on the new
    /// channel.
    generation: u64,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id).finish()
    }
}

impl Channel {
    pub(super) fn new(
        shared: Arc<Shared>,
        callbacks: Arc<Mutex<Callbacks>>,
        id: u16,
        generation: u64,
    ) -> Self {
        Channel {
            shared,
            callbacks,
            id,
            generation,
        }
    }

    /// The error of this handle's channel when the id now belongs to a
    /// later opening (or to none).
    pub(super) fn stale(&self, inner: &Inner) -> Option<Error> {
        if self.id == 0 {
            return None;
        }
        match inner.channels.get(&self.id) {
            Some(c) if c.generation == self.generation => None,
            _ => Some(inner.retired_error(self.id, self.generation)),
        }
    }

    /// The channel id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Whether the channel is open.
    pub fn is_open(&self) -> bool {
        let inner = self.shared.lock();
        inner.closed.is_none()
            && inner
                .channels
                .get(&self.id)
                .is_some_and(|c| c.closed.is_none() && c.generation == self.generation)
    }

    fn check(&self, inner: &Inner) -> Result<(), Error> {
        if let Some(e) = &inner.closed {
            return Err(e.clone());
        }
        if let Some(e) = self.stale(inner) {
            return Err(e);
        }
        match inner.channels.get(&self.id).and_then(|c| c.closed.as_ref()) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(super) fn wait_reply<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner>,
        request: RequestId,
    ) -> Result<(Method, Option<Content>), Error> {
        loop {
            if let Some(r) = inner.replies.remove(&request) {
                return r;
            }
            if let Some(e) = inner.closed.clone() {
                inner.awaited.remove(&request);
                return Err(e);
            }
            inner = self.shared.wait_reading(inner, None);
        }
    }

    /// Sends a method and waits for its reply (or for it to be written, when
    /// it has none).
    pub(super) fn call(&self, method: Method) -> Result<(Method, Option<Content>), Error> {
        let mut inner = self.shared.lock();
        if self.id != 0 {
            self.check(&inner)?;
        }
        let request = inner.core.call(self.id, method)?;
        inner.awaited.insert(request);
        self.shared.pump(&mut inner);
        self.wait_reply(inner, request)
    }

    /// Sends an ack, nack or reject without waiting: written in batches while an
    /// application thread reads the socket (see `Shared::pump_ack`).
    fn send_ack(&self, method: Method) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        self.check(&inner)?;
        inner.core.call(self.id, method)?;
        self.shared.pump_ack(&mut inner);
        Ok(())
    }

    // ------------------------------------------------------------ exchanges

    /// exchange.declare.
    pub fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
    ) -> Result<(), Error> {
        self.call(options.method(exchange, kind)?).map(|_| ())
    }

    /// exchange.delete.
    pub fn exchange_delete(&self, exchange: &str, if_unused: bool) -> Result<(), Error> {
        self.call(
            exchange::Delete {
                exchange: short(exchange)?,
                if_unused,
                ..Default::default()
            }
            .into(),
        )
        .map(|_| ())
    }

    /// exchange.bind: route from `source` to `destination`.
    pub fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.call(
            exchange::Bind {
                destination: short(destination)?,
                source: short(source)?,
                routing_key: short(routing_key)?,
                arguments,
                ..Default::default()
            }
            .into(),
        )
        .map(|_| ())
    }

    /// exchange.unbind.
    pub fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.call(
            exchange::Unbind {
                destination: short(destination)?,
                source: short(source)?,
                routing_key: short(routing_key)?,
                arguments,
                ..Default::default()
            }
            .into(),
        )
        .map(|_| ())
    }

    // --------------------------------------------------------------- queues

    /// queue.declare.
    pub fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
    ) -> Result<QueueDeclareOk, Error> {
        let (reply, _) = self.call(options.method(queue)?)?;
        QueueDeclareOk::from_reply(self.id, reply)
    }

    /// queue.bind.
    pub fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.call(
            queue::Bind {
                queue: short(queue)?,
                exchange: short(exchange)?,
                routing_key: short(routing_key)?,
                arguments,
                ..Default::default()
            }
            .into(),
        )
        .map(|_| ())
    }

    /// queue.unbind.
    pub fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.call(
            queue::Unbind {
                queue: short(queue)?,
                exchange: short(exchange)?,
                routing_key: short(routing_key)?,
                arguments,
                ..Default::default()
            }
            .into(),
        )
        .map(|_| ())
    }

    /// queue.purge; returns the number of messages purged.
    pub fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        match self
            .call(
                queue::Purge {
                    queue: short(queue)?,
                    ..Default::default()
                }
                .into(),
            )?
            .0
        {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            other => Err(unexpected(self.id, &other)),
        }
    }

    /// queue.delete; returns the number of messages deleted with it.
    pub fn queue_delete(&self, queue: &str, if_unused: bool, if_empty: bool) -> Result<u32, Error> {
        match self
            .call(
                queue::Delete {
                    queue: short(queue)?,
                    if_unused,
                    if_empty,
                    ..Default::default()
                }
                .into(),
            )?
            .0
        {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            other => Err(unexpected(self.id, &other)),
        }
    }

    // ---------------------------------------------------------------- basic

    /// basic.qos.
    pub fn basic_qos(
        &self,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    ) -> Result<(), Error> {
        self.call(
            basic::Qos {
                prefetch_size,
                prefetch_count,
                global,
            }
            .into(),
        )
        .map(|_| ())
    }

    fn consume_method(
        &self,
        queue: &str,
        options: &ConsumeOptions,
    ) -> Result<(String, Method), Error> {
        let tag = if options.consumer_tag.is_empty() {
            format!(
                "amqp-client.{}.{}",
                std::process::id(),
                CONSUMER_SEQ.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            options.consumer_tag.clone()
        };
        let m = basic::Consume {
            queue: short(queue)?,
            consumer_tag: short(&tag)?,
            no_local: options.no_local,
            no_ack: options.no_ack,
            exclusive: options.exclusive,
            arguments: options.arguments.clone(),
            ..Default::default()
        };
        Ok((tag, m.into()))
    }

    fn start_consumer(&self, tag: &str, method: Method, sink: Sink) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            self.check(&inner)?;
            let c = inner.channels.entry(self.id).or_default();
            if c.consumers.contains_key(tag.as_bytes()) {
                return Err(Error::DuplicateConsumerTag {
                    consumer_tag: tag.to_owned(),
                });
            }
            c.cancelled.remove(tag);
            c.consumers.insert(short(tag)?, sink);
        }
        let result = self.call(method);
        if result.is_err() {
            if let Some(c) = self.shared.lock().channels.get_mut(&self.id) {
                c.consumers.remove(tag.as_bytes());
            }
        }
        result.map(|_| ())
    }

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
        let (tag, method) = self.consume_method(queue, &options)?;
        let key = (self.id, short(&tag)?);
        lock_callbacks(&self.callbacks)
            .consumers
            .insert(key.clone(), Arc::new(Mutex::new(Box::new(callback))));
        let r = self.start_consumer(&tag, method, Sink::Callback);
        if r.is_err() {
            lock_callbacks(&self.callbacks).consumers.remove(&key);
        }
        r.map(|_| tag)
    }

    /// basic.cancel.
    pub fn basic_cancel(&self, consumer_tag: &str) -> Result<(), Error> {
        self.call(
            basic::Cancel {
                consumer_tag: short(consumer_tag)?,
                no_wait: false,
            }
            .into(),
        )?;
        if let Some(c) = self.shared.lock().channels.get_mut(&self.id) {
            c.consumers.remove(consumer_tag.as_bytes());
        }
        lock_callbacks(&self.callbacks)
            .consumers
            .remove(&(self.id, short(consumer_tag)?));
        Ok(())
    }

    /// Runs consumer callbacks until no callback consumer remains on this
    /// channel (see [`stop_consuming`](Self::stop_consuming)).
    pub fn start_consuming(&self) -> Result<(), Error> {
        run_dispatch(&self.shared, &self.callbacks, None, Some(self.id))
    }

    /// Cancels every callback consumer of this channel, which ends
    /// [`start_consuming`](Self::start_consuming).
    pub fn stop_consuming(&self) -> Result<(), Error> {
        let tags: Vec<String> = {
            let inner = self.shared.lock();
            inner
                .channels
                .get(&self.id)
                .map(|c| {
                    c.consumers
                        .iter()
                        .filter(|(_, s)| matches!(s, Sink::Callback))
                        .map(|(t, _)| t.to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        for t in tags {
            self.basic_cancel(&t)?;
        }
        Ok(())
    }

    /// Consumes `queue` as an iterator: each item is `Ok(Some(delivery))`, or
    /// `Ok(None)` after `inactivity_timeout` without one (when given), or the
    /// error that ended the consumer (broker cancel, channel or connection
    /// closed). [`ConsumeIter::cancel`] ends it and requeues what was
    /// received but not yet yielded.
    pub fn consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        inactivity_timeout: Option<Duration>,
    ) -> Result<ConsumeIter, Error> {
        let no_ack = options.no_ack;
        let (tag, method) = self.consume_method(queue, &options)?;
        self.start_consumer(&tag, method, Sink::Queue(VecDeque::new()))?;
        Ok(ConsumeIter {
            channel: self.clone(),
            tag,
            inactivity_timeout,
            no_ack,
            done: false,
        })
    }

    /// basic.publish. With confirms on ([`confirm_delivery`](Self::confirm_delivery)),
    /// waits for the broker's ack and fails with [`Error::Nacked`], or with
    /// [`Error::Unroutable`] when a mandatory message was returned.
    pub fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<(), Error> {
        match self.publish_inner(exchange, routing_key, body, properties, mandatory)? {
            None => Ok(()),
            Some(seq) => Confirmation {
                channel: self.clone(),
                seq,
                waited: false,
            }
            .wait(None),
        }
    }

    /// basic.publish without waiting, for confirm mode: returns a handle to
    /// wait on the broker's answer (see [`Confirmation::wait_all`]).
    pub fn publish_with_confirm(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<Confirmation, Error> {
        match self.publish_inner(exchange, routing_key, body, properties, mandatory)? {
            Some(seq) => Ok(Confirmation {
                channel: self.clone(),
                seq,
                waited: false,
            }),
            None => Err(Error::Misuse(
                "publish_with_confirm needs confirm_delivery() first".into(),
            )),
        }
    }

    /// basic.publish with every argument of the method under the caller's
    /// control (`immediate`, which RabbitMQ refuses with 540, included);
    /// does not wait for a confirm.
    pub fn publish_method(
        &self,
        method: basic::Publish,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        self.check(&inner)?;
        let (_, seq) = inner.core.publish(self.id, method, properties, body)?;
        if let Some(seq) = seq {
            inner
                .channels
                .entry(self.id)
                .or_default()
                .confirms
                .pending
                .insert(seq);
        }
        self.shared.pump_publish(&mut inner);
        drop(inner);
        self.shared.wait_for_room();
        Ok(())
    }

    fn publish_inner(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<Option<u64>, Error> {
        let method = basic::Publish {
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            mandatory,
            ..Default::default()
        };
        let mut inner = self.shared.lock();
        self.check(&inner)?;
        let (_, seq) = inner.core.publish(self.id, method, properties, body)?;
        if let Some(seq) = seq {
            inner
                .channels
                .entry(self.id)
                .or_default()
                .confirms
                .pending
                .insert(seq);
        }
        self.shared.pump_publish(&mut inner);
        drop(inner);
        self.shared.wait_for_room();
        Ok(seq)
    }

    /// basic.get; `None` when the queue is empty.
    pub fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetMessage>, Error> {
        match self.call(
            basic::Get {
                queue: short(queue)?,
                no_ack,
                ..Default::default()
            }
            .into(),
        )? {
            (Method::BasicGetOk(ok), Some(content)) => Ok(Some(GetMessage {
                message_count: ok.message_count,
                delivery: Delivery {
                    channel: self.id,
                    consumer_tag: ShortStr::new(),
                    delivery_tag: ok.delivery_tag,
                    redelivered: ok.redelivered,
                    exchange: ok.exchange,
                    routing_key: ok.routing_key,
                    properties: content.properties,
                    body: content.body,
                },
            })),
            (Method::BasicGetEmpty(_), _) => Ok(None),
            (other, _) => Err(unexpected(self.id, &other)),
        }
    }

    /// basic.ack.
    pub fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<(), Error> {
        self.send_ack(
            basic::Ack {
                delivery_tag,
                multiple,
            }
            .into(),
        )
    }

    /// basic.nack.
    pub fn basic_nack(
        &self,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), Error> {
        self.send_ack(
            basic::Nack {
                delivery_tag,
                multiple,
                requeue,
            }
            .into(),
        )
    }

    /// basic.reject.
    pub fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<(), Error> {
        self.send_ack(
            basic::Reject {
                delivery_tag,
                requeue,
            }
            .into(),
        )
    }

    /// basic.recover (synchronous; RabbitMQ supports `requeue = true` only).
    pub fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.call(basic::Recover { requeue }.into()).map(|_| ())
    }

    /// Called for each message the broker returns on this channel, from
    /// `process_data_events` or `start_consuming`.
    pub fn on_return(&self, callback: impl Fn(&Channel, &Returned) + Send + Sync + 'static) {
        lock_callbacks(&self.callbacks)
            .returns
            .insert(self.id, Arc::new(callback));
    }

    /// confirm.select: from now on the broker acks or nacks every publish.
    pub fn confirm_delivery(&self) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            inner.channels.entry(self.id).or_default().confirms.enabled = true;
        }
        self.call(confirm::Select { no_wait: false }.into())
            .map(|_| ())
    }

    /// tx.select.
    pub fn tx_select(&self) -> Result<(), Error> {
        self.call(tx::Select {}.into()).map(|_| ())
    }

    /// tx.commit.
    pub fn tx_commit(&self) -> Result<(), Error> {
        self.call(tx::Commit {}.into()).map(|_| ())
    }

    /// tx.rollback.
    pub fn tx_rollback(&self) -> Result<(), Error> {
        self.call(tx::Rollback {}.into()).map(|_| ())
    }

    /// channel.flow: asks the broker to stop (false) or resume (true)
    /// deliveries. RabbitMQ refuses `false` with 540 not-implemented.
    pub fn flow(&self, active: bool) -> Result<bool, Error> {
        match self.call(chan::Flow { active }.into())?.0 {
            Method::ChannelFlowOk(ok) => Ok(ok.active),
            other => Err(unexpected(self.id, &other)),
        }
    }

    /// Closes the channel; a closed channel's close does nothing.
    pub fn close(&self) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        if inner.closed.is_some()
            || inner
                .channels
                .get(&self.id)
                .is_some_and(|c| c.closed.is_some())
        {
            return Ok(());
        }
        inner
            .core
            .close_channel(self.id, ReplyCode::REPLY_SUCCESS, "Normal shutdown")?;
        self.shared.pump(&mut inner);
        loop {
            if inner.closed.is_some() {
                return Ok(());
            }
            if let Some(c) = inner.channels.get(&self.id) {
                if c.closed.is_some() {
                    return Ok(());
                }
            }
            inner = self.shared.wait(inner, None);
        }
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
        if self.waited {
            return;
        }
        let mut inner = self.channel.shared.lock();
        if let Some(c) = inner.channels.get_mut(&self.channel.id) {
            if c.confirms.done.remove(&self.seq).is_none() && c.confirms.pending.contains(self.seq)
            {
                c.confirms.abandoned.insert(self.seq);
            }
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
            if let Some(e) = self.channel.stale(&inner) {
                return Err(e);
            }
            let c = inner.channels.entry(self.channel.id).or_default();
            if let Some(r) = c.confirms.done.remove(&self.seq) {
                return r;
            }
            if !c.confirms.pending.contains(self.seq) {
                if let Some(e) = c.closed.clone().or_else(|| inner.closed.clone()) {
                    return Err(e);
                }
            }
            if let Some(e) = &inner.closed {
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

/// The iterator of [`Channel::consume`].
#[derive(Debug)]
pub struct ConsumeIter {
    channel: Channel,
    tag: String,
    inactivity_timeout: Option<Duration>,
    no_ack: bool,
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
    /// received but not yet yielded; returns how many.
    pub fn cancel(mut self) -> Result<usize, Error> {
        self.done = true;
        // Deliveries that arrive until cancel-ok still land in the queue.
        self.channel.call(
            basic::Cancel {
                consumer_tag: short(&self.tag)?,
                no_wait: false,
            }
            .into(),
        )?;
        let pending: Vec<Delivery> = {
            let mut inner = self.channel.shared.lock();
            let c = inner.channels.get_mut(&self.channel.id);
            match c.and_then(|c| c.consumers.remove(self.tag.as_bytes())) {
                Some(Sink::Queue(q)) => q.into_iter().collect(),
                _ => Vec::new(),
            }
        };
        if self.no_ack {
            return Ok(0);
        }
        for d in &pending {
            self.channel.basic_nack(d.delivery_tag, false, true)?;
        }
        Ok(pending.len())
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
            if let Some(e) = self.channel.stale(&inner) {
                self.done = true;
                return Some(Err(e));
            }
            let c = inner.channels.entry(self.channel.id).or_default();
            if let Some(Sink::Queue(q)) = c.consumers.get_mut(self.tag.as_bytes()) {
                if let Some(d) = q.pop_front() {
                    return Some(Ok(Some(d)));
                }
            }
            if let Some(e) = c.cancelled.remove(&self.tag) {
                self.done = true;
                return Some(Err(e));
            }
            if let Some(e) = c.closed.clone().or_else(|| inner.closed.clone()) {
                self.done = true;
                return Some(Err(e));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(Ok(None));
            }
            inner = shared.wait_reading(inner, deadline);
        }
    }
}
