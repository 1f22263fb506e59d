//! The `amqp-conform client` driver for amqprs (on tokio): the fixed
//! workload against the broker at `AMQP_URI`, with a 2 s heartbeat, no
//! automatic recovery and a 10 s handshake timeout. Exits 0 when the
//! workload completed, 1 on any error the client reported (printed with
//! Display).
//!
//! ```text
//! amqp-conform client --driver 'target/release/conform-driver-amqprs'
//! ```
//!
//! The workload: connect, open a channel, declare the queue
//! `amqp-conform-client`, enable confirms, publish 20 messages
//! (`message 0` .. `message 19`) through the default exchange awaiting each
//! confirmation (a nack is an error), consume 10 with manual acks (at most
//! 10 s for each delivery), cancel the consumer, close the channel and the
//! connection (200).
//!
//! amqprs reports what the broker does asynchronously, through callbacks:
//! the channel's (`publish_ack`, `publish_nack`, `close`) and the
//! connection's (`close`) forward to one mpsc channel, and so does a task
//! awaiting `Connection::listen_network_io_failure` (its report of a
//! connection whose I/O ended). A confirmation is awaited on that channel
//! with no time limit; a close or the end of the connection's I/O reported
//! there is an error. The callbacks never panic and never fail, so amqprs
//! answers a broker's close with close-ok.
//!
//! On an error the driver prints it, lets the client's objects drop as a
//! program returning the error would, and keeps the runtime running 0.5 s
//! before it exits: the library reports some faults to the caller before
//! it has written its reply to them (a broker's channel.close is reported
//! to the awaited publish before the close-ok goes out), and an immediate
//! exit would race that reply. The grace only lets the library finish what
//! it does by itself (or on drop); the driver makes no further call.

use std::process::ExitCode;
use std::time::Duration;

use amqprs::callbacks::{ChannelCallback, ConnectionCallback};
use amqprs::channel::{
    BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicPublishArguments, Channel,
    ConfirmSelectArguments, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, Close, CloseChannel, Nack, Return};
use async_trait::async_trait;
use tokio::sync::mpsc;

const NAME: &str = "conform-driver-amqprs";
const QUEUE: &str = "amqp-conform-client";
const PUBLISHES: u64 = 20;
const CONSUMES: usize = 10;
const HEARTBEAT: u16 = 2;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the runtime keeps running after the workload failed (its client
/// objects dropped), before the exit: see the module doc.
const EXIT_GRACE: Duration = Duration::from_millis(500);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What amqprs reported, forwarded from its callbacks.
enum Event {
    Ack {
        tag: u64,
        multiple: bool,
    },
    Nack {
        tag: u64,
        multiple: bool,
    },
    ChannelClosed(String),
    ConnectionClosed(String),
    /// `listen_network_io_failure` returned (`true`: a network I/O failure).
    IoEnded(bool),
}

impl Event {
    /// The error this event is to the workload, if it is one.
    fn error(&self) -> Option<String> {
        match self {
            Event::Ack { .. } | Event::Nack { .. } => None,
            Event::ChannelClosed(c) => Some(format!("the broker closed the channel: {c}")),
            Event::ConnectionClosed(c) => Some(format!("the broker closed the connection: {c}")),
            Event::IoEnded(true) => Some("the connection failed (network I/O failure)".into()),
            Event::IoEnded(false) => Some("the connection's I/O ended".into()),
        }
    }
}

struct ConnCallback(mpsc::UnboundedSender<Event>);

#[async_trait]
impl ConnectionCallback for ConnCallback {
    async fn close(&mut self, _: &Connection, close: Close) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Event::ConnectionClosed(close.to_string()));
        Ok(())
    }
    async fn blocked(&mut self, _: &Connection, _: String) {}
    async fn unblocked(&mut self, _: &Connection) {}
    async fn secret_updated(&mut self, _: &Connection) {}
}

struct ChanCallback(mpsc::UnboundedSender<Event>);

#[async_trait]
impl ChannelCallback for ChanCallback {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Event::ChannelClosed(close.to_string()));
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        let _ = self.0.send(Event::Ack {
            tag: ack.delivery_tag(),
            multiple: ack.mutiple(),
        });
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        let _ = self.0.send(Event::Nack {
            tag: nack.delivery_tag(),
            multiple: nack.multiple(),
        });
    }
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

/// Percent-decodes a URI component.
fn decode(s: &str) -> Res<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or("bad percent-encoding in AMQP_URI")?;
            out.push(u8::from_str_radix(hex, 16)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

/// The connection arguments of an `amqp://user:password@host:port/vhost`
/// URI, with the workload's heartbeat. (amqprs parses URIs only with its
/// `urispec` feature, not enabled here.)
fn arguments(uri: &str) -> Res<OpenConnectionArguments> {
    let rest = uri
        .strip_prefix("amqp://")
        .ok_or("AMQP_URI is not an amqp:// URI")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, vhost) = match rest.split_once('/') {
        Some((a, v)) => (a, decode(v)?),
        None => (rest, "/".to_owned()),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (decode(n)?, decode(p)?),
            None => (decode(u)?, String::new()),
        },
        None => ("guest".to_owned(), "guest".to_owned()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>()?),
        None => (hostport, 5672),
    };
    Ok(OpenConnectionArguments::new(host, port, &user, &password)
        .virtual_host(&vhost)
        .connection_name(NAME)
        .heartbeat(HEARTBEAT)
        .finish())
}

/// Awaits the confirmation of delivery tag `tag`, with no time limit.
async fn confirmed(events: &mut mpsc::UnboundedReceiver<Event>, tag: u64) -> Res<()> {
    loop {
        let Some(event) = events.recv().await else {
            return Err("amqprs dropped the channel's callbacks".into());
        };
        if let Some(e) = event.error() {
            return Err(e.into());
        }
        match event {
            Event::Ack { tag: t, multiple } if t == tag || (multiple && t > tag) => return Ok(()),
            Event::Nack { tag: t, multiple } if t == tag || (multiple && t > tag) => {
                return Err(format!("publish {} was nacked", tag - 1).into())
            }
            _ => {}
        }
    }
}

async fn workload(uri: &str) -> Res<()> {
    let args = arguments(uri)?;
    // amqprs has no handshake timeout: the whole `Connection::open`, through
    // connection.open-ok, is wrapped in a tokio timeout. It has no automatic
    // recovery either.
    let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, Connection::open(&args))
        .await
        .map_err(|_| "the opening handshake timed out (10 s)")??;
    let (tx, mut events) = mpsc::unbounded_channel();
    conn.register_callback(ConnCallback(tx.clone())).await?;
    {
        let conn = conn.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let failure = conn.listen_network_io_failure().await;
            let _ = tx.send(Event::IoEnded(failure));
        });
    }
    let ch = conn.open_channel(None).await?;
    ch.register_callback(ChanCallback(tx)).await?;
    ch.queue_declare(QueueDeclareArguments::new(QUEUE)).await?;
    ch.confirm_select(ConfirmSelectArguments::default()).await?;
    for i in 0..PUBLISHES {
        let body = format!("message {i}").into_bytes();
        ch.basic_publish(
            BasicProperties::default(),
            body,
            BasicPublishArguments::new("", QUEUE),
        )
        .await?;
        confirmed(&mut events, i + 1).await?;
    }
    let (tag, mut deliveries) = ch
        .basic_consume_rx(
            BasicConsumeArguments::new(QUEUE, "")
                .manual_ack(true)
                .finish(),
        )
        .await?;
    for _ in 0..CONSUMES {
        let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
        let message = loop {
            tokio::select! {
                m = tokio::time::timeout_at(deadline, deliveries.recv()) => break m,
                Some(e) = events.recv() => {
                    if let Some(e) = e.error() {
                        return Err(e.into());
                    }
                }
            }
        };
        match message {
            Ok(Some(m)) => {
                let deliver = m.deliver.ok_or("a delivery without its basic.deliver")?;
                ch.basic_ack(BasicAckArguments::new(deliver.delivery_tag(), false))
                    .await?;
            }
            Ok(None) => return Err("the consumer ended".into()),
            Err(_) => return Err("no delivery within 10 s".into()),
        }
    }
    ch.basic_cancel(BasicCancelArguments::new(&tag)).await?;
    ch.close().await?;
    conn.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(uri) = std::env::var("AMQP_URI") else {
        eprintln!("{NAME}: AMQP_URI is not set");
        return ExitCode::from(1);
    };
    match workload(&uri).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            tokio::time::sleep(EXIT_GRACE).await;
            ExitCode::from(1)
        }
    }
}
