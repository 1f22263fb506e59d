//! What the decoder reports: frames, messages, errors and stream notices, each
//! with where and when it was seen.

use std::fmt;
use std::net::SocketAddr;

use amqp_protocol::{Content, Error, Frame, MethodId, ProtocolHeader};

/// Which peer sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server.
    C2S,
    /// Server to client.
    S2C,
}

impl Dir {
    /// `c2s` or `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::C2S => "c2s",
            Dir::S2C => "s2c",
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::C2S => Dir::S2C,
            Dir::S2C => Dir::C2S,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Dir::C2S => 0,
            Dir::S2C => 1,
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A capture timestamp: seconds and nanoseconds since the Unix epoch, with
/// the precision the capture records (microseconds or nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ts {
    /// Seconds since the epoch.
    pub secs: u64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// Whether the capture has nanosecond precision (printed with 9 digits
    /// instead of 6).
    pub nano_precision: bool,
}

impl Ts {
    /// Now, from the system clock (microsecond precision).
    pub fn now() -> Ts {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ts {
            secs: d.as_secs(),
            nanos: d.subsec_micros() * 1000,
            nano_precision: false,
        }
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u128 {
        u128::from(self.secs) * 1_000_000_000 + u128::from(self.nanos)
    }

    /// `self - earlier` in seconds (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Ts) -> f64 {
        (self.as_nanos() as f64 - earlier.as_nanos() as f64) / 1e9
    }
}

/// `1700000000.123456`: seconds since the epoch, exactly as recorded.
impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nano_precision {
            write!(f, "{}.{:09}", self.secs, self.nanos)
        } else {
            write!(f, "{}.{:06}", self.secs, self.nanos / 1000)
        }
    }
}

/// When and where in the input an event was seen: the timestamp and number
/// (1-based, as Wireshark counts) of the packet that completed it. Both are
/// absent for raw streams; the proxy has timestamps but no packet numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct At {
    /// Capture or wall-clock time.
    pub ts: Option<Ts>,
    /// Packet number in the capture file.
    pub pkt: Option<u64>,
}

/// The two endpoints of a connection (absent for a raw stream), with their
/// renderings computed once.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// The server's address.
    pub server: Option<SocketAddr>,
    pub(crate) text: String,
    pub(crate) json: Vec<u8>,
}

impl ConnInfo {
    /// A TCP connection between `client` and `server`.
    pub fn tcp(client: SocketAddr, server: SocketAddr) -> Self {
        let mut json = b"{\"client\":".to_vec();
        crate::json::str(&mut json, &client.to_string());
        json.extend_from_slice(b",\"server\":");
        crate::json::str(&mut json, &server.to_string());
        json.push(b'}');
        ConnInfo {
            client: Some(client),
            server: Some(server),
            text: format!("{client}-{server}"),
            json,
        }
    }

    /// A raw byte stream: no endpoints.
    pub fn raw() -> Self {
        ConnInfo {
            client: None,
            server: None,
            text: "raw".to_owned(),
            json: b"null".to_vec(),
        }
    }
}

/// Why the decoder looked for a frame boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncReason {
    /// The capture starts after the connection's first byte.
    MidStream,
    /// Bytes are missing from the capture.
    Gap,
    /// The framing broke (unknown frame type, bad frame-end octet, absurd size).
    Error,
}

impl ResyncReason {
    /// `mid-stream`, `gap` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResyncReason::MidStream => "mid-stream",
            ResyncReason::Gap => "gap",
            ResyncReason::Error => "error",
        }
    }
}

/// A publish settled by a broker's basic.ack or basic.nack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The publish's sequence number on its channel (1 for the first publish
    /// after confirm.select).
    pub seq: u64,
    /// When the publish was seen.
    pub published: At,
}

/// Publisher-confirm bookkeeping attached to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confirm<'a> {
    /// Nothing to say.
    #[default]
    None,
    /// A basic.publish on a channel in confirm mode, with its sequence number.
    Published(u64),
    /// A broker's basic.ack or basic.nack, with the publishes it settles (in
    /// sequence order; empty when it settles nothing outstanding).
    Settled(&'a [Settled]),
}

/// One thing the decoder reports.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The 8-byte protocol header.
    ProtocolHeader(ProtocolHeader),
    /// A decoded frame.
    Frame {
        /// The frame.
        frame: &'a Frame,
        /// Its size on the wire, header and end octet included.
        wire_len: usize,
        /// For header and body frames, the method whose content they carry.
        content_of: Option<MethodId>,
        /// Publisher-confirm bookkeeping.
        confirm: Confirm<'a>,
    },
    /// A complete message (method, header and body), after its last frame.
    Message {
        /// Its channel.
        channel: u16,
        /// The message.
        content: &'a Content,
    },
    /// Bytes that could not be decoded, or frames the protocol forbids here.
    Error {
        /// The channel, when the frame header was readable.
        channel: Option<u16>,
        /// The protocol crate's typed error.
        error: &'a Error,
    },
    /// The decoder found a frame boundary after skipping bytes.
    Resync {
        /// Bytes skipped.
        skipped: u64,
        /// Why it had to look.
        reason: ResyncReason,
    },
    /// Bytes of the stream are missing from the capture.
    Gap {
        /// How many.
        missing: u64,
    },
    /// The input ended inside a frame.
    Incomplete {
        /// Bytes of the unfinished frame.
        pending: usize,
    },
}

/// Receives the decoder's events.
pub trait Sink {
    /// One event of connection `conn`, direction `dir`.
    fn event(&mut self, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>);

    /// The input has no more bytes ready for now (a live input is about to
    /// block): a good moment to flush.
    fn idle(&mut self) {}
}
