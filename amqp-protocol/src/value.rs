//! Strings and scalar value types: [`ShortStr`], [`LongStr`], [`Timestamp`],
//! [`Decimal`].

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use bytes::{BufMut, Bytes};

use crate::error::ShortStrTooLong;

/// Writes `bytes` as a quoted string, printable ASCII as is and everything
/// else escaped (`\n`, `\"`, `\xNN`).
pub(crate) fn write_escaped(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    // Runs of printable ASCII go out in one piece; the rest is escaped.
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x20..=0x7e => continue,
            _ => "",
        };
        if let Ok(s) = std::str::from_utf8(&bytes[run..i]) {
            f.write_str(s)?;
        }
        if escape.is_empty() {
            write!(f, "\\x{b:02x}")?;
        } else {
            f.write_str(escape)?;
        }
        run = i + 1;
    }
    if let Ok(s) = std::str::from_utf8(&bytes[run..]) {
        f.write_str(s)?;
    }
    f.write_str("\"")
}

/// An AMQP short string: at most 255 bytes, not necessarily UTF-8 (the wire
/// does not promise it; check with [`to_str`](Self::to_str) when it matters).
///
/// Decoded short strings are slices of the frame they came from: no copy.
/// Building one from more than 255 bytes is an error, never a truncation.
///
/// ```
/// use amqp_protocol::ShortStr;
/// let q = ShortStr::try_from("jobs").unwrap();
/// assert_eq!(q, "jobs");
/// assert!(ShortStr::try_from("x".repeat(256)).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortStr(Bytes);

impl ShortStr {
    /// The empty string.
    pub const fn new() -> Self {
        ShortStr(Bytes::new())
    }

    /// A short string from a constant.
    ///
    /// # Panics
    ///
    /// When `s` is longer than 255 bytes (at compile time in a `const`).
    pub const fn from_static(s: &'static str) -> Self {
        assert!(s.len() <= 255, "a short string holds at most 255 bytes");
        ShortStr(Bytes::from_static(s.as_bytes()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as a cheaply cloned [`Bytes`].
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// The string, if it is UTF-8.
    pub fn to_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    /// The string, with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Length in bytes (0–255).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encoded length: one length octet and the bytes.
    pub fn encoded_len(&self) -> usize {
        1 + self.0.len()
    }

    /// Writes the length octet and the bytes.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        // The constructor guarantees len <= 255.
        buf.put_u8(self.0.len() as u8);
        buf.put_slice(&self.0);
    }

    pub(crate) fn from_bytes_unchecked(b: Bytes) -> Self {
        debug_assert!(b.len() <= 255);
        ShortStr(b)
    }
}

impl TryFrom<Bytes> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(b: Bytes) -> Result<Self, ShortStrTooLong> {
        if b.len() > 255 {
            Err(ShortStrTooLong { len: b.len() })
        } else {
            Ok(ShortStr(b))
        }
    }
}

impl TryFrom<&str> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(s: &str) -> Result<Self, ShortStrTooLong> {
        ShortStr::try_from(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(s: &[u8]) -> Result<Self, ShortStrTooLong> {
        if s.len() > 255 {
            Err(ShortStrTooLong { len: s.len() })
        } else {
            Ok(ShortStr(Bytes::copy_from_slice(s)))
        }
    }
}

impl TryFrom<String> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(s: String) -> Result<Self, ShortStrTooLong> {
        ShortStr::try_from(Bytes::from(s))
    }
}

impl TryFrom<Vec<u8>> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(s: Vec<u8>) -> Result<Self, ShortStrTooLong> {
        ShortStr::try_from(Bytes::from(s))
    }
}

/// An AMQP long string: binary-safe bytes (SASL responses, message bodies of
/// `S` table values). Decoded long strings are slices of the frame.
///
/// The length goes on the wire as 32 bits: callers keep values under 4 GiB
/// (frames are far smaller in practice, and the connection's `frame_max`
/// bounds every method).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LongStr(Bytes);

impl LongStr {
    /// The empty string.
    pub const fn new() -> Self {
        LongStr(Bytes::new())
    }

    /// A long string from a constant.
    pub const fn from_static(s: &'static [u8]) -> Self {
        LongStr(Bytes::from_static(s))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as a cheaply cloned [`Bytes`].
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// Consumes the string, giving its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The string, if it is UTF-8.
    pub fn to_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    /// The string, with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encoded length: a 4-byte length and the bytes.
    pub fn encoded_len(&self) -> usize {
        4 + self.0.len()
    }

    /// Writes the 32-bit length and the bytes.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u32(self.0.len() as u32);
        buf.put_slice(&self.0);
    }
}

impl From<Bytes> for LongStr {
    fn from(b: Bytes) -> Self {
        LongStr(b)
    }
}

impl From<&str> for LongStr {
    fn from(s: &str) -> Self {
        LongStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&[u8]> for LongStr {
    fn from(s: &[u8]) -> Self {
        LongStr(Bytes::copy_from_slice(s))
    }
}

impl From<String> for LongStr {
    fn from(s: String) -> Self {
        LongStr(Bytes::from(s))
    }
}

impl From<Vec<u8>> for LongStr {
    fn from(s: Vec<u8>) -> Self {
        LongStr(Bytes::from(s))
    }
}

/// The impls both string types share: byte access, comparison with `str`,
/// and quoted, escaped `Debug`/`Display`.
macro_rules! string_impls {
    ($t:ident) => {
        impl Deref for $t {
            type Target = [u8];
            fn deref(&self) -> &[u8] {
                &self.0
            }
        }

        impl AsRef<[u8]> for $t {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other.as_bytes()
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == other.as_bytes()
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_escaped(f, &self.0)
            }
        }

        /// Quoted, with non-printable bytes escaped.
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_escaped(f, &self.0)
            }
        }
    };
}

string_impls!(ShortStr);

/// Hashes and compares as its bytes, so maps keyed by `ShortStr` can be
/// looked up with a `&[u8]` (or `str.as_bytes()`).
impl std::borrow::Borrow<[u8]> for ShortStr {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}
string_impls!(LongStr);

/// An AMQP timestamp: seconds since the Unix epoch, 64 bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A decimal table value (`D`): `value / 10^scale`.
///
/// The value is kept as the 32 bits on the wire: RabbitMQ reads them unsigned
/// while the specification's prose says signed; [`signed`](Self::signed) gives
/// the other reading. Either way the bytes round-trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// Number of decimal digits after the point.
    pub scale: u8,
    /// The unscaled value, as the 32 bits on the wire.
    pub value: u32,
}

impl Decimal {
    /// The value read as signed (two's complement).
    pub fn signed(self) -> i32 {
        self.value as i32
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}e-{}", self.value, self.scale)
    }
}
