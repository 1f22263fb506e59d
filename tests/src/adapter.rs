//! The client API the live scenarios are written against, so that every
//! adapter (blocking, tokio, smol over futures-io, event loop) runs the same
//! scenarios: each adapter implements these object-safe traits, in the
//! adapter's own terms (an async adapter blocks on its futures here).

use std::time::Duration;

use amqp_client::blocking::{
    self, ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage,
    NackOptions, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client::core::Tuning;
use amqp_client::{ConnectionParameters, Error, ServerCapabilities, TcpOptions};
use amqp_protocol::{basic, BasicProperties, FieldTable};

/// Blocked (`Some(reason)`) and unblocked (`None`) notices.
pub type OnBlocked = Box<dyn Fn(Option<&str>) + Send + Sync>;

/// Callback for messages of a callback consumer.
pub type OnMessage = Box<dyn FnMut(&dyn Chan, Delivery) + Send>;

/// A way of using the client.
pub trait Adapter: Sync {
    /// For test names and messages.
    fn name(&self) -> &'static str;
    /// Connects to the first endpoint that accepts.
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error>;
    /// Whether the client connects the sockets itself, and so sets
    /// [`TcpOptions`] on them (not with futures-io, where the runtime does).
    fn sets_tcp_options(&self) -> bool {
        true
    }
}

/// A connection.
pub trait Conn: Send + std::fmt::Debug {
    /// Opens a channel.
    fn channel(&self) -> Result<Box<dyn Chan>, Error>;
    /// Opens channel `number`.
    fn channel_with_number(&self, number: u16) -> Result<Box<dyn Chan>, Error>;
    /// Closes the connection.
    fn close(&self) -> Result<(), Error>;
    /// Whether it is open.
    fn is_open(&self) -> bool;
    /// Whether it is closed.
    fn is_closed(&self) -> bool;
    /// Why it closed.
    fn close_reason(&self) -> Option<Error>;
    /// Whether the broker blocks it.
    fn is_blocked(&self) -> bool;
    /// What was negotiated.
    fn tuning(&self) -> Tuning;
    /// Lets the adapter run callbacks for `d`.
    fn run_for(&self, d: Duration) -> Result<(), Error>;
    /// Blocked (`Some(reason)`) and unblocked (`None`) notices.
    fn on_blocked(&self, callback: OnBlocked);
    /// The TCP options read back from the socket.
    fn socket_tcp_options(&self) -> Option<TcpOptions>;
    /// What the broker says it supports.
    fn server_capabilities(&self) -> ServerCapabilities;
}

/// A consumer read as an iterator.
pub trait Consumer: Send {
    /// The next delivery, `Ok(None)` after the inactivity timeout, or the
    /// error that ended the consumer; `None` once ended.
    fn next_delivery(&mut self) -> Option<Result<Option<Delivery>, Error>>;
    /// The consumer tag.
    fn consumer_tag(&self) -> String;
    /// Cancels; returns how many buffered messages were requeued.
    fn cancel(self: Box<Self>) -> Result<usize, Error>;
}

/// A publisher confirm.
pub trait Confirm: Send {
    /// Its sequence number.
    fn sequence_number(&self) -> u64;
    /// Waits for it.
    fn wait(self: Box<Self>) -> Result<(), Error>;
}

/// A channel.
#[allow(missing_docs)]
pub trait Chan: Send + Sync + std::fmt::Debug {
    fn clone_box(&self) -> Box<dyn Chan>;
    /// The channel id (a closed channel's id is reused).
    fn id(&self) -> u16;
    fn is_open(&self) -> bool;
    /// The tags of the channel's consumers.
    fn consumer_tags(&self) -> Vec<String>;
    fn is_closed(&self) -> bool;
    fn close(&self) -> Result<(), Error>;
    fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        o: ExchangeDeclareOptions,
    ) -> Result<(), Error>;
    fn exchange_delete(&self, name: &str, options: ExchangeDeleteOptions) -> Result<(), Error>;
    fn exchange_bind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error>;
    fn exchange_unbind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error>;
    fn queue_declare(&self, name: &str, o: QueueDeclareOptions) -> Result<QueueDeclareOk, Error>;
    fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error>;
    fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error>;
    fn queue_purge(&self, queue: &str) -> Result<u32, Error>;
    fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32, Error>;
    fn basic_qos(&self, size: u32, count: u16, global: bool) -> Result<(), Error>;
    fn basic_publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<(), Error>;
    fn publish_method(
        &self,
        m: basic::Publish,
        p: &BasicProperties,
        body: &[u8],
    ) -> Result<(), Error>;
    fn publish_with_confirm(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<Box<dyn Confirm>, Error>;
    fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetMessage>, Error>;
    fn basic_ack(&self, tag: u64, multiple: bool) -> Result<(), Error>;
    fn basic_nack(&self, tag: u64, options: NackOptions) -> Result<(), Error>;
    fn basic_reject(&self, tag: u64, requeue: bool) -> Result<(), Error>;
    fn basic_recover(&self, requeue: bool) -> Result<(), Error>;
    fn confirm_delivery(&self) -> Result<(), Error>;
    fn tx_select(&self) -> Result<(), Error>;
    fn tx_commit(&self) -> Result<(), Error>;
    fn tx_rollback(&self) -> Result<(), Error>;
    fn flow(&self, active: bool) -> Result<bool, Error>;
    fn consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        inactivity: Option<Duration>,
    ) -> Result<Box<dyn Consumer>, Error>;
    fn basic_consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        on_message: OnMessage,
    ) -> Result<String, Error>;
    fn basic_cancel(&self, tag: &str) -> Result<(), Error>;
    /// Runs callback consumers until none is left on the channel.
    fn start_consuming(&self) -> Result<(), Error>;
    fn stop_consuming(&self) -> Result<(), Error>;
}

/// The blocking adapter.
#[derive(Debug, Clone, Copy)]
pub struct Blocking;

impl Adapter for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }

    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error> {
        Ok(Box::new(blocking::Connection::open(endpoints)?))
    }
}

impl Conn for blocking::Connection {
    fn channel(&self) -> Result<Box<dyn Chan>, Error> {
        Ok(Box::new(blocking::Connection::channel(self)?))
    }
    fn channel_with_number(&self, number: u16) -> Result<Box<dyn Chan>, Error> {
        Ok(Box::new(blocking::Connection::channel_with_number(
            self, number,
        )?))
    }
    fn close(&self) -> Result<(), Error> {
        blocking::Connection::close(self)
    }
    fn is_open(&self) -> bool {
        blocking::Connection::is_open(self)
    }
    fn is_closed(&self) -> bool {
        blocking::Connection::is_closed(self)
    }
    fn close_reason(&self) -> Option<Error> {
        blocking::Connection::close_reason(self)
    }
    fn is_blocked(&self) -> bool {
        blocking::Connection::is_blocked(self)
    }
    fn tuning(&self) -> Tuning {
        blocking::Connection::tuning(self)
    }
    fn run_for(&self, d: Duration) -> Result<(), Error> {
        self.process_data_events(Some(d))
    }
    fn on_blocked(&self, callback: OnBlocked) {
        blocking::Connection::on_blocked(self, callback)
    }
    fn socket_tcp_options(&self) -> Option<TcpOptions> {
        blocking::Connection::socket_tcp_options(self)
    }
    fn server_capabilities(&self) -> ServerCapabilities {
        blocking::Connection::server_capabilities(self)
    }
}

impl Consumer for blocking::ConsumeIter {
    fn next_delivery(&mut self) -> Option<Result<Option<Delivery>, Error>> {
        self.next()
    }
    fn consumer_tag(&self) -> String {
        blocking::ConsumeIter::consumer_tag(self).to_owned()
    }
    fn cancel(self: Box<Self>) -> Result<usize, Error> {
        blocking::ConsumeIter::cancel(*self)
    }
}

impl Confirm for blocking::Confirmation {
    fn sequence_number(&self) -> u64 {
        blocking::Confirmation::sequence_number(self)
    }
    fn wait(self: Box<Self>) -> Result<(), Error> {
        blocking::Confirmation::wait(*self, None)
    }
}

type B = blocking::Channel;

impl Chan for blocking::Channel {
    fn clone_box(&self) -> Box<dyn Chan> {
        Box::new(self.clone())
    }
    fn id(&self) -> u16 {
        B::id(self)
    }
    fn is_open(&self) -> bool {
        B::is_open(self)
    }
    fn consumer_tags(&self) -> Vec<String> {
        B::consumer_tags(self)
    }
    fn is_closed(&self) -> bool {
        B::is_closed(self)
    }
    fn close(&self) -> Result<(), Error> {
        B::close(self)
    }
    fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        o: ExchangeDeclareOptions,
    ) -> Result<(), Error> {
        B::exchange_declare(self, name, kind, o)
    }
    fn exchange_delete(&self, name: &str, options: ExchangeDeleteOptions) -> Result<(), Error> {
        B::exchange_delete(self, name, options)
    }
    fn exchange_bind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        B::exchange_bind(self, dest, source, key, args)
    }
    fn exchange_unbind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        B::exchange_unbind(self, dest, source, key, args)
    }
    fn queue_declare(&self, name: &str, o: QueueDeclareOptions) -> Result<QueueDeclareOk, Error> {
        B::queue_declare(self, name, o)
    }
    fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        B::queue_bind(self, queue, exchange, key, args)
    }
    fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        B::queue_unbind(self, queue, exchange, key, args)
    }
    fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        B::queue_purge(self, queue)
    }
    fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32, Error> {
        B::queue_delete(self, queue, options)
    }
    fn basic_qos(&self, size: u32, count: u16, global: bool) -> Result<(), Error> {
        B::basic_qos(self, size, count, global)
    }
    fn basic_publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<(), Error> {
        B::basic_publish(self, exchange, key, body, p, mandatory)
    }
    fn publish_method(
        &self,
        m: basic::Publish,
        p: &BasicProperties,
        body: &[u8],
    ) -> Result<(), Error> {
        B::publish_method(self, m, p, body)
    }
    fn publish_with_confirm(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<Box<dyn Confirm>, Error> {
        Ok(Box::new(B::publish_with_confirm(
            self, exchange, key, body, p, mandatory,
        )?))
    }
    fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetMessage>, Error> {
        B::basic_get(self, queue, no_ack)
    }
    fn basic_ack(&self, tag: u64, multiple: bool) -> Result<(), Error> {
        B::basic_ack(self, tag, multiple)
    }
    fn basic_nack(&self, tag: u64, options: NackOptions) -> Result<(), Error> {
        B::basic_nack(self, tag, options)
    }
    fn basic_reject(&self, tag: u64, requeue: bool) -> Result<(), Error> {
        B::basic_reject(self, tag, requeue)
    }
    fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        B::basic_recover(self, requeue)
    }
    fn confirm_delivery(&self) -> Result<(), Error> {
        B::confirm_delivery(self)
    }
    fn tx_select(&self) -> Result<(), Error> {
        B::tx_select(self)
    }
    fn tx_commit(&self) -> Result<(), Error> {
        B::tx_commit(self)
    }
    fn tx_rollback(&self) -> Result<(), Error> {
        B::tx_rollback(self)
    }
    fn flow(&self, active: bool) -> Result<bool, Error> {
        B::flow(self, active)
    }
    fn consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        inactivity: Option<Duration>,
    ) -> Result<Box<dyn Consumer>, Error> {
        Ok(Box::new(B::consume(self, queue, o, inactivity)?))
    }
    fn basic_consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        mut on_message: OnMessage,
    ) -> Result<String, Error> {
        B::basic_consume(self, queue, o, move |ch, d| on_message(ch, d))
    }
    fn basic_cancel(&self, tag: &str) -> Result<(), Error> {
        B::basic_cancel(self, tag)
    }
    fn start_consuming(&self) -> Result<(), Error> {
        B::start_consuming(self)
    }
    fn stop_consuming(&self) -> Result<(), Error> {
        B::stop_consuming(self)
    }
}
