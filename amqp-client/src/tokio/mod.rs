//! The async API on tokio (feature `tokio`).
//!
//! [`Connection::open`] connects (trying each endpoint in turn, with its
//! connection attempts and retry delay, like the blocking adapter) and
//! spawns the connection's driver task on the current runtime. The driver
//! owns the socket: it sends heartbeats and reads while the application is
//! busy elsewhere, so nothing has to be polled for the connection to stay
//! alive. [`Channel`] methods are `async fn`s; a consumer is a
//! [`Stream`](futures_core::Stream) of deliveries; a publish in confirm mode
//! gives a [`Confirmation`] future.
//!
//! Reading a [`Consumer`] with `.next()` takes a `Stream` extension trait
//! in scope: `StreamExt` of the `futures-util` crate here (add
//! `futures-util = "0.3"` to the application's dependencies), as in this
//! crate's tokio examples.
//!
//! ```no_run
//! use amqp_client::tokio::{Connection, ConsumeOptions, QueueDeclareOptions};
//! use amqp_client::ConnectionParameters;
//! use amqp_protocol::BasicProperties;
//! // For `consumer.next()`.
//! use futures_util::StreamExt;
//!
//! # async fn run() -> Result<(), amqp_client::Error> {
//! let conn = Connection::open(ConnectionParameters::new()).await?;
//! let ch = conn.channel().await?;
//! ch.queue_declare("hello", QueueDeclareOptions::default()).await?;
//! ch.confirm_delivery().await?;
//! // Waits for the broker's ack.
//! ch.basic_publish("", "hello", b"Hello World!", &BasicProperties::default(), false)
//!     .await?;
//! ch.basic_qos(0, 10, false).await?;
//! let mut consumer = ch.basic_consume("hello", ConsumeOptions::default()).await?;
//! if let Some(delivery) = consumer.next().await {
//!     let delivery = delivery?;
//!     println!("{:?}", delivery.body);
//!     ch.basic_ack(delivery.delivery_tag, false)?;
//! }
//! let requeued = consumer.cancel().await?;
//! assert_eq!(requeued, 0);
//! conn.close().await
//! # }
//! ```
//!
//! # Runtime
//!
//! Works on the multi-threaded and the current-thread runtime; the runtime
//! needs its I/O and time drivers (`enable_all()`, or `#[tokio::main]`).
//! Opening a connection outside a tokio runtime returns
//! [`Error::Misuse`] rather than panicking. The driver is a task like any
//! other: on a current-thread runtime, application code that blocks the
//! thread (a synchronous sleep, a long computation without `.await`) also
//! stops the heartbeats, and the broker drops the connection after two
//! intervals; use `spawn_blocking` or a multi-threaded runtime for such
//! work.
//!
//! # TLS
//!
//! With the `tls` feature, `amqps` endpoints (an `amqps://` URI,
//! [`ConnectionParameters::with_tls_options`]) connect over TLS (the
//! `amqp_client::tls` module describes the options). The driver task runs the TLS handshake
//! before AMQP's, and a failure (an untrusted certificate, a host name
//! mismatch, a refused client certificate) is the [`Error::Tls`] that
//! [`Connection::open`] returns. Without the feature, `amqps` endpoints are
//! an [`Error::Misuse`].
//!
//! # Handles
//!
//! [`Connection`], [`Channel`], [`Consumer`] and [`Confirmation`] are
//! `Send + Sync`; `Connection` and `Channel` are cheap to clone. Dropping
//! the last `Connection` clone closes the connection in the background
//! (channels stop working then); [`Connection::close`] closes it and waits.
//!
//! # Cancellation
//!
//! Every future can be dropped at any point without corrupting the
//! channel: a synchronous method whose future is dropped still completes on
//! the wire and its reply is discarded (a channel opened for nobody is
//! closed, a consumer nobody reads is cancelled and its messages requeued),
//! so the next call on the channel gets its own reply. A publish future
//! dropped before completing did not publish.
//!
//! # Buffering and back-pressure
//!
//! A [`Consumer`] buffers what the broker sent until the stream is read.
//! With a prefetch count ([`Channel::basic_qos`]) the broker never sends
//! more than that many unacked messages, which bounds the buffer. For a
//! `no_ack` consumer or without a prefetch count,
//! [`Channel::basic_consume_bounded`] pauses reading the socket while the
//! consumer's buffer is full, so that TCP flow control holds the broker
//! back. Publishers wait (the publish future is pending) while more than a
//! few MiB of output are queued in front of a slow socket.
//!
//! # Callbacks
//!
//! [`Connection::on_blocked`], [`Connection::on_recovery`] and
//! [`Channel::on_return`] run on the driver task: keep them short and
//! non-blocking (for example, send into a channel).
//!
//! # Recovery
//!
//! The driver task also recovers a lost connection (on by default: see the
//! crate's [recovery section](crate#when-the-connection-is-lost)):
//! meanwhile calls wait, publishes are held within a bound, and a
//! [`Consumer`] stream goes on afterwards with deliveries from the new
//! connection. [`Connection::on_recovery`] reports each step.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::runtime::Handle;

use crate::asynch::{self, BoxFuture, Dialer, DirectWrite, Timer, Transport};
use crate::core::Dialing;
use crate::error::Error;
use crate::params::{ConnectionParameters, Endpoints, TcpOptions};

pub use crate::asynch::{Channel, Confirmation, Connection, Consumer};
pub use crate::core::Tuning;
pub use crate::types::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage,
    NackOptions, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions, Returned,
};

/// tokio's timer.
struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(::tokio::time::sleep_until(deadline.into()))
    }
}

/// A tokio stream as the driver's transport.
struct TokioIo<S>(S);

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for TokioIo<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A TCP connection as the driver's transport: a [`TokioIo`] that also
/// coalesces receives (see [`Coalescing`](crate::sys::Coalescing)) and lets
/// the application's tasks write (see [`DirectWrite`]).
struct TokioTcp(TokioIo<TcpStream>, Option<TcpOptions>);

impl Transport for TokioTcp {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        self.0.poll_read(cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0.poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0.poll_shutdown(cx)
    }

    fn set_recv_lowat(&mut self, bytes: usize) -> bool {
        crate::sys::set_recv_lowat(&self.0 .0, bytes).unwrap_or(false)
    }

    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.0 .0.peer_addr().ok()
    }

    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Past tokio's readiness, which the low-water mark holds back.
        use std::io::Read;
        let socket = socket2::SockRef::from(&self.0 .0);
        (&*socket).read(buf)
    }

    fn socket_tcp_options(&self) -> Option<TcpOptions> {
        self.1
    }

    fn direct_writer(&self) -> Option<Arc<dyn DirectWrite>> {
        // A second descriptor of the socket, non-blocking like the first
        // (they share its file status flags); the driver drops it when it
        // ends, so that the socket closes with the driver.
        let socket = socket2::SockRef::from(&self.0 .0).try_clone().ok()?;
        Some(Arc::new(Direct(socket.into())))
    }
}

/// The application's side of a [`TokioTcp`]: `std`'s writes, which never
/// raise `SIGPIPE`.
struct Direct(std::net::TcpStream);

impl DirectWrite for Direct {
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        use std::io::Write;
        (&self.0).write(buf)
    }
}

fn current_runtime() -> Result<Handle, Error> {
    Handle::try_current().map_err(|_| {
        Error::Misuse(
            "amqp_client::tokio needs a tokio runtime: call it from within one \
             (#[tokio::main], Runtime::block_on, or a spawned task)"
                .into(),
        )
    })
}

impl Connection {
    /// Connects, trying each endpoint in turn with its own connection
    /// attempts and retry delay, and every address its host resolves to;
    /// refused credentials are not retried. Spawns the connection's driver
    /// on the current tokio runtime ([`Error::Misuse`] outside one).
    pub async fn open(endpoints: impl Into<Endpoints>) -> Result<Connection, Error> {
        let endpoints = endpoints.into();
        let handle = current_runtime()?;
        asynch::open_endpoints(endpoints, &TokioTimer, |params| {
            let handle = handle.clone();
            async move { open_tcp(&handle, &params).await }
        })
        .await
    }

    /// Connects to an `amqp://` or `amqps://` URI.
    pub async fn open_uri(uri: &str) -> Result<Connection, Error> {
        let params =
            ConnectionParameters::from_uri(uri).map_err(|e| Error::Misuse(e.to_string()))?;
        Connection::open(params).await
    }

    /// Runs the protocol over a stream the caller connected (a Unix socket,
    /// a proxy tunnel, ...); `params` gives everything but the address.
    /// With TLS in `params`, TLS runs over the stream, checking the
    /// certificate against `params`' host (or `server_name_indication`).
    /// [`ConnectionParameters::tcp_options`] are the caller's to set on the
    /// stream: with any in `params`, this is an [`Error::Misuse`].
    pub async fn open_stream<S>(
        stream: S,
        params: &ConnectionParameters,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        asynch::refuse_tcp_options(params)?;
        let handle = current_runtime()?;
        asynch::establish(TokioIo(stream), TokioTimer, params, None, |driver| {
            handle.spawn(driver);
        })
        .await
    }
}

async fn open_tcp(handle: &Handle, params: &ConnectionParameters) -> Result<Connection, Error> {
    let io = dial_tcp(params.clone()).await?;
    let dialer: Dialer<TokioTcp> = Arc::new(|params| Box::pin(dial_tcp(params)));
    asynch::establish(io, TokioTimer, params, Some(dialer), |driver| {
        handle.spawn(driver);
    })
    .await
}

/// A TCP connection to `params`' endpoint: every address its host resolves
/// to, in order, each within the connect timeout.
async fn dial_tcp(params: ConnectionParameters) -> Result<TokioTcp, Error> {
    crate::sys::check_tcp_options(&params)?;
    let mut dial = Dialing::new(&params);
    let timeout = dial.timeout();
    let addrs = ::tokio::net::lookup_host((params.host(), params.port()))
        .await
        .map_err(|e| dial.error(e))?;
    let mut stream = None;
    // Every address the name resolves to, in order.
    for addr in addrs {
        match ::tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => dial.failed(e),
            Err(_) => dial.failed(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection timed out",
            )),
        }
    }
    let stream = stream.ok_or_else(|| dial.into_error())?;
    stream.set_nodelay(params.tcp_nodelay())?;
    let options =
        crate::sys::apply_tcp_options(socket2::SockRef::from(&stream), params.tcp_options())?;
    Ok(TokioTcp(TokioIo(stream), options))
}
