//! Conformance testing of AMQP 0-9-1 brokers against the specification.
//!
//! Every `<rule>` of the specification ([`amqp_protocol::RULES`]) is
//! [mapped](mapping::MAPPING) to the broker cases that test it, to what a
//! client must do, or to the reason it cannot be tested over the wire.
//!
//! A broker [`Case`] has a stable id, a class, the rules it tests and a
//! MUST/SHOULD [`Level`]. It opens its own connections ([`wire::Conn`]: TCP,
//! or TLS for an `amqps://` [`Target`]),
//! sends raw frames encoded by `amqp-protocol`, and checks, within a time
//! limit, the reply method, the reply code, and whether the channel or the
//! connection closes. [`run::run`] runs cases in parallel; a failed case
//! reports what was expected, what was observed, and the frames exchanged.
//! [`report`] reads the outcomes against a broker's [`deviations`] list
//! (pass, fail, expected failure, unexpected pass, not applicable) and
//! renders them as text, JSON or JUnit XML.
//!
//! [`client`] turns the tables: a scripted broker that misbehaves one
//! scenario at a time, and a harness that runs any client's driver against
//! it and grades what the client did. It runs on [`peer`], a scripted
//! broker for any test that needs a broker RabbitMQ cannot be made to be
//! (a script per connection, raw frames in and out, a standard handshake,
//! and an auto-responder with a hook).
//!
//! # Running the suite from a broker's own tests
//!
//! ```no_run
//! use std::time::Duration;
//! use amqp_conform::{cases, run, Target};
//!
//! let config = run::Config {
//!     target: Target::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(),
//!     timeout: Duration::from_secs(5),
//!     jobs: 8,
//! };
//! let reports = run::run(&cases::all(), &config);
//! for r in reports.iter().filter(|r| r.outcome != run::Outcome::Pass) {
//!     println!("{} {}: {:?}", r.outcome.label(), r.case.id, r.outcome);
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod case;
pub mod cases;
pub mod client;
pub mod deviations;
pub mod mapping;
pub mod peer;
pub mod report;
pub mod rules;
pub mod run;
mod target;
mod tls;
pub mod wire;

pub use case::{fail, Case, CaseResult, Check, Ctx, Level};
pub use target::{Target, Tls, UriError};
