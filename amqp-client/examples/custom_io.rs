//! Driving the sans-IO client core over I/O of one's own: the Rust
//! counterpart of Pika's "Extending to support additional I/O frameworks".
//!
//! [`amqp_client::core::Client`] never touches a socket or a clock; every
//! adapter of this crate drives it, and an adapter for any other I/O
//! framework (an event loop, a runtime, a simulated network) keeps the same
//! contract:
//!
//! - **bytes in**: whatever the transport reads goes to
//!   [`handle_input(bytes, now)`](amqp_client::core::Client::handle_input),
//!   in order, in chunks of any size; the end of the stream (or its failure)
//!   goes to [`handle_eof`](amqp_client::core::Client::handle_eof);
//! - **time in**: call [`handle_timeout(now)`](amqp_client::core::Client::handle_timeout)
//!   once [`poll_timeout()`](amqp_client::core::Client::poll_timeout)'s
//!   deadline has passed (calling it earlier is harmless). This drives
//!   heartbeats, the handshake timeout, the blocked-connection timeout and
//!   the close timeout;
//! - **bytes out**: after feeding input, time or a command, write everything
//!   [`poll_transmit(now)`](amqp_client::core::Client::poll_transmit)
//!   yields, in order, with nothing dropped (buffer what the transport does
//!   not take at once);
//! - **wake-ups out**: [`poll_ready()`](amqp_client::core::Client::poll_ready)
//!   says which waiter has something to look at (the outcome of a request,
//!   a publish's confirm, a consumer's delivery, a state change);
//! - **events out**: [`poll_event()`](amqp_client::core::Client::poll_event)
//!   yields what the application reacts to (returns, deliveries of callback
//!   consumers, broker cancels, blocked, closes);
//! - **commands**: the channel operations (`open_channel`,
//!   `queue_declare`, `basic_publish`, ...) only queue work and return a
//!   [`Pending`](amqp_client::core::Pending) whose typed outcome
//!   [`take`](amqp_client::core::Client::take) gives once it is there.
//!
//! Here the "framework" is a plain blocking `std::net::TcpStream` and a
//! single-threaded loop that uses the core's deadline as its read timeout.
//! It opens a channel, declares a server-named exclusive queue, publishes in
//! confirm mode, consumes the messages back and closes.
//!
//! ```text
//! cargo run -p amqp-client --example custom_io
//! ```

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use amqp_client::core::client::Event;
use amqp_client::core::{Client, Config, ConsumerMode, NextDelivery, Pending, Settle};
use amqp_client::types::{ConsumeOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, ConnectionParameters, Error};

/// Messages published and consumed.
const N: u64 = 3;

/// Longest a read blocks when the core has no deadline.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The adapter: a socket, the core, and a read buffer.
struct Driver {
    stream: TcpStream,
    core: Client,
    buf: Vec<u8>,
}

impl Driver {
    fn connect(params: &ConnectionParameters) -> Result<Driver, Error> {
        let stream = TcpStream::connect((params.host(), params.port()))?;
        stream.set_nodelay(true)?;
        let core = Client::new(Config::from_params(params), Instant::now());
        Ok(Driver {
            stream,
            core,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Bytes out: everything the core has for the socket.
    fn flush(&mut self) {
        while let Some(bytes) = self.core.poll_transmit(Instant::now()) {
            if let Err(e) = self.stream.write_all(&bytes) {
                // A failed write is the end of the stream for the core.
                self.core.handle_eof(Some(e));
            }
        }
    }

    /// One turn of the loop: write, wait for input no longer than the core's
    /// next deadline, give it the time, and print the application's events.
    fn turn(&mut self) -> Result<(), Error> {
        self.flush();
        let wait = self
            .core
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(IDLE_WAIT)
            .max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait))?;
        match self.stream.read(&mut self.buf) {
            Ok(0) => self.core.handle_eof(None),
            Ok(n) => self.core.handle_input(&self.buf[..n], Instant::now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => self.core.handle_eof(Some(e)),
        }
        self.core.handle_timeout(Instant::now());
        // One waiter here (this thread): it looks again after every turn.
        while self.core.poll_ready().is_some() {}
        while let Some(event) = self.core.poll_event() {
            print_event(&event);
        }
        Ok(())
    }

    /// Runs the loop until `pending` has its outcome.
    fn wait<T>(&mut self, pending: Pending<T>) -> Result<T, Error> {
        loop {
            self.flush();
            if let Some(outcome) = self.core.take(&pending) {
                return outcome;
            }
            self.turn()?;
        }
    }
}

/// What an application would react to; this one only prints it.
fn print_event(event: &Event) {
    match event {
        Event::Connected => println!("event: connected"),
        Event::ChannelClosed { channel, error, .. } => {
            println!("event: channel {} closed: {error}", channel.number())
        }
        Event::Closed { error } => println!("event: connection closed: {error}"),
        Event::Blocked { reason } => println!("event: blocked by the broker: {reason}"),
        Event::Unblocked => println!("event: unblocked"),
        Event::ConsumerCancelled { consumer_tag, .. } => {
            println!("event: consumer {consumer_tag} cancelled by the broker")
        }
        // Deliveries of callback consumers, returns, confirms of
        // `Settle::Event` publishes, flow and recovery: this example asks
        // for none of them.
        _ => println!("event: one this example does not expect"),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custom_io failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let params = ConnectionParameters::new().with_host("127.0.0.1");
    let mut d = Driver::connect(&params)?;

    // The handshake: the protocol header is already queued.
    while !d.core.is_connected() {
        if let Some(e) = d.core.close_reason() {
            return Err(e.clone());
        }
        d.turn()?;
    }
    let tuning = d.core.tuning();
    println!(
        "connected: up to {} channels, frames up to {} bytes, a heartbeat every {} s",
        tuning.channel_max, tuning.frame_max, tuning.heartbeat
    );

    let open = d.core.open_channel()?;
    let ch = d.wait(open)?;
    println!("channel {} open", ch.number());

    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let declare = d.core.queue_declare(ch, "", options)?;
    let queue = d.wait(declare)?.queue;
    println!("queue {queue} declared");

    let select = d.core.confirm_delivery(ch)?;
    d.wait(select)?;
    let mut published = Vec::new();
    for i in 1..=N {
        let body = format!("message {i}");
        let props = BasicProperties::default();
        let seq =
            d.core
                .basic_publish(ch, "", &queue, body.as_bytes(), &props, false, Settle::Take)?;
        match seq {
            Some(seq) => println!("published {body:?} as #{seq}"),
            None => println!("published {body:?}"),
        }
        published.extend(seq);
    }
    // Publishes go out with the next flush; each has one outcome.
    for seq in published {
        let outcome = loop {
            if let Some(outcome) = d.core.take_confirm(ch, seq) {
                break outcome;
            }
            d.turn()?;
        };
        match &outcome {
            Ok(()) => println!("#{seq} confirmed"),
            Err(e) => println!("#{seq} not confirmed: {e}"),
        }
        outcome?;
    }

    let options = ConsumeOptions {
        consumer_tag: "custom-io".into(),
        no_ack: true,
        ..Default::default()
    };
    let (consumer, consume) =
        d.core
            .basic_consume(ch, &queue, options, ConsumerMode::Buffer { limit: None })?;
    d.wait(consume)?;
    let mut received = 0;
    while received < N {
        match d.core.next_delivery(consumer) {
            NextDelivery::Delivery(m) => {
                received += 1;
                println!("received {:?}", String::from_utf8_lossy(&m.body));
            }
            NextDelivery::Empty => d.turn()?,
            NextDelivery::End(e) => return Err(e.unwrap_or(Error::ConnectionClosedByClient)),
        }
    }

    // The exclusive queue goes with the connection.
    d.core.close(Instant::now());
    while d.core.close_reason().is_none() {
        d.turn()?;
    }
    match d.core.close_reason() {
        Some(Error::ConnectionClosedByClient) => println!("closed"),
        Some(e) => return Err(e.clone()),
        None => {}
    }
    Ok(())
}
