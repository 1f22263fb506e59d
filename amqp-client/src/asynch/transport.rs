//! What an async runtime provides to the driver: a byte stream
//! ([`Transport`]), optionally a socket the application's tasks may write
//! to directly ([`DirectWrite`]), and sleeps ([`Timer`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// A boxed, sendable future: what the runtime hooks of the `futures_io` module take and return.
#[cfg_attr(not(feature = "futures-io"), allow(unreachable_pub))]
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A byte stream, as the runtimes' I/O traits reduce to.
pub(crate) trait Transport: Send + Unpin + 'static {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Sets the socket's receive low-water mark (see `Coalescing` in the crate's `sys` module); false
    /// where the stream has none (then coalescing stays off).
    fn set_recv_lowat(&mut self, _bytes: usize) -> bool {
        false
    }
    /// Reads what the socket has now, whatever its low-water mark and the
    /// runtime's readiness say: a coalescing window expired.
    fn read_now(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    /// The address of the peer, when the stream is a socket that knows it
    /// (for errors that name it).
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        None
    }
    /// A handle through which the application's tasks may write, when the
    /// stream has one.
    fn direct_writer(&self) -> Option<Arc<dyn DirectWrite>> {
        None
    }
    /// The TCP options read back from the socket once set, when this crate
    /// connected it.
    fn socket_tcp_options(&self) -> Option<crate::params::TcpOptions> {
        None
    }
}

/// A socket that another task may write to without blocking while the
/// driver waits (see `Inner::write_or_wake`): the TCP socket itself; with
/// TLS, what is written through it was encrypted under the lock.
pub(crate) trait DirectWrite: Send + Sync + 'static {
    /// Writes what the socket takes now; `WouldBlock` if nothing.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// A clock's sleeps, from whichever runtime runs the driver.
pub(crate) trait Timer: Send + Sync + Unpin + 'static {
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()>;
}

/// Connects a new stream to an endpoint, for the recovery of a lost
/// connection: what the driver's runtime does to open one.
pub(crate) type Dialer<T> = Arc<
    dyn Fn(crate::params::ConnectionParameters) -> BoxFuture<Result<T, crate::error::Error>>
        + Send
        + Sync,
>;
