//! The sans-IO connection core: fed bytes ([`Connection::handle_input`]) and
//! time ([`Connection::handle_timeout`]), it yields bytes to send
//! ([`Connection::poll_transmit`]), events ([`Connection::poll_event`]) and
//! its next deadline ([`Connection::poll_timeout`]). It never touches a
//! socket or reads a clock, so it is deterministic and tested against
//! scripted broker frames with fake time. Every adapter (blocking, async,
//! event loop) drives the same core.
//!
//! It owns the handshake (protocol header, start/start-ok, secure, tune,
//! open), channel multiplexing with one outstanding synchronous method per
//! channel (later requests queue behind it, in order, publishes included),
//! content assembly and splitting by `frame_max`, publisher-confirm sequence
//! numbers, heartbeats, blocked/unblocked, and both directions of the close
//! handshakes.
//!
//! # Driving the core yourself
//!
//! An adapter for another I/O framework keeps one contract:
//!
//! 1. feed every byte read, in order, to [`Connection::handle_input`], and
//!    the stream's end or failure to [`Connection::handle_eof`];
//! 2. call [`Connection::handle_timeout`] once the deadline of
//!    [`Connection::poll_timeout`] has passed (earlier is harmless): it
//!    sends heartbeats and enforces the handshake, heartbeat,
//!    blocked-connection and close timeouts;
//! 3. after any input, time or command, write everything
//!    [`Connection::poll_transmit`] yields, in order, buffering what the
//!    transport does not take at once;
//! 4. take [`Connection::poll_event`]s and turn them into the adapter's own
//!    API; commands (`open_channel`, `call`, `publish`, ...) return a
//!    [`RequestId`] that the matching [`Event::Reply`] or [`Event::Sent`]
//!    carries.
//!
//! The `custom_io` example of this crate does it over a plain
//! `std::net::TcpStream` in a dozen lines of loop.
//!
//! # Two layers
//!
//! [`Connection`] is the wire: it answers a command with a [`RequestId`]
//! and reports raw replies, deliveries and confirms. [`Client`] is the
//! client's behaviour on top of it, the same contract with typed results:
//! the consumer registry, one outcome per publish, stale channel handles
//! (see [`client`]). Every adapter of this crate drives a [`Client`].

mod channel;
pub mod client;
mod config;
mod connect;
mod connection;
mod event;
mod frames;
mod timers;
pub mod types;
pub(crate) mod vocabulary;

pub use client::{
    ChannelRef, Client, ConsumerId, ConsumerMode, NextDelivery, Pending, Ready, Settle,
};
pub use config::{Config, HeartbeatFn};
pub use connect::Connecting;
pub use connection::Connection;
pub use event::{Content, Event, RequestId, Tuning};
pub use timers::{TimerId, Timers};
