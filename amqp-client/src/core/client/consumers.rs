//! The consumer registry: every consumer of the connection by id and by
//! (channel, tag), its no-ack mode, the deliveries it was given and its
//! application has not taken yet, and how it ends.

use std::collections::{HashMap, VecDeque};

use amqp_protocol::ShortStr;

use super::ChannelRef;
use crate::core::types::{ConsumeOptions, Delivery};
use crate::error::Error;

/// Identifies one consumer of a connection (its tag names it on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerId(pub(super) u64);

/// How a consumer's deliveries reach the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerMode {
    /// As [`Event::Delivery`](super::Event::Delivery), in arrival order with
    /// the connection's other events: for callbacks.
    Events,
    /// Buffered in the core, taken with
    /// [`Client::next_delivery`](super::Client::next_delivery): for
    /// iterators and streams. With a limit, [`Client::wants_input`](super::Client::wants_input)
    /// turns false while the buffer holds that many, so that the adapter
    /// stops reading until the application catches up.
    Buffer {
        /// Deliveries buffered before reading pauses (`None`: no limit).
        limit: Option<usize>,
    },
}

/// What [`Client::next_delivery`](super::Client::next_delivery) found.
// Returned by value and matched at once: boxing the delivery would cost an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum NextDelivery {
    /// The oldest delivery not yet taken.
    Delivery(Delivery),
    /// None now; [`Ready::Consumer`](super::Ready::Consumer) says when that
    /// changes.
    Empty,
    /// The consumer ended: cancelled by the application (`None`), or the
    /// error that ended it (cancelled by the broker, channel or connection
    /// closed). It is forgotten.
    End(Option<Error>),
}

pub(super) struct Consumer {
    pub(super) channel: ChannelRef,
    pub(super) tag: ShortStr,
    /// The queue it consumes.
    pub(super) queue_name: ShortStr,
    /// How it was asked for (its tag filled in): what registering it again
    /// on a recovered channel takes.
    pub(super) options: ConsumeOptions,
    pub(super) no_ack: bool,
    /// It reads a stream queue (its `x-stream-offset` argument): its
    /// deliveries are never nacked or rejected, which a stream answers by
    /// closing the connection (540 not-implemented).
    pub(super) stream: bool,
    pub(super) mode: ConsumerMode,
    pub(super) queue: VecDeque<Delivery>,
    /// At or above its limit (counted in [`Consumers::full`]).
    full: bool,
    /// The consume-ok arrived.
    pub(super) active: bool,
    /// How it ended (`Some(None)`: cancelled by the application); what is
    /// buffered is still taken first.
    pub(super) ended: Option<Option<Error>>,
    /// Its application handle is gone: what arrives is requeued.
    pub(super) orphaned: bool,
    /// A stream consumer: the offset of the last delivery its application
    /// acknowledged (a recovery resumes after it).
    pub(super) acked_offset: Option<i64>,
}

#[derive(Default)]
pub(super) struct Consumers {
    by_id: HashMap<ConsumerId, Consumer>,
    /// Live tags per channel number.
    by_tag: HashMap<u16, HashMap<ShortStr, ConsumerId>>,
    next_id: u64,
    /// Consumers with a buffer limit ...
    bounded: usize,
    /// ... and those at it: reading pauses while any is.
    full: usize,
    /// Deliveries buffered, over all consumers, and their body bytes.
    held: Held,
}

/// Deliveries the core holds for the application and their body bytes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Held {
    pub(super) count: usize,
    pub(super) bytes: usize,
}

impl Held {
    pub(super) fn add(&mut self, d: &Delivery) {
        self.count += 1;
        self.bytes += d.body.len();
    }

    pub(super) fn sub(&mut self, d: &Delivery) {
        self.count -= 1;
        self.bytes -= d.body.len();
    }
}

/// Whether `delivery` comes from a stream queue: RabbitMQ puts its offset
/// in an `x-stream-offset` header on each.
pub(super) fn from_stream(delivery: &Delivery) -> bool {
    delivery
        .properties
        .headers
        .as_ref()
        .is_some_and(|h| h.get("x-stream-offset").is_some())
}

/// Consumer tags made up for consumers that asked for none.
static TAG_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A consumer tag unique to this process.
pub(super) fn generated_tag() -> String {
    format!(
        "amqp-client.{}.{}",
        std::process::id(),
        TAG_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

impl Consumers {
    /// Registers a consumer of `channel` under `tag` (not yet confirmed by
    /// consume-ok).
    pub(super) fn add(
        &mut self,
        channel: ChannelRef,
        tag: ShortStr,
        queue_name: ShortStr,
        options: ConsumeOptions,
        stream: bool,
        mode: ConsumerMode,
    ) -> Result<ConsumerId, Error> {
        let no_ack = options.no_ack;
        let tags = self.by_tag.entry(channel.number).or_default();
        if tags.contains_key(tag.as_bytes()) {
            return Err(Error::DuplicateConsumerTag {
                consumer_tag: tag.to_string_lossy().into_owned(),
            });
        }
        self.next_id += 1;
        let id = ConsumerId(self.next_id);
        if matches!(mode, ConsumerMode::Buffer { limit: Some(_) }) {
            self.bounded += 1;
        }
        self.by_id.insert(
            id,
            Consumer {
                channel,
                tag: tag.clone(),
                queue_name,
                options,
                no_ack,
                stream,
                mode,
                queue: VecDeque::new(),
                full: false,
                active: false,
                ended: None,
                orphaned: false,
                acked_offset: None,
            },
        );
        tags.insert(tag, id);
        Ok(id)
    }

    pub(super) fn get(&self, id: ConsumerId) -> Option<&Consumer> {
        self.by_id.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: ConsumerId) -> Option<&mut Consumer> {
        self.by_id.get_mut(&id)
    }

    /// The live consumer of channel number `channel` with `tag`.
    pub(super) fn find(&self, channel: u16, tag: &[u8]) -> Option<ConsumerId> {
        self.by_tag.get(&channel)?.get(tag).copied()
    }

    /// The consumers of `channel`.
    pub(super) fn of_channel(&self, channel: ChannelRef) -> Vec<ConsumerId> {
        let mut ids: Vec<ConsumerId> = self
            .by_id
            .iter()
            .filter(|(_, c)| c.channel == channel)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Forgets a consumer; returns it.
    pub(super) fn remove(&mut self, id: ConsumerId) -> Option<Consumer> {
        let c = self.by_id.remove(&id)?;
        self.unlink(c.channel.number, &c.tag, id);
        if matches!(c.mode, ConsumerMode::Buffer { limit: Some(_) }) {
            self.bounded -= 1;
        }
        if c.full {
            self.full -= 1;
        }
        for d in &c.queue {
            self.held.sub(d);
        }
        Some(c)
    }

    /// The tag no longer names this consumer on the wire (cancelled): a new
    /// consumer may take it while this one's buffer is still read.
    pub(super) fn release_tag(&mut self, id: ConsumerId) {
        if let Some(c) = self.by_id.get(&id) {
            let (number, tag) = (c.channel.number, c.tag.clone());
            self.unlink(number, &tag, id);
        }
    }

    fn unlink(&mut self, channel: u16, tag: &ShortStr, id: ConsumerId) {
        let Some(tags) = self.by_tag.get_mut(&channel) else {
            return;
        };
        if tags.get(tag.as_bytes()) == Some(&id) {
            tags.remove(tag.as_bytes());
            if tags.is_empty() {
                self.by_tag.remove(&channel);
            }
        }
    }

    /// Buffers a delivery (buffered consumers).
    pub(super) fn push(&mut self, id: ConsumerId, delivery: Delivery) {
        let Some(c) = self.by_id.get_mut(&id) else {
            return;
        };
        self.held.add(&delivery);
        c.queue.push_back(delivery);
        if let ConsumerMode::Buffer { limit: Some(l) } = c.mode {
            if !c.full && c.queue.len() >= l {
                c.full = true;
                self.full += 1;
            }
        }
    }

    /// Takes the oldest buffered delivery.
    pub(super) fn pop(&mut self, id: ConsumerId) -> Option<Delivery> {
        let c = self.by_id.get_mut(&id)?;
        let d = c.queue.pop_front()?;
        self.held.sub(&d);
        if c.full {
            if let ConsumerMode::Buffer { limit: Some(l) } = c.mode {
                if c.queue.len() < l {
                    c.full = false;
                    self.full -= 1;
                }
            }
        }
        Some(d)
    }

    /// Queue `old` is now called `new` (a server-named queue declared again
    /// by a recovery).
    pub(super) fn rename_queue(&mut self, old: &ShortStr, new: &ShortStr) {
        for c in self.by_id.values_mut() {
            if c.queue_name == *old {
                c.queue_name = new.clone();
            }
        }
    }

    /// Takes every buffered delivery.
    pub(super) fn drain(&mut self, id: ConsumerId) -> VecDeque<Delivery> {
        let Some(c) = self.by_id.get_mut(&id) else {
            return VecDeque::new();
        };
        if c.full {
            c.full = false;
            self.full -= 1;
        }
        for d in &c.queue {
            self.held.sub(d);
        }
        std::mem::take(&mut c.queue)
    }

    /// Deliveries buffered over all consumers.
    pub(super) fn held(&self) -> Held {
        self.held
    }

    /// The tags of the live consumers of channel number `channel`.
    pub(super) fn tags(&self, channel: u16) -> Vec<ShortStr> {
        let mut tags: Vec<ShortStr> = self
            .by_tag
            .get(&channel)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        tags.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        tags
    }

    /// Whether a consumer of this connection reads `queue`.
    pub(super) fn any_on(&self, queue: &ShortStr) -> bool {
        self.by_id.values().any(|c| c.queue_name == *queue)
    }

    /// Whether any bounded consumer's buffer is at its limit.
    pub(super) fn any_full(&self) -> bool {
        self.full > 0
    }

    /// Whether any consumer has a buffer limit.
    pub(super) fn any_bounded(&self) -> bool {
        self.bounded > 0
    }

    /// The consumer ended, or is being cancelled: its buffer (still read by
    /// its application, or about to be requeued) no longer holds reading
    /// back, which the cancel-ok it waits for may need.
    pub(super) fn unlimit(&mut self, id: ConsumerId) {
        if let Some(c) = self.by_id.get_mut(&id) {
            if let ConsumerMode::Buffer { limit: Some(_) } = c.mode {
                c.mode = ConsumerMode::Buffer { limit: None };
                self.bounded -= 1;
            }
            if c.full {
                c.full = false;
                self.full -= 1;
            }
        }
    }

    /// Whether a consumer of channel number `channel` has deliveries buffered.
    pub(super) fn has_buffered(&self, channel: u16) -> bool {
        self.by_id
            .values()
            .any(|c| c.channel.number == channel && !c.queue.is_empty())
    }

    /// Whether any acknowledging consumer has deliveries buffered.
    pub(super) fn any_acking_buffered(&self) -> bool {
        self.by_id
            .values()
            .any(|c| !c.no_ack && !c.queue.is_empty())
    }

    /// Whether any consumer has deliveries buffered.
    pub(super) fn any_buffered(&self) -> bool {
        self.by_id.values().any(|c| !c.queue.is_empty())
    }

    /// The live callback consumers of `channel`, as (id, tag).
    pub(super) fn event_consumers(&self, channel: ChannelRef) -> Vec<(ConsumerId, ShortStr)> {
        let mut v: Vec<(ConsumerId, ShortStr)> = self
            .by_id
            .iter()
            .filter(|(_, c)| {
                c.channel == channel && c.mode == ConsumerMode::Events && c.ended.is_none()
            })
            .map(|(id, c)| (*id, c.tag.clone()))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }
}
