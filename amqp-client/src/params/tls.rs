//! TLS settings, as plain data.

#[cfg(feature = "tls")]
use std::fmt;
#[cfg(feature = "tls")]
use std::sync::Arc;

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
    // The URI parser (`uri`) fills in the query's options.
    pub(super) cacertfile: Option<String>,
    pub(super) certfile: Option<String>,
    pub(super) keyfile: Option<String>,
    pub(super) verify: Option<TlsVerify>,
    pub(super) server_name_indication: Option<String>,
    pub(super) fail_if_no_peer_cert: Option<bool>,
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
