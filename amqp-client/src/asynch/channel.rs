//! [`Channel`]: every method a client sends, as futures, each delegating to
//! the core's operation of the same name.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use amqp_protocol::{basic, BasicProperties, FieldTable};

use super::consumer::{Confirmation, Consumer};
use super::shared::{Shared, HIGH_WATER, LAZY_BYTES};
use crate::core::{ChannelRef, Client, ConsumerMode, Pending, Settle};
use crate::error::Error;
use crate::types::{
    ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage, NackOptions,
    QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions, Returned,
};

/// Awaits the outcome of one request. Dropped early, it leaves the request
/// to complete in the background: the core discards the reply or undoes
/// what it did (a channel opened for nobody is closed, a consumer nobody
/// reads is cancelled), so the channel's next call gets its own reply.
pub(crate) struct ReplyFuture<T> {
    shared: Arc<Shared>,
    /// `None` once the outcome was taken.
    pending: Option<Pending<T>>,
}

impl<T> Future for ReplyFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(pending) = self.pending else {
            return Poll::Ready(Err(Error::Misuse("polled after completion".into())));
        };
        let outcome = {
            let mut inner = self.shared.lock();
            match inner.client.take(&pending) {
                None => {
                    inner.wait_request(pending.request(), cx);
                    return Poll::Pending;
                }
                Some(outcome) => {
                    inner.forget_request(pending.request());
                    outcome.map_err(|e| inner.explain(e))
                }
            }
        };
        self.pending = None;
        Poll::Ready(outcome)
    }
}

impl<T> Drop for ReplyFuture<T> {
    fn drop(&mut self) {
        if let Some(pending) = self.pending {
            let mut inner = self.shared.lock();
            inner.forget_request(pending.request());
            inner.client.abandon(pending.request());
            inner.wake_driver();
        }
    }
}

/// Submits the request `op` makes to the core, hands what it wrote to the
/// socket, and awaits its outcome.
pub(crate) async fn request<T>(
    shared: &Arc<Shared>,
    op: impl FnOnce(&mut Client) -> Result<Pending<T>, Error>,
) -> Result<T, Error> {
    let pending = {
        let mut inner = shared.lock();
        match op(&mut inner.client) {
            Ok(pending) => {
                inner.write_or_wake();
                pending
            }
            Err(e) => return Err(inner.explain(e)),
        }
    };
    ReplyFuture {
        shared: shared.clone(),
        pending: Some(pending),
    }
    .await
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
    pub(super) shared: Arc<Shared>,
    /// Which opening of the channel: once it closed, its number is reused,
    /// and this handle keeps failing with why it closed rather than act on
    /// the new channel.
    pub(super) chan: ChannelRef,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id()).finish()
    }
}

impl Channel {
    pub(crate) fn new(shared: Arc<Shared>, chan: ChannelRef) -> Self {
        Channel { shared, chan }
    }

    /// The channel number.
    pub fn id(&self) -> u16 {
        self.chan.number()
    }

    /// Whether the channel is open.
    pub fn is_open(&self) -> bool {
        self.shared.lock().client.is_channel_open(self.chan)
    }

    /// Why the channel (or its connection) closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.shared.lock().channel_error(self.chan)
    }

    /// Whether the broker lets this channel publish (channel.flow).
    pub fn is_flow_active(&self) -> bool {
        self.shared.lock().client.is_flow_active(self.chan)
    }

    /// Submits the request `op` makes on this channel and awaits its
    /// outcome.
    async fn request<T>(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Pending<T>, Error>,
    ) -> Result<T, Error> {
        request(&self.shared, |c| op(c, self.chan)).await
    }

    // ------------------------------------------------------------ exchanges

    /// exchange.declare.
    pub async fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
    ) -> Result<(), Error> {
        self.request(|c, ch| c.exchange_declare(ch, exchange, kind, options))
            .await
    }

    /// exchange.delete.
    pub async fn exchange_delete(
        &self,
        exchange: &str,
        options: ExchangeDeleteOptions,
    ) -> Result<(), Error> {
        self.request(|c, ch| c.exchange_delete(ch, exchange, options))
            .await
    }

    /// exchange.bind: route from `source` to `destination`.
    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.request(|c, ch| c.exchange_bind(ch, destination, source, routing_key, arguments))
            .await
    }

    /// exchange.unbind.
    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.request(|c, ch| c.exchange_unbind(ch, destination, source, routing_key, arguments))
            .await
    }

    // --------------------------------------------------------------- queues

    /// queue.declare; `""` asks the broker for a name.
    pub async fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
    ) -> Result<QueueDeclareOk, Error> {
        self.request(|c, ch| c.queue_declare(ch, queue, options))
            .await
    }

    /// queue.bind.
    pub async fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.request(|c, ch| c.queue_bind(ch, queue, exchange, routing_key, arguments))
            .await
    }

    /// queue.unbind.
    pub async fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.request(|c, ch| c.queue_unbind(ch, queue, exchange, routing_key, arguments))
            .await
    }

    /// queue.purge; returns the number of messages purged.
    pub async fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        self.request(|c, ch| c.queue_purge(ch, queue)).await
    }

    /// queue.delete; returns the number of messages deleted with it.
    pub async fn queue_delete(
        &self,
        queue: &str,
        options: QueueDeleteOptions,
    ) -> Result<u32, Error> {
        self.request(|c, ch| c.queue_delete(ch, queue, options))
            .await
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
        self.request(|c, ch| c.basic_qos(ch, prefetch_size, prefetch_count, global))
            .await
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
        self.consume(queue, options, None).await
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
        self.consume(queue, options, Some(max_buffered.max(1)))
            .await
    }

    async fn consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        limit: Option<usize>,
    ) -> Result<Consumer, Error> {
        let mut id = None;
        let tag = self
            .request(|c, ch| {
                let (consumer, pending) =
                    c.basic_consume(ch, queue, options, ConsumerMode::Buffer { limit })?;
                id = Some(consumer);
                Ok(pending)
            })
            .await?;
        match id {
            Some(id) => Ok(Consumer::new(self.clone(), id, tag)),
            None => Err(Error::Misuse("basic.consume: no consumer".into())),
        }
    }

    /// basic.cancel by consumer tag. The [`Consumer`] stream yields what it
    /// had buffered, then ends. [`Consumer::cancel`] also requeues the
    /// buffered messages.
    pub async fn basic_cancel(&self, consumer_tag: &str) -> Result<(), Error> {
        self.request(|c, ch| c.basic_cancel(ch, consumer_tag)).await
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
        let publish = |c: &mut Client, ch, settle| {
            c.basic_publish(
                ch,
                exchange,
                routing_key,
                body,
                properties,
                mandatory,
                settle,
            )
        };
        match self.publish(body.len(), Settle::Take, publish).await? {
            None => Ok(()),
            Some(seq) => Confirmation::new(self.shared.clone(), self.chan, seq).await,
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
        let not_confirming =
            || Error::Misuse("publish_with_confirm needs confirm_delivery() first".into());
        {
            let inner = self.shared.lock();
            if !inner.client.is_confirm_mode(self.chan) {
                return Err(inner
                    .channel_error(self.chan)
                    .unwrap_or_else(not_confirming));
            }
        }
        let publish = |c: &mut Client, ch, settle| {
            c.basic_publish(
                ch,
                exchange,
                routing_key,
                body,
                properties,
                mandatory,
                settle,
            )
        };
        match self.publish(body.len(), Settle::Take, publish).await? {
            Some(seq) => Ok(Confirmation::new(self.shared.clone(), self.chan, seq)),
            None => Err(not_confirming()),
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
        let publish =
            |c: &mut Client, ch, settle| c.publish_method(ch, method, properties, body, settle);
        self.publish(body.len(), Settle::Discard, publish)
            .await
            .map(|_| ())
    }

    /// Waits for output room, then hands the message (`len` bytes of body)
    /// to the core with `op`, in one step: either the future completes and
    /// the message is queued, or it was not published. In confirm mode, its
    /// sequence number, whose outcome `settle` says what becomes of.
    async fn publish(
        &self,
        len: usize,
        settle: Settle,
        op: impl FnOnce(&mut Client, ChannelRef, Settle) -> Result<Option<u64>, Error>,
    ) -> Result<Option<u64>, Error> {
        let mut op = Some(op);
        poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if let Some(e) = inner.channel_error(self.chan) {
                return Poll::Ready(Err(e));
            }
            if inner.queued > HIGH_WATER {
                inner.wait_room(cx);
                return Poll::Pending;
            }
            let Some(op) = op.take() else {
                return Poll::Ready(Err(Error::Misuse("publish polled after completion".into())));
            };
            let earlier_due = settle == Settle::Take && inner.client.confirms_due(self.chan);
            let seq = op(&mut inner.client, self.chan, settle).map_err(|e| inner.explain(e))?;
            inner.queued += len;
            // Like Nagle's algorithm for confirms: while the broker owes
            // this channel confirms of earlier publishes, the driver will
            // run when they come and write this one then; it is not woken
            // for each publish of a pipelined batch. Awaiting the
            // confirmation of a publish not yet written (see
            // `Confirmation::poll`), or a batch over LAZY_BYTES, wakes it at
            // once.
            if seq.is_some() && earlier_due && inner.queued < LAZY_BYTES {
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
        self.request(|c, ch| c.basic_get(ch, queue, no_ack)).await
    }

    /// basic.ack. No reply: done once handed to the connection.
    pub fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<(), Error> {
        self.acknowledge(|c, ch| c.basic_ack(ch, delivery_tag, multiple))
    }

    /// basic.nack (requeue by default, see [`NackOptions`]). No reply.
    pub fn basic_nack(&self, delivery_tag: u64, options: NackOptions) -> Result<(), Error> {
        self.acknowledge(|c, ch| c.basic_nack(ch, delivery_tag, options))
    }

    /// basic.reject. No reply.
    pub fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<(), Error> {
        self.acknowledge(|c, ch| c.basic_reject(ch, delivery_tag, requeue))
    }

    /// Hands an acknowledgement (ack, nack, reject) to the core. While one
    /// of this channel's consumers still has deliveries buffered, the
    /// application is busy with them and will ask for the next soon: the
    /// driver is not woken for each acknowledgement, but once that
    /// consumer's buffer runs dry (see `Consumer::poll_next`), or within
    /// [`LAZY_FLUSH`] at the latest, so that acknowledgements leave in
    /// batches.
    ///
    /// [`LAZY_FLUSH`]: super::shared::LAZY_FLUSH
    fn acknowledge(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        op(&mut inner.client, self.chan).map_err(|e| inner.explain(e))?;
        if inner.client.has_buffered(self.chan) {
            inner.lazy_output = true;
        } else {
            inner.write_or_wake();
        }
        Ok(())
    }

    /// basic.recover (RabbitMQ supports `requeue = true` only).
    pub async fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.request(|c, ch| c.basic_recover(ch, requeue)).await
    }

    /// Called with this channel and each message the broker returns on it
    /// (a mandatory publish it could not route). Runs on the driver task:
    /// keep it short and non-blocking.
    pub fn on_return(&self, callback: impl Fn(&Channel, Returned) + Send + Sync + 'static) {
        self.shared
            .lock()
            .set_on_return(self.chan, Arc::new(callback));
    }

    /// confirm.select: from now on the broker acks or nacks every publish.
    pub async fn confirm_delivery(&self) -> Result<(), Error> {
        self.request(|c, ch| c.confirm_delivery(ch)).await
    }

    /// tx.select.
    pub async fn tx_select(&self) -> Result<(), Error> {
        self.request(|c, ch| c.tx_select(ch)).await
    }

    /// tx.commit.
    pub async fn tx_commit(&self) -> Result<(), Error> {
        self.request(|c, ch| c.tx_commit(ch)).await
    }

    /// tx.rollback.
    pub async fn tx_rollback(&self) -> Result<(), Error> {
        self.request(|c, ch| c.tx_rollback(ch)).await
    }

    /// channel.flow: asks the broker to stop (false) or resume (true)
    /// deliveries; the broker's answer. RabbitMQ refuses `false` with 540
    /// not-implemented.
    pub async fn flow(&self, active: bool) -> Result<bool, Error> {
        self.request(|c, ch| c.flow(ch, active)).await
    }

    /// Closes the channel (channel.close, then close-ok) and waits for the
    /// end; a closed channel's close does nothing. Calls still waiting on
    /// the channel fail with [`Error::ChannelClosedByClient`].
    pub async fn close(&self) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            inner
                .client
                .close_channel(self.chan)
                .map_err(|e| inner.explain(e))?;
            inner.wake_driver();
        }
        poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if inner.client.channel_error(self.chan).is_some() {
                return Poll::Ready(Ok(()));
            }
            inner.wait_state(cx);
            Poll::Pending
        })
        .await
    }
}
