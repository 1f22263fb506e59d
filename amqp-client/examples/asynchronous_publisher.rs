//! An asynchronous publisher on tokio, the counterpart of Pika's
//! `asynchronous_publisher_example.py`: declares a topic exchange, a queue
//! and their binding, turns on publisher confirms, publishes a message
//! every interval, and tracks how many the broker acked or nacked and how
//! many are still outstanding (each publish's confirmation is a future,
//! awaited concurrently with the next publishes). A lost connection is
//! recovered by the client itself (on by default): the publishes
//! unconfirmed at the loss are published again and their confirms come
//! from the new connection, and `on_recovery` prints each step. What
//! recovery does not mend (a channel closed by the broker, a recovery that
//! gave up) ends the session, and the example connects again after a
//! delay, as Pika's does. It stops cleanly after a number of messages
//! (waiting for the outstanding confirms), then deletes what it declared.
//!
//! ```text
//! cargo run -p amqp-client --features tokio --example asynchronous_publisher -- [MESSAGES] [INTERVAL_MS]
//! ```
//!
//! `AMQP_URL` overrides the broker (`amqp://guest:guest@127.0.0.1:5672/%2F`).

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use amqp_client::core::client::RecoveryEvent;
use amqp_client::tokio::{
    Connection, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::{BasicProperties, FieldTable, ShortStr};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;

const EXCHANGE: &str = "message";
const EXCHANGE_TYPE: &str = "topic";
const QUEUE: &str = "text";
const ROUTING_KEY: &str = "example.text";
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Stats {
    published: u64,
    acked: u64,
    nacked: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} published, {} acked, {} nacked",
            self.published, self.acked, self.nacked
        )
    }
}

async fn publish(
    params: &ConnectionParameters,
    limit: u64,
    interval: Duration,
    stats: &mut Stats,
) -> Result<(), Error> {
    let conn = Connection::open(params.clone()).await?;
    // The password stays out of the parameters' Display.
    println!("connected to {params}");
    conn.on_recovery(|event| match event {
        RecoveryEvent::Started { cause } => eprintln!("connection lost ({cause}): recovering"),
        RecoveryEvent::Recovered { endpoint, took } => {
            eprintln!("recovered: connected again to {endpoint} after {took:?}")
        }
        RecoveryEvent::GaveUp { error } => eprintln!("recovery gave up: {error}"),
        _ => {}
    });
    let ch = conn.channel().await?;
    ch.exchange_declare(EXCHANGE, EXCHANGE_TYPE, ExchangeDeclareOptions::default())
        .await?;
    ch.queue_declare(QUEUE, QueueDeclareOptions::default())
        .await?;
    ch.queue_bind(QUEUE, EXCHANGE, ROUTING_KEY, FieldTable::new())
        .await?;
    ch.confirm_delivery().await?;
    ch.on_return(|_, r| eprintln!("returned: {}", r.reason));

    let properties = BasicProperties::default()
        .with_app_id(ShortStr::from_static("example-publisher"))
        .with_content_type(ShortStr::from_static("application/json"));
    let mut outstanding = FuturesUnordered::new();
    let mut ticker = tokio::time::interval(interval);
    while stats.published < limit {
        tokio::select! {
            _ = ticker.tick() => {
                let body = format!("{{\"message\": {}}}", stats.published + 1);
                let confirmation = ch
                    .publish_with_confirm(EXCHANGE, ROUTING_KEY, body.as_bytes(), &properties, true)
                    .await?;
                stats.published += 1;
                let seq = confirmation.sequence_number();
                outstanding.push(async move { (seq, confirmation.await) });
                println!("published #{seq}: {body}");
            }
            Some((seq, outcome)) = outstanding.next() => record(stats, seq, outcome)?,
        }
    }
    while let Some((seq, outcome)) = outstanding.next().await {
        record(stats, seq, outcome)?;
    }
    println!("{stats}, 0 outstanding");
    let left = ch
        .queue_delete(QUEUE, QueueDeleteOptions::default())
        .await?;
    ch.exchange_delete(EXCHANGE, ExchangeDeleteOptions::default())
        .await?;
    println!(
        "deleted the queue \"{QUEUE}\" (with {}) and the exchange \"{EXCHANGE}\"",
        messages(left)
    );
    conn.close().await
}

/// "no message", "1 message", "`n` messages".
fn messages(n: u32) -> String {
    match n {
        0 => "no message".to_owned(),
        1 => "1 message".to_owned(),
        n => format!("{n} messages"),
    }
}

fn record(stats: &mut Stats, seq: u64, outcome: Result<(), Error>) -> Result<(), Error> {
    match outcome {
        Ok(()) => stats.acked += 1,
        Err(Error::Nacked | Error::Unroutable(_)) => stats.nacked += 1,
        // The channel or connection went: reconnect.
        Err(e) => return Err(e),
    }
    let outstanding = stats.published - stats.acked - stats.nacked;
    println!(
        "confirmed #{seq}: {} acked, {} nacked, {outstanding} outstanding",
        stats.acked, stats.nacked
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let limit = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let interval_ms = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2F".to_owned());
    let params = match ConnectionParameters::from_uri(&url) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("AMQP_URL: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stats = Stats::default();
    loop {
        match publish(
            &params,
            limit,
            Duration::from_millis(interval_ms),
            &mut stats,
        )
        .await
        {
            Ok(()) => break,
            Err(e) if e.reconnect_may_help() => {
                // Unconfirmed messages of the lost connection count as lost.
                stats.published = stats.acked + stats.nacked;
                eprintln!("{e}; reconnecting in {RECONNECT_DELAY:?}");
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
            Err(e) => {
                eprintln!("giving up: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("done: {stats}");
    ExitCode::SUCCESS
}
