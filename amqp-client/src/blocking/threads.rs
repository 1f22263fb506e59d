//! The connection's I/O threads: the reader, which reads the socket
//! whenever no application thread does and keeps the core's timers going
//! (and dials when a lost connection is recovered), and the writer, which
//! writes what the core produced, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::io::{HANDOVER, MAX_READ_WAIT};
use super::recover::redial;
use super::shared::Shared;

/// The reader thread: reads the socket whenever no application thread does,
/// and keeps the core's timers (heartbeats) going meanwhile.
pub(super) fn reader(shared: Arc<Shared>) {
    loop {
        let wait = {
            let mut inner = shared.lock();
            if inner.core.is_closed() {
                break;
            }
            if inner.core.is_stream_closed() {
                // Lost, and being recovered: this thread dials.
                drop(inner);
                redial(&shared);
                continue;
            }
            if inner.paused {
                // Not reading until the application takes deliveries
                // (`Shared::taken` wakes this thread); the timers go on.
                let until = inner
                    .core
                    .poll_timeout()
                    .unwrap_or(Instant::now() + MAX_READ_WAIT);
                inner = shared.wait(inner, Some(until));
                inner.core.handle_timeout(Instant::now());
                shared.pump(&mut inner);
                continue;
            }
            inner
                .core
                .poll_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(MAX_READ_WAIT)
        };
        if !shared.application_reads() {
            let mut side = shared.lock_read_side();
            if let Some(s) = side.as_mut() {
                // Output queued lazily (acks, publishes of the thread that
                // read) that no reading thread wrote: the writer takes it
                // now, before this thread blocks in a read for long; and
                // what is queued lazily from now on wakes the writer (see
                // `Shared::pump_inner`).
                shared
                    .reader_reads
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                shared.out.kick();
                let open = s.read_once(&*shared, wait, None);
                shared
                    .reader_reads
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                if !open {
                    break;
                }
                continue;
            }
        }
        // Within HANDOVER, as below.
        shared.out.kick();
        // An application thread reads the socket (or is about to): keep the
        // timers, and look again soon. One parked because this thread held
        // the read side is woken to take it.
        if shared
            .app_wants_read
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            shared.cond.notify_all();
        }
        std::thread::sleep(wait.clamp(Duration::from_millis(1), HANDOVER));
        let mut inner = shared.lock();
        inner.core.handle_timeout(Instant::now());
        shared.pump(&mut inner);
    }
    shared.cond.notify_all();
}

/// The writer thread: writes what the core produced, in order, whenever it
/// is queued (and no application thread wrote it first).
pub(super) fn writer(shared: Arc<Shared>) {
    while shared.out.wait_nonempty() {
        let mut side = shared.lock_write_side();
        let Some(w) = side.as_mut() else {
            // The stream was lost and is being recovered: what was queued
            // for it goes with it (under the write side's lock, so that
            // the next stream's first bytes, queued once it is in place,
            // are not).
            shared.discard_output();
            continue;
        };
        match w.write_queued(&shared.out) {
            Ok(n) => shared.written(n),
            Err(e) => {
                if let Some(mut dead) = side.take() {
                    dead.finish();
                }
                drop(side);
                let mut inner = shared.lock();
                inner.core.handle_eof(Some(e));
                shared.pump(&mut inner);
                if !inner.core.is_recovering() {
                    break;
                }
                // The reader thread dials; the next stream's output follows.
            }
        }
    }
    if let Some(w) = shared.lock_write_side().as_mut() {
        w.finish();
    }
}
