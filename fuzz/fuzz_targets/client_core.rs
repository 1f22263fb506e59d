//! `cargo fuzz run client_core`: see `amqp_tests::fuzz_client::check_client_core`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    amqp_tests::fuzz_client::check_client_core(data);
});
