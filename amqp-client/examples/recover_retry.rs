//! Recovering with a retry loop and growing delays (Pika's README example
//! uses the `retry` decorator): every failure that reconnecting may cure is
//! retried, up to 5 attempts with delays doubling from 200 ms; the others
//! end the program with a failure status.
//!
//! This client recovers lost connections by itself (see the
//! `recovering_publisher` example); this one turns that off with
//! `without_recovery()`, so that failures reach the application as they
//! do in Pika, to show the manual style.
//!
//! ```text
//! cargo run -p amqp-client --example recover_retry
//! ```

use std::process::ExitCode;
use std::time::Duration;

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::BasicProperties;

/// Runs `f` until it succeeds or fails for good; delays double from `delay`.
fn retry<T>(
    attempts: u32,
    mut delay: Duration,
    mut f: impl FnMut() -> Result<T, Error>,
) -> Result<T, Error> {
    let mut attempt = 1;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if e.reconnect_may_help() && attempt < attempts => {
                eprintln!("attempt {attempt} failed: {e}; retrying in {delay:?}");
                std::thread::sleep(delay);
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(queue) => {
            println!("published to {queue}, and confirmed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("giving up: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, Error> {
    // Recovery off: a lost connection fails the call that waits on it, and
    // `retry` decides what to do.
    let params = ConnectionParameters::new()
        .with_host("127.0.0.1")
        .without_recovery();
    retry(5, Duration::from_millis(200), || {
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
        channel.confirm_delivery()?;
        channel.basic_publish(
            "",
            &queue,
            b"at least once",
            &BasicProperties::default(),
            true,
        )?;
        connection.close()?;
        Ok(queue)
    })
}
