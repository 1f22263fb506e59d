//! [`Consumer`] (a stream of deliveries) and [`Confirmation`] (a future of a
//! publisher confirm).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use amqp_protocol::{basic, ShortStr};
use futures_core::Stream;

use super::channel::{Channel, ReplyFuture};
use super::shared::{Action, Shared, Slot};
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
    shared: Arc<Shared>,
    tag: ShortStr,
    tag_string: String,
    no_ack: bool,
    finished: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("channel", &self.channel.id())
            .field("tag", &self.tag_string)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    pub(crate) fn new(channel: Channel, shared: Arc<Shared>, tag: ShortStr, no_ack: bool) -> Self {
        Consumer {
            channel,
            shared,
            tag_string: tag.to_string_lossy().into_owned(),
            tag,
            no_ack,
            finished: false,
        }
    }

    /// The consumer tag.
    pub fn consumer_tag(&self) -> &str {
        &self.tag_string
    }

    /// The channel it consumes on (to ack on).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// How many deliveries were received and not yet taken from the stream.
    pub fn buffered_len(&self) -> usize {
        self.shared
            .lock()
            .channel(self.channel.id(), self.channel.generation())
            .and_then(|c| c.consumers.get(self.tag.as_bytes()))
            .map_or(0, |s| s.queue.len())
    }

    /// Cancels the consumer (basic.cancel) and requeues (basic.nack with
    /// requeue) every message received but not yet taken from the stream,
    /// deliveries that arrive until the broker's cancel-ok included; returns
    /// how many (0 for a `no_ack` consumer, whose messages cannot go back).
    ///
    /// Dropping this future before it completes still cancels and requeues,
    /// in the background.
    pub async fn cancel(mut self) -> Result<usize, Error> {
        let (id, generation) = (self.channel.id(), self.channel.generation());
        let request = {
            let mut inner = self.shared.lock();
            if let Err(e) = inner.check(id, generation) {
                inner.take_own_consumer(id, generation, self.tag.as_bytes());
                self.finished = true;
                return Err(e);
            }
            let m = basic::Cancel {
                consumer_tag: self.tag.clone(),
                no_wait: false,
            };
            let r = inner.core.call(id, m.into())?;
            let action = Action::RemoveConsumer {
                channel: id,
                tag: self.tag.clone(),
            };
            inner.slots.insert(r, Slot::new(Some(action)));
            inner.wake_driver();
            r
        };
        // From here the slot's action cleans up if this future is dropped.
        self.finished = true;
        let reply = ReplyFuture::new(self.shared.clone(), request).await;
        let mut inner = self.shared.lock();
        let state = inner.take_own_consumer(id, generation, self.tag.as_bytes());
        reply?;
        let Some(state) = state else { return Ok(0) };
        if self.no_ack {
            return Ok(0);
        }
        inner.requeue(id, state.queue.iter());
        inner.wake_driver();
        Ok(state.queue.len())
    }
}

impl Stream for Consumer {
    type Item = Result<Delivery, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let (id, generation) = (self.channel.id(), self.channel.generation());
        let shared = self.shared.clone();
        let mut inner = shared.lock();
        // The channel's id was reused: its consumers ended with it.
        if let Some(e) = inner.stale(id, generation) {
            self.finished = true;
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(d) = inner.pop_delivery(id, self.tag.as_bytes()) {
            return Poll::Ready(Some(Ok(d)));
        }
        let end = match inner
            .channels
            .get_mut(&id)
            .and_then(|c| c.consumers.get_mut(self.tag.as_bytes()))
        {
            Some(s) => {
                if let Some(e) = s.ended.take() {
                    Some(Some(e))
                } else if s.cancelled {
                    Some(None)
                } else {
                    None
                }
            }
            // Gone: the channel was replaced or the consumer removed.
            None => Some(inner.check(id, generation).err()),
        };
        let end = match end {
            Some(e) => Some(e),
            None => inner.check(id, generation).err().map(Some),
        };
        if let Some(e) = end {
            inner.take_consumer(id, self.tag.as_bytes());
            self.finished = true;
            return Poll::Ready(e.map(Err));
        }
        if let Some(s) = inner
            .channels
            .get_mut(&id)
            .and_then(|c| c.consumers.get_mut(self.tag.as_bytes()))
        {
            match &s.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => s.waker = Some(cx.waker().clone()),
            }
        }
        // Acknowledgements held back while this buffer had deliveries
        // leave now, before the consumer waits.
        if inner.lazy_output {
            inner.lazy_output = false;
            inner.write_or_wake();
        }
        Poll::Pending
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut inner = self.shared.lock();
        // Not once the id was reused: the tag may name a consumer of the new
        // channel.
        if inner
            .stale(self.channel.id(), self.channel.generation())
            .is_none()
        {
            inner.orphan_consumer(self.channel.id(), self.tag.clone());
        }
    }
}

/// The broker's answer to one publish in confirm mode, as a future: `Ok`
/// for an ack, [`Error::Nacked`] for a nack, [`Error::Unroutable`] for a
/// mandatory message returned (then acked), or the error that closed the
/// channel or connection first. Dropping it discards the answer.
pub struct Confirmation {
    shared: Arc<Shared>,
    channel: u16,
    /// The opening of `channel` the publish went out on.
    generation: u64,
    seq: u64,
    done: bool,
}

impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmation")
            .field("channel", &self.channel)
            .field("sequence_number", &self.seq)
            .finish()
    }
}

impl Confirmation {
    pub(crate) fn new(shared: Arc<Shared>, channel: u16, generation: u64, seq: u64) -> Self {
        Confirmation {
            shared,
            channel,
            generation,
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
        let (channel, generation, seq) = (self.channel, self.generation, self.seq);
        let shared = self.shared.clone();
        let mut inner = shared.lock();
        let closed = inner.check(channel, generation).err();
        let Some(c) = inner.channel_mut(channel, generation) else {
            self.done = true;
            return Poll::Ready(Err(closed.unwrap_or_else(|| {
                Error::Misuse(format!("channel {channel} is not open"))
            })));
        };
        if let Some(r) = c.confirms.done.remove(&seq) {
            self.done = true;
            return Poll::Ready(r);
        }
        // Written: its confirm will come, and the driver then writes what
        // was held back meanwhile.
        let staged = c.confirms.staged >= seq;
        match c.confirms.waiting.get_mut(&seq) {
            Some(slot) => {
                match slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
                // Publishes held back while earlier confirms were due
                // (see `Channel::publish_inner`), this one among them, leave
                // before this waits.
                if inner.lazy_output && !staged {
                    inner.lazy_output = false;
                    inner.write_or_wake();
                }
                Poll::Pending
            }
            None => {
                self.done = true;
                Poll::Ready(Err(closed.unwrap_or_else(|| {
                    Error::Misuse(format!("no outcome for publish {seq}"))
                })))
            }
        }
    }
}

impl Drop for Confirmation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(c) = self
            .shared
            .lock()
            .channel_mut(self.channel, self.generation)
        {
            c.confirms.waiting.remove(&self.seq);
            c.confirms.done.remove(&self.seq);
        }
    }
}
