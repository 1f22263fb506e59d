//! amqp-protocol against amq-protocol (lapin's codec), side by side in one
//! criterion group per operation, method and body size, so that both run in
//! the same process on the same bytes. One iteration is one whole sequence
//! (method + content header + body frame): time per iteration is time per
//! message. See README.md for what is measured and how it is kept fair.

use std::hint::black_box;
use std::time::Duration;

use amqp_bench::{copies_for, next_ours, Case, Kind, OursReplay, TheirReplay, FRAME_MAX, SIZES};
use amqp_protocol::{Assembled, Assembler, FrameDecoder};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn decode(c: &mut Criterion, case: &Case, label: &str) {
    let frames = case.frames_per_sequence();
    let copies = copies_for(case.wire.len());
    let mut g = c.benchmark_group(format!("decode/{}/{label}", case.kind.name()));
    g.throughput(Throughput::Elements(1));

    g.bench_function("amqp-protocol", |b| {
        let mut replay = OursReplay::new(&case.wire, copies, frames);
        let mut dec = FrameDecoder::new(FRAME_MAX);
        b.iter(|| {
            for _ in 0..frames {
                // By reference: the frame is used where it was returned, as a
                // consumer would, not copied again into black_box's slot.
                let frame = next_ours(&mut replay, &mut dec);
                black_box(&frame);
            }
        });
    });

    g.bench_function("amqp-protocol+assembler", |b| {
        let mut replay = OursReplay::new(&case.wire, copies, frames);
        let mut dec = FrameDecoder::new(FRAME_MAX);
        let mut asm = Assembler::new();
        b.iter(|| {
            let mut done = None;
            for _ in 0..frames {
                done = asm
                    .handle_frame(next_ours(&mut replay, &mut dec))
                    .expect("assemble");
            }
            match done {
                Some(Assembled::Content { content, .. }) => {
                    black_box(&content);
                }
                other => panic!("not a message: {other:?}"),
            }
        });
    });

    g.bench_function("amq-protocol", |b| {
        let mut replay = TheirReplay::new(&case.wire, copies);
        b.iter(|| {
            for _ in 0..frames {
                let frame = replay.next_frame();
                black_box(&frame);
            }
        });
    });
    g.finish();
}

fn encode(c: &mut Criterion, case: &Case, label: &str) {
    let mut g = c.benchmark_group(format!("encode/{}/{label}", case.kind.name()));
    g.throughput(Throughput::Elements(1));
    let len = case.wire.len();

    g.bench_function("amqp-protocol", |b| {
        let mut buf = Vec::with_capacity(len);
        b.iter(|| {
            case.encode_ours(&mut buf);
            black_box(buf.as_slice());
        });
    });

    g.bench_function("amqp-protocol-frames", |b| {
        let mut buf = Vec::with_capacity(len);
        b.iter(|| {
            case.encode_ours_frames(&mut buf);
            black_box(buf.as_slice());
        });
    });

    g.bench_function("amq-protocol", |b| {
        let mut buf = vec![0u8; len];
        b.iter(|| {
            let n = case.encode_theirs_slice(&mut buf);
            black_box(&buf[..n]);
        });
    });

    g.bench_function("amq-protocol-vec", |b| {
        let mut buf = Vec::with_capacity(len);
        b.iter(|| {
            case.encode_theirs_vec(&mut buf);
            black_box(buf.as_slice());
        });
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    for kind in Kind::ALL {
        for (label, size) in SIZES {
            let case = Case::new(kind, size);
            decode(c, &case, label);
            encode(c, &case, label);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = codec
}
criterion_main!(benches);
