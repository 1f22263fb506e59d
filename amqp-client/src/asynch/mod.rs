//! Machinery shared by the async adapters (`amqp_client::tokio`,
//! `amqp_client::futures_io`): one driver task per connection, generic over a
//! small byte-stream trait and a timer, and one set of handles
//! ([`Connection`], [`Channel`], [`Consumer`], [`Confirmation`]) that both
//! adapters re-export. An adapter only says how to connect, spawn and sleep.
//!
//! The client's behaviour (typed results, consumers and their buffers,
//! publisher confirms, stale channel handles, undoing what a dropped future
//! started) is the core's ([`Client`](crate::core::Client)): a handle holds
//! the core's id of what it stands for, and this module adds the wakers
//! keyed by those ids, the driver task and its I/O, the callbacks and
//! back-pressure.
//!
//! How the pieces meet:
//!
//! - The application's handles update the shared state under a short lock
//!   (submit an operation to the core, register a waker) and wake the driver
//!   only when they produced output or freed buffer room. On TCP with tokio
//!   (with or without TLS), a request, a reply or a lone publish made while the driver has
//!   nothing left to write is written by the handle itself, with one
//!   non-blocking write: no wake-up of another thread.
//! - The driver reads, feeds the core, wakes exactly the futures the core
//!   names as ready and runs the callbacks of its events, writes everything the core
//!   produced in one batch, then flushes; it sleeps until the core's next
//!   deadline (heartbeats, timeouts).
//! - With TLS (`amqps`, feature `tls`), the driver also runs the TLS
//!   handshake and encrypts and decrypts between the socket and the core;
//!   the TLS state is shared (under the lock) so that a handle writing
//!   directly encrypts its own records.

mod channel;
mod connection;
mod direct;
mod driver;
mod shared;
mod tls;
mod transport;

pub use channel::Channel;
pub use channel::{Confirmation, Consumer};
#[cfg(feature = "futures-io")]
pub(crate) use connection::timeout;
pub use connection::Connection;
pub(crate) use connection::{establish, open_endpoints, refuse_tcp_options};
#[cfg_attr(not(feature = "futures-io"), allow(unreachable_pub))]
pub use transport::BoxFuture;
#[cfg(feature = "tokio")]
pub(crate) use transport::DirectWrite;
pub(crate) use transport::{Dialer, Timer, Transport};
