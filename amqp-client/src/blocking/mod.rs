//! The blocking API, the counterpart of Pika's `BlockingConnection`: no async
//! runtime; the socket is served by I/O threads of the connection's own, so
//! heartbeats flow while application code (a consumer callback, a long
//! computation) runs, and [`Channel`] handles are `Send + Sync`: a worker
//! thread can ack what the consuming thread received.
//!
//! # Threads
//!
//! Each connection has a reader thread and a writer thread. The reader feeds
//! the core what the socket brings and keeps its timers (heartbeats, the
//! blocked-connection and close timeouts); the writer writes what the core
//! produced, in order. Two shortcuts spare the hand-offs between them and
//! the application's threads when those would only wait:
//!
//! - a thread that waits for what only the socket can bring (the next
//!   delivery of a [`ConsumeIter`], a [`Confirmation`], the reply to a
//!   synchronous method) reads the socket itself when no other thread does;
//!   the reader thread stays off the socket while an application thread has
//!   read it within the last 5 ms, and takes it back after that;
//! - that thread also writes, in one write before its next read, the acks
//!   queued meanwhile (by any thread) and its own publishes; whatever no
//!   reading thread writes, the writer does within 5 ms.
//!
//! So a consumer that streams, a publisher that waits for its confirms, and a
//! request/response loop each run on their own thread with one wake-up per
//! batch, while heartbeats and everything else still flow when the
//! application is busy elsewhere.
//!
//! ```no_run
//! use amqp_client::blocking::{Connection, QueueDeclareOptions};
//! use amqp_client::ConnectionParameters;
//! use amqp_protocol::BasicProperties;
//!
//! let conn = Connection::open(ConnectionParameters::new())?;
//! let ch = conn.channel()?;
//! ch.queue_declare("hello", QueueDeclareOptions::default())?;
//! ch.basic_publish("", "hello", b"Hello World!", &BasicProperties::default(), false)?;
//! if let Some(msg) = ch.basic_get("hello", true)? {
//!     println!("{:?}", msg.delivery.body);
//! }
//! conn.close()?;
//! # Ok::<(), amqp_client::Error>(())
//! ```

mod channel;
mod connection;
mod dispatch;
mod io;
mod recover;
mod shared;
mod threads;
#[cfg(feature = "tls")]
mod tls;

pub use crate::core::TimerId;
pub use crate::types::{Delivery, Returned};
pub use channel::{
    Channel, Confirmation, ConsumeIter, ConsumeOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, GetMessage, NackOptions, QueueDeclareOk, QueueDeclareOptions,
    QueueDeleteOptions,
};
pub use connection::{Connection, ThreadsafeHandle};
