//! The JSON forms of AMQP values, written straight into a byte buffer (no
//! intermediate tree: the decoder's output is dominated by this code).
//!
//! The forms are documented in the README's schema section; in short:
//! integers are JSON integers (64-bit ones included), byte strings are JSON
//! strings when they are UTF-8 and `{"hex": "..."}` otherwise, field tables are
//! `[[key, tag, value], ...]` in wire order.

use amqp_protocol::{ArgValue, FieldTable, FieldValue};

/// Appends `s` as a JSON string, quotes included.
pub(crate) fn str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends lowercase hex digits for `bytes`.
pub(crate) fn hex_digits(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// Appends a byte string: a JSON string when the bytes are UTF-8 (the
/// string's UTF-8 encoding is then exactly those bytes), otherwise
/// `{"hex":"..."}` with two lowercase hex digits per byte.
pub(crate) fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => str(out, s),
        Err(_) => {
            out.extend_from_slice(b"{\"hex\":\"");
            hex_digits(out, b);
            out.extend_from_slice(b"\"}");
        }
    }
}

/// Appends an integer.
pub(crate) fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `true` or `false`.
pub(crate) fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// A finite float as the shortest decimal that reads back as the same value
/// (Rust's `Debug` form: `1.5`, `-0.0`, `1e300`, all valid JSON numbers); a
/// non-finite one as `{"bits":"<hex of the IEEE 754 bits>"}`.
fn float(out: &mut Vec<u8>, finite: bool, repr: std::fmt::Arguments<'_>, bits: &[u8]) {
    use std::io::Write;
    if finite {
        // Writing into a Vec cannot fail.
        let _ = out.write_fmt(repr);
    } else {
        out.extend_from_slice(b"{\"bits\":\"");
        hex_digits(out, bits);
        out.extend_from_slice(b"\"}");
    }
}

/// A method argument or property value.
pub(crate) fn arg(out: &mut Vec<u8>, v: ArgValue<'_>) {
    match v {
        ArgValue::Bit(b) => boolean(out, b),
        ArgValue::Octet(n) => int(out, n),
        ArgValue::Short(n) => int(out, n),
        ArgValue::Long(n) => int(out, n),
        ArgValue::LongLong(n) => int(out, n),
        ArgValue::ShortStr(s) => bytes(out, s.as_bytes()),
        ArgValue::LongStr(s) => bytes(out, s.as_bytes()),
        ArgValue::Table(t) => table(out, t),
        ArgValue::Timestamp(t) => int(out, t.0),
    }
}

/// A table as `[[key, tag, value], ...]`: wire order and duplicate keys kept.
pub(crate) fn table(out: &mut Vec<u8>, t: &FieldTable) {
    out.push(b'[');
    for (i, (k, v)) in t.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        bytes(out, k.as_bytes());
        out.extend_from_slice(b",\"");
        tag(out, v.tag());
        out.extend_from_slice(b"\",");
        value(out, v);
        out.push(b']');
    }
    out.push(b']');
}

/// A tag octet inside a JSON string: the character when it is printable
/// ASCII other than `"` and `\` (every tag RabbitMQ defines is a letter).
fn tag(out: &mut Vec<u8>, t: u8) {
    match t {
        b'"' | b'\\' => {
            out.push(b'\\');
            out.push(t);
        }
        0x20..=0x7e => out.push(t),
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(t >> 4)]);
            out.push(HEX[usize::from(t & 0xf)]);
        }
    }
}

/// A field value without its tag.
pub(crate) fn value(out: &mut Vec<u8>, v: &FieldValue) {
    match v {
        FieldValue::Bool(b) => boolean(out, *b),
        FieldValue::I8(n) => int(out, *n),
        FieldValue::U8(n) => int(out, *n),
        FieldValue::I16(n) | FieldValue::SpecI16(n) => int(out, *n),
        FieldValue::U16(n) => int(out, *n),
        FieldValue::I32(n) => int(out, *n),
        FieldValue::U32(n) => int(out, *n),
        FieldValue::I64(n) | FieldValue::SpecI64(n) => int(out, *n),
        FieldValue::F32(x) => float(
            out,
            x.is_finite(),
            format_args!("{x:?}"),
            &x.to_bits().to_be_bytes(),
        ),
        FieldValue::F64(x) => float(
            out,
            x.is_finite(),
            format_args!("{x:?}"),
            &x.to_bits().to_be_bytes(),
        ),
        FieldValue::Decimal(d) => {
            out.extend_from_slice(b"{\"scale\":");
            int(out, d.scale);
            out.extend_from_slice(b",\"value\":");
            int(out, d.value);
            out.push(b'}');
        }
        FieldValue::LongStr(s) => bytes(out, s.as_bytes()),
        FieldValue::ByteArray(b) => bytes(out, b),
        FieldValue::Array(a) => {
            out.push(b'[');
            for (i, v) in a.0.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"[\"");
                tag(out, v.tag());
                out.extend_from_slice(b"\",");
                value(out, v);
                out.push(b']');
            }
            out.push(b']');
        }
        FieldValue::Timestamp(t) => int(out, t.0),
        FieldValue::Table(t) => table(out, t),
        FieldValue::Void => out.extend_from_slice(b"null"),
        // FieldValue is non-exhaustive: a tag added later still gets a
        // lossless form, its encoded bytes.
        other => {
            let mut raw = Vec::with_capacity(other.encoded_len());
            other.encode(&mut raw);
            out.extend_from_slice(b"{\"encoded\":\"");
            hex_digits(out, &raw);
            out.extend_from_slice(b"\"}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_protocol::{Decimal, FieldArray, ShortStr};

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_escape_and_keep_bytes() {
        assert_eq!(s(|o| str(o, "a\"b\\c\n\u{1}é")), r#""a\"b\\c\n\u0001é""#);
        assert_eq!(s(|o| bytes(o, b"ok")), r#""ok""#);
        assert_eq!(s(|o| bytes(o, &[0x61, 0xff, 0x00])), r#"{"hex":"61ff00"}"#);
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(s(|o| int(o, u64::MAX)), "18446744073709551615");
        assert_eq!(
            s(|o| value(o, &FieldValue::I64(i64::MIN))),
            "-9223372036854775808"
        );
    }

    #[test]
    fn floats_round_trip_or_give_bits() {
        assert_eq!(s(|o| value(o, &FieldValue::F64(-0.0))), "-0.0");
        assert_eq!(s(|o| value(o, &FieldValue::F32(0.1))), "0.1");
        assert_eq!(s(|o| value(o, &FieldValue::F64(1e300))), "1e300");
        assert_eq!(
            s(|o| value(o, &FieldValue::F32(f32::NAN))),
            r#"{"bits":"7fc00000"}"#
        );
        assert_eq!(
            s(|o| value(o, &FieldValue::F64(f64::NEG_INFINITY))),
            r#"{"bits":"fff0000000000000"}"#
        );
    }

    #[test]
    fn tables_keep_order_duplicates_and_tags() {
        let mut t = FieldTable::new();
        t.push(ShortStr::from_static("b"), 1i32);
        t.push(ShortStr::from_static("a"), FieldValue::SpecI64(-2));
        t.push(ShortStr::from_static("b"), "x");
        t.push(
            ShortStr::from_static("d"),
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 12345,
            }),
        );
        t.push(
            ShortStr::from_static("arr"),
            FieldArray(vec![
                FieldValue::Void,
                FieldValue::ByteArray(vec![0xfe].into()),
            ]),
        );
        assert_eq!(
            s(|o| table(o, &t)),
            r#"[["b","I",1],["a","L",-2],["b","S","x"],["d","D",{"scale":2,"value":12345}],["arr","A",[["V",null],["x",{"hex":"fe"}]]]]"#
        );
    }
}
