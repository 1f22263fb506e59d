//! The live scenarios (`amqp_tests::scenarios`) with the futures-io adapter
//! on smol, plus what only the async API has.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use amqp_client::futures_io::Connection;
use amqp_tests::adapter_async::checks;
use amqp_tests::adapter_smol::{Smol, SmolRuntime};
use amqp_tests::live::params;

amqp_tests::live_scenarios!(Smol);
amqp_tests::live_connection_scenarios!(Smol);
amqp_tests::live_recovery_scenarios!(Smol);

fn sleep(d: Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        smol::Timer::after(d).await;
    })
}

async fn open() -> Connection {
    Connection::open_with(SmolRuntime, params()).await.unwrap()
}

#[test]
fn stream_consumer() {
    smol::block_on(async { checks::stream_consumer(open().await).await });
}

#[test]
fn prefetch_and_buffer_limit_bound_what_is_buffered() {
    smol::block_on(async {
        checks::prefetch_and_buffer_limit_bound_what_is_buffered(open().await, sleep).await
    });
}

fn open_with(
    p: amqp_client::ConnectionParameters,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Connection, amqp_client::Error>> + Send>,
> {
    Box::pin(Connection::open_with(SmolRuntime, p))
}

#[test]
fn a_slow_confirm_holds_back_no_later_publish() {
    smol::block_on(checks::a_slow_confirm_holds_back_no_later_publish(
        open_with,
    ));
}

#[test]
fn at_the_bound_replies_and_confirms_still_arrive() {
    smol::block_on(async {
        let p = params().with_delivery_buffer(20, usize::MAX);
        let conn = Connection::open_with(SmolRuntime, p).await.unwrap();
        checks::at_the_bound_replies_and_confirms_still_arrive(conn, sleep).await
    });
}

#[test]
fn a_connection_bounds_what_its_consumers_hold() {
    smol::block_on(async {
        let p = params().with_delivery_buffer(usize::from(u16::MAX), checks::HELD_BOUND);
        let conn = Connection::open_with(SmolRuntime, p).await.unwrap();
        checks::a_connection_bounds_what_its_consumers_hold(conn, sleep).await
    });
}

#[test]
fn a_dropped_call_does_not_disturb_the_next() {
    smol::block_on(async {
        checks::a_dropped_call_does_not_disturb_the_next(open().await, sleep).await
    });
}

#[test]
fn confirmation_futures() {
    smol::block_on(async { checks::confirmation_futures(open().await).await });
}

#[test]
fn held_back_publishes_leave_when_earlier_confirms_come() {
    smol::block_on(async {
        checks::held_back_publishes_leave_when_earlier_confirms_come(
            open().await,
            open().await,
            sleep,
        )
        .await
    });
}

#[test]
fn handles_are_clones_of_one_connection() {
    smol::block_on(async { checks::handles_are_clones_of_one_connection(open().await).await });
}

#[test]
fn a_caller_connected_stream() {
    smol::block_on(async {
        let stream = smol::net::TcpStream::connect(amqp_tests::live::broker_addr())
            .await
            .unwrap();
        let conn = Connection::open_stream_with(SmolRuntime, stream, &params())
            .await
            .unwrap();
        assert!(conn.is_open());
        conn.close().await.unwrap();
    });
}
