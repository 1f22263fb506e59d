//! [`Channel`]: every method a client sends, as futures, each delegating to
//! the core's operation of the same name.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::consumer::{Confirmation, Consumer};
use super::shared::{Shared, HIGH_WATER, LAZY_BYTES};
use crate::core::{ChannelRef, Client, ConsumerMode, Pending};
use crate::error::Error;
use crate::types::{ConsumeOptions, Returned};

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

    /// A publish that awaits its confirm in confirm mode.
    async fn publish_and_wait(
        &self,
        len: usize,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        match self.publish(len, true, op).await? {
            None => Ok(()),
            Some(seq) => Confirmation::new(self.shared.clone(), self.chan, seq).await,
        }
    }

    /// A publish whose confirm is the returned [`Confirmation`].
    ///
    /// While the broker still owes this channel confirms of earlier
    /// publishes, a publish does not wake the connection's driver task: it
    /// is written with the next batch, when those confirms arrive or when a
    /// [`Confirmation`] is awaited (or once 64 KiB are waiting), which spares
    /// a task wake-up per message when many are in flight. With 512 or more
    /// publishes awaiting their confirms on the connection (a deep pipeline,
    /// kept for throughput), the broker's confirms are read once a
    /// millisecond rather than as each arrives (tokio over TCP on Linux,
    /// with receive coalescing on): the publisher then wakes once per batch
    /// of confirms, and a confirm may be reported up to a millisecond late.
    async fn publish_tracked(
        &self,
        len: usize,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Confirmation, Error> {
        match self.publish(len, true, op).await? {
            Some(seq) => Ok(Confirmation::new(self.shared.clone(), self.chan, seq)),
            None => Err(Error::Misuse("a publish without confirm mode".into())),
        }
    }

    /// A publish whose confirm nobody awaits.
    async fn publish_untracked(
        &self,
        len: usize,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        self.publish(len, false, op).await.map(|_| ())
    }

    /// Waits for output room, then hands the message (`len` bytes of body)
    /// to the core with `op`, in one step: either the future completes and
    /// the message is queued, or it was not published. In confirm mode, its
    /// sequence number; `tracked`: someone awaits its confirm.
    async fn publish(
        &self,
        len: usize,
        tracked: bool,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
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
            let earlier_due = tracked && inner.client.confirms_due(self.chan);
            let seq = op(&mut inner.client, self.chan).map_err(|e| inner.explain(e))?;
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
