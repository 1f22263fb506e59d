//! What the wire core makes of a server's first bytes when they are not
//! connection.start: another protocol's header, or not AMQP at all.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use amqp_client::core::{Config, Connection, Event};
use amqp_client::Error;

fn closed_with(conn: &mut Connection) -> Option<Error> {
    std::iter::from_fn(|| conn.poll_event()).find_map(|e| match e {
        Event::Closed { error } => Some(error),
        _ => None,
    })
}

#[test]
fn another_version_is_named_as_soon_as_its_header_is_in() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::plain("guest", "guest"), now);
    conn.handle_input(b"AMQP\x00\x00", now);
    assert!(!conn.is_closed(), "six bytes do not make a header");
    conn.handle_input(b"\x0a\x00", now);
    assert!(conn.is_closed());
    let e = closed_with(&mut conn).unwrap();
    assert!(
        matches!(&e, Error::ProtocolVersionMismatch { server, received: Some(r) }
            if server == "0-10-0" && r == b"AMQP\x00\x00\x0a\x00"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the broker speaks AMQP 0-10-0, not 0-9-1: it answered the protocol header with \"AMQP\\x00\\x00\\n\\x00\""
    );
}

#[test]
fn a_short_answer_then_the_end_is_shown_as_it_came() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::plain("guest", "guest"), now);
    conn.handle_input(b"NO\r\n", now);
    assert!(!conn.is_closed());
    conn.handle_eof(None);
    let e = closed_with(&mut conn).unwrap();
    assert!(
        matches!(&e, Error::ProtocolVersionMismatch { server, received: Some(r) }
            if server.is_empty() && r == b"NO\r\n"),
        "{e:?}"
    );
    assert!(e.to_string().contains("does not speak AMQP"), "{e}");
}
