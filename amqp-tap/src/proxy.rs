//! The decoding proxy: forwards every byte unchanged between clients and an
//! upstream broker, one pair of threads per connection, and decodes a copy.
//!
//! The forwarding threads only read, append a timestamped copy of what they
//! read to a buffer shared with one decoding thread, and write; they
//! never wait for it (unless it falls 64 MiB behind). That
//! thread decodes every connection, writes the output (and the optional
//! pcap), and takes the buffer every 20 ms rather than being woken for each
//! chunk: a wake-up and a write per message on the forwarding path would add
//! to every round trip. What cannot be decoded is forwarded all the same and
//! reported as an error event.
//!
//! Request/response traffic is polled for briefly after each request or
//! reply, to spare it the scheduler's wake-ups; bulk traffic is read in
//! batches instead (see [`Proxy::with_spin`] and [`Proxy::with_coalescing`]).
//!
//! Closing: end of stream on one side is passed on as a half-close (FIN) to
//! the other, so a peer that closes its side cleanly closes the other side
//! cleanly; a reset or a write error closes both sockets of the connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use amqp_protocol::FrameCounter;
use amqp_socket::{poll_readable, recv_now, set_recv_lowat, Coalescing};

use crate::conn::{Connection, StreamStart};
use crate::event::{At, ConnInfo, Dir, Event, Sink, Ts};
use crate::output::Printer;
use crate::pcap_out::{PcapWriter, TcpLeg};

/// How often the decoding thread collects what was forwarded. It never waits
/// on the channel: a receiver parked there would be woken by every chunk.
/// Live output lags by at most this much.
const OUTPUT_PERIOD: Duration = Duration::from_millis(20);

/// What the forwarding threads tell the decoding thread, in order.
#[derive(Debug)]
enum Out {
    Open {
        id: u64,
        ts: Ts,
        /// Client side: the client and the proxy's listening address.
        front: (SocketAddr, SocketAddr),
        /// Upstream side: the proxy's local address and the upstream.
        back: (SocketAddr, SocketAddr),
        /// Shared with the connection's forwarding threads.
        bulk: Arc<Bulk>,
    },
    /// The next `len` bytes of the batch's data.
    Data {
        id: u64,
        ts: Ts,
        dir: Dir,
        len: usize,
    },
    /// Direction `dir` ended.
    Fin { id: u64, ts: Ts, dir: Dir, end: End },
}

/// How a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its sender closed its side; the proxy passed the half-close on.
    Closed,
    /// Reading from its sender failed (the sender reset the connection);
    /// the proxy closed the receiver's socket.
    SenderReset,
    /// Forwarding to its receiver failed (the receiver reset the
    /// connection); the proxy closed the sender's socket.
    ReceiverReset,
}

/// Forwarded data and events not yet decoded, in order.
#[derive(Debug, Default)]
struct Batch {
    /// The data of every [`Out::Data`] in `events`, one after another.
    data: Vec<u8>,
    events: Vec<Out>,
}

/// Where the forwarding threads leave copies of what they forwarded for the
/// decoding thread, which takes all of it every [`OUTPUT_PERIOD`]: a copy
/// into a buffer under an uncontended lock per chunk, and neither an
/// allocation nor a wake-up. Should decoding and output fall behind by
/// [`MAX_PENDING`] bytes, forwarding waits for them rather than let memory
/// grow without bound.
#[derive(Debug, Default)]
struct Handoff {
    batch: Mutex<Batch>,
    /// Signalled when the decoding thread took a batch.
    taken: Condvar,
}

/// How much forwarded data may wait for decoding before forwarding waits.
const MAX_PENDING: usize = 64 << 20;

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // A panic elsewhere while holding the lock leaves a batch that is
        // still well-formed (each push is one `Vec` operation).
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, event: Out) {
        self.lock().events.push(event);
    }

    fn data(&self, id: u64, dir: Dir, bytes: &[u8]) {
        let mut batch = self.lock();
        while batch.data.len() >= MAX_PENDING {
            batch = self
                .taken
                .wait_timeout(batch, OUTPUT_PERIOD)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        batch.data.extend_from_slice(bytes);
        batch.events.push(Out::Data {
            id,
            ts: Ts::now(),
            dir,
            len: bytes.len(),
        });
    }

    /// Swaps what is pending with `into` (emptied, its capacity kept).
    fn take(&self, into: &mut Batch) {
        into.data.clear();
        into.events.clear();
        std::mem::swap(&mut *self.lock(), into);
        self.taken.notify_all();
    }
}

/// How long a forwarding thread keeps polling its socket after it forwarded
/// a request or a reply, by default, before it blocks again (see
/// [`Proxy::with_spin`]).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(500);

/// A read that brings this many frames or more is bulk, not a request or a
/// reply: neither direction polls after it, nor for [`BULK_QUIET_US`] (see
/// [`Proxy::with_spin`]).
const SPIN_MAX_FRAMES: u64 = 8;

/// While a publisher streams with at least [`CONFIRM_DEPTH`] publishes
/// awaiting confirms, the broker's confirms are read at most this often:
/// such a publisher keeps a deep pipeline and gains nothing from each
/// confirm's early arrival, while the proxy saves a wake-up per few
/// confirms.
const HOLD_WINDOW: Duration = Duration::from_millis(1);

/// See [`HOLD_WINDOW`]. Shallower pipelines (and a consumer's acks, which
/// its prefetch window waits for) are never held back.
const CONFIRM_DEPTH: u64 = 512;

/// How long after bulk (in microseconds) neither direction polls.
const BULK_QUIET_US: u64 = 20_000;

/// When one connection last carried bulk, in either direction, and how
/// deep its publishers' pipelines are.
#[derive(Debug)]
struct Bulk {
    epoch: Instant,
    /// Microseconds since `epoch` (0: never).
    last: AtomicU64,
    /// Publishes awaiting the broker's confirms, as the decoding thread last
    /// counted them (it lags by up to [`OUTPUT_PERIOD`]).
    confirms_due: AtomicU64,
}

impl Bulk {
    fn new() -> Self {
        Bulk {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            confirms_due: AtomicU64::new(0),
        }
    }

    /// After a read at `now` (`bulk` if it was): whether a direction may
    /// poll for what comes next, that is, whether neither direction
    /// carried bulk in the last [`BULK_QUIET_US`].
    fn may_poll(&self, bulk: bool, now: Instant) -> bool {
        let since = now.saturating_duration_since(self.epoch);
        let since = u64::try_from(since.as_micros()).unwrap_or(u64::MAX).max(1);
        if bulk {
            self.last.store(since, Ordering::Relaxed);
            return false;
        }
        let last = self.last.load(Ordering::Relaxed);
        last == 0 || since.saturating_sub(last) >= BULK_QUIET_US
    }
}

/// Polling uses a non-blocking `recv` that leaves the socket's own mode
/// alone (the two directions' threads share it); elsewhere, no polling.
const CAN_SPIN: bool = cfg!(target_os = "linux");

/// A bound proxy, ready to serve.
#[derive(Debug)]
pub struct Proxy {
    listener: TcpListener,
    upstream: SocketAddr,
    printer: Printer,
    spin: Duration,
    coalescing: bool,
}

impl Proxy {
    /// Listens on `listen` and will forward to `upstream`.
    pub fn bind(
        listen: impl ToSocketAddrs,
        upstream: impl ToSocketAddrs,
        printer: Printer,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let upstream = upstream
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no upstream address"))?;
        Ok(Proxy {
            listener,
            upstream,
            printer,
            spin: DEFAULT_SPIN,
            coalescing: true,
        })
    }

    /// After forwarding a request or a reply (a read of fewer than 8
    /// frames, while the other direction's last read was one too), a
    /// direction polls its socket without blocking for up to `spin` before
    /// it blocks in `read` again ([`DEFAULT_SPIN`] unless changed; Linux
    /// only). A thread woken from a blocking read costs a scheduler wake-up,
    /// which on a virtual machine with idle CPUs is most of what a relay
    /// adds to a request/response round trip; polling hides it, at the price
    /// of up to `spin` of CPU time per request or reply (yielding to other
    /// runnable threads meanwhile). Bulk traffic (a read of 8 frames or
    /// more in either direction, or coalescing) is never polled for: there
    /// the CPU belongs to the broker and the clients.
    /// `Duration::ZERO` always blocks: the least CPU, the most latency.
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Whether a direction that carries bulk data (a read brought 8 KiB or
    /// more) reads in batches: its next read waits until 8 to 32 KiB are
    /// there, or at most 2 ms, through the socket's receive low-water mark
    /// (`SO_RCVLOWAT`, Linux only), so that its thread wakes once per batch
    /// rather than once per segment and leaves the CPU to the broker and the
    /// clients. Smaller reads (requests, replies, single messages) turn it
    /// off again, so round trips are never held back; bulk data may be held
    /// back by up to 2 ms. While a publisher keeps 512 or more publishes
    /// awaiting confirms, the broker's confirms are likewise read at most
    /// once a millisecond. On by default.
    pub fn with_coalescing(mut self, on: bool) -> Self {
        self.coalescing = on;
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections until accepting fails; decoded output goes to
    /// `out`, and with `pcap`, a capture of both legs of every connection.
    pub fn serve(
        self,
        out: Box<dyn Write + Send>,
        pcap: Option<Box<dyn Write + Send>>,
    ) -> io::Result<()> {
        let handoff = Arc::new(Handoff::default());
        let pcap = pcap.map(PcapWriter::new).transpose()?;
        let printer = self.printer;
        let decoder = {
            let handoff = Arc::clone(&handoff);
            thread::Builder::new()
                .name("amqp-tap-decode".into())
                .spawn(move || decode_thread(&handoff, &printer, out, pcap))?
        };
        let mut next_id = 0u64;
        for client in self.listener.incoming() {
            let client = match client {
                Ok(c) => c,
                Err(e) if is_transient_accept_error(&e) => {
                    eprintln!("amqp-tap: accept: {e}");
                    continue;
                }
                Err(e) => {
                    drop(handoff);
                    let _ = decoder.join();
                    return Err(e);
                }
            };
            next_id += 1;
            let id = next_id;
            let upstream = self.upstream;
            let spin = self.spin;
            let coalescing = self.coalescing;
            let handoff = Arc::clone(&handoff);
            let spawned = thread::Builder::new()
                .name(format!("amqp-tap-conn-{id}"))
                .spawn(move || {
                    if let Err(e) = handle(id, client, upstream, spin, coalescing, handoff) {
                        eprintln!("amqp-tap: connection {id}: {e}");
                    }
                });
            if let Err(e) = spawned {
                eprintln!("amqp-tap: cannot start a thread for connection {id}: {e}");
            }
        }
        Ok(())
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24) // ENFILE, EMFILE
}

/// One client: connects upstream and runs the two directions.
fn handle(
    id: u64,
    client: TcpStream,
    upstream: SocketAddr,
    spin: Duration,
    coalescing: bool,
    handoff: Arc<Handoff>,
) -> io::Result<()> {
    let client_addr = client.peer_addr()?;
    let front_local = client.local_addr()?;
    let server = match TcpStream::connect(upstream) {
        Ok(s) => s,
        Err(e) => {
            let _ = client.shutdown(Shutdown::Both);
            return Err(io::Error::new(
                e.kind(),
                format!("connecting to {upstream}: {e}"),
            ));
        }
    };
    // Latency matters more than segment count for AMQP's small frames.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let bulk = Arc::new(Bulk::new());
    handoff.push(Out::Open {
        id,
        ts: Ts::now(),
        front: (client_addr, front_local),
        back: (server.local_addr()?, upstream),
        bulk: Arc::clone(&bulk),
    });
    let up = Pump {
        id,
        dir: Dir::C2S,
        from: client.try_clone()?,
        to: server.try_clone()?,
        spin,
        coalescing: Coalescing::new(coalescing),
        frames: FrameCounter::default(),
        bulk: Arc::clone(&bulk),
        window: Coalescing::WINDOW,
        handoff: Arc::clone(&handoff),
    };
    let down = Pump {
        id,
        dir: Dir::S2C,
        from: server,
        to: client,
        spin,
        coalescing: Coalescing::new(coalescing),
        frames: FrameCounter::default(),
        bulk,
        window: Coalescing::WINDOW,
        handoff,
    };
    let t = thread::Builder::new()
        .name(format!("amqp-tap-conn-{id}-c2s"))
        .spawn(move || up.run())?;
    down.run();
    let _ = t.join();
    Ok(())
}

/// One direction of one connection.
struct Pump {
    id: u64,
    dir: Dir,
    from: TcpStream,
    to: TcpStream,
    /// See [`Proxy::with_spin`].
    spin: Duration,
    /// See [`Proxy::with_coalescing`].
    coalescing: Coalescing,
    frames: FrameCounter,
    /// When either direction last carried bulk.
    bulk: Arc<Bulk>,
    /// How long a coalescing read waits.
    window: Duration,
    handoff: Arc<Handoff>,
}

impl Pump {
    fn run(mut self) {
        let mut buf = vec![0u8; 1 << 16];
        let mut end = End::Closed;
        // Until when the socket is polled without blocking (see `spin`).
        let mut spin_until: Option<Instant> = None;
        loop {
            let read = if let Some(deadline) = spin_until {
                match recv_now(&self.from, &mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() < deadline {
                            thread::yield_now();
                        } else {
                            spin_until = None;
                        }
                        continue;
                    }
                    r => r,
                }
            } else if self.coalescing.engaged() {
                // Wait for the low-water mark at most the window, then
                // take what is there.
                // Either way without blocking: `poll` also reports a socket
                // readable below the mark (when its receive window runs
                // low), and a blocking read would then wait for the mark.
                match poll_readable(&self.from, self.window) {
                    Ok(_) => recv_now(&self.from, &mut buf),
                    Err(e) => Err(e),
                }
            } else {
                self.from.read(&mut buf)
            };
            let (n, frames) = match read {
                Ok(0) => break,
                Ok(n) => (n, self.frames.count(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A coalescing read's window expired empty.
                Err(e)
                    if self.coalescing.engaged()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    self.coalesce(None);
                    continue;
                }
                Err(_) => {
                    end = End::SenderReset;
                    break;
                }
            };
            // Recorded before it is forwarded: once forwarded, the peer's
            // answer may be read, and recorded, by the other direction's
            // thread before this one runs again.
            self.handoff.data(self.id, self.dir, &buf[..n]);
            // Blocking sockets: nothing here makes them non-blocking (polling
            // uses `MSG_DONTWAIT`).
            if self.to.write_all(&buf[..n]).is_err() {
                end = End::ReceiverReset;
                break;
            }
            // Request/response traffic is polled for; bulk in either
            // direction, and for a while after it, is not: then this
            // direction reads in batches (see `coalesce`), and so do the
            // confirms of a deep publishing pipeline (see HOLD_WINDOW).
            let now = Instant::now();
            let bulk = frames >= SPIN_MAX_FRAMES || n >= Coalescing::ENGAGE;
            let quiet = self.bulk.may_poll(bulk, now);
            self.coalesce(Some((n, frames)));
            if self.dir == Dir::S2C
                && !quiet
                && !self.coalescing.engaged()
                && self.bulk.confirms_due.load(Ordering::Relaxed) >= CONFIRM_DEPTH
            {
                self.hold();
            }
            spin_until = (CAN_SPIN && !self.spin.is_zero() && quiet).then(|| now + self.spin);
        }
        // Recorded first: closing ends the other direction, whose end must
        // not be recorded before the reason for it.
        self.handoff.push(Out::Fin {
            id: self.id,
            ts: Ts::now(),
            dir: self.dir,
            end,
        });
        if end == End::Closed {
            let _ = self.to.shutdown(Shutdown::Write);
        } else {
            let _ = self.to.shutdown(Shutdown::Both);
            let _ = self.from.shutdown(Shutdown::Both);
        }
    }
}

impl Pump {
    /// Adjusts the low-water mark after a read (see [`Proxy::with_coalescing`]);
    /// reads wait at most [`Coalescing::WINDOW`] while it is raised.
    fn coalesce(&mut self, got: Option<(usize, u64)>) {
        self.window = Coalescing::WINDOW;
        if let Some(lowat) = self.coalescing.after_read(got) {
            self.set_lowat(lowat);
        }
    }

    /// Confirms of a deep pipeline: the next read waits [`HOLD_WINDOW`] for
    /// company.
    fn hold(&mut self) {
        self.window = HOLD_WINDOW;
        if let Some(lowat) = self.coalescing.hold() {
            self.set_lowat(lowat);
        }
    }

    fn set_lowat(&mut self, lowat: usize) {
        if !matches!(set_recv_lowat(&self.from, lowat), Ok(true)) {
            self.coalescing.disable();
            let _ = set_recv_lowat(&self.from, 1);
        }
    }
}

/// Renders decoded events into a buffer, written out in large pieces.
struct Render<'a> {
    printer: &'a Printer,
    buf: Vec<u8>,
}

impl Sink for Render<'_> {
    fn event(&mut self, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        self.printer.render(&mut self.buf, conn, dir, at, event);
    }
}

/// Output is written when this much is rendered, and every
/// [`OUTPUT_PERIOD`].
const OUTPUT_CHUNK: usize = 1 << 16;

/// A connection as the decoding thread follows it.
struct Tapped {
    conn: Connection,
    /// Shared with its forwarding threads.
    bulk: Arc<Bulk>,
    /// Both legs, when a pcap is written.
    legs: Option<[TcpLeg; 2]>,
    /// Directions that have ended.
    ended: u8,
    /// The connection was reset and the proxy closed both sockets: the
    /// other direction's end that follows puts nothing more on the wire.
    reset: bool,
}

/// Decodes every connection and writes output and capture, in batches every
/// [`OUTPUT_PERIOD`], until every forwarding thread and the listener are
/// gone.
fn decode_thread(
    handoff: &Arc<Handoff>,
    printer: &Printer,
    mut out: Box<dyn Write + Send>,
    mut pcap: Option<PcapWriter<Box<dyn Write + Send>>>,
) {
    let mut conns: HashMap<u64, Tapped> = HashMap::new();
    let mut render = Render {
        printer,
        buf: Vec::with_capacity(2 * OUTPUT_CHUNK),
    };
    let mut batch = Batch::default();
    let mut failed = false;
    let mut report = |r: io::Result<()>| {
        if let Err(e) = r {
            if !failed {
                eprintln!("amqp-tap: writing output: {e}");
                failed = true;
            }
        }
    };
    loop {
        thread::sleep(OUTPUT_PERIOD);
        // Only this thread's reference left: nothing more will come once
        // this batch is taken.
        let last = Arc::strong_count(handoff) == 1;
        handoff.take(&mut batch);
        let mut data = &batch.data[..];
        for event in batch.events.drain(..) {
            let bytes = match event {
                Out::Data { len, .. } => {
                    let (bytes, rest) = data.split_at(len.min(data.len()));
                    data = rest;
                    bytes
                }
                _ => &[],
            };
            report(step(event, bytes, &mut conns, &mut render, &mut pcap));
            if render.buf.len() >= OUTPUT_CHUNK {
                report(out.write_all(&render.buf));
                render.buf.clear();
            }
        }
        if !render.buf.is_empty() {
            report(out.write_all(&render.buf));
            render.buf.clear();
        }
        for t in conns.values() {
            let due = u64::try_from(t.conn.confirms_outstanding()).unwrap_or(u64::MAX);
            t.bulk.confirms_due.store(due, Ordering::Relaxed);
        }
        report(out.flush());
        if let Some(w) = &mut pcap {
            report(w.flush());
        }
        if last {
            return;
        }
    }
}

/// One event; `bytes` is the data of [`Out::Data`].
fn step(
    msg: Out,
    bytes: &[u8],
    conns: &mut HashMap<u64, Tapped>,
    render: &mut Render<'_>,
    pcap: &mut Option<PcapWriter<Box<dyn Write + Send>>>,
) -> io::Result<()> {
    let at = |ts| At {
        ts: Some(ts),
        pkt: None,
    };
    match msg {
        Out::Open {
            id,
            ts,
            front,
            back,
            bulk,
        } => {
            let mut legs = None;
            if let Some(w) = pcap {
                let mut l = [
                    TcpLeg::new(front.0, front.1, ts, 2 * id),
                    TcpLeg::new(back.0, back.1, ts, 2 * id + 1),
                ];
                l[0].handshake(w, ts)?;
                l[1].handshake(w, ts)?;
                legs = Some(l);
            }
            // Bodies are kept only as far as they are printed.
            let conn = Connection::new(
                ConnInfo::tcp(front.0, back.1),
                StreamStart::Beginning,
                StreamStart::Beginning,
            )
            .with_body_limit(render.printer.options().max_body);
            conns.insert(
                id,
                Tapped {
                    conn,
                    bulk,
                    legs,
                    ended: 0,
                    reset: false,
                },
            );
        }
        Out::Data { id, ts, dir, .. } => {
            let Some(t) = conns.get_mut(&id) else {
                return Ok(());
            };
            t.conn.feed(dir, at(ts), bytes, render);
            if let (Some(w), Some([front, back])) = (pcap.as_mut(), t.legs.as_mut()) {
                match dir {
                    // Client → proxy, then proxy → upstream.
                    Dir::C2S => {
                        front.data(w, ts, true, bytes)?;
                        back.data(w, ts, true, bytes)?;
                    }
                    // Upstream → proxy, then proxy → client.
                    Dir::S2C => {
                        back.data(w, ts, false, bytes)?;
                        front.data(w, ts, false, bytes)?;
                    }
                }
            }
        }
        Out::Fin { id, ts, dir, end } => {
            let Some(t) = conns.get_mut(&id) else {
                return Ok(());
            };
            t.conn.finish(dir, at(ts), render);
            t.ended += 1;
            let done = t.ended == 2;
            let already_reset = t.reset;
            t.reset |= end != End::Closed;
            if let (Some(w), Some([front, back]), false) =
                (pcap.as_mut(), t.legs.as_mut(), already_reset)
            {
                // Each leg's side that sent this direction's bytes: the
                // client on the client's leg, the proxy on the upstream leg
                // (and the reverse for the server's direction).
                let from_client = dir == Dir::C2S;
                let (sender, receiver) = if from_client {
                    (front, back)
                } else {
                    (back, front)
                };
                match end {
                    End::Closed => {
                        sender.fin(w, ts, from_client)?;
                        receiver.fin(w, ts, from_client)?;
                    }
                    End::SenderReset => {
                        sender.rst(w, ts, from_client)?;
                        receiver.fin(w, ts, from_client)?;
                    }
                    End::ReceiverReset => {
                        receiver.rst(w, ts, !from_client)?;
                        sender.fin(w, ts, !from_client)?;
                    }
                }
            }
            if done {
                conns.remove(&id);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Bulk, BULK_QUIET_US};
    use std::time::{Duration, Instant};

    #[test]
    fn polling_pauses_for_a_while_after_bulk() {
        let b = Bulk::new();
        let t0 = Instant::now();
        assert!(b.may_poll(false, t0));
        assert!(!b.may_poll(true, t0 + Duration::from_millis(1)));
        let quiet = Duration::from_micros(BULK_QUIET_US);
        assert!(!b.may_poll(false, t0 + Duration::from_millis(2)));
        assert!(!b.may_poll(false, t0 + quiet));
        assert!(b.may_poll(false, t0 + Duration::from_millis(1) + quiet));
    }
}
