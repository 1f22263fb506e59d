//! Decoded values in the neutral JSON form the oracle vectors use (see
//! `tests/vectors/README.md`): bits as booleans, integers as integers, strings
//! as lowercase hex, tables as `[key, tag, value]` entries.

use amqp_protocol::{ArgValue, FieldTable, FieldValue, Method, Properties};
use serde_json::{json, Value};

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lowercase or uppercase hex.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex string");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("valid hex"))
        .collect()
}

/// A method argument or property value.
pub fn arg(v: ArgValue<'_>) -> Value {
    match v {
        ArgValue::Bit(b) => json!(b),
        ArgValue::Octet(n) => json!(n),
        ArgValue::Short(n) => json!(n),
        ArgValue::Long(n) => json!(n),
        ArgValue::LongLong(n) => json!(n),
        ArgValue::ShortStr(s) => json!(hex(s)),
        ArgValue::LongStr(s) => json!(hex(s)),
        ArgValue::Table(t) => table(t),
        ArgValue::Timestamp(t) => json!(t.0),
    }
}

/// A field value without its tag.
pub fn value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::I8(n) => json!(n),
        FieldValue::U8(n) => json!(n),
        FieldValue::I16(n) | FieldValue::SpecI16(n) => json!(n),
        FieldValue::U16(n) => json!(n),
        FieldValue::I32(n) => json!(n),
        FieldValue::U32(n) => json!(n),
        FieldValue::I64(n) | FieldValue::SpecI64(n) => json!(n),
        FieldValue::F32(n) => json!(f64::from(*n)),
        FieldValue::F64(n) => json!(n),
        FieldValue::Decimal(d) => json!([d.scale, d.value]),
        FieldValue::LongStr(s) => json!(hex(s)),
        FieldValue::ByteArray(b) => json!(hex(b)),
        FieldValue::Array(a) => Value::Array(
            a.0.iter()
                .map(|v| json!([char::from(v.tag()).to_string(), value(v)]))
                .collect(),
        ),
        FieldValue::Timestamp(t) => json!(t.0),
        FieldValue::Table(t) => table(t),
        FieldValue::Void => Value::Null,
        other => panic!("no JSON form for {other:?}"),
    }
}

/// A table as `[[key, tag, value], ...]`.
pub fn table(t: &FieldTable) -> Value {
    Value::Array(
        t.iter()
            .map(|(k, v)| {
                json!([
                    k.to_str().expect("ASCII keys in vectors"),
                    char::from(v.tag()).to_string(),
                    value(v)
                ])
            })
            .collect(),
    )
}

/// A method's arguments as `[[name, value], ...]`, reserved ones included.
pub fn method_fields(m: &Method) -> Value {
    Value::Array(
        m.fields()
            .map(|(info, v)| json!([info.name, arg(v)]))
            .collect(),
    )
}

/// The present properties as `[[name, value], ...]`.
pub fn properties(p: &Properties) -> Value {
    Value::Array(
        p.fields()
            .iter()
            .enumerate()
            .filter_map(|(i, info)| p.get(i).map(|v| json!([info.name, arg(v)])))
            .collect(),
    )
}
