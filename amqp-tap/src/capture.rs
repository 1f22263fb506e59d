//! Reading pcap and pcapng captures: packets to TCP segments, segments to
//! connections, connections to AMQP events.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError};

use crate::capture_error::{describe, sniff, CaptureError, CaptureFormat};
use crate::conn::{Connection, StreamStart};
use crate::event::{At, ConnInfo, Dir, Sink, Ts};
use crate::tcp::{Delivered, Reassembler};

/// What was read, besides the events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureReport {
    /// Packet records read.
    pub packets: u64,
    /// AMQP connections seen.
    pub connections: u64,
    /// Packets of a link type this tool does not read.
    pub unsupported_link: u64,
    /// IP fragments (not reassembled).
    pub fragments: u64,
    /// The file ends inside a record (pcap) or block (pcapng): where that
    /// starts, in bytes from the start of the capture.
    pub truncated_at: Option<u64>,
    /// The capture's format.
    pub format: Option<CaptureFormat>,
}

impl CaptureReport {
    /// What is wrong with a capture that was read to its end but is cut
    /// short, in its own terms.
    pub fn truncation(&self) -> Option<String> {
        let at = self.truncated_at?;
        let (format, unit) = match self.format {
            Some(CaptureFormat::Pcapng) => ("pcapng", "block"),
            _ => ("pcap", "record"),
        };
        Some(format!(
            "truncated {format} capture: it ends inside the {unit} that starts at byte {at}"
        ))
    }
}

/// A failed refill of the parser's buffer: the underlying read failed.
fn refill_error<I>(_: PcapError<I>) -> CaptureError {
    CaptureError::Io(io::Error::other("read failed"))
}

/// One TCP segment, as far as reassembly cares.
struct Segment<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack_no: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    payload: &'a [u8],
    truncated: bool,
}

/// A connection being followed.
struct Flow {
    client: SocketAddr,
    conn: Connection,
    reasm: [Reassembler; 2],
    fin: [bool; 2],
    order: u64,
}

enum FlowSlot {
    Open(Box<Flow>),
    /// Closed by FIN or RST: later segments are stragglers, until a SYN
    /// starts a new connection on the same addresses.
    Closed,
}

/// Follows every AMQP connection of a capture and reports to a sink.
pub struct CaptureDecoder {
    server_ports: Vec<u16>,
    flows: HashMap<(SocketAddr, SocketAddr), FlowSlot>,
    opened: u64,
    report: CaptureReport,
    /// See [`CaptureDecoder::with_body_limit`].
    body_limit: Option<usize>,
}

impl CaptureDecoder {
    /// Connections to or from these ports are AMQP (5672 is the usual one);
    /// so is any connection whose client starts with an AMQP protocol header.
    pub fn new(server_ports: Vec<u16>) -> Self {
        CaptureDecoder {
            server_ports,
            flows: HashMap::new(),
            opened: 0,
            report: CaptureReport::default(),
            body_limit: None,
        }
    }

    /// Keeps only the first `limit` bytes of each message's body (see
    /// [`Connection::with_body_limit`]): memory then stays bounded whatever
    /// the size of the messages in the capture.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = Some(limit);
        self
    }

    /// Reads a whole pcap or pcapng capture.
    pub fn read(
        mut self,
        mut input: impl Read + Send,
        sink: &mut impl Sink,
    ) -> Result<CaptureReport, CaptureError> {
        // The first bytes are looked at here, so that a file that is not a
        // capture, or is cut short in its header, is told apart from one
        // the parser refuses.
        let (format, start) = sniff(&mut input)?;
        let have = start.len();
        self.report.format = Some(format);
        let mut reader = pcap_parser::create_reader(1 << 20, io::Cursor::new(start).chain(input))
            .map_err(|e| match e {
            PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
                CaptureError::TruncatedHeader { format, have }
            }
            PcapError::ReadError => CaptureError::Io(io::Error::other("read failed")),
            _ => CaptureError::BadHeader { format },
        })?;
        // Where the next block starts, and the byte order of the current
        // pcapng section: to say where a malformed block is and what its
        // header says.
        let mut pos = 0u64;
        let mut big_endian = false;
        let mut linktype = Linktype::ETHERNET;
        let mut nano = false;
        // pcapng interfaces of the current section: link type, ticks per
        // second, offset in seconds.
        let mut ifaces: Vec<(Linktype, u64, i64)> = Vec::new();
        let mut last_ts = Ts {
            secs: 0,
            nanos: 0,
            nano_precision: false,
        };
        loop {
            match reader.next() {
                Ok((offset, block)) => {
                    let packet = match &block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            linktype = h.network;
                            nano = h.is_nanosecond_precision();
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let nanos = if nano {
                                b.ts_usec
                            } else {
                                b.ts_usec.saturating_mul(1000)
                            };
                            let ts = Ts {
                                secs: u64::from(b.ts_sec),
                                nanos: nanos.min(999_999_999),
                                nano_precision: nano,
                            };
                            Some((linktype, ts, b.data))
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                            ifaces.clear();
                            big_endian = shb.big_endian();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            let res = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                            ifaces.push((idb.linktype, res, idb.ts_offset()));
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let (lt, res, off) = ifaces
                                .get(epb.if_id as usize)
                                .copied()
                                .unwrap_or((Linktype::ETHERNET, 1_000_000, 0));
                            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let secs = (ticks / res).saturating_add_signed(off);
                            let nanos =
                                (u128::from(ticks % res) * 1_000_000_000 / u128::from(res)) as u32;
                            let ts = Ts {
                                secs,
                                nanos,
                                nano_precision: res > 1_000_000,
                            };
                            Some((lt, ts, epb.packet_data()))
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let lt = ifaces.first().map_or(Linktype::ETHERNET, |i| i.0);
                            Some((lt, last_ts, spb.packet_data()))
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    if let Some((lt, ts, data)) = packet {
                        self.report.packets += 1;
                        last_ts = ts;
                        let at = At {
                            ts: Some(ts),
                            pkt: Some(self.report.packets),
                        };
                        self.packet(lt, data, at, sink);
                    }
                    reader.consume(offset);
                    pos += offset as u64;
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => {
                    if reader.reader_exhausted() {
                        self.report.truncated_at = Some(pos);
                        break;
                    }
                    sink.idle();
                    reader.refill().map_err(refill_error)?;
                }
                Err(PcapError::UnexpectedEof) => {
                    self.report.truncated_at = Some(pos);
                    break;
                }
                Err(PcapError::BufferTooSmall) => {
                    let size = reader.data().len().max(1 << 20) * 2;
                    if size > 1 << 30 || !reader.grow(size) {
                        return Err(CaptureError::TooLarge {
                            format,
                            offset: pos,
                        });
                    }
                    reader.refill().map_err(refill_error)?;
                }
                Err(_) => {
                    return Err(CaptureError::Malformed {
                        format,
                        offset: pos,
                        what: describe(format, reader.data(), big_endian),
                    })
                }
            }
        }
        let at = At {
            ts: Some(last_ts),
            pkt: None,
        };
        self.finish(at, sink);
        Ok(self.report)
    }

    /// One packet of the given link type.
    pub fn packet(&mut self, linktype: Linktype, data: &[u8], at: At, sink: &mut impl Sink) {
        match segment(linktype, data) {
            Parsed::Segment(seg) => self.segment(seg, at, sink),
            Parsed::UnsupportedLink => self.report.unsupported_link += 1,
            Parsed::Fragment => self.report.fragments += 1,
            Parsed::Other => {}
        }
    }

    fn segment(&mut self, seg: Segment<'_>, at: At, sink: &mut impl Sink) {
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let new_syn = seg.syn && !seg.ack;
        let need_new = match self.flows.get(&key) {
            // Port reuse after a close that was not seen complete.
            Some(FlowSlot::Open(flow)) => new_syn && seg.src == flow.client && flow.fin[0],
            Some(FlowSlot::Closed) => {
                if !new_syn {
                    return;
                }
                true
            }
            None => true,
        };
        if need_new {
            let Some(flow) = self.open(&seg) else {
                return;
            };
            if let Some(FlowSlot::Open(old)) =
                self.flows.insert(key, FlowSlot::Open(Box::new(flow)))
            {
                close(*old, at, sink);
            }
        }
        let Some(FlowSlot::Open(flow)) = self.flows.get_mut(&key) else {
            return;
        };
        let dir = if seg.src == flow.client {
            Dir::C2S
        } else {
            Dir::S2C
        };
        let d = dir.index();
        if seg.syn {
            flow.reasm[d].syn(seg.seq);
        }
        let Flow { conn, reasm, .. } = &mut **flow;
        if seg.ack {
            let other = dir.reverse();
            reasm[other.index()].ack(seg.ack_no, |x| match x {
                Delivered::Data(b) => conn.feed(other, at, b, sink),
                Delivered::Gap(n) => conn.gap(other, at, n, sink),
            });
        }
        reasm[d].segment(seg.seq, seg.payload, seg.truncated, |x| match x {
            Delivered::Data(b) => conn.feed(dir, at, b, sink),
            Delivered::Gap(n) => conn.gap(dir, at, n, sink),
        });
        if seg.fin {
            flow.fin[d] = true;
        }
        let drained = !flow.reasm[0].has_pending() && !flow.reasm[1].has_pending();
        if seg.rst || (flow.fin[0] && flow.fin[1] && drained) {
            if let Some(FlowSlot::Open(flow)) = self.flows.insert(key, FlowSlot::Closed) {
                close(*flow, at, sink);
            }
        }
    }

    /// Starts following a connection, if this segment shows it is AMQP.
    fn open(&mut self, seg: &Segment<'_>) -> Option<Flow> {
        if seg.rst {
            return None;
        }
        let amqp_port = |a: &SocketAddr| self.server_ports.contains(&a.port());
        let header = seg.payload.starts_with(b"AMQP");
        let (client, server) = if seg.syn && !seg.ack && amqp_port(&seg.dst) {
            (seg.src, seg.dst)
        } else if seg.syn && seg.ack && amqp_port(&seg.src) {
            (seg.dst, seg.src)
        } else if seg.syn || seg.payload.is_empty() {
            return None;
        } else if header || amqp_port(&seg.dst) {
            (seg.src, seg.dst)
        } else if amqp_port(&seg.src) {
            (seg.dst, seg.src)
        } else {
            return None;
        };
        let start = if seg.syn || header {
            StreamStart::Beginning
        } else {
            StreamStart::MidStream
        };
        self.opened += 1;
        self.report.connections += 1;
        Some(Flow {
            client,
            conn: match self.body_limit {
                Some(limit) => Connection::new(ConnInfo::tcp(client, server), start, start)
                    .with_body_limit(limit),
                None => Connection::new(ConnInfo::tcp(client, server), start, start),
            },
            reasm: Default::default(),
            fin: [false; 2],
            order: self.opened,
        })
    }

    /// End of the capture: what is held back is handed on, and every
    /// connection still open is finished, in the order they were opened.
    pub fn finish(&mut self, at: At, sink: &mut impl Sink) {
        let mut open: Vec<Box<Flow>> = self
            .flows
            .drain()
            .filter_map(|(_, s)| match s {
                FlowSlot::Open(f) => Some(f),
                FlowSlot::Closed => None,
            })
            .collect();
        open.sort_by_key(|f| f.order);
        for f in open {
            close(*f, at, sink);
        }
    }
}

fn close(mut flow: Flow, at: At, sink: &mut impl Sink) {
    for dir in [Dir::C2S, Dir::S2C] {
        let Flow { conn, reasm, .. } = &mut flow;
        reasm[dir.index()].flush(|x| match x {
            Delivered::Data(b) => conn.feed(dir, at, b, sink),
            Delivered::Gap(n) => conn.gap(dir, at, n, sink),
        });
        flow.conn.finish(dir, at, sink);
    }
}

enum Parsed<'a> {
    Segment(Segment<'a>),
    UnsupportedLink,
    Fragment,
    Other,
}

/// The TCP segment in a packet, if there is one.
fn segment(linktype: Linktype, data: &[u8]) -> Parsed<'_> {
    let sliced = match linktype.0 {
        // Ethernet.
        1 => LaxSlicedPacket::from_ethernet(data).ok(),
        // BSD loopback: a 4-byte address family, then IP.
        0 | 108 => data.get(4..).and_then(|d| LaxSlicedPacket::from_ip(d).ok()),
        // Raw IP, IPv4, IPv6.
        12 | 14 | 101 | 228 | 229 => LaxSlicedPacket::from_ip(data).ok(),
        // Linux cooked capture v1: protocol at 14, 16-byte header.
        113 => data.get(16..).map(|d| {
            LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([data[14], data[15]])), d)
        }),
        // Linux cooked capture v2: protocol at 0, 20-byte header.
        276 => data.get(20..).map(|d| {
            LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([data[0], data[1]])), d)
        }),
        _ => return Parsed::UnsupportedLink,
    };
    let Some(p) = sliced else {
        return Parsed::Other;
    };
    let (src, dst, ip_payload) = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.payload(),
        ),
        Some(LaxNetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.payload(),
        ),
        _ => return Parsed::Other,
    };
    if ip_payload.fragmented {
        return Parsed::Fragment;
    }
    let truncated = ip_payload.incomplete;
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        return Parsed::Other;
    };
    Parsed::Segment(Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack_no: tcp.acknowledgment_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp() -> Vec<u8> {
        let mut p = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 5672, 7, 1000)
            .syn()
            .write(&mut p, b"")
            .unwrap();
        p
    }

    fn parsed(linktype: u16, data: &[u8]) -> (SocketAddr, SocketAddr, u32, bool) {
        match segment(Linktype(i32::from(linktype)), data) {
            Parsed::Segment(s) => (s.src, s.dst, s.seq, s.syn),
            _ => panic!("no segment for link type {linktype}"),
        }
    }

    #[test]
    fn link_types() {
        let ip = ipv4_tcp();
        let expected = (
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:5672".parse().unwrap(),
            7,
            true,
        );
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ip);
        assert_eq!(parsed(1, &eth), expected);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert_eq!(parsed(0, &null), expected);
        assert_eq!(parsed(101, &ip), expected);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        assert_eq!(parsed(113, &sll), expected);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(parsed(276, &sll2), expected);
        assert!(matches!(
            segment(Linktype(147), &ip),
            Parsed::UnsupportedLink
        ));
    }
}
