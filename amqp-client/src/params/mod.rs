//! Connection parameters: where to connect, how to authenticate, what to
//! negotiate.
//!
//! The counterpart of Pika's `Parameters`, `ConnectionParameters` and
//! `URLParameters` (in `pika/connection.py`):
//!
//! - [`ConnectionParameters`]: one host and port, built with `with_*` setters
//!   (Pika's defaults) or parsed from a RabbitMQ URI
//!   ([`from_uri`](ConnectionParameters::from_uri), [`FromStr`]);
//! - [`Credentials`]: the SASL mechanism and its `connection.start-ok`
//!   response (`PLAIN`, `AMQPLAIN`, `EXTERNAL`);
//! - [`Heartbeat`], [`negotiate_channel_max`], [`negotiate_frame_max`] and
//!   [`ConnectionParameters::tune_ok`]: the `connection.tune` negotiation
//!   rules;
//! - [`Endpoints`]: an ordered list of parameter sets and the plan of
//!   connection [`Attempt`]s over it;
//! - [`TlsOptions`]: the TLS settings of a URI's query, as plain data.
//!
//! Everything here is pure data and arithmetic: no sockets, no clock, no DNS.
//!
//! # Secrets
//!
//! Passwords never appear in the `Debug` or `Display` output of any type of
//! this module, nor in [`UriError`]s. The only way to read one is to ask for
//! it: [`Credentials::password`] and [`Credentials::response`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use amqp_protocol::constants::FRAME_MIN_SIZE;
use amqp_protocol::{connection, FieldTable, FieldValue, LongStr, ShortStr};
use bytes::BytesMut;

mod uri;

pub use uri::{UriComponent, UriError};

/// Negotiates `channel-max` from the client's wish and the server's proposal
/// (`connection.tune`), as the 0-9-1 specification and RabbitMQ's clients do:
/// 0 means "no limit", so when either side says 0 the other side's value
/// wins; otherwise the lower value wins.
///
/// Both sides 0 gives 0, "no limit": channel numbers then go up to 65535, the
/// largest a frame header can carry (the value to size a channel table with).
///
/// ```
/// use amqp_client::negotiate_channel_max;
/// assert_eq!(negotiate_channel_max(65535, 2047), 2047);
/// assert_eq!(negotiate_channel_max(0, 2047), 2047);
/// assert_eq!(negotiate_channel_max(100, 0), 100);
/// assert_eq!(negotiate_channel_max(0, 0), 0);
/// ```
pub fn negotiate_channel_max(client: u16, server: u16) -> u16 {
    match (client, server) {
        (0, other) | (other, 0) => other,
        (c, s) => c.min(s),
    }
}

/// Negotiates `frame-max` (in bytes, frame header and end octet included)
/// from the client's wish and the server's proposal (`connection.tune`).
///
/// 0 means "no limit", so when either side says 0 the other side's value
/// wins; otherwise the lower value wins. A non-zero result is never below
/// [`FRAME_MIN_SIZE`] (4096), the specification's minimum for `frame-max`:
/// smaller values, from either side, are raised to it. Both sides 0 gives 0,
/// "no limit", which [`amqp_protocol::FrameDecoder`] and
/// [`amqp_protocol::body_frames`] understand as such.
///
/// ```
/// use amqp_client::negotiate_frame_max;
/// assert_eq!(negotiate_frame_max(131_072, 65_536), 65_536);
/// assert_eq!(negotiate_frame_max(0, 131_072), 131_072);
/// assert_eq!(negotiate_frame_max(1_000, 131_072), 4_096);
/// assert_eq!(negotiate_frame_max(0, 0), 0);
/// ```
pub fn negotiate_frame_max(client: u32, server: u32) -> u32 {
    let value = match (client, server) {
        (0, other) | (other, 0) => other,
        (c, s) => c.min(s),
    };
    if value == 0 {
        0
    } else {
        value.max(FRAME_MIN_SIZE)
    }
}

/// The client's heartbeat policy: how to answer the server's proposal in
/// `connection.tune` (Pika's `heartbeat` parameter: `None`, an integer or a
/// callable).
///
/// Heartbeat values are timeouts in seconds; 0 means "no heartbeat". See
/// [`negotiate`](Self::negotiate) for the rules.
#[derive(Clone, Default)]
pub enum Heartbeat {
    /// Accept whatever the server proposes (Pika's `None`, the default).
    #[default]
    ServerDefault,
    /// No heartbeats, whatever the server proposes (Pika's `0`).
    Disabled,
    /// This many seconds, or the server's value when lower. `Seconds(0)`
    /// is [`Disabled`](Self::Disabled).
    Seconds(u16),
    /// A function choosing the value from the server's proposal (Pika's
    /// callable); its result is used as is, 0 disabling heartbeats.
    Negotiate(Arc<dyn Fn(u16) -> u16 + Send + Sync>),
}

impl Heartbeat {
    /// A [`Negotiate`](Self::Negotiate) policy from a function of the server's
    /// proposal.
    ///
    /// ```
    /// use amqp_client::Heartbeat;
    /// let at_least_30 = Heartbeat::from_fn(|server| server.max(30));
    /// assert_eq!(at_least_30.negotiate(10), 30);
    /// ```
    pub fn from_fn(f: impl Fn(u16) -> u16 + Send + Sync + 'static) -> Self {
        Heartbeat::Negotiate(Arc::new(f))
    }

    /// The heartbeat timeout to send in `connection.tune-ok`, in seconds (0:
    /// none), given the server's proposal from `connection.tune` (0: the server
    /// does not want heartbeats).
    ///
    /// | policy | server 0 | server `s` > 0 |
    /// |---|---|---|
    /// | `ServerDefault` | 0 | `s` |
    /// | `Disabled`, `Seconds(0)` | 0 | 0 |
    /// | `Seconds(n)` | `n` | `min(n, s)` |
    /// | `Negotiate(f)` | `f(0)` | `f(s)` |
    ///
    /// A 0 on one side means that side does not ask for heartbeats, so the
    /// other side's non-zero value is used; when both give a value, the lower
    /// one. (Pika always uses its own value when it has one, even above the
    /// server's; the lower value is what the specification's "the client may
    /// reduce those limits" and RabbitMQ's other clients do.)
    pub fn negotiate(&self, server: u16) -> u16 {
        match self {
            Heartbeat::ServerDefault => server,
            Heartbeat::Disabled | Heartbeat::Seconds(0) => 0,
            Heartbeat::Seconds(n) if server == 0 => *n,
            Heartbeat::Seconds(n) => (*n).min(server),
            Heartbeat::Negotiate(f) => f(server),
        }
    }
}

impl fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Heartbeat::ServerDefault => f.write_str("ServerDefault"),
            Heartbeat::Disabled => f.write_str("Disabled"),
            Heartbeat::Seconds(n) => f.debug_tuple("Seconds").field(n).finish(),
            Heartbeat::Negotiate(_) => f.write_str("Negotiate(<fn>)"),
        }
    }
}

/// How the client authenticates: a SASL mechanism and what it needs.
///
/// `Debug` shows the mechanism and the username, never the password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// SASL `PLAIN` (RFC 4616), RabbitMQ's default mechanism.
    Plain {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// RabbitMQ's `AMQPLAIN`: the same secrets as `PLAIN`, in a field table.
    AmqPlain {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// SASL `EXTERNAL`: the identity comes from the TLS client certificate
    /// (RabbitMQ's `rabbitmq_auth_mechanism_ssl` plugin); nothing is sent.
    External,
}

impl Credentials {
    /// `PLAIN` credentials.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Plain {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `AMQPLAIN` credentials.
    pub fn amqplain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::AmqPlain {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The SASL mechanism name for `connection.start-ok`: `PLAIN`, `AMQPLAIN`
    /// or `EXTERNAL`.
    pub fn mechanism(&self) -> &'static str {
        match self {
            Credentials::Plain { .. } => "PLAIN",
            Credentials::AmqPlain { .. } => "AMQPLAIN",
            Credentials::External => "EXTERNAL",
        }
    }

    /// The username, when the mechanism has one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Plain { username, .. } | Credentials::AmqPlain { username, .. } => {
                Some(username)
            }
            Credentials::External => None,
        }
    }

    /// The password, when the mechanism has one.
    pub fn password(&self) -> Option<&str> {
        match self {
            Credentials::Plain { password, .. } | Credentials::AmqPlain { password, .. } => {
                Some(password)
            }
            Credentials::External => None,
        }
    }

    /// The `response` field of `connection.start-ok`:
    ///
    /// - `PLAIN`: `\0username\0password` (no authorization identity);
    /// - `AMQPLAIN`: a field table *without* its 4-byte length prefix, holding
    ///   `LOGIN` and `PASSWORD` as long strings (`S`), which is what RabbitMQ's
    ///   `rabbit_auth_mechanism_amqplain` parses;
    /// - `EXTERNAL`: empty.
    ///
    /// The result holds the password in clear: don't log it.
    ///
    /// ```
    /// use amqp_client::Credentials;
    /// let r = Credentials::plain("guest", "guest").response();
    /// assert_eq!(r.as_bytes(), b"\0guest\0guest");
    /// ```
    pub fn response(&self) -> LongStr {
        match self {
            Credentials::Plain { username, password } => {
                let mut r = Vec::with_capacity(2 + username.len() + password.len());
                r.push(0);
                r.extend_from_slice(username.as_bytes());
                r.push(0);
                r.extend_from_slice(password.as_bytes());
                LongStr::from(r)
            }
            Credentials::AmqPlain { username, password } => {
                let mut table = FieldTable::new();
                table.push(
                    ShortStr::from_static("LOGIN"),
                    FieldValue::LongStr(username.as_str().into()),
                );
                table.push(
                    ShortStr::from_static("PASSWORD"),
                    FieldValue::LongStr(password.as_str().into()),
                );
                let mut buf = BytesMut::with_capacity(table.encoded_len());
                table.encode(&mut buf);
                LongStr::from(buf.split_off(4).freeze())
            }
            Credentials::External => LongStr::new(),
        }
    }
}

/// Guest/guest over `PLAIN`, RabbitMQ's and Pika's default.
impl Default for Credentials {
    fn default() -> Self {
        Credentials::plain(
            ConnectionParameters::DEFAULT_USERNAME,
            ConnectionParameters::DEFAULT_PASSWORD,
        )
    }
}

/// The mechanism and username; the password as `***`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &format_args!("***"))
                .finish(),
            Credentials::AmqPlain { username, .. } => f
                .debug_struct("AmqPlain")
                .field("username", username)
                .field("password", &format_args!("***"))
                .finish(),
            Credentials::External => f.write_str("External"),
        }
    }
}

/// Whether the client checks the server's certificate (the URI's `verify`
/// query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsVerify {
    /// `verify_peer`: check the certificate chain (and, with
    /// [`server_name_indication`](TlsOptions::server_name_indication) or by
    /// default, the host name).
    VerifyPeer,
    /// `verify_none`: accept any certificate. For tests only.
    VerifyNone,
}

impl TlsVerify {
    /// The URI spelling: `verify_peer` or `verify_none`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVerify::VerifyPeer => "verify_peer",
            TlsVerify::VerifyNone => "verify_none",
        }
    }
}

/// Which certificate authorities the client trusts when no
/// [`cacertfile`](TlsOptions::cacertfile) is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The operating system's trust store (the default).
    #[default]
    System,
    /// Mozilla's root program, compiled into the program (the
    /// `webpki-roots` crate): the same roots on every machine.
    WebPki,
}

/// TLS settings, as plain data: the TLS query parameters of RabbitMQ's URI
/// (see <https://www.rabbitmq.com/docs/uri-query-parameters>), the trusted
/// roots and, with the `tls` feature, a ready rustls configuration. `None`
/// means "the default": the server's certificate is checked against the
/// system's trust store and the host name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    cacertfile: Option<String>,
    certfile: Option<String>,
    keyfile: Option<String>,
    verify: Option<TlsVerify>,
    server_name_indication: Option<String>,
    fail_if_no_peer_cert: Option<bool>,
    roots: TlsRoots,
    #[cfg(feature = "tls")]
    client_config: Option<ClientConfig>,
}

/// A ready rustls configuration, compared by identity.
#[cfg(feature = "tls")]
#[derive(Clone)]
struct ClientConfig(Arc<rustls::ClientConfig>);

#[cfg(feature = "tls")]
impl PartialEq for ClientConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(feature = "tls")]
impl Eq for ClientConfig {}

#[cfg(feature = "tls")]
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientConfig { .. }")
    }
}

impl TlsOptions {
    /// No option set.
    pub fn new() -> Self {
        TlsOptions::default()
    }

    /// Sets the path of the CA certificates (PEM) to trust (`cacertfile`).
    pub fn with_cacertfile(mut self, path: impl Into<String>) -> Self {
        self.cacertfile = Some(path.into());
        self
    }

    /// Sets the path of the client certificate (PEM) to present (`certfile`).
    pub fn with_certfile(mut self, path: impl Into<String>) -> Self {
        self.certfile = Some(path.into());
        self
    }

    /// Sets the path of the client certificate's private key (PEM) (`keyfile`).
    pub fn with_keyfile(mut self, path: impl Into<String>) -> Self {
        self.keyfile = Some(path.into());
        self
    }

    /// Sets whether to check the server's certificate (`verify`).
    pub fn with_verify(mut self, verify: TlsVerify) -> Self {
        self.verify = Some(verify);
        self
    }

    /// Sets the server name to send (SNI) and check the certificate against
    /// (`server_name_indication`); the Erlang client reads `disable` as "send
    /// none".
    pub fn with_server_name_indication(mut self, name: impl Into<String>) -> Self {
        self.server_name_indication = Some(name.into());
        self
    }

    /// Sets `fail_if_no_peer_cert` (an Erlang TLS option, accepted for
    /// compatibility with RabbitMQ's URIs).
    pub fn with_fail_if_no_peer_cert(mut self, fail: bool) -> Self {
        self.fail_if_no_peer_cert = Some(fail);
        self
    }

    /// The CA certificates file (`cacertfile`).
    pub fn cacertfile(&self) -> Option<&str> {
        self.cacertfile.as_deref()
    }

    /// The client certificate file (`certfile`).
    pub fn certfile(&self) -> Option<&str> {
        self.certfile.as_deref()
    }

    /// The client private key file (`keyfile`).
    pub fn keyfile(&self) -> Option<&str> {
        self.keyfile.as_deref()
    }

    /// Whether to check the server's certificate (`verify`).
    pub fn verify(&self) -> Option<TlsVerify> {
        self.verify
    }

    /// The server name for SNI and certificate checks
    /// (`server_name_indication`).
    pub fn server_name_indication(&self) -> Option<&str> {
        self.server_name_indication.as_deref()
    }

    /// `fail_if_no_peer_cert`.
    pub fn fail_if_no_peer_cert(&self) -> Option<bool> {
        self.fail_if_no_peer_cert
    }

    /// Sets the certificate authorities to trust when no
    /// [`cacertfile`](Self::cacertfile) is given.
    pub fn with_roots(mut self, roots: TlsRoots) -> Self {
        self.roots = roots;
        self
    }

    /// The certificate authorities trusted when no
    /// [`cacertfile`](Self::cacertfile) is given.
    pub fn roots(&self) -> TlsRoots {
        self.roots
    }

    /// Uses this rustls configuration as it is: the other options, but
    /// `server_name_indication`, are then ignored. Build it with
    /// [`crate::tls::crypto_provider`] to keep the crate's choice of
    /// cryptography, or start from [`crate::tls::client_config`].
    #[cfg(feature = "tls")]
    pub fn with_client_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.client_config = Some(ClientConfig(config));
        self
    }

    /// The rustls configuration given to
    /// [`with_client_config`](Self::with_client_config).
    #[cfg(feature = "tls")]
    pub fn client_config(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.client_config.as_ref().map(|c| &c.0)
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == TlsOptions::default()
    }
}

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
/// parameter sets in [`Endpoints`].
///
/// Values are not checked against the protocol's limits when set (the
/// virtual host and locale are short strings of at most 255 bytes; a
/// `frame_max` below 4096 is raised by negotiation): the URI parser checks
/// them, and the connection reports what the server refuses.
#[derive(Debug, Clone)]
pub struct ConnectionParameters {
    host: String,
    port: Option<u16>,
    virtual_host: String,
    credentials: Vec<Credentials>,
    channel_max: u16,
    frame_max: u32,
    heartbeat: Heartbeat,
    connection_attempts: u32,
    retry_delay: Duration,
    socket_timeout: Option<Duration>,
    stack_timeout: Option<Duration>,
    blocked_connection_timeout: Option<Duration>,
    client_properties: Option<FieldTable>,
    locale: String,
    connection_name: Option<String>,
    tcp_nodelay: bool,
    receive_coalescing: bool,
    tls: bool,
    tls_options: TlsOptions,
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
    /// 1 attempt.
    pub const DEFAULT_CONNECTION_ATTEMPTS: u32 = 1;
    /// 2 seconds.
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(2);
    /// 10 seconds.
    pub const DEFAULT_SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
    /// 15 seconds.
    pub const DEFAULT_STACK_TIMEOUT: Duration = Duration::from_secs(15);
    /// `en_US`.
    pub const DEFAULT_LOCALE: &'static str = "en_US";

    /// Pika's defaults: `localhost:5672`, virtual host `/`, guest/guest over
    /// `PLAIN`, `channel_max` 65535, `frame_max` 131072, the server's
    /// heartbeat, 1 connection attempt, 2 s retry delay, 10 s socket timeout,
    /// 15 s stack timeout, no blocked-connection timeout, no extra client
    /// properties, locale `en_US`, no connection name, `TCP_NODELAY` on, no
    /// TLS.
    pub fn new() -> Self {
        ConnectionParameters {
            host: Self::DEFAULT_HOST.to_owned(),
            port: None,
            virtual_host: Self::DEFAULT_VIRTUAL_HOST.to_owned(),
            credentials: vec![Credentials::default()],
            channel_max: Self::DEFAULT_CHANNEL_MAX,
            frame_max: Self::DEFAULT_FRAME_MAX,
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
            receive_coalescing: true,
            tls: false,
            tls_options: TlsOptions::default(),
        }
    }

    /// Parses a RabbitMQ URI (<https://www.rabbitmq.com/docs/uri-spec>):
    ///
    /// ```text
    /// amqp[s]://[user[:password]@]host[:port][/vhost][?name=value&...]
    /// ```
    ///
    /// - `amqps` turns TLS on and makes 5671 the default port.
    /// - The user, password, host and virtual host are percent-decoded. No
    ///   `user@` part means guest/guest; `user@` alone means an empty password.
    /// - An empty host means `localhost`; an IPv6 address goes in brackets
    ///   (`[::1]`) and [`host`](Self::host) gives it without them.
    /// - No path means the virtual host `/`; the path `/` alone means the
    ///   *empty* virtual host, as the specification says; `/%2f` means `/`. A
    ///   `/` in the virtual host must be encoded as `%2f`.
    /// - No fragment (`#...`): a `#`, `/` or `?` in a password must be
    ///   percent-encoded.
    ///
    /// The query accepts RabbitMQ's parameters and Pika's (`URLParameters`),
    /// each at most once except `auth_mechanism`; names are case-sensitive,
    /// values are form-decoded (percent-decoded, `+` read as a space):
    ///
    /// | parameter | value | sets |
    /// |---|---|---|
    /// | `heartbeat`, `heartbeat_interval` | seconds, integer; 0 disables | [`heartbeat`](Self::heartbeat) |
    /// | `connection_timeout` | milliseconds, integer > 0 (RabbitMQ: the TCP connect timeout) | [`socket_timeout`](Self::socket_timeout) |
    /// | `socket_timeout` | seconds, number > 0 | [`socket_timeout`](Self::socket_timeout) |
    /// | `stack_timeout` | seconds, number > 0 | [`stack_timeout`](Self::stack_timeout) |
    /// | `blocked_connection_timeout` | seconds, number ≥ 0 | [`blocked_connection_timeout`](Self::blocked_connection_timeout) |
    /// | `channel_max` | integer 0–65535 (0: no limit) | [`channel_max`](Self::channel_max) |
    /// | `frame_max` | integer, 0 (no limit) or ≥ 4096 | [`frame_max`](Self::frame_max) |
    /// | `connection_attempts` | integer ≥ 1 | [`connection_attempts`](Self::connection_attempts) |
    /// | `retry_delay` | seconds, number ≥ 0 | [`retry_delay`](Self::retry_delay) |
    /// | `locale` | string, ≤ 255 bytes | [`locale`](Self::locale) |
    /// | `connection_name`, `name` | string | [`connection_name`](Self::connection_name) |
    /// | `auth_mechanism` | `plain`, `amqplain`, `external` (any case); repeatable or comma-separated, in order of preference | [`all_credentials`](Self::all_credentials) |
    /// | `client_properties` | an object, see below | [`extra_client_properties`](Self::extra_client_properties) |
    /// | `cacertfile`, `certfile`, `keyfile` | path | [`tls_options`](Self::tls_options) |
    /// | `verify` | `verify_peer` or `verify_none` | [`tls_options`](Self::tls_options) |
    /// | `server_name_indication` | host name (`disable`: none) | [`tls_options`](Self::tls_options) |
    /// | `fail_if_no_peer_cert` | `true` or `false` | [`tls_options`](Self::tls_options) |
    /// | `backpressure_detection` | anything | nothing (Pika ignores it too) |
    /// | `tcp_options` | anything | nothing: socket options are the I/O adapter's; [`tcp_nodelay`](Self::tcp_nodelay) is on by default |
    /// | `ssl_options` | — | an error: use the TLS parameters above |
    ///
    /// The TLS parameters need the `amqps` scheme: with `amqp` they are an
    /// error rather than a silently unencrypted connection.
    ///
    /// `client_properties` takes a JSON object (Pika takes a Python dict
    /// literal: single quotes, `True`, `False` and `None` are accepted too):
    /// strings become long strings (`S`), integers 64-bit integers (`l`),
    /// other numbers doubles (`d`), booleans `t`, `null` void (`V`), arrays
    /// `A` and objects nested tables (`F`). For example
    /// `client_properties={"app":"billing","replica":2}`, percent-encoded.
    ///
    /// Unknown parameters are an error naming them. Errors never contain the
    /// password; when a password holds an unencoded `/`, `?` or `#`, the
    /// error says so instead of showing parts of the URI.
    pub fn from_uri(uri: &str) -> Result<Self, UriError> {
        uri::parse(uri)
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

    /// Whether reads coalesce while deliveries stream in (see
    /// [`with_receive_coalescing`](Self::with_receive_coalescing)).
    pub fn receive_coalescing(&self) -> bool {
        self.receive_coalescing
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
    ///   `platform`: `"Rust"`, `information`: where the project lives (long
    ///   strings);
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
        table.push(
            ShortStr::from_static("information"),
            concat!("See ", env!("CARGO_PKG_REPOSITORY")),
        );
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

/// Parses a URI, as [`ConnectionParameters::from_uri`].
impl FromStr for ConnectionParameters {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, UriError> {
        ConnectionParameters::from_uri(s)
    }
}

/// A URI for logs, without the password and the query:
/// `amqp://user@host:port/vhost` (`amqps` with TLS; no user with `EXTERNAL`;
/// the virtual host percent-encoded, so `/` is `%2F`).
impl fmt::Display for ConnectionParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.tls { "amqps://" } else { "amqp://" })?;
        if let Some(user) = self.credentials().username() {
            uri::write_encoded(f, user)?;
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            // An IPv6 address, with its zone's `%` encoded (RFC 6874).
            write!(f, "[{}]", self.host.replace('%', "%25"))?;
        } else {
            uri::write_encoded(f, &self.host)?;
        }
        write!(f, ":{}/", self.port())?;
        uri::write_encoded(f, &self.virtual_host)
    }
}

/// An ordered list of [`ConnectionParameters`], tried in turn until one
/// connects, each with its own `connection_attempts` and `retry_delay`.
///
/// [`attempts`](Self::attempts) gives the plan; carrying it out (resolving
/// each host to all of its addresses and trying them, sleeping, timing out)
/// is the I/O adapter's job.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    list: Vec<ConnectionParameters>,
}

impl Endpoints {
    /// An empty list (which plans no attempt).
    pub fn new() -> Self {
        Endpoints::default()
    }

    /// Appends an endpoint.
    pub fn push(&mut self, params: ConnectionParameters) {
        self.list.push(params);
    }

    /// Appends an endpoint, builder style.
    pub fn with(mut self, params: ConnectionParameters) -> Self {
        self.list.push(params);
        self
    }

    /// The endpoints, in order.
    pub fn as_slice(&self) -> &[ConnectionParameters] {
        &self.list
    }

    /// The endpoint at `index`.
    pub fn get(&self, index: usize) -> Option<&ConnectionParameters> {
        self.list.get(index)
    }

    /// The endpoints, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConnectionParameters> {
        self.list.iter()
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The connection plan: for each endpoint in order, `connection_attempts`
    /// attempts, the first right away (after the previous endpoint's last
    /// failure) and each other one after that endpoint's `retry_delay`. The
    /// caller stops at the first success.
    ///
    /// (Pika 1.x's connection workflow, given several parameter sets, instead
    /// repeats the whole list as many times as the *last* set's
    /// `connection_attempts`; here each endpoint keeps its own settings.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use amqp_client::{Attempt, ConnectionParameters, Endpoints};
    ///
    /// let endpoints = Endpoints::new()
    ///     .with(ConnectionParameters::new().with_host("a").with_connection_attempts(2))
    ///     .with(ConnectionParameters::new().with_host("b"));
    /// let plan: Vec<Attempt> = endpoints.attempts().collect();
    /// assert_eq!(plan, [
    ///     Attempt { endpoint: 0, attempt: 1, delay_before: Duration::ZERO },
    ///     Attempt { endpoint: 0, attempt: 2, delay_before: Duration::from_secs(2) },
    ///     Attempt { endpoint: 1, attempt: 1, delay_before: Duration::ZERO },
    /// ]);
    /// ```
    pub fn attempts(&self) -> Attempts<'_> {
        Attempts {
            endpoints: &self.list,
            endpoint: 0,
            attempt: 1,
        }
    }
}

impl From<ConnectionParameters> for Endpoints {
    fn from(params: ConnectionParameters) -> Self {
        Endpoints { list: vec![params] }
    }
}

impl From<Vec<ConnectionParameters>> for Endpoints {
    fn from(list: Vec<ConnectionParameters>) -> Self {
        Endpoints { list }
    }
}

impl FromIterator<ConnectionParameters> for Endpoints {
    fn from_iter<I: IntoIterator<Item = ConnectionParameters>>(iter: I) -> Self {
        Endpoints {
            list: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Endpoints {
    type Item = &'a ConnectionParameters;
    type IntoIter = std::slice::Iter<'a, ConnectionParameters>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// One step of a connection plan: see [`Endpoints::attempts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// Index of the endpoint in the [`Endpoints`] list.
    pub endpoint: usize,
    /// Which attempt on this endpoint, from 1 to its `connection_attempts`.
    pub attempt: u32,
    /// How long to wait before this attempt: zero for an endpoint's first
    /// attempt, its `retry_delay` for the others.
    pub delay_before: Duration,
}

/// The iterator of [`Endpoints::attempts`].
#[derive(Debug, Clone)]
pub struct Attempts<'a> {
    endpoints: &'a [ConnectionParameters],
    endpoint: usize,
    attempt: u32,
}

impl Iterator for Attempts<'_> {
    type Item = Attempt;

    fn next(&mut self) -> Option<Attempt> {
        loop {
            let params = self.endpoints.get(self.endpoint)?;
            if self.attempt > params.connection_attempts.max(1) {
                self.endpoint += 1;
                self.attempt = 1;
                continue;
            }
            let step = Attempt {
                endpoint: self.endpoint,
                attempt: self.attempt,
                delay_before: if self.attempt == 1 {
                    Duration::ZERO
                } else {
                    params.retry_delay
                },
            };
            self.attempt += 1;
            return Some(step);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let total: u64 = self
            .endpoints
            .iter()
            .skip(self.endpoint)
            .map(|p| u64::from(p.connection_attempts.max(1)))
            .sum();
        let done = if self.endpoint < self.endpoints.len() {
            u64::from(self.attempt - 1)
        } else {
            0
        };
        let left = total.saturating_sub(done);
        match usize::try_from(left) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl std::iter::FusedIterator for Attempts<'_> {}

impl ExactSizeIterator for Attempts<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn heartbeat_negotiation_table() {
        let cases: &[(Heartbeat, u16, u16)] = &[
            (Heartbeat::ServerDefault, 0, 0),
            (Heartbeat::ServerDefault, 60, 60),
            (Heartbeat::Disabled, 0, 0),
            (Heartbeat::Disabled, 60, 0),
            (Heartbeat::Seconds(0), 0, 0),
            (Heartbeat::Seconds(0), 60, 0),
            (Heartbeat::Seconds(30), 0, 30),
            (Heartbeat::Seconds(30), 60, 30),
            (Heartbeat::Seconds(120), 60, 60),
            (Heartbeat::Seconds(60), 60, 60),
            (Heartbeat::from_fn(|s| s * 2), 30, 60),
            (Heartbeat::from_fn(|_| 0), 30, 0),
            (Heartbeat::from_fn(|s| if s == 0 { 5 } else { s }), 0, 5),
        ];
        for (policy, server, expected) in cases {
            assert_eq!(
                policy.negotiate(*server),
                *expected,
                "{policy:?} with server {server}"
            );
        }
        assert_eq!(format!("{:?}", Heartbeat::Seconds(5)), "Seconds(5)");
        assert_eq!(
            format!("{:?}", Heartbeat::from_fn(|s| s)),
            "Negotiate(<fn>)"
        );
        assert!(matches!(Heartbeat::default(), Heartbeat::ServerDefault));
    }

    #[test]
    fn channel_max_negotiation_table() {
        for (client, server, expected) in [
            (0, 0, 0),
            (0, 2047, 2047),
            (2047, 0, 2047),
            (65535, 2047, 2047),
            (100, 2047, 100),
            (1, 1, 1),
            (65535, 65535, 65535),
        ] {
            assert_eq!(
                negotiate_channel_max(client, server),
                expected,
                "{client} {server}"
            );
        }
    }

    #[test]
    fn frame_max_negotiation_table() {
        assert_eq!(FRAME_MIN_SIZE, 4096);
        for (client, server, expected) in [
            (0, 0, 0),
            (0, 131_072, 131_072),
            (131_072, 0, 131_072),
            (131_072, 65_536, 65_536),
            (8_192, 131_072, 8_192),
            (4_096, 131_072, 4_096),
            (4_095, 131_072, 4_096),
            (1, 0, 4_096),
            (0, 512, 4_096),
            (131_072, 1_000, 4_096),
            (u32::MAX, u32::MAX, u32::MAX),
        ] {
            assert_eq!(
                negotiate_frame_max(client, server),
                expected,
                "{client} {server}"
            );
        }
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

    #[test]
    fn sasl_plain_response_is_byte_exact() {
        let c = Credentials::plain("guest", "guest");
        assert_eq!(c.mechanism(), "PLAIN");
        assert_eq!(c.response().as_bytes(), b"\0guest\0guest");
        let c = Credentials::plain("", "");
        assert_eq!(c.response().as_bytes(), b"\0\0");
        let c = Credentials::plain("us\u{e9}r", "p:w");
        assert_eq!(c.response().as_bytes(), b"\0us\xc3\xa9r\0p:w");
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sasl_amqplain_response_is_byte_exact() {
        // pamqp's field_table({'LOGIN': 'guest', 'PASSWORD': 'guest'}) without
        // its 4-byte length prefix (0x00000023).
        let c = Credentials::amqplain("guest", "guest");
        assert_eq!(c.mechanism(), "AMQPLAIN");
        assert_eq!(
            c.response().as_bytes(),
            hex("05 4c4f47494e 53 00000005 6775657374 08 50415353574f5244 53 00000005 6775657374")
                .as_slice()
        );
        // It parses back as a table once the length prefix is restored.
        let body = Credentials::amqplain("bob", "pw").response().into_bytes();
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        let table = FieldTable::decode(&bytes::Bytes::from(framed)).unwrap();
        assert_eq!(table.get("LOGIN"), Some(&FieldValue::from("bob")));
        assert_eq!(table.get("PASSWORD"), Some(&FieldValue::from("pw")));
    }

    #[test]
    fn sasl_external_response_is_empty() {
        assert_eq!(Credentials::External.mechanism(), "EXTERNAL");
        assert!(Credentials::External.response().is_empty());
        assert_eq!(Credentials::External.username(), None);
        assert_eq!(Credentials::External.password(), None);
    }

    #[test]
    fn password_absent_from_debug_and_display() {
        let c = Credentials::plain("alice", "s3cret");
        let a = Credentials::amqplain("alice", "s3cret");
        assert_eq!(
            format!("{c:?}"),
            r#"Plain { username: "alice", password: *** }"#
        );
        assert_eq!(
            format!("{a:?}"),
            r#"AmqPlain { username: "alice", password: *** }"#
        );
        assert_eq!(format!("{:?}", Credentials::External), "External");
        assert_eq!(c.password(), Some("s3cret"));
        let p = ConnectionParameters::new()
            .with_credentials(c)
            .with_additional_credentials(a);
        for text in [format!("{p:?}"), format!("{p:#?}"), p.to_string()] {
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("alice"), "{text}");
        }
        let e = Endpoints::from(p);
        assert!(!format!("{e:?}").contains("s3cret"));
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
                "\"information\"",
                "\"capabilities\""
            ]
        );
        assert_eq!(t.get("product"), Some(&FieldValue::from("amqp-client")));
        assert_eq!(
            t.get("version"),
            Some(&FieldValue::from(env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(t.get("platform"), Some(&FieldValue::from("Rust")));
        assert!(matches!(t.get("information"), Some(FieldValue::LongStr(_))));
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

    #[test]
    fn planner_two_endpoints_three_attempts() {
        let endpoints: Endpoints = [("a", 1), ("b", 3)]
            .into_iter()
            .map(|(host, secs)| {
                ConnectionParameters::new()
                    .with_host(host)
                    .with_connection_attempts(3)
                    .with_retry_delay(Duration::from_secs(secs))
            })
            .collect();
        let attempts = endpoints.attempts();
        assert_eq!(attempts.len(), 6);
        let plan: Vec<(usize, u32, u64)> = attempts
            .map(|a| (a.endpoint, a.attempt, a.delay_before.as_secs()))
            .collect();
        assert_eq!(
            plan,
            [
                (0, 1, 0),
                (0, 2, 1),
                (0, 3, 1),
                (1, 1, 0),
                (1, 2, 3),
                (1, 3, 3)
            ]
        );
        let mut it = endpoints.attempts();
        it.next();
        it.next();
        assert_eq!(it.size_hint(), (4, Some(4)));
        assert_eq!(it.by_ref().count(), 4);
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));
        assert_eq!(Endpoints::new().attempts().next(), None);
        assert_eq!(endpoints.get(1).map(|p| p.host()), Some("b"));
        assert_eq!(endpoints.iter().count(), 2);
    }
}
