//! Each scenario's fault, where the workload reaches it.

use std::net::Shutdown;
use std::time::Duration;

use amqp_protocol::{
    basic, channel, connection, BasicProperties, ContentHeader, FieldTable, Frame, LongStr,
    ShortStr,
};
use bytes::{Bytes, BytesMut};

use super::broker::Served;

impl Served {
    /// After the protocol header.
    pub(super) fn opening(&mut self) -> std::io::Result<()> {
        match self.scenario.id {
            "no-start" => {
                self.fault();
                self.silent = true;
                Ok(())
            }
            "protocol-header" => {
                self.fault();
                self.write(b"AMQP\x01\x01\x00\x0a", "protocol header AMQP 0-10".into())?;
                let _ = self.stream.shutdown(Shutdown::Both);
                Ok(())
            }
            _ => {
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
                self.send(
                    0,
                    connection::Start {
                        version_major: 0,
                        version_minor: 9,
                        server_properties: props,
                        mechanisms: LongStr::from("PLAIN AMQPLAIN"),
                        locales: LongStr::from("en_US"),
                    },
                )
            }
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
                let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
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
