//! [`Connection`]: connecting (endpoints, attempts, TLS), the I/O threads,
//! timers and thread-safe callbacks, and closing.

use std::collections::VecDeque;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::channel::{self, lock_callbacks, Callbacks, Channel};
use super::dispatch::{run_dispatch, Scope};
use super::io;
use super::shared::{Inner, Shared};
use super::threads;
#[cfg(feature = "tls")]
use super::tls;
use amqp_protocol::FieldTable;

use crate::core::client::Event;
use crate::core::{
    ChannelRef, Client, Config, Connecting, Dialing, Pending, ServerCapabilities, TimerId, Timers,
    Tuning,
};
use crate::error::Error;
use crate::params::{ConnectionParameters, Endpoints, TcpOptions};

/// A connection to RabbitMQ. Dropping it closes it.
pub struct Connection {
    shared: Arc<Shared>,
    callbacks: Arc<Mutex<Callbacks>>,
    reader: Option<JoinHandle<()>>,
    close_timeout: Duration,
    socket_tcp_options: Option<TcpOptions>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, trying each endpoint in turn with its own connection
    /// attempts and retry delay, and every address its host resolves to.
    /// Refused credentials and access are not retried.
    pub fn open(endpoints: impl Into<Endpoints>) -> Result<Connection, Error> {
        let mut plan = Connecting::new(endpoints.into());
        while let Some((params, delay)) = plan.next_attempt() {
            std::thread::sleep(delay);
            match Connection::open_one(params) {
                Ok(c) => {
                    let index = plan.current_index().unwrap_or(0);
                    let endpoints = plan.endpoints().clone();
                    c.shared.lock().core.set_endpoints(endpoints, index);
                    return Ok(c);
                }
                Err(e) => plan.failed(e),
            }
        }
        Err(plan.into_error())
    }

    /// Connects to an `amqp://` URI.
    pub fn open_uri(uri: &str) -> Result<Connection, Error> {
        let params =
            ConnectionParameters::from_uri(uri).map_err(|e| Error::Misuse(e.to_string()))?;
        Connection::open(params)
    }

    fn open_one(params: &ConnectionParameters) -> Result<Connection, Error> {
        let timeout = Dialing::new(params).timeout();
        let dialed = dial(params, Instant::now() + timeout)?;
        let (stream, socket_tcp_options) = (&dialed.stream, dialed.socket_tcp_options);
        let mut config = Config::from_params(params);
        config.peer_address = stream.peer_addr().ok();
        let close_timeout = config.close_timeout;
        let mut core = Client::new(config, Instant::now());
        // The events this adapter presents; the others are not queued.
        core.set_event_filter(|e| {
            matches!(
                e,
                Event::Delivery { .. }
                    | Event::Returned { .. }
                    | Event::Blocked { .. }
                    | Event::Unblocked
                    | Event::ConsumerCancelled { .. }
                    | Event::ConsumerEnded { .. }
                    | Event::Recovery(_)
            )
        });
        let (tx, rx) = io::out_queue();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                core,
                writer: Some(tx),
                events_seen: 0,
                paused: false,
                threadsafe_callbacks: VecDeque::new(),
                timers: Timers::new(),
                waiters: 0,
            }),
            cond: Condvar::new(),
            queued: std::sync::atomic::AtomicUsize::new(0),
            room: Mutex::new(()),
            room_cond: Condvar::new(),
            out: rx,
            write_side: Mutex::new(None),
            read_side: Mutex::new(None),
            app_read_at: std::sync::atomic::AtomicU64::new(0),
            app_wants_read: std::sync::atomic::AtomicUsize::new(0),
            app_reader: std::sync::atomic::AtomicU64::new(0),
            reader_reads: std::sync::atomic::AtomicBool::new(false),
            epoch: Instant::now(),
            interrupt: io::Interrupt::new(),
        });
        let reader = start_io(&shared, dialed)?;
        let conn = Connection {
            shared,
            callbacks: Arc::new(Mutex::new(Callbacks::default())),
            reader: Some(reader),
            close_timeout,
            socket_tcp_options,
        };
        let mut inner = conn.shared.lock();
        conn.shared.pump(&mut inner);
        loop {
            if inner.core.is_connected() {
                break;
            }
            if let Some(e) = inner.core.close_reason() {
                // A broker refusing the client's certificate says so after
                // the client's part of the TLS handshake: as a TLS error.
                #[cfg(feature = "tls")]
                return Err(tls::unwrap_error(e));
                #[cfg(not(feature = "tls"))]
                return Err(e.clone());
            }
            inner = conn.shared.wait(inner, None);
        }
        drop(inner);
        Ok(conn)
    }

    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        self.shared.lock().core.is_open()
    }

    /// Whether the connection is closed (by either side, or lost).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().core.close_reason().is_some()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.shared.lock().core.close_reason().cloned()
    }

    /// Whether the broker has blocked the connection (resource alarm).
    pub fn is_blocked(&self) -> bool {
        self.shared.lock().core.is_blocked()
    }

    /// What the broker announced in connection.start (product, version,
    /// capabilities).
    pub fn server_properties(&self) -> FieldTable {
        self.shared.lock().core.server_properties().clone()
    }

    /// What the broker says it supports, from the `capabilities` of its
    /// server properties.
    pub fn server_capabilities(&self) -> ServerCapabilities {
        self.shared.lock().core.server_capabilities()
    }

    /// What was negotiated (channel-max, frame-max, heartbeat).
    pub fn tuning(&self) -> Tuning {
        self.shared.lock().core.tuning()
    }

    /// The socket's TCP options as the system reported them right after
    /// [`ConnectionParameters::tcp_options`] were set: the keepalive idle
    /// time, interval and probe count when keepalive is on, the user
    /// timeout when one is set (Linux; `None` elsewhere).
    pub fn socket_tcp_options(&self) -> Option<TcpOptions> {
        self.socket_tcp_options
    }

    /// Opens a channel on the lowest free number.
    pub fn channel(&self) -> Result<Channel, Error> {
        self.open_channel(Client::open_channel)
    }

    /// Opens channel `channel_number` (Pika's
    /// `channel(channel_number=...)`): [`Error::InvalidChannelNumber`] for 0
    /// or above the negotiated channel-max, [`Error::ChannelInUse`] while a
    /// channel of that number is open.
    pub fn channel_with_number(&self, channel_number: u16) -> Result<Channel, Error> {
        self.open_channel(|core| core.open_channel_number(channel_number))
    }

    fn open_channel(
        &self,
        open: impl FnOnce(&mut Client) -> Result<Pending<ChannelRef>, Error>,
    ) -> Result<Channel, Error> {
        let mut inner = self.shared.lock();
        let pending = open(&mut inner.core)?;
        self.shared.pump(&mut inner);
        let chan = channel::wait(&self.shared, inner, pending)?;
        Ok(Channel::new(
            self.shared.clone(),
            self.callbacks.clone(),
            chan,
        ))
    }

    /// Runs callbacks — consumer deliveries, returns, blocked notices,
    /// [`call_later`](Self::call_later) timers and
    /// [`add_callback_threadsafe`](Self::add_callback_threadsafe) callbacks —
    /// on this thread. With `Some(limit)`, returns after `limit` (zero: after
    /// what is ready now); with `None`, after at least one callback ran.
    /// A callback consumer cancelled by the broker ends it with
    /// [`Error::ConsumerCancelled`].
    pub fn process_data_events(&self, time_limit: Option<Duration>) -> Result<(), Error> {
        run_dispatch(
            &self.shared,
            &self.callbacks,
            time_limit.map(|d| Instant::now() + d),
            Scope::Connection("process_data_events"),
        )
    }

    /// Processes events for `duration`, as Pika's `sleep`.
    pub fn sleep(&self, duration: Duration) -> Result<(), Error> {
        run_dispatch(
            &self.shared,
            &self.callbacks,
            Some(Instant::now() + duration),
            Scope::Connection("sleep"),
        )
    }

    /// Runs `callback` on the thread that next calls
    /// [`process_data_events`](Self::process_data_events) (or consumes), after
    /// `delay`.
    pub fn call_later(&self, delay: Duration, callback: impl FnOnce() + Send + 'static) -> TimerId {
        let id = self
            .shared
            .lock()
            .timers
            .add(Instant::now() + delay, Box::new(callback));
        self.shared.cond.notify_all();
        self.shared.interrupt.fire();
        id
    }

    /// Cancels a timer; false when it already ran or never existed.
    pub fn remove_timeout(&self, timer: TimerId) -> bool {
        self.shared.lock().timers.remove(timer)
    }

    /// A handle other threads can use to schedule callbacks on the thread
    /// that processes this connection's events.
    pub fn threadsafe_handle(&self) -> ThreadsafeHandle {
        ThreadsafeHandle {
            shared: self.shared.clone(),
        }
    }

    /// Schedules `callback` to run on the thread processing events; callable
    /// from any thread (see [`threadsafe_handle`](Self::threadsafe_handle)).
    pub fn add_callback_threadsafe(
        &self,
        callback: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        self.threadsafe_handle().add_callback(callback)
    }

    /// Called with `Some(reason)` when the broker blocks the connection and
    /// `None` when it unblocks it, from `process_data_events`.
    pub fn on_blocked(&self, callback: impl Fn(Option<&str>) + Send + Sync + 'static) {
        lock_callbacks(&self.callbacks).blocked = Some(Arc::new(callback));
    }

    /// Called with what automatic recovery does (the connection lost, each
    /// attempt, recovered, gave up, a queue renamed, an entity refused),
    /// from `process_data_events` or `start_consuming`. The same is logged
    /// with `tracing`.
    pub fn on_recovery(
        &self,
        callback: impl Fn(&crate::core::client::RecoveryEvent) + Send + Sync + 'static,
    ) {
        lock_callbacks(&self.callbacks).recovery = Some(Arc::new(callback));
    }

    /// Whether the connection is being recovered (lost, not yet back).
    pub fn is_recovering(&self) -> bool {
        self.shared.lock().core.is_recovering()
    }

    /// Sends connection.update-secret (a refreshed credential) and waits for
    /// the reply.
    pub fn update_secret(&self, new_secret: &[u8], reason: &str) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        let pending = inner.core.update_secret(new_secret, reason)?;
        self.shared.pump(&mut inner);
        channel::wait(&self.shared, inner, pending)
    }

    /// Closes the connection (connection.close, then close-ok) and waits
    /// for the end. Closing a closed connection does nothing.
    pub fn close(&self) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        if inner.core.close_reason().is_some() {
            return Ok(());
        }
        inner.core.close(Instant::now());
        self.shared.pump(&mut inner);
        let deadline = Instant::now() + self.close_timeout + Duration::from_secs(1);
        while inner.core.close_reason().is_none() && Instant::now() < deadline {
            inner = self.shared.wait(inner, Some(deadline));
        }
        match inner.core.close_reason() {
            None | Some(Error::ConnectionClosedByClient) => Ok(()),
            Some(e) => Err(e.clone()),
        }
    }
}

/// A connected stream, TLS handshake done.
pub(super) struct Dialed {
    pub(super) stream: TcpStream,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<tls::Tls>,
    pub(super) coalescing: bool,
    pub(super) socket_tcp_options: Option<TcpOptions>,
}

/// Connects to `params`' endpoint (every address its host resolves to, in
/// order), and runs the TLS handshake if it asks for it, by `deadline`.
pub(super) fn dial(params: &ConnectionParameters, deadline: Instant) -> Result<Dialed, Error> {
    crate::sys::check_tcp_options(params)?;
    let mut dial = Dialing::new(params);
    let addrs = (params.host(), params.port())
        .to_socket_addrs()
        .map_err(|e| dial.error(e))?;
    let mut stream = None;
    for addr in addrs {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(dial.timeout());
        if left.is_zero() {
            dial.failed(std::io::ErrorKind::TimedOut.into());
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => dial.failed(e),
        }
    }
    let stream = stream.ok_or_else(|| dial.into_error())?;
    stream.set_nodelay(params.tcp_nodelay())?;
    let socket_tcp_options =
        crate::sys::apply_tcp_options(socket2::SockRef::from(&stream), params.tcp_options())?;
    #[cfg(feature = "tls")]
    let tls = if params.tls() {
        let left = deadline.saturating_duration_since(Instant::now());
        Some(tls::handshake(
            &stream,
            params,
            left.max(Duration::from_millis(1)),
        )?)
    } else {
        None
    };
    Ok(Dialed {
        stream,
        #[cfg(feature = "tls")]
        tls,
        coalescing: params.receive_coalescing(),
        socket_tcp_options,
    })
}

/// Puts the stream's read and write sides in place.
pub(super) fn install(shared: &Shared, dialed: Dialed) -> Result<(), Error> {
    #[cfg(feature = "tls")]
    if let Some(tls) = dialed.tls {
        return install_with(shared, dialed.stream, tls, dialed.coalescing);
    }
    install_with(shared, dialed.stream, io::Plain, dialed.coalescing)
}

fn install_with<T: io::Transport + Clone>(
    shared: &Shared,
    stream: TcpStream,
    transport: T,
    coalescing: bool,
) -> Result<(), Error> {
    let write_stream = stream.try_clone()?;
    *shared.lock_write_side() = Some(Box::new(io::WriteSide::new(
        write_stream,
        transport.clone(),
    )));
    *shared.lock_read_side() = Some(Box::new(io::ReadSide::new(stream, transport, coalescing)));
    Ok(())
}

/// Puts the stream in place and starts the writer and reader threads.
fn start_io(shared: &Arc<Shared>, dialed: Dialed) -> Result<JoinHandle<()>, Error> {
    install(shared, dialed)?;
    {
        let s = shared.clone();
        std::thread::Builder::new()
            .name("amqp-writer".into())
            .spawn(move || threads::writer(s))?;
    }
    let s = shared.clone();
    Ok(std::thread::Builder::new()
        .name("amqp-reader".into())
        .spawn(move || threads::reader(s))?)
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.close();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Schedules callbacks on a connection's event-processing thread from any
/// thread. Cheap to clone.
#[derive(Clone)]
pub struct ThreadsafeHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ThreadsafeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadsafeHandle")
    }
}

impl ThreadsafeHandle {
    /// Queues `callback`; it runs in the next `process_data_events`.
    pub fn add_callback(&self, callback: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        if let Some(e) = inner.core.close_reason() {
            return Err(e.clone());
        }
        inner.threadsafe_callbacks.push_back(Box::new(callback));
        self.shared.cond.notify_all();
        self.shared.interrupt.fire();
        Ok(())
    }
}
