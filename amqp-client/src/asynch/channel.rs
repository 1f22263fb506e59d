//! [`Channel`]: every method a client sends, as futures, each delegating to
//! the core's operation of the same name; [`Consumer`] (a stream of
//! deliveries) and [`Confirmation`] (a future of a publisher confirm).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;

use super::shared::{Shared, HIGH_WATER};
use crate::core::{ChannelRef, Client, ConsumerId, ConsumerMode, NextDelivery, Pending};
use crate::error::Error;
use crate::types::{ConsumeOptions, Delivery, Returned};

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

    /// The tags of this channel's consumers (Pika's `consumer_tags`).
    pub fn consumer_tags(&self) -> Vec<String> {
        self.shared.lock().client.consumer_tags(self.chan)
    }

    /// Whether the channel is closed: by either side, or with its
    /// connection (closed or lost).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().channel_error(self.chan).is_some()
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

    crate::core::vocabulary::channel_operations!(future);

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
    /// paused, the broker's heartbeats wait unread and are not counted as
    /// missed. Every connection also has a bound of its own, over all its
    /// consumers (see `ConnectionParameters::with_delivery_buffer`).
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

    /// A publish that awaits its confirm in confirm mode.
    async fn publish_and_wait(
        &self,
        len: usize,
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        match self.publish(len, op).await? {
            None => Ok(()),
            Some(seq) => Confirmation::new(self.shared.clone(), self.chan, seq).await,
        }
    }

    /// A publish whose confirm is the returned [`Confirmation`].
    ///
    /// The publish leaves as soon as the socket takes it, whether or not
    /// earlier confirms are awaited. With 512 or more
    /// publishes awaiting their confirms on the connection (a deep pipeline,
    /// kept for throughput), the broker's confirms are read once a
    /// millisecond rather than as each arrives (tokio over TCP on Linux,
    /// with receive coalescing on): the publisher then wakes once per batch
    /// of confirms, and a confirm may be reported up to a millisecond late.
    async fn publish_tracked(
        &self,
        len: usize,
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Confirmation, Error> {
        match self.publish(len, op).await? {
            Some(seq) => Ok(Confirmation::new(self.shared.clone(), self.chan, seq)),
            None => Err(Error::Misuse("a publish without confirm mode".into())),
        }
    }

    /// A publish whose confirm nobody awaits.
    async fn publish_untracked(
        &self,
        len: usize,
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        self.publish(len, op).await.map(|_| ())
    }

    /// Waits for output room, then hands the message (`len` bytes of body)
    /// to the core with `op`, in one step: either the future completes and
    /// the message is queued, or it was not published. In confirm mode, its
    /// sequence number.
    async fn publish(
        &self,
        len: usize,
        op: impl FnMut(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Option<u64>, Error> {
        let mut op = op;
        let mut done = false;
        let mut until = None;
        poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if let Some(e) = inner.channel_error(self.chan) {
                return Poll::Ready(Err(e));
            }
            if inner.queued > HIGH_WATER {
                inner.wait_room(cx);
                return Poll::Pending;
            }
            if done {
                return Poll::Ready(Err(Error::Misuse("publish polled after completion".into())));
            }
            let seq = match op(&mut inner.client, self.chan) {
                // The connection is being recovered and the publishes held
                // meanwhile fill their buffer: wait for room (each change of
                // the recovery wakes this), within the policy's bound.
                Err(Error::Recovering) => {
                    if inner
                        .client
                        .publish_wait(&mut until, Instant::now())
                        .is_none()
                    {
                        return Poll::Ready(Err(Error::Recovering));
                    }
                    inner.wait_state(cx);
                    return Poll::Pending;
                }
                other => other.map_err(|e| inner.explain(e))?,
            };
            done = true;
            inner.queued += len;
            // Never held back for the confirms the broker still owes: a
            // slow confirm must not delay the publishes behind it (this
            // costs a pipelined publisher more wake-ups and writes than
            // holding them back did; see bench-client/README.md).
            inner.write_or_wake();
            Poll::Ready(Ok(seq))
        })
        .await
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

    /// Called with this channel and each message the broker returns on it
    /// (a mandatory publish it could not route). Runs on the driver task:
    /// keep it short and non-blocking.
    pub fn on_return(&self, callback: impl Fn(&Channel, Returned) + Send + Sync + 'static) {
        let callback = move |shared: &Arc<Shared>, chan, returned| {
            callback(&Channel::new(shared.clone(), chan), returned)
        };
        self.shared
            .lock()
            .set_on_return(self.chan, Arc::new(callback));
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

/// A consumer (basic.consume) as a [`Stream`] of deliveries.
///
/// Each item is a delivery, or the error that ended the consumer (cancelled
/// by the broker: [`Error::ConsumerCancelled`]; the channel or connection
/// closed), after which the stream ends. Deliveries are acked on the
/// [`channel`](Self::channel) (unless consumed with `no_ack`). A connection
/// that is lost and recovered does not end it: deliveries go on from the
/// new connection (see the crate's
/// [recovery section](crate#when-the-connection-is-lost)).
///
/// [`cancel`](Self::cancel) ends it and requeues what it buffered.
/// Dropping it does the same in the background.
///
/// Calling `.next()` on it takes a `Stream` extension trait in scope, such
/// as `StreamExt` of the `futures-util` crate (`futures-util = "0.3"` in
/// the application's `Cargo.toml`):
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// use amqp_client::tokio::{Channel, Consumer};
/// # #[cfg(not(feature = "tokio"))]
/// # use amqp_client::futures_io::{Channel, Consumer};
/// use futures_util::StreamExt;
///
/// async fn consume(ch: &Channel, mut consumer: Consumer) -> Result<(), amqp_client::Error> {
///     while let Some(delivery) = consumer.next().await {
///         let delivery = delivery?;
///         println!("{}", String::from_utf8_lossy(&delivery.body));
///         ch.basic_ack(delivery.delivery_tag, false)?;
///     }
///     Ok(())
/// }
/// ```
pub struct Consumer {
    channel: Channel,
    consumer: ConsumerId,
    tag: String,
    /// The stream ended, or the consumer was handed to `cancel`.
    finished: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("channel", &self.channel.id())
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    pub(crate) fn new(channel: Channel, consumer: ConsumerId, tag: String) -> Self {
        Consumer {
            channel,
            consumer,
            tag,
            finished: false,
        }
    }

    /// The consumer tag.
    pub fn consumer_tag(&self) -> &str {
        &self.tag
    }

    /// The channel it consumes on (to ack on).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// How many deliveries were received and not yet taken from the stream.
    pub fn buffered_len(&self) -> usize {
        self.channel
            .shared
            .lock()
            .client
            .buffered_len(self.consumer)
    }

    /// Cancels the consumer (basic.cancel) and requeues (basic.nack with
    /// requeue) every message received but not yet taken from the stream,
    /// deliveries that arrive until the broker's cancel-ok included; returns
    /// how many (0 for a `no_ack` consumer, whose messages cannot go back,
    /// and for a stream that already ended).
    ///
    /// Dropping this future before it completes still cancels and requeues,
    /// in the background.
    pub async fn cancel(mut self) -> Result<usize, Error> {
        if self.finished {
            return match self.channel.close_reason() {
                Some(e) => Err(e),
                None => Ok(0),
            };
        }
        // From here the request (or, dropped, its undoing) cleans up.
        self.finished = true;
        let (shared, id) = (&self.channel.shared, self.consumer);
        shared.lock().forget_consumer(id);
        let outcome = request(shared, |c| c.cancel_consumer(id)).await;
        if outcome.is_err() {
            // The channel closed first: nothing to requeue, nobody to read.
            shared.lock().client.drop_consumer(id);
        }
        outcome
    }
}

impl Stream for Consumer {
    type Item = Result<Delivery, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let id = self.consumer;
        let end = {
            let mut inner = self.channel.shared.lock();
            let paused = !inner.client.wants_input();
            let next = inner.client.next_delivery(id);
            if paused && inner.client.wants_input() {
                // Room in the buffer again: the driver reads on.
                inner.wake_driver();
            }
            match next {
                NextDelivery::Delivery(d) => return Poll::Ready(Some(Ok(d))),
                NextDelivery::Empty => {
                    inner.wait_consumer(id, cx);
                    // Acknowledgements held back while this buffer had
                    // deliveries (see `Channel::acknowledge`) leave now,
                    // before the consumer waits.
                    if inner.lazy_output {
                        inner.lazy_output = false;
                        inner.write_or_wake();
                    }
                    return Poll::Pending;
                }
                NextDelivery::End(e) => {
                    inner.forget_consumer(id);
                    e.map(|e| inner.explain(e))
                }
            }
        };
        self.finished = true;
        Poll::Ready(end.map(Err))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut inner = self.channel.shared.lock();
        inner.forget_consumer(self.consumer);
        inner.client.drop_consumer(self.consumer);
        inner.wake_driver();
    }
}

/// The broker's answer to one publish in confirm mode, as a future: `Ok`
/// for an ack, [`Error::Nacked`] for a nack, [`Error::Unroutable`] for a
/// mandatory message returned (then acked), or the error that closed the
/// channel or connection first. Dropping it discards the answer.
pub struct Confirmation {
    shared: Arc<Shared>,
    /// The opening of the channel the publish went out on.
    channel: ChannelRef,
    seq: u64,
    done: bool,
}

impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmation")
            .field("channel", &self.channel.number())
            .field("sequence_number", &self.seq)
            .finish()
    }
}

impl Confirmation {
    pub(crate) fn new(shared: Arc<Shared>, channel: ChannelRef, seq: u64) -> Self {
        Confirmation {
            shared,
            channel,
            seq,
            done: false,
        }
    }

    /// The publish sequence number (1 for the first publish after
    /// confirm.select).
    pub fn sequence_number(&self) -> u64 {
        self.seq
    }
}

impl Future for Confirmation {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.done {
            return Poll::Ready(Err(Error::Misuse(
                "confirmation polled after completion".into(),
            )));
        }
        let (channel, seq) = (self.channel, self.seq);
        let outcome = {
            let mut inner = self.shared.lock();
            match inner.client.take_confirm(channel, seq) {
                Some(outcome) => {
                    inner.forget_confirm(channel, seq);
                    outcome.map_err(|e| inner.explain(e))
                }
                None => {
                    inner.wait_confirm(channel, seq, cx);
                    // Publishes held back while earlier confirms were due
                    // (see `Channel::publish`), this one among them, leave
                    // before this waits; once written, its confirm will
                    // come, and the driver then writes what was held back
                    // meanwhile.
                    if inner.lazy_output && !inner.client.is_staged(channel, seq) {
                        inner.lazy_output = false;
                        inner.write_or_wake();
                    }
                    return Poll::Pending;
                }
            }
        };
        self.done = true;
        Poll::Ready(outcome)
    }
}

impl Drop for Confirmation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut inner = self.shared.lock();
        inner.forget_confirm(self.channel, self.seq);
        inner.client.abandon_confirm(self.channel, self.seq);
    }
}
