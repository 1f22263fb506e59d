//! What the wire machine reports, moved into the client's state: replies
//! completing requests, deliveries to their consumers, confirms to their
//! publishes, and the ends of channels and of the connection.

use amqp_protocol::{basic, ReplyCode};

use amqp_protocol::FieldValue;

use super::{ChannelRef, Client, ConsumerId, ConsumerMode, Event, Ready, Reply};
use crate::core::types::{Delivery, Returned};
use crate::core::{Content, Event as WireEvent, RequestId};
use crate::error::{BrokerClose, Error};

impl Client {
    /// Moves the wire machine's events into the client's state.
    pub(super) fn absorb(&mut self) {
        while let Some(event) = self.wire.poll_event() {
            if let WireEvent::ChannelClosed { channel, error, .. } = &event {
                if self.replay_channel == Some(*channel) && self.wire.is_open() {
                    // The replay's channel: closed when done, or by a
                    // refusal (its request's failure says which).
                    self.replay_channel = self.is_recovering().then_some(*channel);
                    if let WireEvent::ChannelClosed { failed, error, .. } = event {
                        for r in failed {
                            self.complete(r, Err(error.clone()));
                        }
                    }
                    continue;
                }
                let reopening = self
                    .channels
                    .get(channel)
                    .is_some_and(|c| c.closing_to_reopen);
                if reopening && self.wire.is_open() {
                    if let WireEvent::ChannelClosed {
                        channel, failed, ..
                    } = event
                    {
                        self.reopen(channel, failed);
                    }
                    continue;
                }
                if self.wire.is_closed() && self.recovers_from(error) {
                    if let WireEvent::ChannelClosed {
                        channel, failed, ..
                    } = event
                    {
                        self.channel_lost(channel, failed);
                    }
                    continue;
                }
            }
            self.absorb_one(event);
        }
    }

    pub(super) fn current(&self, number: u16) -> ChannelRef {
        let generation = self.channels.get(&number).map_or(0, |c| c.generation);
        ChannelRef { number, generation }
    }

    pub(super) fn absorb_one(&mut self, event: WireEvent) {
        match event {
            WireEvent::Connected {
                server_properties, ..
            } => {
                self.server_capabilities =
                    crate::core::ServerCapabilities::from_server_properties(&server_properties);
                self.server_properties = server_properties;
                if self.is_recovering() {
                    return self.reconnected_handshake();
                }
                self.connected = true;
                self.out.event(Event::Connected);
                self.out.ready(Ready::State);
            }
            WireEvent::Reply {
                request,
                method,
                content,
                ..
            } => self.complete(request, Ok(Reply::Method(method, content))),
            WireEvent::Sent { .. } => {}
            WireEvent::Delivery {
                channel,
                deliver,
                content,
            } => self.deliver(channel, deliver, content),
            WireEvent::Return {
                channel,
                method,
                content,
            } => {
                let reason = BrokerClose {
                    code: ReplyCode(method.reply_code),
                    text: method.reply_text.to_string_lossy().into_owned(),
                    method: None,
                };
                let ch = self.current(channel);
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.confirms.returned(reason.clone());
                }
                self.out.event(Event::Returned {
                    channel: ch,
                    returned: Returned {
                        channel,
                        reason,
                        exchange: method.exchange.to_string_lossy().into_owned(),
                        routing_key: method.routing_key.to_string_lossy().into_owned(),
                        content,
                    },
                });
            }
            WireEvent::Confirm {
                channel,
                delivery_tag,
                multiple,
                ack,
            } => {
                let ch = self.current(channel);
                let retry = if ack { None } else { self.nack_retries() };
                let Some(c) = self.channels.get_mut(&channel) else {
                    return;
                };
                let (up_to, retried) =
                    c.confirms
                        .confirm(delivery_tag, multiple, ack, retry, &mut self.settled);
                if retried {
                    self.schedule_nack_retry();
                }
                self.out.ready(Ready::Confirms {
                    channel: ch,
                    up_to,
                    multiple,
                });
                self.report_settled(ch);
            }
            WireEvent::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                let ch = self.current(channel);
                let Some(id) = self.consumers.find(channel, consumer_tag.as_bytes()) else {
                    return;
                };
                self.consumers.release_tag(id);
                let Some(c) = self.consumers.get_mut(id) else {
                    return;
                };
                let forget = c.orphaned || c.mode == ConsumerMode::Events;
                if !forget {
                    c.ended.get_or_insert(Some(Error::ConsumerCancelled {
                        consumer_tag: consumer_tag.clone(),
                    }));
                    self.consumers.unlimit(id);
                    self.out.ready(Ready::Consumer(id));
                }
                self.out.event(Event::ConsumerCancelled {
                    channel: ch,
                    consumer: id,
                    consumer_tag,
                });
                if forget {
                    self.forget(id);
                }
            }
            WireEvent::Flow { channel, active } => {
                let ch = self.current(channel);
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.flow_active = active;
                }
                self.out.event(Event::Flow {
                    channel: ch,
                    active,
                });
            }
            WireEvent::Blocked { reason } => self.out.event(Event::Blocked { reason }),
            WireEvent::Unblocked => self.out.event(Event::Unblocked),
            WireEvent::ChannelClosed {
                channel,
                error,
                failed,
            } => self.channel_closed(channel, error, failed),
            WireEvent::Closed { error } => {
                if self.recovers_from(&error) {
                    return self.connection_lost(error);
                }
                self.closed_for_good(error);
            }
        }
    }

    /// The connection is over: everything waiting fails with `error`.
    pub(super) fn closed_for_good(&mut self, error: Error) {
        // Channels a recovery kept (the wire closed its own already).
        let mut kept: Vec<u16> = self
            .channels
            .iter()
            .filter(|(_, c)| c.closed.is_none())
            .map(|(n, _)| *n)
            .collect();
        kept.sort_unstable();
        for n in kept {
            self.channel_closed(n, error.clone(), Vec::new());
        }
        self.closed = Some(error.clone());
        let requests: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.outcome.is_none())
            .map(|(id, _)| *id)
            .collect();
        for r in requests {
            self.complete(r, Err(error.clone()));
        }
        self.out.event(Event::Closed { error });
        self.out.ready(Ready::State);
    }

    pub(super) fn report_settled(&mut self, channel: ChannelRef) {
        for (sequence_number, outcome) in self.settled.drain(..) {
            self.out.event(Event::Confirmed {
                channel,
                sequence_number,
                outcome,
            });
        }
    }

    pub(super) fn deliver(&mut self, channel: u16, mut deliver: basic::Deliver, content: Content) {
        if self.wire.is_channel_closing(channel) {
            // Decoded with others before the channel started closing (a
            // stray delivery before it, say): discarded, as what arrives
            // after channel.close is; the broker requeues it.
            return;
        }
        let Some(id) = self
            .consumers
            .find(channel, deliver.consumer_tag.as_bytes())
        else {
            return self.unknown_consumer(channel, &deliver);
        };
        let wire_tag = deliver.delivery_tag;
        if let Some(c) = self.channels.get_mut(&channel) {
            deliver.delivery_tag = c.tags.delivered(wire_tag);
        }
        let Some(c) = self.consumers.get(id) else {
            return;
        };
        let ch = c.channel;
        if c.orphaned {
            let delivery_from_stream = c.stream
                || content
                    .properties
                    .headers
                    .as_ref()
                    .is_some_and(|h| h.get("x-stream-offset").is_some());
            if !c.no_ack && !delivery_from_stream {
                let nack = basic::Nack {
                    delivery_tag: wire_tag,
                    multiple: false,
                    requeue: true,
                };
                let _ = self.wire.call(channel, nack.into());
            }
            return;
        }
        if c.stream || content.properties.headers.is_some() {
            self.stream_delivery(channel, id, deliver.delivery_tag, &content);
        }
        let Some(c) = self.consumers.get(id) else {
            return;
        };
        let delivery = Delivery::new(channel, deliver, content);
        match c.mode {
            ConsumerMode::Events => self.out.event(Event::Delivery {
                channel: ch,
                consumer: id,
                delivery,
            }),
            ConsumerMode::Buffer { .. } => {
                self.consumers.push(id, delivery);
                self.out.ready(Ready::Consumer(id));
            }
        }
    }

    /// A delivery of consumer `id` with the application's `tag`: from a
    /// stream (its `x-stream-offset` header), its offset is kept until it
    /// is acknowledged (at once without acknowledgements), for the offset a
    /// recovery resumes from.
    fn stream_delivery(&mut self, channel: u16, id: ConsumerId, tag: u64, content: &Content) {
        let offset = match content
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("x-stream-offset"))
        {
            Some(FieldValue::I64(o) | FieldValue::SpecI64(o)) => *o,
            _ => return,
        };
        let Some(c) = self.consumers.get_mut(id) else {
            return;
        };
        if c.no_ack {
            c.acked_offset = Some(offset);
        } else if let Some(ch) = self.channels.get_mut(&channel) {
            ch.stream_tags.push_back((tag, id, offset));
        }
    }

    /// A delivery for a consumer tag the channel does not have (never
    /// registered, or after its cancel-ok): the broker broke the protocol.
    /// The channel is closed, which returns its unacknowledged messages to
    /// their queues rather than hold a prefetch slot, and its users learn
    /// why.
    fn unknown_consumer(&mut self, channel: u16, deliver: &basic::Deliver) {
        let tag = deliver.consumer_tag.to_string_lossy().into_owned();
        tracing::warn!(channel, consumer_tag = %tag, "delivery for a consumer tag the channel does not have: closing the channel");
        let text =
            format!("basic.deliver for consumer tag {tag:?}, which this channel does not have");
        let error = Error::UnknownConsumerTag {
            channel,
            consumer_tag: tag,
        };
        if self
            .wire
            .close_channel_for(channel, ReplyCode::UNEXPECTED_FRAME, &text, error)
            .is_ok()
        {
            self.absorb();
        }
    }

    pub(super) fn channel_closed(&mut self, number: u16, error: Error, failed: Vec<RequestId>) {
        let channel = self.current(number);
        for r in failed {
            self.complete(r, Err(error.clone()));
        }
        if let Some(c) = self.channels.get_mut(&number) {
            c.closed = Some(error.clone());
            c.confirms.fail_all(&error, &mut self.settled);
            self.out.ready(Ready::Confirms {
                channel,
                up_to: u64::MAX,
                multiple: true,
            });
        }
        self.report_settled(channel);
        for id in self.consumers.of_channel(channel) {
            self.consumers.release_tag(id);
            let Some(c) = self.consumers.get_mut(id) else {
                continue;
            };
            if c.orphaned || c.mode == ConsumerMode::Events {
                self.forget(id);
            } else {
                c.ended.get_or_insert(Some(error.clone()));
                self.consumers.unlimit(id);
                self.out.ready(Ready::Consumer(id));
            }
        }
        self.out.event(Event::ChannelClosed { channel, error });
        self.out.ready(Ready::State);
    }
}
