//! A publisher that carries on through the loss of its connection: it
//! publishes numbered messages in confirm mode to a quorum queue, each with
//! a `message_id`, while the client's automatic recovery (on by default)
//! reconnects when the connection is lost, and prints what recovery does.
//!
//! Each `basic_publish` returns once the broker confirmed the message. If
//! the connection is lost before the confirm, recovery publishes the message
//! again on the new connection, and `basic_publish` returns with that
//! publish's confirm: at-least-once. The first copy may have reached the
//! queue too (only its confirm was lost), so the queue may hold a message
//! twice; both copies carry the same `message_id`, by which the
//! `recovering_consumer` example drops the second.
//!
//! ```text
//! cargo run -p amqp-client --example recovering_publisher -- [MESSAGES] [INTERVAL_MS]
//! ```
//!
//! By default it publishes 20 messages, one every 100 ms, and stops. To
//! watch a recovery, publish for longer (`-- 600 100`, a minute) and
//! meanwhile close its connection (named `recovering_publisher`) from the
//! management UI, or restart the broker's application
//! (`rabbitmqctl stop_app`, then `rabbitmqctl start_app`). The messages
//! stay in the durable queue `amqp-client.example.recovering` for
//! `recovering_consumer` to read.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqp_client::blocking::{Channel, Connection, QueueDeclareOptions};
use amqp_client::core::client::RecoveryEvent;
use amqp_client::{
    delivery_mode, BasicProperties, ConnectionParameters, Error, FieldTable, ShortStr,
};

/// The queue this example and `recovering_consumer` share.
const QUEUE: &str = "amqp-client.example.recovering";

/// How many times a message whose fate stayed open is published again.
const MAX_ATTEMPTS: u32 = 3;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let messages: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let interval_ms = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    match run(messages, Duration::from_millis(interval_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recovering_publisher failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(messages: u64, interval: Duration) -> Result<(), Error> {
    // Recovery is on by default (`RecoveryPolicy::default()`): reconnect
    // with backoff for as long as it takes, and publish again what was
    // unconfirmed when the connection was lost.
    let params = ConnectionParameters::new()
        .with_host("127.0.0.1")
        .with_connection_name("recovering_publisher");
    println!("connecting to {params}");
    let conn = Connection::open(params)?;
    // Runs on this thread, from `sleep` (or `process_data_events`) below.
    conn.on_recovery(print_recovery_event);

    let ch = conn.channel()?;
    // A quorum queue is replicated: at-least-once holds through the loss
    // of a node (see the crate's `guarantees` page).
    let mut arguments = FieldTable::new();
    arguments.insert("x-queue-type", "quorum");
    let options = QueueDeclareOptions {
        durable: true,
        arguments,
        ..Default::default()
    };
    ch.queue_declare(QUEUE, options)?;
    ch.confirm_delivery()?;

    // Message ids unique to this run, so that the consumer tells a copy
    // from a message of another run.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut published_again = 0;
    for n in 1..=messages {
        let properties = BasicProperties {
            // The same id on every attempt to publish this message.
            message_id: ShortStr::try_from(format!("{run}-{n}")).ok(),
            delivery_mode: Some(delivery_mode::PERSISTENT),
            ..Default::default()
        };
        let body = format!("message {n}");
        let attempts = publish(&conn, &ch, body.as_bytes(), &properties)?;
        if attempts > 1 {
            published_again += 1;
        }
        println!("{body:?} confirmed");
        // Waits, running the recovery callback meanwhile.
        conn.sleep(interval)?;
    }
    print!("all {messages} messages confirmed");
    if published_again > 0 {
        print!(" ({published_again} of them after an error and a new attempt)");
    }
    println!("; run recovering_consumer to read them");
    conn.close()
}

/// Publishes `body` (mandatory, so that a message no queue takes is an
/// error) and waits for the broker's confirm; returns how many attempts it
/// took. A nack, a recovery buffer that stayed full, or a lost confirm
/// leave the message's fate open: it is published again, with the same
/// `message_id`, up to `MAX_ATTEMPTS` times.
fn publish(
    conn: &Connection,
    ch: &Channel,
    body: &[u8],
    properties: &BasicProperties,
) -> Result<u32, Error> {
    let mut attempt = 1;
    loop {
        match ch.basic_publish("", QUEUE, body, properties, true) {
            Ok(()) => return Ok(attempt),
            Err(
                e @ (Error::Nacked
                | Error::Recovering
                | Error::PublishOutcomeUnknown
                | Error::ConfirmTimeout { .. }),
            ) if attempt < MAX_ATTEMPTS => {
                eprintln!("not confirmed ({e}): publishing it again in a second");
                conn.sleep(Duration::from_secs(1))?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Prints what recovery does.
fn print_recovery_event(event: &RecoveryEvent) {
    match event {
        RecoveryEvent::Started { cause } => {
            println!("recovery: the connection was lost ({cause}); reconnecting")
        }
        RecoveryEvent::Attempt { endpoint, attempt } => {
            println!("recovery: attempt {attempt}, to {endpoint}")
        }
        RecoveryEvent::AttemptFailed { endpoint, error } => {
            println!("recovery: the attempt to {endpoint} failed: {error}")
        }
        RecoveryEvent::Recovered { endpoint, took } => println!(
            "recovery: connected again to {endpoint}, {} ms after the loss",
            took.as_millis()
        ),
        RecoveryEvent::GaveUp { error } => println!("recovery: gave up: {error}"),
        RecoveryEvent::QueueRenamed { old, new } => {
            println!("recovery: the server-named queue {old} is now {new}")
        }
        RecoveryEvent::Refused { entity, error } => {
            println!("recovery: the broker refused {entity}: {error}")
        }
        _ => {}
    }
}
