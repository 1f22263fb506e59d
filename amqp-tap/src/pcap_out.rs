//! Writing what the proxy forwards as a pcap capture: each leg is a TCP
//! connection between its real endpoints, with synthesized IP and TCP headers
//! (handshake, data with consistent sequence and acknowledgement numbers,
//! FIN or RST) that Wireshark and tshark reassemble and decode.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use etherparse::PacketBuilder;

use crate::event::Ts;

/// `LINKTYPE_RAW`: each record is an IPv4 or IPv6 packet.
const LINKTYPE_RAW: u32 = 101;
/// Payload per synthesized segment (an IPv4 packet holds at most 65535 bytes).
const MAX_SEGMENT: usize = 65_000;

/// A pcap file being written.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    scratch: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header (microsecond timestamps, raw IP records).
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            scratch: Vec::new(),
        })
    }

    fn record(&mut self, ts: Ts, packet: &[u8]) -> io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(ts.secs as u32).to_le_bytes());
        h[4..8].copy_from_slice(&(ts.nanos / 1000).to_le_bytes());
        h[8..12].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(packet)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// TCP flags of a synthesized segment.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    psh: bool,
    rst: bool,
}

/// One TCP connection (a leg of the proxy) as it is written: its endpoints
/// and each side's next sequence number.
#[derive(Debug, Clone)]
pub struct TcpLeg {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of the client and of the server.
    seq: [u32; 2],
    /// Which sides sent a FIN: nothing more is written from them.
    fin: [bool; 2],
    /// A side reset the connection: nothing more is written on it.
    reset: bool,
}

impl TcpLeg {
    /// A leg between these endpoints (both IPv4 or both IPv6), opened at
    /// `ts`; `id` tells it from the other connections written to the same
    /// capture.
    ///
    /// Each leg gets initial sequence numbers of its own, as real stacks
    /// choose them (a clock, plus a per-connection offset): when a client
    /// port is reused, a reader that saw the same numbers again would take
    /// the new connection for a retransmission of the old one.
    pub fn new(client: SocketAddr, server: SocketAddr, ts: Ts, id: u64) -> Self {
        // A 4 µs clock, as in RFC 793, and a multiplicative hash of the id
        // spreading connections opened at once across the sequence space.
        let clock = (ts.as_nanos() / 4000) as u32;
        let spread = (id as u32).wrapping_mul(0x9e37_79b9);
        let isn = clock.wrapping_add(spread);
        TcpLeg {
            client,
            server,
            seq: [isn, isn.wrapping_add(0x8000_0000).rotate_left(7)],
            fin: [false; 2],
            reset: false,
        }
    }

    fn write<W: Write>(
        &mut self,
        w: &mut PcapWriter<W>,
        ts: Ts,
        from_client: bool,
        flags: Flags,
        payload: &[u8],
    ) -> io::Result<()> {
        let (s, d) = if from_client { (0, 1) } else { (1, 0) };
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => PacketBuilder::ipv4(a.octets(), b.octets(), 64),
            (a, b) => PacketBuilder::ipv6(to_v6(a), to_v6(b), 64),
        };
        let mut tcp = ip.tcp(src.port(), dst.port(), self.seq[s], 65_535);
        if flags.syn {
            tcp = tcp.syn();
        }
        if flags.ack {
            tcp = tcp.ack(self.seq[d]);
        }
        if flags.fin {
            tcp = tcp.fin();
        }
        if flags.psh {
            tcp = tcp.psh();
        }
        if flags.rst {
            tcp = tcp.rst();
        }
        w.scratch.clear();
        tcp.write(&mut w.scratch, payload)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let packet = std::mem::take(&mut w.scratch);
        let r = w.record(ts, &packet);
        w.scratch = packet;
        // SYN and FIN take one sequence number each.
        let used = payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        self.seq[s] = self.seq[s].wrapping_add(used);
        r
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake<W: Write>(&mut self, w: &mut PcapWriter<W>, ts: Ts) -> io::Result<()> {
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        self.write(w, ts, true, syn, &[])?;
        self.write(w, ts, false, Flags { ack: true, ..syn }, &[])?;
        self.write(
            w,
            ts,
            true,
            Flags {
                ack: true,
                ..Flags::default()
            },
            &[],
        )
    }

    /// Bytes sent by one side, in segments of at most 65000 bytes.
    pub fn data<W: Write>(
        &mut self,
        w: &mut PcapWriter<W>,
        ts: Ts,
        from_client: bool,
        bytes: &[u8],
    ) -> io::Result<()> {
        if self.reset {
            return Ok(());
        }
        for part in bytes.chunks(MAX_SEGMENT) {
            let flags = Flags {
                ack: true,
                psh: true,
                ..Flags::default()
            };
            self.write(w, ts, from_client, flags, part)?;
        }
        Ok(())
    }

    /// One side closes its half (once; nothing after a reset).
    pub fn fin<W: Write>(
        &mut self,
        w: &mut PcapWriter<W>,
        ts: Ts,
        from_client: bool,
    ) -> io::Result<()> {
        let side = usize::from(!from_client);
        if self.reset || self.fin[side] {
            return Ok(());
        }
        self.fin[side] = true;
        let flags = Flags {
            ack: true,
            fin: true,
            ..Flags::default()
        };
        self.write(w, ts, from_client, flags, &[])
    }

    /// One side resets the connection: nothing more is written on it.
    pub fn rst<W: Write>(
        &mut self,
        w: &mut PcapWriter<W>,
        ts: Ts,
        from_client: bool,
    ) -> io::Result<()> {
        if self.reset {
            return Ok(());
        }
        self.reset = true;
        let flags = Flags {
            ack: true,
            rst: true,
            ..Flags::default()
        };
        self.write(w, ts, from_client, flags, &[])
    }
}

fn to_v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::At;
    use crate::{CaptureDecoder, ConnInfo, Dir, Event, Sink};

    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        fn event(&mut self, conn: &ConnInfo, dir: Dir, _: At, ev: &Event<'_>) {
            self.0
                .push(format!("{} {dir} {ev:?}", conn.client.unwrap()));
        }
    }

    #[test]
    fn written_legs_read_back_through_the_capture_decoder() {
        let ts = Ts {
            secs: 1_700_000_000,
            nanos: 0,
            nano_precision: false,
        };
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let mut leg = TcpLeg::new(
            "[::1]:40000".parse().unwrap(),
            "[::1]:5672".parse().unwrap(),
            ts,
            1,
        );
        leg.handshake(&mut w, ts).unwrap();
        leg.data(&mut w, ts, true, b"AMQP\x00\x00\x09\x01").unwrap();
        let mut hb = Vec::new();
        amqp_protocol::Frame::heartbeat().encode(&mut hb);
        leg.data(&mut w, ts, false, &hb).unwrap();
        leg.fin(&mut w, ts, true).unwrap();
        leg.fin(&mut w, ts, false).unwrap();
        let file = w.out;
        let mut log = Log::default();
        let report = CaptureDecoder::new(vec![5672])
            .read(&file[..], &mut log)
            .unwrap();
        assert_eq!(report.packets, 7);
        assert_eq!(log.0.len(), 2, "{:?}", log.0);
        assert!(log.0[0].contains("c2s ProtocolHeader"), "{:?}", log.0);
        assert!(log.0[1].contains("s2c Frame"), "{:?}", log.0);
    }
}
