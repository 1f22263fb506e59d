//! What the core needs to open a connection, and how it is made from
//! [`ConnectionParameters`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amqp_protocol::{FieldTable, LongStr, ShortStr};

use crate::params::ConnectionParameters;

/// Chooses the heartbeat from the broker's proposal (seconds; 0 = off).
pub type HeartbeatFn = Arc<dyn Fn(u16) -> u16 + Send + Sync>;

/// What the core needs to open a connection.
#[derive(Clone)]
pub struct Config {
    /// The virtual host to open.
    pub virtual_host: ShortStr,
    /// SASL mechanism name (`PLAIN`, `AMQPLAIN`, `EXTERNAL`).
    pub mechanism: ShortStr,
    /// SASL response (contains the password: never logged).
    pub response: LongStr,
    /// Further (mechanism, response) pairs, used in order when the broker
    /// does not offer `mechanism` (a URI's `auth_mechanism` list).
    pub alternatives: Vec<(ShortStr, LongStr)>,
    /// Locale.
    pub locale: ShortStr,
    /// Client properties announced in start-ok.
    pub client_properties: FieldTable,
    /// Highest channel id wanted (0: no limit of ours).
    pub channel_max: u16,
    /// Largest frame wanted (0: no limit of ours).
    pub frame_max: u32,
    /// Chooses the heartbeat from the broker's proposal.
    pub heartbeat: HeartbeatFn,
    /// Time allowed from the protocol header to open-ok.
    pub handshake_timeout: Option<Duration>,
    /// Close the connection when the broker blocks it longer than this.
    pub blocked_connection_timeout: Option<Duration>,
    /// Time allowed for the broker's close-ok after our connection.close.
    pub close_timeout: Duration,
    /// Deliveries held for the application (not yet taken) at which
    /// [`Client::wants_input`](super::Client::wants_input) turns false.
    pub max_held_deliveries: usize,
    /// The same bound in body bytes.
    pub max_held_bytes: usize,
    /// The largest message body accepted; a content header declaring more
    /// closes the connection ([`Error::MessageTooLarge`](crate::Error::MessageTooLarge)).
    pub max_message_size: u64,
    /// The endpoint connected to (`host:port`), for errors.
    pub endpoint: Option<String>,
    /// How a lost connection is recovered (`None`: it is not).
    pub recovery: Option<super::RecoveryPolicy>,
    /// A publish in confirm mode that the broker has not answered this long
    /// after it went out fails with
    /// [`Error::ConfirmTimeout`](crate::Error::ConfirmTimeout) (`None`: it
    /// waits as long as the connection lives).
    pub confirm_timeout: Option<Duration>,
    /// The address connected to, for errors: set by the adapter once the
    /// stream is connected.
    pub peer_address: Option<SocketAddr>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("virtual_host", &self.virtual_host)
            .field("mechanism", &self.mechanism)
            .field("response", &"***")
            .field("locale", &self.locale)
            .field("channel_max", &self.channel_max)
            .field("frame_max", &self.frame_max)
            .field("handshake_timeout", &self.handshake_timeout)
            .field(
                "blocked_connection_timeout",
                &self.blocked_connection_timeout,
            )
            .field("max_message_size", &self.max_message_size)
            .field("endpoint", &self.endpoint)
            .field("peer_address", &self.peer_address)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The core's configuration for these parameters (the adapter sets
    /// [`peer_address`](Self::peer_address) once connected).
    pub fn from_params(p: &ConnectionParameters) -> Self {
        let heartbeat = p.heartbeat().clone();
        Config {
            virtual_host: ShortStr::try_from(p.virtual_host()).unwrap_or_default(),
            mechanism: ShortStr::from_static(p.credentials().mechanism()),
            response: p.credentials().response(),
            alternatives: p
                .all_credentials()
                .iter()
                .skip(1)
                .map(|c| (ShortStr::from_static(c.mechanism()), c.response()))
                .collect(),
            locale: ShortStr::try_from(p.locale()).unwrap_or_default(),
            client_properties: p.client_properties(),
            channel_max: p.channel_max(),
            frame_max: p.frame_max(),
            heartbeat: Arc::new(move |server| heartbeat.negotiate(server)),
            handshake_timeout: p.stack_timeout(),
            blocked_connection_timeout: p.blocked_connection_timeout(),
            close_timeout: Duration::from_secs(5),
            max_held_deliveries: p.delivery_buffer().0,
            max_held_bytes: p.delivery_buffer().1,
            max_message_size: p.max_message_size(),
            endpoint: Some(format!("{}:{}", p.host(), p.port())),
            recovery: p.recovery().cloned(),
            confirm_timeout: p.confirm_timeout(),
            peer_address: None,
        }
    }

    /// PLAIN credentials, vhost "/", the broker's limits and heartbeat.
    pub fn plain(username: &str, password: &str) -> Self {
        let mut response = Vec::with_capacity(2 + username.len() + password.len());
        response.push(0);
        response.extend_from_slice(username.as_bytes());
        response.push(0);
        response.extend_from_slice(password.as_bytes());
        Config {
            virtual_host: ShortStr::from_static("/"),
            mechanism: ShortStr::from_static("PLAIN"),
            response: LongStr::from(response),
            alternatives: Vec::new(),
            locale: ShortStr::from_static("en_US"),
            client_properties: FieldTable::new(),
            channel_max: 0,
            frame_max: 131_072,
            heartbeat: Arc::new(|server| server),
            handshake_timeout: Some(Duration::from_secs(15)),
            blocked_connection_timeout: None,
            close_timeout: Duration::from_secs(5),
            max_held_deliveries: ConnectionParameters::DEFAULT_DELIVERY_BUFFER_MESSAGES,
            max_held_bytes: ConnectionParameters::DEFAULT_DELIVERY_BUFFER_BYTES,
            max_message_size: ConnectionParameters::DEFAULT_MAX_MESSAGE_SIZE,
            endpoint: None,
            recovery: None,
            confirm_timeout: None,
            peer_address: None,
        }
    }
}
