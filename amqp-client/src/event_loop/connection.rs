//! [`Connection`]'s methods: opening, its callbacks, what it reports, its
//! channels, closing.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use amqp_protocol::FieldTable;

use super::reactor::{EventLoop, LoopInner};
use super::state::{completion, Channel, ConnInner, ConnState, Connection, ConnectionId, Phase};
use super::transport::typed_error;
use crate::core::{ChannelRef, Client, Pending, ServerCapabilities, Tuning};
use crate::error::Error;
use crate::params::{Endpoints, TcpOptions};

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
        let mut st = ConnState::new(endpoints.into());
        // The first attempt (it has no delay) starts on the loop's next
        // turn; without one, that turn reports the open error.
        st.connecting.next_attempt();
        st.phase = Phase::Waiting { at: Instant::now() };
        let lp = event_loop.downgrade();
        let inner = event_loop.register_connection(|token| {
            Rc::new(ConnInner {
                id: ConnectionId(token),
                lp,
                st: RefCell::new(st),
            })
        });
        Connection { inner }
    }

    /// Called once the connection is open (handshake done).
    pub fn on_open(&self, callback: impl FnOnce(&Connection) + 'static) {
        self.inner.st.borrow_mut().callbacks.on_open = Some(Box::new(callback));
    }

    /// Called when no endpoint could be connected to (or the broker refused
    /// the credentials), with the last error.
    pub fn on_open_error(&self, callback: impl FnOnce(Error) + 'static) {
        self.inner.st.borrow_mut().callbacks.on_open_error = Some(Box::new(callback));
    }

    /// Called when an open connection closes, by either side or because the
    /// stream failed ([`Error::ConnectionClosedByClient`] after
    /// [`close`](Self::close)). Every channel's `on_close` runs first.
    pub fn on_close(&self, callback: impl FnOnce(&Connection, Error) + 'static) {
        self.inner.st.borrow_mut().callbacks.on_close = Some(Box::new(callback));
    }

    /// Called with `Some(reason)` when the broker blocks the connection
    /// (resource alarm) and `None` when it unblocks it.
    pub fn on_blocked(&self, callback: impl FnMut(&Connection, Option<&str>) + 'static) {
        self.inner.st.borrow_mut().callbacks.on_blocked = Some(Rc::new(RefCell::new(callback)));
    }

    /// Called with what automatic recovery does (the connection lost, each
    /// attempt, recovered, gave up, a queue renamed, an entity refused). The
    /// same is logged with `tracing`.
    pub fn on_recovery(
        &self,
        callback: impl FnMut(&Connection, &crate::core::client::RecoveryEvent) + 'static,
    ) {
        self.inner.st.borrow_mut().callbacks.on_recovery = Some(Rc::new(RefCell::new(callback)));
    }

    /// Whether the connection is being recovered (lost, not yet back).
    pub fn is_recovering(&self) -> bool {
        self.inner
            .st
            .borrow()
            .core
            .as_ref()
            .is_some_and(|c| c.is_recovering())
    }

    /// The connection's id on its loop.
    pub fn id(&self) -> ConnectionId {
        self.inner.id
    }

    /// The loop driving this connection, while it exists.
    pub fn event_loop(&self) -> Option<EventLoop> {
        let lp = self.inner.lp.upgrade()?.downcast::<LoopInner>().ok()?;
        Some(EventLoop::from_inner(lp))
    }

    /// Whether the connection is open (handshake done, not closing).
    pub fn is_open(&self) -> bool {
        let st = self.inner.st.borrow();
        st.core.as_ref().is_some_and(|c| c.is_open())
    }

    /// Whether the connection is closed (or failed to open): true from the
    /// moment its close is being reported.
    pub fn is_closed(&self) -> bool {
        let st = self.inner.st.borrow();
        st.open_failed.is_some() || st.core.as_ref().is_some_and(|c| c.close_reason().is_some())
    }

    /// Why the connection closed (or failed to open), once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.inner.st.borrow().close_reason()
    }

    /// Whether the broker has blocked the connection.
    pub fn is_blocked(&self) -> bool {
        let st = self.inner.st.borrow();
        st.core.as_ref().is_some_and(|c| c.is_blocked())
    }

    /// Bytes of output not yet taken by the socket (the protocol's frames
    /// and, with TLS, their records). The loop buffers whatever the socket
    /// does not take at once, without limit: a publisher that may outrun the
    /// network checks this and holds back above a bound of its choice
    /// (resuming from a [`EventLoop::call_later`] timer, say).
    pub fn buffered_output(&self) -> usize {
        let st = self.inner.st.borrow();
        st.core.as_ref().map_or(0, |c| c.pending_output_len())
            + st.transport.as_ref().map_or(0, |t| t.pending_len())
    }

    /// What was negotiated (zeros before connection.tune).
    pub fn tuning(&self) -> Tuning {
        let st = self.inner.st.borrow();
        st.core.as_ref().map_or(
            Tuning {
                channel_max: 0,
                frame_max: 0,
                heartbeat: 0,
            },
            |c| c.tuning(),
        )
    }

    /// The socket's TCP options as the system reported them right after
    /// [`ConnectionParameters::tcp_options`](crate::ConnectionParameters::tcp_options)
    /// were set: the keepalive idle time, interval and probe count when
    /// keepalive is on, the user timeout when one is set (Linux; `None`
    /// elsewhere, and before a socket was made).
    pub fn socket_tcp_options(&self) -> Option<TcpOptions> {
        self.inner.st.borrow().socket_tcp_options
    }

    /// What the broker says it supports, from the `capabilities` of its
    /// server properties (all `false` before the connection is open).
    pub fn server_capabilities(&self) -> ServerCapabilities {
        let st = self.inner.st.borrow();
        st.core
            .as_ref()
            .map_or_else(ServerCapabilities::default, |c| c.server_capabilities())
    }

    /// The broker's server-properties (empty before the connection is open).
    pub fn server_properties(&self) -> FieldTable {
        let st = self.inner.st.borrow();
        st.core
            .as_ref()
            .map_or_else(FieldTable::new, |c| c.server_properties().clone())
    }

    /// Opens a channel on the lowest free id; `on_open` gets it once the
    /// broker opened it, or the error.
    pub fn channel(
        &self,
        on_open: impl FnOnce(Result<Channel, Error>) + 'static,
    ) -> Result<(), Error> {
        self.open_channel(Client::open_channel, on_open)
    }

    /// Opens channel `channel_number` (Pika's
    /// `channel(channel_number=...)`); `on_open` gets it once the broker
    /// opened it, or the error. [`Error::InvalidChannelNumber`] for 0 or
    /// above the negotiated channel-max, [`Error::ChannelInUse`] while a
    /// channel of that number is open, are returned at once.
    pub fn channel_with_number(
        &self,
        channel_number: u16,
        on_open: impl FnOnce(Result<Channel, Error>) + 'static,
    ) -> Result<(), Error> {
        self.open_channel(|core| core.open_channel_number(channel_number), on_open)
    }

    fn open_channel(
        &self,
        open: impl FnOnce(&mut Client) -> Result<Pending<ChannelRef>, Error>,
        on_open: impl FnOnce(Result<Channel, Error>) + 'static,
    ) -> Result<(), Error> {
        let mut st = self.inner.st.borrow_mut();
        let pending = open(st.core()?).map_err(typed_error)?;
        let conn = self.inner.clone();
        let on_done = move |r: Result<ChannelRef, Error>| {
            on_open(r.map(|channel| Channel { conn, channel }));
        };
        (st.callbacks.completions).insert(pending.request(), completion(pending, Some(on_done)));
        Ok(())
    }

    /// The channel with this id, while it is open (or opening, or closing).
    pub fn channel_by_id(&self, id: u16) -> Option<Channel> {
        let st = self.inner.st.borrow();
        let channel = st.core.as_ref()?.channel_ref(id)?;
        Some(Channel {
            conn: self.inner.clone(),
            channel,
        })
    }

    /// Closes the connection (connection.close, then close-ok or the close
    /// timeout); [`on_close`](Self::on_close) reports the end. Closing a
    /// closed connection does nothing; closing one still connecting gives up
    /// connecting.
    pub fn close(&self) {
        let mut guard = self.inner.st.borrow_mut();
        let st = &mut *guard;
        if st.open_failed.is_some() {
            return;
        }
        match st.core.as_mut() {
            Some(core) if core.is_connected() => core.close(Instant::now()),
            core => {
                // Give up the attempts: the next turn reports the open error.
                st.connecting.failed(Error::ConnectionClosedByClient);
                st.last_error = None;
                match core {
                    Some(core) => core.close(Instant::now()),
                    None => st.phase = Phase::Waiting { at: Instant::now() },
                }
            }
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
        let mut st = self.inner.st.borrow_mut();
        let pending = (st.core()?)
            .update_secret(new_secret, reason)
            .map_err(typed_error)?;
        (st.callbacks.completions).insert(pending.request(), completion(pending, on_done));
        Ok(())
    }
}
