//! `amqp-tap`: AMQP 0-9-1 seen from the outside, with `amqp-protocol` as the
//! only protocol code.
//!
//! - [`CaptureDecoder`] follows every TCP connection of a pcap or pcapng
//!   capture (both directions, reordering, retransmissions, IPv4 and IPv6,
//!   several connections at once) and decodes its frames;
//! - [`Connection`] decodes the two byte streams of one connection, wherever
//!   they come from: a capture, a raw file, or the [`proxy`];
//! - a [`Sink`] receives what is decoded as [`Event`]s; [`Printer`] renders
//!   them as text lines or JSON objects, [`Stats`] summarises them;
//! - [`proxy::Proxy`] forwards connections unchanged and decodes a copy, and
//!   [`pcap_out`] writes what it forwarded as a capture.
//!
//! The command-line tool (`amqp-tap decode`, `amqp-tap proxy`) is a thin layer
//! over these; its README documents the output and the JSON schema.
//!
//! ```
//! use amqp_protocol::{basic, Frame, ShortStr};
//! use amqp_tap::{At, ConnInfo, Connection, Dir, Format, Options, Printer, StreamStart, WriterSink};
//!
//! let mut bytes = b"AMQP\x00\x00\x09\x01".to_vec();
//! let publish = basic::Publish { routing_key: ShortStr::from_static("jobs"), ..Default::default() };
//! Frame::method(1, publish).encode(&mut bytes);
//!
//! let printer = Printer::new(Options { format: Format::Json, ..Options::default() });
//! let mut sink = WriterSink::new(printer, Vec::new(), false);
//! let mut conn = Connection::new(ConnInfo::raw(), StreamStart::Beginning, StreamStart::Beginning);
//! conn.feed(Dir::C2S, At::default(), &bytes, &mut sink);
//! let out = String::from_utf8(sink.into_inner().unwrap()).unwrap();
//! assert!(out.lines().nth(1).unwrap().contains(r#""method":"basic.publish""#));
//! ```
// The socket calls std lacks come from the workspace's socket crate
// (`amqp-socket`), the only one with `unsafe` code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod capture;
mod capture_error;
mod conn;
mod event;
mod json;
mod output;
pub mod pcap_out;
pub mod proxy;
mod stats;
mod stream;
mod tcp;

use std::io::{self, Read, Write};

pub use capture::{CaptureDecoder, CaptureReport};
pub use capture_error::{CaptureError, CaptureFormat};
pub use conn::{Connection, StreamStart};
pub use event::{At, Confirm, ConnInfo, Dir, Event, ResyncReason, Settled, Sink, Ts};
pub use output::{Format, MethodFilter, Options, Printer};
pub use stats::Stats;

/// Port AMQP brokers listen on.
pub const AMQP_PORT: u16 = 5672;

/// A sink that renders selected events into a writer (buffered), or with
/// statistics on, only counts them.
#[derive(Debug)]
pub struct WriterSink<W: Write> {
    printer: Printer,
    buf: Vec<u8>,
    out: W,
    stats: Option<Stats>,
    error: Option<io::Error>,
    /// Flush after every event batch (live input) rather than when the buffer
    /// fills.
    live: bool,
}

impl<W: Write> WriterSink<W> {
    /// Renders into `out`, in 64 KiB writes; with `live` (standard input
    /// being read as it comes), also whenever the input pauses.
    pub fn new(printer: Printer, out: W, live: bool) -> Self {
        WriterSink {
            printer,
            buf: Vec::with_capacity(1 << 16),
            out,
            stats: None,
            error: None,
            live,
        }
    }

    /// Counts instead of printing; the summary is written by
    /// [`into_inner`](Self::into_inner).
    pub fn with_stats(mut self) -> Self {
        self.stats = Some(Stats::default());
        self
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) {
        if self.error.is_none() && !self.buf.is_empty() {
            let r = self.out.write_all(&self.buf).and_then(|()| {
                if self.live {
                    self.out.flush()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = r {
                self.error = Some(e);
            }
        }
        self.buf.clear();
    }

    /// Writes the rest (and the statistics, if counting) and returns the
    /// writer, or the first write error.
    pub fn into_inner(mut self) -> io::Result<W> {
        if let Some(stats) = self.stats.take() {
            match self.printer.options().format {
                Format::Text => self.buf.extend_from_slice(stats.text().as_bytes()),
                Format::Json => self.buf.extend_from_slice(&stats.json()),
            }
        }
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Sink for WriterSink<W> {
    fn event(&mut self, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        if !self.printer.options().selects(event) {
            return;
        }
        match &mut self.stats {
            Some(stats) => stats.record(conn, dir, at, event),
            None => self.printer.render(&mut self.buf, conn, dir, at, event),
        }
        if self.buf.len() >= 1 << 16 {
            self.flush();
        }
    }

    fn idle(&mut self) {
        if self.live {
            self.flush();
        }
    }
}

/// Decodes one direction's raw bytes read from `input` (the protocol header
/// first, or directly a frame), as direction `dir` of a connection without
/// endpoints.
pub fn decode_raw<W: Write>(
    mut input: impl Read,
    dir: Dir,
    sink: &mut WriterSink<W>,
) -> io::Result<()> {
    // Bodies are kept only as far as they are printed.
    let mut conn = Connection::new(
        ConnInfo::raw(),
        StreamStart::Beginning,
        StreamStart::Beginning,
    )
    .with_body_limit(sink.printer.options().max_body);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        conn.feed(dir, At::default(), &chunk[..n], sink);
        sink.idle();
    }
    conn.finish(dir, At::default(), sink);
    Ok(())
}
