//! Decoding, encoding and rendering any [`Method`].

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::codec::Reader;
use crate::error::{Error, ErrorKind};
use crate::{ArgValue, Fields, Method, MethodId, Properties};

impl Method {
    /// Decodes a method payload (class id, method id, arguments). Ids the
    /// specification does not define give [`Method::Unknown`] with the
    /// argument bytes kept, so a proxy can forward them.
    #[inline]
    pub fn decode(payload: &Bytes) -> Result<Method, Error> {
        let mut r = Reader::new(payload);
        let class_id = r.short("method.class-id")?;
        let method_id = r.short("method.method-id")?;
        match Method::decode_args(class_id, method_id, &mut r) {
            Some(m) => {
                let m = m?;
                r.finish(m.name())?;
                Ok(m)
            }
            None => Ok(Method::Unknown {
                class_id,
                method_id,
                arguments: r.rest(),
            }),
        }
    }

    /// Like [`decode`](Self::decode), but ids the specification does not
    /// define are an [`UnknownMethod`](ErrorKind::UnknownMethod) error (540),
    /// for peers that must act on every method they receive.
    pub fn decode_known(payload: &Bytes) -> Result<Method, Error> {
        match Method::decode(payload)? {
            Method::Unknown {
                class_id,
                method_id,
                ..
            } => Err(Error::new(
                ErrorKind::UnknownMethod {
                    id: MethodId {
                        class_id,
                        method_id,
                    },
                },
                "method",
            )),
            m => Ok(m),
        }
    }

    /// Length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        4 + self.args_len()
    }

    /// Writes the method payload (class id, method id, arguments).
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let id = self.id();
        buf.put_u16(id.class_id);
        buf.put_u16(id.method_id);
        self.encode_args(buf);
    }

    /// `class.method`, or `"unknown"`.
    pub fn name(&self) -> &'static str {
        self.info().map_or("unknown", |i| i.name)
    }

    /// Class id.
    pub fn class_id(&self) -> u16 {
        self.id().class_id
    }

    /// Method id.
    pub fn method_id(&self) -> u16 {
        self.id().method_id
    }

    /// Whether content follows this method.
    pub fn has_content(&self) -> bool {
        self.info().is_some_and(|i| i.has_content)
    }

    /// The arguments by their specification names, with typed values, in wire
    /// order, reserved ones included. Allocation-free.
    ///
    /// ```
    /// use amqp_protocol::{basic, ArgValue, Method, ShortStr};
    /// let m = Method::from(basic::Qos { prefetch_count: 10, ..Default::default() });
    /// let names: Vec<_> = m.fields().map(|(f, _)| f.name).collect();
    /// assert_eq!(names, ["prefetch-size", "prefetch-count", "global"]);
    /// assert_eq!(m.fields().nth(1).unwrap().1, ArgValue::Short(10));
    /// ```
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(self)
    }
}

impl fmt::Display for ArgValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Bit(v) => write!(f, "{v}"),
            ArgValue::Octet(v) => write!(f, "{v}"),
            ArgValue::Short(v) => write!(f, "{v}"),
            ArgValue::Long(v) => write!(f, "{v}"),
            ArgValue::LongLong(v) => write!(f, "{v}"),
            ArgValue::ShortStr(v) => write!(f, "{v}"),
            ArgValue::LongStr(v) => write!(f, "{v}"),
            ArgValue::Table(v) => write!(f, "{v}"),
            ArgValue::Timestamp(v) => write!(f, "{v}"),
        }
    }
}

/// One line, Wireshark-like: `basic.publish exchange="" routing-key="jobs"
/// mandatory=false immediate=false`. Reserved arguments are left out.
impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Method::Unknown {
            class_id,
            method_id,
            arguments,
        } = self
        {
            return write!(
                f,
                "unknown-method {class_id}/{method_id} ({} argument bytes)",
                arguments.len()
            );
        }
        f.write_str(self.name())?;
        for (info, value) in self.fields() {
            if !info.reserved {
                write!(f, " {}={value}", info.name)?;
            }
        }
        Ok(())
    }
}

/// `class=60 weight=0 body-size=5 content-type="text/plain" delivery-mode=2`:
/// the present properties only.
impl fmt::Display for crate::ContentHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "class={} ", self.class_id)?;
        if self.weight != 0 {
            write!(f, "weight={} ", self.weight)?;
        }
        write!(f, "body-size={}", self.body_size)?;
        if let Properties::Unknown(raw) = &self.properties {
            return write!(f, " ({} property bytes)", raw.len());
        }
        for (i, info) in self.properties.fields().iter().enumerate() {
            if let Some(v) = self.properties.get(i) {
                write!(f, " {}={v}", info.name)?;
            }
        }
        Ok(())
    }
}

/// One line: `ch=1 method basic.publish ...`, `ch=1 header class=60 ...`,
/// `ch=1 body 5 bytes`, `ch=0 heartbeat`.
impl fmt::Display for crate::Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ch={} ", self.channel)?;
        match &self.payload {
            crate::FramePayload::Method(m) => write!(f, "method {m}"),
            crate::FramePayload::Header(h) => write!(f, "header {h}"),
            crate::FramePayload::Body(b) => write!(f, "body {} bytes", b.len()),
            crate::FramePayload::Heartbeat => f.write_str("heartbeat"),
        }
    }
}
