//! A RabbitMQ (AMQP 0-9-1) client: the Rust counterpart of Python's Pika.
//!
//! Built on [`amqp_protocol`], the sans-IO wire protocol crate of this
//! workspace.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
//! use amqp_client::{BasicProperties, ConnectionParameters, ShortStr};
//!
//! let conn = Connection::open(ConnectionParameters::new().with_host("127.0.0.1"))?;
//! let ch = conn.channel()?;
//! let durable = QueueDeclareOptions { durable: true, ..Default::default() };
//! ch.queue_declare("orders", durable)?;
//!
//! // Publish with a confirm: `basic_publish` returns once the broker has
//! // the message (or with why not: nacked, unroutable, ...).
//! ch.confirm_delivery()?;
//! let properties = BasicProperties::default()
//!     .with_message_id(ShortStr::from_static("order-1"))
//!     .persistent();
//! ch.basic_publish("", "orders", b"one order", &properties, true)?;
//!
//! // Consume with manual acks, until nothing came for a second.
//! ch.basic_qos(0, 10, false)?;
//! let idle = Some(Duration::from_secs(1));
//! for message in ch.consume("orders", ConsumeOptions::default(), idle)? {
//!     let Some(delivery) = message? else { break };
//!     println!("{}", String::from_utf8_lossy(&delivery.body));
//!     ch.basic_ack(delivery.delivery_tag, false)?;
//! }
//! conn.close()?;
//! # Ok::<(), amqp_client::Error>(())
//! ```
//!
//! A lost connection is recovered by the client itself (see [When the
//! connection is lost](#when-the-connection-is-lost)); what that promises
//! about messages, and what it leaves to the application, is on the
//! [delivery guarantees](guarantees) page.
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
//! # When the connection is lost
//!
//! Recovery is on by default. Once a connection has opened, a failure
//! after which a new connection may succeed ([`Error::reconnect_may_help`]:
//! the stream lost, a heartbeat timeout, the broker closing the connection
//! with 320 connection-forced, 541 internal-error or 506 resource-error,
//! ...) does not close it: the client connects again and puts back what
//! was open, and the application's [`Connection`](blocking::Connection),
//! channel, consumer and confirmation handles stay valid. (The first
//! opening is not recovered: it follows the endpoints' own connection
//! attempts and retry delays, and returns its error.)
//!
//! **Reconnecting.** The endpoints given to `open` are tried in turn,
//! starting with the one after the endpoint that was lost: the first
//! attempt at once, then after waits that double from 100 ms up to 30 s,
//! with jitter so that many clients do not come back in step. Each attempt
//! (TCP connect, TLS and handshake) has 5 s. By default there is no limit
//! on attempts or time; refused credentials, access or virtual host end
//! the recovery at once, since another attempt would be refused the same
//! way. A recovery that ends without a connection closes it with that
//! error, and everything waiting on it fails.
//!
//! **What comes back**, in order:
//!
//! - the exchanges, queues and bindings declared on this connection,
//!   declared again (a server-named queue gets a new name from the broker,
//!   which its bindings, its consumers and the publishes addressed to it
//!   follow: [`RecoveryEvent::QueueRenamed`](core::client::RecoveryEvent::QueueRenamed));
//!   an entity the broker now refuses is skipped and reported;
//! - every channel, under the same handle, with its QoS, confirm and
//!   transaction modes;
//! - every consumer under its tag (a stream consumer resumes after the last
//!   offset it acknowledged);
//! - the calls that were awaiting their reply and that doing twice does
//!   not change (declares, binds, QoS, opening a channel or a consumer,
//!   confirm and transaction modes), sent again;
//! - in confirm mode, every publish still unconfirmed when the connection
//!   was lost, published again: its confirmation (the waiting
//!   `basic_publish`, its `Confirmation`) resolves from the new
//!   connection's confirm. The message may then reach its queue twice
//!   (at-least-once); the client never alters a message.
//!
//! **What the application sees meanwhile:**
//!
//! - publishes made while recovering wait in the client, up to 10,000
//!   messages or 64 MiB; when that is full a blocking or async publisher
//!   waits up to 30 s for room, then gets [`Error::Recovering`];
//! - a nack within 30 s after a recovery (a quorum queue electing its new
//!   leader) publishes the message again after 1 s, then after waits that
//!   double, at most 5 times, before the publisher gets [`Error::Nacked`];
//! - deliveries not yet acknowledged went back to their queues with the
//!   old connection and come again, marked `redelivered`. Delivery tags
//!   keep increasing across a recovery; acknowledging a tag handed out
//!   before it returns [`Error::StaleDeliveryTag`] and sends nothing (that
//!   message went back to its queue): move on;
//! - any other call that was awaiting its reply (a get, purge, delete,
//!   commit, ...) fails with [`Error::ConnectionRecovered`]: whether the
//!   broker carried it out is unknown, so it is not sent again. A
//!   transaction that held publishes or acknowledgements is lost: the next
//!   commit fails with [`Error::TransactionLost`];
//! - publishes without confirm mode that were already handed to the socket
//!   when it died may or may not have reached the broker; nobody can tell.
//!
//! **Events.** [`RecoveryEvent`](core::client::RecoveryEvent) says what
//! recovery does: `Started` (the connection was lost, and why), `Attempt`,
//! `AttemptFailed`, `Recovered`, `GaveUp`, `QueueRenamed` and `Refused` (an
//! entity the broker would not declare again). Every adapter's
//! `Connection::on_recovery(callback)` receives them: the blocking one
//! from `process_data_events` and `start_consuming`, the tokio and
//! futures-io ones on the connection's driver task, the event loop's on
//! the loop. Each is also a `tracing` event, and `Connection::is_recovering()`
//! says whether a recovery is under way.
//!
//! ```no_run
//! use amqp_client::blocking::Connection;
//! use amqp_client::core::client::RecoveryEvent;
//! use amqp_client::ConnectionParameters;
//!
//! let conn = Connection::open(ConnectionParameters::new())?;
//! conn.on_recovery(|event| match event {
//!     RecoveryEvent::Started { cause } => eprintln!("connection lost ({cause}): recovering"),
//!     RecoveryEvent::Recovered { endpoint, took } => {
//!         eprintln!("recovered on {endpoint} after {took:?}")
//!     }
//!     RecoveryEvent::GaveUp { error } => eprintln!("recovery gave up: {error}"),
//!     _ => {}
//! });
//! // Runs the callback, with the consumers' callbacks.
//! conn.process_data_events(None)?;
//! # Ok::<(), amqp_client::Error>(())
//! ```
//!
//! **Settings and turning it off.** [`ConnectionParameters::with_recovery`]
//! takes a [`RecoveryPolicy`](core::RecoveryPolicy) (the defaults above are
//! its fields' defaults; `republish: false` makes publishes unconfirmed at
//! the loss fail with [`Error::PublishOutcomeUnknown`] instead of being
//! published again), and [`ConnectionParameters::without_recovery`] turns
//! recovery off: a lost connection then fails everything waiting on it with
//! why, as in Pika. [`ConnectionParameters::with_confirm_timeout`] bounds
//! the wait for each confirm ([`Error::ConfirmTimeout`]). In a URI,
//! `recovery=false` turns it off and these set the policy:
//!
//! | URI parameter | value | policy field |
//! |---|---|---|
//! | `recovery_initial_delay` | seconds | `initial_delay` |
//! | `recovery_max_delay` | seconds | `max_delay` |
//! | `recovery_attempt_timeout` | seconds | `attempt_timeout` |
//! | `recovery_max_attempts` | count, 0 for no limit | `max_attempts` |
//! | `recovery_max_duration` | seconds, 0 for no limit | `max_duration` |
//! | `recovery_republish` | `true` or `false` | `republish` |
//! | `recovery_abort_on_refusal` | `true` or `false` | `abort_on_refusal` |
//! | `recovery_publish_buffer` | messages | `publish_buffer_messages` |
//! | `recovery_publish_buffer_bytes` | bytes | `publish_buffer_bytes` |
//! | `recovery_publish_wait` | seconds | `publish_wait` |
//! | `recovery_nack_retry_window` | seconds | `nack_retry_window` |
//! | `recovery_nack_retries` | count | `nack_retries` |
//! | `recovery_nack_retry_delay` | seconds | `nack_retry_delay` |
//!
//! ```
//! use std::time::Duration;
//!
//! use amqp_client::core::RecoveryPolicy;
//! use amqp_client::ConnectionParameters;
//!
//! // Off, as in Pika.
//! let off = ConnectionParameters::new().without_recovery();
//! assert!(off.recovery().is_none());
//! let off: ConnectionParameters = "amqp://127.0.0.1/?recovery=false".parse().unwrap();
//! assert!(off.recovery().is_none());
//!
//! // On, giving up a minute after the loss.
//! let params = ConnectionParameters::new().with_recovery(RecoveryPolicy {
//!     max_duration: Some(Duration::from_secs(60)),
//!     ..Default::default()
//! });
//! let from_uri: ConnectionParameters =
//!     "amqp://127.0.0.1/?recovery_max_duration=60".parse().unwrap();
//! assert_eq!(params.recovery(), from_uri.recovery());
//! ```
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
//! cancellation by the broker, protocol violations and each step of a
//! recovery. Credentials are never recorded.
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
pub mod guarantees;

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
