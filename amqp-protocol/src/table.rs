//! Field tables, arrays and values, with RabbitMQ's type tags.
//!
//! | tag | variant | wire value | notes |
//! |---|---|---|---|
//! | `t` | [`Bool`](FieldValue::Bool) | u8, 0 or 1 | any other octet is rejected ([`InvalidBool`](crate::ErrorKind::InvalidBool)) |
//! | `b` | [`I8`](FieldValue::I8) | i8 | |
//! | `B` | [`U8`](FieldValue::U8) | u8 | |
//! | `s` | [`I16`](FieldValue::I16) | i16 | RabbitMQ's meaning; the 0-9-1 grammar's "short string" is not used by anyone |
//! | `u` | [`U16`](FieldValue::U16) | u16 | |
//! | `I` | [`I32`](FieldValue::I32) | i32 | |
//! | `i` | [`U32`](FieldValue::U32) | u32 | |
//! | `l` | [`I64`](FieldValue::I64) | i64 | the only 64-bit integer tag RabbitMQ writes |
//! | `f` | [`F32`](FieldValue::F32) | IEEE 754 single | |
//! | `d` | [`F64`](FieldValue::F64) | IEEE 754 double | |
//! | `D` | [`Decimal`](FieldValue::Decimal) | scale u8, value 32 bits | |
//! | `S` | [`LongStr`](FieldValue::LongStr) | u32 length, bytes | |
//! | `x` | [`ByteArray`](FieldValue::ByteArray) | u32 length, bytes | |
//! | `A` | [`Array`](FieldValue::Array) | u32 byte length, tagged values | |
//! | `T` | [`Timestamp`](FieldValue::Timestamp) | u64 | |
//! | `F` | [`Table`](FieldValue::Table) | u32 byte length, entries | |
//! | `V` | [`Void`](FieldValue::Void) | nothing | |
//! | `U` | [`SpecI16`](FieldValue::SpecI16) | i16 | the 0-9-1 grammar's tag; decoded and kept so re-encoding is lossless, but RabbitMQ drops the connection on it: don't build new ones |
//! | `L` | [`SpecI64`](FieldValue::SpecI64) | i64 | the 0-9-1 grammar's tag; decoded and kept; RabbitMQ reads it and writes it back as `l` |
//!
//! Any other tag is an [`UnknownFieldTag`](crate::ErrorKind::UnknownFieldTag)
//! error (502).

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::codec::Reader;
use crate::error::{Error, ErrorKind, ShortStrTooLong};
use crate::value::write_escaped;
use crate::{Decimal, LongStr, ShortStr, Timestamp};

/// A typed field-table or field-array value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// `t`
    Bool(bool),
    /// `b`
    I8(i8),
    /// `B`
    U8(u8),
    /// `s` (RabbitMQ: signed 16-bit)
    I16(i16),
    /// `u`
    U16(u16),
    /// `I`
    I32(i32),
    /// `i`
    U32(u32),
    /// `l` (RabbitMQ: signed 64-bit)
    I64(i64),
    /// `f`
    F32(f32),
    /// `d`
    F64(f64),
    /// `D`
    Decimal(Decimal),
    /// `S`
    LongStr(LongStr),
    /// `x`
    ByteArray(Bytes),
    /// `A`
    Array(FieldArray),
    /// `T`
    Timestamp(Timestamp),
    /// `F`
    Table(FieldTable),
    /// `V`
    Void,
    /// `U`: the 0-9-1 grammar's signed 16-bit tag. Decoded and re-encoded as
    /// is; RabbitMQ rejects it, so use [`I16`](Self::I16) for new values.
    SpecI16(i16),
    /// `L`: the 0-9-1 grammar's signed 64-bit tag. Decoded and re-encoded as
    /// is; use [`I64`](Self::I64) for new values.
    SpecI64(i64),
}

impl FieldValue {
    /// The wire tag.
    pub fn tag(&self) -> u8 {
        match self {
            FieldValue::Bool(_) => b't',
            FieldValue::I8(_) => b'b',
            FieldValue::U8(_) => b'B',
            FieldValue::I16(_) => b's',
            FieldValue::U16(_) => b'u',
            FieldValue::I32(_) => b'I',
            FieldValue::U32(_) => b'i',
            FieldValue::I64(_) => b'l',
            FieldValue::F32(_) => b'f',
            FieldValue::F64(_) => b'd',
            FieldValue::Decimal(_) => b'D',
            FieldValue::LongStr(_) => b'S',
            FieldValue::ByteArray(_) => b'x',
            FieldValue::Array(_) => b'A',
            FieldValue::Timestamp(_) => b'T',
            FieldValue::Table(_) => b'F',
            FieldValue::Void => b'V',
            FieldValue::SpecI16(_) => b'U',
            FieldValue::SpecI64(_) => b'L',
        }
    }

    /// Encoded length: the tag and the value.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            FieldValue::Bool(_) | FieldValue::I8(_) | FieldValue::U8(_) => 1,
            FieldValue::I16(_) | FieldValue::U16(_) | FieldValue::SpecI16(_) => 2,
            FieldValue::I32(_) | FieldValue::U32(_) | FieldValue::F32(_) => 4,
            FieldValue::I64(_)
            | FieldValue::F64(_)
            | FieldValue::Timestamp(_)
            | FieldValue::SpecI64(_) => 8,
            FieldValue::Decimal(_) => 5,
            FieldValue::LongStr(s) => s.encoded_len(),
            FieldValue::ByteArray(b) => 4 + b.len(),
            FieldValue::Array(a) => a.encoded_len(),
            FieldValue::Table(t) => t.encoded_len(),
            FieldValue::Void => 0,
        }
    }

    /// Writes the tag and the value.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.tag());
        match self {
            FieldValue::Bool(v) => buf.put_u8(u8::from(*v)),
            FieldValue::I8(v) => buf.put_i8(*v),
            FieldValue::U8(v) => buf.put_u8(*v),
            FieldValue::I16(v) | FieldValue::SpecI16(v) => buf.put_i16(*v),
            FieldValue::U16(v) => buf.put_u16(*v),
            FieldValue::I32(v) => buf.put_i32(*v),
            FieldValue::U32(v) => buf.put_u32(*v),
            FieldValue::I64(v) | FieldValue::SpecI64(v) => buf.put_i64(*v),
            FieldValue::F32(v) => buf.put_f32(*v),
            FieldValue::F64(v) => buf.put_f64(*v),
            FieldValue::Decimal(d) => {
                buf.put_u8(d.scale);
                buf.put_u32(d.value);
            }
            FieldValue::LongStr(s) => s.encode(buf),
            FieldValue::ByteArray(b) => {
                buf.put_u32(b.len() as u32);
                buf.put_slice(b);
            }
            FieldValue::Array(a) => a.encode(buf),
            FieldValue::Timestamp(t) => buf.put_u64(t.0),
            FieldValue::Table(t) => t.encode(buf),
            FieldValue::Void => {}
        }
    }

    fn decode(r: &mut Reader<'_>, path: &'static str) -> Result<FieldValue, Error> {
        let tag = r.octet(path)?;
        Ok(match tag {
            b't' => match r.octet(path)? {
                0 => FieldValue::Bool(false),
                1 => FieldValue::Bool(true),
                value => return Err(Error::new(ErrorKind::InvalidBool { value }, path)),
            },
            b'b' => FieldValue::I8(r.octet(path)? as i8),
            b'B' => FieldValue::U8(r.octet(path)?),
            b's' => FieldValue::I16(r.short(path)? as i16),
            b'U' => FieldValue::SpecI16(r.short(path)? as i16),
            b'u' => FieldValue::U16(r.short(path)?),
            b'I' => FieldValue::I32(r.long(path)? as i32),
            b'i' => FieldValue::U32(r.long(path)?),
            b'l' => FieldValue::I64(r.longlong(path)? as i64),
            b'L' => FieldValue::SpecI64(r.longlong(path)? as i64),
            b'f' => FieldValue::F32(f32::from_bits(r.long(path)?)),
            b'd' => FieldValue::F64(f64::from_bits(r.longlong(path)?)),
            b'D' => FieldValue::Decimal(Decimal {
                scale: r.octet(path)?,
                value: r.long(path)?,
            }),
            b'S' => FieldValue::LongStr(r.longstr(path)?),
            b'x' => {
                let len = r.long(path)? as usize;
                FieldValue::ByteArray(r.bytes(len, path)?)
            }
            b'A' => FieldValue::Array(decode_array(r, path)?),
            b'T' => FieldValue::Timestamp(r.timestamp(path)?),
            b'F' => FieldValue::Table(decode_table(r, path)?),
            b'V' => FieldValue::Void,
            tag => return Err(Error::new(ErrorKind::UnknownFieldTag { tag }, path)),
        })
    }
}

/// Quoted strings, `[..]` arrays, `{..}` tables.
impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::I8(v) => write!(f, "{v}"),
            FieldValue::U8(v) => write!(f, "{v}"),
            FieldValue::I16(v) | FieldValue::SpecI16(v) => write!(f, "{v}"),
            FieldValue::U16(v) => write!(f, "{v}"),
            FieldValue::I32(v) => write!(f, "{v}"),
            FieldValue::U32(v) => write!(f, "{v}"),
            FieldValue::I64(v) | FieldValue::SpecI64(v) => write!(f, "{v}"),
            FieldValue::F32(v) => write!(f, "{v}"),
            FieldValue::F64(v) => write!(f, "{v}"),
            FieldValue::Decimal(d) => write!(f, "{d}"),
            FieldValue::LongStr(s) => write_escaped(f, s),
            FieldValue::ByteArray(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
            FieldValue::Array(a) => write!(f, "{a}"),
            FieldValue::Timestamp(t) => write!(f, "{t}"),
            FieldValue::Table(t) => write!(f, "{t}"),
            FieldValue::Void => f.write_str("void"),
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::$v(v)
            }
        }
    )*};
}
from_scalar!(bool => Bool, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, f32 => F32, f64 => F64, Decimal => Decimal, LongStr => LongStr,
    FieldArray => Array, Timestamp => Timestamp, FieldTable => Table);

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::LongStr(s.into())
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::LongStr(s.into())
    }
}

/// What a [`FieldTable`] key can be made of: a [`ShortStr`] as it is, or a
/// string of at most 255 bytes.
pub trait TableKey {
    /// The key, or why it cannot be one.
    fn into_key(self) -> Result<ShortStr, ShortStrTooLong>;
}

impl TableKey for ShortStr {
    fn into_key(self) -> Result<ShortStr, ShortStrTooLong> {
        Ok(self)
    }
}

impl TableKey for &ShortStr {
    fn into_key(self) -> Result<ShortStr, ShortStrTooLong> {
        Ok(self.clone())
    }
}

impl TableKey for &str {
    fn into_key(self) -> Result<ShortStr, ShortStrTooLong> {
        ShortStr::try_from(self)
    }
}

impl TableKey for String {
    fn into_key(self) -> Result<ShortStr, ShortStrTooLong> {
        ShortStr::try_from(self)
    }
}

/// A field table: entries in wire order, duplicate keys kept, so that decoding
/// then encoding gives back the same bytes.
///
/// ```
/// use amqp_protocol::{FieldTable, FieldValue};
/// let mut t = FieldTable::new();
/// t.insert("x-max-priority", 10u8);
/// t.insert("x-queue-type", "classic");
/// assert_eq!(t.get("x-max-priority"), Some(&FieldValue::U8(10)));
/// // A key longer than 255 bytes cannot go on the wire:
/// assert!(t.try_insert("k".repeat(256).as_str(), 1u8).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldTable {
    entries: Vec<(ShortStr, FieldValue)>,
}

impl FieldTable {
    /// An empty table.
    pub const fn new() -> Self {
        FieldTable {
            entries: Vec::new(),
        }
    }

    /// Sets `key` (a `&str`, `String` or [`ShortStr`]): replaces the value
    /// of its first entry, or appends one.
    ///
    /// # Panics
    ///
    /// When a string key is longer than 255 bytes, which no field table can
    /// carry; [`try_insert`](Self::try_insert) reports it instead.
    pub fn insert(&mut self, key: impl TableKey, value: impl Into<FieldValue>) {
        let key = key
            .into_key()
            .unwrap_or_else(|e| panic!("field table key: {e}"));
        self.set(key, value.into());
    }

    /// [`insert`](Self::insert), or the error when the key is longer than
    /// 255 bytes (the table is then unchanged).
    pub fn try_insert(
        &mut self,
        key: impl TableKey,
        value: impl Into<FieldValue>,
    ) -> Result<(), ShortStrTooLong> {
        let key = key.into_key()?;
        self.set(key, value.into());
        Ok(())
    }

    fn set(&mut self, key: ShortStr, value: FieldValue) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Appends an entry, even when the key is already present.
    ///
    /// # Panics
    ///
    /// As [`insert`](Self::insert), for a string key over 255 bytes.
    pub fn push(&mut self, key: impl TableKey, value: impl Into<FieldValue>) {
        let key = key
            .into_key()
            .unwrap_or_else(|e| panic!("field table key: {e}"));
        self.entries.push((key, value.into()));
    }

    /// The value of the first entry with this key.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// Removes every entry with this key, returning the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<FieldValue> {
        let mut first = None;
        self.entries.retain_mut(|(k, v)| {
            if k.as_bytes() == key.as_bytes() {
                if first.is_none() {
                    first = Some(std::mem::replace(v, FieldValue::Void));
                }
                false
            } else {
                true
            }
        });
        first
    }

    /// The entries, in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, (ShortStr, FieldValue)> {
        self.entries.iter()
    }

    /// Number of entries (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn body_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.encoded_len() + v.encoded_len())
            .sum()
    }

    /// Encoded length, including the 4-byte length prefix.
    pub fn encoded_len(&self) -> usize {
        4 + self.body_len()
    }

    /// Writes the 4-byte byte length and the entries.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u32(self.body_len() as u32);
        for (k, v) in &self.entries {
            k.encode(buf);
            v.encode(buf);
        }
    }

    /// Decodes a table (with its 4-byte length prefix) that must fill `bytes`
    /// exactly. Strings and byte arrays in the result are slices of `bytes`.
    pub fn decode(bytes: &Bytes) -> Result<FieldTable, Error> {
        let mut r = Reader::new(bytes);
        let t = decode_table(&mut r, "field-table")?;
        r.finish("field-table")?;
        Ok(t)
    }
}

impl FromIterator<(ShortStr, FieldValue)> for FieldTable {
    fn from_iter<I: IntoIterator<Item = (ShortStr, FieldValue)>>(iter: I) -> Self {
        FieldTable {
            entries: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a FieldTable {
    type Item = &'a (ShortStr, FieldValue);
    type IntoIter = std::slice::Iter<'a, (ShortStr, FieldValue)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl IntoIterator for FieldTable {
    type Item = (ShortStr, FieldValue);
    type IntoIter = std::vec::IntoIter<(ShortStr, FieldValue)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// `{key=value, ...}`
impl fmt::Display for FieldTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        f.write_str("}")
    }
}

/// A field array (`A`): tagged values in order, prefixed by their byte length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldArray(pub Vec<FieldValue>);

impl FieldArray {
    /// Encoded length, including the 4-byte length prefix.
    pub fn encoded_len(&self) -> usize {
        4 + self.0.iter().map(FieldValue::encoded_len).sum::<usize>()
    }

    /// Writes the 4-byte byte length and the values.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u32((self.encoded_len() - 4) as u32);
        for v in &self.0 {
            v.encode(buf);
        }
    }
}

impl From<Vec<FieldValue>> for FieldArray {
    fn from(v: Vec<FieldValue>) -> Self {
        FieldArray(v)
    }
}

/// `[a, b, ...]`
impl fmt::Display for FieldArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str("]")
    }
}

pub(crate) fn decode_table(r: &mut Reader<'_>, path: &'static str) -> Result<FieldTable, Error> {
    let len = r.long(path)? as usize;
    let mut sub = r.sub(len, path)?;
    let mut entries = Vec::new();
    while sub.remaining() > 0 {
        let key = sub.shortstr(path)?;
        let value = FieldValue::decode(&mut sub, path)?;
        entries.push((key, value));
    }
    Ok(FieldTable { entries })
}

fn decode_array(r: &mut Reader<'_>, path: &'static str) -> Result<FieldArray, Error> {
    let len = r.long(path)? as usize;
    let mut sub = r.sub(len, path)?;
    let mut values = Vec::new();
    while sub.remaining() > 0 {
        values.push(FieldValue::decode(&mut sub, path)?);
    }
    Ok(FieldArray(values))
}
