//! The event-loop adapter, the counterpart of Pika's `SelectConnection`: one
//! thread, no async runtime, callbacks.
//!
//! An [`EventLoop`] multiplexes any number of [`Connection`]s, timers
//! ([`EventLoop::call_later`]) and callbacks scheduled from other threads
//! ([`EventLoopHandle::add_callback_threadsafe`]) on the thread that calls
//! [`EventLoop::run`]. Sockets are non-blocking (`mio`); heartbeats and every
//! timeout of the connection core are driven by the loop's poll timeout, and
//! output the socket does not take at once is buffered and written when it
//! becomes writable.
//!
//! Everything is reported through callbacks, run on the loop thread:
//!
//! - the connection's [`on_open`](Connection::on_open),
//!   [`on_open_error`](Connection::on_open_error) and
//!   [`on_close`](Connection::on_close), and
//!   [`on_blocked`](Connection::on_blocked);
//! - a channel's open ([`Connection::channel`]),
//!   [`on_close`](Channel::on_close), [`on_return`](Channel::on_return),
//!   the outcome of each publish in confirm mode
//!   ([`Channel::confirm_delivery`], [`Channel::on_confirm`]), broker
//!   cancels ([`Channel::on_cancel`]) and [`on_flow`](Channel::on_flow);
//! - consumers ([`Channel::basic_consume`]);
//! - the reply to each synchronous method: every such method takes an
//!   optional completion callback that receives `Result<reply, Error>`.
//!   Pass `None::<fn(_)>` (or [`no_callback()`]) when the reply does not
//!   matter.
//!
//! Methods only queue work and return at once; errors found before anything
//! is sent (a closed channel, a name too long) are returned directly, and
//! the broker's answer, or the error that ended the channel or connection,
//! reaches the completion callback. Callbacks must not block: the loop (and
//! with it every heartbeat) waits for them.
//!
//! ```no_run
//! use amqp_client::event_loop::{Connection, EventLoop, no_callback};
//! use amqp_client::types::{ConsumeOptions, QueueDeclareOptions};
//! use amqp_client::ConnectionParameters;
//! use amqp_protocol::BasicProperties;
//!
//! let event_loop = EventLoop::new()?;
//! let conn = Connection::open(&event_loop, ConnectionParameters::new());
//! let stopper = event_loop.handle();
//! conn.on_open(move |conn| {
//!     let opened = conn.channel(|ch| {
//!         let ch = match ch {
//!             Ok(ch) => ch,
//!             Err(e) => return eprintln!("{e}"),
//!         };
//!         // Calls are pipelined: each goes out after the reply to the one
//!         // before.
//!         let _ = ch.queue_declare("hello", QueueDeclareOptions::default(), no_callback());
//!         let _ = ch.basic_publish("", "hello", b"Hello World!", &BasicProperties::default(), false);
//!         let _ = ch.basic_consume(
//!             "hello",
//!             ConsumeOptions { no_ack: true, ..Default::default() },
//!             move |ch, delivery| {
//!                 println!("received {:?}", delivery.body);
//!                 ch.connection().close();
//!             },
//!             no_callback(),
//!         );
//!     });
//!     if let Err(e) = opened {
//!         eprintln!("{e}");
//!     }
//! });
//! conn.on_open_error(|error| eprintln!("cannot connect: {error}"));
//! conn.on_close(move |_conn, error| {
//!     println!("closed: {error}");
//!     stopper.stop();
//! });
//! event_loop.run()?;
//! # Ok::<(), amqp_client::Error>(())
//! ```
//!
//! Several [`ConnectionParameters`](crate::ConnectionParameters) (an
//! [`Endpoints`](crate::Endpoints) list) are tried in order, each with its
//! connection attempts and retry delay, without blocking the loop (host
//! names are resolved with the system resolver, which may block briefly).
//! `amqps` endpoints (feature `tls`) run the TLS handshake on the loop
//! too; a refused certificate or handshake reaches
//! [`on_open_error`](Connection::on_open_error) as [`Error::Tls`]. Without
//! the feature they fail to open with [`Error::Misuse`].
//!
//! The protocol and the client's behaviour (typed replies, consumers,
//! publisher confirms, stale channel handles) are the core's
//! ([`crate::core::Client`]); this module connects, drives the core from
//! the loop and runs the application's callbacks.

// From the bottom up: `transport` (the socket's bytes), `state` (what a
// connection holds, the handles), `reactor` (the loop), then connecting,
// driving and dispatching a connection, and the handles' methods.
mod channel;
mod connect;
mod connection;
mod dispatch;
mod drive;
mod reactor;
mod recover;
mod state;
mod transport;

use crate::error::Error;

pub use crate::core::Tuning;
pub use crate::types::{
    ConsumeOptions, Delivery, ExchangeDeclareOptions, ExchangeDeleteOptions, GetMessage,
    NackOptions, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions, Returned,
};
pub use reactor::{EventLoop, EventLoopHandle, TimerId};
pub use state::{Channel, Connection, ConnectionId};

/// `None` typed as a completion callback: for the methods' optional
/// callbacks when the reply does not matter (errors are then only logged).
pub fn no_callback<T>() -> Option<fn(Result<T, Error>)> {
    None
}
