//! Several connection parameters, tried in order, each with its own attempts
//! and retry delay (Pika's README example). The first endpoint here refuses
//! connections, so the second one is used.
//!
//! ```text
//! cargo run -p amqp-client --example multiple_endpoints
//! ```

use std::process::ExitCode;
use std::time::Duration;

use amqp_client::blocking::Connection;
use amqp_client::{ConnectionParameters, Endpoints, Error, FieldValue};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("multiple_endpoints failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let endpoints = Endpoints::new()
        // Nothing listens on port 1: both attempts fail quickly.
        .with(
            ConnectionParameters::new()
                .with_host("127.0.0.1")
                .with_port(1)
                .with_connection_attempts(2)
                .with_retry_delay(Duration::from_millis(500)),
        )
        .with(
            ConnectionParameters::from_uri(
                "amqp://guest:guest@127.0.0.1:5672/%2f?connection_attempts=5&retry_delay=1",
            )
            .map_err(|e| Error::Misuse(e.to_string()))?,
        );
    for attempt in endpoints.attempts() {
        println!(
            "plan: endpoint {} attempt {} after {:?}",
            attempt.endpoint, attempt.attempt, attempt.delay_before
        );
    }
    let connection = Connection::open(endpoints)?;
    let (properties, tuning) = (connection.server_properties(), connection.tuning());
    let product = match properties.get("product") {
        Some(FieldValue::LongStr(p)) => p.to_string_lossy().into_owned(),
        _ => "the broker".to_owned(),
    };
    println!(
        "connected to {product}: up to {} channels, frames up to {} bytes, a heartbeat every {} s",
        tuning.channel_max, tuning.frame_max, tuning.heartbeat
    );
    connection.close()
}
