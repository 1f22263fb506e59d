//! [`Connection`]: the handle on a connection run by a driver task.

use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use amqp_protocol::FieldTable;

use super::channel::{request, Channel};
use super::driver::Driver;
use super::shared::Shared;
use super::tls::Tls;
use super::transport::{BoxFuture, Dialer, Timer, Transport};
use crate::core::{Client, Config, Connecting, ServerCapabilities, Tuning};
use crate::error::Error;
use crate::params::{ConnectionParameters, Endpoints, TcpOptions};

/// A connection to RabbitMQ, served by a driver task on the runtime (see the
/// `tokio` and `futures_io` modules
/// for how to open one).
///
/// Cheap to clone (every clone is the same connection); `Send + Sync`.
/// Dropping the last clone closes the connection in the background;
/// [`close`](Self::close) closes it and waits for the broker's answer.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
    socket_tcp_options: Option<TcpOptions>,
}

/// Closes the connection when the last [`Connection`] clone goes.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        if inner.client.close_reason().is_none() {
            inner.client.close(Instant::now());
            inner.wake_driver();
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

/// Starts a driver on `io` (an established stream), with TLS when `params`
/// say so, hands it to `spawn`, and waits for the handshakes (TLS's, then
/// AMQP's) to complete.
/// With a `dialer`, a lost connection can be recovered (over the
/// endpoints [`open_endpoints`] gives it).
pub(crate) async fn establish<T: Transport, M: Timer>(
    io: T,
    timer: M,
    params: &ConnectionParameters,
    dialer: Option<Dialer<T>>,
    spawn: impl FnOnce(BoxFuture<()>),
) -> Result<Connection, Error> {
    // Unusable TLS settings fail here, before anything is sent.
    let tls = if params.tls() {
        Some(Tls::new(params)?)
    } else {
        None
    };
    let mut config = Config::from_params(params);
    config.peer_address = io.peer_addr();
    let shared = Shared::new(Client::new(config, Instant::now()));
    // Created before the first await: dropping this future mid-handshake
    // closes the connection instead of leaking it.
    let conn = Connection {
        _closer: Arc::new(Closer(shared.clone())),
        shared: shared.clone(),
        socket_tcp_options: io.socket_tcp_options(),
    };
    spawn(Box::pin(Driver::new(
        shared,
        io,
        timer,
        tls,
        params.receive_coalescing(),
        dialer,
    )));
    poll_fn(|cx| {
        let mut inner = conn.shared.lock();
        if inner.client.is_connected() {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = inner.close_reason() {
            return Poll::Ready(Err(e));
        }
        inner.wait_state(cx);
        Poll::Pending
    })
    .await?;
    Ok(conn)
}

/// Refuses TCP options for a stream the application supplies: they are
/// set on the sockets this crate connects, and this one it did not.
pub(crate) fn refuse_tcp_options(params: &ConnectionParameters) -> Result<(), Error> {
    if params.tcp_options().is_empty() {
        return Ok(());
    }
    Err(Error::Misuse(
        "TCP options (keepalive, TCP_USER_TIMEOUT) are set on sockets this crate connects, \
         not on a stream the application supplies: set them on the stream itself, or leave \
         them out of the connection parameters"
            .into(),
    ))
}

/// Tries each endpoint in turn with its own attempts and retry delay.
/// Refused credentials are not retried.
pub(crate) async fn open_endpoints<F, Fut>(
    endpoints: Endpoints,
    timer: &dyn Timer,
    mut open_one: F,
) -> Result<Connection, Error>
where
    F: FnMut(ConnectionParameters) -> Fut,
    Fut: Future<Output = Result<Connection, Error>>,
{
    let mut plan = Connecting::new(endpoints);
    while let Some((params, delay)) = plan.next_attempt() {
        if !delay.is_zero() {
            timer.sleep_until(Instant::now() + delay).await;
        }
        match open_one(params.clone()).await {
            Ok(c) => {
                let index = plan.current_index().unwrap_or(0);
                let endpoints = plan.endpoints().clone();
                c.shared.lock().client.set_endpoints(endpoints, index);
                return Ok(c);
            }
            Err(e) => plan.failed(e),
        }
    }
    Err(plan.into_error())
}

/// `f`, or `None` once `deadline` passes.
#[cfg(feature = "futures-io")]
pub(crate) async fn timeout<F: Future>(
    timer: &dyn Timer,
    deadline: Instant,
    f: F,
) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut sleep = timer.sleep_until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}

impl Connection {
    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        self.shared.lock().client.is_open()
    }

    /// Whether the connection is closed (by either side, or lost).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().client.close_reason().is_some()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.shared.lock().close_reason()
    }

    /// Whether the broker has blocked the connection (resource alarm).
    pub fn is_blocked(&self) -> bool {
        self.shared.lock().client.is_blocked()
    }

    /// What the broker announced in connection.start (its product, version,
    /// capabilities, ...).
    pub fn server_properties(&self) -> FieldTable {
        self.shared.lock().client.server_properties().clone()
    }

    /// What the broker says it supports, from the `capabilities` of its
    /// server properties.
    pub fn server_capabilities(&self) -> ServerCapabilities {
        self.shared.lock().client.server_capabilities()
    }

    /// What was negotiated (channel-max, frame-max, heartbeat).
    pub fn tuning(&self) -> Tuning {
        self.shared.lock().client.tuning()
    }

    /// The socket's TCP options as the system reported them right after
    /// [`ConnectionParameters::tcp_options`] were set: the keepalive idle
    /// time, interval and probe count when keepalive is on, the user
    /// timeout when one is set (Linux). `None` elsewhere, and over a stream
    /// the application supplied (`futures_io`, tokio's `open_stream`).
    pub fn socket_tcp_options(&self) -> Option<TcpOptions> {
        self.socket_tcp_options
    }

    /// Opens a channel on the lowest free number.
    pub async fn channel(&self) -> Result<Channel, Error> {
        let chan = request(&self.shared, |c| c.open_channel()).await?;
        Ok(Channel::new(self.shared.clone(), chan))
    }

    /// Opens channel `channel_number` (Pika's
    /// `channel(channel_number=...)`): [`Error::InvalidChannelNumber`] for 0
    /// or above the negotiated channel-max, [`Error::ChannelInUse`] while a
    /// channel of that number is open.
    pub async fn channel_with_number(&self, channel_number: u16) -> Result<Channel, Error> {
        let chan = request(&self.shared, |c| c.open_channel_number(channel_number)).await?;
        Ok(Channel::new(self.shared.clone(), chan))
    }

    /// Called with `Some(reason)` when the broker blocks the connection
    /// (a resource alarm: publishes are held) and `None` when it unblocks
    /// it. Runs on the driver task: keep it short and non-blocking (send
    /// to a channel, set a flag).
    pub fn on_blocked(&self, callback: impl Fn(Option<&str>) + Send + Sync + 'static) {
        self.shared.lock().set_on_blocked(Arc::new(callback));
    }

    /// Called with what automatic recovery does (the connection lost, each
    /// attempt, recovered, gave up, a queue renamed, an entity refused), on
    /// the driver's task: keep it short. The same is logged with `tracing`.
    pub fn on_recovery(
        &self,
        callback: impl Fn(&crate::core::client::RecoveryEvent) + Send + Sync + 'static,
    ) {
        self.shared.lock().set_on_recovery(Arc::new(callback));
    }

    /// Whether the connection is being recovered (lost, not yet back).
    pub fn is_recovering(&self) -> bool {
        self.shared.lock().client.is_recovering()
    }

    /// Sends connection.update-secret (a refreshed credential) and waits for
    /// the reply.
    pub async fn update_secret(&self, new_secret: &[u8], reason: &str) -> Result<(), Error> {
        request(&self.shared, |c| c.update_secret(new_secret, reason)).await
    }

    /// Waits until the connection ends, by either side or lost, and says
    /// why ([`Error::ConnectionClosedByClient`] after [`close`](Self::close)).
    pub async fn closed(&self) -> Error {
        poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if let Some(e) = inner.close_reason() {
                return Poll::Ready(e);
            }
            inner.wait_state(cx);
            Poll::Pending
        })
        .await
    }

    /// Closes the connection gracefully (connection.close, then the
    /// broker's close-ok, or the close timeout) and waits for the end.
    /// Closing a closed connection does nothing.
    pub async fn close(&self) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            if inner.client.close_reason().is_some() {
                return Ok(());
            }
            inner.client.close(Instant::now());
            inner.wake_driver();
        }
        match self.closed().await {
            Error::ConnectionClosedByClient => Ok(()),
            e => Err(e),
        }
    }
}

#[cfg(all(test, feature = "tokio", not(feature = "tls")))]
mod tests {
    use crate::params::{ConnectionParameters, TlsOptions};
    use crate::Error;

    #[tokio::test]
    async fn amqps_without_the_tls_feature_is_a_misuse() {
        let params = ConnectionParameters::new().with_tls_options(TlsOptions::new());
        let e = match crate::tokio::Connection::open(params).await {
            Err(e) => e,
            Ok(_) => panic!("amqps opened without TLS"),
        };
        assert!(
            matches!(&e, Error::Misuse(m) if m.contains("feature \"tls\"")),
            "{e:?}"
        );
    }
}
