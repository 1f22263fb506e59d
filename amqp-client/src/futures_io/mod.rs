//! The async API over any `futures-io` stream (feature `futures-io`), for
//! smol, async-std and others.
//!
//! The handles are the same as the `amqp_client::tokio` module's (one
//! [`Connection`], [`Channel`], [`Consumer`] and [`Confirmation`] type
//! serves both), and so is everything said there about cancellation,
//! buffering, back-pressure and callbacks. What differs is how a connection
//! starts: this crate depends on no runtime here, so the application
//! supplies one through the [`Runtime`] trait: how to connect a TCP stream,
//! how to spawn the connection's driver task, and how to sleep.
//!
//! With the `tls` feature, `amqps` endpoints connect over TLS as with the
//! tokio module: the TLS handshake runs in the driver task over the
//! runtime's stream, and its failure is the [`Error::Tls`] that
//! [`Connection::open_with`] returns.
//!
//! The driver task must keep being polled for the connection to live
//! (heartbeats): spawn it on an executor that runs independently of the
//! application's own tasks (smol's global executor, async-std's), or keep
//! the executor running.
//!
//! With smol:
//!
//! ```no_run
//! use std::time::Instant;
//!
//! use amqp_client::futures_io::{BoxFuture, Connection, QueueDeclareOptions, Runtime};
//! use amqp_client::ConnectionParameters;
//! use amqp_protocol::BasicProperties;
//!
//! /// smol's networking, global executor and timers.
//! struct Smol;
//!
//! impl Runtime for Smol {
//!     type Stream = smol::net::TcpStream;
//!
//!     fn connect(&self, host: &str, port: u16) -> BoxFuture<std::io::Result<Self::Stream>> {
//!         let host = host.to_owned();
//!         Box::pin(async move {
//!             let stream = smol::net::TcpStream::connect((host.as_str(), port)).await?;
//!             stream.set_nodelay(true)?;
//!             Ok(stream)
//!         })
//!     }
//!
//!     fn spawn(&self, task: BoxFuture<()>) {
//!         smol::spawn(task).detach();
//!     }
//!
//!     fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
//!         Box::pin(async move {
//!             smol::Timer::at(deadline).await;
//!         })
//!     }
//! }
//!
//! smol::block_on(async {
//!     let conn = Connection::open_with(Smol, ConnectionParameters::new()).await?;
//!     let ch = conn.channel().await?;
//!     ch.queue_declare("hello", QueueDeclareOptions::default()).await?;
//!     ch.basic_publish("", "hello", b"Hello World!", &BasicProperties::default(), false)
//!         .await?;
//!     conn.close().await
//! })?;
//! # Ok::<(), amqp_client::Error>(())
//! ```

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

use crate::asynch::{self, Dialer, Timer, Transport};
use crate::core::Dialing;
use crate::error::Error;
use crate::params::{ConnectionParameters, Endpoints};

pub use crate::asynch::BoxFuture;
pub use crate::asynch::{Channel, Confirmation, Connection, Consumer};
pub use crate::core::Tuning;
pub use crate::types::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage,
    NackOptions, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions, Returned,
};

/// What the connection needs from the async runtime: TCP connections, a
/// spawner for its driver task, and a timer. Implement it on a unit struct
/// (see the [module docs](self) for smol).
pub trait Runtime: Send + Sync + 'static {
    /// The stream [`connect`](Self::connect) makes.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Connects to `host:port` (resolving the name; trying each address).
    /// Set `TCP_NODELAY` and any keepalive options here if wanted (the
    /// connection cannot: see [`Connection::open_with`]). It applies the
    /// parameters' socket timeout around this future.
    fn connect(&self, host: &str, port: u16) -> BoxFuture<io::Result<Self::Stream>>;

    /// Runs `task` to completion in the background (the connection's
    /// driver: it ends once the connection is closed).
    fn spawn(&self, task: BoxFuture<()>);

    /// A future that completes at `deadline` (heartbeats, timeouts, retry
    /// delays).
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()>;

    /// The address `stream` is connected to, when the runtime can tell:
    /// errors then name it (a handshake timeout, ...). `None` by default.
    fn peer_addr(&self, _stream: &Self::Stream) -> Option<std::net::SocketAddr> {
        None
    }
}

/// The runtime as the driver's timer.
struct RuntimeTimer<R>(Arc<R>);

impl<R: Runtime> Timer for RuntimeTimer<R> {
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        self.0.sleep_until(deadline)
    }
}

/// A `futures-io` stream as the driver's transport.
struct FuturesIo<S>(S, Option<std::net::SocketAddr>);

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for FuturesIo<S> {
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.1
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl Connection {
    /// Connects with `runtime`, trying each endpoint in turn with its own
    /// connection attempts and retry delay; refused credentials are not
    /// retried. The driver task is handed to [`Runtime::spawn`].
    ///
    /// The runtime connects the streams, so this crate cannot set
    /// [`ConnectionParameters::tcp_options`] on them: with any in an
    /// endpoint, this is an [`Error::Misuse`] before anything connects (set
    /// them in [`Runtime::connect`] instead).
    pub async fn open_with<R: Runtime>(
        runtime: R,
        endpoints: impl Into<Endpoints>,
    ) -> Result<Connection, Error> {
        let endpoints = endpoints.into();
        for params in &endpoints {
            asynch::refuse_tcp_options(params)?;
        }
        let runtime = Arc::new(runtime);
        let timer = RuntimeTimer(runtime.clone());
        asynch::open_endpoints(endpoints, &timer, |params| {
            let runtime = runtime.clone();
            async move { open_tcp(runtime, &params).await }
        })
        .await
    }

    /// Connects to an `amqp://` or `amqps://` URI with `runtime`.
    pub async fn open_uri_with<R: Runtime>(runtime: R, uri: &str) -> Result<Connection, Error> {
        let params =
            ConnectionParameters::from_uri(uri).map_err(|e| Error::Misuse(e.to_string()))?;
        Connection::open_with(runtime, params).await
    }

    /// Runs the protocol over a stream the caller connected; `params` gives
    /// everything but the address. With TLS in `params`, TLS runs over the
    /// stream, checking the certificate against `params`' host (or
    /// `server_name_indication`). With
    /// [`ConnectionParameters::tcp_options`] in `params`, this is an
    /// [`Error::Misuse`]: they are the caller's to set on the stream.
    pub async fn open_stream_with<R, S>(
        runtime: R,
        stream: S,
        params: &ConnectionParameters,
    ) -> Result<Connection, Error>
    where
        R: Runtime,
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        asynch::refuse_tcp_options(params)?;
        let runtime = Arc::new(runtime);
        let timer = RuntimeTimer(runtime.clone());
        asynch::establish(FuturesIo(stream, None), timer, params, None, |driver| {
            runtime.spawn(driver)
        })
        .await
    }
}

async fn open_tcp<R: Runtime>(
    runtime: Arc<R>,
    params: &ConnectionParameters,
) -> Result<Connection, Error> {
    let io = dial_tcp(runtime.clone(), params.clone()).await?;
    let timer = RuntimeTimer(runtime.clone());
    let r = runtime.clone();
    let dialer: Dialer<FuturesIo<R::Stream>> =
        Arc::new(move |params| Box::pin(dial_tcp(r.clone(), params)));
    asynch::establish(io, timer, params, Some(dialer), |driver| {
        runtime.spawn(driver)
    })
    .await
}

/// A stream connected by the runtime to `params`' endpoint, within the
/// connect timeout.
async fn dial_tcp<R: Runtime>(
    runtime: Arc<R>,
    params: ConnectionParameters,
) -> Result<FuturesIo<R::Stream>, Error> {
    let dial = Dialing::new(&params);
    let timer = RuntimeTimer(runtime.clone());
    let connect = runtime.connect(params.host(), params.port());
    let stream = match asynch::timeout(&timer, Instant::now() + dial.timeout(), connect).await {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(dial.error(e)),
        None => {
            return Err(dial.error(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            )))
        }
    };
    let address = runtime.peer_addr(&stream);
    Ok(FuturesIo(stream, address))
}
