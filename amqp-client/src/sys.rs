//! Socket options that std does not offer.
//!
//! `SO_RCVLOWAT` (Linux): the receive low-water mark, which lets a reader
//! that is behind a stream of deliveries take them in larger batches (see
//! [`Coalescing`]), from the workspace's socket crate, `amqp-socket`.
//! Elsewhere it is a no-op and coalescing stays off.
//!
//! Keepalive and `TCP_USER_TIMEOUT` ([`TcpOptions`]), set and read back
//! through `socket2`.

use std::time::Duration;

pub(crate) use amqp_socket::{poll_either, poll_readable, recv_now, set_recv_lowat, Coalescing};

use crate::error::Error;
use crate::params::tcp::ceil_secs;
use crate::params::{ConnectionParameters, TcpOptions};

/// Refuses TCP options that cannot be set, before anything connects: a
/// failed attempt would only repeat.
pub(crate) fn check_tcp_options(params: &ConnectionParameters) -> Result<(), Error> {
    params.tcp_options().check().map_err(Error::Misuse)
}

/// Sets `options` on a socket, then reads them back as the system holds
/// them (`None` when it cannot say).
pub(crate) fn apply_tcp_options(
    socket: socket2::SockRef<'_>,
    options: &TcpOptions,
) -> std::io::Result<Option<TcpOptions>> {
    if options.keepalive() {
        let mut keepalive = socket2::TcpKeepalive::new();
        if let Some(idle) = options.keepalive_idle() {
            keepalive = keepalive.with_time(Duration::from_secs(ceil_secs(idle)));
        }
        keepalive = tune_keepalive(keepalive, options);
        // Turns SO_KEEPALIVE on too.
        socket.set_tcp_keepalive(&keepalive)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(timeout) = options.user_timeout() {
        let ms = crate::params::tcp::ceil_millis(timeout);
        socket.set_tcp_user_timeout(Some(Duration::from_millis(ms)))?;
    }
    Ok(read_tcp_options(&socket).ok())
}

/// Keepalive's interval and probe count, where they can be set (elsewhere
/// [`TcpOptions`] refuses them before connecting).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd"
))]
fn tune_keepalive(
    mut keepalive: socket2::TcpKeepalive,
    options: &TcpOptions,
) -> socket2::TcpKeepalive {
    if let Some(interval) = options.keepalive_interval() {
        keepalive = keepalive.with_interval(Duration::from_secs(ceil_secs(interval)));
    }
    if let Some(count) = options.keepalive_count() {
        keepalive = keepalive.with_retries(count);
    }
    keepalive
}

/// See the other variant.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd"
)))]
fn tune_keepalive(
    keepalive: socket2::TcpKeepalive,
    _options: &TcpOptions,
) -> socket2::TcpKeepalive {
    keepalive
}

/// The keepalive settings (when keepalive is on) and user timeout (when
/// set) of `socket`, as the system reports them.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_tcp_options(socket: &socket2::SockRef<'_>) -> std::io::Result<TcpOptions> {
    let mut options = TcpOptions::new();
    if socket.keepalive()? {
        options = options
            .with_keepalive_idle(socket.tcp_keepalive_time()?)
            .with_keepalive_interval(socket.tcp_keepalive_interval()?)
            .with_keepalive_count(socket.tcp_keepalive_retries()?);
    }
    if let Some(timeout) = socket.tcp_user_timeout()? {
        options = options.with_user_timeout(timeout);
    }
    Ok(options)
}

/// See the Linux variant: elsewhere, what was set is not read back.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn read_tcp_options(_socket: &socket2::SockRef<'_>) -> std::io::Result<TcpOptions> {
    Err(std::io::ErrorKind::Unsupported.into())
}
