//! The event-loop adapter behind the [`Adapter`] traits: a synchronous
//! facade. Each connection's loop runs on a thread of its own; the facade
//! schedules work there with [`EventLoopHandle::add_callback_threadsafe`]
//! and waits on std channels for the completion callbacks. Callback
//! consumers' deliveries are queued for the test thread, which runs them in
//! `start_consuming` / `run_for` (so a slow callback never stalls the loop);
//! iterator consumers read a channel fed by the delivery callback.
//!
//! A facade channel acts through the event loop's own handle of the channel
//! it opened (kept on the loop thread), never through whichever channel has
//! its id now, so that the loop's handles are what the scenarios check.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use amqp_client::blocking::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, GetMessage, QueueDeclareOk,
    QueueDeclareOptions,
};
use amqp_client::core::Tuning;
use amqp_client::event_loop::{self as el, ConnectionId, EventLoopHandle};
use amqp_client::types::{ExchangeDeleteOptions, NackOptions, QueueDeleteOptions};
use amqp_client::{ConnectionParameters, Error, ServerCapabilities, TcpOptions};
use amqp_protocol::{basic, BasicProperties, FieldTable};

use crate::adapter::{Adapter, Chan, Confirm, Conn, Consumer, OnBlocked, OnMessage};

/// The event-loop adapter.
#[derive(Debug, Clone, Copy)]
pub struct EventLoop;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn gone() -> Error {
    Error::Misuse("the event loop is gone".into())
}

/// Completion callback that sends the result to a waiting thread.
fn reply<T: 'static>(tx: Sender<Result<T, Error>>) -> Option<impl FnOnce(Result<T, Error>)> {
    Some(move |r| {
        let _ = tx.send(r);
    })
}

thread_local! {
    /// The loop's channel handles (not `Send`), on the loop thread, by the
    /// key of their facade channel.
    static HANDLES: RefCell<HashMap<u64, el::Channel>> = RefCell::new(HashMap::new());
}

/// Keys of facade channels: one per channel opened.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// The loop's handle of the facade channel `key` (on the loop thread).
fn handle(key: u64) -> Option<el::Channel> {
    HANDLES.with(|h| h.borrow().get(&key).cloned())
}

/// Work for the test thread (callback consumers), by facade channel key.
enum Work {
    Deliver(u64, Box<Delivery>),
    Cancelled(String),
}

type ConsumerKey = (u64, String);

/// A facade channel's id and state.
type ChanEntry = (u16, Arc<Mutex<ChanState>>);

struct ConnShared {
    handle: EventLoopHandle,
    id: ConnectionId,
    tuning: Mutex<Tuning>,
    closed: Mutex<Option<Error>>,
    closed_cond: Condvar,
    on_blocked: Mutex<Option<Arc<OnBlocked>>>,
    dispatch_tx: Mutex<Sender<Work>>,
    dispatch_rx: Mutex<Receiver<Work>>,
    /// Callback consumers; `None` while the callback runs.
    consumers: Mutex<HashMap<ConsumerKey, Option<OnMessage>>>,
    /// Facade channels by key: id and state.
    channels: Mutex<HashMap<u64, ChanEntry>>,
}

impl ConnShared {
    fn closed(&self) -> Option<Error> {
        lock(&self.closed).clone()
    }

    fn closed_error(&self) -> Error {
        self.closed().unwrap_or_else(gone)
    }

    /// Runs `f` on the loop thread with the loop and waits for its answer.
    fn on_loop<T: Send + 'static>(
        &self,
        f: impl FnOnce(&el::EventLoop) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.handle
            .add_callback_threadsafe(move |lp| {
                let _ = tx.send(f(lp));
            })
            .ok()?;
        rx.recv().ok()
    }

    /// Runs `f` with the connection on the loop thread; `f` (or a callback
    /// it sets up) sends the result.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&el::Connection, Sender<Result<T, Error>>) + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = mpsc::channel();
        let id = self.id;
        self.handle
            .add_callback_threadsafe(move |lp| {
                // A closed connection drops `tx`: the waiter sees why below.
                if let Some(conn) = lp.connection(id) {
                    f(&conn, tx)
                }
            })
            .map_err(|_| self.closed_error())?;
        rx.recv().unwrap_or_else(|_| Err(self.closed_error()))
    }
}

/// A facade connection.
pub struct EvConn {
    shared: Arc<ConnShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EvConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvConn")
            .field("id", &self.shared.id)
            .finish()
    }
}

impl Adapter for EventLoop {
    fn name(&self) -> &'static str {
        "event-loop"
    }

    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error> {
        let (tx, rx) = mpsc::channel::<Result<Arc<ConnShared>, Error>>();
        let thread = std::thread::Builder::new()
            .name("amqp-event-loop".into())
            .spawn(move || {
                let lp = match el::EventLoop::new() {
                    Ok(lp) => lp,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let conn = el::Connection::open(&lp, endpoints);
                let (dtx, drx) = mpsc::channel();
                let shared = Arc::new(ConnShared {
                    handle: lp.handle(),
                    id: conn.id(),
                    tuning: Mutex::new(conn.tuning()),
                    closed: Mutex::new(None),
                    closed_cond: Condvar::new(),
                    on_blocked: Mutex::new(None),
                    dispatch_tx: Mutex::new(dtx),
                    dispatch_rx: Mutex::new(drx),
                    consumers: Mutex::new(HashMap::new()),
                    channels: Mutex::new(HashMap::new()),
                });
                let (s, open_tx) = (shared.clone(), tx.clone());
                conn.on_open(move |c| {
                    *lock(&s.tuning) = c.tuning();
                    let _ = open_tx.send(Ok(s));
                });
                let handle = lp.handle();
                conn.on_open_error(move |e| {
                    let _ = tx.send(Err(e));
                    handle.stop();
                });
                let s = shared.clone();
                conn.on_close(move |_, e| {
                    *lock(&s.closed) = Some(e);
                    s.closed_cond.notify_all();
                });
                let s = shared;
                conn.on_blocked(move |_, reason| {
                    let cb = lock(&s.on_blocked).clone();
                    if let Some(cb) = cb {
                        cb(reason);
                    }
                });
                drop(conn);
                // A failing poller ends the loop; the facade then sees the
                // loop gone.
                let _ = lp.run();
            })
            .map_err(Error::from)?;
        match rx.recv() {
            Ok(Ok(shared)) => Ok(Box::new(EvConn {
                shared,
                thread: Mutex::new(Some(thread)),
            })),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(gone())
            }
        }
    }
}

impl Drop for EvConn {
    fn drop(&mut self) {
        if self.shared.closed().is_none() {
            let id = self.shared.id;
            let posted = self.shared.handle.add_callback_threadsafe(move |lp| {
                if let Some(c) = lp.connection(id) {
                    c.close();
                }
            });
            if posted.is_ok() {
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut closed = lock(&self.shared.closed);
                while closed.is_none() && Instant::now() < deadline {
                    closed = self
                        .shared
                        .closed_cond
                        .wait_timeout(closed, Duration::from_millis(100))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            }
        }
        self.shared.handle.stop();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

impl EvConn {
    /// Opens a channel on the lowest free number, or on `number`.
    fn open_channel(&self, number: Option<u16>) -> Result<Box<dyn Chan>, Error> {
        let state = Arc::new(Mutex::new(ChanState::default()));
        let (st, conn_shared) = (state.clone(), self.shared.clone());
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        let id = self.shared.run(move |conn, tx| {
            let opened = tx.clone();
            let on_open = move |r: Result<el::Channel, Error>| {
                let r = r.map(|ch| {
                    HANDLES.with(|h| h.borrow_mut().insert(key, ch.clone()));
                    install_channel_callbacks(&ch, st, conn_shared);
                    ch.id()
                });
                let _ = opened.send(r);
            };
            let opened = match number {
                None => conn.channel(on_open),
                Some(n) => conn.channel_with_number(n, on_open),
            };
            if let Err(e) = opened {
                let _ = tx.send(Err(e));
            }
        })?;
        lock(&self.shared.channels).insert(key, (id, state.clone()));
        Ok(Box::new(EvChan {
            conn: self.shared.clone(),
            id,
            key,
            state,
        }))
    }
}

impl Conn for EvConn {
    fn channel(&self) -> Result<Box<dyn Chan>, Error> {
        self.open_channel(None)
    }
    fn channel_with_number(&self, number: u16) -> Result<Box<dyn Chan>, Error> {
        self.open_channel(Some(number))
    }
    fn close(&self) -> Result<(), Error> {
        if self.shared.closed().is_some() {
            return Ok(());
        }
        let id = self.shared.id;
        let _ = self.shared.on_loop(move |lp| {
            if let Some(c) = lp.connection(id) {
                c.close();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut closed = lock(&self.shared.closed);
        while closed.is_none() {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "the connection's close".into(),
                });
            }
            closed = self
                .shared
                .closed_cond
                .wait_timeout(closed, Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        match &*closed {
            None | Some(Error::ConnectionClosedByClient) => Ok(()),
            Some(e) => Err(e.clone()),
        }
    }
    fn is_open(&self) -> bool {
        let id = self.shared.id;
        self.shared
            .on_loop(move |lp| lp.connection(id).is_some_and(|c| c.is_open()))
            .unwrap_or(false)
    }
    fn is_closed(&self) -> bool {
        let id = self.shared.id;
        self.shared
            .on_loop(move |lp| lp.connection(id).is_none_or(|c| c.is_closed()))
            .unwrap_or(true)
    }
    fn close_reason(&self) -> Option<Error> {
        let id = self.shared.id;
        self.shared
            .on_loop(move |lp| lp.connection(id).and_then(|c| c.close_reason()))
            .flatten()
            .or_else(|| self.shared.closed())
    }
    fn is_blocked(&self) -> bool {
        let id = self.shared.id;
        self.shared
            .on_loop(move |lp| lp.connection(id).is_some_and(|c| c.is_blocked()))
            .unwrap_or(false)
    }
    fn tuning(&self) -> Tuning {
        *lock(&self.shared.tuning)
    }
    fn run_for(&self, d: Duration) -> Result<(), Error> {
        dispatch(&self.shared, Some(Instant::now() + d), None)
    }
    fn on_blocked(&self, callback: OnBlocked) {
        *lock(&self.shared.on_blocked) = Some(Arc::new(callback));
    }
    fn socket_tcp_options(&self) -> Option<TcpOptions> {
        let id = self.shared.id;
        self.shared
            .on_loop(move |lp| lp.connection(id).and_then(|c| c.socket_tcp_options()))
            .flatten()
    }
    fn server_capabilities(&self) -> ServerCapabilities {
        let id = self.shared.id;
        self.shared
            .on_loop(move |lp| lp.connection(id).map(|c| c.server_capabilities()))
            .flatten()
            .unwrap_or_default()
    }
}

/// Runs callback consumers on the calling thread until `deadline`, or
/// (with `channel`, a facade channel key) until that channel has no
/// callback consumer left.
fn dispatch(
    shared: &Arc<ConnShared>,
    deadline: Option<Instant>,
    channel: Option<u64>,
) -> Result<(), Error> {
    let rx = lock(&shared.dispatch_rx);
    loop {
        if let Some(n) = channel {
            if !lock(&shared.consumers).keys().any(|(c, _)| *c == n) {
                return Ok(());
            }
        }
        let wait = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(());
                }
                (d - now).min(Duration::from_millis(50))
            }
            None => Duration::from_millis(50),
        };
        match rx.recv_timeout(wait) {
            Ok(Work::Deliver(n, d)) => {
                let key = (n, d.consumer_tag.to_string_lossy().into_owned());
                let callback = lock(&shared.consumers).get_mut(&key).and_then(Option::take);
                let Some(mut callback) = callback else {
                    continue;
                };
                let Some((id, state)) = lock(&shared.channels).get(&n).cloned() else {
                    continue;
                };
                let ch = EvChan {
                    conn: shared.clone(),
                    id,
                    key: n,
                    state,
                };
                callback(&ch, *d);
                if let Some(slot) = lock(&shared.consumers).get_mut(&key) {
                    *slot = Some(callback);
                }
            }
            Ok(Work::Cancelled(tag)) => {
                lock(&shared.consumers).retain(|(_, t), _| *t != tag);
                return Err(Error::ConsumerCancelled { consumer_tag: tag });
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(e) = shared.closed() {
                    return Err(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Err(shared.closed_error()),
        }
    }
}

#[derive(Default)]
struct ChanState {
    closed: Option<Error>,
    confirm: bool,
    /// Publishes awaiting their outcome.
    confirms: HashMap<u64, Sender<Result<(), Error>>>,
    /// Iterator consumers by tag.
    iterators: HashMap<String, Sender<Result<Delivery, Error>>>,
}

/// The channel closed: everything waiting on it fails with `error`.
fn mark_closed(state: &Mutex<ChanState>, error: Error) {
    let mut s = lock(state);
    for (_, tx) in std::mem::take(&mut s.confirms) {
        let _ = tx.send(Err(error.clone()));
    }
    for (_, tx) in s.iterators.drain() {
        let _ = tx.send(Err(error.clone()));
    }
    s.closed = Some(error);
}

/// Callbacks every facade channel has: close, the outcome of each publish
/// in confirm mode, broker cancels.
fn install_channel_callbacks(
    ch: &el::Channel,
    state: Arc<Mutex<ChanState>>,
    conn: Arc<ConnShared>,
) {
    let st = state.clone();
    ch.on_close(move |_, error| mark_closed(&st, error));
    let st = state.clone();
    ch.on_confirm(move |_, seq, outcome| {
        let waiter = lock(&st).confirms.remove(&seq);
        if let Some(tx) = waiter {
            let _ = tx.send(outcome);
        }
    });
    ch.on_cancel(move |_, tag| {
        let iterator = lock(&state).iterators.remove(tag);
        match iterator {
            Some(tx) => {
                let _ = tx.send(Err(Error::ConsumerCancelled {
                    consumer_tag: tag.to_owned(),
                }));
            }
            None => {
                let _ = lock(&conn.dispatch_tx).send(Work::Cancelled(tag.to_owned()));
            }
        }
    });
}

/// A facade channel.
#[derive(Clone)]
pub struct EvChan {
    conn: Arc<ConnShared>,
    id: u16,
    /// The loop's handle of this channel, in [`HANDLES`].
    key: u64,
    state: Arc<Mutex<ChanState>>,
}

impl std::fmt::Debug for EvChan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvChan").field("id", &self.id).finish()
    }
}

impl EvChan {
    /// Runs `f` with the channel on the loop thread and waits for what it
    /// (or the callback it sets up) sends; an error `f` returns is sent.
    fn op<T: Send + 'static>(
        &self,
        f: impl FnOnce(&el::Channel, Sender<Result<T, Error>>) -> Result<(), Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (key, n) = (self.key, self.id);
        self.conn.run(move |_, tx| {
            // The loop's own handle answers, for a closed channel too.
            match handle(key) {
                Some(ch) => {
                    if let Err(e) = f(&ch, tx.clone()) {
                        let _ = tx.send(Err(e));
                    }
                }
                None => {
                    let _ = tx.send(Err(Error::Misuse(format!("channel {n} is not open"))));
                }
            }
        })
    }

    /// A method without reply: done once queued.
    fn now(
        &self,
        f: impl FnOnce(&el::Channel) -> Result<(), Error> + Send + 'static,
    ) -> Result<(), Error> {
        self.op(move |ch, tx| {
            f(ch)?;
            let _ = tx.send(Ok(()));
            Ok(())
        })
    }

    fn publish_confirmed(
        &self,
        method: basic::Publish,
        p: &BasicProperties,
        body: &[u8],
    ) -> Result<EvConfirm, Error> {
        let (ctx, crx) = mpsc::channel();
        let (p, body, state) = (p.clone(), body.to_vec(), self.state.clone());
        let seq = self.op(move |ch, tx| {
            match ch.publish_method(method, &p, &body)? {
                Some(seq) => {
                    lock(&state).confirms.insert(seq, ctx);
                    let _ = tx.send(Ok(seq));
                }
                None => {
                    let _ = tx.send(Err(Error::Misuse(
                        "publish_with_confirm needs confirm_delivery() first".into(),
                    )));
                }
            }
            Ok(())
        })?;
        Ok(EvConfirm { seq, rx: crx })
    }
}

fn publish(exchange: &str, key: &str, mandatory: bool) -> Result<basic::Publish, Error> {
    let short =
        |s: &str| amqp_protocol::ShortStr::try_from(s).map_err(|e| Error::Misuse(e.to_string()));
    Ok(basic::Publish {
        exchange: short(exchange)?,
        routing_key: short(key)?,
        mandatory,
        ..Default::default()
    })
}

/// A facade publisher confirm.
pub struct EvConfirm {
    seq: u64,
    rx: Receiver<Result<(), Error>>,
}

impl Confirm for EvConfirm {
    fn sequence_number(&self) -> u64 {
        self.seq
    }
    fn wait(self: Box<Self>) -> Result<(), Error> {
        self.rx
            .recv()
            .unwrap_or_else(|_| Err(Error::Misuse("the confirm was lost".into())))
    }
}

/// A facade iterator consumer.
pub struct EvConsumer {
    chan: EvChan,
    tag: String,
    rx: Receiver<Result<Delivery, Error>>,
    inactivity: Option<Duration>,
    no_ack: bool,
    done: bool,
}

impl Consumer for EvConsumer {
    fn next_delivery(&mut self) -> Option<Result<Option<Delivery>, Error>> {
        if self.done {
            return None;
        }
        let item = match self.inactivity {
            Some(t) => match self.rx.recv_timeout(t) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout) => return Some(Ok(None)),
                Err(RecvTimeoutError::Disconnected) => Err(self.chan.conn.closed_error()),
            },
            None => self
                .rx
                .recv()
                .unwrap_or_else(|_| Err(self.chan.conn.closed_error())),
        };
        match item {
            Ok(d) => Some(Ok(Some(d))),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
    fn consumer_tag(&self) -> String {
        self.tag.clone()
    }
    fn cancel(mut self: Box<Self>) -> Result<usize, Error> {
        self.cancel_now()
    }
}

impl EvConsumer {
    /// Cancels on the loop, then requeues what was received and not yet
    /// taken, as the iterators of the other adapters do: never a stream
    /// queue's delivery (a stream answers a nack by closing the
    /// connection).
    fn cancel_now(&mut self) -> Result<usize, Error> {
        self.done = true;
        let tag = self.tag.clone();
        self.chan
            .op(move |ch, tx| ch.basic_cancel(&tag, reply(tx)))?;
        lock(&self.chan.state).iterators.remove(&self.tag);
        let mut pending = Vec::new();
        while let Ok(item) = self.rx.try_recv() {
            if let Ok(d) = item {
                let from_stream = d
                    .properties
                    .headers
                    .as_ref()
                    .is_some_and(|h| h.get("x-stream-offset").is_some());
                if !from_stream {
                    pending.push(d.delivery_tag);
                }
            }
        }
        if self.no_ack {
            return Ok(0);
        }
        for tag in &pending {
            self.chan.basic_nack(*tag, NackOptions::default())?;
        }
        Ok(pending.len())
    }
}

impl Drop for EvConsumer {
    fn drop(&mut self) {
        // Dropping an iterator cancels it, as in the other adapters.
        if !self.done {
            let _ = self.cancel_now();
        }
    }
}

impl Chan for EvChan {
    fn clone_box(&self) -> Box<dyn Chan> {
        Box::new(self.clone())
    }
    fn id(&self) -> u16 {
        self.id
    }
    fn is_open(&self) -> bool {
        let key = self.key;
        self.conn
            .on_loop(move |_| handle(key).is_some_and(|c| c.is_open()))
            .unwrap_or(false)
    }
    fn consumer_tags(&self) -> Vec<String> {
        let key = self.key;
        self.conn
            .on_loop(move |_| handle(key).map(|c| c.consumer_tags()).unwrap_or_default())
            .unwrap_or_default()
    }
    fn is_closed(&self) -> bool {
        let key = self.key;
        self.conn
            .on_loop(move |_| handle(key).is_none_or(|c| c.is_closed()))
            .unwrap_or(true)
    }
    fn close(&self) -> Result<(), Error> {
        if lock(&self.state).closed.is_some() {
            return Ok(());
        }
        let state = self.state.clone();
        let r = self.op(move |ch, tx| {
            ch.close()?;
            // Answer once closed: the same bookkeeping, then the reply.
            ch.on_close(move |_, error| {
                mark_closed(&state, error);
                let _ = tx.send(Ok(()));
            });
            Ok(())
        });
        match r {
            Ok(()) => Ok(()),
            Err(_) if lock(&self.state).closed.is_some() || self.conn.closed().is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }
    fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        o: ExchangeDeclareOptions,
    ) -> Result<(), Error> {
        let (name, kind) = (name.to_owned(), kind.to_owned());
        self.op(move |ch, tx| ch.exchange_declare(&name, &kind, o, reply(tx)))
    }
    fn exchange_delete(&self, name: &str, options: ExchangeDeleteOptions) -> Result<(), Error> {
        let name = name.to_owned();
        self.op(move |ch, tx| ch.exchange_delete(&name, options, reply(tx)))
    }
    fn exchange_bind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        let (d, s, k) = (dest.to_owned(), source.to_owned(), key.to_owned());
        self.op(move |ch, tx| ch.exchange_bind(&d, &s, &k, args, reply(tx)))
    }
    fn exchange_unbind(
        &self,
        dest: &str,
        source: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        let (d, s, k) = (dest.to_owned(), source.to_owned(), key.to_owned());
        self.op(move |ch, tx| ch.exchange_unbind(&d, &s, &k, args, reply(tx)))
    }
    fn queue_declare(&self, name: &str, o: QueueDeclareOptions) -> Result<QueueDeclareOk, Error> {
        let name = name.to_owned();
        self.op(move |ch, tx| ch.queue_declare(&name, o, reply(tx)))
    }
    fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        let (q, e, k) = (queue.to_owned(), exchange.to_owned(), key.to_owned());
        self.op(move |ch, tx| ch.queue_bind(&q, &e, &k, args, reply(tx)))
    }
    fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: FieldTable,
    ) -> Result<(), Error> {
        let (q, e, k) = (queue.to_owned(), exchange.to_owned(), key.to_owned());
        self.op(move |ch, tx| ch.queue_unbind(&q, &e, &k, args, reply(tx)))
    }
    fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        let q = queue.to_owned();
        self.op(move |ch, tx| ch.queue_purge(&q, reply(tx)))
    }
    fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32, Error> {
        let q = queue.to_owned();
        self.op(move |ch, tx| ch.queue_delete(&q, options, reply(tx)))
    }
    fn basic_qos(&self, size: u32, count: u16, global: bool) -> Result<(), Error> {
        self.op(move |ch, tx| ch.basic_qos(size, count, global, reply(tx)))
    }
    fn basic_publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<(), Error> {
        let method = publish(exchange, key, mandatory)?;
        if lock(&self.state).confirm {
            return Box::new(self.publish_confirmed(method, p, body)?).wait();
        }
        self.publish_method(method, p, body)
    }
    fn publish_method(
        &self,
        m: basic::Publish,
        p: &BasicProperties,
        body: &[u8],
    ) -> Result<(), Error> {
        let (p, body) = (p.clone(), body.to_vec());
        self.now(move |ch| ch.publish_method(m, &p, &body).map(|_| ()))
    }
    fn publish_with_confirm(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        p: &BasicProperties,
        mandatory: bool,
    ) -> Result<Box<dyn Confirm>, Error> {
        let method = publish(exchange, key, mandatory)?;
        Ok(Box::new(self.publish_confirmed(method, p, body)?))
    }
    fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetMessage>, Error> {
        let q = queue.to_owned();
        self.op(move |ch, tx| ch.basic_get(&q, no_ack, reply(tx)))
    }
    fn basic_ack(&self, tag: u64, multiple: bool) -> Result<(), Error> {
        self.now(move |ch| ch.basic_ack(tag, multiple))
    }
    fn basic_nack(&self, tag: u64, options: NackOptions) -> Result<(), Error> {
        self.now(move |ch| ch.basic_nack(tag, options))
    }
    fn basic_reject(&self, tag: u64, requeue: bool) -> Result<(), Error> {
        self.now(move |ch| ch.basic_reject(tag, requeue))
    }
    fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.op(move |ch, tx| ch.basic_recover(requeue, reply(tx)))
    }
    fn confirm_delivery(&self) -> Result<(), Error> {
        lock(&self.state).confirm = true;
        self.op(move |ch, tx| ch.confirm_delivery(reply(tx)))
    }
    fn tx_select(&self) -> Result<(), Error> {
        self.op(move |ch, tx| ch.tx_select(reply(tx)))
    }
    fn tx_commit(&self) -> Result<(), Error> {
        self.op(move |ch, tx| ch.tx_commit(reply(tx)))
    }
    fn tx_rollback(&self) -> Result<(), Error> {
        self.op(move |ch, tx| ch.tx_rollback(reply(tx)))
    }
    fn flow(&self, active: bool) -> Result<bool, Error> {
        self.op(move |ch, tx| ch.flow(active, reply(tx)))
    }
    fn consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        inactivity: Option<Duration>,
    ) -> Result<Box<dyn Consumer>, Error> {
        let (itx, irx) = mpsc::channel();
        let no_ack = o.no_ack;
        let (q, state) = (queue.to_owned(), self.state.clone());
        let tag = self.op(move |ch, tx| {
            let feed = itx.clone();
            ch.basic_consume(
                &q,
                o,
                move |_, d| {
                    let _ = feed.send(Ok(d));
                },
                Some(move |tag: Result<String, Error>| {
                    if let Ok(tag) = &tag {
                        lock(&state).iterators.insert(tag.clone(), itx);
                    }
                    let _ = tx.send(tag);
                }),
            )
        })?;
        Ok(Box::new(EvConsumer {
            chan: self.clone(),
            tag,
            rx: irx,
            inactivity,
            no_ack,
            done: false,
        }))
    }
    fn basic_consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        on_message: OnMessage,
    ) -> Result<String, Error> {
        let (q, n) = (queue.to_owned(), self.key);
        let dispatch = lock(&self.conn.dispatch_tx).clone();
        // Registered before the broker can deliver: the tag is chosen here.
        let tag = if o.consumer_tag.is_empty() {
            crate::live::unique("cb").replacen("amqp-test.", "amqp-client.", 1)
        } else {
            o.consumer_tag.clone()
        };
        let o = ConsumeOptions {
            consumer_tag: tag.clone(),
            ..o
        };
        lock(&self.conn.consumers).insert((n, tag.clone()), Some(on_message));
        let result = self.op(move |ch, tx| {
            ch.basic_consume(
                &q,
                o,
                move |_, d| {
                    let _ = dispatch.send(Work::Deliver(n, Box::new(d)));
                },
                reply(tx),
            )
        });
        // The facade chose the tag; the broker's echo is the same.
        if result.is_err() {
            lock(&self.conn.consumers).remove(&(n, tag.clone()));
        }
        result.map(|_| tag)
    }
    fn basic_cancel(&self, tag: &str) -> Result<(), Error> {
        let t = tag.to_owned();
        let r = self.op(move |ch, tx| ch.basic_cancel(&t, reply(tx)));
        lock(&self.conn.consumers).remove(&(self.key, tag.to_owned()));
        r
    }
    fn start_consuming(&self) -> Result<(), Error> {
        dispatch(&self.conn, None, Some(self.key))
    }
    fn stop_consuming(&self) -> Result<(), Error> {
        let tags: Vec<String> = lock(&self.conn.consumers)
            .keys()
            .filter(|(c, _)| *c == self.key)
            .map(|(_, t)| t.clone())
            .collect();
        for t in tags {
            self.basic_cancel(&t)?;
        }
        Ok(())
    }
}
