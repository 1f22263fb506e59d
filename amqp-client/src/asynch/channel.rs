//! [`Channel`]: every method a client sends, as futures.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use amqp_protocol::{
    basic, channel as chan, confirm, exchange, queue, tx, BasicProperties, FieldTable, Method,
    ReplyCode, ShortStr,
};

use super::consumer::{Confirmation, Consumer};
use super::shared::{Action, ConsumerState, Reply, Shared, Slot, HIGH_WATER, LAZY_BYTES};
use crate::core::RequestId;
use crate::error::Error;
pub(crate) use crate::types::short;
use crate::types::unexpected;
use crate::types::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, GetMessage, QueueDeclareOk,
    QueueDeclareOptions, Returned,
};

static CONSUMER_SEQ: AtomicU64 = AtomicU64::new(1);

/// Awaits the reply to one request. Dropped early, it leaves the request to
/// complete in the background: the reply is consumed and discarded (or
/// undone: a channel opened for nobody is closed, a consumer nobody reads
/// is cancelled), so the channel's next call gets its own reply.
pub(crate) struct ReplyFuture {
    shared: Arc<Shared>,
    request: RequestId,
    done: bool,
}

impl ReplyFuture {
    pub(crate) fn new(shared: Arc<Shared>, request: RequestId) -> Self {
        ReplyFuture {
            shared,
            request,
            done: false,
        }
    }
}

impl Future for ReplyFuture {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let r = self.shared.lock().poll_slot(self.request, cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for ReplyFuture {
    fn drop(&mut self) {
        if !self.done {
            self.shared.lock().abandon(self.request);
        }
    }
}

/// A channel. Cheap to clone (every clone is the same channel); `Send +
/// Sync`: any task or thread may use it, for example to ack what another
/// task received.
///
/// Every operation is cancellation-safe: a synchronous method whose future
/// is dropped before its reply still completes on the wire, its reply is
/// discarded, and later calls are unaffected. A publish future dropped
/// before it completes has not published.
#[derive(Clone)]
pub struct Channel {
    shared: Arc<Shared>,
    id: u16,
    /// Which opening of channel `id` this handle belongs to: once the
    /// channel closed, its id is reused, and this handle must keep failing
    /// with why it closed rather than act on the new channel.
    generation: u64,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id).finish()
    }
}

impl Channel {
    pub(crate) fn new(shared: Arc<Shared>, id: u16, generation: u64) -> Self {
        Channel {
            shared,
            id,
            generation,
        }
    }

    /// Which opening of the channel id this handle belongs to.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The channel id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Whether the channel is open.
    pub fn is_open(&self) -> bool {
        self.shared.lock().check(self.id, self.generation).is_ok()
    }

    /// Why the channel (or its connection) closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.shared.lock().check(self.id, self.generation).err()
    }

    /// Whether the broker lets this channel publish (channel.flow).
    pub fn is_flow_active(&self) -> bool {
        self.shared
            .lock()
            .channel(self.id, self.generation)
            .is_some_and(|c| c.flow_active)
    }

    /// Sends a method and waits for its reply (or for it to be written, when
    /// it has none).
    pub(crate) async fn call(&self, method: Method) -> Reply {
        let request = {
            let mut inner = self.shared.lock();
            inner.check(self.id, self.generation)?;
            let r = inner.core.call(self.id, method)?;
            inner.slots.insert(r, Slot::new(None));
            inner.write_or_wake();
            r
        };
        ReplyFuture::new(self.shared.clone(), request).await
    }

    /// Sends an acknowledgement (ack, nack, reject). While one of this
    /// channel's consumers still has deliveries buffered, the application
    /// is busy with them and will ask for the next soon: the driver is not
    /// woken for each acknowledgement, but once that consumer's buffer runs
    /// dry (see `Consumer::poll_next`), or within [`LAZY_FLUSH`] at the
    /// latest, so that acknowledgements leave in batches.
    ///
    /// [`LAZY_FLUSH`]: super::shared::LAZY_FLUSH
    fn send_ack(&self, method: Method) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        inner.check(self.id, self.generation)?;
        inner.core.call(self.id, method)?;
        if inner.has_buffered(self.id) {
            inner.lazy_output = true;
        } else {
            inner.write_or_wake();
        }
        Ok(())
    }

    // ------------------------------------------------------------ exchanges

    /// exchange.declare.
    pub async fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
    ) -> Result<(), Error> {
        self.call(options.method(exchange, kind)?).await.map(|_| ())
    }

    /// exchange.delete.
    pub async fn exchange_delete(&self, exchange: &str, if_unused: bool) -> Result<(), Error> {
        let m = exchange::Delete {
            exchange: short(exchange)?,
            if_unused,
            ..Default::default()
        };
        self.call(m.into()).await.map(|_| ())
    }

    /// exchange.bind: route from `source` to `destination`.
    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = exchange::Bind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(m.into()).await.map(|_| ())
    }

    /// exchange.unbind.
    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = exchange::Unbind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(m.into()).await.map(|_| ())
    }

    // --------------------------------------------------------------- queues

    /// queue.declare.
    pub async fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
    ) -> Result<QueueDeclareOk, Error> {
        let (reply, _) = self.call(options.method(queue)?).await?;
        QueueDeclareOk::from_reply(self.id, reply)
    }

    /// queue.bind.
    pub async fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = queue::Bind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(m.into()).await.map(|_| ())
    }

    /// queue.unbind.
    pub async fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = queue::Unbind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(m.into()).await.map(|_| ())
    }

    /// queue.purge; returns the number of messages purged.
    pub async fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        let m = queue::Purge {
            queue: short(queue)?,
            ..Default::default()
        };
        match self.call(m.into()).await?.0 {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            other => Err(unexpected(self.id, &other)),
        }
    }

    /// queue.delete; returns the number of messages deleted with it.
    pub async fn queue_delete(
        &self,
        queue: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32, Error> {
        let m = queue::Delete {
            queue: short(queue)?,
            if_unused,
            if_empty,
            ..Default::default()
        };
        match self.call(m.into()).await?.0 {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            other => Err(unexpected(self.id, &other)),
        }
    }

    // ---------------------------------------------------------------- basic

    /// basic.qos. With a prefetch count, the broker never has more than that
    /// many unacked deliveries out per consumer (per channel with `global`),
    /// which also bounds what a [`Consumer`] buffers.
    pub async fn basic_qos(
        &self,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    ) -> Result<(), Error> {
        let m = basic::Qos {
            prefetch_size,
            prefetch_count,
            global,
        };
        self.call(m.into()).await.map(|_| ())
    }

    /// basic.consume: the deliveries as a [`Consumer`] stream.
    ///
    /// What the client buffers for a consumer (received, not yet taken from
    /// the stream) is bounded by the prefetch count of
    /// [`basic_qos`](Self::basic_qos), since the broker sends no more
    /// unacked messages than that. A `no_ack` consumer, or one without a
    /// prefetch count, has no such bound: the broker sends as fast as the
    /// socket takes. Use [`basic_consume_bounded`](Self::basic_consume_bounded)
    /// to bound it on the client side.
    pub async fn basic_consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
    ) -> Result<Consumer, Error> {
        self.consume_inner(queue, options, None).await
    }

    /// basic.consume with a client-side bound on the consumer's buffer:
    /// while it holds `max_buffered` deliveries (or more) the connection
    /// stops reading its socket, so TCP flow control holds the broker back
    /// until the stream is read. The bound is approximate: what was already
    /// read is still delivered (at most 4 KiB of frames past the bound).
    ///
    /// Reading pauses for the whole connection: replies and other
    /// channels' deliveries wait too, so read the stream promptly. While
    /// paused, a few bytes are still read every half heartbeat interval so
    /// that the heartbeat timeout does not fire.
    pub async fn basic_consume_bounded(
        &self,
        queue: &str,
        options: ConsumeOptions,
        max_buffered: usize,
    ) -> Result<Consumer, Error> {
        self.consume_inner(queue, options, Some(max_buffered.max(1)))
            .await
    }

    async fn consume_inner(
        &self,
        queue: &str,
        options: ConsumeOptions,
        limit: Option<usize>,
    ) -> Result<Consumer, Error> {
        let tag = if options.consumer_tag.is_empty() {
            format!(
                "amqp-client.{}.{}",
                std::process::id(),
                CONSUMER_SEQ.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            options.consumer_tag.clone()
        };
        let tag = short(&tag)?;
        let m = basic::Consume {
            queue: short(queue)?,
            consumer_tag: tag.clone(),
            no_local: options.no_local,
            no_ack: options.no_ack,
            exclusive: options.exclusive,
            arguments: options.arguments,
            ..Default::default()
        };
        let request = {
            let mut inner = self.shared.lock();
            inner.check(self.id, self.generation)?;
            let Some(c) = inner.channels.get_mut(&self.id) else {
                return Err(Error::Misuse(format!("channel {} is not open", self.id)));
            };
            if c.consumers.contains_key(tag.as_bytes()) {
                return Err(Error::DuplicateConsumerTag {
                    consumer_tag: tag.to_string_lossy().into_owned(),
                });
            }
            c.consumers
                .insert(tag.clone(), ConsumerState::new(options.no_ack, limit));
            if limit.is_some() {
                inner.bounded_consumers += 1;
            }
            match inner.core.call(self.id, m.into()) {
                Ok(r) => {
                    let action = Action::CancelConsumer {
                        channel: self.id,
                        tag: tag.clone(),
                    };
                    inner.slots.insert(r, Slot::new(Some(action)));
                    inner.wake_driver();
                    r
                }
                Err(e) => {
                    inner.take_consumer(self.id, tag.as_bytes());
                    return Err(e);
                }
            }
        };
        match ReplyFuture::new(self.shared.clone(), request).await {
            Ok(_) => Ok(Consumer::new(
                self.clone(),
                self.shared.clone(),
                tag,
                options.no_ack,
            )),
            Err(e) => {
                self.shared
                    .lock()
                    .take_own_consumer(self.id, self.generation, tag.as_bytes());
                Err(e)
            }
        }
    }

    /// basic.cancel by consumer tag. The [`Consumer`] stream yields what it
    /// had buffered, then ends. [`Consumer::cancel`] also requeues the
    /// buffered messages.
    pub async fn basic_cancel(&self, consumer_tag: &str) -> Result<(), Error> {
        let tag = short(consumer_tag)?;
        let m = basic::Cancel {
            consumer_tag: tag.clone(),
            no_wait: false,
        };
        self.call(m.into()).await?;
        let mut inner = self.shared.lock();
        if let Some(s) = inner
            .channel_mut(self.id, self.generation)
            .and_then(|c| c.consumers.get_mut(tag.as_bytes()))
        {
            s.cancelled = true;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
        Ok(())
    }

    /// basic.publish. With confirms on ([`confirm_delivery`](Self::confirm_delivery)),
    /// waits for the broker's answer: `Ok` for an ack, [`Error::Nacked`], or
    /// [`Error::Unroutable`] when a mandatory message was returned.
    ///
    /// Waits only while too much output is queued in front of the socket
    /// (back-pressure); otherwise the message is handed to the connection at
    /// once.
    pub async fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<(), Error> {
        let method = publish_method(exchange, routing_key, mandatory)?;
        match self.publish_inner(method, properties, body, true).await? {
            None => Ok(()),
            Some(seq) => {
                Confirmation::new(self.shared.clone(), self.id, self.generation, seq).await
            }
        }
    }

    /// basic.publish in confirm mode without waiting for the broker's
    /// answer: the returned [`Confirmation`] is a future of it. Publish many,
    /// then await them (in any order) to pipeline.
    ///
    /// While the broker still owes this channel confirms of earlier
    /// publishes, a publish does not wake the connection's driver task: it
    /// is written with the next batch, when those confirms arrive or when a
    /// [`Confirmation`] is awaited (or once 64 KiB are waiting), which spares
    /// a task wake-up per message when many are in flight. With 512 or more
    /// publishes awaiting their confirms on the connection (a deep pipeline,
    /// kept for throughput), the broker's confirms are read once a
    /// millisecond rather than as each arrives (tokio over TCP on Linux,
    /// with receive coalescing on; see
    /// [`ConnectionParameters::with_receive_coalescing`]): the
    /// publisher then wakes once per batch of confirms, and a confirm may be
    /// reported up to a millisecond late.
    ///
    /// [`ConnectionParameters::with_receive_coalescing`]: crate::ConnectionParameters::with_receive_coalescing
    pub async fn publish_with_confirm(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<Confirmation, Error> {
        {
            let inner = self.shared.lock();
            let mode = inner
                .channel(self.id, self.generation)
                .is_some_and(|c| c.confirms.mode);
            if !mode {
                inner.check(self.id, self.generation)?;
                return Err(Error::Misuse(
                    "publish_with_confirm needs confirm_delivery() first".into(),
                ));
            }
        }
        let method = publish_method(exchange, routing_key, mandatory)?;
        match self.publish_inner(method, properties, body, true).await? {
            Some(seq) => Ok(Confirmation::new(
                self.shared.clone(),
                self.id,
                self.generation,
                seq,
            )),
            None => Err(Error::Misuse(
                "publish_with_confirm needs confirm_delivery() first".into(),
            )),
        }
    }

    /// basic.publish with every argument of the method under the caller's
    /// control (`immediate`, which RabbitMQ refuses with 540, included);
    /// does not wait for a confirm.
    pub async fn publish_method(
        &self,
        method: basic::Publish,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<(), Error> {
        self.publish_inner(method, properties, body, false)
            .await
            .map(|_| ())
    }

    /// Waits for output room, then hands the message to the core, in one
    /// step: either the future completes and the message is queued, or it
    /// was not published.
    async fn publish_inner(
        &self,
        method: basic::Publish,
        properties: &BasicProperties,
        body: &[u8],
        track: bool,
    ) -> Result<Option<u64>, Error> {
        let mut method = Some(method);
        poll_fn(|cx| {
            let mut inner = self.shared.lock();
            inner.check(self.id, self.generation)?;
            if inner.queued > HIGH_WATER {
                if !inner.room_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    inner.room_waiters.push(cx.waker().clone());
                }
                inner.wake_driver();
                return Poll::Pending;
            }
            let Some(m) = method.take() else {
                return Poll::Ready(Err(Error::Misuse("publish polled after completion".into())));
            };
            let (_, seq) = inner.core.publish(self.id, m, properties, body)?;
            inner.queued += body.len();
            let mut earlier_due = false;
            if let Some(seq) = seq {
                if let Some(c) = inner.channels.get_mut(&self.id) {
                    c.confirms.queued = seq;
                    if track {
                        earlier_due = !c.confirms.waiting.is_empty();
                        c.confirms.waiting.insert(seq, None);
                    }
                }
            }
            // Like Nagle's algorithm for confirms: while the broker owes
            // this channel confirms of earlier publishes, the driver will
            // run when they come and write this one then; it is not woken
            // for each publish of a pipelined batch. Awaiting the
            // confirmation of a publish not yet written, or a batch over
            // LAZY_BYTES, wakes it at once.
            if earlier_due && inner.queued < LAZY_BYTES {
                inner.lazy_output = true;
            } else {
                inner.write_or_wake();
            }
            Poll::Ready(Ok(seq))
        })
        .await
    }

    /// basic.get; `None` when the queue is empty.
    pub async fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetMessage>, Error> {
        let m = basic::Get {
            queue: short(queue)?,
            no_ack,
            ..Default::default()
        };
        match self.call(m.into()).await? {
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

    /// basic.ack (no reply: completes once handed to the connection).
    pub async fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<(), Error> {
        self.send_ack(
            basic::Ack {
                delivery_tag,
                multiple,
            }
            .into(),
        )
    }

    /// basic.nack.
    pub async fn basic_nack(
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
    pub async fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<(), Error> {
        self.send_ack(
            basic::Reject {
                delivery_tag,
                requeue,
            }
            .into(),
        )
    }

    /// basic.recover (synchronous; RabbitMQ supports `requeue = true` only).
    pub async fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.call(basic::Recover { requeue }.into())
            .await
            .map(|_| ())
    }

    /// Called for each message the broker returns on this channel (a
    /// mandatory publish it could not route). Runs on the driver task: keep
    /// it short and non-blocking.
    pub fn on_return(&self, callback: impl Fn(Returned) + Send + Sync + 'static) {
        if let Some(c) = self.shared.lock().channel_mut(self.id, self.generation) {
            c.on_return = Some(Arc::new(callback));
        }
    }

    /// confirm.select: from now on the broker acks or nacks every publish.
    pub async fn confirm_delivery(&self) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            inner.check(self.id, self.generation)?;
            if let Some(c) = inner.channels.get_mut(&self.id) {
                c.confirms.mode = true;
            }
        }
        self.call(confirm::Select { no_wait: false }.into())
            .await
            .map(|_| ())
    }

    /// tx.select.
    pub async fn tx_select(&self) -> Result<(), Error> {
        self.call(tx::Select {}.into()).await.map(|_| ())
    }

    /// tx.commit.
    pub async fn tx_commit(&self) -> Result<(), Error> {
        self.call(tx::Commit {}.into()).await.map(|_| ())
    }

    /// tx.rollback.
    pub async fn tx_rollback(&self) -> Result<(), Error> {
        self.call(tx::Rollback {}.into()).await.map(|_| ())
    }

    /// channel.flow: asks the broker to stop (false) or resume (true)
    /// deliveries. RabbitMQ refuses `false` with 540 not-implemented.
    pub async fn flow(&self, active: bool) -> Result<bool, Error> {
        match self.call(chan::Flow { active }.into()).await?.0 {
            Method::ChannelFlowOk(ok) => Ok(ok.active),
            other => Err(unexpected(self.id, &other)),
        }
    }

    /// Closes the channel (channel.close, then close-ok) and waits for the
    /// end; a closed channel's close does nothing. Calls still waiting on
    /// the channel fail with [`Error::ChannelClosedByClient`].
    pub async fn close(&self) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            if inner.check(self.id, self.generation).is_err() {
                return Ok(());
            }
            inner
                .core
                .close_channel(self.id, ReplyCode::REPLY_SUCCESS, "Normal shutdown")?;
            inner.wake_driver();
        }
        poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if inner.check(self.id, self.generation).is_err() {
                return Poll::Ready(Ok(()));
            }
            inner.wait_state(cx);
            Poll::Pending
        })
        .await
    }
}

fn publish_method(
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
) -> Result<basic::Publish, Error> {
    Ok(basic::Publish {
        exchange: short(exchange)?,
        routing_key: short(routing_key)?,
        mandatory,
        ..Default::default()
    })
}
