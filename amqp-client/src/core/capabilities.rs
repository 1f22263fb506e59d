//! [`ServerCapabilities`]: the `capabilities` table of connection.start,
//! typed.

use amqp_protocol::{FieldTable, FieldValue};

/// What the broker says it supports, from the `capabilities` table of its
/// connection.start server properties: each `true` when the broker
/// announced it as `true`, `false` when it announced `false`, something
/// else, or nothing.
///
/// ```
/// use amqp_client::{FieldTable, ServerCapabilities, ShortStr};
///
/// let mut capabilities = FieldTable::new();
/// capabilities.push(ShortStr::from_static("publisher_confirms"), true);
/// capabilities.push(ShortStr::from_static("basic.nack"), true);
/// let mut properties = FieldTable::new();
/// properties.push(ShortStr::from_static("capabilities"), capabilities);
/// let c = ServerCapabilities::from_server_properties(&properties);
/// assert!(c.publisher_confirms && c.basic_nack);
/// assert!(!c.direct_reply_to);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ServerCapabilities {
    /// `publisher_confirms`: confirm.select and publisher confirms.
    pub publisher_confirms: bool,
    /// `basic.nack`: basic.nack, from the client and in confirms.
    pub basic_nack: bool,
    /// `consumer_cancel_notify`: the broker cancels consumers (basic.cancel)
    /// when their queue goes.
    pub consumer_cancel_notify: bool,
    /// `exchange_exchange_bindings`: exchange.bind and exchange.unbind.
    pub exchange_exchange_bindings: bool,
    /// `connection.blocked`: connection.blocked and unblocked notices.
    pub connection_blocked: bool,
    /// `authentication_failure_close`: refused credentials are a
    /// connection.close with 403, not a dropped socket.
    pub authentication_failure_close: bool,
    /// `per_consumer_qos`: basic.qos with `global` false limits each
    /// consumer.
    pub per_consumer_qos: bool,
    /// `direct_reply_to`: the `amq.rabbitmq.reply-to` pseudo-queue.
    pub direct_reply_to: bool,
}

impl ServerCapabilities {
    /// The capabilities announced in `server_properties` (connection.start's
    /// server properties); all `false` when it has no `capabilities` table.
    pub fn from_server_properties(server_properties: &FieldTable) -> Self {
        let Some(FieldValue::Table(table)) = server_properties.get("capabilities") else {
            return ServerCapabilities::default();
        };
        let on = |name: &str| matches!(table.get(name), Some(FieldValue::Bool(true)));
        ServerCapabilities {
            publisher_confirms: on("publisher_confirms"),
            basic_nack: on("basic.nack"),
            consumer_cancel_notify: on("consumer_cancel_notify"),
            exchange_exchange_bindings: on("exchange_exchange_bindings"),
            connection_blocked: on("connection.blocked"),
            authentication_failure_close: on("authentication_failure_close"),
            per_consumer_qos: on("per_consumer_qos"),
            direct_reply_to: on("direct_reply_to"),
        }
    }
}

#[cfg(test)]
mod tests {
    use amqp_protocol::ShortStr;

    use super::*;

    #[test]
    fn each_name_sets_its_field_and_anything_but_true_is_false() {
        let names = [
            "publisher_confirms",
            "basic.nack",
            "consumer_cancel_notify",
            "exchange_exchange_bindings",
            "connection.blocked",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ];
        let with = |table: FieldTable| {
            let mut p = FieldTable::new();
            p.push(ShortStr::from_static("capabilities"), table);
            ServerCapabilities::from_server_properties(&p)
        };
        let mut seen = Vec::new();
        for name in names {
            let mut t = FieldTable::new();
            t.push(ShortStr::try_from(name).unwrap(), true);
            let c = with(t);
            assert_ne!(c, ServerCapabilities::default(), "{name}");
            assert!(!seen.contains(&c), "{name} sets the field of another");
            seen.push(c);
        }
        let mut all = FieldTable::new();
        for name in names {
            all.push(ShortStr::try_from(name).unwrap(), true);
        }
        let c = with(all);
        assert!(
            c.publisher_confirms
                && c.basic_nack
                && c.consumer_cancel_notify
                && c.exchange_exchange_bindings
                && c.connection_blocked
                && c.authentication_failure_close
                && c.per_consumer_qos
                && c.direct_reply_to
        );
        // false, a non-boolean, an unknown name, no table: false.
        let mut odd = FieldTable::new();
        odd.push(ShortStr::from_static("publisher_confirms"), false);
        odd.push(ShortStr::from_static("basic.nack"), 1i64);
        odd.push(ShortStr::from_static("basic_nack"), true);
        assert_eq!(with(odd), ServerCapabilities::default());
        let mut not_a_table = FieldTable::new();
        not_a_table.push(ShortStr::from_static("capabilities"), "all");
        assert_eq!(
            ServerCapabilities::from_server_properties(&not_a_table),
            ServerCapabilities::default()
        );
        assert_eq!(
            ServerCapabilities::from_server_properties(&FieldTable::new()),
            ServerCapabilities::default()
        );
    }
}
