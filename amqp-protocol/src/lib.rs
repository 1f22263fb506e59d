//! The AMQP 0-9-1 wire protocol as typed Rust, with RabbitMQ's extensions.
//!
//! Every class, method, argument, domain and constant of the specification is
//! generated at build time from RabbitMQ's extended XML by `amqp-codegen`,
//! with the specification's own text as documentation. Around the generated
//! types this crate provides frames, field tables, content headers, a
//! two-phase [`FrameDecoder`], encoders over [`bytes::BufMut`], and a content
//! [`Assembler`].
//!
//! # The contract
//!
//! - **Sans-IO.** No sockets, no runtime, no clock: bytes in, values out, and
//!   back. Usable alone by clients, proxies, sniffers and conformance tests.
//! - **Lossless.** For every frame that decodes without error, encoding the
//!   decoded value gives back the same bytes: reserved arguments are kept,
//!   field tables keep their order and duplicate keys, and the 0-9-1 grammar's
//!   table tags `U` and `L` are kept as their own variants. Non-canonical forms
//!   that could not be written back are rejected with a typed error instead:
//!   a boolean table value other than 0 or 1, undefined bits set in a bit
//!   octet or a property-flag word (and continuation words that are empty or
//!   name no property), bytes after the last argument.
//! - **Zero-copy.** Body frames, short and long strings and byte arrays are
//!   [`Bytes`](bytes::Bytes) slices of the read buffer.
//! - **No panics on input.** Malformed input gives an [`Error`] that says what
//!   failed, where (`basic.publish.routing-key`), and which reply code the
//!   connection must be closed with ([`Error::reply_code`]). Incomplete input
//!   is `Ok(None)`, never an error.
//!
//! # Decoding and encoding a frame
//!
//! ```
//! use amqp_protocol::{basic, Frame, FrameDecoder, FramePayload, Method, ShortStr};
//! use bytes::BytesMut;
//!
//! let mut buf = BytesMut::new();
//! let publish = basic::Publish {
//!     exchange: ShortStr::from_static("amq.direct"),
//!     routing_key: ShortStr::from_static("jobs"),
//!     mandatory: true,
//!     ..Default::default()
//! };
//! Frame::method(1, publish).encode(&mut buf);
//!
//! let frame = FrameDecoder::new(131_072).decode(&mut buf).unwrap().unwrap();
//! assert_eq!(
//!     frame.to_string(),
//!     r#"ch=1 method basic.publish exchange="amq.direct" routing-key="jobs" mandatory=true immediate=false"#
//! );
//! let FramePayload::Method(Method::BasicPublish(p)) = frame.payload else { unreachable!() };
//! assert_eq!(p.routing_key, "jobs");
//! ```
//!
//! # Walking any method's fields
//!
//! [`Method::fields`] yields each argument's [`FieldInfo`] (name, domain, type,
//! reserved) and its [`ArgValue`], without allocating: what printers, sniffers
//! and JSON output need, without a match arm per method. [`METHODS`] and
//! [`method_info`] give the same metadata without a value.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod content;
pub mod delivery_mode;
mod error;
mod frame;
mod info;
mod method;
mod table;
mod value;

#[allow(clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/protocol.rs"));
}

pub use codec::MAX_NESTING;
pub use content::{Assembled, Assembler, Content, ContentHeader};
pub use error::{Error, ErrorKind, ShortStrTooLong};
pub use frame::{
    body_frames, content_encoded_len, encode_content, encode_method_frame, Frame, FrameCounter,
    FrameDecoder, FrameHeader, FramePayload, ProtocolHeader, FRAME_HEADER_SIZE, FRAME_OVERHEAD,
};
pub use generated::{
    basic, channel, confirm, connection, constants, domains, exchange, method_info, queue, tx,
    BasicProperties, Method, Properties, METHODS, RULES, SPEC_FILE, SPEC_SHA256,
};
pub use info::{
    AmqpType, ArgValue, Direction, ExceptionKind, FieldInfo, Fields, MethodId, MethodInfo,
    MethodType, ReplyCode, RuleElement, RuleInfo,
};
pub use table::{FieldArray, FieldTable, FieldValue, TableKey};
pub use value::{Decimal, LongStr, ShortStr, Timestamp};
