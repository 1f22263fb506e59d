//! [`Consumer`] (a stream of deliveries) and [`Confirmation`] (a future of a
//! publisher confirm).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::channel::{request, Channel};
use super::shared::Shared;
use crate::core::{ChannelRef, ConsumerId, NextDelivery};
use crate::error::Error;
use crate::types::Delivery;

/// A consumer (basic.consume) as a [`Stream`] of deliveries.
///
/// Each item is a delivery, or the error that ended the consumer (cancelled
/// by the broker: [`Error::ConsumerCancelled`]; the channel or connection
/// closed), after which the stream ends. Deliveries are acked on the
/// [`channel`](Self::channel) (unless consumed with `no_ack`).
///
/// [`cancel`](Self::cancel) ends it and requeues what it buffered.
/// Dropping it does the same in the background.
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
