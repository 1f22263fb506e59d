//! Direct writes: output the application's task writes to the socket
//! itself, without waking the driver (see [`Inner::write_or_wake`]).

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::shared::Inner;

/// Output that follows a direct write this soon goes through the driver
/// (see [`Inner::write_or_wake`]): one system call per publish costs more
/// than one wake-up of the driver per batch.
pub(crate) const DIRECT_GAP: Duration = Duration::from_micros(20);
/// A direct write's TLS buffer is kept up to this size between writes.
const DIRECT_CIPHER_KEEP: usize = 64 * 1024;

impl Inner {
    /// Writes what the core has for the socket from the calling task, when
    /// the socket allows it (TCP on tokio; with TLS the records are made
    /// here, under the lock, see [`Inner::tls`]) and the driver has nothing
    /// of its own left to write (so the bytes keep their order); otherwise,
    /// or for what the socket does not take at once, wakes the driver. A
    /// request, a reply or a single publish then leaves with one system call
    /// and no wake-up of another thread. Output that follows a direct write
    /// within [`DIRECT_GAP`] (a publisher streaming) is left to the driver,
    /// which writes it in batches.
    pub(crate) fn write_or_wake(&mut self) {
        let Some(direct) = &self.direct else {
            return self.wake_driver();
        };
        if !self.driver_out_empty || !self.direct_rest.is_empty() {
            return self.wake_driver();
        }
        let now = Instant::now();
        if self
            .last_direct
            .is_some_and(|t| now.saturating_duration_since(t) < DIRECT_GAP)
        {
            return self.wake_driver();
        }
        let Some(plain) = self.client.poll_transmit(now) else {
            return;
        };
        let mut cipher = std::mem::take(&mut self.direct_cipher);
        let mut wake = false;
        let bytes: &[u8] = match &mut self.tls {
            None => &plain,
            Some(tls) => {
                tls.stage(&plain);
                if let Err(e) = tls.encrypt(&mut cipher) {
                    // What TLS produced (an alert) still goes out, in order;
                    // the driver reports the failure.
                    self.transport_error = Some(e.clone());
                    self.client.handle_eof(Some(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e,
                    )));
                    wake = true;
                }
                // Empty during the handshake: rustls keeps the plaintext and
                // the driver sends it once the handshake is done.
                &cipher
            }
        };
        if bytes.is_empty() {
            self.direct_cipher = cipher;
            if wake {
                self.wake_driver();
            }
            return;
        }
        self.last_direct = Some(now);
        let mut written = 0;
        while written < bytes.len() {
            match direct.try_write(&bytes[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // WouldBlock, or a failure the driver meets and reports.
                Err(_) => break,
            }
        }
        self.lazy_output = false;
        if written < bytes.len() {
            self.direct_rest.extend_from_slice(&bytes[written..]);
            self.driver_out_empty = false;
            self.queued = self.direct_rest.len();
            wake = true;
        } else {
            self.queued = 0;
        }
        if wake {
            self.wake_driver();
        }
        cipher.clear();
        if cipher.capacity() > DIRECT_CIPHER_KEEP {
            cipher = BytesMut::new();
        }
        self.direct_cipher = cipher;
    }
}
