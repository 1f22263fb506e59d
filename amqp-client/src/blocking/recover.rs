//! The blocking adapter's part of automatic recovery (the rest is the
//! core's): the reader thread dials each attempt the core plans, waiting
//! for its time, and puts the new stream in place of the lost one.

use std::sync::Arc;
use std::time::Instant;

use super::connection::{dial, install};
use super::shared::Shared;

/// Runs reconnection attempts until one's stream is connected (its
/// handshake then goes on as any input), or the recovery is over.
pub(super) fn redial(shared: &Arc<Shared>) {
    // Nobody reads or writes the lost stream any more. Shutting it down
    // first ends a read an application thread may be blocked in (a frozen
    // peer sends nothing), so that its read side is let go at once.
    if let Some(mut w) = shared.lock_write_side().take() {
        w.finish();
    }
    shared.lock_read_side().take();
    loop {
        let (attempt, params) = {
            let mut inner = shared.lock();
            let attempt = inner.core.poll_reconnect(Instant::now());
            shared.pump(&mut inner);
            let Some(a) = attempt else {
                // Over (closed), or an attempt under way.
                return;
            };
            (a, inner.core.reconnect_params(a.endpoint).cloned())
        };
        {
            let mut inner = shared.lock();
            while Instant::now() < attempt.at && inner.core.is_recovering() {
                inner = shared.wait(inner, Some(attempt.at));
            }
            if !inner.core.is_recovering() {
                return;
            }
        }
        let dialed = match params {
            Some(p) => dial(&p, attempt.deadline),
            None => Err(crate::Error::Misuse("no such endpoint".into())),
        };
        let result = dialed.and_then(|d| {
            let peer = d.stream.peer_addr().ok();
            {
                // What was queued for the lost stream is not for this one.
                let _side = shared.lock_write_side();
                shared.discard_output();
            }
            install(shared, d).map(|()| peer)
        });
        let mut inner = shared.lock();
        match result {
            Ok(peer) => {
                inner.core.reconnected(peer, Instant::now());
                shared.pump(&mut inner);
                return;
            }
            Err(e) => {
                inner.core.reconnect_failed(e, Instant::now());
                shared.pump(&mut inner);
            }
        }
    }
}
