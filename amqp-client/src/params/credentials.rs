//! SASL credentials and the `connection.start-ok` response of each
//! mechanism.

use std::fmt;

use amqp_protocol::{FieldTable, FieldValue, LongStr, ShortStr};
use bytes::BytesMut;

/// How the client authenticates: a SASL mechanism and what it needs.
///
/// `Debug` shows the mechanism and the username, never the password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// SASL `PLAIN` (RFC 4616), RabbitMQ's default mechanism.
    Plain {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// RabbitMQ's `AMQPLAIN`: the same secrets as `PLAIN`, in a field table.
    AmqPlain {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// SASL `EXTERNAL`: the identity comes from the TLS client certificate
    /// (RabbitMQ's `rabbitmq_auth_mechanism_ssl` plugin); nothing is sent.
    External,
}

impl Credentials {
    /// `PLAIN` credentials.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Plain {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `AMQPLAIN` credentials.
    pub fn amqplain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::AmqPlain {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The SASL mechanism name for `connection.start-ok`: `PLAIN`, `AMQPLAIN`
    /// or `EXTERNAL`.
    pub fn mechanism(&self) -> &'static str {
        match self {
            Credentials::Plain { .. } => "PLAIN",
            Credentials::AmqPlain { .. } => "AMQPLAIN",
            Credentials::External => "EXTERNAL",
        }
    }

    /// The username, when the mechanism has one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Plain { username, .. } | Credentials::AmqPlain { username, .. } => {
                Some(username)
            }
            Credentials::External => None,
        }
    }

    /// The password, when the mechanism has one.
    pub fn password(&self) -> Option<&str> {
        match self {
            Credentials::Plain { password, .. } | Credentials::AmqPlain { password, .. } => {
                Some(password)
            }
            Credentials::External => None,
        }
    }

    /// The `response` field of `connection.start-ok`:
    ///
    /// - `PLAIN`: `\0username\0password` (no authorization identity);
    /// - `AMQPLAIN`: a field table *without* its 4-byte length prefix, holding
    ///   `LOGIN` and `PASSWORD` as long strings (`S`), which is what RabbitMQ's
    ///   `rabbit_auth_mechanism_amqplain` parses;
    /// - `EXTERNAL`: empty.
    ///
    /// The result holds the password in clear: don't log it.
    ///
    /// ```
    /// use amqp_client::Credentials;
    /// let r = Credentials::plain("guest", "guest").response();
    /// assert_eq!(r.as_bytes(), b"\0guest\0guest");
    /// ```
    pub fn response(&self) -> LongStr {
        match self {
            Credentials::Plain { username, password } => {
                let mut r = Vec::with_capacity(2 + username.len() + password.len());
                r.push(0);
                r.extend_from_slice(username.as_bytes());
                r.push(0);
                r.extend_from_slice(password.as_bytes());
                LongStr::from(r)
            }
            Credentials::AmqPlain { username, password } => {
                let mut table = FieldTable::new();
                table.push(
                    ShortStr::from_static("LOGIN"),
                    FieldValue::LongStr(username.as_str().into()),
                );
                table.push(
                    ShortStr::from_static("PASSWORD"),
                    FieldValue::LongStr(password.as_str().into()),
                );
                let mut buf = BytesMut::with_capacity(table.encoded_len());
                table.encode(&mut buf);
                LongStr::from(buf.split_off(4).freeze())
            }
            Credentials::External => LongStr::new(),
        }
    }
}

/// The mechanism and username; the password as `***`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &format_args!("***"))
                .finish(),
            Credentials::AmqPlain { username, .. } => f
                .debug_struct("AmqPlain")
                .field("username", username)
                .field("password", &format_args!("***"))
                .finish(),
            Credentials::External => f.write_str("External"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_response_is_byte_exact() {
        let c = Credentials::plain("guest", "guest");
        assert_eq!(c.mechanism(), "PLAIN");
        assert_eq!(c.response().as_bytes(), b"\0guest\0guest");
        let c = Credentials::plain("", "");
        assert_eq!(c.response().as_bytes(), b"\0\0");
        let c = Credentials::plain("us\u{e9}r", "p:w");
        assert_eq!(c.response().as_bytes(), b"\0us\xc3\xa9r\0p:w");
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sasl_amqplain_response_is_byte_exact() {
        // pamqp's field_table({'LOGIN': 'guest', 'PASSWORD': 'guest'}) without
        // its 4-byte length prefix (0x00000023).
        let c = Credentials::amqplain("guest", "guest");
        assert_eq!(c.mechanism(), "AMQPLAIN");
        assert_eq!(
            c.response().as_bytes(),
            hex("05 4c4f47494e 53 00000005 6775657374 08 50415353574f5244 53 00000005 6775657374")
                .as_slice()
        );
        // It parses back as a table once the length prefix is restored.
        let body = Credentials::amqplain("bob", "pw").response().into_bytes();
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        let table = FieldTable::decode(&bytes::Bytes::from(framed)).unwrap();
        assert_eq!(table.get("LOGIN"), Some(&FieldValue::from("bob")));
        assert_eq!(table.get("PASSWORD"), Some(&FieldValue::from("pw")));
    }

    #[test]
    fn sasl_external_response_is_empty() {
        assert_eq!(Credentials::External.mechanism(), "EXTERNAL");
        assert!(Credentials::External.response().is_empty());
        assert_eq!(Credentials::External.username(), None);
        assert_eq!(Credentials::External.password(), None);
    }
}
