//! `cargo fuzz run field_table`: see `amqp_tests::fuzz_checks::check_table`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    amqp_tests::fuzz_checks::check_table(data);
});
