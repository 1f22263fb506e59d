//! Each scenario's fault, where the workload reaches it.

use std::net::Shutdown;
use std::time::Duration;

use amqp_protocol::{
    basic, channel, connection, BasicProperties, ContentHeader, FieldTable, FieldValue, Frame,
    LongStr, ShortStr,
};
use bytes::{Bytes, BytesMut};

use super::broker::Served;
use super::FRAME_MAX;

impl Served {
    /// After the protocol header.
    pub(super) fn opening(&mut self) -> std::io::Result<()> {
        match self.scenario.id {
            "no-start" => {
                self.fault();
                self.silent = true;
                Ok(())
            }
            "slow-start" => {
                self.fault();
                let mut buf = BytesMut::new();
                Frame::method(0, start()).encode(&mut buf);
                let n = buf.len();
                self.log(
                    "broker",
                    format!("connection.start ({n} bytes), one byte per second"),
                );
                self.drip = Some((buf.freeze(), 0, std::time::Instant::now()));
                Ok(())
            }
            "protocol-header" => {
                self.fault();
                self.write(b"AMQP\x01\x01\x00\x0a", "protocol header AMQP 0-10".into())?;
                let _ = self.peer.stream().shutdown(Shutdown::Both);
                Ok(())
            }
            _ => self.send(0, start()),
        }
    }

    /// A complete publish arrived: its confirm, or the scenario's fault.
    pub(super) fn published(&mut self, ch: u16) -> std::io::Result<bool> {
        self.content_left = None;
        self.wire.published += 1;
        if self.silent {
            return Ok(true);
        }
        let n = self.wire.published;
        let ack = basic::Ack {
            delivery_tag: u64::from(n),
            multiple: false,
        };
        match (self.scenario.id, n) {
            ("bad-frame-end", 1) => {
                self.fault();
                let mut buf = BytesMut::new();
                Frame::method(ch, ack).encode(&mut buf);
                let end = buf.len() - 1;
                buf[end] = 0;
                let payload = buf[7..end].to_vec();
                self.send_raw_frame(
                    1,
                    ch,
                    &payload,
                    0,
                    format!("basic.ack on {ch}, frame-end 0x00"),
                )?;
                return Ok(true);
            }
            ("unknown-frame-type", 1) => {
                self.send(ch, ack)?;
                self.fault();
                self.send_raw_frame(9, 0, &[0, 0, 0, 0], 0xCE, "a frame of type 9".into())?;
                return Ok(true);
            }
            ("unknown-method", 1) => {
                self.send(ch, ack)?;
                self.fault();
                let mut payload = Vec::new();
                payload.extend_from_slice(&60u16.to_be_bytes());
                payload.extend_from_slice(&999u16.to_be_bytes());
                self.send_raw_frame(1, ch, &payload, 0xCE, "method 60/999".into())?;
                return Ok(true);
            }
            ("confirm-withheld", 3) => {
                self.fault();
                self.send(
                    ch,
                    basic::Ack {
                        delivery_tag: 4,
                        multiple: false,
                    },
                )?;
                return Ok(true);
            }
            ("close-with-confirms", 5) => {
                self.fault();
                self.silent = true;
                self.send(
                    ch,
                    channel::Close {
                        reply_code: 406,
                        reply_text: ShortStr::from_static("PRECONDITION_FAILED - scripted"),
                        class_id: 60,
                        method_id: 40,
                    },
                )?;
                // Other frames are ignored from now on; close-ok and the
                // connection's close still answered.
                return Ok(true);
            }
            ("reset-mid-frame", 3) => {
                self.fault();
                let mut buf = BytesMut::new();
                Frame::method(ch, ack).encode(&mut buf);
                let half = buf.len() / 2;
                self.write(
                    &buf[..half],
                    format!("half of basic.ack delivery-tag={n}, then RST"),
                )?;
                let _ = socket2::SockRef::from(self.peer.stream()).set_linger(Some(Duration::ZERO));
                self.wire
                    .socket_closed
                    .get_or_insert(self.started.elapsed());
                return Ok(false);
            }
            _ => {}
        }
        self.send(ch, ack)?;
        Ok(true)
    }

    /// One delivery from the declared queue, or the scenario's fault.
    pub(super) fn deliver(&mut self, ch: u16, tag: &ShortStr) -> std::io::Result<()> {
        self.delivered += 1;
        let n = self.delivered;
        let deliver = basic::Deliver {
            consumer_tag: tag.clone(),
            delivery_tag: n,
            redelivered: false,
            exchange: ShortStr::default(),
            routing_key: ShortStr::try_from(self.queue.as_str()).unwrap_or_default(),
        };
        match (self.scenario.id, n) {
            ("frame-max", 1) => {
                self.fault();
                let body = Bytes::from(vec![b'x'; 8192]);
                self.send(ch, deliver)?;
                let header = ContentHeader::new(body.len() as u64, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                self.send_frame(&Frame::body(ch, body))
            }
            ("huge-content", 1) => {
                self.fault();
                self.send(ch, deliver)?;
                let header = ContentHeader::new(1 << 63, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                // Body frames as big as the client agreed to, until it closes.
                let size = self.frame_max.clamp(4096, FRAME_MAX) as usize - 8;
                self.streaming = Some((ch, size));
                self.write_nonblocking();
                Ok(())
            }
            ("deep-table", 1) => {
                self.fault();
                let body = Bytes::from_static(b"message 0");
                self.send(ch, deliver)?;
                let payload = deep_headers(DEPTH, body.len() as u64);
                let n = payload.len();
                self.send_raw_frame(
                    2,
                    ch,
                    &payload,
                    0xCE,
                    format!("content header, {n} bytes: headers nested {DEPTH} deep"),
                )?;
                self.send_frame(&Frame::body(ch, body))
            }
            ("body-too-long", 1) => {
                self.fault();
                self.send(ch, deliver)?;
                let header = ContentHeader::new(10, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                self.send_frame(&Frame::body(
                    ch,
                    Bytes::from_static(b"twenty bytes of body"),
                ))
            }
            _ => {
                let body = Bytes::from(format!("message {}", n - 1));
                self.send(ch, deliver)?;
                let header = ContentHeader::new(body.len() as u64, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                self.send_frame(&Frame::body(ch, body))
            }
        }
    }
}

/// How deep the `deep-table` scenario nests its headers.
const DEPTH: usize = 10_000;

/// A basic content header (class 60) whose only property, `headers`, is
/// a table holding `{"a": table}` `depth` levels deep.
fn deep_headers(depth: usize, body_size: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(14 + 4 + 7 * depth);
    p.extend_from_slice(&60u16.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&body_size.to_be_bytes());
    // Property flags: headers only.
    p.extend_from_slice(&0x2000u16.to_be_bytes());
    // Each level: its size, then the key "a", the type 'F' and the next.
    for level in (1..=depth).rev() {
        p.extend_from_slice(&((7 * level) as u32).to_be_bytes());
        p.extend_from_slice(b"\x01aF");
    }
    p.extend_from_slice(&0u32.to_be_bytes());
    p
}

/// The broker's connection.start.
fn start() -> connection::Start {
    let mut props = FieldTable::default();
    for key in [
        "host",
        "product",
        "version",
        "platform",
        "copyright",
        "information",
    ] {
        props.insert(key, "amqp-conform scripted broker");
    }
    // RabbitMQ's extensions the workload uses: clients check for them
    // before confirm.select.
    let mut capabilities = FieldTable::default();
    capabilities.insert("publisher_confirms", true);
    capabilities.insert("basic.nack", true);
    props.insert("capabilities", FieldValue::Table(capabilities));
    connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: props,
        mechanisms: LongStr::from("PLAIN AMQPLAIN"),
        locales: LongStr::from("en_US"),
    }
}
