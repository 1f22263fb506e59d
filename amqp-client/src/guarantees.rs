//! Delivery guarantees: what this client promises about a message when
//! connections fail, what it leaves to the application, and where the
//! promise ends. (A page of documentation: this module has no items.)
//!
//! The mechanics of recovery (what is reconnected, declared and published
//! again, with which defaults) are in the crate's section
//! [When the connection is lost](crate#when-the-connection-is-lost).
//!
//! # At-most-once, at-least-once, duplicates
//!
//! **At-most-once**: a message reaches its queue (or its consumer) once or
//! not at all. That is what an application gets when it does not ask for
//! more:
//!
//! - a publish without confirm mode is written to the socket and forgotten.
//!   If the connection dies with it in the socket's buffers, or on the way,
//!   it may or may not have reached the broker; nobody can tell, and the
//!   client does not publish it again;
//! - with [`RecoveryPolicy::republish`](crate::core::RecoveryPolicy::republish)
//!   set to false, a publish still unconfirmed when the connection was lost
//!   is not published again: its confirmation fails with
//!   [`Error::PublishOutcomeUnknown`](crate::Error::PublishOutcomeUnknown);
//! - a consumer with `no_ack` has the broker forget each message as it is
//!   sent: one in flight when the connection dies is gone.
//!
//! **At-least-once**: a message reaches its queue, and its consumer, one
//! or more times, never zero. With recovery on (the default) this client
//! gives it on both sides when the application uses confirms and manual
//! acknowledgements:
//!
//! - a publish in confirm mode whose confirm had not come when the
//!   connection was lost is published again on the recovered connection,
//!   and its outcome (the waiting `basic_publish`, its `Confirmation`, the
//!   event loop's `on_confirm`) comes from the new connection's confirm. So
//!   `Ok` means the broker has the message, whatever happened in between;
//!   an error means it may not, and the application decides whether to
//!   publish it again. A confirm is taken only for a publish the channel
//!   made: one naming any other closes the channel (406), and the publishes
//!   awaiting theirs fail with
//!   [`Error::UnknownConfirmTag`](crate::Error::UnknownConfirmTag);
//! - a delivery that was not acknowledged when the connection was lost goes
//!   back to its queue (the broker does that) and is delivered again, with
//!   `redelivered` set, to the recovered consumer or another one. A stream
//!   consumer resumes after the last offset it acknowledged, so what it had
//!   received without acknowledging comes again too.
//!
//! **Duplicates** are the price of at-least-once, on both sides: a message
//! published again may have reached its queue the first time (only its
//! confirm was lost); a message processed but whose acknowledgement was
//! lost with the connection (or refused afterwards as
//! [`Error::StaleDeliveryTag`](crate::Error::StaleDeliveryTag)) is delivered
//! again. The client never alters a message: the copy published again is
//! the same bytes with the same properties, `message_id` included, and it
//! never drops one that it suspects to be a duplicate. Exactly-once
//! *processing* is the application's: consumers must be idempotent, or drop
//! what they have already processed by its `message_id`.
//!
//! # What the application must still do
//!
//! 1. **Turn confirms on** ([`confirm_delivery`](crate::blocking::Channel::confirm_delivery))
//!    and look at each publish's outcome. `Ok` is the only proof that the
//!    broker has the message. [`Error::Nacked`](crate::Error::Nacked),
//!    [`Error::Unroutable`](crate::Error::Unroutable),
//!    [`Error::Recovering`](crate::Error::Recovering) (the buffer of
//!    publishes held during a recovery stayed full),
//!    [`Error::ConfirmTimeout`](crate::Error::ConfirmTimeout) and
//!    [`Error::PublishOutcomeUnknown`](crate::Error::PublishOutcomeUnknown)
//!    all mean "perhaps not": publish again if the message still matters,
//!    with the same `message_id`.
//! 2. **Publish with `mandatory`** what must reach a queue: without it a
//!    message that no queue takes is confirmed and dropped (see below).
//! 3. **Acknowledge manually**, after the work is done, not with `no_ack`.
//!    An acknowledgement that fails with `StaleDeliveryTag` needs nothing:
//!    the message went back to its queue and will come again (drop it then
//!    as a duplicate).
//! 4. **Give every message a `message_id`**, chosen once, before the first
//!    attempt to publish it (an order number, a UUID), and **drop
//!    duplicates** in the consumer, or make its work idempotent (an upsert,
//!    a unique key).
//!
//! The publisher's side:
//!
//! ```no_run
//! use amqp_client::blocking::{Connection, QueueDeclareOptions};
//! use amqp_client::{delivery_mode, BasicProperties, ConnectionParameters, FieldTable, ShortStr};
//!
//! let conn = Connection::open(ConnectionParameters::new())?;
//! let ch = conn.channel()?;
//! // A quorum queue: replicated, so it outlives the loss of a node.
//! let mut arguments = FieldTable::new();
//! arguments.insert("x-queue-type", "quorum");
//! let options = QueueDeclareOptions { durable: true, arguments, ..Default::default() };
//! ch.queue_declare("orders", options)?;
//! ch.confirm_delivery()?;
//! for n in 1..=3 {
//!     let properties = BasicProperties {
//!         // The same id on every attempt to publish this message.
//!         message_id: ShortStr::try_from(format!("order-{n}")).ok(),
//!         delivery_mode: Some(delivery_mode::PERSISTENT),
//!         ..Default::default()
//!     };
//!     // Mandatory, and waits for the broker's confirm.
//!     ch.basic_publish("", "orders", format!("order {n}").as_bytes(), &properties, true)?;
//! }
//! # Ok::<(), amqp_client::Error>(())
//! ```
//!
//! The consumer's side, dropping duplicates (here in memory; a real
//! consumer keeps the ids it processed where it keeps its results, in the
//! same transaction, and forgets them after a while):
//!
//! ```no_run
//! use std::collections::HashSet;
//! use std::time::Duration;
//!
//! use amqp_client::blocking::{Connection, ConsumeOptions};
//! use amqp_client::{ConnectionParameters, Error, ShortStr};
//!
//! fn process(body: &[u8]) {
//!     println!("{}", String::from_utf8_lossy(body));
//! }
//!
//! let conn = Connection::open(ConnectionParameters::new())?;
//! let ch = conn.channel()?;
//! ch.basic_qos(0, 50, false)?;
//! let mut processed: HashSet<ShortStr> = HashSet::new();
//! let idle = Some(Duration::from_secs(5));
//! for message in ch.consume("orders", ConsumeOptions::default(), idle)? {
//!     let Some(delivery) = message? else { break };
//!     let id = delivery.properties.message_id.clone();
//!     if id.as_ref().is_some_and(|id| processed.contains(id)) {
//!         // A duplicate: processed already, only acknowledge it.
//!     } else {
//!         process(&delivery.body);
//!         if let Some(id) = id {
//!             processed.insert(id);
//!         }
//!     }
//!     match ch.basic_ack(delivery.delivery_tag, false) {
//!         // Handed out before a recovery: the message went back to its
//!         // queue and comes again, to be dropped as a duplicate.
//!         Ok(()) | Err(Error::StaleDeliveryTag { .. }) => {}
//!         Err(e) => return Err(e),
//!     }
//! }
//! # Ok::<(), Error>(())
//! ```
//!
//! The `recovering_publisher` and `recovering_consumer` examples of this
//! crate do the same, printing what recovery does.
//!
//! # Where the guarantee ends
//!
//! At-least-once holds from the publisher's confirm to the consumer's
//! acknowledgement as long as the broker keeps the message. It holds for
//! **quorum queues** and **streams**, which are replicated, and for
//! **mandatory** publishes. Beyond that:
//!
//! - **Classic queues** live on one node. RabbitMQ routes nothing to a
//!   classic queue whose node is down, and acknowledges a non-mandatory
//!   publish that reached no queue: the publisher gets `Ok` and the message
//!   is gone. (A mandatory one is returned:
//!   [`Error::Unroutable`](crate::Error::Unroutable).) And a classic
//!   queue's contents die with its node.
//! - **Exclusive queues** (and server-named ones, usually exclusive) are
//!   deleted with the connection that declared them: recovery declares
//!   them again, empty, and what they held is lost.
//! - **Unconfirmed publishes** (no confirm mode) already handed to the
//!   socket when it died: their fate is unknown.
//! - **Limits of recovery.** When a recovery gives up (a limit of the
//!   [`RecoveryPolicy`](crate::core::RecoveryPolicy), refused credentials),
//!   everything waiting fails, unconfirmed publishes included. A publish
//!   also fails with [`Error::Recovering`](crate::Error::Recovering) when
//!   the buffer of publishes held during a recovery stays full for
//!   `publish_wait` (30 s), and with
//!   [`Error::ConfirmTimeout`](crate::Error::ConfirmTimeout) when a confirm
//!   timeout is set and passes. A nack is published again only within 30 s
//!   after a recovery (at most 5 times); any other reaches the publisher as
//!   [`Error::Nacked`](crate::Error::Nacked). After each of these errors
//!   the message may not be in its queue: publishing it again (with the
//!   same `message_id`) is the application's call.
//! - **Calls whose outcome is unknown** are not sent again: a get, purge or
//!   delete in flight fails with
//!   [`Error::ConnectionRecovered`](crate::Error::ConnectionRecovered), and
//!   a transaction that held publishes or acknowledgements fails its next
//!   commit with [`Error::TransactionLost`](crate::Error::TransactionLost):
//!   do its work again.
//! - **Consumers** must be idempotent or drop duplicates by `message_id`:
//!   the client delivers what the broker delivers, duplicates included.
