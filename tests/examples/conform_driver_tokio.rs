//! The `amqp-conform client` driver for the tokio adapter: the fixed
//! workload (see `amqp_tests::conform_driver`) against the broker at
//! `AMQP_URI`, on a current-thread runtime. Exits 0 when the workload
//! completed, 1 on any error (printed with Display).
//!
//! ```text
//! cargo build -p amqp-tests --example conform_driver_tokio
//! amqp-conform client --driver target/debug/examples/conform_driver_tokio
//! ```

use std::process::ExitCode;

use amqp_client::tokio::Connection;
use amqp_tests::conform_driver::{async_workload, main_with, params, DriverError};

fn workload(uri: &str) -> Result<(), DriverError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let conn = Connection::open(params(uri)?).await?;
        async_workload(conn, tokio::time::sleep).await
    })
}

fn main() -> ExitCode {
    main_with("conform_driver_tokio", workload)
}
