//! `cargo fuzz run frame_decoder`: see `amqp_tests::fuzz_checks::check_frames`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    amqp_tests::fuzz_checks::check_frames(data);
});
