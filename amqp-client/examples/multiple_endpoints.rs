//! Several connection parameters, tried in order, each with its own attempts
//! and retry delay (Pika's README example). The first endpoint here refuses
//! connections, so the second one is used.
//!
//! ```text
//! cargo run -p amqp-client --example multiple_endpoints
//! ```

use std::time::Duration;

use amqp_client::blocking::Connection;
use amqp_client::{ConnectionParameters, Endpoints, Error};

fn main() -> Result<(), Error> {
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
    let product = properties
        .get("product")
        .map(|p| p.to_string())
        .unwrap_or_default();
    println!("connected to {product}: {tuning:?}");
    connection.close()
}
