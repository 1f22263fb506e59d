//! The channel operations, each a typed request with a typed result: what
//! every adapter presents under the same name.

use amqp_protocol::{
    basic, channel as chan, confirm, connection, exchange, queue, tx, BasicProperties, FieldTable,
    LongStr, Method, ShortStr,
};

use super::consumers::generated_tag;
use super::{
    ChannelRef, ChannelSettings, Client, ConsumerId, ConsumerMode, Kind, NextDelivery, Pending,
    Prefetch, Reply, Settle,
};
use crate::core::types::{
    short, unexpected, ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions,
    GetMessage, NackOptions, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions,
};
use crate::error::Error;

fn method(channel: u16, reply: Reply) -> Result<Method, Error> {
    match reply {
        Reply::Method(m, _) => Ok(m),
        Reply::Channel(_) | Reply::Count(_) => Err(Error::Misuse(format!(
            "channel {channel}: a reply without its method"
        ))),
    }
}

fn unit(channel: u16, reply: Reply) -> Result<(), Error> {
    method(channel, reply).map(|_| ())
}

fn declare_ok(channel: u16, reply: Reply) -> Result<QueueDeclareOk, Error> {
    QueueDeclareOk::from_reply(channel, method(channel, reply)?)
}

fn message_count(channel: u16, reply: Reply) -> Result<u32, Error> {
    match method(channel, reply)? {
        Method::QueuePurgeOk(ok) => Ok(ok.message_count),
        Method::QueueDeleteOk(ok) => Ok(ok.message_count),
        other => Err(unexpected(channel, &other)),
    }
}

fn get(channel: u16, reply: Reply) -> Result<Option<GetMessage>, Error> {
    match reply {
        Reply::Method(Method::BasicGetOk(ok), Some(content)) => Ok(Some(GetMessage {
            message_count: ok.message_count,
            delivery: Delivery {
                channel,
                consumer_tag: ShortStr::new(),
                delivery_tag: ok.delivery_tag,
                redelivered: ok.redelivered,
                exchange: ok.exchange,
                routing_key: ok.routing_key,
                properties: content.properties,
                body: content.body,
            },
        })),
        Reply::Method(Method::BasicGetEmpty(_), _) => Ok(None),
        other => Err(unexpected(channel, &method(channel, other)?)),
    }
}

fn flow(channel: u16, reply: Reply) -> Result<bool, Error> {
    match method(channel, reply)? {
        Method::ChannelFlowOk(ok) => Ok(ok.active),
        other => Err(unexpected(channel, &other)),
    }
}

fn count(channel: u16, reply: Reply) -> Result<usize, Error> {
    match reply {
        Reply::Count(n) => Ok(n),
        other => method(channel, other).map(|_| 0),
    }
}

/// The arguments of basic.publish that every adapter's `basic_publish`
/// takes.
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

impl Client {
    // ------------------------------------------------------------ exchanges

    /// exchange.declare of `exchange` of type `kind`.
    pub fn exchange_declare(
        &mut self,
        channel: ChannelRef,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
    ) -> Result<Pending<()>, Error> {
        let m = options.method(exchange, kind)?;
        self.call(channel, m, Kind::Plain, unit)
    }

    /// exchange.delete.
    pub fn exchange_delete(
        &mut self,
        channel: ChannelRef,
        exchange: &str,
        options: ExchangeDeleteOptions,
    ) -> Result<Pending<()>, Error> {
        let m = exchange::Delete {
            exchange: short(exchange)?,
            if_unused: options.if_unused,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, unit)
    }

    /// exchange.bind: route from `source` to `destination`.
    pub fn exchange_bind(
        &mut self,
        channel: ChannelRef,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<Pending<()>, Error> {
        let m = exchange::Bind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, unit)
    }

    /// exchange.unbind.
    pub fn exchange_unbind(
        &mut self,
        channel: ChannelRef,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<Pending<()>, Error> {
        let m = exchange::Unbind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, unit)
    }

    // --------------------------------------------------------------- queues

    /// queue.declare; `""` asks the broker for a name.
    pub fn queue_declare(
        &mut self,
        channel: ChannelRef,
        queue: &str,
        options: QueueDeclareOptions,
    ) -> Result<Pending<QueueDeclareOk>, Error> {
        let m = options.method(queue)?;
        self.call(channel, m, Kind::Plain, declare_ok)
    }

    /// queue.bind.
    pub fn queue_bind(
        &mut self,
        channel: ChannelRef,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<Pending<()>, Error> {
        let m = queue::Bind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, unit)
    }

    /// queue.unbind.
    pub fn queue_unbind(
        &mut self,
        channel: ChannelRef,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<Pending<()>, Error> {
        let m = queue::Unbind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, unit)
    }

    /// queue.purge: the number of messages purged.
    pub fn queue_purge(&mut self, channel: ChannelRef, queue: &str) -> Result<Pending<u32>, Error> {
        let m = queue::Purge {
            queue: short(queue)?,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, message_count)
    }

    /// queue.delete: the number of messages deleted with it.
    pub fn queue_delete(
        &mut self,
        channel: ChannelRef,
        queue: &str,
        options: QueueDeleteOptions,
    ) -> Result<Pending<u32>, Error> {
        let m = queue::Delete {
            queue: short(queue)?,
            if_unused: options.if_unused,
            if_empty: options.if_empty,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, message_count)
    }

    // ---------------------------------------------------------------- basic

    /// basic.qos.
    pub fn basic_qos(
        &mut self,
        channel: ChannelRef,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    ) -> Result<Pending<()>, Error> {
        let m = basic::Qos {
            prefetch_size,
            prefetch_count,
            global,
        };
        let prefetch = Prefetch {
            size: prefetch_size,
            count: prefetch_count,
        };
        self.call(channel, m.into(), Kind::Qos(prefetch, global), unit)
    }

    /// basic.consume: registers the consumer (its tag generated when
    /// `options.consumer_tag` is empty) and asks the broker; the reply is
    /// its tag. Its deliveries reach the application as `mode` says.
    pub fn basic_consume(
        &mut self,
        channel: ChannelRef,
        queue: &str,
        options: ConsumeOptions,
        mode: ConsumerMode,
    ) -> Result<(ConsumerId, Pending<String>), Error> {
        self.check(channel)?;
        let tag = if options.consumer_tag.is_empty() {
            generated_tag()
        } else {
            options.consumer_tag
        };
        let tag_text = tag;
        let tag = short(&tag_text)?;
        let stream = options.arguments.get("x-stream-offset").is_some();
        let queue = short(queue)?;
        let m = basic::Consume {
            queue: queue.clone(),
            consumer_tag: tag.clone(),
            no_local: options.no_local,
            no_ack: options.no_ack,
            exclusive: options.exclusive,
            arguments: options.arguments.clone(),
            ..Default::default()
        };
        let options = ConsumeOptions {
            consumer_tag: tag_text,
            ..options
        };
        let id = self
            .consumers
            .add(channel, tag, queue, options, stream, mode)?;
        match self.call(
            channel,
            m.into(),
            Kind::Consume(id),
            |channel, reply| match method(channel, reply)? {
                Method::BasicConsumeOk(ok) => Ok(ok.consumer_tag.to_string_lossy().into_owned()),
                other => Err(unexpected(channel, &other)),
            },
        ) {
            Ok(p) => Ok((id, p)),
            Err(e) => {
                self.forget(id);
                Err(e)
            }
        }
    }

    /// basic.cancel of the consumer tagged `consumer_tag`: a callback
    /// consumer is forgotten at cancel-ok; a buffered one still yields what
    /// it holds, then ends.
    pub fn basic_cancel(
        &mut self,
        channel: ChannelRef,
        consumer_tag: &str,
    ) -> Result<Pending<()>, Error> {
        let tag = short(consumer_tag)?;
        let consumer = self.consumers.find(channel.number(), tag.as_bytes());
        let m = basic::Cancel {
            consumer_tag: tag,
            no_wait: false,
        };
        let kind = Kind::Cancel {
            consumer,
            requeue: false,
        };
        self.call(channel, m.into(), kind, unit)
    }

    /// Cancels consumer `id` and requeues (basic.nack with requeue) every
    /// message it buffered and its application did not take, deliveries
    /// that arrive until cancel-ok included; the reply is how many (0 for a
    /// no-ack consumer, whose messages cannot go back). A stream queue's
    /// deliveries are never nacked (a stream closes the connection for it)
    /// and not counted: they stay in the stream.
    pub fn cancel_consumer(&mut self, id: ConsumerId) -> Result<Pending<usize>, Error> {
        let Some(c) = self.consumers.get(id) else {
            return Err(Error::Misuse("the consumer has ended".into()));
        };
        let channel = c.channel;
        if let Err(e) = self.check(channel) {
            self.forget(id);
            return Err(e);
        }
        let m = basic::Cancel {
            consumer_tag: c.tag.clone(),
            no_wait: false,
        };
        // Reading must go on until cancel-ok, whatever the buffer holds.
        self.consumers.unlimit(id);
        let kind = Kind::Cancel {
            consumer: Some(id),
            requeue: true,
        };
        self.call(channel, m.into(), kind, count)
    }

    /// The application let go of consumer `id` (its handle was dropped):
    /// what it buffered is requeued, what still arrives too, and it is
    /// cancelled.
    pub fn drop_consumer(&mut self, id: ConsumerId) {
        let Some(c) = self.consumers.get_mut(id) else {
            return;
        };
        let channel = c.channel;
        if c.ended.is_some() || self.channel_error(channel).is_some() {
            self.forget(id);
            return;
        }
        let Some(c) = self.consumers.get_mut(id) else {
            return;
        };
        c.orphaned = true;
        let (no_ack, stream, tag) = (c.no_ack, c.stream, c.tag.clone());
        let buffered = self.consumers.drain(id);
        if !no_ack && !stream {
            self.requeue(channel, buffered.iter());
        }
        let m = basic::Cancel {
            consumer_tag: tag,
            no_wait: false,
        };
        let kind = Kind::Cancel {
            consumer: Some(id),
            requeue: true,
        };
        match self.call(channel, m.into(), kind, count) {
            Ok(p) => self.abandon(p.request()),
            Err(_) => {
                self.forget(id);
            }
        }
    }

    /// The next delivery of buffered consumer `id`, or that it ended.
    pub fn next_delivery(&mut self, id: ConsumerId) -> NextDelivery {
        if let Some(d) = self.consumers.pop(id) {
            return NextDelivery::Delivery(d);
        }
        let Some(c) = self.consumers.get(id) else {
            return NextDelivery::End(self.closed.clone());
        };
        let channel = c.channel;
        let ended = match &c.ended {
            Some(e) => Some(e.clone()),
            None => self.channel_error(channel).map(Some),
        };
        match ended {
            Some(e) => {
                self.forget(id);
                NextDelivery::End(e)
            }
            None => NextDelivery::Empty,
        }
    }

    /// How many deliveries consumer `id` holds that its application has not
    /// taken.
    pub fn buffered_len(&self, id: ConsumerId) -> usize {
        self.consumers.get(id).map_or(0, |c| c.queue.len())
    }

    /// The tags of `channel`'s consumers (those the broker may still deliver
    /// to: consume-ok awaited or received, cancel-ok not yet).
    pub fn consumer_tags(&self, channel: ChannelRef) -> Vec<String> {
        if self.channel_error(channel).is_some() {
            return Vec::new();
        }
        self.consumers
            .tags(channel.number())
            .iter()
            .map(|t| t.to_string_lossy().into_owned())
            .collect()
    }

    /// The queue consumer `id` reads and how it was asked for (its tag
    /// filled in, generated or not): what registering it again takes.
    pub fn consumer_options(&self, id: ConsumerId) -> Option<(String, ConsumeOptions)> {
        let c = self.consumers.get(id)?;
        Some((
            c.queue_name.to_string_lossy().into_owned(),
            c.options.clone(),
        ))
    }

    /// The tag of consumer `id`.
    pub fn consumer_tag(&self, id: ConsumerId) -> Option<&ShortStr> {
        self.consumers.get(id).map(|c| &c.tag)
    }

    /// The live callback consumers ([`ConsumerMode::Events`]) of `channel`,
    /// with their tags.
    pub fn event_consumers(&self, channel: ChannelRef) -> Vec<(ConsumerId, ShortStr)> {
        self.consumers.event_consumers(channel)
    }

    /// Whether a consumer of `channel` has deliveries its application has
    /// not taken yet.
    pub fn has_buffered(&self, channel: ChannelRef) -> bool {
        self.consumers.has_buffered(channel.number())
    }

    /// Whether any consumer has deliveries its application has not taken.
    pub fn any_buffered(&self) -> bool {
        self.consumers.any_buffered()
    }

    /// basic.publish of `body` to `exchange` with `routing_key`. In confirm
    /// mode, returns the publish sequence number, whose outcome `settle`
    /// says what becomes of.
    #[allow(clippy::too_many_arguments)]
    pub fn basic_publish(
        &mut self,
        channel: ChannelRef,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
        settle: Settle,
    ) -> Result<Option<u64>, Error> {
        let m = publish_method(exchange, routing_key, mandatory)?;
        self.publish_method(channel, m, properties, body, settle)
    }

    /// basic.publish with every argument of the method under the caller's
    /// control (`immediate`, which RabbitMQ refuses with 540, included).
    pub fn publish_method(
        &mut self,
        channel: ChannelRef,
        method: basic::Publish,
        properties: &BasicProperties,
        body: &[u8],
        settle: Settle,
    ) -> Result<Option<u64>, Error> {
        self.check(channel)?;
        if self.deferring() {
            return self.defer_publish(channel, method, properties, body, settle);
        }
        let number = channel.number();
        let keeps = self.keeps_publishes();
        let Some(c) = self.channels.get_mut(&number) else {
            return Err(Error::ChannelClosedByClient { channel: number });
        };
        if c.closing_to_reopen {
            return self.defer_publish(channel, method, properties, body, settle);
        }
        let keep = keeps && c.confirms.enabled;
        let (_, wire, frames) = self
            .wire
            .publish_keeping(number, method, properties, body, keep)?;
        if c.settings.transactional {
            c.tx_dirty = true;
        }
        let mut seq = wire;
        if let Some(wire) = wire {
            if c.confirms.queued == c.confirms.staged {
                self.unstaged.push(number);
            }
            let s = c.confirms.next_seq();
            c.confirms.published(s, wire, settle, frames, self.now);
            seq = Some(s);
        }
        self.absorb();
        Ok(seq)
    }

    /// Whether `channel` is in confirm mode (confirm.select submitted).
    pub fn is_confirm_mode(&self, channel: ChannelRef) -> bool {
        self.channel(channel).is_some_and(|c| c.confirms.enabled)
    }

    /// `Ok` when a publish on `channel` would get a sequence number to wait
    /// on: why the channel closed, or [`Error::Misuse`] when confirm mode is
    /// off (for `publish_with_confirm`).
    pub fn require_confirm_mode(&self, channel: ChannelRef) -> Result<(), Error> {
        self.check(channel)?;
        if self.is_confirm_mode(channel) {
            Ok(())
        } else {
            Err(Error::Misuse(
                "publish_with_confirm needs confirm_delivery() first".into(),
            ))
        }
    }

    /// The outcome of publish `seq` of `channel` made with
    /// [`Settle::Take`]: `None` while the broker has not answered. `Ok` for
    /// an ack, [`Error::Nacked`], [`Error::Unroutable`] for a mandatory
    /// message returned then acked, or why the channel closed first.
    pub fn take_confirm(&mut self, channel: ChannelRef, seq: u64) -> Option<Result<(), Error>> {
        let closed = self.channel_error(channel);
        let Some(c) = self.channel_mut(channel) else {
            return Some(Err(closed.unwrap_or(Error::ChannelClosedByClient {
                channel: channel.number(),
            })));
        };
        match c.confirms.take(seq)? {
            Some(r) => Some(r),
            None => Some(Err(closed.unwrap_or_else(|| {
                Error::Misuse(format!("no outcome for publish {seq}"))
            }))),
        }
    }

    /// Nobody will take the outcome of publish `seq` of `channel`.
    pub fn abandon_confirm(&mut self, channel: ChannelRef, seq: u64) {
        if let Some(c) = self.channel_mut(channel) {
            c.confirms.abandon(seq);
        }
    }

    /// Whether publish `seq` of `channel` has left the core for the socket
    /// (its confirm will come and wake the reader).
    pub fn is_staged(&self, channel: ChannelRef, seq: u64) -> bool {
        self.channel(channel)
            .is_some_and(|c| c.confirms.is_staged(seq))
    }

    /// How many publishes await their confirm, on all channels.
    pub fn confirms_outstanding(&self) -> usize {
        self.channels
            .values()
            .map(|c| c.confirms.outstanding())
            .sum()
    }

    /// Whether output the application queues now will soon be followed by
    /// more (publishes while confirms are due, acks while an acknowledging
    /// consumer has deliveries buffered): an adapter may then hold it back
    /// for one write per batch.
    pub fn batching_likely(&self) -> bool {
        self.channels.values().any(|c| c.confirms.due()) || self.consumers.any_acking_buffered()
    }

    /// basic.get; `None` when the queue is empty.
    pub fn basic_get(
        &mut self,
        channel: ChannelRef,
        queue: &str,
        no_ack: bool,
    ) -> Result<Pending<Option<GetMessage>>, Error> {
        let m = basic::Get {
            queue: short(queue)?,
            no_ack,
            ..Default::default()
        };
        self.call(channel, m.into(), Kind::Plain, get)
    }

    /// `channel`'s settings as the broker confirmed them (QoS, confirm and
    /// transaction modes); `None` for a closed or stale channel.
    pub fn channel_settings(&self, channel: ChannelRef) -> Option<ChannelSettings> {
        if self.channel_error(channel).is_some() {
            return None;
        }
        self.channel(channel).map(|c| ChannelSettings {
            confirm: c.confirms.enabled,
            ..c.settings
        })
    }

    /// The broker's tag for an acknowledgement of the application's `tag`
    /// on `channel` (see [`Error::StaleDeliveryTag`]).
    fn to_wire_tag(&self, channel: ChannelRef, tag: u64, multiple: bool) -> Result<u64, Error> {
        match self.channel(channel) {
            Some(c) => c.tags.wire(channel.number(), tag, multiple),
            None => Ok(tag),
        }
    }

    /// The same, `None` for a stale tag.
    pub(super) fn wire_tag(&self, channel: ChannelRef, tag: u64, multiple: bool) -> Option<u64> {
        self.to_wire_tag(channel, tag, multiple).ok()
    }

    /// basic.ack (no reply).
    pub fn basic_ack(
        &mut self,
        channel: ChannelRef,
        delivery_tag: u64,
        multiple: bool,
    ) -> Result<(), Error> {
        let wire_tag = self.to_wire_tag(channel, delivery_tag, multiple)?;
        let m = basic::Ack {
            delivery_tag: wire_tag,
            multiple,
        };
        self.send(channel, m.into())?;
        self.acknowledged(channel, delivery_tag, multiple, true);
        Ok(())
    }

    /// basic.nack (no reply).
    pub fn basic_nack(
        &mut self,
        channel: ChannelRef,
        delivery_tag: u64,
        options: NackOptions,
    ) -> Result<(), Error> {
        let wire_tag = self.to_wire_tag(channel, delivery_tag, options.multiple)?;
        let m = basic::Nack {
            delivery_tag: wire_tag,
            multiple: options.multiple,
            requeue: options.requeue,
        };
        self.send(channel, m.into())?;
        self.acknowledged(channel, delivery_tag, options.multiple, false);
        Ok(())
    }

    /// basic.reject (no reply).
    pub fn basic_reject(
        &mut self,
        channel: ChannelRef,
        delivery_tag: u64,
        requeue: bool,
    ) -> Result<(), Error> {
        let wire_tag = self.to_wire_tag(channel, delivery_tag, false)?;
        let m = basic::Reject {
            delivery_tag: wire_tag,
            requeue,
        };
        self.send(channel, m.into())?;
        self.acknowledged(channel, delivery_tag, false, false);
        Ok(())
    }

    /// An ack (`ack`), nack or reject of the application's `tag` on
    /// `channel` went out: a transaction holds it, and a stream consumer's
    /// acknowledged offset (where a recovery resumes) moves on.
    fn acknowledged(&mut self, channel: ChannelRef, tag: u64, multiple: bool, ack: bool) {
        let Some(c) = self.channel_mut(channel) else {
            return;
        };
        if c.settings.transactional {
            c.tx_dirty = true;
        }
        if c.stream_tags.is_empty() {
            return;
        }
        let mut settled = Vec::new();
        if multiple {
            while let Some(&(t, id, offset)) = c.stream_tags.front() {
                if tag != 0 && t > tag {
                    break;
                }
                c.stream_tags.pop_front();
                settled.push((id, offset));
            }
        } else if let Some(i) = c.stream_tags.iter().position(|(t, _, _)| *t == tag) {
            if let Some((_, id, offset)) = c.stream_tags.remove(i) {
                settled.push((id, offset));
            }
        }
        if !ack {
            return;
        }
        for (id, offset) in settled {
            if let Some(c) = self.consumers.get_mut(id) {
                c.acked_offset = Some(c.acked_offset.map_or(offset, |o| o.max(offset)));
            }
        }
    }

    /// basic.recover (RabbitMQ supports `requeue = true` only).
    pub fn basic_recover(
        &mut self,
        channel: ChannelRef,
        requeue: bool,
    ) -> Result<Pending<()>, Error> {
        self.call(
            channel,
            basic::Recover { requeue }.into(),
            Kind::Plain,
            unit,
        )
    }

    /// confirm.select: from now on the broker acks or nacks every publish,
    /// and publishes get sequence numbers.
    pub fn confirm_delivery(&mut self, channel: ChannelRef) -> Result<Pending<()>, Error> {
        self.check(channel)?;
        if let Some(c) = self.channel_mut(channel) {
            c.confirms.enabled = true;
        }
        let m = confirm::Select { no_wait: false };
        self.call(channel, m.into(), Kind::Plain, unit)
    }

    /// tx.select.
    pub fn tx_select(&mut self, channel: ChannelRef) -> Result<Pending<()>, Error> {
        self.call(channel, tx::Select {}.into(), Kind::TxSelect, unit)
    }

    /// tx.commit; [`Error::TransactionLost`] when a recovery lost the
    /// transaction in progress (nothing is sent; the next one starts
    /// afresh).
    pub fn tx_commit(&mut self, channel: ChannelRef) -> Result<Pending<()>, Error> {
        if let Some(c) = self.channel_mut(channel) {
            if std::mem::take(&mut c.tx_lost) {
                c.tx_dirty = false;
                return Err(Error::TransactionLost {
                    channel: channel.number(),
                });
            }
        }
        self.call(channel, tx::Commit {}.into(), Kind::TxEnd, unit)
    }

    /// tx.rollback (of a transaction a recovery lost: nothing left to roll
    /// back, and the channel goes on).
    pub fn tx_rollback(&mut self, channel: ChannelRef) -> Result<Pending<()>, Error> {
        if let Some(c) = self.channel_mut(channel) {
            c.tx_lost = false;
        }
        self.call(channel, tx::Rollback {}.into(), Kind::TxEnd, unit)
    }

    /// channel.flow: asks the broker to stop (false) or resume (true)
    /// deliveries; the reply is the broker's answer. RabbitMQ refuses
    /// `false` with 540 not-implemented.
    pub fn flow(&mut self, channel: ChannelRef, active: bool) -> Result<Pending<bool>, Error> {
        self.call(channel, chan::Flow { active }.into(), Kind::Plain, flow)
    }

    /// connection.update-secret: a refreshed credential.
    pub fn update_secret(&mut self, new_secret: &[u8], reason: &str) -> Result<Pending<()>, Error> {
        let m = connection::UpdateSecret {
            new_secret: LongStr::from(new_secret),
            reason: short(reason)?,
        };
        self.call(ChannelRef::CONNECTION, m.into(), Kind::Plain, unit)
    }
}
