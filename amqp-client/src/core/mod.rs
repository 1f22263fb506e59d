//! The sans-IO client core: fed bytes ([`Client::handle_input`]) and time
//! ([`Client::handle_timeout`]), it yields bytes to send
//! ([`Client::poll_transmit`]), wake-ups ([`Client::poll_ready`]), events
//! ([`Client::poll_event`]) and its next deadline
//! ([`Client::poll_timeout`]). It never touches a socket or reads a clock,
//! so it is deterministic and tested against scripted broker frames with
//! fake time. Every adapter (blocking, async, event loop) drives the same
//! core, and presents its operations ([`vocabulary`](crate#one-vocabulary))
//! under the same names.
//!
//! # Two layers
//!
//! [`Connection`] is the wire: the handshake (protocol header,
//! start/start-ok, secure, tune, open), channel multiplexing with one
//! outstanding synchronous method per channel (later requests queue behind
//! it, in order, publishes included), content assembly and splitting by
//! `frame_max`, publisher-confirm sequence numbers, heartbeats,
//! blocked/unblocked, and both directions of the close handshakes. It
//! answers a command with a [`RequestId`] and reports raw replies,
//! deliveries and confirms ([`Event`]).
//!
//! [`Client`] is the client's behaviour on top of it (see [`client`]): each
//! channel operation with its typed result ([`Pending`]), the consumer
//! registry and its buffers, one outcome per publish in confirm mode,
//! handles of closed channels that stay stale ([`ChannelRef`]), and what a
//! dropped request undoes; with [`Connecting`] (the plan of connection
//! attempts) and [`Timers`] (`call_later`).
//!
//! # Driving the core yourself
//!
//! An adapter for another I/O framework keeps one contract:
//!
//! 1. feed every byte read, in order, to [`Client::handle_input`], and the
//!    stream's end or failure to [`Client::handle_eof`];
//! 2. call [`Client::handle_timeout`] once the deadline of
//!    [`Client::poll_timeout`] has passed (earlier is harmless): it sends
//!    heartbeats and enforces the handshake, heartbeat, blocked-connection
//!    and close timeouts;
//! 3. after any input, time or command, write everything
//!    [`Client::poll_transmit`] yields, in order, buffering what the
//!    transport does not take at once;
//! 4. wake the waiters [`Client::poll_ready`] names, and turn
//!    [`Client::poll_event`]s into the adapter's callbacks; commands
//!    (`open_channel`, `queue_declare`, `basic_publish`, ...) return a
//!    [`Pending`] whose outcome [`Client::take`] gives once it is ready.
//!
//! The `custom_io` example of this crate does it over a plain
//! `std::net::TcpStream` in a few dozen lines.

mod capabilities;
mod channel;
pub mod client;
mod config;
mod connect;
mod connection;
mod event;
mod frames;
mod reconnect;
mod timers;
pub mod types;
pub(crate) mod vocabulary;

pub use capabilities::ServerCapabilities;
pub use client::{
    ChannelRef, ChannelSettings, Client, ConsumerId, ConsumerMode, Next, NextDelivery, Pending,
    Prefetch, Ready, Settle,
};
pub use config::{Config, HeartbeatFn};
pub use connect::{Connecting, Dialing};
pub use connection::Connection;
pub use event::{Content, Event, RequestId, Tuning};
pub use reconnect::{ReconnectAttempt, Reconnecting, RecoveryPolicy};
pub use timers::{TimerId, Timers};
