//! [`ConnectionParameters`]: where and how to connect to one node. Its URI
//! form, parsed and displayed, is in `uri`.

use std::time::Duration;

use amqp_protocol::{connection, FieldTable, ShortStr};

use super::credentials::Credentials;
use super::tcp::TcpOptions;
use super::tls::TlsOptions;
use super::tuning::{negotiate_channel_max, negotiate_frame_max, Heartbeat};
use crate::core::RecoveryPolicy;

/// Where and how to connect to one RabbitMQ node: the counterpart of Pika's
/// `ConnectionParameters` (and, through [`from_uri`](Self::from_uri), of
/// `URLParameters`), with the same defaults.
///
/// Built with `with_*` setters, read with getters of the same name:
///
/// ```
/// use std::time::Duration;
/// use amqp_client::{ConnectionParameters, Credentials, Heartbeat};
///
/// let params = ConnectionParameters::new()
///     .with_host("rabbit.example")
///     .with_virtual_host("orders")
///     .with_credentials(Credentials::plain("app", "s3cret"))
///     .with_heartbeat(Heartbeat::Seconds(30))
///     .with_connection_attempts(3)
///     .with_retry_delay(Duration::from_secs(5));
/// assert_eq!(params.port(), 5672);
/// assert_eq!(params.to_string(), "amqp://app@rabbit.example:5672/orders");
/// ```
///
/// The host is one name or address: resolving it, and trying each address it
/// resolves to, is the I/O adapter's job. To try several hosts, list
/// parameter sets in [`Endpoints`](crate::params::Endpoints).
///
/// Values are not checked against the protocol's limits when set (the
/// virtual host and locale are short strings of at most 255 bytes; a
/// `frame_max` below 4096 is raised by negotiation): the URI parser checks
/// them, and the connection reports what the server refuses.
#[derive(Debug, Clone)]
pub struct ConnectionParameters {
    // The URI parser (`uri`) fills in the fields it can set, and displays
    // them.
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) virtual_host: String,
    pub(super) credentials: Vec<Credentials>,
    pub(super) channel_max: u16,
    pub(super) frame_max: u32,
    max_message_size: u64,
    pub(super) heartbeat: Heartbeat,
    pub(super) connection_attempts: u32,
    pub(super) retry_delay: Duration,
    pub(super) socket_timeout: Option<Duration>,
    pub(super) stack_timeout: Option<Duration>,
    pub(super) blocked_connection_timeout: Option<Duration>,
    pub(super) client_properties: Option<FieldTable>,
    pub(super) locale: String,
    pub(super) connection_name: Option<String>,
    tcp_nodelay: bool,
    pub(super) tcp_options: TcpOptions,
    receive_coalescing: bool,
    delivery_buffer: (usize, usize),
    pub(super) recovery: Option<RecoveryPolicy>,
    pub(super) confirm_timeout: Option<Duration>,
    pub(super) tls: bool,
    pub(super) tls_options: TlsOptions,
}

impl ConnectionParameters {
    /// `localhost`.
    pub const DEFAULT_HOST: &'static str = "localhost";
    /// 5672, the IANA port of AMQP.
    pub const DEFAULT_PORT: u16 = 5672;
    /// 5671, the IANA port of AMQP over TLS.
    pub const DEFAULT_TLS_PORT: u16 = 5671;
    /// `/`, RabbitMQ's default virtual host.
    pub const DEFAULT_VIRTUAL_HOST: &'static str = "/";
    /// `guest`.
    pub const DEFAULT_USERNAME: &'static str = "guest";
    /// `guest`.
    pub const DEFAULT_PASSWORD: &'static str = "guest";
    /// 65535, Pika's `MAX_CHANNELS`.
    pub const DEFAULT_CHANNEL_MAX: u16 = 65535;
    /// 131072 bytes, Pika's and RabbitMQ's default.
    pub const DEFAULT_FRAME_MAX: u32 = 131_072;
    /// 128 MiB: the largest message body accepted by default.
    pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 128 * 1024 * 1024;
    /// 1 attempt.
    pub const DEFAULT_CONNECTION_ATTEMPTS: u32 = 1;
    /// 2 seconds.
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(2);
    /// 10 seconds.
    pub const DEFAULT_SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
    /// 15 seconds.
    pub const DEFAULT_STACK_TIMEOUT: Duration = Duration::from_secs(15);
    /// 65,536 deliveries (see [`with_delivery_buffer`](Self::with_delivery_buffer)).
    pub const DEFAULT_DELIVERY_BUFFER_MESSAGES: usize = 65_536;
    /// 256 MiB of bodies (see [`with_delivery_buffer`](Self::with_delivery_buffer)).
    pub const DEFAULT_DELIVERY_BUFFER_BYTES: usize = 256 * 1024 * 1024;
    /// `en_US`.
    pub const DEFAULT_LOCALE: &'static str = "en_US";

    /// Pika's defaults: `localhost:5672`, virtual host `/`, guest/guest over
    /// `PLAIN`, `channel_max` 65535, `frame_max` 131072, the server's
    /// heartbeat, 1 connection attempt, 2 s retry delay, 10 s socket timeout,
    /// 15 s stack timeout, no blocked-connection timeout, no extra client
    /// properties, locale `en_US`, no connection name, `TCP_NODELAY` on, no
    /// other TCP option, no TLS.
    pub fn new() -> Self {
        ConnectionParameters {
            host: Self::DEFAULT_HOST.to_owned(),
            port: None,
            virtual_host: Self::DEFAULT_VIRTUAL_HOST.to_owned(),
            credentials: vec![Credentials::default()],
            channel_max: Self::DEFAULT_CHANNEL_MAX,
            frame_max: Self::DEFAULT_FRAME_MAX,
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            heartbeat: Heartbeat::ServerDefault,
            connection_attempts: Self::DEFAULT_CONNECTION_ATTEMPTS,
            retry_delay: Self::DEFAULT_RETRY_DELAY,
            socket_timeout: Some(Self::DEFAULT_SOCKET_TIMEOUT),
            stack_timeout: Some(Self::DEFAULT_STACK_TIMEOUT),
            blocked_connection_timeout: None,
            client_properties: None,
            locale: Self::DEFAULT_LOCALE.to_owned(),
            connection_name: None,
            tcp_nodelay: true,
            tcp_options: TcpOptions::new(),
            receive_coalescing: true,
            delivery_buffer: (
                Self::DEFAULT_DELIVERY_BUFFER_MESSAGES,
                Self::DEFAULT_DELIVERY_BUFFER_BYTES,
            ),
            recovery: Some(RecoveryPolicy::default()),
            confirm_timeout: None,
            tls: false,
            tls_options: TlsOptions::default(),
        }
    }

    /// Sets the host name or IP address (IPv6 without brackets).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets the port (without it: 5672, or 5671 with TLS).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the virtual host (`/` by default; at most 255 bytes).
    pub fn with_virtual_host(mut self, virtual_host: impl Into<String>) -> Self {
        self.virtual_host = virtual_host.into();
        self
    }

    /// Sets the credentials, replacing any others.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = vec![credentials];
        self
    }

    /// Adds credentials for another SASL mechanism, less preferred than those
    /// already set: see [`select_credentials`](Self::select_credentials).
    pub fn with_additional_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials.push(credentials);
        self
    }

    /// Sets the highest channel number wished for (0: no limit); negotiated
    /// with the server's by [`negotiate_channel_max`].
    pub fn with_channel_max(mut self, channel_max: u16) -> Self {
        self.channel_max = channel_max;
        self
    }

    /// Sets the largest frame size wished for, in bytes (0: no limit);
    /// negotiated with the server's by [`negotiate_frame_max`].
    pub fn with_frame_max(mut self, frame_max: u32) -> Self {
        self.frame_max = frame_max;
        self
    }

    /// Sets the largest message body accepted from the broker, in bytes
    /// (default [`DEFAULT_MAX_MESSAGE_SIZE`](Self::DEFAULT_MAX_MESSAGE_SIZE),
    /// 128 MiB; RabbitMQ's own limit, `max_message_size`, defaults to the
    /// same). A content header declaring a larger body closes the
    /// connection with [`Error::MessageTooLarge`](crate::Error::MessageTooLarge)
    /// before any of the body is buffered, so a faulty or hostile peer
    /// cannot make the client buffer without bound.
    pub fn with_max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the heartbeat policy.
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets how many times to try this endpoint before giving up on it (0 is
    /// taken as 1).
    pub fn with_connection_attempts(mut self, attempts: u32) -> Self {
        self.connection_attempts = attempts.max(1);
        self
    }

    /// Sets the pause between two attempts on this endpoint.
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Sets the TCP connect timeout (`None`: none).
    pub fn with_socket_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.socket_timeout = timeout.into();
        self
    }

    /// Sets the timeout of the whole bring-up, TCP, TLS and AMQP handshake
    /// (`None`: none).
    pub fn with_stack_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.stack_timeout = timeout.into();
        self
    }

    /// Sets how long the connection may stay blocked by the server
    /// (`connection.blocked`) before the client closes it (`None`: forever).
    pub fn with_blocked_connection_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.blocked_connection_timeout = timeout.into();
        self
    }

    /// Sets extra client properties, merged over the defaults by
    /// [`client_properties`](Self::client_properties).
    pub fn with_client_properties(mut self, properties: FieldTable) -> Self {
        self.client_properties = Some(properties);
        self
    }

    /// Sets the locale for `connection.start-ok` (at most 255 bytes).
    pub fn with_locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = locale.into();
        self
    }

    /// Sets the connection name shown by RabbitMQ's management tools (the
    /// `connection_name` client property).
    pub fn with_connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// Sets whether to turn Nagle's algorithm off (`TCP_NODELAY`).
    pub fn with_tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.tcp_nodelay = nodelay;
        self
    }

    /// Sets the socket's keepalive and user-timeout options (Pika's
    /// `tcp_options`; none by default).
    pub fn with_tcp_options(mut self, options: TcpOptions) -> Self {
        self.tcp_options = options;
        self
    }

    /// Sets whether reads coalesce while deliveries stream in (on by
    /// default; Linux only, elsewhere it has no effect; the blocking
    /// adapter and tokio's TCP connections).
    ///
    /// While a read brings several kilobytes and several messages at once
    /// (the broker is ahead of the application), the next read waits until 8 to 32 KiB are there,
    /// or at most 2 ms, using the socket's receive low-water mark
    /// (`SO_RCVLOWAT`). A fast consumer then wakes up once per batch rather
    /// than once per segment, which about halves the CPU it spends per
    /// message. The price is at most 2 ms of added latency for the first
    /// message of a batch, and only while a stream flows: a read that brings
    /// less (a reply, a single delivery however large, a round trip) turns
    /// it off, so request-reply traffic is never delayed. With tokio, while
    /// 512 or more publishes await their confirms, the broker's confirms are
    /// read in the same way once a millisecond. Turn it off when every
    /// message of a stream must arrive as early as possible.
    pub fn with_receive_coalescing(mut self, on: bool) -> Self {
        self.receive_coalescing = on;
        self
    }

    /// Bounds what the connection holds of deliveries its application has
    /// not taken yet (buffered for consumers read as iterators or streams,
    /// or waiting for their callback to run): at `messages` deliveries or
    /// `bytes` of bodies, whichever comes first, the connection stops
    /// reading the socket until the application takes some (TCP flow
    /// control then slows the broker down; heartbeats still go out). It
    /// holds memory bounded when a broker ignores the prefetch limit, or
    /// when consumers have none. The bound may be passed by what one read
    /// of the socket brings (at most 256 KiB).
    ///
    /// Defaults: [`DEFAULT_DELIVERY_BUFFER_MESSAGES`](Self::DEFAULT_DELIVERY_BUFFER_MESSAGES)
    /// and [`DEFAULT_DELIVERY_BUFFER_BYTES`](Self::DEFAULT_DELIVERY_BUFFER_BYTES),
    /// well above any sensible prefetch. Zero counts as one.
    pub fn with_delivery_buffer(mut self, messages: usize, bytes: usize) -> Self {
        self.delivery_buffer = (messages.max(1), bytes.max(1));
        self
    }

    /// Sets how a lost connection is recovered (on by default, with
    /// [`RecoveryPolicy::default`]): see the crate's
    /// [recovery section](crate#when-the-connection-is-lost).
    pub fn with_recovery(mut self, policy: RecoveryPolicy) -> Self {
        self.recovery = Some(policy);
        self
    }

    /// Sets a time limit on each publisher confirm: a publish in confirm
    /// mode that the broker has not acked or nacked this long after it
    /// went out fails with [`Error::ConfirmTimeout`](crate::Error::ConfirmTimeout)
    /// (its fate is unknown). For a live connection whose broker never
    /// answers (a stream publish during a writer move, say). Off by default.
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = Some(timeout);
        self
    }

    /// The confirm timeout (see [`with_confirm_timeout`](Self::with_confirm_timeout)).
    pub fn confirm_timeout(&self) -> Option<Duration> {
        self.confirm_timeout
    }

    /// Turns automatic recovery off: a lost connection fails everything
    /// waiting on it with why, as Pika does.
    pub fn without_recovery(mut self) -> Self {
        self.recovery = None;
        self
    }

    /// Sets whether to connect over TLS (which changes the default port).
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the TLS options, and turns TLS on.
    pub fn with_tls_options(mut self, options: TlsOptions) -> Self {
        self.tls_options = options;
        self.tls = true;
        self
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the one set, else 5671 with TLS and 5672 without.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls {
            Self::DEFAULT_TLS_PORT
        } else {
            Self::DEFAULT_PORT
        })
    }

    /// The virtual host.
    pub fn virtual_host(&self) -> &str {
        &self.virtual_host
    }

    /// The preferred credentials (the first of
    /// [`all_credentials`](Self::all_credentials)).
    pub fn credentials(&self) -> &Credentials {
        // Never empty: every setter keeps at least one.
        &self.credentials[0]
    }

    /// Every credentials set, most preferred first; never empty.
    pub fn all_credentials(&self) -> &[Credentials] {
        &self.credentials
    }

    /// The first credentials, in order of preference, whose mechanism the
    /// server offers: `server_mechanisms` is `connection.start`'s
    /// `mechanisms`, space-separated names. `None` when the server offers
    /// none of them.
    ///
    /// ```
    /// use amqp_client::{ConnectionParameters, Credentials};
    /// let params = ConnectionParameters::new()
    ///     .with_credentials(Credentials::External)
    ///     .with_additional_credentials(Credentials::plain("app", "pw"));
    /// let chosen = params.select_credentials(b"AMQPLAIN PLAIN").unwrap();
    /// assert_eq!(chosen.mechanism(), "PLAIN");
    /// ```
    pub fn select_credentials(&self, server_mechanisms: &[u8]) -> Option<&Credentials> {
        self.credentials.iter().find(|c| {
            server_mechanisms
                .split(|b| *b == b' ')
                .any(|m| m == c.mechanism().as_bytes())
        })
    }

    /// The highest channel number wished for (0: no limit).
    pub fn channel_max(&self) -> u16 {
        self.channel_max
    }

    /// The largest message body accepted from the broker, in bytes (see
    /// [`with_max_message_size`](Self::with_max_message_size)).
    pub fn max_message_size(&self) -> u64 {
        self.max_message_size
    }

    /// The largest frame size wished for, in bytes (0: no limit).
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    /// The heartbeat policy.
    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    /// How many times to try this endpoint (at least 1).
    pub fn connection_attempts(&self) -> u32 {
        self.connection_attempts
    }

    /// The pause between two attempts on this endpoint.
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// The TCP connect timeout (`None`: none).
    pub fn socket_timeout(&self) -> Option<Duration> {
        self.socket_timeout
    }

    /// The timeout of the whole bring-up: TCP, TLS and AMQP handshake
    /// (`None`: none).
    pub fn stack_timeout(&self) -> Option<Duration> {
        self.stack_timeout
    }

    /// How long the connection may stay blocked before the client closes it
    /// (`None`: forever).
    pub fn blocked_connection_timeout(&self) -> Option<Duration> {
        self.blocked_connection_timeout
    }

    /// The extra client properties, as set (see
    /// [`client_properties`](Self::client_properties) for the full table).
    pub fn extra_client_properties(&self) -> Option<&FieldTable> {
        self.client_properties.as_ref()
    }

    /// The locale.
    pub fn locale(&self) -> &str {
        &self.locale
    }

    /// The connection name.
    pub fn connection_name(&self) -> Option<&str> {
        self.connection_name.as_deref()
    }

    /// Whether to turn Nagle's algorithm off (`TCP_NODELAY`).
    pub fn tcp_nodelay(&self) -> bool {
        self.tcp_nodelay
    }

    /// The socket's keepalive and user-timeout options.
    pub fn tcp_options(&self) -> &TcpOptions {
        &self.tcp_options
    }

    /// Whether reads coalesce while deliveries stream in (see
    /// [`with_receive_coalescing`](Self::with_receive_coalescing)).
    pub fn receive_coalescing(&self) -> bool {
        self.receive_coalescing
    }

    /// The bound on deliveries not yet taken by the application: (messages,
    /// body bytes); see [`with_delivery_buffer`](Self::with_delivery_buffer).
    pub fn delivery_buffer(&self) -> (usize, usize) {
        self.delivery_buffer
    }

    /// How a lost connection is recovered; `None` when recovery is off
    /// (see [`with_recovery`](Self::with_recovery)).
    pub fn recovery(&self) -> Option<&RecoveryPolicy> {
        self.recovery.as_ref()
    }

    /// Whether to connect over TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The TLS options (used when [`tls`](Self::tls) is on).
    pub fn tls_options(&self) -> &TlsOptions {
        &self.tls_options
    }

    /// The client properties for `connection.start-ok`:
    ///
    /// - `product`: `"amqp-client"`, `version`: this crate's version,
    ///   `platform`: `"Rust"` (long strings);
    /// - `connection_name`, when set;
    /// - `capabilities`: a table of booleans, all `true`:
    ///   `publisher_confirms`, `consumer_cancel_notify`,
    ///   `exchange_exchange_bindings`, `basic.nack`, `connection.blocked`,
    ///   `authentication_failure_close`;
    ///
    /// then the [extra properties](Self::with_client_properties), each
    /// replacing the default of the same name (a whole `capabilities` table
    /// replaces the default one) or added after them, as Pika does.
    pub fn client_properties(&self) -> FieldTable {
        let mut capabilities = FieldTable::new();
        for name in [
            "publisher_confirms",
            "consumer_cancel_notify",
            "exchange_exchange_bindings",
            "basic.nack",
            "connection.blocked",
            "authentication_failure_close",
        ] {
            capabilities.push(ShortStr::from_static(name), true);
        }
        let mut table = FieldTable::new();
        table.push(ShortStr::from_static("product"), "amqp-client");
        table.push(ShortStr::from_static("version"), env!("CARGO_PKG_VERSION"));
        table.push(ShortStr::from_static("platform"), "Rust");
        if let Some(name) = &self.connection_name {
            table.push(ShortStr::from_static("connection_name"), name.as_str());
        }
        table.push(ShortStr::from_static("capabilities"), capabilities);
        if let Some(extra) = &self.client_properties {
            for (key, value) in extra {
                table.insert(key.clone(), value.clone());
            }
        }
        table
    }

    /// The `connection.tune-ok` answering the server's `connection.tune`:
    /// [`negotiate_channel_max`], [`negotiate_frame_max`] and
    /// [`Heartbeat::negotiate`] applied to this side's wishes and the server's
    /// proposal.
    ///
    /// ```
    /// use amqp_client::{ConnectionParameters, Heartbeat};
    /// use amqp_protocol::connection::Tune;
    ///
    /// let params = ConnectionParameters::new().with_heartbeat(Heartbeat::Seconds(30));
    /// let tune = Tune { channel_max: 2047, frame_max: 131_072, heartbeat: 60 };
    /// let ok = params.tune_ok(&tune);
    /// assert_eq!((ok.channel_max, ok.frame_max, ok.heartbeat), (2047, 131_072, 30));
    /// ```
    pub fn tune_ok(&self, tune: &connection::Tune) -> connection::TuneOk {
        connection::TuneOk {
            channel_max: negotiate_channel_max(self.channel_max, tune.channel_max),
            frame_max: negotiate_frame_max(self.frame_max, tune.frame_max),
            heartbeat: self.heartbeat.negotiate(tune.heartbeat),
        }
    }
}

impl Default for ConnectionParameters {
    fn default() -> Self {
        ConnectionParameters::new()
    }
}

// Here, next to the constants it uses, so that `credentials` needs nothing
// of this file.
/// Guest/guest over `PLAIN`, RabbitMQ's and Pika's default.
impl Default for Credentials {
    fn default() -> Self {
        Credentials::plain(
            ConnectionParameters::DEFAULT_USERNAME,
            ConnectionParameters::DEFAULT_PASSWORD,
        )
    }
}

#[cfg(test)]
mod tests {
    use amqp_protocol::FieldValue;
    use bytes::BytesMut;

    use super::*;
    use crate::params::tls::TlsVerify;

    #[test]
    fn defaults_are_pikas() {
        let p = ConnectionParameters::new();
        assert_eq!(p.host(), "localhost");
        assert_eq!(p.port(), 5672);
        assert_eq!(p.virtual_host(), "/");
        assert_eq!(p.credentials(), &Credentials::plain("guest", "guest"));
        assert_eq!(p.all_credentials().len(), 1);
        assert_eq!(p.channel_max(), 65535);
        assert_eq!(p.frame_max(), 131_072);
        assert!(matches!(p.heartbeat(), Heartbeat::ServerDefault));
        assert_eq!(p.connection_attempts(), 1);
        assert_eq!(p.retry_delay(), Duration::from_secs(2));
        assert_eq!(p.socket_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(p.stack_timeout(), Some(Duration::from_secs(15)));
        assert_eq!(p.blocked_connection_timeout(), None);
        assert!(p.extra_client_properties().is_none());
        assert_eq!(p.locale(), "en_US");
        assert_eq!(p.connection_name(), None);
        assert!(p.tcp_nodelay());
        assert!(p.tcp_options().is_empty());
        assert!(p.receive_coalescing());
        assert!(!p.tls());
        assert!(p.tls_options().is_empty());
        assert_eq!(p.with_tls(true).port(), 5671);
        assert_eq!(
            ConnectionParameters::default().to_string(),
            "amqp://guest@localhost:5672/%2F"
        );
    }

    #[test]
    fn setters() {
        let p = ConnectionParameters::new()
            .with_host("::1")
            .with_port(1234)
            .with_virtual_host("v")
            .with_credentials(Credentials::External)
            .with_additional_credentials(Credentials::amqplain("u", "p"))
            .with_channel_max(10)
            .with_frame_max(8192)
            .with_heartbeat(Heartbeat::Disabled)
            .with_connection_attempts(0)
            .with_retry_delay(Duration::from_millis(500))
            .with_socket_timeout(None)
            .with_stack_timeout(Duration::from_secs(1))
            .with_blocked_connection_timeout(Duration::from_secs(3))
            .with_locale("fr_FR")
            .with_connection_name("worker")
            .with_tcp_nodelay(false)
            .with_tcp_options(TcpOptions::new().with_keepalive_count(4))
            .with_receive_coalescing(false)
            .with_tls_options(TlsOptions::new().with_verify(TlsVerify::VerifyNone));
        assert_eq!((p.host(), p.port(), p.virtual_host()), ("::1", 1234, "v"));
        assert_eq!(p.credentials(), &Credentials::External);
        assert_eq!(p.all_credentials().len(), 2);
        assert_eq!((p.channel_max(), p.frame_max()), (10, 8192));
        assert!(matches!(p.heartbeat(), Heartbeat::Disabled));
        assert_eq!(p.connection_attempts(), 1);
        assert_eq!(p.retry_delay(), Duration::from_millis(500));
        assert_eq!(p.socket_timeout(), None);
        assert_eq!(p.stack_timeout(), Some(Duration::from_secs(1)));
        assert_eq!(p.blocked_connection_timeout(), Some(Duration::from_secs(3)));
        assert_eq!((p.locale(), p.connection_name()), ("fr_FR", Some("worker")));
        assert!(!p.tcp_nodelay());
        assert_eq!(p.tcp_options().keepalive_count(), Some(4));
        assert!(!p.receive_coalescing());
        assert!(p.tls());
        assert_eq!(p.tls_options().verify(), Some(TlsVerify::VerifyNone));
        assert_eq!(p.to_string(), "amqps://[::1]:1234/v");
    }

    #[test]
    fn select_credentials_by_server_mechanisms() {
        let p = ConnectionParameters::new()
            .with_credentials(Credentials::External)
            .with_additional_credentials(Credentials::amqplain("u", "p"))
            .with_additional_credentials(Credentials::plain("u", "p"));
        let pick = |m: &[u8]| p.select_credentials(m).map(Credentials::mechanism);
        assert_eq!(pick(b"PLAIN AMQPLAIN"), Some("AMQPLAIN"));
        assert_eq!(pick(b"PLAIN EXTERNAL"), Some("EXTERNAL"));
        assert_eq!(pick(b"PLAIN"), Some("PLAIN"));
        assert_eq!(pick(b"SCRAM-SHA-256"), None);
        assert_eq!(pick(b""), None);
    }

    #[test]
    fn tune_ok_applies_all_three_rules() {
        let params = ConnectionParameters::new()
            .with_channel_max(0)
            .with_frame_max(1_000)
            .with_heartbeat(Heartbeat::Seconds(120));
        let tune = connection::Tune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        };
        assert_eq!(
            params.tune_ok(&tune),
            connection::TuneOk {
                channel_max: 2047,
                frame_max: 4096,
                heartbeat: 60,
            }
        );
    }

    fn caps_of(t: &FieldTable) -> &FieldTable {
        match t.get("capabilities") {
            Some(FieldValue::Table(c)) => c,
            other => panic!("capabilities: {other:?}"),
        }
    }

    #[test]
    fn default_client_properties() {
        let t = ConnectionParameters::new().client_properties();
        let keys: Vec<_> = t.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            keys,
            [
                "\"product\"",
                "\"version\"",
                "\"platform\"",
                "\"capabilities\""
            ]
        );
        assert_eq!(t.get("product"), Some(&FieldValue::from("amqp-client")));
        assert_eq!(
            t.get("version"),
            Some(&FieldValue::from(env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(t.get("platform"), Some(&FieldValue::from("Rust")));
        assert_eq!(t.get("information"), None, "no address that does not exist");
        assert_eq!(t.get("connection_name"), None);
        let caps = caps_of(&t);
        let names: Vec<_> = caps.iter().map(|(k, _)| k.to_string_lossy()).collect();
        assert_eq!(
            names,
            [
                "publisher_confirms",
                "consumer_cancel_notify",
                "exchange_exchange_bindings",
                "basic.nack",
                "connection.blocked",
                "authentication_failure_close"
            ]
        );
        for (_, v) in caps {
            assert_eq!(v, &FieldValue::Bool(true));
            assert_eq!(v.tag(), b't');
        }
    }

    #[test]
    fn client_properties_merge_extra_over_defaults() {
        let mut extra = FieldTable::new();
        extra.insert(ShortStr::from_static("product"), "billing");
        extra.insert(ShortStr::from_static("replica"), 2i64);
        let t = ConnectionParameters::new()
            .with_connection_name("worker-1")
            .with_client_properties(extra)
            .client_properties();
        assert_eq!(t.get("product"), Some(&FieldValue::from("billing")));
        assert_eq!(t.get("replica"), Some(&FieldValue::I64(2)));
        assert_eq!(
            t.get("connection_name"),
            Some(&FieldValue::from("worker-1"))
        );
        assert_eq!(t.iter().filter(|(k, _)| *k == "product").count(), 1);
        assert_eq!(caps_of(&t).len(), 6);
        // the table encodes and decodes
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        assert_eq!(FieldTable::decode(&buf.freeze()).unwrap(), t);
    }
}
