//! [`Channel`]: every client method in callback style, consumers, returns,
//! publisher confirms.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use amqp_protocol::{
    basic, channel as chan, confirm, exchange, queue, tx, BasicProperties, FieldTable, Method,
    ReplyCode, ShortStr,
};

use super::connection::{Completion, ConnInner, Connection, Reply};
use crate::core::Content;
use crate::error::Error;
pub(super) use crate::types::short;
use crate::types::unexpected;
use crate::types::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, GetMessage, QueueDeclareOk,
    QueueDeclareOptions, Returned,
};

static CONSUMER_SEQ: AtomicU64 = AtomicU64::new(1);

/// Wraps a user's optional callback into the completion of a call: `map`
/// turns the reply into the callback's value.
pub(super) fn completion<T: 'static>(
    on_done: Option<impl FnOnce(Result<T, Error>) + 'static>,
    map: impl FnOnce(u16, (Method, Option<Content>)) -> Result<T, Error> + 'static,
    channel: u16,
) -> Completion {
    Box::new(move |reply: Reply| {
        let result = reply.and_then(|r| map(channel, r));
        match on_done {
            Some(f) => f(result),
            None => {
                if let Err(e) = result {
                    tracing::debug!(channel, error = %e, "call failed (no callback)");
                }
            }
        }
    })
}

/// A publisher confirm: the broker's basic.ack (`ack`) or basic.nack for
/// the publish with sequence number `delivery_tag`, and with `multiple` for
/// every earlier unconfirmed one too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    /// The publish sequence number (see [`Channel::basic_publish`]).
    pub delivery_tag: u64,
    /// Whether every earlier unconfirmed sequence number is included.
    pub multiple: bool,
    /// Ack (true) or nack (false).
    pub ack: bool,
}

type ConsumerFn = Rc<RefCell<dyn FnMut(&Channel, Delivery)>>;
type ReturnFn = Rc<RefCell<dyn FnMut(&Channel, Returned)>>;
type ConfirmFn = Rc<RefCell<dyn FnMut(&Channel, Confirm)>>;
type CancelFn = Rc<RefCell<dyn FnMut(&Channel, &str)>>;
type FlowFn = Rc<RefCell<dyn FnMut(&Channel, bool)>>;
type CloseFn = Box<dyn FnOnce(&Channel, Error)>;

#[derive(Default)]
pub(super) struct ChanData {
    pub(super) open: bool,
    pub(super) closed: Option<Error>,
    consumers: HashMap<ShortStr, ConsumerFn>,
    on_close: Option<CloseFn>,
    on_return: Option<ReturnFn>,
    on_confirm: Option<ConfirmFn>,
    on_cancel: Option<CancelFn>,
    on_flow: Option<FlowFn>,
}

/// The callbacks an event may run.
pub(super) struct Callbacks {
    pub(super) on_return: Option<ReturnFn>,
    pub(super) on_confirm: Option<ConfirmFn>,
    pub(super) on_cancel: Option<CancelFn>,
    pub(super) on_flow: Option<FlowFn>,
}

/// One opening of a channel id (its generation): handles hold it, so once
/// the channel closed and its id went to a new channel, an old handle still
/// sees its own channel's close and never acts on the new one.
pub(crate) struct ChanInner {
    id: u16,
    pub(super) data: RefCell<ChanData>,
}

impl ChanInner {
    pub(super) fn new(id: u16) -> Self {
        ChanInner {
            id,
            data: RefCell::new(ChanData::default()),
        }
    }

    /// Takes every callback out (to drop them once nothing is borrowed).
    pub(super) fn clear(&self) -> ChanData {
        let mut d = self.data.borrow_mut();
        ChanData {
            open: d.open,
            closed: d.closed.clone(),
            consumers: std::mem::take(&mut d.consumers),
            on_close: d.on_close.take(),
            on_return: d.on_return.take(),
            on_confirm: d.on_confirm.take(),
            on_cancel: d.on_cancel.take(),
            on_flow: d.on_flow.take(),
        }
    }
}

/// A channel of an event-loop [`Connection`]. Cheap to clone; not `Send`.
///
/// Synchronous methods take an optional completion callback, run on the
/// loop with the broker's reply or the error that ended the channel;
/// requests are pipelined (each goes out after the reply to the previous
/// synchronous one). Errors found before sending are returned at once.
#[derive(Clone)]
pub struct Channel {
    conn: Rc<ConnInner>,
    chan: Rc<ChanInner>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.chan.id)
            .finish()
    }
}

impl Channel {
    pub(super) fn new(conn: Rc<ConnInner>, chan: Rc<ChanInner>) -> Self {
        Channel { conn, chan }
    }

    /// The channel id.
    pub fn id(&self) -> u16 {
        self.chan.id
    }

    /// The connection.
    pub fn connection(&self) -> Connection {
        Connection::from_inner(self.conn.clone())
    }

    /// Whether the broker opened the channel and it is not closed.
    pub fn is_open(&self) -> bool {
        let d = self.chan.data.borrow();
        d.open && d.closed.is_none()
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.data.borrow().closed.is_some()
    }

    /// Why the channel closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.chan.data.borrow().closed.clone()
    }

    /// Called once when the channel closes (by either side, or with its
    /// connection): [`Error::ChannelClosedByClient`] after
    /// [`close`](Self::close).
    pub fn on_close(&self, callback: impl FnOnce(&Channel, Error) + 'static) {
        self.chan.data.borrow_mut().on_close = Some(Box::new(callback));
    }

    /// Called for each mandatory message the broker returns as unroutable.
    /// With confirms on, the publish's confirm follows its return.
    pub fn on_return(&self, callback: impl FnMut(&Channel, Returned) + 'static) {
        self.chan.data.borrow_mut().on_return = Some(Rc::new(RefCell::new(callback)));
    }

    /// Called with the consumer tag when the broker cancels a consumer
    /// (its queue was deleted, ...).
    pub fn on_cancel(&self, callback: impl FnMut(&Channel, &str) + 'static) {
        self.chan.data.borrow_mut().on_cancel = Some(Rc::new(RefCell::new(callback)));
    }

    /// Called when the broker asks to stop (`false`) or resume (`true`)
    /// publishing on this channel (already answered).
    pub fn on_flow(&self, callback: impl FnMut(&Channel, bool) + 'static) {
        self.chan.data.borrow_mut().on_flow = Some(Rc::new(RefCell::new(callback)));
    }

    pub(super) fn consumer(&self, tag: &ShortStr) -> Option<ConsumerFn> {
        self.chan.data.borrow().consumers.get(tag).cloned()
    }

    pub(super) fn remove_consumer(&self, tag: &str) {
        let removed = self.chan.data.borrow_mut().consumers.remove(tag.as_bytes());
        drop(removed);
    }

    pub(super) fn callbacks(&self) -> Callbacks {
        let d = self.chan.data.borrow();
        Callbacks {
            on_return: d.on_return.clone(),
            on_confirm: d.on_confirm.clone(),
            on_cancel: d.on_cancel.clone(),
            on_flow: d.on_flow.clone(),
        }
    }

    /// The close callback, and everything else to drop once it ran.
    pub(super) fn take_close_callbacks(&self) -> (Option<CloseFn>, ChanData) {
        let mut rest = self.chan.clear();
        (rest.on_close.take(), rest)
    }

    fn check(&self) -> Result<(), Error> {
        match &self.chan.data.borrow().closed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Submits a synchronous method; `completion` gets the reply.
    fn submit(&self, method: Method, completion: Completion) -> Result<(), Error> {
        self.check()?;
        let mut st = self.conn.st.borrow_mut();
        let request = st.core()?.call(self.id(), method)?;
        st.pending.insert(request, completion);
        Ok(())
    }

    /// A synchronous method whose reply carries nothing of interest.
    fn call_unit(
        &self,
        method: Method,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.submit(method, completion(on_done, |_, _| Ok(()), self.id()))
    }

    /// A method without reply.
    fn send(&self, method: Method) -> Result<(), Error> {
        self.check()?;
        self.conn.st.borrow_mut().core()?.call(self.id(), method)?;
        Ok(())
    }

    // ------------------------------------------------------------ exchanges

    /// exchange.declare.
    pub fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call_unit(options.method(exchange, kind)?, on_done)
    }

    /// exchange.delete.
    pub fn exchange_delete(
        &self,
        exchange: &str,
        if_unused: bool,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        let m = exchange::Delete {
            exchange: short(exchange)?,
            if_unused,
            ..Default::default()
        };
        self.call_unit(m.into(), on_done)
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
        let m = exchange::Bind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call_unit(m.into(), on_done)
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
        let m = exchange::Unbind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call_unit(m.into(), on_done)
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
        let map = |id, (reply, _)| QueueDeclareOk::from_reply(id, reply);
        self.submit(options.method(queue)?, completion(on_done, map, self.id()))
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
        let m = queue::Bind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call_unit(m.into(), on_done)
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
        let m = queue::Unbind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..Default::default()
        };
        self.call_unit(m.into(), on_done)
    }

    /// queue.purge; the callback gets the number of messages purged.
    pub fn queue_purge(
        &self,
        queue: &str,
        on_done: Option<impl FnOnce(Result<u32, Error>) + 'static>,
    ) -> Result<(), Error> {
        let m = queue::Purge {
            queue: short(queue)?,
            ..Default::default()
        };
        let map = |id, (reply, _)| match reply {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            other => Err(unexpected(id, &other)),
        };
        self.submit(m.into(), completion(on_done, map, self.id()))
    }

    /// queue.delete; the callback gets the number of messages deleted.
    pub fn queue_delete(
        &self,
        queue: &str,
        if_unused: bool,
        if_empty: bool,
        on_done: Option<impl FnOnce(Result<u32, Error>) + 'static>,
    ) -> Result<(), Error> {
        let m = queue::Delete {
            queue: short(queue)?,
            if_unused,
            if_empty,
            ..Default::default()
        };
        let map = |id, (reply, _)| match reply {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            other => Err(unexpected(id, &other)),
        };
        self.submit(m.into(), completion(on_done, map, self.id()))
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
        let m = basic::Qos {
            prefetch_size,
            prefetch_count,
            global,
        };
        self.call_unit(m.into(), on_done)
    }

    /// basic.consume: `on_message` runs on the loop for each delivery until
    /// the consumer is cancelled. Returns the consumer tag (generated when
    /// `options.consumer_tag` is empty); `on_done` runs at consume-ok.
    pub fn basic_consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        on_message: impl FnMut(&Channel, Delivery) + 'static,
        on_done: Option<impl FnOnce(Result<String, Error>) + 'static>,
    ) -> Result<String, Error> {
        let tag = if options.consumer_tag.is_empty() {
            format!(
                "amqp-client.{}.e{}",
                std::process::id(),
                CONSUMER_SEQ.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            options.consumer_tag
        };
        let key = short(&tag)?;
        let m = basic::Consume {
            queue: short(queue)?,
            consumer_tag: key.clone(),
            no_local: options.no_local,
            no_ack: options.no_ack,
            exclusive: options.exclusive,
            arguments: options.arguments,
            ..Default::default()
        };
        {
            let mut d = self.chan.data.borrow_mut();
            if d.consumers.contains_key(&key) {
                return Err(Error::DuplicateConsumerTag { consumer_tag: tag });
            }
            d.consumers
                .insert(key.clone(), Rc::new(RefCell::new(on_message)));
        }
        let chan = self.chan.clone();
        let reply_tag = tag.clone();
        let done = move |result: Result<(), Error>| {
            if result.is_err() {
                let removed = chan.data.borrow_mut().consumers.remove(&key);
                drop(removed);
            }
            match on_done {
                Some(f) => f(result.map(|()| reply_tag)),
                None => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "basic.consume failed (no callback)");
                    }
                }
            }
        };
        match self.call_unit(m.into(), Some(done)) {
            Ok(()) => Ok(tag),
            Err(e) => {
                self.remove_consumer(&tag);
                Err(e)
            }
        }
    }

    /// basic.cancel; the consumer's callback is dropped at cancel-ok (no
    /// delivery reaches it after that).
    pub fn basic_cancel(
        &self,
        consumer_tag: &str,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        let m = basic::Cancel {
            consumer_tag: short(consumer_tag)?,
            no_wait: false,
        };
        let ch = self.clone();
        let tag = consumer_tag.to_owned();
        let done = move |result: Result<(), Error>| {
            ch.remove_consumer(&tag);
            if let Some(f) = on_done {
                f(result);
            }
        };
        self.call_unit(m.into(), Some(done))
    }

    /// basic.publish. In confirm mode (after [`confirm_select`](Self::confirm_select))
    /// returns the publish sequence number that the broker's confirm will
    /// name.
    pub fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        mandatory: bool,
    ) -> Result<Option<u64>, Error> {
        let m = basic::Publish {
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            mandatory,
            ..Default::default()
        };
        self.publish_method(m, properties, body)
    }

    /// basic.publish with every argument of the method under the caller's
    /// control (`immediate`, which RabbitMQ refuses with 540, included).
    pub fn publish_method(
        &self,
        method: basic::Publish,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<Option<u64>, Error> {
        self.check()?;
        let mut st = self.conn.st.borrow_mut();
        let (_, seq) = st.core()?.publish(self.id(), method, properties, body)?;
        Ok(seq)
    }

    /// basic.get; the callback gets `None` when the queue is empty.
    pub fn basic_get(
        &self,
        queue: &str,
        no_ack: bool,
        on_done: Option<impl FnOnce(Result<Option<GetMessage>, Error>) + 'static>,
    ) -> Result<(), Error> {
        let m = basic::Get {
            queue: short(queue)?,
            no_ack,
            ..Default::default()
        };
        let map = |id, reply: (Method, Option<Content>)| match reply {
            (Method::BasicGetOk(ok), Some(content)) => Ok(Some(GetMessage {
                message_count: ok.message_count,
                delivery: Delivery {
                    channel: id,
                    consumer_tag: ShortStr::new(),
                    delivery_tag: ok.delivery_tag,
                    redelivered: ok.redelivered,
                    exchange: ok.exchange,
                    routing_key: ok.routing_key,
                    properties: content.properties,
                    body: content.body,
                },
            })),
            (Method::BasicGetEmpty(_), _) => Ok(None),
            (other, _) => Err(unexpected(id, &other)),
        };
        self.submit(m.into(), completion(on_done, map, self.id()))
    }

    /// basic.ack.
    pub fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<(), Error> {
        self.send(
            basic::Ack {
                delivery_tag,
                multiple,
            }
            .into(),
        )
    }

    /// basic.nack.
    pub fn basic_nack(
        &self,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), Error> {
        self.send(
            basic::Nack {
                delivery_tag,
                multiple,
                requeue,
            }
            .into(),
        )
    }

    /// basic.reject.
    pub fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<(), Error> {
        self.send(
            basic::Reject {
                delivery_tag,
                requeue,
            }
            .into(),
        )
    }

    /// basic.recover (RabbitMQ supports `requeue = true` only).
    pub fn basic_recover(
        &self,
        requeue: bool,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call_unit(basic::Recover { requeue }.into(), on_done)
    }

    // ------------------------------------------------------- confirms, tx

    /// confirm.select: from now on the broker acks or nacks every publish;
    /// `on_confirm` gets each ack or nack (see [`Confirm`]). Publishes made
    /// from now on get sequence numbers from 1.
    pub fn confirm_select(
        &self,
        on_confirm: impl FnMut(&Channel, Confirm) + 'static,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.check()?;
        self.chan.data.borrow_mut().on_confirm = Some(Rc::new(RefCell::new(on_confirm)));
        self.call_unit(confirm::Select { no_wait: false }.into(), on_done)
    }

    /// tx.select.
    pub fn tx_select(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call_unit(tx::Select {}.into(), on_done)
    }

    /// tx.commit.
    pub fn tx_commit(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call_unit(tx::Commit {}.into(), on_done)
    }

    /// tx.rollback.
    pub fn tx_rollback(
        &self,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        self.call_unit(tx::Rollback {}.into(), on_done)
    }

    /// channel.flow: asks the broker to stop (`false`) or resume (`true`)
    /// deliveries; the callback gets the state the broker confirmed.
    /// RabbitMQ refuses `false` with 540 not-implemented.
    pub fn flow(
        &self,
        active: bool,
        on_done: Option<impl FnOnce(Result<bool, Error>) + 'static>,
    ) -> Result<(), Error> {
        let map = |id, (reply, _)| match reply {
            Method::ChannelFlowOk(ok) => Ok(ok.active),
            other => Err(unexpected(id, &other)),
        };
        self.submit(
            chan::Flow { active }.into(),
            completion(on_done, map, self.id()),
        )
    }

    /// Closes the channel (channel.close, then close-ok); requests still
    /// queued on it fail, and [`on_close`](Self::on_close) reports the end.
    /// Closing a closed channel does nothing.
    pub fn close(&self) -> Result<(), Error> {
        if self.is_closed() {
            return Ok(());
        }
        let mut st = self.conn.st.borrow_mut();
        match st.core() {
            Ok(core) => core.close_channel(self.id(), ReplyCode::REPLY_SUCCESS, "Normal shutdown"),
            // The connection's end closes the channel too.
            Err(_) => Ok(()),
        }
    }
}
