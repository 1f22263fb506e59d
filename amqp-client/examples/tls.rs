//! Connects over TLS (`amqps`), publishes one message to a temporary queue
//! and gets it back.
//!
//! ```text
//! cargo run -p amqp-client --features tls --example tls -- [URI]
//! ```
//!
//! The URI defaults to `amqps://localhost` (port 5671) and may carry the TLS
//! query options itself (`cacertfile`, `certfile`, `keyfile`,
//! `server_name_indication`, `verify`, `auth_mechanism=external`). These
//! environment variables add to it:
//!
//! - `AMQP_CACERTFILE`: the CA certificates (PEM) to trust instead of the
//!   system's;
//! - `AMQP_CERTFILE` and `AMQP_KEYFILE`: a client certificate and its key
//!   (PEM), presented to the broker; the client then authenticates with SASL
//!   `EXTERNAL`, as the user named by the certificate (with RabbitMQ's
//!   `rabbitmq_auth_mechanism_ssl` plugin), unless the URI has a user name.
//!
//! For example, against a broker whose certificate is signed by `ca.pem`:
//!
//! ```text
//! AMQP_CACERTFILE=ca.pem AMQP_CERTFILE=client.pem AMQP_KEYFILE=client.key \
//!     cargo run -p amqp-client --features tls --example tls -- amqps://localhost:5671
//! ```

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Credentials, Error};
use amqp_protocol::BasicProperties;

fn main() -> Result<(), Error> {
    let uri = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "amqps://localhost".to_owned());
    let mut params: ConnectionParameters =
        uri.parse().map_err(|e| Error::Misuse(format!("{e}")))?;
    let mut tls = params.tls_options().clone();
    if let Ok(path) = std::env::var("AMQP_CACERTFILE") {
        tls = tls.with_cacertfile(path);
    }
    if let Ok(path) = std::env::var("AMQP_CERTFILE") {
        tls = tls.with_certfile(path);
        if !uri.contains('@') {
            params = params.with_credentials(Credentials::External);
        }
    }
    if let Ok(path) = std::env::var("AMQP_KEYFILE") {
        tls = tls.with_keyfile(path);
    }
    let params = params.with_tls_options(tls);
    println!("connecting to {params}");

    let connection = Connection::open(params)?;
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
    channel.basic_publish(
        "",
        &queue,
        b"hello over TLS",
        &BasicProperties::default(),
        false,
    )?;
    match channel.basic_get(&queue, true)? {
        Some(message) => println!("got {:?}", String::from_utf8_lossy(&message.delivery.body)),
        None => println!("the message has not arrived yet"),
    }
    connection.close()
}
