//! Publishes a message to a temporary queue on the local broker and consumes
//! it back: the quick start's first command.
//!
//! ```text
//! cargo run -p amqp-client --example round_trip [amqp://guest:guest@127.0.0.1:5672/%2f]
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::{BasicProperties, ShortStr};

fn main() -> ExitCode {
    let uri = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    match run(&uri) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("round trip failed: {e}");
            if matches!(e, Error::ConnectFailed { .. }) {
                eprintln!(
                    "is RabbitMQ running? Start it with `rabbitmq-server -detached`, or install it \
                     with `apt-get install -y rabbitmq-server` (guest/guest on 127.0.0.1:5672)."
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn run(uri: &str) -> Result<(), Error> {
    let params = ConnectionParameters::from_uri(uri)
        .map_err(|e| Error::Misuse(e.to_string()))?
        .with_connection_name("amqp-client round trip");
    println!("connecting to {params}");
    let conn = Connection::open(params)?;
    let ch = conn.channel()?;
    let queue = ch
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?
        .queue;
    ch.confirm_delivery()?;
    let started = Instant::now();
    let props = BasicProperties::default().with_content_type(ShortStr::from_static("text/plain"));
    ch.basic_publish("", &queue, b"Hello, RabbitMQ!", &props, true)?;
    println!("published to {queue} (confirmed by the broker)");
    let mut messages = ch.consume(
        &queue,
        ConsumeOptions::default(),
        Some(Duration::from_secs(5)),
    )?;
    let delivery = match messages.next() {
        Some(Ok(Some(d))) => d,
        Some(Err(e)) => return Err(e),
        _ => {
            return Err(Error::Timeout {
                what: "the message to come back".into(),
            })
        }
    };
    ch.basic_ack(delivery.delivery_tag, false)?;
    println!(
        "consumed {:?} in {:.1} ms",
        String::from_utf8_lossy(&delivery.body),
        started.elapsed().as_secs_f64() * 1e3
    );
    messages.cancel()?;
    ch.queue_delete(&queue, Default::default())?;
    conn.close()
}
