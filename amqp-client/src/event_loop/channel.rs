//! [`Channel`]'s methods: each channel operation is the core's of the same
//! name, its reply handed to the optional completion callback; and the
//! channel's callbacks (close, returns, confirms, broker cancels, flow).

use std::cell::RefCell;
use std::rc::Rc;

use amqp_protocol::{basic, BasicProperties, FieldTable};

use super::state::{completion, Channel, ChannelCallbacks, Connection};
use super::transport::typed_error;
use crate::core::{ChannelRef, Client, ConsumerMode, Pending, Settle};
use crate::error::Error;
use crate::types::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage,
    NackOptions, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions, Returned,
};

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id()).finish()
    }
}

impl Channel {
    /// Runs `op` on the core for this channel; its errors come back typed.
    fn with_core<T>(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut st = self.conn.st.borrow_mut();
        op(st.core()?, self.channel).map_err(typed_error)
    }

    /// Submits a request with `op`; `on_done` gets its outcome.
    fn call<T: 'static>(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Pending<T>, Error>,
        on_done: Option<impl FnOnce(Result<T, Error>) + 'static>,
    ) -> Result<(), Error> {
        let mut st = self.conn.st.borrow_mut();
        let pending = op(st.core()?, self.channel).map_err(typed_error)?;
        (st.callbacks.completions).insert(pending.request(), completion(pending, on_done));
        Ok(())
    }

    /// Sets one of the channel's callbacks.
    fn set_callback(&self, set: impl FnOnce(&mut ChannelCallbacks)) {
        let mut st = self.conn.st.borrow_mut();
        set(st.callbacks.channel(self.channel));
    }

    /// The channel id.
    pub fn id(&self) -> u16 {
        self.channel.number()
    }

    /// The connection.
    pub fn connection(&self) -> Connection {
        Connection {
            inner: self.conn.clone(),
        }
    }

    /// Whether the broker opened the channel and it is not closed.
    pub fn is_open(&self) -> bool {
        let st = self.conn.st.borrow();
        st.core
            .as_ref()
            .is_some_and(|c| c.is_channel_open(self.channel))
    }

    /// Whether the channel is closed (or its connection).
    pub fn is_closed(&self) -> bool {
        self.close_reason().is_some()
    }

    /// Why the channel (or its connection) closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        let st = self.conn.st.borrow();
        let error = match &st.core {
            Some(core) => core.channel_error(self.channel),
            None => st.close_reason(),
        };
        error.map(typed_error)
    }

    /// Whether the broker lets the channel publish (channel.flow from the
    /// broker; see [`on_flow`](Self::on_flow)).
    pub fn is_flow_active(&self) -> bool {
        let st = self.conn.st.borrow();
        st.core
            .as_ref()
            .is_some_and(|c| c.is_flow_active(self.channel))
    }

    /// Called once when the channel closes (by either side, or with its
    /// connection): [`Error::ChannelClosedByClient`] after
    /// [`close`](Self::close).
    pub fn on_close(&self, callback: impl FnOnce(&Channel, Error) + 'static) {
        self.set_callback(|c| c.on_close = Some(Box::new(callback)));
    }

    /// Called for each mandatory message the broker returns as unroutable.
    /// With confirms on, the publish's outcome ([`on_confirm`](Self::on_confirm))
    /// follows its return, as [`Error::Unroutable`].
    pub fn on_return(&self, callback: impl FnMut(&Channel, Returned) + 'static) {
        self.set_callback(|c| c.on_return = Some(Rc::new(RefCell::new(callback))));
    }

    /// Called once per publish made in confirm mode (see
    /// [`confirm_delivery`](Self::confirm_delivery)), with its sequence
    /// number and outcome: `Ok` when the broker acked it,
    /// [`Error::Nacked`], [`Error::Unroutable`] when a mandatory message
    /// was returned then acked, or the error that closed the channel first.
    /// Set it before publishing: an outcome that arrives while none is set
    /// is dropped.
    pub fn on_confirm(&self, callback: impl FnMut(&Channel, u64, Result<(), Error>) + 'static) {
        self.set_callback(|c| c.on_confirm = Some(Rc::new(RefCell::new(callback))));
    }

    /// Called with the consumer tag when the broker cancels a consumer
    /// (its queue was deleted, ...).
    pub fn on_cancel(&self, callback: impl FnMut(&Channel, &str) + 'static) {
        self.set_callback(|c| c.on_cancel = Some(Rc::new(RefCell::new(callback))));
    }

    /// Called when the broker asks to stop (`false`) or resume (`true`)
    /// publishing on this channel (already answered).
    pub fn on_flow(&self, callback: impl FnMut(&Channel, bool) + 'static) {
        self.set_callback(|c| c.on_flow = Some(Rc::new(RefCell::new(callback))));
    }

    // ------------------------------------------------------------ exchanges

    /// exchange.declare of `exchange` of type `kind`.
    pub fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(
            |c, ch| c.exchange_declare(ch, exchange, kind, options),
            on_done,
        )
    }

    /// exchange.delete.
    pub fn exchange_delete(
        &self,
        exchange: &str,
        options: ExchangeDeleteOptions,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.exchange_delete(ch, exchange, options), on_done)
    }

    /// exchange.bind: route from `source` to `destination`.
    pub fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(
            |c, ch| c.exchange_bind(ch, destination, source, routing_key, arguments),
            on_done,
        )
    }

    /// exchange.unbind.
    pub fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(
            |c, ch| c.exchange_unbind(ch, destination, source, routing_key, arguments),
            on_done,
        )
    }

    // --------------------------------------------------------------- queues

    /// queue.declare (`""` asks the broker for a name, which the reply
    /// carries).
    pub fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
        on_done: Option<impl FnOnce(Result<QueueDeclareOk, Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.queue_declare(ch, queue, options), on_done)
    }

    /// queue.bind.
    pub fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(
            |c, ch| c.queue_bind(ch, queue, exchange, routing_key, arguments),
            on_done,
        )
    }

    /// queue.unbind.
    pub fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(
            |c, ch| c.queue_unbind(ch, queue, exchange, routing_key, arguments),
            on_done,
        )
    }

    /// queue.purge; the callback gets the number of messages purged.
    pub fn queue_purge(
        &self,
        queue: &str,
        on_done: Option<impl FnOnce(Result<u32, Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.queue_purge(ch, queue), on_done)
    }

    /// queue.delete; the callback gets the number of messages deleted.
    pub fn queue_delete(
        &self,
        queue: &str,
        options: QueueDeleteOptions,
        on_done: Option<impl FnOnce(Result<u32, Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.queue_delete(ch, queue, options), on_done)
    }

    // ---------------------------------------------------------------- basic

    /// basic.qos.
    pub fn basic_qos(
        &self,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(
            |c, ch| c.basic_qos(ch, prefetch_size, prefetch_count, global),
            on_done,
        )
    }

    /// basic.consume: `on_message` runs on the loop for each delivery until
    /// the consumer is cancelled (deliveries that arrived before cancel-ok
    /// included). `on_done` gets the consumer tag (generated when
    /// `options.consumer_tag` is empty) at consume-ok, before the first
    /// delivery.
    pub fn basic_consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        on_message: impl FnMut(&Channel, Delivery) + 'static,
        on_done: Option<impl FnOnce(Result<String, Error>) + 'static>,
    ) -> Result<(), Error> {
        let mut st = self.conn.st.borrow_mut();
        let (consumer, pending) = (st.core()?)
            .basic_consume(self.channel, queue, options, ConsumerMode::Events)
            .map_err(typed_error)?;
        let cb = &mut st.callbacks;
        cb.consumers
            .insert(consumer, Rc::new(RefCell::new(on_message)));
        cb.completions
            .insert(pending.request(), completion(pending, on_done));
        Ok(())
    }

    /// basic.cancel; the consumer's callback is dropped at cancel-ok, once
    /// the deliveries that arrived before it reached it.
    pub fn basic_cancel(
        &self,
        consumer_tag: &str,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.basic_cancel(ch, consumer_tag), on_done)
    }

    /// basic.publish. In confirm mode (after
    /// [`confirm_delivery`](Self::confirm_delivery)) returns the publish
    /// sequence number, and [`on_confirm`](Self::on_confirm) gets its
    /// outcome.
    pub fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<Option<u64>, Error> {
        self.with_core(|c, ch| {
            c.basic_publish(
                ch,
                exchange,
                routing_key,
                body,
                properties,
                mandatory,
                Settle::Event,
            )
        })
    }

    /// basic.publish with every argument of the method under the caller's
    /// control (`immediate`, which RabbitMQ refuses with 540, included).
    pub fn publish_method(
        &self,
        method: basic::Publish,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<Option<u64>, Error> {
        self.with_core(|c, ch| c.publish_method(ch, method, properties, body, Settle::Event))
    }

    /// basic.get; the callback gets `None` when the queue is empty.
    pub fn basic_get(
        &self,
        queue: &str,
        no_ack: bool,
        on_done: Option<impl FnOnce(Result<Option<GetMessage>, Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.basic_get(ch, queue, no_ack), on_done)
    }

    /// basic.ack.
    pub fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<(), Error> {
        self.with_core(|c, ch| c.basic_ack(ch, delivery_tag, multiple))
    }

    /// basic.nack (by default one message, requeued).
    pub fn basic_nack(&self, delivery_tag: u64, options: NackOptions) -> Result<(), Error> {
        self.with_core(|c, ch| c.basic_nack(ch, delivery_tag, options))
    }

    /// basic.reject.
    pub fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<(), Error> {
        self.with_core(|c, ch| c.basic_reject(ch, delivery_tag, requeue))
    }

    /// basic.recover (RabbitMQ supports `requeue = true` only).
    pub fn basic_recover(
        &self,
        requeue: bool,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.basic_recover(ch, requeue), on_done)
    }

    // ------------------------------------------------------- confirms, tx

    /// confirm.select: from now on the broker acks or nacks every publish,
    /// publishes get sequence numbers from 1, and
    /// [`on_confirm`](Self::on_confirm) gets the outcome of each.
    pub fn confirm_delivery(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.confirm_delivery(ch), on_done)
    }

    /// tx.select.
    pub fn tx_select(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.tx_select(ch), on_done)
    }

    /// tx.commit.
    pub fn tx_commit(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.tx_commit(ch), on_done)
    }

    /// tx.rollback.
    pub fn tx_rollback(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.tx_rollback(ch), on_done)
    }

    /// channel.flow: asks the broker to stop (`false`) or resume (`true`)
    /// deliveries; the callback gets the state the broker confirmed.
    /// RabbitMQ refuses `false` with 540 not-implemented.
    pub fn flow(
        &self,
        active: bool,
        on_done: Option<impl FnOnce(Result<bool, Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call(|c, ch| c.flow(ch, active), on_done)
    }

    /// Closes the channel (channel.close, then close-ok); requests still
    /// queued on it fail, and [`on_close`](Self::on_close) reports the end.
    /// Closing a closed channel does nothing.
    pub fn close(&self) -> Result<(), Error> {
        let mut st = self.conn.st.borrow_mut();
        match st.core() {
            Ok(core) => core.close_channel(self.channel).map_err(typed_error),
            // The connection's end closes the channel too.
            Err(_) => Ok(()),
        }
    }
}
