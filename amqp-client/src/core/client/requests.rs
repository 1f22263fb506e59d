//! Requests: submitting an operation, its outcome, what an abandoned one
//! undoes, and the channel commands.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Instant;

use amqp_protocol::{basic, Method, ReplyCode};

use super::confirms::Confirms;
use super::consumers::from_stream;
use super::topology::Topology;
use super::{
    ChannelData, ChannelRef, Client, ConsumerId, ConsumerMode, Event, Kind, Parse, Pending, Ready,
    Reply, Request, RETIRED_KEPT,
};
use crate::core::types::Delivery;
use crate::core::RequestId;
use crate::error::Error;

impl Client {
    pub(super) fn pending<T>(
        &self,
        request: RequestId,
        channel: ChannelRef,
        parse: Parse<T>,
    ) -> Pending<T> {
        Pending {
            request,
            channel: channel.number,
            parse,
            _t: PhantomData,
        }
    }

    /// Submits a synchronous method on `channel`.
    pub(super) fn call<T>(
        &mut self,
        channel: ChannelRef,
        method: Method,
        kind: Kind,
        parse: Parse<T>,
    ) -> Result<Pending<T>, Error> {
        self.check(channel)?;
        if self.deferring() || self.channel(channel).is_some_and(|c| c.closing_to_reopen) {
            let request = self.defer_call(channel, method, kind);
            return Ok(self.pending(request, channel, parse));
        }
        let keep = Topology::concerns(&method)
            || (self.recovery.is_some() && super::recovery::resendable(&method));
        let kept = keep.then(|| method.clone());
        let name = method.name();
        let request = self.wire.call(channel.number, method)?;
        self.requests.insert(
            request,
            Request {
                channel,
                kind,
                outcome: None,
                abandoned: false,
                method: kept,
                deferred: false,
                name,
            },
        );
        self.absorb();
        Ok(self.pending(request, channel, parse))
    }

    /// Submits a method without reply on `channel`.
    pub(super) fn send(&mut self, channel: ChannelRef, method: Method) -> Result<(), Error> {
        self.check(channel)?;
        if self.deferring() {
            // An acknowledgement (the only method sent without reply) of a
            // delivery of the lost connection: that message went back to
            // its queue.
            return Err(Error::Recovering);
        }
        self.wire.call(channel.number, method)?;
        self.absorb();
        Ok(())
    }

    /// The typed outcome of `pending`, once [`Ready::Request`] named it:
    /// `None` while it is awaited. Taken once; a later call reports the
    /// request as unknown.
    pub fn take<T>(&mut self, pending: &Pending<T>) -> Option<Result<T, Error>> {
        let Some(r) = self.requests.get(&pending.request) else {
            return Some(Err(self.closed.clone().unwrap_or_else(|| {
                Error::Misuse("the outcome of this request was already taken".into())
            })));
        };
        r.outcome.as_ref()?;
        let outcome = self.requests.remove(&pending.request)?.outcome?;
        Some(outcome.and_then(|reply| (pending.parse)(pending.channel, reply)))
    }

    /// Nobody will take the outcome of `request` (its future was dropped):
    /// it completes on the wire, and what it did is undone (a channel opened
    /// for nobody is closed, a consumer nobody reads is cancelled and its
    /// messages requeued).
    pub fn abandon(&mut self, request: RequestId) {
        let Some(r) = self.requests.get_mut(&request) else {
            return;
        };
        if r.outcome.is_none() {
            r.abandoned = true;
            return;
        }
        if let Some(r) = self.requests.remove(&request) {
            if let Some(outcome) = &r.outcome {
                self.undo(r.channel, r.kind, outcome.is_ok());
            }
        }
        self.absorb();
    }

    pub(super) fn undo(&mut self, channel: ChannelRef, kind: Kind, succeeded: bool) {
        match kind {
            Kind::Open if succeeded => {
                let _ = self.close_channel(channel);
            }
            Kind::Consume(id) => {
                if succeeded {
                    self.drop_consumer(id);
                } else {
                    self.forget(id);
                }
            }
            _ => {}
        }
    }

    pub(super) fn complete(&mut self, request: RequestId, mut outcome: Result<Reply, Error>) {
        if self.run_step_done(request, &outcome) {
            return;
        }
        let Some(r) = self.requests.get_mut(&request) else {
            return;
        };
        let (channel, kind, abandoned) = (r.channel, r.kind, r.abandoned);
        if let (Some(m), Ok(Reply::Method(reply, _))) = (r.method.take(), &outcome) {
            if Topology::concerns(&m) {
                self.topology.record(channel.number, &m, reply);
            }
        }
        if let Ok(Reply::Method(Method::BasicGetOk(ok), _)) = &mut outcome {
            if let Some(c) = self.channel_mut(channel) {
                ok.delivery_tag = c.tags.delivered(ok.delivery_tag);
            }
        }
        match (kind, &outcome) {
            (Kind::Qos(prefetch, global), Ok(_)) => {
                if let Some(c) = self.channel_mut(channel) {
                    if global {
                        c.settings.channel_prefetch = Some(prefetch);
                    } else {
                        c.settings.consumer_prefetch = Some(prefetch);
                    }
                }
            }
            (Kind::TxSelect, Ok(_)) => {
                if let Some(c) = self.channel_mut(channel) {
                    c.settings.transactional = true;
                }
            }
            (Kind::TxEnd, Ok(_)) => {
                if let Some(c) = self.channel_mut(channel) {
                    c.tx_dirty = false;
                }
            }
            (Kind::Open, Ok(_)) => {
                if let Some(c) = self.channel_mut(channel) {
                    c.open = true;
                }
                outcome = Ok(Reply::Channel(channel));
            }
            (Kind::Consume(id), Ok(_)) => {
                if let Some(c) = self.consumers.get_mut(id) {
                    c.active = true;
                }
            }
            (Kind::Consume(id), Err(_)) => {
                self.forget(id);
            }
            (Kind::Cancel { consumer, requeue }, Ok(_)) => {
                let consumer = consumer.or_else(|| match &outcome {
                    Ok(Reply::Method(Method::BasicCancelOk(ok), _)) => self
                        .consumers
                        .find(channel.number, ok.consumer_tag.as_bytes()),
                    _ => None,
                });
                let n = consumer.map_or(0, |id| self.cancelled(channel, id, requeue));
                if requeue {
                    outcome = Ok(Reply::Count(n));
                }
            }
            _ => {}
        }
        if abandoned {
            self.requests.remove(&request);
            self.undo(channel, kind, outcome.is_ok());
            return;
        }
        if let Some(r) = self.requests.get_mut(&request) {
            r.outcome = Some(outcome);
        }
        self.out.ready(Ready::Request(request));
    }

    /// cancel-ok for consumer `id`: with `requeue`, its buffer goes back to
    /// the queue and it is forgotten (returns how many were requeued);
    /// otherwise a buffered consumer still yields what it holds, then ends.
    pub(super) fn cancelled(
        &mut self,
        channel: ChannelRef,
        id: ConsumerId,
        requeue: bool,
    ) -> usize {
        self.consumers.release_tag(id);
        let Some(c) = self.consumers.get_mut(id) else {
            return 0;
        };
        if requeue || c.orphaned || c.mode == ConsumerMode::Events {
            let (no_ack, stream) = (c.no_ack, c.stream);
            let buffered = self.consumers.drain(id);
            self.forget(id);
            if no_ack || stream {
                return 0;
            }
            return self.requeue(channel, buffered.iter());
        }
        c.ended.get_or_insert(None);
        self.consumers.unlimit(id);
        self.out.ready(Ready::Consumer(id));
        0
    }

    /// Forgets consumer `id`; a callback consumer's end is reported
    /// ([`Event::ConsumerEnded`]) so that its adapter drops the callback.
    pub(super) fn forget(&mut self, id: ConsumerId) {
        if let Some(c) = self.consumers.remove(id) {
            if c.active && !self.consumers.any_on(&c.queue_name) {
                // The broker deletes an auto-delete queue with its last
                // consumer.
                self.topology.last_consumer_gone(&c.queue_name);
            }
            if c.mode == ConsumerMode::Events {
                self.out.event(Event::ConsumerEnded {
                    channel: c.channel,
                    consumer: id,
                });
            }
        }
    }

    /// basic.nack with requeue of each delivery, but a stream queue's
    /// (which RabbitMQ answers by closing the connection: 540
    /// not-implemented; its messages stay in the stream anyway); returns
    /// how many were requeued.
    pub(super) fn requeue<'a>(
        &mut self,
        channel: ChannelRef,
        deliveries: impl Iterator<Item = &'a Delivery>,
    ) -> usize {
        let mut n = 0;
        for d in deliveries.filter(|d| !from_stream(d)) {
            // A delivery from before a recovery went back with the old
            // connection.
            let Some(delivery_tag) = self.wire_tag(channel, d.delivery_tag, false) else {
                continue;
            };
            let nack = basic::Nack {
                delivery_tag,
                multiple: false,
                requeue: true,
            };
            if self.send(channel, nack.into()).is_err() {
                break;
            }
            n += 1;
        }
        n
    }

    // ------------------------------------------------------------- channels

    /// Opens a channel on the lowest free number.
    pub fn open_channel(&mut self) -> Result<Pending<ChannelRef>, Error> {
        self.check(ChannelRef::CONNECTION)?;
        if self.deferring() {
            // Opened with the others once the connection is back.
            let max = match self.last_tuning().channel_max {
                0 => u16::MAX,
                m => m,
            };
            let number = (1..=max)
                .find(|n| !self.channels.contains_key(n))
                .ok_or_else(|| Error::Misuse(format!("all {max} channels are in use")))?;
            let request = self.wire.reserve_request();
            return Ok(self.opening(number, request));
        }
        let (number, request) = self.wire.open_channel()?;
        Ok(self.opening(number, request))
    }

    /// Opens channel `number` (Pika's `channel(channel_number=...)`):
    /// [`Error::InvalidChannelNumber`] for 0 or above the negotiated
    /// channel-max, [`Error::ChannelInUse`] while a channel of that number
    /// is open, opening or closing.
    pub fn open_channel_number(&mut self, number: u16) -> Result<Pending<ChannelRef>, Error> {
        self.check(ChannelRef::CONNECTION)?;
        if self.deferring() {
            if self
                .channels
                .get(&number)
                .is_some_and(|c| c.closed.is_none())
            {
                return Err(Error::ChannelInUse { channel: number });
            }
            let request = self.wire.reserve_request();
            return Ok(self.opening(number, request));
        }
        let request = self.wire.open_channel_number(number)?;
        Ok(self.opening(number, request))
    }

    /// Records the opening of channel `number` by `request`.
    fn opening(&mut self, number: u16, request: RequestId) -> Pending<ChannelRef> {
        self.next_generation += 1;
        let channel = ChannelRef {
            number,
            generation: self.next_generation,
        };
        let fresh = ChannelData {
            generation: channel.generation,
            open: false,
            closed: None,
            confirms: Confirms::default(),
            flow_active: true,
            tags: Default::default(),
            settings: Default::default(),
            tx_lost: false,
            tx_dirty: false,
            closing_to_reopen: false,
            stream_tags: VecDeque::new(),
        };
        if let Some(old) = self.channels.insert(number, fresh) {
            let error = old
                .closed
                .unwrap_or(Error::ChannelClosedByClient { channel: number });
            if self.retired.len() == RETIRED_KEPT {
                self.retired.pop_front();
            }
            self.retired.push_back((number, old.generation, error));
        }
        self.requests.insert(
            request,
            Request {
                channel,
                kind: Kind::Open,
                outcome: None,
                abandoned: false,
                method: None,
                deferred: false,
                name: "channel.open",
            },
        );
        self.absorb();
        self.pending(request, channel, |_, reply| match reply {
            Reply::Channel(c) => Ok(c),
            _ => Err(Error::Misuse(
                "channel.open: no channel in the reply".into(),
            )),
        })
    }

    /// Closes `channel` (channel.close, then close-ok); [`Ready::State`]
    /// and [`Event::ChannelClosed`] report the end. Closing a closed
    /// channel does nothing.
    pub fn close_channel(&mut self, channel: ChannelRef) -> Result<(), Error> {
        if self.channel_error(channel).is_some() || channel.number == 0 {
            return Ok(());
        }
        if self.deferring() {
            // Not opened again.
            let error = Error::ChannelClosedByClient {
                channel: channel.number,
            };
            let waiting: Vec<RequestId> = self
                .requests
                .iter()
                .filter(|(_, r)| r.channel == channel && r.outcome.is_none())
                .map(|(id, _)| *id)
                .collect();
            self.channel_closed(channel.number, error, waiting);
            return Ok(());
        }
        self.wire
            .close_channel(channel.number, ReplyCode::REPLY_SUCCESS, "Normal shutdown")?;
        self.absorb();
        Ok(())
    }

    /// Closes the connection (connection.close, then close-ok or the close
    /// timeout); [`Event::Closed`] reports the end.
    pub fn close(&mut self, now: Instant) {
        self.now = now;
        if self.stop_recovery(now) {
            return;
        }
        self.wire
            .close(ReplyCode::REPLY_SUCCESS, "Normal shutdown", now);
        self.absorb();
    }
}
