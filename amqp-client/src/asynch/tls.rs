//! TLS between the core and the socket: the connection's one `TlsLayer`,
//! with the buffers it needs. It lives in the shared state, under the lock
//! (`Inner::tls`): the driver decrypts what it reads and encrypts the
//! core's output there, and a task writing directly (`Inner::write_or_wake`)
//! encrypts its own. Each record is made and put in line for the socket in
//! one critical section (the driver's write buffer, or the direct write,
//! which happens only while that buffer is empty), so records reach the
//! socket in the order of their sequence numbers.
//!
//! The handshake runs inside the driver: the ClientHello is the first output,
//! and what the core writes before the handshake completes (the protocol
//! header) waits in rustls until it does.
//!
//! Without the `tls` feature, [`Tls`] is uninhabited: the driver's
//! `Option<Tls>` is always `None` and the TLS branches compile away.

use bytes::BytesMut;

use crate::error::Error;
use crate::params::ConnectionParameters;

#[cfg(feature = "tls")]
use crate::tls::TlsLayer;

/// Room kept in the TLS buffers between steps.
#[cfg(feature = "tls")]
const KEEP: usize = 256 * 1024;

/// The TLS state of one connection's driver.
#[cfg(feature = "tls")]
pub(super) struct Tls {
    layer: TlsLayer,
    /// Plaintext decrypted from the last read, for the core.
    plain: Vec<u8>,
    /// The core's output of one step, encrypted in one go (fewer, fuller
    /// records than one per frame).
    staged: Vec<u8>,
    /// TLS output on its way to the driver's write buffer.
    cipher: Vec<u8>,
    /// The layer failed: nothing more is encrypted or decrypted.
    failed: bool,
    /// `close_notify` was queued.
    closed: bool,
}

#[cfg(feature = "tls")]
impl Tls {
    /// The TLS layer for these parameters, or the error of unusable
    /// settings.
    pub(super) fn new(params: &ConnectionParameters) -> Result<Tls, Error> {
        Ok(Tls {
            layer: TlsLayer::new(params)?,
            plain: Vec::new(),
            staged: Vec::new(),
            cipher: Vec::new(),
            failed: false,
            closed: false,
        })
    }

    /// Appends what TLS has to send to `out`: first of all, the ClientHello.
    pub(super) fn take_output(&mut self, out: &mut BytesMut) {
        self.layer.take_pending(&mut self.cipher);
        out.extend_from_slice(&self.cipher);
        self.cipher.clear();
    }

    /// Decrypts bytes read from the socket; the plaintext is then
    /// [`plain`](Self::plain). What TLS answers (handshake messages, a key
    /// update, or on error the alert telling the broker why) is appended to
    /// `out`.
    pub(super) fn read(&mut self, cipher: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        self.plain.clear();
        if self.failed {
            return Ok(());
        }
        let result = self.layer.read_tls(cipher, &mut self.plain);
        self.failed = result.is_err();
        if self.layer.wants_write() {
            self.take_output(out);
        }
        result
    }

    /// The plaintext of the last [`read`](Self::read).
    pub(super) fn plain(&self) -> &[u8] {
        &self.plain
    }

    /// Takes the plaintext of the last [`read`](Self::read) out, for
    /// [`restore_plain`](Self::restore_plain) once the core has read it.
    pub(super) fn take_plain(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.plain)
    }

    /// Gives back what [`take_plain`](Self::take_plain) took (its buffer is
    /// reused).
    pub(super) fn restore_plain(&mut self, plain: Vec<u8>) {
        self.plain = plain;
    }

    /// Keeps the core's output, for [`encrypt`](Self::encrypt).
    pub(super) fn stage(&mut self, plain: &[u8]) {
        if !self.failed && !self.closed {
            self.staged.extend_from_slice(plain);
        }
    }

    /// Encrypts what was staged, appending the records to `out` (during the
    /// handshake, rustls keeps the plaintext until the handshake is done).
    pub(super) fn encrypt(&mut self, out: &mut BytesMut) -> Result<(), Error> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let result = self.layer.write_plain(&self.staged, &mut self.cipher);
        self.staged.clear();
        self.failed = result.is_err();
        self.take_output(out);
        // A large message passed: do not keep its room for the connection's
        // lifetime.
        for buf in [&mut self.staged, &mut self.cipher] {
            if buf.capacity() > KEEP {
                buf.shrink_to(KEEP);
            }
        }
        result
    }

    /// Appends `close_notify` (once) to `out`: the end of the client's data,
    /// before the socket's shutdown.
    pub(super) fn close(&mut self, out: &mut BytesMut) {
        if self.failed || self.closed {
            return;
        }
        self.closed = true;
        self.layer.close_notify(&mut self.cipher);
        self.take_output(out);
    }
}

/// Never made without the `tls` feature.
#[cfg(not(feature = "tls"))]
pub(super) enum Tls {}

#[cfg(not(feature = "tls"))]
impl Tls {
    pub(super) fn new(_params: &ConnectionParameters) -> Result<Tls, Error> {
        Err(Error::Misuse(
            "amqps (TLS) needs the amqp-client feature \"tls\"".into(),
        ))
    }

    pub(super) fn take_output(&mut self, _out: &mut BytesMut) {
        match *self {}
    }

    pub(super) fn read(&mut self, _cipher: &[u8], _out: &mut BytesMut) -> Result<(), Error> {
        match *self {}
    }

    pub(super) fn plain(&self) -> &[u8] {
        match *self {}
    }

    pub(super) fn take_plain(&mut self) -> Vec<u8> {
        match *self {}
    }

    pub(super) fn restore_plain(&mut self, _plain: Vec<u8>) {
        match *self {}
    }

    pub(super) fn stage(&mut self, _plain: &[u8]) {
        match *self {}
    }

    pub(super) fn encrypt(&mut self, _out: &mut BytesMut) -> Result<(), Error> {
        match *self {}
    }

    pub(super) fn close(&mut self, _out: &mut BytesMut) {
        match *self {}
    }
}
