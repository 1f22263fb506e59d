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
//!
//! # A broker with a TLS listener
//!
//! RabbitMQ accepts TLS connections once `rabbitmq.conf` gives it a TLS
//! port and the server's certificate and key (files its user can read),
//! and it is restarted:
//!
//! ```text
//! listeners.ssl.default = 5671
//! ssl_options.cacertfile = /etc/rabbitmq/tls/ca.pem
//! ssl_options.certfile = /etc/rabbitmq/tls/server.pem
//! ssl_options.keyfile = /etc/rabbitmq/tls/server.key
//! # ask for a client certificate, without requiring one
//! ssl_options.verify = verify_peer
//! ssl_options.fail_if_no_peer_cert = false
//! ```
//!
//! For logins with a client certificate (SASL `EXTERNAL`), also run
//! `rabbitmq-plugins enable rabbitmq_auth_mechanism_ssl` and add
//! `auth_mechanisms.1 = PLAIN`, `auth_mechanisms.2 = AMQPLAIN`,
//! `auth_mechanisms.3 = EXTERNAL` and `ssl_cert_login_from = common_name`:
//! the certificate's common name is then the user name.
//!
//! Test certificates: RabbitMQ's tls-gen (<https://github.com/rabbitmq/tls-gen>)
//! makes a CA with a server and a client certificate and their keys (`make`
//! in its `basic` directory; the files land in `result/`). Or with openssl,
//! a CA, a certificate for a server reached as `localhost` or `127.0.0.1`
//! (rustls checks the subjectAltName, not the common name) and one for a
//! client logging in as `guest`:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
//!     -subj "/CN=test CA" -keyout ca.key -out ca.pem \
//!     -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
//! openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//!     -subj "/CN=localhost" -keyout server.key -out server.csr
//! printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
//! openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 30 \
//!     -extfile server.ext -out server.pem
//! openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//!     -subj "/CN=guest" -keyout client.key -out client.csr
//! printf 'extendedKeyUsage=clientAuth\n' > client.ext
//! openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 30 \
//!     -extfile client.ext -out client.pem
//! ```

use std::process::ExitCode;

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Credentials, Error};
use amqp_protocol::BasicProperties;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls failed: {e}");
            if matches!(e, Error::ConnectFailed { .. }) {
                eprintln!(
                    "does the broker have a TLS listener? This example's documentation says how \
                     to set one up (`listeners.ssl.default = 5671` in rabbitmq.conf)."
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
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
