//! Driving the sans-IO connection core over I/O of one's own: the Rust
//! counterpart of Pika's "Extending to support additional I/O frameworks".
//!
//! [`amqp_client::core::Connection`] never touches a socket or a clock. An
//! adapter for any I/O framework (an event loop, a runtime, a simulated
//! network) keeps this contract:
//!
//! - **bytes in**: whatever the transport reads goes to
//!   [`handle_input(bytes, now)`](amqp_client::core::Connection::handle_input),
//!   in order, in chunks of any size; the end of the stream (or its failure)
//!   goes to [`handle_eof`](amqp_client::core::Connection::handle_eof);
//! - **time in**: call [`handle_timeout(now)`](amqp_client::core::Connection::handle_timeout)
//!   once [`poll_timeout()`](amqp_client::core::Connection::poll_timeout)'s
//!   deadline has passed (calling it earlier is harmless). This drives
//!   heartbeats, the handshake timeout, the blocked-connection timeout and
//!   the close timeout;
//! - **bytes out**: after feeding input, time or a command, write everything
//!   [`poll_transmit(now)`](amqp_client::core::Connection::poll_transmit)
//!   yields, in order, with nothing dropped (buffer what the transport does
//!   not take at once);
//! - **events out**: [`poll_event()`](amqp_client::core::Connection::poll_event)
//!   yields what happened (connected, replies to calls, deliveries, confirms,
//!   returns, channel and connection closes), for the adapter to turn into
//!   its own API (callbacks, futures, blocking calls);
//! - **commands**: `open_channel`, `call`, `publish`, `close_channel` and
//!   `close` only queue work: their output appears in `poll_transmit`, their
//!   outcome in `poll_event`, matched by the returned `RequestId`.
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
use std::time::{Duration, Instant};

use amqp_client::core::{Config, Connection, Event, RequestId};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::{basic, confirm, queue, BasicProperties, Method, ReplyCode, ShortStr};

/// Messages published and consumed.
const N: u64 = 3;

/// Longest a read blocks when the core has no deadline.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The adapter: a socket, the core, and a read buffer.
struct Driver {
    stream: TcpStream,
    core: Connection,
    buf: Vec<u8>,
}

impl Driver {
    fn connect(params: &ConnectionParameters) -> Result<Driver, Error> {
        let stream = TcpStream::connect((params.host(), params.port()))?;
        stream.set_nodelay(true)?;
        let core = Connection::new(Config::from_params(params), Instant::now());
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

    /// Runs the loop until the core has an event: write, then wait for input
    /// no longer than the core's next deadline, then give it the time.
    fn next_event(&mut self) -> Result<Event, Error> {
        loop {
            self.flush();
            if let Some(event) = self.core.poll_event() {
                return Ok(event);
            }
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
        }
    }

    /// Runs the loop until `request` is answered; other events are printed.
    fn wait_reply(&mut self, request: RequestId) -> Result<Method, Error> {
        loop {
            match self.next_event()? {
                Event::Reply {
                    request: r, method, ..
                } if r == request => return Ok(method),
                Event::ChannelClosed { error, failed, .. } if failed.contains(&request) => {
                    return Err(error)
                }
                Event::Closed { error } => return Err(error),
                // A method without reply, or a publish, was written.
                Event::Sent { .. } => {}
                other => println!("event: {other:?}"),
            }
        }
    }
}

fn short(s: &str) -> Result<ShortStr, Error> {
    ShortStr::try_from(s).map_err(|e| Error::Misuse(e.to_string()))
}

fn main() -> Result<(), Error> {
    let params = ConnectionParameters::new().with_host("127.0.0.1");
    let mut d = Driver::connect(&params)?;

    // The handshake: the protocol header is already queued.
    match d.next_event()? {
        Event::Connected { tuning, .. } => println!("connected: {tuning:?}"),
        Event::Closed { error } => return Err(error),
        other => println!("event: {other:?}"),
    }

    let (ch, request) = d.core.open_channel()?;
    d.wait_reply(request)?;
    println!("channel {ch} open");

    let declare = queue::Declare {
        exclusive: true,
        ..Default::default()
    };
    let request = d.core.call(ch, declare.into())?;
    let Method::QueueDeclareOk(ok) = d.wait_reply(request)? else {
        return Err(Error::Misuse("unexpected reply to queue.declare".into()));
    };
    let queue = ok.queue;
    println!("queue {} declared", queue.to_string_lossy());

    let request = d.core.call(ch, confirm::Select { no_wait: false }.into())?;
    d.wait_reply(request)?;
    for i in 1..=N {
        let publish = basic::Publish {
            routing_key: queue.clone(),
            ..Default::default()
        };
        let body = format!("message {i}");
        let (_, seq) = d
            .core
            .publish(ch, publish, &BasicProperties::default(), body.as_bytes())?;
        println!("published {body:?} as sequence number {seq:?}");
    }
    // Publishes go out with the next flush; the confirms come back as events.
    let mut confirmed = 0;
    while confirmed < N {
        match d.next_event()? {
            Event::Confirm {
                delivery_tag,
                multiple,
                ack,
                ..
            } => {
                println!("confirm: tag {delivery_tag}, multiple {multiple}, ack {ack}");
                confirmed = if multiple {
                    delivery_tag
                } else {
                    confirmed + 1
                };
            }
            Event::Closed { error } => return Err(error),
            Event::Sent { .. } => {}
            other => println!("event: {other:?}"),
        }
    }

    let consume = basic::Consume {
        queue: queue.clone(),
        consumer_tag: short("custom-io")?,
        no_ack: true,
        ..Default::default()
    };
    let request = d.core.call(ch, consume.into())?;
    d.wait_reply(request)?;
    let mut received = 0;
    while received < N {
        match d.next_event()? {
            Event::Delivery { content, .. } => {
                received += 1;
                println!("received {:?}", String::from_utf8_lossy(&content.body));
            }
            Event::Closed { error } => return Err(error),
            other => println!("event: {other:?}"),
        }
    }

    // The exclusive queue goes with the connection.
    d.core
        .close(ReplyCode::REPLY_SUCCESS, "Normal shutdown", Instant::now());
    loop {
        match d.next_event()? {
            Event::Closed {
                error: Error::ConnectionClosedByClient,
            } => break,
            Event::Closed { error } => return Err(error),
            _ => {}
        }
    }
    println!("closed");
    Ok(())
}
