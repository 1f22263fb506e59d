//! TLS for the blocking adapter: the handshake on the connecting thread, then
//! one [`TlsLayer`] shared by the reader and writer threads. Neither holds
//! its lock during a system call; only the writer takes TLS output, so it
//! reaches the socket in the order it was produced.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::io::Transport;
use crate::error::{Error, TlsFailure};
use crate::params::ConnectionParameters;
use crate::tls::TlsLayer;

/// The threads' view of the TLS layer: the layer, shared, and a buffer of
/// their own.
pub(super) struct Tls {
    layer: Arc<Mutex<TlsLayer>>,
    buf: Vec<u8>,
    wants_write: bool,
}

impl Clone for Tls {
    fn clone(&self) -> Self {
        Tls {
            layer: self.layer.clone(),
            buf: Vec::new(),
            wants_write: false,
        }
    }
}

fn lock(layer: &Mutex<TlsLayer>) -> MutexGuard<'_, TlsLayer> {
    // A panic while holding the lock leaves a connection that fails on its
    // next record, which is reported as such.
    layer.lock().unwrap_or_else(|p| p.into_inner())
}

fn io_error(e: Error) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, e)
}

impl Transport for Tls {
    fn input<'a>(&'a mut self, raw: &'a [u8]) -> std::io::Result<&'a [u8]> {
        self.buf.clear();
        let mut layer = lock(&self.layer);
        let result = layer.read_tls(raw, &mut self.buf);
        self.wants_write = layer.wants_write();
        drop(layer);
        result.map_err(io_error)?;
        Ok(&self.buf)
    }

    fn wants_write(&self) -> bool {
        self.wants_write
    }

    fn output(&mut self, out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.clear();
        lock(&self.layer)
            .write_plain(bytes, &mut self.buf)
            .map_err(io_error)?;
        out.write_all(&self.buf)
    }

    fn finish(&mut self, out: &mut impl Write) {
        self.buf.clear();
        lock(&self.layer).close_notify(&mut self.buf);
        let _ = out.write_all(&self.buf);
    }
}

/// Runs the TLS handshake on a connected socket, within `timeout`.
pub(super) fn handshake(
    mut stream: &TcpStream,
    params: &ConnectionParameters,
    timeout: Duration,
) -> Result<Tls, Error> {
    let mut layer = TlsLayer::new(params)?;
    let deadline = Instant::now() + timeout;
    let timed_out = || Error::HandshakeTimeout {
        endpoint: Some(format!("{}:{}", params.host(), params.port())),
        address: stream.peer_addr().ok(),
    };
    let mut out = Vec::new();
    let mut plain = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let result = loop {
        out.clear();
        layer.take_pending(&mut out);
        stream.set_write_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))?;
        stream.write_all(&out)?;
        if !layer.is_handshaking() {
            break Ok(());
        }
        stream.set_read_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => {
                break Err(Error::from(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the broker closed the connection during the TLS handshake",
                )))
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Err(timed_out())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break Err(e.into()),
        };
        if let Err(e) = layer.read_tls(&buf[..n], &mut plain) {
            // Tell the broker why (an alert), then give up.
            out.clear();
            layer.take_pending(&mut out);
            let _ = stream.write_all(&out);
            break Err(e);
        }
        if !plain.is_empty() {
            break Err(Error::Tls {
                kind: TlsFailure::Protocol,
                message: "the broker sent data before the AMQP protocol header".into(),
            });
        }
    };
    stream.set_write_timeout(None)?;
    result?;
    Ok(Tls {
        layer: Arc::new(Mutex::new(layer)),
        buf: Vec::new(),
        wants_write: false,
    })
}

/// The time left until `deadline`, never zero (which would mean "no
/// timeout" to the socket).
fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// The TLS error behind a lost stream, else the error as it is.
pub(super) fn unwrap_error(e: &Error) -> Error {
    if let Error::StreamLost(io) = e {
        if let Some(tls @ Error::Tls { .. }) = io.get_ref().and_then(|i| i.downcast_ref::<Error>())
        {
            return tls.clone();
        }
    }
    e.clone()
}
