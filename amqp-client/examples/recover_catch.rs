//! Recovering from connection failures by catching errors, in the manual
//! style of Pika's README example: consume until an error, then connect and
//! start again when the error says that a new connection may mend it
//! (`Error::reconnect_may_help`: a lost stream, a heartbeat timeout, a
//! refused connection, a close by an administrator with 320
//! connection-forced, ...), and give up on any other (refused credentials,
//! a channel error, ...). Pika's example gives up on every close by the
//! broker; this one retries exactly when `reconnect_may_help` says so.
//!
//! This client recovers lost connections by itself (see the
//! `recovering_consumer` example); this one turns that off with
//! `without_recovery()`, so that failures reach the application as they
//! do in Pika, to show the manual style.
//!
//! It consumes for 3 seconds in all, then closes and exits. Close its
//! connection meanwhile from the management UI or with
//! `rabbitmqctl close_connection` to watch it reconnect. It makes at most 5
//! attempts, one second apart, and exits with a failure status when the
//! last one failed or an error was not worth retrying.
//!
//! ```text
//! cargo run -p amqp-client --example recover_catch
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};

/// How long to consume in all.
const CONSUME_FOR: Duration = Duration::from_secs(3);
/// How many connections to try.
const ATTEMPTS: u32 = 5;
/// The wait between two of them.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Connects, consumes until `deadline`, then closes; an error ends it early.
fn consume_until(params: &ConnectionParameters, deadline: Instant) -> Result<(), Error> {
    let connection = Connection::open(params.clone())?;
    let channel = connection.channel()?;
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?
        .queue;
    channel.basic_consume(&queue, ConsumeOptions::default(), |channel, delivery| {
        println!("received {:?}", String::from_utf8_lossy(&delivery.body));
        if let Err(e) = channel.basic_ack(delivery.delivery_tag, false) {
            eprintln!("ack failed: {e}");
        }
    })?;
    // For the example, stop at the deadline instead of running forever.
    connection.process_data_events(Some(deadline.saturating_duration_since(Instant::now())))?;
    connection.close()
}

fn main() -> ExitCode {
    // Recovery off: a lost connection fails the call that waits on it, and
    // this loop decides what to do.
    let params = ConnectionParameters::new()
        .with_host("127.0.0.1")
        .without_recovery();
    let deadline = Instant::now() + CONSUME_FOR;
    for attempt in 1..=ATTEMPTS {
        match consume_until(&params, deadline) {
            Ok(()) => {
                println!("attempt {attempt}: consumed until the deadline, closed cleanly");
                return ExitCode::SUCCESS;
            }
            // A lost connection, a heartbeat timeout, a forced close...:
            // a new connection may do better.
            Err(e) if e.reconnect_may_help() => {
                if attempt == ATTEMPTS {
                    eprintln!("attempt {attempt}: {e}; giving up after {ATTEMPTS} attempts");
                } else {
                    eprintln!("attempt {attempt}: {e}; reconnecting in {RETRY_DELAY:?}");
                    std::thread::sleep(RETRY_DELAY);
                }
            }
            // Refused credentials, a channel error...: it would fail again.
            Err(e) => {
                eprintln!("attempt {attempt}: {e}; not worth retrying, giving up");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::FAILURE
}
