//! The scripted broker of the client regression tests:
//! [`amqp_conform::peer`], re-exported (it depends on `amqp-protocol` and
//! `std` only, so that it can grade any client, and `amqp-conform`'s client
//! mode is built on it).
//!
//! # Example (with this repository's client)
//!
//! A broker that confirms every publish but delivers a message of its own
//! to every new consumer, then closes the channel with 406 at the first
//! `basic.qos`:
//!
//! ```
//! use amqp_protocol::{Method, ReplyCode};
//! use amqp_tests::peer::{Action, ScriptedBroker};
//!
//! let broker = ScriptedBroker::start(|mut peer| {
//!     peer.handshake()?;
//!     peer.serve(|server, command| match &command.method {
//!         Method::BasicConsume(_) => {
//!             let tag = server.answer(command)?; // consume-ok
//!             server.deliver(command.channel, &tag, b"hello")?;
//!             Ok(Action::Handled)
//!         }
//!         Method::BasicQos(_) => {
//!             server.close_channel(command.channel, ReplyCode::PRECONDITION_FAILED, "no qos here")?;
//!             Ok(Action::Handled)
//!         }
//!         _ => Ok(Action::Answer),
//!     })?;
//!     Ok(())
//! });
//!
//! // Any client: here, this workspace's blocking one.
//! use amqp_client::blocking::Connection;
//! let conn = Connection::open_uri(&broker.uri()).unwrap(); // amqp://guest:guest@127.0.0.1:PORT/
//! let ch = conn.channel().unwrap();
//! let mut messages = ch.consume("jobs", Default::default(), None).unwrap();
//! assert_eq!(&messages.next().unwrap().unwrap().unwrap().body[..], b"hello");
//! assert!(ch.basic_qos(0, 10, false).unwrap_err().is_precondition_failed());
//! conn.close().unwrap();
//! broker.join(); // fails here if the script failed
//! ```

pub use amqp_conform::peer::*;
