//! The `amqp-conform client` driver for the futures-io adapter on smol:
//! the fixed workload (see `amqp_tests::conform_driver`) against the
//! broker at `AMQP_URI`. Exits 0 when the workload completed, 1 on any
//! error (printed with Display).
//!
//! ```text
//! cargo build -p amqp-tests --example conform_driver_smol
//! amqp-conform client --driver target/debug/examples/conform_driver_smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use amqp_client::futures_io::Connection;
use amqp_tests::adapter_smol::SmolRuntime;
use amqp_tests::conform_driver::{async_workload, main_with, params, DriverError};

fn workload(uri: &str) -> Result<(), DriverError> {
    smol::block_on(async {
        let conn = Connection::open_with(SmolRuntime, params(uri)?).await?;
        async_workload(conn, |d: Duration| async move {
            smol::Timer::after(d).await;
        })
        .await
    })
}

fn main() -> ExitCode {
    main_with("conform_driver_smol", workload)
}
