//! The byte path between a connection's socket and its core. Every byte read
//! from or written to the socket passes through [`Transport`]: it is the one
//! place where a TLS layer goes (decrypt what [`Transport::read`] gets before
//! the core sees it; encrypt what [`Transport::queue`] is given before it is
//! buffered for the socket).
//!
//! Output the socket does not take at once is kept, in order, and written
//! when the socket is writable again: nothing is dropped.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice, Read, Write};

use bytes::{Buf, Bytes};
use mio::net::TcpStream;
use mio::Interest;

use crate::error::Error;
#[cfg(feature = "tls")]
use crate::tls::TlsLayer;

/// How many chunks one vectored write takes at most.
const MAX_IOVECS: usize = 32;

/// Room for TLS record headers and tags around a chunk of plaintext (more
/// only makes the output vector grow).
#[cfg(feature = "tls")]
const TLS_OVERHEAD: usize = 256;

/// What sits between the socket and the core: plain TCP, or TLS (feature
/// `tls`). A TLS error ends the stream like a socket error does: it reaches
/// the core's `handle_eof` as an I/O error carrying the [`Error::Tls`],
/// which [`typed_error`] gets back for the application.
#[derive(Debug)]
enum Layer {
    /// Bytes go to and from the socket unchanged (and uncopied).
    Plain,
    /// Bytes are decrypted after reading and encrypted before queueing.
    #[cfg(feature = "tls")]
    Tls(Box<Tls>),
}

/// The TLS layer and what it needs next to it.
#[cfg(feature = "tls")]
#[derive(Debug)]
struct Tls {
    layer: TlsLayer,
    /// The plaintext of the last read, handed to the core (kept to reuse
    /// its allocation).
    plain: Vec<u8>,
    /// The layer failed: no `close_notify` after its alert.
    failed: bool,
}

/// What [`Transport::read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadStatus {
    /// The socket has nothing more for now.
    Drained,
    /// The read budget ran out while the socket may have more.
    More,
    /// The peer closed the stream.
    Eof,
}

/// A connected socket, its protocol layer and the output it has not taken
/// yet.
#[derive(Debug)]
pub(super) struct Transport {
    stream: TcpStream,
    layer: Layer,
    /// Output accepted from the core and not yet written, in order.
    pending: VecDeque<Bytes>,
    /// Their total length.
    pending_len: usize,
    /// The interest the socket is registered with.
    interest: Interest,
}

impl Transport {
    /// Wraps a socket registered with `interest`.
    pub(super) fn new(stream: TcpStream, interest: Interest) -> Self {
        Transport {
            stream,
            layer: Layer::Plain,
            pending: VecDeque::new(),
            pending_len: 0,
            interest,
        }
    }

    /// Puts TLS between the socket and the core; its first output (the
    /// ClientHello) goes before anything the core queues.
    #[cfg(feature = "tls")]
    pub(super) fn start_tls(&mut self, mut layer: TlsLayer) {
        let mut out = Vec::new();
        layer.take_pending(&mut out);
        push(&mut self.pending, &mut self.pending_len, out);
        self.layer = Layer::Tls(Box::new(Tls {
            layer,
            plain: Vec::new(),
            failed: false,
        }));
    }

    /// The socket, for (de)registration and socket options.
    pub(super) fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The socket.
    pub(super) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Reads what the socket has, at most `max_reads` times into `buf`,
    /// handing the plain bytes to `input` as they arrive.
    pub(super) fn read(
        &mut self,
        buf: &mut [u8],
        max_reads: usize,
        mut input: impl FnMut(&[u8]),
    ) -> io::Result<ReadStatus> {
        for _ in 0..max_reads {
            match self.stream.read(buf) {
                Ok(0) => return Ok(ReadStatus::Eof),
                Ok(n) => match &mut self.layer {
                    Layer::Plain => input(&buf[..n]),
                    #[cfg(feature = "tls")]
                    Layer::Tls(tls) => {
                        tls.plain.clear();
                        let result = tls.layer.read_tls(&buf[..n], &mut tls.plain);
                        // Handshake messages and key update answers; after
                        // an error, the alert telling the broker why.
                        if tls.layer.wants_write() {
                            let mut out = Vec::new();
                            tls.layer.take_pending(&mut out);
                            push(&mut self.pending, &mut self.pending_len, out);
                        }
                        if !tls.plain.is_empty() {
                            input(&tls.plain);
                        }
                        if let Err(e) = result {
                            tls.failed = true;
                            return Err(io_error(e));
                        }
                    }
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(ReadStatus::Drained),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ReadStatus::More)
    }

    /// Queues bytes from the core for the socket (see [`flush`](Self::flush)).
    /// Fails only when TLS cannot take them.
    pub(super) fn queue(&mut self, plain: Bytes) -> io::Result<()> {
        match &mut self.layer {
            Layer::Plain => {
                self.pending_len += plain.len();
                self.pending.push_back(plain)
            }
            #[cfg(feature = "tls")]
            Layer::Tls(tls) => {
                // Held by the layer until the handshake is done.
                let mut out = Vec::with_capacity(plain.len() + TLS_OVERHEAD);
                if let Err(e) = tls.layer.write_plain(&plain, &mut out) {
                    tls.failed = true;
                    return Err(io_error(e));
                }
                push(&mut self.pending, &mut self.pending_len, out);
            }
        }
        Ok(())
    }

    /// Ends this side of the stream before the socket is dropped: TLS sends
    /// `close_notify` (as far as the socket takes it at once).
    pub(super) fn finish(&mut self) {
        match &mut self.layer {
            Layer::Plain => {}
            #[cfg(feature = "tls")]
            Layer::Tls(tls) => {
                if !tls.failed {
                    let mut out = Vec::new();
                    tls.layer.close_notify(&mut out);
                    push(&mut self.pending, &mut self.pending_len, out);
                    let _ = self.flush();
                }
            }
        }
    }

    /// How many bytes wait for the socket.
    pub(super) fn pending_len(&self) -> usize {
        self.pending_len
    }

    /// Whether output is waiting for the socket.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes queued output until it is all written or the socket would
    /// block; several chunks go in one vectored write.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(self.pending.iter()) {
                *slot = IoSlice::new(chunk);
                count += 1;
            }
            let written = match self.stream.write_vectored(&slices[..count]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        Ok(())
    }

    fn consume(&mut self, mut written: usize) {
        while written > 0 {
            let Some(front) = self.pending.front_mut() else {
                return;
            };
            if front.len() <= written {
                written -= front.len();
                self.pending_len -= front.len();
                self.pending.pop_front();
            } else {
                front.advance(written);
                self.pending_len -= written;
                return;
            }
        }
    }

    /// The interest the socket needs now: writable only while output waits.
    pub(super) fn wanted_interest(&self) -> Interest {
        if self.has_pending() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }

    /// The interest the socket is registered with.
    pub(super) fn interest(&self) -> Interest {
        self.interest
    }

    /// Records a new registration interest.
    pub(super) fn set_interest(&mut self, interest: Interest) {
        self.interest = interest;
    }
}

/// Queues TLS output; an empty chunk would end a vectored write early.
#[cfg(feature = "tls")]
fn push(pending: &mut VecDeque<Bytes>, pending_len: &mut usize, out: Vec<u8>) {
    if !out.is_empty() {
        *pending_len += out.len();
        pending.push_back(Bytes::from(out));
    }
}

/// A TLS failure as the I/O error that ends the stream.
#[cfg(feature = "tls")]
fn io_error(e: Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

/// The error the application sees: the [`Error::Tls`] behind a stream that
/// TLS ended, else `error` itself.
pub(super) fn typed_error(error: Error) -> Error {
    if let Error::StreamLost(io) = &error {
        if let Some(tls @ Error::Tls { .. }) = io.get_ref().and_then(|e| e.downcast_ref::<Error>())
        {
            return tls.clone();
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::TlsFailure;

    #[test]
    fn tls_errors_come_back_typed() {
        let tls = Error::Tls {
            kind: TlsFailure::Certificate,
            message: "invalid peer certificate: UnknownIssuer".into(),
        };
        let lost = Error::StreamLost(Arc::new(io::Error::new(ErrorKind::InvalidData, tls)));
        assert_eq!(
            typed_error(lost).tls_failure(),
            Some(TlsFailure::Certificate)
        );
        let reset = Error::StreamLost(Arc::new(ErrorKind::ConnectionReset.into()));
        assert!(matches!(typed_error(reset), Error::StreamLost(_)));
        assert!(matches!(
            typed_error(Error::HeartbeatTimeout),
            Error::HeartbeatTimeout
        ));
    }
}
