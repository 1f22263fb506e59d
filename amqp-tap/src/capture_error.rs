//! What is wrong with a capture that cannot be read, said in the capture
//! format's terms (file header, section header block, record, block, byte
//! offset) rather than the parsing library's.

use std::fmt;
use std::io::{self, Read};

/// The two capture formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// libpcap's format: a 24-byte file header, then records.
    Pcap,
    /// pcapng: blocks, starting with a section header block.
    Pcapng,
}

impl CaptureFormat {
    fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::Pcapng => "pcapng",
        }
    }

    /// What opens a capture of this format.
    fn header(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "file header (24 bytes)",
            CaptureFormat::Pcapng => "section header block",
        }
    }

    /// What follows it.
    fn unit(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "record",
            CaptureFormat::Pcapng => "block",
        }
    }
}

/// Why a capture could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureError {
    /// The input is empty.
    Empty,
    /// The input does not start as a pcap or pcapng capture does.
    NotACapture {
        /// Its first bytes (up to 8).
        start: Vec<u8>,
    },
    /// The input ends inside the header that opens the capture.
    TruncatedHeader {
        /// The format its first bytes announce.
        format: CaptureFormat,
        /// How many bytes there are.
        have: usize,
    },
    /// The header that opens the capture is malformed.
    BadHeader {
        /// The format its first bytes announce.
        format: CaptureFormat,
    },
    /// A record (pcap) or block (pcapng) is malformed.
    Malformed {
        /// The capture's format.
        format: CaptureFormat,
        /// Where it starts, in bytes from the start of the capture.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
    /// A record or block is larger than 1 GiB.
    TooLarge {
        /// The capture's format.
        format: CaptureFormat,
        /// Where it starts, in bytes from the start of the capture.
        offset: u64,
    },
    /// Reading the input failed.
    Io(io::Error),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Empty => f.write_str("the capture is empty"),
            CaptureError::NotACapture { start } => {
                f.write_str("not a pcap or pcapng capture: it starts with")?;
                for b in start {
                    write!(f, " {b:02x}")?;
                }
                f.write_str(
                    ", where a pcap capture starts with a1 b2 c3 d4 or a1 b2 3c 4d \
                     (either byte order) and a pcapng capture with 0a 0d 0d 0a",
                )
            }
            CaptureError::TruncatedHeader { format, have } => write!(
                f,
                "truncated {} capture: it ends inside its {}, after {have} bytes",
                format.name(),
                format.header()
            ),
            CaptureError::BadHeader { format } => write!(
                f,
                "malformed {} capture: its {} does not parse",
                format.name(),
                format.header()
            ),
            CaptureError::Malformed {
                format,
                offset,
                what,
            } => write!(
                f,
                "malformed {} {} at byte {offset}: {what}",
                format.name(),
                format.unit()
            ),
            CaptureError::TooLarge { format, offset } => write!(
                f,
                "the {} {} at byte {offset} is larger than 1 GiB",
                format.name(),
                format.unit()
            ),
            CaptureError::Io(e) => write!(f, "reading the capture: {e}"),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Io(e) => Some(e),
            _ => None,
        }
    }
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads the first bytes of `input` (up to 28, a pcapng section header
/// block's least size) and says which format they announce.
pub(crate) fn sniff(input: &mut impl Read) -> Result<(CaptureFormat, Vec<u8>), CaptureError> {
    let mut start = vec![0u8; 28];
    let mut have = 0;
    while have < start.len() {
        match input.read(&mut start[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CaptureError::Io(e)),
        }
    }
    start.truncate(have);
    if have == 0 {
        return Err(CaptureError::Empty);
    }
    let magic = &start[..have.min(4)];
    let format = if PCAP_MAGICS.iter().any(|m| m.starts_with(magic)) {
        CaptureFormat::Pcap
    } else if PCAPNG_MAGIC.starts_with(magic) {
        CaptureFormat::Pcapng
    } else {
        start.truncate(8);
        return Err(CaptureError::NotACapture { start });
    };
    let least = match format {
        CaptureFormat::Pcap => 24,
        CaptureFormat::Pcapng => 28,
    };
    if have < least {
        return Err(CaptureError::TruncatedHeader { format, have });
    }
    Ok((format, start))
}

/// What is wrong with the record or block at the start of `data` (the
/// parser refused it), from its header fields; `big_endian` for a pcapng
/// section written so.
pub(crate) fn describe(format: CaptureFormat, data: &[u8], big_endian: bool) -> String {
    let u32_at = |i: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(i..i + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    match format {
        CaptureFormat::Pcap => match (u32_at(8), u32_at(12)) {
            (Some(caplen), Some(origlen)) => format!(
                "its header (captured length {caplen}, original length {origlen}) does not parse"
            ),
            _ => "its 16-byte header is cut short".to_owned(),
        },
        CaptureFormat::Pcapng => {
            let (Some(kind), Some(len)) = (u32_at(0), u32_at(4)) else {
                return "its 8-byte block header is cut short".to_owned();
            };
            let name = match kind {
                0x0a0d_0d0a => "section header",
                1 => "interface description",
                2 => "packet (obsolete)",
                3 => "simple packet",
                4 => "name resolution",
                5 => "interface statistics",
                6 => "enhanced packet",
                _ => "unknown",
            };
            let why = if len < 12 {
                format!("its total length {len} is less than the 12 bytes of a block's framing")
            } else if len % 4 != 0 {
                format!("its total length {len} is not a multiple of 4")
            } else if let Some(trailer) = u32_at(len as usize - 4).filter(|&t| t != len) {
                format!("its total length is {len} at the start and {trailer} at the end")
            } else {
                format!("its body does not parse as a {name} block (total length {len})")
            };
            format!("block type 0x{kind:08x} ({name}): {why}")
        }
    }
}
