//! [`Connection`]: connecting (endpoints, attempts, non-blocking connect),
//! driving the core with the socket's bytes and the loop's time, and turning
//! the core's events into callbacks.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqp_protocol::{FieldTable, Method, ReplyCode};
use mio::event::Event as IoEvent;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::channel::{ChanInner, Channel, Confirm};
use super::transport::{typed_error, ReadStatus, Transport};
use super::{EventLoop, LoopInner};
use crate::core::{Config, Connection as Core, Content, Event, RequestId, Tuning};
use crate::error::{BrokerClose, Error};
use crate::params::{Attempt, ConnectionParameters, Endpoints};
#[cfg(feature = "tls")]
use crate::tls::TlsLayer;
use crate::types::{Delivery, Returned};

/// How many reads one connection does per loop iteration before the others
/// get their turn (the rest is read on the next iteration).
const READS_PER_TURN: usize = 16;

/// Default time allowed for a TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The start of an attempt on an endpoint: its TLS layer (unusable TLS
/// settings fail the attempt before connecting) and its addresses.
fn connecting(
    params: &ConnectionParameters,
    endpoint: usize,
    now: Instant,
) -> Result<Phase, Error> {
    #[cfg(feature = "tls")]
    let tls = if params.tls() {
        Some(Box::new(TlsLayer::new(params)?))
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    if params.tls() {
        return Err(Error::Misuse(
            "amqps (TLS) needs the amqp-client feature \"tls\"".into(),
        ));
    }
    let addrs = (params.host(), params.port())
        .to_socket_addrs()
        .map_err(|e| Error::ConnectFailed {
            endpoint: format!("{}:{}", params.host(), params.port()),
            source: Arc::new(e),
        })?;
    Ok(Phase::Connecting {
        endpoint,
        addrs: addrs.collect(),
        deadline: now + params.socket_timeout().unwrap_or(CONNECT_TIMEOUT),
        last: None,
        #[cfg(feature = "tls")]
        tls,
    })
}

/// The outcome of a synchronous call, as the core reports it.
pub(super) type Reply = Result<(Method, Option<Content>), Error>;
/// What runs when a call completes.
pub(super) type Completion = Box<dyn FnOnce(Reply)>;

type OnOpen = Box<dyn FnOnce(&Connection)>;
type OnOpenError = Box<dyn FnOnce(Error)>;
type OnClose = Box<dyn FnOnce(&Connection, Error)>;
type OnBlocked = Rc<RefCell<dyn FnMut(&Connection, Option<&str>)>>;

/// Identifies a connection on its loop (see [`super::EventLoop::connection`]);
/// `Send`, so other threads can name a connection in the callbacks they
/// schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(usize);

impl ConnectionId {
    pub(super) fn token(self) -> usize {
        self.0
    }
}

enum Phase {
    /// The next attempt starts at `at`.
    Waiting { at: Instant, endpoint: usize },
    /// A TCP connect is in progress; `addrs` are the addresses left to try.
    Connecting {
        endpoint: usize,
        addrs: VecDeque<SocketAddr>,
        deadline: Instant,
        last: Option<io::Error>,
        /// The TLS layer for the connection, unused until it is up.
        #[cfg(feature = "tls")]
        tls: Option<Box<TlsLayer>>,
    },
    /// Connected: the core runs the handshake, then the connection.
    Connected,
    /// Open failed or the connection closed.
    Done,
}

pub(crate) struct ConnInner {
    id: ConnectionId,
    lp: Weak<LoopInner>,
    pub(super) st: RefCell<ConnState>,
}

pub(super) struct ConnState {
    endpoints: Endpoints,
    plan: Vec<Attempt>,
    next_attempt: usize,
    phase: Phase,
    pub(super) core: Option<Core>,
    transport: Option<Transport>,
    /// The socket may have more input than was read last turn.
    more_input: bool,
    opened: bool,
    closed: Option<Error>,
    last_error: Option<Error>,
    server_properties: FieldTable,
    tuning: Tuning,
    blocked: bool,
    pub(super) pending: HashMap<RequestId, Completion>,
    pub(super) channels: HashMap<u16, Rc<ChanInner>>,
    /// Channels whose id was reused before their close was reported (the
    /// core frees an id as it queues the close): the events still queued
    /// for the id are theirs, up to that close.
    superseded: HashMap<u16, Rc<ChanInner>>,
    /// The core's events taken out of it early (to find a superseded
    /// channel's close error), reported before the core's next ones.
    backlog: VecDeque<Event>,
    on_open: Option<OnOpen>,
    on_open_error: Option<OnOpenError>,
    on_close: Option<OnClose>,
    on_blocked: Option<OnBlocked>,
}

impl ConnState {
    /// The channel `old` of id `id` closed in the core, which gave the id to
    /// a new channel, but its close is still queued: from now on its
    /// handles fail with that close's error, never acting on the new
    /// channel, and the events queued for the id up to the close are its.
    fn supersede(&mut self, id: u16, old: Rc<ChanInner>) {
        if old.data.borrow().closed.is_some() {
            return;
        }
        if let Some(core) = self.core.as_mut() {
            while let Some(event) = core.poll_event() {
                self.backlog.push_back(event);
            }
        }
        let error = self.backlog.iter().find_map(|e| match e {
            Event::ChannelClosed { channel, error, .. } if *channel == id => {
                Some(typed_error(error.clone()))
            }
            _ => None,
        });
        {
            let mut d = old.data.borrow_mut();
            d.open = false;
            d.closed = Some(
                error
                    .clone()
                    .unwrap_or(Error::ChannelClosedByClient { channel: id }),
            );
        }
        // Without its close queued, no event on the id is its any more.
        if error.is_some() {
            self.superseded.insert(id, old);
        }
    }

    /// The channel the core's next event on `id` is about.
    fn channel_for_event(&self, id: u16) -> Option<&Rc<ChanInner>> {
        self.superseded.get(&id).or_else(|| self.channels.get(&id))
    }

    /// The core, when the connection is usable.
    pub(super) fn core(&mut self) -> Result<&mut Core, Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        match (&mut self.core, self.opened) {
            (Some(core), true) => Ok(core),
            _ => Err(Error::Misuse("the connection is not open yet".into())),
        }
    }
}

/// A callback to run once the state is no longer borrowed.
enum Action {
    None,
    Opened(Option<OnOpen>),
    Reply(Completion, Reply),
    Deliver(Channel, Delivery),
    Return(Channel, Returned),
    Confirm(Channel, Confirm),
    Cancelled(Channel, String),
    Flow(Channel, bool),
    Blocked(OnBlocked, Option<String>),
    ChannelClosed {
        channel: Channel,
        failed: Vec<Completion>,
        error: Error,
    },
    Closed {
        on_close: Option<OnClose>,
        failed: Vec<Completion>,
        error: Error,
    },
    Failed(Vec<Completion>, Error),
}

/// A connection driven by an [`EventLoop`]. Cheap to clone (clones share
/// the connection); not `Send`: other threads name it by its
/// [`ConnectionId`] in [`super::EventLoopHandle::add_callback_threadsafe`].
///
/// Set the callbacks right after [`open`](Self::open), before the loop runs
/// (or in the callback that opened it): connecting starts on the loop's
/// next iteration.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<ConnInner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects on `event_loop` once it runs, trying each endpoint in turn
    /// with its own connection attempts and retry delay (never blocking the
    /// loop: retries wait on a timer, connects are non-blocking), and every
    /// address its host resolves to. Refused credentials are not retried.
    /// [`on_open`](Self::on_open) or [`on_open_error`](Self::on_open_error)
    /// reports the outcome.
    pub fn open(event_loop: &EventLoop, endpoints: impl Into<Endpoints>) -> Connection {
        let endpoints = endpoints.into();
        let plan: Vec<Attempt> = endpoints.attempts().collect();
        let lp = event_loop.downgrade();
        let now = Instant::now();
        let inner = event_loop.register_connection(|token| {
            Rc::new(ConnInner {
                id: ConnectionId(token),
                lp,
                st: RefCell::new(ConnState {
                    endpoints,
                    plan,
                    next_attempt: 0,
                    phase: Phase::Done,
                    core: None,
                    transport: None,
                    more_input: false,
                    opened: false,
                    closed: None,
                    last_error: None,
                    server_properties: FieldTable::new(),
                    tuning: Tuning {
                        channel_max: 0,
                        frame_max: 0,
                        heartbeat: 0,
                    },
                    blocked: false,
                    pending: HashMap::new(),
                    channels: HashMap::new(),
                    superseded: HashMap::new(),
                    backlog: VecDeque::new(),
                    on_open: None,
                    on_open_error: None,
                    on_close: None,
                    on_blocked: None,
                }),
            })
        });
        {
            let mut st = inner.st.borrow_mut();
            // The first planned attempt has no delay: it starts on the loop's
            // next turn. Without one, that turn reports the open error.
            let endpoint = match st.plan.first().copied() {
                Some(a) => {
                    st.next_attempt = 1;
                    a.endpoint
                }
                None => {
                    st.last_error = Some(Error::Misuse("no endpoint to connect to".into()));
                    usize::MAX
                }
            };
            st.phase = Phase::Waiting { at: now, endpoint };
        }
        Connection { inner }
    }

    pub(super) fn from_inner(inner: Rc<ConnInner>) -> Connection {
        Connection { inner }
    }

    /// Called once the connection is open (handshake done).
    pub fn on_open(&self, callback: impl FnOnce(&Connection) + 'static) {
        self.inner.st.borrow_mut().on_open = Some(Box::new(callback));
    }

    /// Called when no endpoint could be connected to (or the broker refused
    /// the credentials), with the last error.
    pub fn on_open_error(&self, callback: impl FnOnce(Error) + 'static) {
        self.inner.st.borrow_mut().on_open_error = Some(Box::new(callback));
    }

    /// Called when an open connection closes, by either side or because the
    /// stream failed ([`Error::ConnectionClosedByClient`] after
    /// [`close`](Self::close)). Every channel's `on_close` runs first.
    pub fn on_close(&self, callback: impl FnOnce(&Connection, Error) + 'static) {
        self.inner.st.borrow_mut().on_close = Some(Box::new(callback));
    }

    /// Called with `Some(reason)` when the broker blocks the connection
    /// (resource alarm) and `None` when it unblocks it.
    pub fn on_blocked(&self, callback: impl FnMut(&Connection, Option<&str>) + 'static) {
        self.inner.st.borrow_mut().on_blocked = Some(Rc::new(RefCell::new(callback)));
    }

    /// The connection's id on its loop.
    pub fn id(&self) -> ConnectionId {
        self.inner.id
    }

    /// The loop driving this connection, while it exists.
    pub fn event_loop(&self) -> Option<EventLoop> {
        self.inner.lp.upgrade().map(EventLoop::from_inner)
    }

    /// Whether the connection is open (handshake done, not closing).
    pub fn is_open(&self) -> bool {
        let st = self.inner.st.borrow();
        st.opened && st.core.as_ref().is_some_and(|c| c.is_open())
    }

    /// Whether the connection is closed (or failed to open): true from the
    /// moment its close is being reported.
    pub fn is_closed(&self) -> bool {
        self.inner.st.borrow().closed.is_some()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.inner.st.borrow().closed.clone()
    }

    /// Whether the broker has blocked the connection.
    pub fn is_blocked(&self) -> bool {
        self.inner.st.borrow().blocked
    }

    /// Bytes of output not yet taken by the socket (the protocol's frames
    /// and, with TLS, their records). The loop buffers whatever the socket
    /// does not take at once, without limit: a publisher that may outrun the
    /// network checks this and holds back above a bound of its choice
    /// (resuming from a [`EventLoop::call_later`] timer, say).
    ///
    /// [`EventLoop::call_later`]: super::EventLoop::call_later
    pub fn buffered_output(&self) -> usize {
        let st = self.inner.st.borrow();
        st.core.as_ref().map_or(0, |c| c.pending_output_len())
            + st.transport.as_ref().map_or(0, |t| t.pending_len())
    }

    /// What was negotiated (zeros before the connection is open).
    pub fn tuning(&self) -> Tuning {
        self.inner.st.borrow().tuning
    }

    /// The broker's server-properties (empty before the connection is open).
    pub fn server_properties(&self) -> FieldTable {
        self.inner.st.borrow().server_properties.clone()
    }

    /// Opens a channel on the lowest free id. The returned channel can be
    /// used at once: its requests go out after channel.open-ok. `on_open`
    /// gets the channel once the broker opened it, or the error.
    pub fn open_channel(
        &self,
        on_open: Option<impl FnOnce(Result<Channel, Error>) + 'static>,
    ) -> Result<Channel, Error> {
        let mut st = self.inner.st.borrow_mut();
        let (id, request) = st.core()?.open_channel()?;
        let chan = Rc::new(ChanInner::new(id));
        if let Some(old) = st.channels.insert(id, chan.clone()) {
            st.supersede(id, old);
        }
        let channel = Channel::new(self.inner.clone(), chan);
        let reply_channel = channel.clone();
        let completion: Completion = Box::new(move |reply: Reply| {
            let result = reply.map(|_| reply_channel);
            match on_open {
                Some(f) => f(result),
                None => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "channel open failed");
                    }
                }
            }
        });
        st.pending.insert(request, completion);
        Ok(channel)
    }

    /// The open channel with this id.
    pub fn channel(&self, id: u16) -> Option<Channel> {
        let chan = self.inner.st.borrow().channels.get(&id).cloned()?;
        Some(Channel::new(self.inner.clone(), chan))
    }

    /// Closes the connection (connection.close, then close-ok or the close
    /// timeout); [`on_close`](Self::on_close) reports the end. Closing a
    /// closed connection does nothing; closing one still connecting gives up
    /// connecting.
    pub fn close(&self) {
        let mut st = self.inner.st.borrow_mut();
        if st.closed.is_some() {
            return;
        }
        if !st.opened {
            // Give up the attempts: the next turn reports the open error.
            st.plan.clear();
            st.last_error = Some(Error::ConnectionClosedByClient);
            match st.core.as_mut() {
                Some(core) => {
                    core.close(ReplyCode::REPLY_SUCCESS, "Normal shutdown", Instant::now())
                }
                None => {
                    st.phase = Phase::Waiting {
                        at: Instant::now(),
                        endpoint: usize::MAX,
                    }
                }
            }
            return;
        }
        if let Some(core) = st.core.as_mut() {
            core.close(ReplyCode::REPLY_SUCCESS, "Normal shutdown", Instant::now());
        }
    }

    /// Sends connection.update-secret (a refreshed credential); `on_done`
    /// gets the outcome.
    pub fn update_secret(
        &self,
        new_secret: &[u8],
        reason: &str,
        on_done: Option<impl FnOnce(Result<(), Error>) + 'static>,
    ) -> Result<(), Error> {
        let m = amqp_protocol::connection::UpdateSecret {
            new_secret: amqp_protocol::LongStr::from(new_secret),
            reason: super::channel::short(reason)?,
        };
        let mut st = self.inner.st.borrow_mut();
        let request = st.core()?.call(0, m.into())?;
        st.pending.insert(
            request,
            super::channel::completion(on_done, |_, _| Ok(()), 0),
        );
        Ok(())
    }
}

impl ConnInner {
    /// The earliest time the loop must come back for this connection.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let st = self.st.borrow();
        match &st.phase {
            Phase::Waiting { at, .. } => Some(*at),
            Phase::Connecting { deadline, .. } => Some(*deadline),
            Phase::Connected => st.core.as_ref().and_then(|c| c.poll_timeout()),
            Phase::Done => None,
        }
    }

    /// The loop is dropped: release the socket and every callback (which
    /// may hold handles to this connection).
    pub(super) fn abandon(&self) {
        let (transport, callbacks) = {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Done;
            st.backlog.clear();
            let channels: Vec<Rc<ChanInner>> = std::mem::take(&mut st.channels)
                .into_values()
                .chain(std::mem::take(&mut st.superseded).into_values())
                .collect();
            let callbacks = (
                std::mem::take(&mut st.pending),
                channels,
                st.on_open.take(),
                st.on_open_error.take(),
                st.on_close.take(),
                st.on_blocked.take(),
            );
            (st.transport.take(), callbacks)
        };
        for chan in &callbacks.1 {
            drop(chan.clear());
        }
        drop((transport, callbacks));
    }

    /// Socket readiness.
    pub(super) fn on_ready(
        self: &Rc<Self>,
        lp: &EventLoop,
        event: &IoEvent,
        buf: &mut [u8],
        now: Instant,
    ) {
        let connecting = matches!(self.st.borrow().phase, Phase::Connecting { .. });
        if connecting {
            self.check_connect(lp, now);
            return;
        }
        let mut st = self.st.borrow_mut();
        if !matches!(st.phase, Phase::Connected) {
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            st.more_input = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            // A failure is handled by the next `drive`, which runs the
            // core's events.
            let _ = Self::flush(&mut st);
        }
        drop(st);
        self.read(buf, now);
    }

    /// Reads what is ready (a bounded amount) and feeds it to the core.
    fn read(&self, buf: &mut [u8], now: Instant) {
        let mut st = self.st.borrow_mut();
        if !st.more_input {
            return;
        }
        let st = &mut *st;
        let (Some(transport), Some(core)) = (st.transport.as_mut(), st.core.as_mut()) else {
            st.more_input = false;
            return;
        };
        let result = transport.read(buf, READS_PER_TURN, |data| core.handle_input(data, now));
        st.more_input = false;
        match result {
            Ok(ReadStatus::Drained) => {}
            Ok(ReadStatus::More) => st.more_input = true,
            Ok(ReadStatus::Eof) => core.handle_eof(None),
            Err(e) => core.handle_eof(Some(e)),
        }
    }

    /// Writes what the transport holds; a failed write ends the core (true).
    fn flush(st: &mut ConnState) -> bool {
        let (Some(transport), Some(core)) = (st.transport.as_mut(), st.core.as_mut()) else {
            return false;
        };
        match transport.flush() {
            Ok(()) => false,
            Err(e) => {
                core.handle_eof(Some(e));
                true
            }
        }
    }

    /// One loop turn for this connection: attempts and connect timeouts,
    /// leftover input, the core's timers, its events (callbacks) and its
    /// output. True when more input may be waiting.
    pub(super) fn drive(self: &Rc<Self>, lp: &EventLoop, buf: &mut [u8], now: Instant) -> bool {
        let due = {
            let st = self.st.borrow();
            match &st.phase {
                Phase::Waiting { at, endpoint } => (*at <= now).then_some(Some(*endpoint)),
                Phase::Connecting { deadline, .. } => (*deadline <= now).then_some(None),
                Phase::Connected | Phase::Done => None,
            }
        };
        match due {
            Some(Some(endpoint)) => self.begin_attempt(lp, endpoint, now),
            Some(None) => self.address_failed(
                lp,
                io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                now,
            ),
            None => {}
        }
        if !matches!(self.st.borrow().phase, Phase::Connected) {
            return false;
        }
        self.read(buf, now);
        if let Some(core) = self.st.borrow_mut().core.as_mut() {
            core.handle_timeout(now);
        }
        self.process(lp, now);
        self.st.borrow().more_input
    }

    /// Runs the callbacks of the core's events and writes its output, until
    /// neither is left; then tears the socket down when the core is done.
    fn process(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        loop {
            loop {
                let action = {
                    let mut st = self.st.borrow_mut();
                    let event = match st.backlog.pop_front() {
                        Some(event) => Some(event),
                        None => st.core.as_mut().and_then(|c| c.poll_event()),
                    };
                    let Some(event) = event else {
                        break;
                    };
                    self.prepare(&mut st, event)
                };
                self.run(action);
            }
            let (closed, failed) = {
                let mut st = self.st.borrow_mut();
                let st = &mut *st;
                let (Some(core), Some(transport)) = (st.core.as_mut(), st.transport.as_mut())
                else {
                    return;
                };
                let mut failed = false;
                while let Some(bytes) = core.poll_transmit(now) {
                    if let Err(e) = transport.queue(bytes) {
                        core.handle_eof(Some(e));
                        failed = true;
                        break;
                    }
                }
                // Even after a failure: TLS may have an alert to send.
                failed |= Self::flush(st);
                (st.core.as_ref().is_some_and(|c| c.is_closed()), failed)
            };
            if failed {
                // The failure queued the close's events: run them.
                continue;
            }
            if closed {
                return self.teardown(lp, now);
            }
            if !self.update_interest(lp) {
                return;
            }
        }
    }

    /// Registers the socket for writability exactly while output waits.
    /// True when registering failed (the core then has the error).
    fn update_interest(&self, lp: &EventLoop) -> bool {
        let mut st = self.st.borrow_mut();
        let Some(transport) = st.transport.as_mut() else {
            return false;
        };
        let wanted = transport.wanted_interest();
        if wanted == transport.interest() {
            return false;
        }
        let token = Token(self.id.0);
        match lp
            .registry()
            .reregister(transport.stream_mut(), token, wanted)
        {
            Ok(()) => {
                transport.set_interest(wanted);
                false
            }
            Err(e) => {
                if let Some(core) = st.core.as_mut() {
                    core.handle_eof(Some(e));
                }
                true
            }
        }
    }

    /// The core is closed: drop the socket, then either report the end or
    /// (when the handshake failed) go on with the next attempt.
    fn teardown(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let opened = {
            let mut st = self.st.borrow_mut();
            if let Some(mut t) = st.transport.take() {
                t.finish();
                let _ = lp.registry().deregister(t.stream_mut());
            }
            st.core = None;
            st.more_input = false;
            st.opened
        };
        if opened {
            self.finish(lp);
        } else {
            self.next_attempt(lp, now);
        }
    }

    /// The connection is over for good: leave the loop.
    fn finish(&self, lp: &EventLoop) {
        self.st.borrow_mut().phase = Phase::Done;
        lp.unregister_connection(self.id.0);
    }

    /// Plans the next attempt, or reports the open failure when none is
    /// left (or the failure is one that would repeat).
    fn next_attempt(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let failed = {
            let mut st = self.st.borrow_mut();
            let fatal = matches!(
                st.last_error,
                Some(
                    Error::AuthenticationRefused(_)
                        | Error::MechanismNotOffered { .. }
                        | Error::ConnectionClosedByClient
                )
            );
            match st.plan.get(st.next_attempt).copied() {
                Some(a) if !fatal => {
                    st.next_attempt += 1;
                    st.phase = Phase::Waiting {
                        at: now + a.delay_before,
                        endpoint: a.endpoint,
                    };
                    None
                }
                _ => {
                    st.phase = Phase::Done;
                    if let Some(mut t) = st.transport.take() {
                        let _ = lp.registry().deregister(t.stream_mut());
                    }
                    let error = st
                        .last_error
                        .take()
                        .unwrap_or_else(|| Error::Misuse("no endpoint to connect to".into()));
                    st.closed = Some(error.clone());
                    Some((st.on_open_error.take(), error))
                }
            }
        };
        if let Some((callback, error)) = failed {
            self.release_callbacks();
            self.finish(lp);
            match callback {
                Some(f) => f(error),
                None => tracing::warn!(error = %error, "connection failed to open"),
            }
        }
    }

    /// Drops every callback left (they may hold handles to this connection).
    fn release_callbacks(&self) {
        let taken = {
            let mut st = self.st.borrow_mut();
            (
                st.on_open.take(),
                st.on_open_error.take(),
                st.on_close.take(),
                st.on_blocked.take(),
                std::mem::take(&mut st.channels),
                std::mem::take(&mut st.superseded),
            )
        };
        drop(taken);
    }

    fn begin_attempt(self: &Rc<Self>, lp: &EventLoop, endpoint: usize, now: Instant) {
        let resolved = {
            let mut st = self.st.borrow_mut();
            let Some(params) = st.endpoints.get(endpoint) else {
                // close() before connecting.
                drop(st);
                return self.next_attempt(lp, now);
            };
            match connecting(params, endpoint, now) {
                Ok(phase) => {
                    st.phase = phase;
                    true
                }
                Err(e) => {
                    st.last_error = Some(e);
                    false
                }
            }
        };
        if resolved {
            self.connect_next(lp, now);
        } else {
            self.next_attempt(lp, now);
        }
    }

    /// Starts a non-blocking connect to the next address of the endpoint;
    /// with none left, the attempt failed.
    fn connect_next(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let exhausted = loop {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            let Phase::Connecting {
                endpoint,
                addrs,
                deadline,
                last,
                ..
            } = &mut st.phase
            else {
                return;
            };
            let params = st.endpoints.get(*endpoint);
            let Some(addr) = addrs.pop_front() else {
                let name = params
                    .map(|p| format!("{}:{}", p.host(), p.port()))
                    .unwrap_or_default();
                let source = last.take().unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address")
                });
                st.last_error = Some(Error::ConnectFailed {
                    endpoint: name,
                    source: Arc::new(source),
                });
                break true;
            };
            let timeout = params
                .and_then(|p| p.socket_timeout())
                .unwrap_or(CONNECT_TIMEOUT);
            let interest = Interest::READABLE | Interest::WRITABLE;
            let registered = TcpStream::connect(addr).and_then(|mut stream| {
                lp.registry()
                    .register(&mut stream, Token(self.id.0), interest)
                    .map(|()| stream)
            });
            match registered {
                Ok(stream) => {
                    *deadline = now + timeout;
                    st.transport = Some(Transport::new(stream, interest));
                    break false;
                }
                Err(e) => *last = Some(e),
            }
        };
        if exhausted {
            self.next_attempt(lp, now);
        }
    }

    /// The connect to the current address failed: try the next one.
    fn address_failed(self: &Rc<Self>, lp: &EventLoop, error: io::Error, now: Instant) {
        {
            let mut st = self.st.borrow_mut();
            if let Some(mut t) = st.transport.take() {
                let _ = lp.registry().deregister(t.stream_mut());
            }
            if let Phase::Connecting { last, .. } = &mut st.phase {
                *last = Some(error);
            }
        }
        self.connect_next(lp, now);
    }

    /// Readiness during a connect: connected, failed, or not yet.
    fn check_connect(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let outcome = {
            let st = self.st.borrow();
            let Some(t) = st.transport.as_ref() else {
                return;
            };
            match t.stream().take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match t.stream().peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                },
            }
        };
        match outcome {
            Ok(false) => {}
            Ok(true) => self.connected(now),
            Err(e) => self.address_failed(lp, e, now),
        }
    }

    /// TCP is up: start TLS (the ClientHello is the first output) and the
    /// core (its protocol header follows, encrypted once TLS is up).
    fn connected(&self, now: Instant) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let Phase::Connecting { endpoint, .. } = st.phase else {
            return;
        };
        let Some(params) = st.endpoints.get(endpoint) else {
            return;
        };
        let nodelay = params.tcp_nodelay();
        let config = Config::from_params(params);
        tracing::debug!(host = params.host(), port = params.port(), "connected");
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
        let phase = std::mem::replace(&mut st.phase, Phase::Connected);
        if let Some(t) = st.transport.as_mut() {
            // A refused option is not a reason to drop the connection.
            let _ = t.stream().set_nodelay(nodelay);
            #[cfg(feature = "tls")]
            if let Phase::Connecting { tls: Some(tls), .. } = phase {
                t.start_tls(*tls);
            }
        }
        st.core = Some(Core::new(config, now));
        st.backlog.clear();
        st.more_input = true;
    }

    /// Turns an event into the callback to run, updating the state.
    fn prepare(self: &Rc<Self>, st: &mut ConnState, event: Event) -> Action {
        let channel = |st: &ConnState, id: u16| {
            st.channel_for_event(id)
                .map(|c| Channel::new(self.clone(), c.clone()))
        };
        match event {
            Event::Connected {
                server_properties,
                tuning,
            } => {
                st.opened = true;
                st.server_properties = server_properties;
                st.tuning = tuning;
                st.last_error = None;
                Action::Opened(st.on_open.take())
            }
            Event::Reply {
                channel: id,
                request,
                method,
                content,
            } => {
                if let Method::ChannelOpenOk(_) = &method {
                    if let Some(c) = st.channels.get(&id) {
                        c.data.borrow_mut().open = true;
                    }
                }
                match st.pending.remove(&request) {
                    Some(f) => Action::Reply(f, Ok((method, content))),
                    None => Action::None,
                }
            }
            Event::Sent { request, .. } => {
                if st.pending.is_empty() {
                    return Action::None;
                }
                match st.pending.remove(&request) {
                    Some(f) => Action::Reply(
                        f,
                        Ok((
                            Method::Unknown {
                                class_id: 0,
                                method_id: 0,
                                arguments: bytes::Bytes::new(),
                            },
                            None,
                        )),
                    ),
                    None => Action::None,
                }
            }
            Event::Delivery {
                channel: id,
                deliver,
                content,
            } => match channel(st, id) {
                Some(ch) => Action::Deliver(ch, Delivery::new(id, deliver, content)),
                None => Action::None,
            },
            Event::Return {
                channel: id,
                method,
                content,
            } => match channel(st, id) {
                Some(ch) => Action::Return(
                    ch,
                    Returned {
                        channel: id,
                        reason: BrokerClose {
                            code: ReplyCode(method.reply_code),
                            text: method.reply_text.to_string_lossy().into_owned(),
                            method: None,
                        },
                        exchange: method.exchange.to_string_lossy().into_owned(),
                        routing_key: method.routing_key.to_string_lossy().into_owned(),
                        content,
                    },
                ),
                None => Action::None,
            },
            Event::Confirm {
                channel: id,
                delivery_tag,
                multiple,
                ack,
            } => match channel(st, id) {
                Some(ch) => Action::Confirm(
                    ch,
                    Confirm {
                        delivery_tag,
                        multiple,
                        ack,
                    },
                ),
                None => Action::None,
            },
            Event::ConsumerCancelled {
                channel: id,
                consumer_tag,
            } => match channel(st, id) {
                Some(ch) => Action::Cancelled(ch, consumer_tag),
                None => Action::None,
            },
            Event::Flow {
                channel: id,
                active,
            } => match channel(st, id) {
                Some(ch) => Action::Flow(ch, active),
                None => Action::None,
            },
            Event::Blocked { reason } => {
                st.blocked = true;
                match &st.on_blocked {
                    Some(f) => Action::Blocked(f.clone(), Some(reason)),
                    None => Action::None,
                }
            }
            Event::Unblocked => {
                st.blocked = false;
                match &st.on_blocked {
                    Some(f) => Action::Blocked(f.clone(), None),
                    None => Action::None,
                }
            }
            Event::ChannelClosed {
                channel: id,
                error,
                failed,
            } => {
                let error = typed_error(error);
                let failed: Vec<Completion> =
                    failed.iter().filter_map(|r| st.pending.remove(r)).collect();
                if st.opened && st.core.as_ref().is_some_and(|c| c.is_closed()) {
                    // The connection's end closes its channels first: their
                    // callbacks already see the connection closed, and why.
                    st.closed.get_or_insert_with(|| error.clone());
                }
                let chan = match st.superseded.remove(&id) {
                    Some(old) => Some(old),
                    None => st.channels.remove(&id),
                };
                match chan {
                    Some(chan) => {
                        {
                            let mut d = chan.data.borrow_mut();
                            d.open = false;
                            d.closed = Some(error.clone());
                        }
                        Action::ChannelClosed {
                            channel: Channel::new(self.clone(), chan),
                            failed,
                            error,
                        }
                    }
                    // Cannot happen (every core channel is tracked); still
                    // fail what waited.
                    None => Action::Failed(failed, error),
                }
            }
            Event::Closed { error } => {
                let error = typed_error(error);
                let failed: Vec<Completion> = st.pending.drain().map(|(_, f)| f).collect();
                if st.opened {
                    st.closed = Some(error.clone());
                    Action::Closed {
                        on_close: st.on_close.take(),
                        failed,
                        error,
                    }
                } else {
                    // The handshake failed: `teardown` goes on with the next
                    // attempt.
                    st.last_error = Some(error.clone());
                    Action::Failed(failed, error)
                }
            }
        }
    }

    fn run(self: &Rc<Self>, action: Action) {
        match action {
            Action::None => {}
            Action::Opened(callback) => {
                if let Some(f) = callback {
                    f(&Connection::from_inner(self.clone()));
                }
            }
            Action::Reply(f, reply) => f(reply),
            Action::Deliver(ch, delivery) => {
                let consumer = ch.consumer(&delivery.consumer_tag);
                // A delivery racing with a cancel has no consumer left; the
                // broker requeues it when the channel closes.
                if let Some(f) = consumer {
                    (f.borrow_mut())(&ch, delivery);
                }
            }
            Action::Return(ch, returned) => {
                if let Some(f) = ch.callbacks().on_return {
                    (f.borrow_mut())(&ch, returned);
                }
            }
            Action::Confirm(ch, confirm) => {
                if let Some(f) = ch.callbacks().on_confirm {
                    (f.borrow_mut())(&ch, confirm);
                }
            }
            Action::Cancelled(ch, tag) => {
                ch.remove_consumer(&tag);
                if let Some(f) = ch.callbacks().on_cancel {
                    (f.borrow_mut())(&ch, &tag);
                }
            }
            Action::Flow(ch, active) => {
                if let Some(f) = ch.callbacks().on_flow {
                    (f.borrow_mut())(&ch, active);
                }
            }
            Action::Blocked(f, reason) => {
                (f.borrow_mut())(&Connection::from_inner(self.clone()), reason.as_deref());
            }
            Action::ChannelClosed {
                channel,
                failed,
                error,
            } => {
                for f in failed {
                    f(Err(error.clone()));
                }
                let (on_close, rest) = channel.take_close_callbacks();
                if let Some(f) = on_close {
                    f(&channel, error);
                }
                drop(rest);
            }
            Action::Failed(failed, error) => {
                for f in failed {
                    f(Err(error.clone()));
                }
            }
            Action::Closed {
                on_close,
                failed,
                error,
            } => {
                for f in failed {
                    f(Err(error.clone()));
                }
                if let Some(f) = on_close {
                    f(&Connection::from_inner(self.clone()), error);
                }
                self.release_callbacks();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_tls_fails_the_attempt_before_connecting() {
        let params = ConnectionParameters::new().with_tls_options(
            crate::params::TlsOptions::new().with_cacertfile("/nonexistent/ca.pem"),
        );
        let e = match connecting(&params, 0, Instant::now()) {
            Err(e) => e,
            Ok(_) => panic!("an attempt with an unusable TLS setting started"),
        };
        #[cfg(feature = "tls")]
        assert_eq!(
            e.tls_failure(),
            Some(crate::error::TlsFailure::Config),
            "{e:?}"
        );
        #[cfg(not(feature = "tls"))]
        assert!(
            matches!(&e, Error::Misuse(m) if m.contains("feature \"tls\"")),
            "{e:?}"
        );
    }

    #[test]
    fn plain_attempts_resolve_their_addresses() {
        let params = ConnectionParameters::new().with_host("127.0.0.1");
        match connecting(&params, 3, Instant::now()) {
            Ok(Phase::Connecting {
                endpoint, addrs, ..
            }) => {
                assert_eq!(endpoint, 3);
                assert_eq!(addrs.len(), 1);
            }
            _ => panic!("no connect planned"),
        }
    }
}
