//! Rendering events as text lines or JSON objects, and the filters that
//! select them.

use std::fmt::Write as _;
use std::io::Write as _;

use amqp_protocol::{
    ArgValue, Content, ContentHeader, Error, Frame, FramePayload, Method, MethodId, Properties,
    METHODS,
};

use crate::event::{At, Confirm, ConnInfo, Dir, Event, Ts};
use crate::json;

/// Text lines or JSON objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One line per frame, plus one per complete message.
    #[default]
    Text,
    /// One JSON object per frame (schema in the README).
    Json,
}

/// Selects methods by name: `basic.publish`, or a whole class (`basic` or
/// `basic.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodFilter {
    class_id: u16,
    method_id: Option<u16>,
}

impl MethodFilter {
    fn matches(self, id: MethodId) -> bool {
        self.class_id == id.class_id && self.method_id.is_none_or(|m| m == id.method_id)
    }
}

impl std::str::FromStr for MethodFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let class = s.strip_suffix(".*").unwrap_or(s);
        if let Some(m) = METHODS.iter().find(|m| m.name == s) {
            return Ok(MethodFilter {
                class_id: m.class_id,
                method_id: Some(m.method_id),
            });
        }
        if let Some(m) = METHODS
            .iter()
            .find(|m| m.name.split('.').next() == Some(class))
        {
            return Ok(MethodFilter {
                class_id: m.class_id,
                method_id: None,
            });
        }
        Err(format!(
            "unknown method {s:?}: expected class.method as the specification names it \
             (basic.publish, queue.declare-ok, ...) or a class (basic, basic.*)"
        ))
    }
}

/// What to print and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Text or JSON.
    pub format: Format,
    /// Body bytes shown per message (text) or per body frame (JSON).
    pub max_body: usize,
    /// Only these channels (all when empty).
    pub channels: Vec<u16>,
    /// Only these methods, with their content frames (all when empty).
    pub methods: Vec<MethodFilter>,
    /// Show credentials (connection.start-ok's SASL response,
    /// connection.update-secret's secret) rather than their length alone.
    pub show_secrets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Text,
            max_body: 64,
            channels: Vec::new(),
            methods: Vec::new(),
            show_secrets: false,
        }
    }
}

/// Whether argument `field` of method `method` is a credential: a PLAIN or
/// AMQPLAIN response carries the password as is, an update-secret the new
/// token. Output is pasted into tickets and chats; such fields are masked
/// unless asked for.
fn is_secret(method: &Method, field: &str) -> bool {
    matches!(
        (method.name(), field),
        ("connection.start-ok", "response") | ("connection.update-secret", "new-secret")
    )
}

/// The length of a masked credential.
fn secret_len(v: &ArgValue<'_>) -> usize {
    match v {
        ArgValue::ShortStr(s) => s.len(),
        ArgValue::LongStr(s) => s.len(),
        _ => 0,
    }
}

impl Options {
    /// Whether the filters let `event` through. Errors and stream notices
    /// always pass, unless they are on a channel the filter leaves out.
    pub fn selects(&self, event: &Event<'_>) -> bool {
        let channel_ok = |ch: u16| self.channels.is_empty() || self.channels.contains(&ch);
        let method_ok = |id: Option<MethodId>| {
            self.methods.is_empty()
                || id.is_some_and(|id| self.methods.iter().any(|f| f.matches(id)))
        };
        match event {
            Event::ProtocolHeader(_) => self.channels.is_empty() && self.methods.is_empty(),
            Event::Frame {
                frame, content_of, ..
            } => {
                let id = match &frame.payload {
                    FramePayload::Method(m) => Some(m.id()),
                    FramePayload::Header(_) | FramePayload::Body(_) => *content_of,
                    FramePayload::Heartbeat => None,
                };
                channel_ok(frame.channel) && method_ok(id)
            }
            Event::Message { channel, content } => {
                channel_ok(*channel) && method_ok(Some(content.method.id()))
            }
            Event::Error {
                channel: Some(ch), ..
            } => channel_ok(*ch),
            _ => true,
        }
    }
}

/// Renders events; shared by `decode` and the proxy.
#[derive(Debug, Clone, Default)]
pub struct Printer {
    opts: Options,
}

impl Printer {
    /// A printer with these options.
    pub fn new(opts: Options) -> Self {
        Printer { opts }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Appends the rendering of `event` to `out` when the filters select it
    /// (JSON has no object for messages: their frames carry everything).
    pub fn render(&self, out: &mut Vec<u8>, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        if !self.opts.selects(event) {
            return;
        }
        match self.opts.format {
            Format::Text => self.text(out, conn, dir, at, event),
            Format::Json => self.json(out, conn, dir, at, event),
        }
    }

    fn text(&self, out: &mut Vec<u8>, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        let mut line = Line(out);
        if let Some(ts) = at.ts {
            time_of_day(&mut line, ts);
            line.push(' ');
        }
        if conn.client.is_some() {
            line.push_str(&conn.text);
            line.push(' ');
        }
        line.push_str(dir.as_str());
        line.push(' ');
        // Writing into a String cannot fail.
        let _ = match event {
            Event::ProtocolHeader(h) => write!(line, "{h}"),
            Event::Frame { frame, confirm, .. } => {
                let r = frame_text(&mut line, frame, self.opts.show_secrets);
                match confirm {
                    Confirm::None => {}
                    Confirm::Published(seq) => {
                        line.push_str(" [confirm seq ");
                        line.int(*seq);
                        line.byte(b']');
                    }
                    Confirm::Settled(s) => settled_text(&mut line, at, s),
                }
                r
            }
            Event::Message { channel, content } => {
                line.push_str("ch=");
                line.int(*channel);
                line.push_str(" message ");
                self.message(&mut line, content)
            }
            Event::Error { channel, error } => {
                if let Some(ch) = channel {
                    let _ = write!(line, "ch={ch} ");
                }
                write!(line, "error {error}")
            }
            Event::Resync { skipped, reason } => write!(
                line,
                "resync: skipped {skipped} bytes to a frame boundary ({})",
                reason.as_str()
            ),
            Event::Gap { missing } => {
                write!(line, "gap: {missing} bytes missing from the capture")
            }
            Event::Incomplete { pending } => {
                write!(
                    line,
                    "incomplete: the input ends {pending} bytes into a frame"
                )
            }
        };
        line.push('\n');
    }

    fn message(&self, line: &mut Line<'_>, content: &Content) -> std::fmt::Result {
        method_text(line, &content.method, self.opts.show_secrets)?;
        line.push_str(" |");
        properties_text(line, &content.header)?;
        // The decoder may have kept only the body's start: the header
        // says its length.
        let len = content.header.body_size.max(content.body.len() as u64);
        line.push_str(" | body ");
        line.int(len);
        line.push_str(" bytes");
        if self.opts.max_body > 0 && !content.body.is_empty() {
            line.push_str(": ");
            let n = content.body.len().min(self.opts.max_body);
            escaped(line, &content.body[..n]);
            if (n as u64) < len {
                line.push_str("...");
            }
        }
        Ok(())
    }

    fn json(&self, out: &mut Vec<u8>, conn: &ConnInfo, dir: Dir, at: At, event: &Event<'_>) {
        if matches!(event, Event::Message { .. }) {
            return;
        }
        out.push(b'{');
        if let Some(ts) = at.ts {
            // Exact digits: a JSON number with the capture's precision.
            let _ = write!(out, "\"ts\":{ts},");
        }
        if let Some(pkt) = at.pkt {
            out.extend_from_slice(b"\"pkt\":");
            json::int(out, pkt);
            out.push(b',');
        }
        out.extend_from_slice(b"\"conn\":");
        out.extend_from_slice(&conn.json);
        out.extend_from_slice(b",\"dir\":\"");
        out.extend_from_slice(dir.as_str().as_bytes());
        out.extend_from_slice(b"\",");
        match event {
            Event::ProtocolHeader(h) => {
                out.extend_from_slice(b"\"type\":\"protocol-header\",\"protocol_id\":");
                json::int(out, h.protocol_id);
                out.extend_from_slice(b",\"major\":");
                json::int(out, h.major);
                out.extend_from_slice(b",\"minor\":");
                json::int(out, h.minor);
                out.extend_from_slice(b",\"revision\":");
                json::int(out, h.revision);
            }
            Event::Frame { frame, confirm, .. } => self.json_frame(out, frame, confirm),
            Event::Message { .. } => {}
            Event::Error { channel, error } => {
                if let Some(ch) = channel {
                    out.extend_from_slice(b"\"channel\":");
                    json::int(out, *ch);
                    out.push(b',');
                }
                out.extend_from_slice(b"\"type\":\"error\",\"error\":");
                json_error(out, error);
            }
            Event::Resync { skipped, reason } => {
                out.extend_from_slice(b"\"type\":\"resync\",\"skipped\":");
                json::int(out, *skipped);
                out.extend_from_slice(b",\"reason\":\"");
                out.extend_from_slice(reason.as_str().as_bytes());
                out.push(b'"');
            }
            Event::Gap { missing } => {
                out.extend_from_slice(b"\"type\":\"gap\",\"missing\":");
                json::int(out, *missing);
            }
            Event::Incomplete { pending } => {
                out.extend_from_slice(b"\"type\":\"incomplete\",\"pending\":");
                json::int(out, *pending);
            }
        }
        out.extend_from_slice(b"}\n");
    }

    fn json_frame(&self, out: &mut Vec<u8>, frame: &Frame, confirm: &Confirm<'_>) {
        out.extend_from_slice(b"\"channel\":");
        json::int(out, frame.channel);
        match &frame.payload {
            FramePayload::Method(m) => {
                out.extend_from_slice(b",\"type\":\"method\",\"class_id\":");
                json::int(out, m.class_id());
                out.extend_from_slice(b",\"method_id\":");
                json::int(out, m.method_id());
                json_method(out, m, self.opts.show_secrets);
                match confirm {
                    Confirm::None => {}
                    Confirm::Published(seq) => {
                        out.extend_from_slice(b",\"confirm_seq\":");
                        json::int(out, *seq);
                    }
                    Confirm::Settled(s) => {
                        out.extend_from_slice(b",\"confirms\":[");
                        for (i, p) in s.iter().enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            json::int(out, p.seq);
                        }
                        out.push(b']');
                    }
                }
            }
            FramePayload::Header(h) => {
                out.extend_from_slice(b",\"type\":\"header\",\"class_id\":");
                json::int(out, h.class_id);
                out.extend_from_slice(b",\"weight\":");
                json::int(out, h.weight);
                out.extend_from_slice(b",\"body_size\":");
                json::int(out, h.body_size);
                out.extend_from_slice(b",\"properties\":");
                json_properties(out, &h.properties);
            }
            FramePayload::Body(b) => {
                out.extend_from_slice(b",\"type\":\"body\",\"len\":");
                json::int(out, b.len());
                if self.opts.max_body > 0 {
                    out.extend_from_slice(b",\"preview\":");
                    json::bytes(out, &b[..b.len().min(self.opts.max_body)]);
                }
            }
            FramePayload::Heartbeat => out.extend_from_slice(b",\"type\":\"heartbeat\""),
        }
    }
}

/// `"method":"basic.publish","fields":{...}`, or for ids the specification
/// does not define, `"method":null,"arguments":<bytes>`. Credentials are
/// `{"masked": length}` unless `show_secrets`.
fn json_method(out: &mut Vec<u8>, m: &Method, show_secrets: bool) {
    if let Method::Unknown { arguments, .. } = m {
        out.extend_from_slice(b",\"method\":null,\"arguments\":");
        json::bytes(out, arguments);
        return;
    }
    out.extend_from_slice(b",\"method\":\"");
    out.extend_from_slice(m.name().as_bytes());
    out.extend_from_slice(b"\",\"fields\":{");
    for (i, (info, v)) in m.fields().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::str(out, info.name);
        out.push(b':');
        if !show_secrets && is_secret(m, info.name) {
            out.extend_from_slice(b"{\"masked\":");
            json::int(out, secret_len(&v));
            out.push(b'}');
        } else {
            json::arg(out, v);
        }
    }
    out.push(b'}');
}

/// The present properties keyed by their specification names, or for a
/// class without properties in the specification, `{"raw": <bytes>}`.
fn json_properties(out: &mut Vec<u8>, p: &Properties) {
    if let Properties::Unknown(raw) = p {
        out.extend_from_slice(b"{\"raw\":");
        json::bytes(out, raw);
        out.push(b'}');
        return;
    }
    out.push(b'{');
    let mut first = true;
    for (i, info) in p.fields().iter().enumerate() {
        if let Some(v) = p.get(i) {
            if !first {
                out.push(b',');
            }
            first = false;
            json::str(out, info.name);
            out.push(b':');
            json::arg(out, v);
        }
    }
    out.push(b'}');
}

/// `{"kind":"bad-frame-end","path":"frame","message":"...","reply_code":501,"reply_text":"FRAME_ERROR"}`
fn json_error(out: &mut Vec<u8>, e: &Error) {
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(error_kind_name(e).as_bytes());
    out.extend_from_slice(b"\",\"path\":");
    json::str(out, e.path());
    out.extend_from_slice(b",\"message\":");
    json::str(out, &e.kind().to_string());
    let code = e.reply_code();
    out.extend_from_slice(b",\"reply_code\":");
    json::int(out, code.0);
    out.extend_from_slice(b",\"reply_text\":");
    match code.name() {
        Some(n) => json::str(out, n),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// The error kind's variant name in kebab case (`BadFrameEnd` →
/// `bad-frame-end`), taken from its `Debug` form so that kinds added to the
/// protocol crate later get a name too.
pub(crate) fn error_kind_name(e: &Error) -> String {
    let debug = format!("{:?}", e.kind());
    let variant = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    let mut name = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

/// Text appended straight to the output buffer (no intermediate `String`).
struct Line<'a>(&'a mut Vec<u8>);

impl Line<'_> {
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.push_str(c.encode_utf8(&mut b));
    }

    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn int(&mut self, n: impl itoa::Integer) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// `n` in exactly `width` digits, zero-padded.
    fn padded(&mut self, n: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut v = n;
        for d in digits[..width].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.0.extend_from_slice(&digits[..width]);
    }
}

impl std::fmt::Write for Line<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// A frame as `amqp-protocol`'s `Display` writes it (`ch=1 method
/// basic.publish ...`), without the formatting machinery for all but the
/// rare kinds: frame lines are most of what the proxy writes.
fn frame_text(line: &mut Line<'_>, frame: &Frame, show_secrets: bool) -> std::fmt::Result {
    line.push_str("ch=");
    line.int(frame.channel);
    match &frame.payload {
        FramePayload::Method(m) => {
            line.push_str(" method ");
            method_text(line, m, show_secrets)
        }
        FramePayload::Header(h) => {
            line.push_str(" header class=");
            line.int(h.class_id);
            if h.weight != 0 {
                line.push_str(" weight=");
                line.int(h.weight);
            }
            line.push_str(" body-size=");
            line.int(h.body_size);
            if let Properties::Unknown(raw) = &h.properties {
                return write!(line, " ({} property bytes)", raw.len());
            }
            for (i, info) in h.properties.fields().iter().enumerate() {
                if let Some(v) = h.properties.get(i) {
                    line.byte(b' ');
                    line.push_str(info.name);
                    line.byte(b'=');
                    arg_text(line, v)?;
                }
            }
            Ok(())
        }
        FramePayload::Body(b) => {
            line.push_str(" body ");
            line.int(b.len());
            line.push_str(" bytes");
            Ok(())
        }
        FramePayload::Heartbeat => {
            line.push_str(" heartbeat");
            Ok(())
        }
    }
}

/// A method as `amqp-protocol`'s `Display` writes it, credentials masked
/// unless `show_secrets`.
fn method_text(line: &mut Line<'_>, m: &Method, show_secrets: bool) -> std::fmt::Result {
    if let Method::Unknown { .. } = m {
        return write!(line, "{m}");
    }
    line.push_str(m.name());
    for (info, v) in m.fields() {
        if !info.reserved {
            line.byte(b' ');
            line.push_str(info.name);
            line.byte(b'=');
            if !show_secrets && is_secret(m, info.name) {
                line.push_str("<masked, ");
                line.int(secret_len(&v));
                line.push_str(" bytes>");
            } else {
                arg_text(line, v)?;
            }
        }
    }
    Ok(())
}

/// ` [confirms seq 3-5 (0.210 to 0.380 ms),7 (0.120 ms)]`: the publishes a
/// broker's ack or nack settles, runs of consecutive sequence numbers
/// together, each with the range of their latencies.
fn settled_text(line: &mut Line<'_>, at: At, settled: &[crate::event::Settled]) {
    line.push_str(" [confirms");
    if settled.is_empty() {
        line.push_str(" nothing outstanding");
    }
    let mut rest = settled;
    let mut first = true;
    while let Some(start) = rest.first() {
        let mut run = 1;
        while run < rest.len() && rest[run - 1].seq.checked_add(1) == Some(rest[run].seq) {
            run += 1;
        }
        let (this, next) = rest.split_at(run);
        rest = next;
        line.push_str(if first { " seq " } else { "," });
        first = false;
        line.int(start.seq);
        if run > 1 {
            line.byte(b'-');
            line.int(this[run - 1].seq);
        }
        let Some(now) = at.ts else {
            continue;
        };
        let mut ms = this
            .iter()
            .filter_map(|p| p.published.ts)
            .map(|t| now.seconds_since(t) * 1e3);
        let Some(first_ms) = ms.next() else {
            continue;
        };
        let (lo, hi) = ms.fold((first_ms, first_ms), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = (format_ms(lo), format_ms(hi));
        line.push_str(" (");
        line.push_str(&lo);
        if hi != lo {
            line.push_str(" to ");
            line.push_str(&hi);
        }
        line.push_str(" ms)");
    }
    line.byte(b']');
}

/// Milliseconds with three decimals.
fn format_ms(ms: f64) -> String {
    format!("{ms:.3}")
}

/// ` content-type="text/plain" delivery-mode=2`: the present properties.
fn properties_text(line: &mut Line<'_>, h: &ContentHeader) -> std::fmt::Result {
    if let Properties::Unknown(raw) = &h.properties {
        return write!(line, " class {} ({} property bytes)", h.class_id, raw.len());
    }
    let mut any = false;
    for (i, info) in h.properties.fields().iter().enumerate() {
        if let Some(v) = h.properties.get(i) {
            any = true;
            line.byte(b' ');
            line.push_str(info.name);
            line.byte(b'=');
            arg_text(line, v)?;
        }
    }
    if !any {
        line.push_str(" no properties");
    }
    Ok(())
}

/// A value as `amqp-protocol`'s `Display` writes it (quoted, escaped
/// strings), the frequent kinds without the formatting machinery.
fn arg_text(line: &mut Line<'_>, v: ArgValue<'_>) -> std::fmt::Result {
    match v {
        ArgValue::Bit(b) => line.push_str(if b { "true" } else { "false" }),
        ArgValue::Octet(n) => line.int(n),
        ArgValue::Short(n) => line.int(n),
        ArgValue::Long(n) => line.int(n),
        ArgValue::LongLong(n) => line.int(n),
        ArgValue::ShortStr(s) => escaped(line, s),
        ArgValue::LongStr(s) => escaped(line, s),
        ArgValue::Timestamp(t) => line.int(t.0),
        ArgValue::Table(t) => return write!(line, "{t}"),
    }
    Ok(())
}

/// A quoted preview: printable ASCII as is, the rest escaped.
fn escaped(line: &mut Line<'_>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    line.byte(b'"');
    for &b in bytes {
        match b {
            b'"' => line.push_str("\\\""),
            b'\\' => line.push_str("\\\\"),
            b'\n' => line.push_str("\\n"),
            b'\r' => line.push_str("\\r"),
            b'\t' => line.push_str("\\t"),
            0x20..=0x7e => line.byte(b),
            _ => {
                line.push_str("\\x");
                line.byte(HEX[usize::from(b >> 4)]);
                line.byte(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    line.byte(b'"');
}

/// `HH:MM:SS.ffffff` (UTC), with nanoseconds when the capture has them.
fn time_of_day(line: &mut Line<'_>, ts: Ts) {
    let s = ts.secs % 86_400;
    line.padded(s / 3600, 2);
    line.byte(b':');
    line.padded(s / 60 % 60, 2);
    line.byte(b':');
    line.padded(s % 60, 2);
    line.byte(b'.');
    if ts.nano_precision {
        line.padded(u64::from(ts.nanos), 9);
    } else {
        line.padded(u64::from(ts.nanos / 1000), 6);
    }
}

#[cfg(test)]
mod tests;
