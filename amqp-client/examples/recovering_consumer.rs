//! A consumer that carries on through the loss of its connection: it reads
//! the quorum queue that `recovering_publisher` fills, acknowledges each
//! message after processing it, and drops duplicates by their
//! `message_id`, while the client's automatic recovery (on by default)
//! reconnects and registers the consumer again when the connection is
//! lost; it prints what recovery does.
//!
//! Why duplicates come, and why they are harmless here:
//!
//! - a message whose acknowledgement was lost with the connection went back
//!   to its queue and is delivered again (`redelivered`);
//! - an acknowledgement of a delivery handed out before a recovery is
//!   refused with `Error::StaleDeliveryTag` and not sent (that message went
//!   back to its queue): nothing to do but move on, it comes again;
//! - the publisher's recovery may have published a message twice.
//!
//! The consumer remembers the ids it processed and only acknowledges a copy
//! of one of them (in memory here; a real consumer keeps them where it keeps
//! its results).
//!
//! ```text
//! cargo run -p amqp-client --example recovering_publisher
//! cargo run -p amqp-client --example recovering_consumer -- [IDLE_SECONDS]
//! ```
//!
//! It stops once nothing came for `IDLE_SECONDS` (2 by default) outside a
//! recovery. The durable queue stays for the next run (`rabbitmqctl
//! delete_queue amqp-client.example.recovering` removes it).
//!
//! To watch a recovery, start it with a longer idle time (`-- 60`), run
//! `recovering_publisher -- 600 100` beside it, and meanwhile close either
//! connection (they are named after the examples) from the management UI,
//! or restart the broker's application (`rabbitmqctl stop_app`, then
//! `rabbitmqctl start_app`).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::core::client::RecoveryEvent;
use amqp_client::{ConnectionParameters, Error, FieldTable, ShortStr};

/// The queue this example and `recovering_publisher` share.
const QUEUE: &str = "amqp-client.example.recovering";

/// What the consumer did.
#[derive(Default)]
struct Tally {
    received: AtomicU64,
    processed: AtomicU64,
    duplicates: AtomicU64,
    stale_acks: AtomicU64,
}

fn main() -> ExitCode {
    let idle = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    match run(Duration::from_secs(idle)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recovering_consumer failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(idle: Duration) -> Result<(), Error> {
    let params = ConnectionParameters::new()
        .with_host("127.0.0.1")
        .with_connection_name("recovering_consumer");
    println!("connecting to {params}");
    let conn = Connection::open(params)?;
    // Runs on this thread, from `process_data_events` below, in order with
    // the deliveries.
    conn.on_recovery(print_recovery_event);

    let ch = conn.channel()?;
    // Declared as the publisher declares it, so that either may start first.
    let mut arguments = FieldTable::new();
    arguments.insert("x-queue-type", "quorum");
    let options = QueueDeclareOptions {
        durable: true,
        arguments,
        ..Default::default()
    };
    let waiting = ch.queue_declare(QUEUE, options)?.message_count;
    match waiting {
        1 => println!("the queue {QUEUE} holds 1 message"),
        n => println!("the queue {QUEUE} holds {n} messages"),
    }
    // Recovery sets the prefetch count again on the new connection.
    ch.basic_qos(0, 50, false)?;

    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    let mut processed_ids: HashSet<ShortStr> = HashSet::new();
    // Manual acknowledgements (`no_ack` is false by default).
    ch.basic_consume(QUEUE, ConsumeOptions::default(), move |ch, delivery| {
        t.received.fetch_add(1, Ordering::Relaxed);
        let body = String::from_utf8_lossy(&delivery.body);
        let id = delivery.properties.message_id.clone();
        if id.as_ref().is_some_and(|id| processed_ids.contains(id)) {
            t.duplicates.fetch_add(1, Ordering::Relaxed);
            println!("{body:?} again: a duplicate, dropped");
        } else {
            // The work would be here.
            let again = if delivery.redelivered {
                " (redelivered)"
            } else {
                ""
            };
            println!("{body:?} processed{again}");
            t.processed.fetch_add(1, Ordering::Relaxed);
            processed_ids.extend(id);
        }
        match ch.basic_ack(delivery.delivery_tag, false) {
            Ok(()) => {}
            Err(Error::StaleDeliveryTag { .. }) => {
                // Handed out before a recovery: not acknowledged; the
                // message went back to its queue and comes again, to be
                // dropped as a duplicate.
                t.stale_acks.fetch_add(1, Ordering::Relaxed);
                println!("{body:?}: its acknowledgement is stale, moving on");
            }
            Err(e) => eprintln!("acknowledging {body:?} failed: {e}"),
        }
    })?;

    // Dispatches deliveries and recovery events until nothing came for
    // `idle`, not counting the time a recovery takes.
    let (mut seen, mut quiet_since) = (0, Instant::now());
    loop {
        conn.process_data_events(Some(Duration::from_millis(200)))?;
        let received = tally.received.load(Ordering::Relaxed);
        if received != seen || conn.is_recovering() {
            (seen, quiet_since) = (received, Instant::now());
        } else if quiet_since.elapsed() >= idle {
            break;
        }
    }
    ch.stop_consuming()?;
    println!(
        "processed {}, dropped {}; {} stale",
        count(&tally.processed, "message", "messages"),
        count(&tally.duplicates, "duplicate", "duplicates"),
        count(
            &tally.stale_acks,
            "acknowledgement was",
            "acknowledgements were"
        ),
    );
    conn.close()
}

/// `n one` or `n many`, as `n` says.
fn count(n: &AtomicU64, one: &str, many: &str) -> String {
    match n.load(Ordering::Relaxed) {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
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
            "recovery: connected again to {endpoint}, {} ms after the loss; consuming again",
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
