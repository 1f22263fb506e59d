//! A RabbitMQ (AMQP 0-9-1) client: the Rust counterpart of Python's Pika.
//!
//! Built on [`amqp_protocol`], the sans-IO wire protocol crate of this
//! workspace.
//!
//! # Connection parameters
//!
//! [`ConnectionParameters`] says where and how to connect: one host and port,
//! virtual host, [`Credentials`], tuning limits, [`Heartbeat`] policy,
//! timeouts, client properties and TLS settings. Build it with `with_*`
//! setters or parse it from a RabbitMQ URI:
//!
//! ```
//! use amqp_client::ConnectionParameters;
//!
//! let params: ConnectionParameters = "amqps://app:s3cret@rabbit.example/orders?heartbeat=30"
//!     .parse()
//!     .unwrap();
//! assert_eq!(params.port(), 5671);
//! assert_eq!(params.virtual_host(), "orders");
//! // Passwords never appear in Debug or Display output.
//! assert!(!format!("{params:?} {params}").contains("s3cret"));
//! ```
//!
//! [`Endpoints`] lists several parameter sets, tried in order, and plans the
//! connection [`Attempt`]s.
//!
//! # One core, several adapters
//!
//! The protocol logic lives in [`core`], a sans-IO state machine fed bytes
//! and time. Pick the adapter that fits the application, as with Pika:
//!
//! | module | feature | model |
//! |---|---|---|
//! | [`blocking`] | (always) | Pika's `BlockingConnection`: no runtime, I/O on the connection's own threads, `Send + Sync` channels |
//! | `tokio` | `tokio` | async `Connection`/`Channel`, consumers as `Stream`s, a future per confirm |
//! | `futures_io` | `futures-io` | the same async API over any `futures-io` stream and a small `Runtime` trait (smol, async-std, ...) |
//! | [`event_loop`] | (always) | Pika's `SelectConnection`: one thread, callbacks, `call_later`, a thread-safe handle |
//! | `tls` | `tls` | `amqps://` with rustls and the ring provider, for every adapter |
//!
//! [`core`]'s module documentation says how to drive the core over an I/O
//! framework of one's own (the `custom_io` example does it in a few lines).
//!
//! # One vocabulary
//!
//! The client's behaviour is written once, in [`core::Client`]: each channel
//! operation with its typed result, the consumer registry and its buffers,
//! one outcome per publish in confirm mode (acked, [`Error::Nacked`], or
//! [`Error::Unroutable`] for a mandatory message returned then acked), and
//! the handles of a closed channel that keep failing with why it closed once
//! its number is reused. An adapter only moves bytes, time and wake-ups, so
//! every operation has the same name, arguments, option struct
//! ([`types`]) and result in every adapter, in the adapter's style: a
//! blocking call, a future, or a call whose trailing `on_done` callback runs
//! on the loop. Where Pika has the operation, Pika's name and meaning win.
//!
//! | operation | result | blocking | tokio / futures-io | event loop |
//! |---|---|---|---|---|
//! | `Connection::channel()` | `Channel` | call | future | `on_open` callback |
//! | `Connection::channel_with_number(n)` (Pika's `channel(channel_number=n)`) | `Channel`, or [`Error::InvalidChannelNumber`] / [`Error::ChannelInUse`] | call | future | `on_open` callback |
//! | `Connection::close()` | | call | future | call, `on_close` |
//! | `Connection::is_closed()`, `Channel::is_closed()` | closed by either side, or lost | call | call | call |
//! | `Connection::server_properties()`, `tuning()` | `FieldTable`, [`core::Tuning`] | call | call | call |
//! | `Connection::server_capabilities()` | [`ServerCapabilities`] | call | call | call |
//! | `Connection::socket_tcp_options()` | `Option<`[`TcpOptions`]`>`, read back from the socket | call | call (`None` over futures-io) | call |
//! | `Connection::on_blocked(f)` | `f(Option<&str>)` | in `process_data_events` | on the driver task | on the loop |
//! | `Connection::update_secret(secret, reason)` | | call | future | `on_done` |
//! | `exchange_declare(exchange, kind, ExchangeDeclareOptions)` | | call | future | `on_done` |
//! | `exchange_delete(exchange, ExchangeDeleteOptions)` | | call | future | `on_done` |
//! | `exchange_bind` / `exchange_unbind(destination, source, routing_key, arguments)` | | call | future | `on_done` |
//! | `queue_declare(queue, QueueDeclareOptions)` | `QueueDeclareOk` | call | future | `on_done` |
//! | `queue_bind` / `queue_unbind(queue, exchange, routing_key, arguments)` | | call | future | `on_done` |
//! | `queue_purge(queue)` | messages purged | call | future | `on_done` |
//! | `queue_delete(queue, QueueDeleteOptions)` | messages deleted | call | future | `on_done` |
//! | `basic_qos(prefetch_size, prefetch_count, global)` | | call | future | `on_done` |
//! | `basic_consume(queue, ConsumeOptions, ..)` | consumer tag | callback run by `start_consuming` / `process_data_events`; `consume(..)` gives an iterator | `Consumer` stream | `on_message` callback |
//! | `basic_cancel(consumer_tag)` | | call | future | `on_done` |
//! | `basic_publish(exchange, routing_key, body, properties, mandatory)` | the outcome in confirm mode | call (waits for the confirm) | future (awaits the confirm) | sequence number; outcome to `on_confirm` |
//! | `publish_with_confirm(..)` | `Confirmation` | call | future | (`on_confirm`) |
//! | `publish_method(basic::Publish, properties, body)` | | call | future | call |
//! | `basic_get(queue, no_ack)` | `Option<GetMessage>` | call | future | `on_done` |
//! | `basic_ack(tag, multiple)`, `basic_nack(tag, NackOptions)`, `basic_reject(tag, requeue)` | | call (never waits) | call (never waits) | call |
//! | `basic_recover(requeue)` | | call | future | `on_done` |
//! | `confirm_delivery()` | | call | future | `on_done` |
//! | `tx_select()`, `tx_commit()`, `tx_rollback()` | | call | future | `on_done` |
//! | `flow(active)` | the broker's answer | call | future | `on_done` |
//! | `on_return(f)` | `f(&Channel, Returned)` | in `process_data_events` | on the driver task | on the loop |
//! | `on_cancel(f)` (broker cancels) | `f(&Channel, &str)` | in `process_data_events` / `start_consuming` | (the `Consumer` stream ends with `ConsumerCancelled`) | on the loop |
//! | `consumer_tags()` | `Vec<String>` | call | call | call |
//! | consumer's `buffered_len()` | deliveries not yet taken | `ConsumeIter` | `Consumer` | (callbacks take each at once) |
//! | `Channel::close()` | | call | future | call, `on_close` |
//!
//! # Receive coalescing
//!
//! While deliveries stream in faster than the application takes them, the
//! blocking adapter and tokio's TCP connections read in batches of 8 to
//! 32 KiB, waiting at most 2 ms for a batch (the socket's receive low-water
//! mark, on Linux), instead of waking for every TCP segment: that about
//! halves what a fast consumer spends per message. Reads that bring a single
//! message or a reply turn it off, so request-reply latency is unchanged;
//! [`ConnectionParameters::with_receive_coalescing`] turns it off entirely.
//!
//! # Observability
//!
//! Every connection records a `tracing` span `amqp_connection` (id, name,
//! virtual host) and each channel a child span `amqp_channel`; events mark
//! open, close (with the error), blocked/unblocked, channel.flow, consumer
//! cancellation by the broker and protocol violations. Credentials are never
//! recorded.
// The socket option that neither std nor socket2 offers comes from the
// workspace's socket crate (`amqp-socket`), the only one with `unsafe` code.
#![forbid(unsafe_code)]

pub mod params;

pub use params::{
    negotiate_channel_max, negotiate_frame_max, Attempt, Attempts, ConnectionParameters,
    Credentials, Endpoints, Heartbeat, TcpOptions, TlsOptions, TlsRoots, TlsVerify, UriComponent,
    UriError,
};

pub mod blocking;
pub mod core;
pub use crate::core::types;
pub use crate::core::ServerCapabilities;
pub mod error;

mod sys;

#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod asynch;
pub mod event_loop;
#[cfg(feature = "futures-io")]
pub mod futures_io;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use error::{AttemptFailure, BrokerClose, Error};

/// The protocol crate this client is built on, for what the re-exports below
/// leave out (every method as a struct, frames, the codec).
pub use amqp_protocol as protocol;
/// The protocol types an application uses with the client, so that this
/// crate is the only dependency it needs.
pub use amqp_protocol::{
    delivery_mode, BasicProperties, Decimal, FieldArray, FieldTable, FieldValue, LongStr,
    ReplyCode, ShortStr, TableKey, Timestamp,
};
