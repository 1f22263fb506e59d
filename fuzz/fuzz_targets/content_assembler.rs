//! `cargo fuzz run content_assembler`: see `amqp_tests::fuzz_checks::check_assembler`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    amqp_tests::fuzz_checks::check_assembler(data);
});
