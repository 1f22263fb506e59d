//! The `client_properties` query parameter's reader.

use amqp_protocol::{FieldArray, FieldTable, FieldValue, ShortStr, MAX_NESTING};

/// Reads a `client_properties` value: a JSON object, with Python's literal
/// spellings accepted too (single quotes, `True`, `False`, `None`, trailing
/// commas). Errors are a reason and a byte offset.
pub(super) fn parse_client_properties(text: &str) -> Result<FieldTable, (&'static str, usize)> {
    let mut r = PropsReader { text, pos: 0 };
    r.ws();
    if r.peek() != Some('{') {
        return r.fail("expected an object, as in {\"key\": \"value\"}");
    }
    let table = r.table(1)?;
    r.ws();
    if r.pos != text.len() {
        return r.fail("unexpected text after the object");
    }
    Ok(table)
}

struct PropsReader<'a> {
    text: &'a str,
    pos: usize,
}

type Read<T> = Result<T, (&'static str, usize)>;

impl PropsReader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn fail<T>(&self, reason: &'static str) -> Read<T> {
        Err((reason, self.pos))
    }

    /// An object, from its `{`; `depth` counts it.
    fn table(&mut self, depth: usize) -> Read<FieldTable> {
        self.bump();
        let mut table = FieldTable::new();
        loop {
            self.ws();
            match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(table);
                }
                Some('"' | '\'') => {}
                _ => return self.fail("expected a quoted key or '}'"),
            }
            let key_at = self.pos;
            let key = ShortStr::try_from(self.string()?)
                .map_err(|_| ("a key is longer than 255 bytes", key_at))?;
            self.ws();
            if self.peek() != Some(':') {
                return self.fail("expected ':' after a key");
            }
            self.bump();
            self.ws();
            let value = self.value(depth)?;
            // As in JSON and Python, a repeated key keeps its last value.
            table.insert(key, value);
            self.ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }

    /// An array, from its `[`; `depth` counts it.
    fn array(&mut self, depth: usize) -> Read<FieldArray> {
        self.bump();
        let mut values = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(']') {
                self.bump();
                return Ok(FieldArray(values));
            }
            values.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                _ => return self.fail("expected ',' or ']'"),
            }
        }
    }

    /// A value inside a container at `depth`.
    fn value(&mut self, depth: usize) -> Read<FieldValue> {
        match self.peek() {
            Some('{' | '[') if depth >= MAX_NESTING => {
                self.fail("objects and arrays nest too deeply")
            }
            Some('{') => Ok(FieldValue::Table(self.table(depth + 1)?)),
            Some('[') => Ok(FieldValue::Array(self.array(depth + 1)?)),
            Some('"' | '\'') => Ok(FieldValue::LongStr(self.string()?.into())),
            Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                match &self.text[start..self.pos] {
                    "true" | "True" => Ok(FieldValue::Bool(true)),
                    "false" | "False" => Ok(FieldValue::Bool(false)),
                    "null" | "None" => Ok(FieldValue::Void),
                    _ => Err(("expected true, false or null", start)),
                }
            }
            None => self.fail("unexpected end: expected a value"),
            Some(_) => {
                self.fail("expected a value: a string, number, boolean, null, object or array")
            }
        }
    }

    /// An integer (`l`) or, with a fraction or exponent, a double (`d`).
    fn number(&mut self) -> Read<FieldValue> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.bump();
        }
        let text = &self.text[start..self.pos];
        if !text.contains(['.', 'e', 'E']) {
            return text
                .parse::<i64>()
                .map(FieldValue::I64)
                .map_err(|_| ("not an integer from -2^63 to 2^63-1", start));
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(FieldValue::F64(x)),
            _ => Err(("not a finite number", start)),
        }
    }

    /// A string in single or double quotes, from its opening quote.
    fn string(&mut self) -> Read<String> {
        let quote = self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return self.fail("unterminated string"),
                Some(c) if Some(c) == quote => return Ok(out),
                Some('\\') => {
                    let c = match self.bump() {
                        Some(c @ ('"' | '\'' | '\\' | '/')) => c,
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('0') => '\0',
                        Some('u') => self.unicode_escape()?,
                        _ => return self.fail("unknown escape sequence"),
                    };
                    out.push(c);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// The rest of a `\uXXXX` escape (a surrogate pair takes two).
    fn unicode_escape(&mut self) -> Read<char> {
        let at = self.pos;
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.text[self.pos..].starts_with("\\u") {
                return Err(("a lone surrogate in a \\u escape", at));
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(("a lone surrogate in a \\u escape", at));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or(("a lone surrogate in a \\u escape", at))
    }

    fn hex4(&mut self) -> Read<u32> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(("expected four hexadecimal digits after \\u", self.pos))?;
        let n = u32::from_str_radix(digits, 16).map_err(|_| ("bad \\u escape", self.pos))?;
        self.pos += 4;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::connection::ConnectionParameters;
    use crate::params::uri::error::UriError;

    #[test]
    fn client_properties_values() {
        let text = r#" { "s": "x\"\u00e9\ud83d\ude00", 'py': 'single', "i": -42, "f": 1.5,
            "e": 2e3, "t": true, "F": False, "n": null, "N": None,
            "nested": {"a": [1, "two", [true]],}, "dup": 1, "dup": 2, } "#;
        let t = parse_client_properties(text).unwrap();
        assert_eq!(t.get("s"), Some(&FieldValue::from("x\"é😀")));
        assert_eq!(t.get("py"), Some(&FieldValue::from("single")));
        assert_eq!(t.get("i"), Some(&FieldValue::I64(-42)));
        assert_eq!(t.get("f"), Some(&FieldValue::F64(1.5)));
        assert_eq!(t.get("e"), Some(&FieldValue::F64(2000.0)));
        assert_eq!(t.get("t"), Some(&FieldValue::Bool(true)));
        assert_eq!(t.get("F"), Some(&FieldValue::Bool(false)));
        assert_eq!(t.get("n"), Some(&FieldValue::Void));
        assert_eq!(t.get("N"), Some(&FieldValue::Void));
        assert_eq!(t.get("dup"), Some(&FieldValue::I64(2)));
        let Some(FieldValue::Table(nested)) = t.get("nested") else {
            panic!("nested")
        };
        assert_eq!(
            nested.get("a"),
            Some(&FieldValue::Array(FieldArray(vec![
                FieldValue::I64(1),
                FieldValue::from("two"),
                FieldValue::Array(FieldArray(vec![FieldValue::Bool(true)])),
            ])))
        );
        assert_eq!(parse_client_properties("{}").unwrap(), FieldTable::new());

        for (bad, offset) in [
            ("", 0),
            ("[]", 0),
            ("{", 1),
            ("{\"a\"}", 4),
            ("{\"a\": }", 6),
            ("{\"a\": 1} x", 9),
            ("{a: 1}", 1),
            ("{\"a\": \"x}", 9),
            ("{\"a\": yes}", 6),
            ("{\"a\": 99999999999999999999}", 6),
            ("{\"a\": 1e999}", 6),
            ("{\"a\": \"\\q\"}", 9),
            ("{\"a\": \"\\ud800\"}", 9),
            ("{\"a\": 1 \"b\": 2}", 8),
        ] {
            match parse_client_properties(bad) {
                Err((_, at)) => assert_eq!(at, offset, "{bad}"),
                Ok(t) => panic!("{bad} parsed: {t}"),
            }
        }
        let long_key = format!("{{\"{}\": 1}}", "k".repeat(256));
        assert!(parse_client_properties(&long_key).is_err());
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            parse_client_properties(&deep).unwrap_err().0,
            "objects and arrays nest too deeply"
        );
        assert!(matches!(
            ConnectionParameters::from_uri("amqp://h?client_properties=%7Bx"),
            Err(UriError::InvalidClientProperties { offset: 1, .. })
        ));
    }
}
