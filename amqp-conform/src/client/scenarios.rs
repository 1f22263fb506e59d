//! The scenarios: what the broker does, what the client must.

use super::*;

/// Every scenario, the clean baseline first.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "clean",
            title: "a correct broker: the baseline",
            requires: "the workload completes (exit 0), the connection closed with 200",
            spec: "connection.close, reply-success (200)",
        },
        Scenario {
            id: "frame-max",
            title: "after negotiating frame-max 4096, a delivery's body frame of 8192 bytes",
            requires: "connection.close with 501 frame-error, the driver exits 1",
            spec: "connection.tune frame-max (peers must not send frames larger than agreed); \
                   constant frame-error (501)",
        },
        Scenario {
            id: "bad-frame-end",
            title: "the first confirm (basic.ack) with frame-end 0x00 instead of 0xCE",
            requires: "the connection closed (without sending more data, or with 501 \
                       frame-error), the driver exits 1",
            spec: "general frame format: a frame-end that is not 0xCE is a fatal protocol \
                   error; constant frame-error (501)",
        },
        Scenario {
            id: "unknown-frame-type",
            title: "after the first confirm, a frame of type 9 on channel 0",
            requires: "connection.close with 501 frame-error, the driver exits 1",
            spec: "frame types are 1, 2, 3 and 8; constant frame-error (501): a malformed \
                   frame the recipient could not decode",
        },
        Scenario {
            id: "unknown-method",
            title: "after the first confirm, a method frame of class 60, method 999",
            requires: "connection.close with 503 command-invalid or 540 not-implemented, the \
                       driver exits 1",
            spec: "constants command-invalid (503: an invalid sequence of frames) and \
                   not-implemented (540); the specification names neither for an unknown \
                   method, so either is accepted",
        },
        Scenario {
            id: "unknown-channel",
            title: "after confirm.select-ok, a basic.ack on a channel the client never opened",
            requires: "connection.close with 504 channel-error, the driver exits 1",
            spec: "constant channel-error (504): work on a channel that had not been \
                   correctly opened",
        },
        Scenario {
            id: "unexpected-reply",
            title: "exchange.declare-ok in reply to queue.declare",
            requires: "connection.close with 503 command-invalid or 505 unexpected-frame, the \
                       driver exits 1",
            spec: "synchronous methods: a request's reply is the response method it names; \
                   constants command-invalid (503: an invalid sequence of frames) and \
                   unexpected-frame (505: a frame not expected); the specification names \
                   neither for a reply to nothing, so either is accepted",
        },
        Scenario {
            id: "body-too-long",
            title: "the first delivery's content header declares 10 bytes, its body frame has 20",
            requires: "connection.close with 505 unexpected-frame or 501 frame-error, the \
                       driver exits 1",
            spec: "constants unexpected-frame (505: a frame not expected in the context of a \
                   content header and body) and frame-error (501)",
        },
        Scenario {
            id: "huge-content",
            title: "the first delivery's content header declares 2^63 bytes, then body frames \
                    stream without end",
            requires: "the client refuses the message without buffering it: the channel or \
                       the connection closed with 311 content-too-large, peak RSS within \
                       64 MiB of the clean run, the driver exits 1",
            spec: "content header body-size (a 64-bit size); constant content-too-large \
                   (311: content larger than the peer can accept)",
        },
        Scenario {
            id: "deep-table",
            title: "the first delivery's headers: a field table nested 10,000 deep",
            requires: "no crash: the workload completes, or the client closes with 502 \
                       syntax-error or 501 frame-error (its own nesting limit), the driver \
                       exits 1",
            spec: "field-table (a field value may be a table); constants syntax-error (502) \
                   and frame-error (501)",
        },
        Scenario {
            id: "unknown-consumer-tag",
            title: "before the consumer's 10 deliveries, one (delivery-tag 1) for consumer \
                    tag amq.ctag-unknown",
            requires: "the stray delivery is not handed to the consumer (delivery-tag 1 never \
                       acked): the workload completes, or the client closes the channel or \
                       the connection with an error code (exit 1)",
            spec: "domain consumer-tag: valid within the current channel; the specification \
                   names no reply for a delivery to an unknown consumer",
        },
        Scenario {
            id: "no-heartbeat",
            title: "heartbeat 2 s negotiated, then from the first publish: silence",
            requires: "the client closes the socket within 2 heartbeat intervals of the \
                       silence (1 s allowed on top), the driver exits 1",
            spec: "connection.tune heartbeat; heartbeating: a peer that detects no incoming \
                   traffic for two or more intervals closes the connection",
        },
        Scenario {
            id: "no-start",
            title: "no connection.start after the protocol header",
            requires: "the driver exits 1 within its 10 s handshake timeout (2 s allowed on \
                       top)",
            spec: "connection.start: the server speaks first; the client bounds the handshake",
        },
        Scenario {
            id: "slow-start",
            title: "connection.start sent one byte per second",
            requires: "the driver exits 1 within its 10 s handshake timeout (2 s allowed on \
                       top)",
            spec: "connection.start: the server speaks first; the client bounds the whole \
                   handshake, not each read",
        },
        Scenario {
            id: "protocol-header",
            title: "the protocol header AMQP 0-10 in reply, then the socket closed",
            requires: "the driver exits 1 within 5 s",
            spec: "protocol negotiation: a server rejecting the version sends the header it \
                   supports and closes the socket",
        },
        Scenario {
            id: "close-with-confirms",
            title: "channel.close 406 in reply to the 5th publish, its confirm never sent",
            requires: "the client answers channel.close-ok, the awaited publish reports an \
                       error, the driver exits 1 (no hang)",
            spec: "channel.close (the peer answers close-ok); confirm: unconfirmed publishes \
                   on a closed channel are not confirmed",
        },
        Scenario {
            id: "close-mid-publish",
            title: "connection.close 320 on the 5th publish's method frame, before its content",
            requires: "the client answers connection.close-ok and publishes nothing more, the \
                       awaited publish reports an error, the driver exits 1",
            spec: "connection.close: the peer answers close-ok; connection.close-ok: it is \
                   then safe to close the socket",
        },
        Scenario {
            id: "confirm-withheld",
            title: "the 3rd publish's confirm withheld, basic.ack delivery-tag 4 sent instead, \
                    later publishes confirmed",
            requires: "the ack for a publish never made is refused: the channel (or the \
                       connection) closed with 406 precondition-failed, publish 3 not taken \
                       as confirmed (no 4th publish), the driver exits 1",
            spec: "basic.ack multiple/rule exists (on-failure precondition-failed): a \
                   delivery tag must refer to a message, applied to RabbitMQ's publisher \
                   confirms, whose tags number the channel's publishes",
        },
        Scenario {
            id: "reset-mid-frame",
            title: "half of the 3rd confirm's frame, then a TCP reset",
            requires: "the driver exits 1 (no hang)",
            spec: "a connection lost without connection.close is an error for the client",
        },
    ]
}

/// The scenario with this id.
pub fn find(id: &str) -> Option<Scenario> {
    scenarios().into_iter().find(|s| s.id == id)
}
