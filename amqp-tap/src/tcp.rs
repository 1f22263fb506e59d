//! TCP stream reassembly for one direction: segments in capture order in,
//! contiguous bytes (and the size of any hole) out. Retransmissions and
//! overlaps are trimmed; out-of-order segments wait for what precedes them.

use std::collections::BTreeMap;

/// Out-of-order bytes held back before a hole is declared a loss.
const MAX_PENDING: usize = 8 << 20;

/// What reassembly hands on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivered<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// Bytes that will never be seen (lost from the capture).
    Gap(u64),
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    /// The sequence number of the next byte expected.
    next: Option<u32>,
    /// The stream offset of that byte.
    offset: u64,
    /// Segments ahead of `next`, by stream offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// A segment was cut short by the capture's snap length: the bytes right
    /// after what was delivered are lost, so the next jump is a gap.
    hole_at_next: bool,
    /// The stream offset the peer acknowledged up to (0: nothing yet). Kept
    /// when nothing is held back, since the segment after a hole may come
    /// after the acknowledgement that proves the hole lost.
    acked: u64,
}

impl Reassembler {
    /// A SYN: the stream starts after `seq`.
    pub(crate) fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Whether anything is held back.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A segment with `data` starting at `seq`; `truncated` when the capture
    /// kept only the first part of its payload.
    pub(crate) fn segment(
        &mut self,
        seq: u32,
        data: &[u8],
        truncated: bool,
        mut out: impl FnMut(Delivered<'_>),
    ) {
        if data.is_empty() {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        // Sequence arithmetic modulo 2^32: within ±2 GiB of `next`.
        let delta = i64::from(seq.wrapping_sub(next) as i32);
        if delta <= 0 {
            let skip = delta.unsigned_abs() as usize;
            if skip >= data.len() {
                return; // a retransmission of delivered bytes
            }
            self.deliver(&data[skip..], &mut out);
            if truncated {
                self.hole_at_next = true;
            }
        } else if self.hole_at_next {
            self.skip(delta as u64, &mut out);
            self.deliver(data, &mut out);
            if truncated {
                self.hole_at_next = true;
            }
        } else {
            let at = self.offset + delta as u64;
            let keep = self
                .pending
                .get(&at)
                .is_none_or(|held| held.len() < data.len());
            if keep {
                let old = self
                    .pending
                    .insert(at, data.to_vec())
                    .map_or(0, |v| v.len());
                self.pending_bytes = self.pending_bytes + data.len() - old;
            }
            if self.pending_bytes > MAX_PENDING {
                self.skip_to_pending(&mut out);
            } else {
                self.declare_acked(&mut out);
            }
            return;
        }
        self.drain(&mut out);
    }

    /// The peer acknowledged everything before `ack`. Bytes it acknowledged
    /// that the capture does not have were lost from the capture: the hole
    /// is declared as soon as a segment after it is there, whether that
    /// segment comes before or after the acknowledgement, rather than at the
    /// end of the capture.
    pub(crate) fn ack(&mut self, ack: u32, mut out: impl FnMut(Delivered<'_>)) {
        let Some(next) = self.next else {
            return;
        };
        let delta = i64::from(ack.wrapping_sub(next) as i32);
        if delta <= 0 {
            return;
        }
        self.acked = self.acked.max(self.offset + delta as u64);
        self.declare_acked(&mut out);
    }

    /// Declares lost what the peer acknowledged before the first held-back
    /// segment, and hands on what follows.
    fn declare_acked(&mut self, out: &mut impl FnMut(Delivered<'_>)) {
        let Some((&first, _)) = self.pending.first_key_value() else {
            return;
        };
        if self.acked <= self.offset {
            return;
        }
        let lost_to = self.acked.min(first);
        self.skip(lost_to - self.offset, out);
        self.drain(out);
    }

    /// Hands on everything held back, declaring the holes before it lost.
    pub(crate) fn flush(&mut self, mut out: impl FnMut(Delivered<'_>)) {
        while !self.pending.is_empty() {
            self.skip_to_pending(&mut out);
        }
    }

    fn deliver(&mut self, data: &[u8], out: &mut impl FnMut(Delivered<'_>)) {
        self.hole_at_next = false;
        out(Delivered::Data(data));
        self.advance(data.len() as u64);
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        self.next = self.next.map(|s| s.wrapping_add(n as u32));
    }

    fn skip(&mut self, n: u64, out: &mut impl FnMut(Delivered<'_>)) {
        self.hole_at_next = false;
        out(Delivered::Gap(n));
        self.advance(n);
    }

    /// Declares the hole before the first held-back segment lost.
    fn skip_to_pending(&mut self, out: &mut impl FnMut(Delivered<'_>)) {
        if let Some((&at, _)) = self.pending.first_key_value() {
            if at > self.offset {
                self.skip(at - self.offset, out);
            }
            self.drain(out);
        }
    }

    fn drain(&mut self, out: &mut impl FnMut(Delivered<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.offset {
                return;
            }
            let (at, data) = entry.remove_entry();
            self.pending_bytes -= data.len();
            let skip = (self.offset - at) as usize;
            if skip < data.len() {
                self.deliver(&data[skip..], out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reassembler, segs: &[(u32, &[u8])]) -> Vec<String> {
        let mut got = Vec::new();
        for (seq, d) in segs {
            r.segment(*seq, d, false, |x| got.push(format!("{x:?}")));
        }
        r.flush(|x| got.push(format!("{x:?}")));
        got
    }

    fn text(r: &mut Reassembler, segs: &[(u32, &[u8])]) -> String {
        let mut s = String::new();
        for (seq, d) in segs {
            r.segment(*seq, d, false, |x| match x {
                Delivered::Data(b) => s.push_str(std::str::from_utf8(b).unwrap()),
                Delivered::Gap(n) => s.push_str(&format!("<{n}>")),
            });
        }
        r.flush(|x| match x {
            Delivered::Data(b) => s.push_str(std::str::from_utf8(b).unwrap()),
            Delivered::Gap(n) => s.push_str(&format!("<{n}>")),
        });
        s
    }

    #[test]
    fn reorders_and_drops_retransmissions() {
        let mut r = Reassembler::default();
        r.syn(99);
        let s = text(
            &mut r,
            &[
                (100, b"abc"),
                (106, b"ghi"),
                (103, b"def"),
                (100, b"abcdef"),  // retransmission
                (104, b"efghijk"), // overlapping retransmission with new bytes
            ],
        );
        assert_eq!(s, "abcdefghijk");
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let mut r = Reassembler::default();
        r.syn(u32::MAX - 2);
        let s = text(&mut r, &[(u32::MAX - 1, b"ab"), (0, b"cd"), (2, b"ef")]);
        assert_eq!(s, "abcdef");
    }

    #[test]
    fn a_hole_that_never_fills_is_a_gap_at_the_end() {
        let mut r = Reassembler::default();
        let got = run(&mut r, &[(10, b"ab"), (15, b"xy")]);
        assert_eq!(got, ["Data([97, 98])", "Gap(3)", "Data([120, 121])"]);
    }

    #[test]
    fn an_ack_beyond_a_hole_declares_it_lost_at_once() {
        let mut r = Reassembler::default();
        let mut got = Vec::new();
        r.segment(10, b"ab", false, |x| got.push(format!("{x:?}")));
        r.segment(15, b"xy", false, |x| got.push(format!("{x:?}")));
        r.ack(13, |x| got.push(format!("{x:?}"))); // acknowledges only part of the hole
        r.ack(17, |x| got.push(format!("{x:?}")));
        assert_eq!(
            got,
            ["Data([97, 98])", "Gap(1)", "Gap(2)", "Data([120, 121])"]
        );
    }

    #[test]
    fn an_ack_past_a_hole_before_the_next_segment_declares_it_with_that_segment() {
        let mut r = Reassembler::default();
        let mut got = Vec::new();
        r.segment(10, b"ab", false, |x| got.push(format!("{x:?}")));
        // 12..15 lost from the capture; the peer has it and acknowledges it,
        // and the next segment's bytes too, before that segment is seen.
        r.ack(17, |x| got.push(format!("{x:?}")));
        assert_eq!(got, ["Data([97, 98])"]);
        r.segment(15, b"xy", false, |x| got.push(format!("{x:?}")));
        assert_eq!(got, ["Data([97, 98])", "Gap(3)", "Data([120, 121])"]);
        // Nothing was left for the end.
        r.flush(|x| got.push(format!("{x:?}")));
        assert_eq!(got.len(), 3);
        // An acknowledgement that only reaches into a hole declares that
        // part at once, the rest with the next acknowledgement.
        let mut r = Reassembler::default();
        let mut got = Vec::new();
        r.segment(0, b"a", false, |x| got.push(format!("{x:?}")));
        r.ack(3, |x| got.push(format!("{x:?}")));
        r.segment(5, b"z", false, |x| got.push(format!("{x:?}")));
        assert_eq!(got, ["Data([97])", "Gap(2)"]);
        r.ack(6, |x| got.push(format!("{x:?}")));
        assert_eq!(got, ["Data([97])", "Gap(2)", "Gap(2)", "Data([122])"]);
    }

    #[test]
    fn truncated_segments_make_the_next_jump_a_gap_at_once() {
        let mut r = Reassembler::default();
        let mut got = Vec::new();
        r.segment(0, b"abcd", true, |x| got.push(format!("{x:?}")));
        r.segment(100, b"z", false, |x| got.push(format!("{x:?}")));
        assert_eq!(got, ["Data([97, 98, 99, 100])", "Gap(96)", "Data([122])"]);
    }
}
