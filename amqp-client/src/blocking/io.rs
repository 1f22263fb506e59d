//! The I/O threads of a blocking connection: a reader that feeds the core
//! bytes and time (so heartbeats flow whatever the application does), and a
//! writer that drains what the core produced, in order.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::sys::{poll_either, poll_readable, recv_now, set_recv_lowat, Coalescing};

/// The writer's input: chunks of the core's output, in order. A channel of
/// one producer (the holder of the core's lock) and one consumer (the writer
/// thread) that wakes the writer only when it sleeps, and hands it every
/// chunk queued so far at once.
pub(super) fn out_queue() -> (OutSender, OutReceiver) {
    let q = Arc::new(OutQueue {
        state: Mutex::new(OutState {
            chunks: Vec::new(),
            closed: false,
            writer_sleeps: false,
            writer_gone: false,
        }),
        cond: Condvar::new(),
    });
    (OutSender(q.clone()), OutReceiver(q))
}

struct OutQueue {
    state: Mutex<OutState>,
    cond: Condvar,
}

struct OutState {
    chunks: Vec<Bytes>,
    /// The sender is gone: the writer drains what is left and ends.
    closed: bool,
    writer_sleeps: bool,
    writer_gone: bool,
}

impl OutQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The core's side of [`out_queue`]; dropping it ends the writer once the
/// queue is drained.
pub(super) struct OutSender(Arc<OutQueue>);

impl OutSender {
    /// Queues `bytes`, waking the writer; gives them back when the writer
    /// has ended.
    pub(super) fn send(&self, bytes: Bytes) -> Result<(), Bytes> {
        self.push(bytes, true)
    }

    /// Queues `bytes` without waking the writer: for acks while an
    /// application thread reads the socket, which writes what is queued
    /// before it reads again (see `Shared::wait_reading`); the reader
    /// thread wakes the writer for them within [`HANDOVER`] otherwise.
    pub(super) fn send_lazy(&self, bytes: Bytes) -> Result<(), Bytes> {
        self.push(bytes, false)
    }

    fn push(&self, bytes: Bytes, wake: bool) -> Result<(), Bytes> {
        let mut s = self.0.lock();
        if s.writer_gone {
            return Err(bytes);
        }
        s.chunks.push(bytes);
        if wake && s.writer_sleeps {
            s.writer_sleeps = false;
            self.0.cond.notify_one();
        }
        Ok(())
    }
}

impl Drop for OutSender {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.closed = true;
        self.0.cond.notify_one();
    }
}

/// The writer's side of [`out_queue`].
pub(super) struct OutReceiver(Arc<OutQueue>);

impl OutReceiver {
    /// Waits until chunks are queued; false once the sender is gone and
    /// nothing is left.
    pub(super) fn wait_nonempty(&self) -> bool {
        let mut s = self.0.lock();
        loop {
            if !s.chunks.is_empty() {
                return true;
            }
            if s.closed {
                return false;
            }
            s.writer_sleeps = true;
            s = self.0.cond.wait(s).unwrap_or_else(|p| p.into_inner());
            s.writer_sleeps = false;
        }
    }

    /// Moves every queued chunk into `into` (empty on entry). Only under
    /// the write side's lock, so that chunks are written in queue order.
    pub(super) fn take_all(&self, into: &mut Vec<Bytes>) {
        std::mem::swap(into, &mut self.0.lock().chunks);
    }

    /// Whether chunks wait to be written.
    pub(super) fn has_pending(&self) -> bool {
        !self.0.lock().chunks.is_empty()
    }

    /// Wakes the writer if chunks wait (queued lazily) and it sleeps.
    pub(super) fn kick(&self) {
        let mut s = self.0.lock();
        if !s.chunks.is_empty() && s.writer_sleeps {
            s.writer_sleeps = false;
            self.0.cond.notify_one();
        }
    }
}

impl Drop for OutReceiver {
    fn drop(&mut self) {
        self.0.lock().writer_gone = true;
    }
}

/// Longest a read blocks before the core's timers are looked at again.
pub(super) const MAX_READ_WAIT: Duration = Duration::from_millis(200);

/// An application thread that read the socket this recently (or waits to)
/// is left to read it: the reader thread keeps off for this long.
pub(super) const HANDOVER: Duration = Duration::from_millis(5);

/// What lies between the socket and the core: nothing ([`Plain`]) or TLS.
/// The threads are generic over it, so the plain path compiles to direct
/// reads and writes.
pub(super) trait Transport: Send + 'static {
    /// The bytes for the core, from `raw`, just read from the socket.
    fn input<'a>(&'a mut self, raw: &'a [u8]) -> std::io::Result<&'a [u8]>;
    /// Whether the last input left output for the writer (a TLS key update
    /// to answer).
    fn wants_write(&self) -> bool;
    /// Writes the core's bytes.
    fn output(&mut self, out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()>;
    /// Writes what ends the stream (TLS `close_notify`).
    fn finish(&mut self, out: &mut impl Write);
}

/// Plain TCP: the socket's bytes are the core's.
#[derive(Clone, Copy)]
pub(super) struct Plain;

impl Transport for Plain {
    #[inline]
    fn input<'a>(&'a mut self, raw: &'a [u8]) -> std::io::Result<&'a [u8]> {
        Ok(raw)
    }

    #[inline]
    fn wants_write(&self) -> bool {
        false
    }

    #[inline]
    fn output(&mut self, out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        out.write_all(bytes)
    }

    #[inline]
    fn finish(&mut self, _out: &mut impl Write) {}
}

/// The socket's read side: the stream, a buffer and the transport. One
/// thread at a time holds it (the `read_side` mutex of the shared state): the
/// reader thread, or an application thread that waits for what the socket
/// will bring (a delivery, a confirm, a reply) and reads it itself, which
/// spares a thread hand-off and its two context switches.
pub(super) struct ReadSide<T: Transport> {
    stream: TcpStream,
    buf: Vec<u8>,
    transport: T,
    last_wait: Option<Duration>,
    coalescing: Coalescing,
}

impl<T: Transport> ReadSide<T> {
    pub(super) fn new(stream: TcpStream, transport: T, coalescing: bool) -> Self {
        ReadSide {
            stream,
            buf: vec![0u8; READ_BUF],
            transport,
            last_wait: None,
            coalescing: Coalescing::new(coalescing),
        }
    }
}

/// One read from the socket into the core, by whoever holds the read side.
pub(super) trait ReadOnce: Send {
    /// Reads once, blocking at most `wait` (less if `interrupt` fires),
    /// hands `input` what came (or the time); false once the connection is
    /// over.
    fn read_once(
        &mut self,
        input: &dyn Input,
        wait: Duration,
        interrupt: Option<&Interrupt>,
    ) -> bool;
}

/// Where a read's outcome goes: the connection's shared state, which feeds
/// the core and wakes whoever waits.
pub(super) trait Input {
    /// Feeds the core what a read brought: `Ok(None)` the end of the
    /// stream, `Ok(Some(bytes))` data, `Err` a timeout (the time), an
    /// interruption or a failure. Returns how many frames the bytes
    /// completed and whether the connection is still open.
    fn feed(&self, read: std::io::Result<Option<&[u8]>>) -> (u64, bool);
    /// The transport has output of its own (TLS) for the writer, the only
    /// thread that takes it, so that it goes out in order.
    fn wake_writer(&self);
}

/// Wakes a thread that reads the socket while it also waits for something
/// else: a dispatching thread (`start_consuming`, `process_data_events`)
/// runs the thread-safe callbacks and timers that other threads add. A
/// socket pair: a byte written to one end makes the other readable, and the
/// reading thread polls it beside the connection's socket.
pub(super) struct Interrupt {
    #[cfg(target_os = "linux")]
    pair: Option<(
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
    )>,
    armed: std::sync::atomic::AtomicBool,
}

impl Interrupt {
    pub(super) fn new() -> Self {
        #[cfg(target_os = "linux")]
        let pair = std::os::unix::net::UnixStream::pair()
            .ok()
            .filter(|(a, b)| a.set_nonblocking(true).is_ok() && b.set_nonblocking(true).is_ok());
        Interrupt {
            #[cfg(target_os = "linux")]
            pair,
            armed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether a reading thread can be interrupted (else it must not read
    /// while it waits for more than the socket).
    pub(super) fn available(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.pair.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// The end the reading thread polls.
    #[cfg(target_os = "linux")]
    fn receiver(&self) -> Option<&std::os::unix::net::UnixStream> {
        self.pair.as_ref().map(|(rx, _)| rx)
    }

    /// From now on [`Interrupt::fire`] wakes the reading thread.
    pub(super) fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// No thread reads with this interrupt: forgets what fired.
    pub(super) fn disarm(&self) {
        self.armed.store(false, std::sync::atomic::Ordering::SeqCst);
        #[cfg(target_os = "linux")]
        if let Some((rx, _)) = &self.pair {
            let mut buf = [0u8; 64];
            while matches!((&*rx).read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    /// Wakes the thread reading with this interrupt, if one is.
    pub(super) fn fire(&self) {
        #[cfg(target_os = "linux")]
        if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some((_, tx)) = &self.pair {
                // Full means already fired.
                let _ = (&*tx).write(&[1]);
            }
        }
    }
}

impl<T: Transport> ReadOnce for ReadSide<T> {
    fn read_once(
        &mut self,
        input: &dyn Input,
        wait: Duration,
        interrupt: Option<&Interrupt>,
    ) -> bool {
        let wait = wait.clamp(Duration::from_millis(1), MAX_READ_WAIT);
        #[cfg(target_os = "linux")]
        let receiver = interrupt.and_then(Interrupt::receiver);
        #[cfg(not(target_os = "linux"))]
        let receiver: Option<&std::net::TcpStream> = {
            let _ = interrupt;
            None
        };
        let read = if let Some(rx) = receiver {
            // Wait for the socket (its low-water mark, if coalescing) or
            // the interrupt, whichever comes first.
            let engaged = self.coalescing.engaged();
            let timeout = if engaged {
                wait.min(Coalescing::WINDOW)
            } else {
                wait
            };
            // Never a blocking read after `poll`: it also reports a socket
            // readable below its low-water mark (when the receive window
            // runs low), and a blocking read would then wait for the mark.
            match poll_either(&self.stream, rx, timeout) {
                Ok((true, _)) => recv_now(&self.stream, &mut self.buf),
                Ok((false, true)) => Err(ErrorKind::Interrupted.into()),
                Ok((false, false)) if engaged => recv_now(&self.stream, &mut self.buf),
                Ok((false, false)) => Err(ErrorKind::TimedOut.into()),
                Err(e) => Err(e),
            }
        } else if self.coalescing.engaged() {
            // Wait for the low-water mark at most the window (`poll`
            // keeps time precisely; a socket read timeout counts ticks),
            // then take what is there.
            match poll_readable(&self.stream, wait.min(Coalescing::WINDOW)) {
                Ok(_) => recv_now(&self.stream, &mut self.buf),
                Err(e) => Err(e),
            }
        } else {
            // A system call: only when the timeout changes (it stays at the
            // maximum while no deadline is near).
            if self.last_wait != Some(wait) {
                // Cannot fail for a non-zero duration.
                let _ = self.stream.set_read_timeout(Some(wait));
                self.last_wait = Some(wait);
            }
            self.stream.read(&mut self.buf)
        };
        let got = match &read {
            Ok(n) => Some(*n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(_) => Some(0),
        };
        let result = match read {
            Ok(0) => Ok(None),
            Ok(n) => self.transport.input(&self.buf[..n]).map(Some),
            Err(e) => Err(e),
        };
        let (frames, open) = input.feed(result);
        if self.transport.wants_write() {
            input.wake_writer();
        }
        let lowat = match got {
            Some(0) => None,
            Some(n) => self.coalescing.after_read(Some((n, frames))),
            None => self.coalescing.after_read(None),
        };
        if let Some(lowat) = lowat {
            if !matches!(set_recv_lowat(&self.stream, lowat), Ok(true)) {
                self.coalescing.disable();
                let _ = set_recv_lowat(&self.stream, 1);
            }
        }
        if got == Some(self.buf.len()) && self.buf.len() < READ_BUF_MAX {
            // Large messages streaming in: one read per message or more.
            self.buf = vec![0u8; READ_BUF_MAX];
        }
        open
    }
}

/// Bytes read per system call, at first ...
const READ_BUF: usize = 64 * 1024;
/// ... and once a read filled that.
const READ_BUF_MAX: usize = 256 * 1024;

/// The socket's write side: the buffered stream and the transport. Whoever
/// holds it (the `write_side` mutex of the shared state) takes every queued chunk
/// and writes it, so that chunks go out in queue order: the writer thread,
/// or an application thread flushing its own acks before it reads.
pub(super) struct WriteSide<T: Transport> {
    out: std::io::BufWriter<TcpStream>,
    transport: T,
    chunks: Vec<Bytes>,
}

impl<T: Transport> WriteSide<T> {
    pub(super) fn new(stream: TcpStream, transport: T) -> Self {
        WriteSide {
            // Everything queued by the time a writer looks goes out in as
            // few system calls as the buffer allows.
            out: std::io::BufWriter::with_capacity(128 * 1024, stream),
            transport,
            chunks: Vec::new(),
        }
    }
}

/// Writing what is queued, by whoever holds the write side.
pub(super) trait WriteQueued: Send {
    /// Takes every queued chunk and writes it; the bytes written.
    fn write_queued(&mut self, queue: &OutReceiver) -> std::io::Result<usize>;
    /// Ends the stream (TLS `close_notify`) and shuts the socket down.
    fn finish(&mut self);
}

impl<T: Transport> WriteQueued for WriteSide<T> {
    fn write_queued(&mut self, queue: &OutReceiver) -> std::io::Result<usize> {
        queue.take_all(&mut self.chunks);
        let mut n = 0;
        for bytes in self.chunks.drain(..) {
            self.transport.output(&mut self.out, &bytes)?;
            n += bytes.len();
        }
        self.out.flush()?;
        Ok(n)
    }

    fn finish(&mut self) {
        self.transport.finish(&mut self.out);
        let _ = self.out.flush();
        let _ = self.out.get_ref().shutdown(Shutdown::Both);
    }
}
