//! `tracing` output of a connection's life: spans per connection and
//! channel, events for open, close and errors, and no credentials anywhere.
//! In its own test binary: it installs a global subscriber.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::{Credentials, Error};
use amqp_tests::live::{params, unique};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every span and event as one line of text.
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    next: AtomicU64,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut f = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut f);
        self.lines.lock().unwrap().push(f.0);
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(format!(
            "{} {}",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut f);
        self.lines.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spans_and_events_without_credentials() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Capture {
        lines: lines.clone(),
        next: AtomicU64::new(1),
    })
    .unwrap();

    // A refused password: an error, and the password nowhere in the output.
    let secret = "not-the-password-7f3a";
    let bad = params().with_credentials(Credentials::plain("guest", secret));
    let err = Connection::open(bad).unwrap_err();
    assert!(matches!(err, Error::AuthenticationRefused(_)), "{err:?}");

    // A normal life: open, a channel, a 404 closing it, close.
    let conn = Connection::open(params().with_connection_name("tracing-test")).unwrap();
    let ch = conn.channel().unwrap();
    let missing = unique("tracing-missing");
    let e = ch
        .queue_declare(
            &missing,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.reply_code().map(|c| c.0), Some(404), "{e:?}");
    conn.close().unwrap();

    let text = lines.lock().unwrap().join("\n");
    for expected in [
        "span amqp_connection",
        "name=tracing-test",
        "connection open",
        "span amqp_channel",
        "channel=1",
        "NOT_FOUND",
        "channel closed",
        "connection closed",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(!text.contains(secret), "the password leaked:\n{text}");
}
