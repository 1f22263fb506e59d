//! The adapter traits for the async API ([`amqp_client::tokio`] and
//! [`amqp_client::futures_io`] share one set of handles), generic over how
//! a future is run to completion from a plain thread ([`Exec`]). Callback
//! consumers, which the async API does not have, are built on consumer
//! streams here.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use amqp_client::core::Tuning;
use amqp_client::tokio::{
    Channel, Confirmation, Connection, ConsumeOptions, Consumer as Stream, Delivery,
    ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage, NackOptions, QueueDeclareOk,
    QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client::{ConnectionParameters, Error, ServerCapabilities, TcpOptions};
use amqp_protocol::{basic, BasicProperties, FieldTable};
use futures_util::StreamExt;

use crate::adapter::{Chan, Confirm, Conn, Consumer, OnBlocked, OnMessage};

/// Runs futures to completion from plain threads.
pub trait Exec: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Runs `f` to completion.
    fn block_on<F: Future>(&self, f: F) -> F::Output;
    /// Runs `f` for at most `d`.
    fn block_on_timeout<F: Future>(&self, d: Duration, f: F) -> Option<F::Output>;
    /// Opens a connection.
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Connection, Error>;
}

struct Entry {
    channel: Channel,
    consumer: Stream,
    callback: Option<OnMessage>,
}

type Callbacks = Arc<Mutex<HashMap<(u16, String), Entry>>>;

fn lock(c: &Callbacks) -> MutexGuard<'_, HashMap<(u16, String), Entry>> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection of an async adapter.
pub struct AsyncConn<E> {
    conn: Connection,
    exec: E,
    callbacks: Callbacks,
}

impl<E: Exec> AsyncConn<E> {
    /// Opens a connection with `exec`.
    pub fn open(exec: E, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error> {
        let conn = exec.open(endpoints)?;
        Ok(Box::new(AsyncConn {
            conn,
            exec,
            callbacks: Callbacks::default(),
        }))
    }
}

impl<E> std::fmt::Debug for AsyncConn<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.conn.fmt(f)
    }
}

/// Runs callback consumers (of `channel`, or all) until none is left on
/// `channel`, the deadline, or an error.
fn dispatch<E: Exec>(
    exec: &E,
    callbacks: &Callbacks,
    channel: Option<u16>,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    loop {
        let next = poll_fn(|cx| {
            let mut map = lock(callbacks);
            let mut any = false;
            for (key, e) in map.iter_mut() {
                if channel.is_some_and(|c| c != key.0) {
                    continue;
                }
                any = true;
                if let Poll::Ready(item) = e.consumer.poll_next_unpin(cx) {
                    return Poll::Ready(Some((key.clone(), item)));
                }
            }
            if !any && channel.is_some() {
                return Poll::Ready(None);
            }
            Poll::Pending
        });
        let next = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match exec.block_on_timeout(left, next) {
                    Some(n) => n,
                    None => return Ok(()),
                }
            }
            None => exec.block_on(next),
        };
        let Some((key, item)) = next else {
            return Ok(());
        };
        match item {
            Some(Ok(delivery)) => {
                let taken = lock(callbacks)
                    .get_mut(&key)
                    .and_then(|e| e.callback.take().map(|cb| (cb, e.channel.clone())));
                if let Some((mut cb, ch)) = taken {
                    let chan = AsyncChan {
                        ch,
                        exec: exec.clone(),
                        callbacks: callbacks.clone(),
                    };
                    cb(&chan, delivery);
                    // Unless the consumer was cancelled meanwhile.
                    if let Some(e) = lock(callbacks).get_mut(&key) {
                        e.callback = Some(cb);
                    }
                }
            }
            Some(Err(e)) => {
                lock(callbacks).remove(&key);
                return Err(e);
            }
            None => {
                lock(callbacks).remove(&key);
            }
        }
    }
}

impl<E: Exec> Conn for AsyncConn<E> {
    fn channel(&self) -> Result<Box<dyn Chan>, Error> {
        let ch = self.exec.block_on(self.conn.channel())?;
        Ok(Box::new(AsyncChan {
            ch,
            exec: self.exec.clone(),
            callbacks: self.callbacks.clone(),
        }))
    }
    fn channel_with_number(&self, number: u16) -> Result<Box<dyn Chan>, Error> {
        let ch = self.exec.block_on(self.conn.channel_with_number(number))?;
        Ok(Box::new(AsyncChan {
            ch,
            exec: self.exec.clone(),
            callbacks: self.callbacks.clone(),
        }))
    }
    fn close(&self) -> Result<(), Error> {
        self.exec.block_on(self.conn.close())
    }
    fn is_open(&self) -> bool {
        self.conn.is_open()
    }
    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
    fn close_reason(&self) -> Option<Error> {
        self.conn.close_reason()
    }
    fn is_blocked(&self) -> bool {
        self.conn.is_blocked()
    }
    fn tuning(&self) -> Tuning {
        self.conn.tuning()
    }
    fn run_for(&self, d: Duration) -> Result<(), Error> {
        dispatch(&self.exec, &self.callbacks, None, Some(Instant::now() + d))
    }
    fn on_blocked(&self, callback: OnBlocked) {
        self.conn.on_blocked(callback)
    }
    fn socket_tcp_options(&self) -> Option<TcpOptions> {
        self.conn.socket_tcp_options()
    }
    fn server_capabilities(&self) -> ServerCapabilities {
        self.conn.server_capabilities()
    }
}

/// A consumer stream read as an iterator.
pub struct AsyncConsumer<E> {
    consumer: Option<Stream>,
    tag: String,
    exec: E,
    inactivity: Option<Duration>,
}

impl<E: Exec> Consumer for AsyncConsumer<E> {
    fn next_delivery(&mut self) -> Option<Result<Option<Delivery>, Error>> {
        let c = self.consumer.as_mut()?;
        let item = match self.inactivity {
            Some(d) => match self.exec.block_on_timeout(d, c.next()) {
                Some(item) => item,
                None => return Some(Ok(None)),
            },
            None => self.exec.block_on(c.next()),
        };
        match item {
            Some(r) => Some(r.map(Some)),
            None => {
                self.consumer = None;
                None
            }
        }
    }
    fn consumer_tag(&self) -> String {
        self.tag.clone()
    }
    fn cancel(mut self: Box<Self>) -> Result<usize, Error> {
        match self.consumer.take() {
            Some(c) => self.exec.block_on(c.cancel()),
            None => Ok(0),
        }
    }
}

/// A confirmation future, waited for.
pub struct AsyncConfirm<E> {
    confirmation: Confirmation,
    exec: E,
}

impl<E: Exec> Confirm for AsyncConfirm<E> {
    fn sequence_number(&self) -> u64 {
        self.confirmation.sequence_number()
    }
    fn wait(self: Box<Self>) -> Result<(), Error> {
        let AsyncConfirm { confirmation, exec } = *self;
        exec.block_on(confirmation)
    }
}

/// A channel of an async adapter.
pub struct AsyncChan<E> {
    ch: Channel,
    exec: E,
    callbacks: Callbacks,
}

impl<E> std::fmt::Debug for AsyncChan<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ch.fmt(f)
    }
}

impl<E: Exec> AsyncChan<E> {
    fn run<F: Future>(&self, f: F) -> F::Output {
        self.exec.block_on(f)
    }

    fn cancel_callback_consumers(&self, tag: Option<&str>) -> Result<bool, Error> {
        let entries: Vec<Entry> = {
            let mut map = lock(&self.callbacks);
            let keys: Vec<(u16, String)> = map
                .keys()
                .filter(|(c, t)| *c == self.ch.id() && tag.is_none_or(|tag| tag == t))
                .cloned()
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        let found = !entries.is_empty();
        for e in entries {
            self.run(e.consumer.cancel())?;
        }
        Ok(found)
    }
}

impl<E: Exec> Chan for AsyncChan<E> {
    fn clone_box(&self) -> Box<dyn Chan> {
        Box::new(AsyncChan {
            ch: self.ch.clone(),
            exec: self.exec.clone(),
            callbacks: self.callbacks.clone(),
        })
    }
    fn id(&self) -> u16 {
        self.ch.id()
    }
    fn is_open(&self) -> bool {
        self.ch.is_open()
    }
    fn consumer_tags(&self) -> Vec<String> {
        self.ch.consumer_tags()
    }
    fn is_closed(&self) -> bool {
        self.ch.is_closed()
    }
    fn close(&self) -> Result<(), Error> {
        self.run(self.ch.close())
    }
    fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        o: ExchangeDeclareOptions,
    ) -> Result<(), Error> {
        self.run(self.ch.exchange_declare(name, kind, o))
    }
    fn exchange_delete(&self, name: &str, options: ExchangeDeleteOptions) -> Result<(), Error> {
        self.run(self.ch.exchange_delete(name, options))
    }
    fn exchange_bind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        self.run(self.ch.exchange_bind(dest, source, key, args))
    }
    fn exchange_unbind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        self.run(self.ch.exchange_unbind(dest, source, key, args))
    }
    fn queue_declare(&self, name: &str, o: QueueDeclareOptions) -> Result<QueueDeclareOk, Error> {
        self.run(self.ch.queue_declare(name, o))
    }
    fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        self.run(self.ch.queue_bind(queue, exchange, key, args))
    }
    fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        self.run(self.ch.queue_unbind(queue, exchange, key, args))
    }
    fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        self.run(self.ch.queue_purge(queue))
    }
    fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32, Error> {
        self.run(self.ch.queue_delete(queue, options))
    }
    fn basic_qos(&self, size: u32, count: u16, global: bool) -> Result<(), Error> {
        self.run(self.ch.basic_qos(size, count, global))
    }
    fn basic_publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<(), Error> {
        self.run(self.ch.basic_publish(exchange, key, body, p, mandatory))
    }
    fn publish_method(
        &self,
        m: basic::Publish,
        p: &BasicProperties,
        body: &[u8],
    ) -> Result<(), Error> {
        self.run(self.ch.publish_method(m, p, body))
    }
    fn publish_with_confirm(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<Box<dyn Confirm>, Error> {
        let confirmation = self.run(
            self.ch
                .publish_with_confirm(exchange, key, body, p, mandatory),
        )?;
        Ok(Box::new(AsyncConfirm {
            confirmation,
            exec: self.exec.clone(),
        }))
    }
    fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetMessage>, Error> {
        self.run(self.ch.basic_get(queue, no_ack))
    }
    fn basic_ack(&self, tag: u64, multiple: bool) -> Result<(), Error> {
        self.ch.basic_ack(tag, multiple)
    }
    fn basic_nack(&self, tag: u64, options: NackOptions) -> Result<(), Error> {
        self.ch.basic_nack(tag, options)
    }
    fn basic_reject(&self, tag: u64, requeue: bool) -> Result<(), Error> {
        self.ch.basic_reject(tag, requeue)
    }
    fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.run(self.ch.basic_recover(requeue))
    }
    fn confirm_delivery(&self) -> Result<(), Error> {
        self.run(self.ch.confirm_delivery())
    }
    fn tx_select(&self) -> Result<(), Error> {
        self.run(self.ch.tx_select())
    }
    fn tx_commit(&self) -> Result<(), Error> {
        self.run(self.ch.tx_commit())
    }
    fn tx_rollback(&self) -> Result<(), Error> {
        self.run(self.ch.tx_rollback())
    }
    fn flow(&self, active: bool) -> Result<bool, Error> {
        self.run(self.ch.flow(active))
    }
    fn consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        inactivity: Option<Duration>,
    ) -> Result<Box<dyn Consumer>, Error> {
        let consumer = self.run(self.ch.basic_consume(queue, o))?;
        Ok(Box::new(AsyncConsumer {
            tag: consumer.consumer_tag().to_owned(),
            consumer: Some(consumer),
            exec: self.exec.clone(),
            inactivity,
        }))
    }
    fn basic_consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        on_message: OnMessage,
    ) -> Result<String, Error> {
        let consumer = self.run(self.ch.basic_consume(queue, o))?;
        let tag = consumer.consumer_tag().to_owned();
        lock(&self.callbacks).insert(
            (self.ch.id(), tag.clone()),
            Entry {
                channel: self.ch.clone(),
                consumer,
                callback: Some(on_message),
            },
        );
        Ok(tag)
    }
    fn basic_cancel(&self, tag: &str) -> Result<(), Error> {
        if self.cancel_callback_consumers(Some(tag))? {
            return Ok(());
        }
        self.run(self.ch.basic_cancel(tag))
    }
    fn start_consuming(&self) -> Result<(), Error> {
        dispatch(&self.exec, &self.callbacks, Some(self.ch.id()), None)
    }
    fn stop_consuming(&self) -> Result<(), Error> {
        self.cancel_callback_consumers(None).map(|_| ())
    }
}

/// Checks of what only the async API has, written once for every runtime:
/// each takes an open connection and the runtime's sleep, deletes what it
/// declares and closes the connection.
#[allow(clippy::unwrap_used, missing_docs)]
pub mod checks {
    use std::future::{poll_fn, Future};
    use std::pin::Pin;
    use std::task::Poll;
    use std::time::{Duration, Instant};

    use amqp_client::tokio::{Connection, ConsumeOptions, QueueDeclareOptions, QueueDeleteOptions};
    use amqp_client::Error;
    use amqp_protocol::{BasicProperties, ReplyCode};
    use futures_util::StreamExt;

    use crate::live::unique;

    /// The runtime's sleep.
    pub type Sleep = fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;

    /// Polls `f` once (so that it submits its request), then drops it.
    async fn poll_once_then_drop<F: Future>(f: F) {
        let mut f = Box::pin(f);
        poll_fn(|cx| {
            let _ = f.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        drop(f);
    }

    fn exclusive() -> QueueDeclareOptions {
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        }
    }

    fn passive() -> QueueDeclareOptions {
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        }
    }

    pub async fn stream_consumer(conn: Connection) {
        let ch = conn.channel().await.unwrap();
        let q = ch.queue_declare("", exclusive()).await.unwrap().queue;
        ch.confirm_delivery().await.unwrap();
        for i in 0..10 {
            let body = format!("{i}");
            ch.basic_publish("", &q, body.as_bytes(), &BasicProperties::default(), false)
                .await
                .unwrap();
        }
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default())
            .await
            .unwrap();
        for i in 0..10 {
            let d = consumer.next().await.unwrap().unwrap();
            assert_eq!(d.body, format!("{i}"));
            ch.basic_ack(d.delivery_tag, false).unwrap();
        }
        assert_eq!(consumer.cancel().await.unwrap(), 0);
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    pub async fn prefetch_and_buffer_limit_bound_what_is_buffered(conn: Connection, sleep: Sleep) {
        let ch = conn.channel().await.unwrap();
        let q = ch.queue_declare("", exclusive()).await.unwrap().queue;
        let props = BasicProperties::default();
        for i in 0..2000 {
            let body = format!("{i}");
            ch.basic_publish("", &q, body.as_bytes(), &props, false)
                .await
                .unwrap();
        }
        // Prefetch 5: the broker sends 5 and waits for acks.
        ch.basic_qos(0, 5, false).await.unwrap();
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default())
            .await
            .unwrap();
        sleep(Duration::from_millis(300)).await;
        assert_eq!(consumer.buffered_len(), 5);
        let d = consumer.next().await.unwrap().unwrap();
        ch.basic_ack(d.delivery_tag, false).unwrap();
        sleep(Duration::from_millis(200)).await;
        assert_eq!(consumer.buffered_len(), 5);
        assert_eq!(consumer.cancel().await.unwrap(), 5);

        // no-ack, no prefetch: the client-side bound pauses reading.
        let ch2 = conn.channel().await.unwrap();
        let mut consumer = ch2
            .basic_consume_bounded(
                &q,
                ConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        sleep(Duration::from_millis(300)).await;
        let buffered = consumer.buffered_len();
        assert!(
            (10..200).contains(&buffered),
            "{buffered} buffered for a bound of 10"
        );
        // Reading resumes as the stream is read: every message arrives.
        let mut n = 0;
        while n < 1999 {
            consumer.next().await.unwrap().unwrap();
            n += 1;
            assert!(consumer.buffered_len() < 200);
        }
        assert_eq!(consumer.cancel().await.unwrap(), 0);
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// The body size of [`a_connection_bounds_what_its_consumers_hold`].
    pub const HELD_BODY: usize = 10 * 1024;
    /// The bound (body bytes) the connection of
    /// [`a_connection_bounds_what_its_consumers_hold`] is opened with
    /// (`ConnectionParameters::with_delivery_buffer(u16::MAX, HELD_BOUND)`).
    pub const HELD_BOUND: usize = 1024 * 1024;

    /// A connection opened with a bound of [`HELD_BOUND`] body bytes on
    /// what its application has not taken: a consumer without prefetch (the
    /// broker pushes everything) holds about that much, not the queue; once
    /// read, every message arrives.
    pub async fn a_connection_bounds_what_its_consumers_hold(conn: Connection, sleep: Sleep) {
        let ch = conn.channel().await.unwrap();
        let q = ch.queue_declare("", exclusive()).await.unwrap().queue;
        let body = vec![7u8; HELD_BODY];
        let n = 500;
        for _ in 0..n {
            ch.basic_publish("", &q, &body, &BasicProperties::default(), false)
                .await
                .unwrap();
        }
        let mut consumer = ch
            .basic_consume(
                &q,
                ConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        sleep(Duration::from_millis(500)).await;
        // The bound, passed by at most one read (256 KiB).
        let most = (HELD_BOUND + 256 * 1024) / HELD_BODY + 1;
        let held = consumer.buffered_len();
        assert!(
            held > 10 && held <= most,
            "{held} deliveries of {HELD_BODY} bytes held for a bound of {HELD_BOUND} bytes"
        );
        for _ in 0..n {
            consumer.next().await.unwrap().unwrap();
            assert!(consumer.buffered_len() <= most);
        }
        assert_eq!(consumer.cancel().await.unwrap(), 0);
        conn.close().await.unwrap();
    }

    pub async fn a_dropped_call_does_not_disturb_the_next(conn: Connection, sleep: Sleep) {
        let ch = conn.channel().await.unwrap();
        let (a, b) = (unique("q-dropped"), unique("q-next"));
        // queue.declare dropped after it was sent; the next call gets its
        // own reply.
        poll_once_then_drop(ch.queue_declare(&a, exclusive())).await;
        let ok = ch.queue_declare(&b, exclusive()).await.unwrap();
        assert_eq!(ok.queue, b);
        // The dropped declare did happen.
        assert_eq!(ch.queue_declare(&a, passive()).await.unwrap().queue, a);
        // Several in a row, and a basic.get.
        ch.basic_publish("", &a, b"m", &BasicProperties::default(), false)
            .await
            .unwrap();
        poll_once_then_drop(ch.queue_purge(&b)).await;
        poll_once_then_drop(ch.basic_get(&b, true)).await;
        let got = ch.basic_get(&a, true).await.unwrap().unwrap();
        assert_eq!(got.delivery.body, "m");
        // A dropped channel.open: the channel is closed again; a new one works.
        poll_once_then_drop(conn.channel()).await;
        let ch2 = conn.channel().await.unwrap();
        assert!(ch2.is_open());
        // A dropped basic.consume: the consumer is cancelled and what it got
        // is requeued.
        for _ in 0..3 {
            ch.basic_publish("", &a, b"x", &BasicProperties::default(), false)
                .await
                .unwrap();
        }
        poll_once_then_drop(ch.basic_consume(&a, ConsumeOptions::default())).await;
        let mut ready = 0;
        for _ in 0..50 {
            let ok = ch.queue_declare(&a, passive()).await.unwrap();
            ready = ok.message_count;
            if ready == 3 && ok.consumer_count == 0 {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(ready, 3);
        // A consumer dropped unread requeues too.
        let consumer = ch
            .basic_consume(&a, ConsumeOptions::default())
            .await
            .unwrap();
        sleep(Duration::from_millis(100)).await;
        assert_eq!(consumer.buffered_len(), 3);
        drop(consumer);
        for _ in 0..50 {
            let ok = ch.queue_declare(&a, passive()).await.unwrap();
            ready = ok.message_count;
            if ready == 3 && ok.consumer_count == 0 {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(ready, 3);
        ch.queue_delete(&a, QueueDeleteOptions::default())
            .await
            .unwrap();
        ch.queue_delete(&b, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// A deep pipeline (1000 confirms in flight, where confirms are read
    /// in batches) and its shallow tail all resolve, each to its own
    /// publish's outcome, and every message is on the queue.
    pub async fn a_deep_pipeline_of_confirms_resolves(conn: Connection, sleep: Sleep) {
        let ch = conn.channel().await.unwrap();
        let q = ch.queue_declare("", exclusive()).await.unwrap().queue;
        ch.confirm_delivery().await.unwrap();
        let props = BasicProperties::default();
        let mut window = std::collections::VecDeque::new();
        let mut next_expected = 1;
        for i in 0..5000u32 {
            if window.len() == 1000 {
                let c: amqp_client::tokio::Confirmation = window.pop_front().unwrap();
                assert_eq!(c.sequence_number(), next_expected);
                next_expected += 1;
                c.await.unwrap();
            }
            let body = i.to_be_bytes();
            window.push_back(
                ch.publish_with_confirm("", &q, &body, &props, false)
                    .await
                    .unwrap(),
            );
        }
        // The tail drains below the batching depth: none is left behind.
        let tail = std::pin::pin!(async {
            for c in window {
                c.await.unwrap();
            }
        });
        let timeout = sleep(Duration::from_secs(10));
        assert!(
            matches!(
                futures_util::future::select(tail, timeout).await,
                futures_util::future::Either::Left(_)
            ),
            "the last confirms never came"
        );
        let n = ch.queue_declare(&q, passive()).await.unwrap().message_count;
        assert_eq!(n, 5000);
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    pub async fn confirmation_futures(conn: Connection) {
        let ch = conn.channel().await.unwrap();
        let q = ch.queue_declare("", exclusive()).await.unwrap().queue;
        let props = BasicProperties::default();
        // Without confirm mode there is nothing to wait for.
        assert!(matches!(
            ch.publish_with_confirm("", &q, b"x", &props, false).await,
            Err(Error::Misuse(_))
        ));
        ch.confirm_delivery().await.unwrap();
        let mut confirmations = Vec::new();
        for i in 0..100 {
            let body = format!("{i}");
            confirmations.push(
                ch.publish_with_confirm("", &q, body.as_bytes(), &props, false)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(confirmations[0].sequence_number(), 1);
        // Awaited in any order; some dropped unawaited.
        confirmations.truncate(90);
        while let Some(c) = confirmations.pop() {
            c.await.unwrap();
        }
        // Unroutable: returned, then acked.
        let returned = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let r = returned.clone();
        // The callback is given the channel the message was returned on.
        ch.on_return(move |c, m| r.lock().unwrap().push((c.id(), m.reason.code)));
        let c = ch
            .publish_with_confirm("amq.direct", &unique("nowhere"), b"lost", &props, true)
            .await
            .unwrap();
        let e = c.await.unwrap_err();
        assert!(
            matches!(&e, Error::Unroutable(c) if c.code == ReplyCode::NO_ROUTE),
            "{e:?}"
        );
        assert_eq!(
            *returned.lock().unwrap(),
            vec![(ch.id(), ReplyCode::NO_ROUTE)]
        );
        // Not mandatory: acked though unroutable.
        ch.basic_publish("amq.direct", &unique("nowhere"), b"x", &props, false)
            .await
            .unwrap();
        assert_eq!(ch.queue_purge(&q).await.unwrap(), 100);
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// A connection opened with a bound of 20 deliveries
    /// (`with_delivery_buffer(20, usize::MAX)`), its consumer not read: a
    /// request's reply and an awaited confirm still arrive behind the held
    /// deliveries.
    pub async fn at_the_bound_replies_and_confirms_still_arrive(conn: Connection, sleep: Sleep) {
        let ch = conn.channel().await.unwrap();
        let q = ch.queue_declare("", exclusive()).await.unwrap().queue;
        let props = BasicProperties::default();
        let body = vec![7u8; HELD_BODY];
        for _ in 0..300 {
            ch.basic_publish("", &q, &body, &props, false)
                .await
                .unwrap();
        }
        let mut consumer = ch
            .basic_consume(
                &q,
                ConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        sleep(Duration::from_millis(300)).await;
        // Paused at the bound, passed by at most one read (256 KiB).
        let most = 20 + 256 * 1024 / HELD_BODY + 1;
        assert!(
            consumer.buffered_len() <= most,
            "{}",
            consumer.buffered_len()
        );
        let other = conn.channel().await.unwrap();
        other.confirm_delivery().await.unwrap();
        let replies = other.queue_declare("", exclusive()).await.unwrap().queue;
        for _ in 0..3 {
            other
                .basic_publish("", &replies, b"reply", &props, false)
                .await
                .unwrap();
            ch.queue_declare(&q, passive()).await.unwrap();
        }
        for _ in 0..300 {
            consumer.next().await.unwrap().unwrap();
        }
        assert_eq!(consumer.cancel().await.unwrap(), 0);
        conn.close().await.unwrap();
    }

    /// Opens an async connection with these parameters.
    pub type Open = fn(
        amqp_client::ConnectionParameters,
    ) -> Pin<Box<dyn Future<Output = Result<Connection, Error>> + Send>>;

    /// Against a scripted broker that confirms publish 1 only after a
    /// second: while the application awaits that confirmation, the
    /// publishes it makes meanwhile (their confirmations kept, not awaited)
    /// reach the broker at once; they used to wait inside the client for
    /// the late confirm, or for a timer of the client's.
    pub async fn a_slow_confirm_holds_back_no_later_publish(open: Open) {
        use crate::peer::{Action, ScriptedBroker};
        use amqp_protocol::Method;

        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let broker = ScriptedBroker::start_n(1, move |mut peer| {
            peer.handshake()?;
            let mut publishes = 0;
            peer.serve(|server, command| {
                if !matches!(command.method, Method::BasicPublish(_)) {
                    return Ok(Action::Answer);
                }
                let _ = tx.lock().map(|t| t.send(Instant::now()));
                publishes += 1;
                let channel = command.channel;
                let seq = server.record_publish(command).unwrap_or(0);
                if publishes == 1 {
                    server.later(Duration::from_secs(1), move |s| s.ack(channel, seq, false));
                } else {
                    server.ack(channel, seq, false)?;
                }
                Ok(Action::Handled)
            })?;
            Ok(())
        });
        let params = amqp_client::ConnectionParameters::new()
            .with_host("127.0.0.1")
            .with_port(broker.port());
        let conn = open(params).await.unwrap();
        let ch = conn.channel().await.unwrap();
        ch.confirm_delivery().await.unwrap();
        let props = BasicProperties::default();
        let mut first = ch
            .publish_with_confirm("", "q", b"first", &props, false)
            .await
            .unwrap();
        let mut published = Vec::new();
        let mut later = Vec::new();
        let mut first_result = None;
        for i in 0..19 {
            let body = format!("{i}");
            // The first confirmation is awaited meanwhile.
            if first_result.is_none() {
                first_result = futures_util::FutureExt::now_or_never(&mut first);
            }
            later.push(
                ch.publish_with_confirm("", "q", body.as_bytes(), &props, false)
                    .await
                    .unwrap(),
            );
            published.push(Instant::now());
            // Some time between publishes, as an application's work takes.
            let until = Instant::now() + Duration::from_micros(200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        assert!(first_result.is_none(), "the late confirm came early");
        let received: Vec<Instant> = (0..20)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        let mut delays: Vec<Duration> = published
            .iter()
            .zip(&received[1..])
            .map(|(p, r)| r.saturating_duration_since(*p))
            .collect();
        delays.sort();
        let median = delays[delays.len() / 2];
        // A loopback write, not a timer's wake-up (the client's safety net
        // for held-back output looks every 5 ms or later).
        assert!(
            median < Duration::from_millis(4),
            "publishes reached the broker {median:?} (median) after they were made, behind a confirm owed for 1 s"
        );
        for c in later {
            c.await.unwrap();
        }
        first.await.unwrap();
        conn.close().await.unwrap();
        broker.join();
    }

    /// Publishes in confirm mode while earlier confirms are due leave
    /// with no confirmation awaited and nothing else done on the
    /// connection; `observer` (another connection) counts them on the
    /// broker.
    pub async fn held_back_publishes_leave_when_earlier_confirms_come(
        conn: Connection,
        observer: Connection,
        sleep: Sleep,
    ) {
        let ch = conn.channel().await.unwrap();
        let q = unique("held-back");
        // Another connection counts the messages, so the queue cannot be
        // exclusive: it expires a minute after its last use should the
        // check fail before deleting it.
        let mut arguments = amqp_protocol::FieldTable::new();
        arguments.insert(amqp_protocol::ShortStr::from_static("x-expires"), 60_000i32);
        ch.queue_declare(
            &q,
            QueueDeclareOptions {
                arguments,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        ch.confirm_delivery().await.unwrap();
        let props = BasicProperties::default();
        let mut confirmations = Vec::new();
        for i in 0..300 {
            let body = format!("{i}");
            confirmations.push(
                ch.publish_with_confirm("", &q, body.as_bytes(), &props, false)
                    .await
                    .unwrap(),
            );
        }
        // Kept, not awaited: only the broker's confirms can make the held
        // back publishes leave.
        let och = observer.channel().await.unwrap();
        let mut count = 0;
        for _ in 0..50 {
            sleep(Duration::from_millis(100)).await;
            count = och
                .queue_declare(&q, passive())
                .await
                .unwrap()
                .message_count;
            if count == 300 {
                break;
            }
        }
        assert_eq!(count, 300, "held-back publishes never left");
        // The first is written and confirmed; the last resolves too.
        let last = confirmations.pop().unwrap();
        last.await.unwrap();
        for c in confirmations {
            c.await.unwrap();
        }
        och.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        observer.close().await.unwrap();
        conn.close().await.unwrap();
    }

    /// Publishes made while the socket takes nothing (a relay that stops
    /// reading) reach the broker whole and in order once it reads again:
    /// bytes written from the publishing task never overtake those the
    /// connection's driver still holds. Messages of 3 MiB, more than the
    /// sockets buffer, each followed by small ones a few milliseconds apart
    /// (far enough apart to be written directly where that is done).
    pub async fn publishes_keep_their_order_behind_a_stalled_socket(sleep: Sleep) {
        let relay = crate::live::Relay::start();
        let conn = Connection::open(relay.params()).await.unwrap();
        publishes_keep_their_order_behind(&relay, conn, sleep).await;
    }

    /// [`publishes_keep_their_order_behind_a_stalled_socket`] on a
    /// connection opened through `relay` (e.g. with TLS).
    pub async fn publishes_keep_their_order_behind(
        relay: &crate::live::Relay,
        conn: Connection,
        sleep: Sleep,
    ) {
        let ch = conn.channel().await.unwrap();
        let q = unique("stalled");
        ch.queue_declare(
            &q,
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        relay.set_reading(false);
        // Publishers wait for room while the relay does not read: it reads
        // again from another thread, whatever the runtime.
        let resume = relay.clone();
        let resumer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            resume.set_reading(true);
        });
        let props = BasicProperties::default();
        let mut expected = Vec::new();
        for round in 0..3u8 {
            let mut big = vec![b'b'; 3 << 20];
            big[0] = round;
            ch.basic_publish("", &q, &big, &props, false).await.unwrap();
            expected.push(big);
            for i in 0..5 {
                sleep(Duration::from_millis(2)).await;
                let small = format!("{round}-{i}").into_bytes();
                ch.basic_publish("", &q, &small, &props, false)
                    .await
                    .unwrap();
                expected.push(small);
            }
        }
        resumer.join().unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < expected.len() && Instant::now() < deadline {
            match ch.basic_get(&q, true).await.unwrap() {
                Some(m) => got.push(m.delivery.body.to_vec()),
                None => sleep(Duration::from_millis(20)).await,
            }
        }
        assert_eq!(got.len(), expected.len(), "messages lost");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                g == e,
                "message {i} differs ({} bytes, {} expected)",
                g.len(),
                e.len()
            );
        }
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    pub async fn handles_are_clones_of_one_connection(conn: Connection) {
        // What the broker announced, and what was negotiated.
        assert!(conn.server_properties().get("product").is_some());
        assert!(conn.tuning().frame_max > 0);
        let ch = conn.channel().await.unwrap();
        let (conn2, ch2) = (conn.clone(), ch.clone());
        drop(conn);
        // A clone keeps the connection open.
        assert!(conn2.is_open());
        ch2.basic_qos(0, 1, false).await.unwrap();
        ch.close().await.unwrap();
        assert!(!ch2.is_open());
        conn2.close().await.unwrap();
        assert!(matches!(
            conn2.closed().await,
            Error::ConnectionClosedByClient
        ));
    }

    /// The handles can move between tasks and threads.
    pub fn assert_send_sync_clone() {
        fn send_sync<T: Send + Sync>() {}
        fn clone<T: Clone>() {}
        send_sync::<Connection>();
        send_sync::<amqp_client::tokio::Channel>();
        send_sync::<amqp_client::tokio::Consumer>();
        send_sync::<amqp_client::tokio::Confirmation>();
        clone::<Connection>();
        clone::<amqp_client::tokio::Channel>();
    }
}
