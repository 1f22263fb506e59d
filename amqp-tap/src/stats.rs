//! `--stats`: counts per method, frames and bytes per direction, message
//! rates, and publish→confirm latency.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use amqp_protocol::{FramePayload, Method, MethodId};

use crate::event::{At, Confirm, ConnInfo, Dir, Event, Ts};
use crate::json;

/// Statistics over the selected events.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    frames: [u64; 2],
    bytes: [u64; 2],
    messages: [u64; 2],
    methods: BTreeMap<MethodId, [u64; 2]>,
    first: Option<Ts>,
    last: Option<Ts>,
    published_confirm: u64,
    acked: u64,
    nacked: u64,
    /// Publish→confirm latencies, in seconds.
    latencies: Vec<f64>,
    errors: u64,
    notices: u64,
}

impl Stats {
    /// Counts one (selected) event.
    pub fn record(&mut self, _conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        let d = dir.index();
        if let Some(ts) = at.ts {
            self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
            self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        }
        match event {
            Event::ProtocolHeader(_) => self.bytes[d] += 8,
            Event::Frame {
                frame,
                wire_len,
                confirm,
                ..
            } => {
                self.frames[d] += 1;
                self.bytes[d] += *wire_len as u64;
                if let FramePayload::Method(m) = &frame.payload {
                    self.methods.entry(m.id()).or_default()[d] += 1;
                    match confirm {
                        Confirm::None => {}
                        Confirm::Published(_) => self.published_confirm += 1,
                        Confirm::Settled(s) => {
                            let n = s.len() as u64;
                            if matches!(m, Method::BasicNack(_)) {
                                self.nacked += n;
                            } else {
                                self.acked += n;
                            }
                            if let Some(now) = at.ts {
                                self.latencies.extend(
                                    s.iter()
                                        .filter_map(|p| p.published.ts)
                                        .map(|t| now.seconds_since(t)),
                                );
                            }
                        }
                    }
                }
            }
            Event::Message { .. } => self.messages[d] += 1,
            Event::Error { .. } => self.errors += 1,
            Event::Resync { .. } | Event::Gap { .. } | Event::Incomplete { .. } => {
                self.notices += 1;
            }
        }
    }

    fn duration(&self) -> Option<f64> {
        Some(self.last?.seconds_since(self.first?))
    }

    fn rate(&self, d: usize) -> Option<f64> {
        self.duration()
            .filter(|s| *s > 0.0)
            .map(|s| self.messages[d] as f64 / s)
    }

    /// Median and 99th percentile of the publish→confirm latencies, in
    /// seconds: the median averages the middle two of an even count, the
    /// percentile is the nearest rank.
    pub fn latency(&self) -> Option<(f64, f64)> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut v = self.latencies.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
        Some((median, v[rank - 1]))
    }

    /// A human-readable summary.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "frames     c2s {} ({} bytes)   s2c {} ({} bytes)",
            self.frames[0], self.bytes[0], self.frames[1], self.bytes[1]
        );
        match self.duration() {
            Some(d) => {
                let _ = writeln!(s, "duration   {d:.6} s");
            }
            None => s.push_str("duration   unknown (no timestamps)\n"),
        }
        let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}/s"));
        let _ = writeln!(
            s,
            "messages   c2s {} ({})   s2c {} ({})",
            self.messages[0],
            rate(self.rate(0)),
            self.messages[1],
            rate(self.rate(1))
        );
        let _ = writeln!(
            s,
            "confirms   {} publishes in confirm mode, {} acked, {} nacked, {} unconfirmed",
            self.published_confirm,
            self.acked,
            self.nacked,
            self.published_confirm
                .saturating_sub(self.acked + self.nacked)
        );
        if let Some((median, p99)) = self.latency() {
            let _ = writeln!(
                s,
                "latency    publish->confirm median {:.3} ms, p99 {:.3} ms",
                median * 1e3,
                p99 * 1e3
            );
        }
        let _ = writeln!(s, "errors     {}   notices {}", self.errors, self.notices);
        s.push_str("methods\n");
        for (id, [c2s, s2c]) in &self.methods {
            let name = id.name().map_or_else(
                || format!("{}/{}", id.class_id, id.method_id),
                str::to_owned,
            );
            let _ = writeln!(s, "  {name:<24} c2s {c2s:>8}   s2c {s2c:>8}");
        }
        s
    }

    /// The summary as one JSON object (schema in the README).
    pub fn json(&self) -> Vec<u8> {
        let mut o = Vec::new();
        let pair = |o: &mut Vec<u8>, v: [u64; 2]| {
            o.extend_from_slice(b"{\"c2s\":");
            json::int(o, v[0]);
            o.extend_from_slice(b",\"s2c\":");
            json::int(o, v[1]);
            o.push(b'}');
        };
        let num = |o: &mut Vec<u8>, v: Option<f64>| match v {
            Some(x) if x.is_finite() => o.extend_from_slice(format!("{x:?}").as_bytes()),
            _ => o.extend_from_slice(b"null"),
        };
        o.extend_from_slice(b"{\"type\":\"stats\",\"frames\":");
        pair(&mut o, self.frames);
        o.extend_from_slice(b",\"bytes\":");
        pair(&mut o, self.bytes);
        o.extend_from_slice(b",\"messages\":");
        pair(&mut o, self.messages);
        o.extend_from_slice(b",\"duration\":");
        num(&mut o, self.duration());
        o.extend_from_slice(b",\"messages_per_second\":{\"c2s\":");
        num(&mut o, self.rate(0));
        o.extend_from_slice(b",\"s2c\":");
        num(&mut o, self.rate(1));
        o.extend_from_slice(b"},\"methods\":{");
        for (i, (id, v)) in self.methods.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            let name = id.name().map_or_else(
                || format!("{}/{}", id.class_id, id.method_id),
                str::to_owned,
            );
            json::str(&mut o, &name);
            o.push(b':');
            pair(&mut o, *v);
        }
        o.extend_from_slice(b"},\"confirms\":{\"published\":");
        json::int(&mut o, self.published_confirm);
        o.extend_from_slice(b",\"acked\":");
        json::int(&mut o, self.acked);
        o.extend_from_slice(b",\"nacked\":");
        json::int(&mut o, self.nacked);
        o.extend_from_slice(b",\"latency_ms\":");
        match self.latency() {
            Some((m, p)) => {
                o.extend_from_slice(b"{\"median\":");
                num(&mut o, Some(m * 1e3));
                o.extend_from_slice(b",\"p99\":");
                num(&mut o, Some(p * 1e3));
                o.push(b'}');
            }
            None => o.extend_from_slice(b"null"),
        }
        o.extend_from_slice(b"},\"errors\":");
        json::int(&mut o, self.errors);
        o.extend_from_slice(b",\"notices\":");
        json::int(&mut o, self.notices);
        o.extend_from_slice(b"}\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99() {
        let mut s = Stats {
            latencies: (1..=100).map(f64::from).collect(),
            ..Stats::default()
        };
        assert_eq!(s.latency(), Some((50.5, 99.0)));
        s.latencies = vec![3.0, 1.0, 2.0];
        assert_eq!(s.latency(), Some((2.0, 3.0)));
    }
}
