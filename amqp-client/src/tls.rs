//! TLS (`amqps://`) with rustls and the ring crypto provider (feature `tls`).
//!
//! A connection uses TLS when its [`ConnectionParameters`] say so: an
//! `amqps://` URI, [`ConnectionParameters::with_tls`] or
//! [`ConnectionParameters::with_tls_options`]. The [`TlsOptions`] decide how:
//!
//! | option | default | effect |
//! |---|---|---|
//! | [`verify`](TlsOptions::verify) | `verify_peer` | `verify_none` accepts any certificate: **insecure**, for tests only |
//! | [`cacertfile`](TlsOptions::cacertfile) | none | trust only the CA certificates of this PEM file |
//! | [`roots`](TlsOptions::roots) | [`TlsRoots::System`] | without `cacertfile`: the system's trust store, or the compiled-in Mozilla roots |
//! | [`certfile`](TlsOptions::certfile), [`keyfile`](TlsOptions::keyfile) | none | a client certificate chain and its private key (PEM), for mutual TLS and SASL `EXTERNAL`; without `keyfile` the key is read from `certfile` |
//! | [`server_name_indication`](TlsOptions::server_name_indication) | the host | the name sent (SNI) and checked in the certificate; `disable` sends none and checks the host (Erlang's client skips the check then: this one does not) |
//! | [`client_config`](TlsOptions::client_config) | none | a ready rustls configuration, used instead of all the above but the server name |
//!
//! ```no_run
//! use amqp_client::blocking::Connection;
//! use amqp_client::{ConnectionParameters, Credentials, TlsOptions};
//!
//! // The broker's CA, and a client certificate whose subject's common name
//! // is the user name (RabbitMQ's rabbitmq_auth_mechanism_ssl plugin).
//! let params = ConnectionParameters::new()
//!     .with_host("rabbit.example")
//!     .with_credentials(Credentials::External)
//!     .with_tls_options(
//!         TlsOptions::new()
//!             .with_cacertfile("ca.pem")
//!             .with_certfile("client.pem")
//!             .with_keyfile("client.key"),
//!     );
//! let conn = Connection::open(params)?;
//! // The same as a URI:
//! let conn = Connection::open_uri(
//!     "amqps://rabbit.example?auth_mechanism=external\
//!      &cacertfile=ca.pem&certfile=client.pem&keyfile=client.key",
//! )?;
//! # Ok::<(), amqp_client::Error>(())
//! ```
//!
//! The cryptography is always ring's ([`crypto_provider`]): the process-wide
//! default provider of rustls is never consulted, so no other dependency can
//! change it or make it ambiguous.
//!
//! Failures are [`Error::Tls`], with a [`TlsFailure`] telling a refused
//! certificate from a host name mismatch, a refused handshake or unusable
//! settings, and the TLS library's own explanation.

use std::io::{Read, Write};
use std::sync::Arc;

pub use rustls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme};

use crate::error::{Error, TlsFailure};
use crate::params::{ConnectionParameters, TlsOptions, TlsRoots, TlsVerify};

/// The crypto provider every TLS connection of this crate uses: ring's, with
/// its default cipher suites and key exchange groups.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for these options, the one a connection with
/// them uses (but for `server_name_indication=disable`, which also turns
/// SNI off): the given [`client_config`](TlsOptions::client_config), or one
/// built from the other options, which reads the certificate and key files
/// (and the system's trust store) every time.
///
/// Useful to build a configuration once and share it between connections
/// with [`TlsOptions::with_client_config`].
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    if let Some(config) = options.client_config() {
        return Ok(config.clone());
    }
    let provider = crypto_provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("the crypto provider: {e}")))?;
    let builder = match options.verify().unwrap_or(TlsVerify::VerifyPeer) {
        TlsVerify::VerifyPeer => builder.with_root_certificates(root_store(options)?),
        TlsVerify::VerifyNone => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider))),
    };
    let config = match (options.certfile(), options.keyfile()) {
        (None, None) => builder.with_no_client_auth(),
        (None, Some(_)) => {
            return Err(config_error(
                "keyfile is set without certfile: the client certificate is missing".into(),
            ))
        }
        (Some(certfile), keyfile) => {
            let chain = read_certificates(certfile)?;
            let keyfile = keyfile.unwrap_or(certfile);
            let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| {
                config_error(format!("cannot read a private key from {keyfile:?}: {e}"))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error(format!("the client certificate or key: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

fn config_error(message: String) -> Error {
    Error::Tls {
        kind: TlsFailure::Config,
        message,
    }
}

fn read_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| config_error(format!("cannot read certificates from {path:?}: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!("no PEM certificate in {path:?}")));
    }
    Ok(certs)
}

fn root_store(options: &TlsOptions) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = options.cacertfile() {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| {
                config_error(format!("a CA certificate of {path:?} is not usable: {e}"))
            })?;
        }
        return Ok(roots);
    }
    match options.roots() {
        TlsRoots::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        TlsRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(config_error(format!(
                    "no trusted root certificate found in the system's store{}{}: set a \
                     cacertfile, or use TlsRoots::WebPki",
                    if why.is_empty() { "" } else { ": " },
                    why.join("; ")
                )));
            }
        }
    }
    Ok(roots)
}

/// `verify_none`: any certificate for any name, the handshake's signatures
/// still checked (they prove nothing without a trusted certificate).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls error as this crate's [`Error::Tls`], by cause.
fn tls_error(e: rustls::Error) -> Error {
    let kind = match &e {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => TlsFailure::HostName,
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::InvalidCertRevocationList(_)
        | rustls::Error::NoCertificatesPresented => TlsFailure::Certificate,
        rustls::Error::AlertReceived(_) | rustls::Error::PeerIncompatible(_) => TlsFailure::Refused,
        _ => TlsFailure::Protocol,
    };
    Error::Tls {
        kind,
        message: e.to_string(),
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::Tls {
        kind: TlsFailure::Protocol,
        message: e.to_string(),
    }
}

/// The TLS layer of one connection, without I/O: the socket's bytes go in,
/// the broker's plaintext comes out; the client's plaintext goes in, the
/// bytes to write to the socket come out. Every adapter drives it the same
/// way:
///
/// 1. after connecting, write [`take_pending`](Self::take_pending)'s output
///    (the ClientHello) and feed what the socket gives to
///    [`read_tls`](Self::read_tls), writing the pending output after each
///    call, while [`is_handshaking`](Self::is_handshaking);
/// 2. then encrypt with [`write_plain`](Self::write_plain) and decrypt with
///    `read_tls`; when [`wants_write`](Self::wants_write) is true after
///    `read_tls` (a key update to answer), write `take_pending`'s output;
/// 3. to close, write [`close_notify`](Self::close_notify)'s output.
///
/// The output of `write_plain`, `take_pending` and `close_notify` must reach
/// the socket in the order it was produced. After an error, the pending
/// output (an alert telling the broker why) may still be written.
pub(crate) struct TlsLayer {
    conn: ClientConnection,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer")
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl TlsLayer {
    /// The TLS layer for a connection with these parameters (to
    /// [`host`](ConnectionParameters::host)).
    pub(crate) fn new(params: &ConnectionParameters) -> Result<Self, Error> {
        TlsLayer::with_host(params.tls_options(), params.host())
    }

    /// The TLS layer for a connection to `host` with these options: the name
    /// sent and checked is `server_name_indication` when set, else `host`
    /// (a host name, or an IP address checked against the certificate's IP
    /// addresses).
    pub(crate) fn with_host(options: &TlsOptions, host: &str) -> Result<Self, Error> {
        let mut config = client_config(options)?;
        let name = match options.server_name_indication() {
            Some("disable") => {
                let mut without_sni = (*config).clone();
                without_sni.enable_sni = false;
                config = Arc::new(without_sni);
                host
            }
            Some(name) => name,
            None => host,
        };
        let name = ServerName::try_from(name.to_owned()).map_err(|e| {
            config_error(format!(
                "{name:?} is not a host name or an IP address to check the certificate \
                 against: {e}"
            ))
        })?;
        let mut conn = ClientConnection::new(config, name).map_err(tls_error)?;
        // The adapters bound what they queue; rustls need not refuse input.
        conn.set_buffer_limit(None);
        Ok(TlsLayer { conn })
    }

    /// Feeds bytes read from the socket, and appends the plaintext they
    /// complete to `plain`. On error the connection is unusable; the pending
    /// output holds an alert for the broker.
    pub(crate) fn read_tls(&mut self, mut cipher: &[u8], plain: &mut Vec<u8>) -> Result<(), Error> {
        while !cipher.is_empty() {
            if self.conn.read_tls(&mut cipher).map_err(io_error)? == 0 {
                // The broker sent close_notify: nothing follows (the socket's
                // end of stream comes next).
                break;
            }
            let state = self.conn.process_new_packets().map_err(tls_error)?;
            let ready = state.plaintext_bytes_to_read();
            if ready > 0 {
                let start = plain.len();
                plain.resize(start + ready, 0);
                self.conn
                    .reader()
                    .read_exact(&mut plain[start..])
                    .map_err(io_error)?;
            }
        }
        Ok(())
    }

    /// Encrypts `plain` and appends what to write to the socket to `out`,
    /// with any pending output before it. During the handshake the plaintext
    /// is kept, and sent once the handshake is done.
    pub(crate) fn write_plain(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if !plain.is_empty() {
            self.conn.writer().write_all(plain).map_err(io_error)?;
        }
        self.take_pending(out);
        Ok(())
    }

    /// Appends what TLS has to send (handshake messages, alerts, key update
    /// answers, encrypted data) to `out`.
    pub(crate) fn take_pending(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Whether TLS has output to send ([`take_pending`](Self::take_pending)).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Appends a `close_notify` alert (the end of this side's data) to
    /// `out`, after any pending output.
    pub(crate) fn close_notify(&mut self, out: &mut Vec<u8>) {
        self.conn.send_close_notify();
        self.take_pending(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: Result<TlsLayer, Error>) -> Option<TlsFailure> {
        r.err().and_then(|e| e.tls_failure())
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let missing = TlsOptions::new().with_cacertfile("/nonexistent/ca.pem");
        assert_eq!(
            kind(TlsLayer::with_host(&missing, "h")),
            Some(TlsFailure::Config)
        );
        let key_only = TlsOptions::new()
            .with_roots(TlsRoots::WebPki)
            .with_keyfile("k.pem");
        assert_eq!(
            kind(TlsLayer::with_host(&key_only, "h")),
            Some(TlsFailure::Config)
        );
        let webpki = TlsOptions::new().with_roots(TlsRoots::WebPki);
        assert_eq!(
            kind(TlsLayer::with_host(&webpki, "not a name")),
            Some(TlsFailure::Config)
        );
        let e = match TlsLayer::with_host(&missing, "h") {
            Err(e) => e,
            Ok(_) => panic!("a missing CA file is accepted"),
        };
        assert!(!e.reconnect_may_help());
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn handshake_starts_with_a_client_hello() {
        let options = TlsOptions::new().with_roots(TlsRoots::WebPki);
        for host in ["rabbit.example", "127.0.0.1", "::1"] {
            let mut layer = match TlsLayer::with_host(&options, host) {
                Ok(l) => l,
                Err(e) => panic!("{host}: {e}"),
            };
            assert!(layer.is_handshaking() && layer.wants_write());
            let mut out = Vec::new();
            layer
                .write_plain(b"AMQP\x00\x00\x09\x01", &mut out)
                .unwrap();
            // A handshake record (22), then nothing more until the server
            // answers: the plaintext waits for the handshake.
            assert_eq!(out[0], 22);
            assert!(!layer.wants_write());
            // Garbage from the "server" is a TLS error, with an alert to send.
            let mut plain = Vec::new();
            let e = layer.read_tls(b"HTTP/1.1 400 Bad Request\r\n", &mut plain);
            assert_eq!(
                e.err().and_then(|e| e.tls_failure()),
                Some(TlsFailure::Protocol)
            );
            assert!(plain.is_empty());
        }
    }

    #[test]
    fn verify_none_and_ready_configs() {
        let options = TlsOptions::new().with_verify(TlsVerify::VerifyNone);
        let config = client_config(&options).unwrap();
        let given = TlsOptions::new().with_client_config(config.clone());
        assert!(Arc::ptr_eq(&client_config(&given).unwrap(), &config));
        assert_eq!(given.clone(), given);
        assert_eq!(given, TlsOptions::new().with_client_config(config.clone()));
        let copy = Arc::new((*config).clone());
        assert_ne!(given, TlsOptions::new().with_client_config(copy));
        assert!(format!("{given:?}").contains("ClientConfig { .. }"));
        let no_sni = given.with_server_name_indication("disable");
        let layer = TlsLayer::with_host(&no_sni, "127.0.0.1").unwrap();
        assert!(layer.is_handshaking());
    }
}
