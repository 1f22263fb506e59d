//! Decoding errors: typed by cause, with the path of what failed and the reply
//! code the connection must close with.

use std::fmt;

use crate::{MethodId, ReplyCode};

/// Why decoding failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A complete frame's payload ended before the value at the path (501).
    Truncated,
    /// Bytes remain after the last argument, property or table entry (501).
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The frame did not end with the frame-end octet 0xCE (501).
    BadFrameEnd {
        /// The octet found instead.
        found: u8,
    },
    /// A frame type other than method, header, body or heartbeat (501).
    UnknownFrameType {
        /// The type octet.
        frame_type: u8,
    },
    /// The frame is larger than the negotiated maximum; detected from the
    /// 7-byte header, before the payload is buffered (501).
    FrameTooLarge {
        /// Total frame size the header declares (header, payload and end octet).
        size: u64,
        /// The maximum in force.
        max: u32,
    },
    /// A heartbeat frame with a payload (501).
    HeartbeatPayload {
        /// The payload size.
        size: u32,
    },
    /// The 8 bytes at the start of a connection are not an AMQP protocol header.
    BadProtocolHeader {
        /// The bytes read.
        found: [u8; 8],
    },
    /// Class and method ids the specification does not define, where a typed
    /// method is required (540).
    UnknownMethod {
        /// The ids on the wire.
        id: MethodId,
    },
    /// A payload for one method was decoded as another (503).
    MethodMismatch {
        /// The method asked for.
        expected: MethodId,
        /// The ids on the wire.
        found: MethodId,
    },
    /// A field-table value with a type tag RabbitMQ does not define (502).
    UnknownFieldTag {
        /// The tag octet.
        tag: u8,
    },
    /// A boolean table value other than 0 or 1 (502). Accepting it would make
    /// re-encoding change the byte, so it is rejected.
    InvalidBool {
        /// The octet.
        value: u8,
    },
    /// Bits set in a bit octet beyond the bits the method defines (502).
    ReservedBits {
        /// The octet.
        octet: u8,
    },
    /// Property flags for properties that do not exist, or a continuation
    /// bit with no further properties to describe (502).
    InvalidPropertyFlags {
        /// The flag word.
        word: u16,
    },
    /// Field tables or arrays nested deeper than the decoder allows (502).
    NestingTooDeep {
        /// The limit.
        limit: usize,
    },
    /// A content header or body frame on channel 0 (504).
    ContentOnChannelZero,
    /// A content header that follows no content-carrying method (505).
    UnexpectedHeader,
    /// A body frame that follows no content header, or comes after the body
    /// was complete (505).
    UnexpectedBody,
    /// A frame other than the expected header or body arrived on a channel
    /// while content was being assembled (505).
    ContentInterrupted {
        /// Body bytes still expected (the header counts as missing when it
        /// has not arrived: `None`).
        remaining: Option<u64>,
    },
    /// The content header's class differs from its method's class (505).
    HeaderClassMismatch {
        /// The method's class.
        expected: u16,
        /// The header's class.
        found: u16,
    },
    /// Body frames carry more bytes than the header declared (505).
    BodyTooLong {
        /// Declared body size.
        declared: u64,
        /// Bytes received so far.
        received: u64,
    },
}

/// A decoding error: the cause, where it happened (`basic.publish.routing-key`,
/// `frame`, `field-table`, ...) and the reply code the peer must be sent when
/// the connection is closed because of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    path: &'static str,
}

impl Error {
    /// Creates an error.
    pub fn new(kind: ErrorKind, path: &'static str) -> Self {
        Error { kind, path }
    }

    /// The cause.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Where it happened: `class.method.field`, `class.properties.name`,
    /// `frame`, `content` or `field-table`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The reply code to close the connection with (every decoding error is a
    /// connection error: 501, 502, 503, 504, 505 or 540).
    pub fn reply_code(&self) -> ReplyCode {
        use ErrorKind::*;
        match self.kind {
            Truncated
            | TrailingBytes { .. }
            | BadFrameEnd { .. }
            | UnknownFrameType { .. }
            | FrameTooLarge { .. }
            | HeartbeatPayload { .. }
            | BadProtocolHeader { .. } => ReplyCode::FRAME_ERROR,
            UnknownFieldTag { .. }
            | InvalidBool { .. }
            | ReservedBits { .. }
            | InvalidPropertyFlags { .. }
            | NestingTooDeep { .. } => ReplyCode::SYNTAX_ERROR,
            MethodMismatch { .. } => ReplyCode::COMMAND_INVALID,
            UnknownMethod { .. } => ReplyCode::NOT_IMPLEMENTED,
            ContentOnChannelZero => ReplyCode::CHANNEL_ERROR,
            UnexpectedHeader
            | UnexpectedBody
            | ContentInterrupted { .. }
            | HeaderClassMismatch { .. }
            | BodyTooLong { .. } => ReplyCode::UNEXPECTED_FRAME,
        }
    }
}

impl ErrorKind {
    /// A stable, machine-readable name (`truncated`, `bad-frame-end`, ...),
    /// for logs and JSON output.
    pub fn name(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            Truncated => "truncated",
            TrailingBytes { .. } => "trailing-bytes",
            BadFrameEnd { .. } => "bad-frame-end",
            UnknownFrameType { .. } => "unknown-frame-type",
            FrameTooLarge { .. } => "frame-too-large",
            HeartbeatPayload { .. } => "heartbeat-payload",
            BadProtocolHeader { .. } => "bad-protocol-header",
            UnknownMethod { .. } => "unknown-method",
            MethodMismatch { .. } => "method-mismatch",
            UnknownFieldTag { .. } => "unknown-field-tag",
            InvalidBool { .. } => "invalid-bool",
            ReservedBits { .. } => "reserved-bits",
            InvalidPropertyFlags { .. } => "invalid-property-flags",
            NestingTooDeep { .. } => "nesting-too-deep",
            ContentOnChannelZero => "content-on-channel-zero",
            UnexpectedHeader => "unexpected-header",
            UnexpectedBody => "unexpected-body",
            ContentInterrupted { .. } => "content-interrupted",
            HeaderClassMismatch { .. } => "header-class-mismatch",
            BodyTooLong { .. } => "body-too-long",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Truncated => f.write_str("the payload ends before this value"),
            TrailingBytes { count } => write!(f, "{count} bytes after the last value"),
            BadFrameEnd { found } => write!(f, "frame end octet is {found:#04x}, not 0xce"),
            UnknownFrameType { frame_type } => write!(f, "unknown frame type {frame_type}"),
            FrameTooLarge { size, max } => {
                write!(f, "frame of {size} bytes exceeds the maximum of {max}")
            }
            HeartbeatPayload { size } => write!(f, "heartbeat frame with a {size}-byte payload"),
            BadProtocolHeader { found } => write!(f, "not an AMQP protocol header: {found:02x?}"),
            UnknownMethod { id } => write!(f, "unknown method {id}"),
            MethodMismatch { expected, found } => {
                write!(f, "expected method {expected}, found {found}")
            }
            UnknownFieldTag { tag } => {
                write!(
                    f,
                    "unknown field value tag {:?} ({tag:#04x})",
                    char::from(*tag)
                )
            }
            InvalidBool { value } => write!(f, "boolean octet {value} is neither 0 nor 1"),
            ReservedBits { octet } => write!(f, "undefined bits set in bit octet {octet:#010b}"),
            InvalidPropertyFlags { word } => {
                write!(
                    f,
                    "property flags {word:#018b} name properties that do not exist"
                )
            }
            NestingTooDeep { limit } => {
                write!(f, "tables or arrays nested more than {limit} levels deep")
            }
            ContentOnChannelZero => f.write_str("content frame on channel 0"),
            UnexpectedHeader => f.write_str("content header without a content method"),
            UnexpectedBody => f.write_str("body frame without a pending content header"),
            ContentInterrupted { remaining: Some(n) } => write!(
                f,
                "another frame arrived while {n} body bytes were expected"
            ),
            ContentInterrupted { remaining: None } => {
                f.write_str("another frame arrived where a content header was expected")
            }
            HeaderClassMismatch { expected, found } => write!(
                f,
                "content header for class {found} after a method of class {expected}"
            ),
            BodyTooLong { declared, received } => write!(
                f,
                "body frames carry {received} bytes but the header declared {declared}"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.reply_code();
        write!(
            f,
            "{}: {} (reply {} {})",
            self.path,
            self.kind,
            code.0,
            code.name().unwrap_or("")
        )
    }
}

impl std::error::Error for Error {}

/// Building a [`ShortStr`](crate::ShortStr) from more than 255 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortStrTooLong {
    /// The length that was given.
    pub len: usize,
}

impl fmt::Display for ShortStrTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a short string holds at most 255 bytes, not {}",
            self.len
        )
    }
}

impl std::error::Error for ShortStrTooLong {}
