//! The decoding proxy: forwards every byte unchanged between clients and an
//! upstream broker, one pair of threads per connection, and decodes a copy.
//!
//! The forwarding threads only read, write, and hand a timestamped copy of
//! what they forwarded to one decoding thread; they never wait for it. That
//! thread decodes every connection, writes the output (and the optional
//! pcap), and collects its work every 20 ms rather than being woken for each
//! chunk: a wake-up and a write per message on the forwarding path would add
//! to every round trip. What cannot be decoded is forwarded all the same and
//! reported as an error event.
//!
//! Closing: end of stream on one side is passed on as a half-close (FIN) to
//! the other, so a peer that closes its side cleanly closes the other side
//! cleanly; a reset or a write error closes both sockets of the connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crate::conn::{Connection, StreamStart};
use crate::event::{At, ConnInfo, Dir, Event, Sink, Ts};
use crate::output::Printer;
use crate::pcap_out::{PcapWriter, TcpLeg};
use crate::sys::{poll_readable, recv_now, set_recv_lowat, Coalescing, FrameCounter};

/// How often the decoding thread collects what was forwarded. It never waits
/// on the channel: a receiver parked there would be woken by every chunk.
/// Live output lags by at most this much.
const OUTPUT_PERIOD: Duration = Duration::from_millis(20);

/// What the forwarding threads tell the decoding thread.
enum Out {
    Open {
        id: u64,
        ts: Ts,
        /// Client side: the client and the proxy's listening address.
        front: (SocketAddr, SocketAddr),
        /// Upstream side: the proxy's local address and the upstream.
        back: (SocketAddr, SocketAddr),
    },
    Data {
        id: u64,
        ts: Ts,
        dir: Dir,
        bytes: Vec<u8>,
    },
    /// Direction `dir` ended (its sender closed its side, or the connection
    /// was reset).
    Fin { id: u64, ts: Ts, dir: Dir },
}

/// How long a forwarding thread keeps polling its socket after data went
/// through, by default, before it blocks again: none (see
/// [`Proxy::with_spin`]).
pub const DEFAULT_SPIN: Duration = Duration::ZERO;

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

    /// After forwarding data, each direction polls its socket without
    /// blocking for up to `spin` before it blocks in `read` again
    /// ([`DEFAULT_SPIN`] unless changed). A thread woken from a blocking
    /// read costs a scheduler wake-up, which on a virtual machine with
    /// idle CPUs is most of what a relay adds to a request/response round
    /// trip; polling hides it while traffic flows, at the price of CPU time
    /// during the spin (yielding to other runnable threads meanwhile), which
    /// bulk traffic on a busy machine pays in throughput: a spin of 200 µs
    /// takes a publish/consume round trip through the proxy below the
    /// direct one on a 2-core VM, and costs confirmed-publish throughput
    /// there. Off by default.
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
    /// back by up to 2 ms. On by default; it applies while `spin` is zero.
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
        let (tx, rx) = mpsc::channel();
        let pcap = pcap.map(PcapWriter::new).transpose()?;
        let printer = self.printer;
        let decoder = thread::Builder::new()
            .name("amqp-tap-decode".into())
            .spawn(move || decode_thread(rx, &printer, out, pcap))?;
        let mut next_id = 0u64;
        for client in self.listener.incoming() {
            let client = match client {
                Ok(c) => c,
                Err(e) if is_transient_accept_error(&e) => {
                    eprintln!("amqp-tap: accept: {e}");
                    continue;
                }
                Err(e) => {
                    drop(tx);
                    let _ = decoder.join();
                    return Err(e);
                }
            };
            next_id += 1;
            let id = next_id;
            let upstream = self.upstream;
            let spin = self.spin;
            let coalescing = self.coalescing && spin.is_zero();
            let tx = tx.clone();
            let spawned = thread::Builder::new()
                .name(format!("amqp-tap-conn-{id}"))
                .spawn(move || {
                    if let Err(e) = handle(id, client, upstream, spin, coalescing, tx) {
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
    tx: Sender<Out>,
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
    let _ = tx.send(Out::Open {
        id,
        ts: Ts::now(),
        front: (client_addr, front_local),
        back: (server.local_addr()?, upstream),
    });
    let up = Pump {
        id,
        dir: Dir::C2S,
        from: client.try_clone()?,
        to: server.try_clone()?,
        spin,
        coalescing: Coalescing::new(coalescing),
        frames: FrameCounter::default(),
        tx: tx.clone(),
    };
    let down = Pump {
        id,
        dir: Dir::S2C,
        from: server,
        to: client,
        spin,
        coalescing: Coalescing::new(coalescing),
        frames: FrameCounter::default(),
        tx,
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
    tx: Sender<Out>,
}

impl Pump {
    fn run(mut self) {
        let mut buf = vec![0u8; 1 << 16];
        let mut reset = false;
        // Since when the socket is polled without blocking (see `spin`).
        let mut polling_since: Option<Instant> = None;
        loop {
            let read = if self.coalescing.engaged() {
                // Wait for the low-water mark at most the window, then
                // take what is there.
                // Either way without blocking: `poll` also reports a socket
                // readable below the mark (when its receive window runs
                // low), and a blocking read would then wait for the mark.
                match poll_readable(&self.from, Coalescing::WINDOW) {
                    Ok(_) => recv_now(&self.from, &mut buf),
                    Err(e) => Err(e),
                }
            } else {
                self.from.read(&mut buf)
            };
            let n = match read {
                Ok(0) => break,
                Ok(n) => {
                    let frames = self.frames.count(&buf[..n]);
                    self.coalesce(Some((n, frames)));
                    n
                }
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match polling_since {
                        Some(t) if t.elapsed() < self.spin => thread::yield_now(),
                        _ => {
                            // Back to blocking reads; should that fail, the
                            // socket stays non-blocking and is polled on.
                            if self.from.set_nonblocking(false).is_ok() {
                                polling_since = None;
                            }
                        }
                    }
                    continue;
                }
                Err(_) => {
                    reset = true;
                    break;
                }
            };
            // (Should switching to non-blocking fail, reads stay blocking:
            // correct, only slower.)
            if !self.spin.is_zero()
                && (polling_since.is_some() || self.from.set_nonblocking(true).is_ok())
            {
                polling_since = Some(Instant::now());
            }
            if write_all(&mut self.to, &buf[..n]).is_err() {
                reset = true;
                break;
            }
            let _ = self.tx.send(Out::Data {
                id: self.id,
                ts: Ts::now(),
                dir: self.dir,
                bytes: buf[..n].to_vec(),
            });
        }
        if reset {
            let _ = self.to.shutdown(Shutdown::Both);
            let _ = self.from.shutdown(Shutdown::Both);
        } else {
            let _ = self.to.shutdown(Shutdown::Write);
        }
        let _ = self.tx.send(Out::Fin {
            id: self.id,
            ts: Ts::now(),
            dir: self.dir,
        });
    }
}

impl Pump {
    /// Adjusts the low-water mark after a read (see [`Proxy::with_coalescing`]);
    /// reads wait at most [`Coalescing::WINDOW`] while it is raised.
    fn coalesce(&mut self, got: Option<(usize, u64)>) {
        let Some(lowat) = self.coalescing.after_read(got) else {
            return;
        };
        if !matches!(set_recv_lowat(&self.from, lowat), Ok(true)) {
            self.coalescing.disable();
            let _ = set_recv_lowat(&self.from, 1);
        }
    }
}

/// `write_all` that also waits out `WouldBlock`: the other direction's
/// thread may have made this socket non-blocking (the two threads' handles
/// of one socket share its file status flags) while it polls.
fn write_all(to: &mut TcpStream, mut buf: &[u8]) -> io::Result<()> {
    let mut waits = 0u32;
    while !buf.is_empty() {
        match to.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                waits = 0;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The peer is slow to read: yield a few times, then sleep
                // a little, rather than spin at full speed.
                waits += 1;
                if waits < 64 {
                    thread::yield_now();
                } else {
                    thread::sleep(Duration::from_micros(100));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Renders decoded events into the output buffer.
struct Render<'a, W: Write> {
    printer: &'a Printer,
    out: &'a mut W,
    buf: Vec<u8>,
}

impl<W: Write> Sink for Render<'_, W> {
    fn event(&mut self, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        self.printer.render(&mut self.buf, conn, dir, at, event);
    }
}

impl<W: Write> Render<'_, W> {
    fn write(&mut self) -> io::Result<()> {
        let r = self.out.write_all(&self.buf);
        self.buf.clear();
        r
    }
}

/// A connection as the decoding thread follows it.
struct Tapped {
    conn: Connection,
    /// Both legs, when a pcap is written.
    legs: Option<[TcpLeg; 2]>,
    /// Directions that have ended.
    ended: u8,
}

/// Decodes every connection and writes output and capture, in batches every
/// [`OUTPUT_PERIOD`].
fn decode_thread(
    rx: Receiver<Out>,
    printer: &Printer,
    out: Box<dyn Write + Send>,
    mut pcap: Option<PcapWriter<Box<dyn Write + Send>>>,
) {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut conns: HashMap<u64, Tapped> = HashMap::new();
    let mut failed = false;
    let mut open = true;
    while open {
        thread::sleep(OUTPUT_PERIOD);
        loop {
            let msg = match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            };
            let mut render = Render {
                printer,
                out: &mut out,
                buf: Vec::new(),
            };
            let r = step(msg, &mut conns, &mut render, &mut pcap);
            if let Err(e) = r.and_then(|()| render.write()) {
                if !failed {
                    eprintln!("amqp-tap: writing output: {e}");
                    failed = true;
                }
            }
        }
        let _ = out.flush();
        if let Some(w) = &mut pcap {
            let _ = w.flush();
        }
    }
}

fn step<W: Write>(
    msg: Out,
    conns: &mut HashMap<u64, Tapped>,
    render: &mut Render<'_, W>,
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
        } => {
            let mut legs = None;
            if let Some(w) = pcap {
                let mut l = [TcpLeg::new(front.0, front.1), TcpLeg::new(back.0, back.1)];
                l[0].handshake(w, ts)?;
                l[1].handshake(w, ts)?;
                legs = Some(l);
            }
            let conn = Connection::new(
                ConnInfo::tcp(front.0, back.1),
                StreamStart::Beginning,
                StreamStart::Beginning,
            );
            conns.insert(
                id,
                Tapped {
                    conn,
                    legs,
                    ended: 0,
                },
            );
        }
        Out::Data { id, ts, dir, bytes } => {
            let Some(t) = conns.get_mut(&id) else {
                return Ok(());
            };
            t.conn.feed(dir, at(ts), &bytes, render);
            if let (Some(w), Some([front, back])) = (pcap.as_mut(), t.legs.as_mut()) {
                match dir {
                    // Client → proxy, then proxy → upstream.
                    Dir::C2S => {
                        front.data(w, ts, true, &bytes)?;
                        back.data(w, ts, true, &bytes)?;
                    }
                    // Upstream → proxy, then proxy → client.
                    Dir::S2C => {
                        back.data(w, ts, false, &bytes)?;
                        front.data(w, ts, false, &bytes)?;
                    }
                }
            }
        }
        Out::Fin { id, ts, dir } => {
            let Some(t) = conns.get_mut(&id) else {
                return Ok(());
            };
            t.conn.finish(dir, at(ts), render);
            t.ended += 1;
            let done = t.ended == 2;
            if let (Some(w), Some([front, back])) = (pcap.as_mut(), t.legs.as_mut()) {
                let from_client = dir == Dir::C2S;
                let (first, second) = if from_client {
                    (front, back)
                } else {
                    (back, front)
                };
                first.fin(w, ts, from_client)?;
                second.fin(w, ts, from_client)?;
            }
            if done {
                conns.remove(&id);
            }
        }
    }
    Ok(())
}
