//! Heap allocations per decoded basic.deliver (method + header + body, no
//! headers table), for amqp-protocol (through `FrameDecoder`, and through the
//! `Assembler`) and for amq-protocol (`parse_frame`).
//!
//! N deliveries are encoded into one pre-filled buffer before counting
//! starts; every decoded frame (or assembled message) is dropped right after
//! it is produced, as a consumer would. Single-threaded: the counter is a
//! plain atomic bumped by a wrapper around the system allocator.
//!
//! Exits with status 1 when amqp-protocol needs more than one allocation per
//! delivery (the acceptance target).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use amq_protocol::frame::parse_frame;
use amqp_bench::{Case, Kind};
use amqp_protocol::{Assembled, Assembler, FrameDecoder};
use bytes::BytesMut;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 10_000;
/// Read size of the streamed (informational) run.
const READ: usize = 16 * 1024;
/// Acceptance target: heap allocations per decoded delivery (ours).
const TARGET: f64 = 1.0;

/// Allocations and bytes allocated while `f` runs.
fn count(f: impl FnOnce()) -> (u64, u64) {
    let (a, b) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    f();
    (ALLOCS.load(Relaxed) - a, BYTES.load(Relaxed) - b)
}

fn main() -> ExitCode {
    let mut ok = true;
    println!(
        "deliveries per run: {N} (basic.deliver + content header + 1 body frame, no headers table)"
    );
    println!(
        "{:<8} {:<30} {:>14} {:>16} {:>10}",
        "body", "decoder", "allocs/deliv", "bytes/deliv", "target"
    );
    for (label, size) in [("16B", 16usize), ("64KiB", 65_536)] {
        let case = Case::new(Kind::Deliver, size);
        let frames = case.frames_per_sequence();
        let wire = case.wire.repeat(N);

        // amqp-protocol, FrameDecoder only.
        let mut buf = BytesMut::from(&wire[..]);
        let mut dec = FrameDecoder::new(amqp_bench::FRAME_MAX);
        let (a, b) = count(|| {
            for _ in 0..N * frames {
                let f = dec.decode(&mut buf).expect("decode").expect("complete");
                black_box(f);
            }
        });
        assert!(buf.is_empty());
        drop(buf);
        ok &= report(label, "amqp-protocol FrameDecoder", a, b, true);

        // amqp-protocol, FrameDecoder + Assembler.
        let mut buf = BytesMut::from(&wire[..]);
        let mut dec = FrameDecoder::new(amqp_bench::FRAME_MAX);
        let mut asm = Assembler::new();
        let (a, b) = count(|| {
            for _ in 0..N {
                let mut done = None;
                for _ in 0..frames {
                    let f = dec.decode(&mut buf).expect("decode").expect("complete");
                    done = asm.handle_frame(f).expect("assemble");
                }
                match done {
                    Some(Assembled::Content { content, .. }) => {
                        black_box(content);
                    }
                    other => panic!("not a message: {other:?}"),
                }
            }
        });
        assert!(buf.is_empty());
        drop(buf);
        ok &= report(label, "amqp-protocol +Assembler", a, b, true);

        // For information: amqp-protocol fed like a socket, READ bytes at a
        // time into one reused read buffer (reserve + extend, as tokio's
        // read_buf does), each frame dropped once decoded.
        let mut buf = BytesMut::with_capacity(READ);
        let mut dec = FrameDecoder::new(amqp_bench::FRAME_MAX);
        let mut src = &wire[..];
        let mut decoded = 0;
        let (a, b) = count(|| loop {
            match dec.decode(&mut buf).expect("decode") {
                Some(f) => {
                    black_box(f);
                    decoded += 1;
                }
                None if src.is_empty() => break,
                None => {
                    let n = READ.min(src.len());
                    buf.reserve(n);
                    buf.extend_from_slice(&src[..n]);
                    src = &src[n..];
                }
            }
        });
        assert_eq!(decoded, N * frames);
        assert!(buf.is_empty());
        drop(buf);
        report(label, "amqp-protocol streamed 16KiB", a, b, false);

        // amq-protocol, parse_frame over the same bytes.
        let (a, b) = count(|| {
            let mut rest = &wire[..];
            for _ in 0..N * frames {
                let (r, f) = parse_frame(rest).expect("parse_frame");
                black_box(f);
                rest = r;
            }
            assert!(rest.is_empty());
        });
        report(label, "amq-protocol parse_frame", a, b, false);
    }
    if ok {
        println!("allocs: target met (at most {TARGET} allocation per delivery for amqp-protocol)");
        ExitCode::SUCCESS
    } else {
        println!(
            "allocs: TARGET MISSED (more than {TARGET} allocation per delivery for amqp-protocol)"
        );
        ExitCode::FAILURE
    }
}

fn report(label: &str, what: &str, allocs: u64, bytes: u64, checked: bool) -> bool {
    let per = allocs as f64 / N as f64;
    let ok = per <= TARGET;
    let verdict = match (checked, ok) {
        (false, _) => "-",
        (true, true) => "ok",
        (true, false) => "FAIL",
    };
    println!(
        "{label:<8} {what:<30} {per:>14.4} {:>16.1} {verdict:>10}",
        bytes as f64 / N as f64
    );
    ok || !checked
}
