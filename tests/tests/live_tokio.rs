//! The live scenarios (`amqp_tests::scenarios`) with the tokio adapter on a
//! multi-threaded runtime (and, in `current_thread`, on a current-thread
//! one), plus what only the async API has.

#![allow(clippy::unwrap_used)]

amqp_tests::live_scenarios!(amqp_tests::adapter_tokio::Tokio);
amqp_tests::live_connection_scenarios!(amqp_tests::adapter_tokio::Tokio);
amqp_tests::live_recovery_scenarios!(amqp_tests::adapter_tokio::Tokio);

mod current_thread {
    amqp_tests::live_scenarios!(amqp_tests::adapter_tokio::TokioCurrentThread);
}

mod async_only {
    use std::time::Duration;

    use amqp_client::tokio::Connection;
    use amqp_client::Error;
    use amqp_tests::adapter_async::checks;
    use amqp_tests::live::params;

    fn sleep(d: Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }

    async fn open() -> Connection {
        Connection::open(params()).await.unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stream_consumer_on_a_current_thread_runtime() {
        checks::stream_consumer(open().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stream_consumer_on_a_multi_thread_runtime() {
        checks::stream_consumer(open().await).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn prefetch_and_buffer_limit_bound_what_is_buffered() {
        checks::prefetch_and_buffer_limit_bound_what_is_buffered(open().await, sleep).await;
    }

    fn open_with(
        p: amqp_client::ConnectionParameters,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Connection, Error>> + Send>>
    {
        Box::pin(Connection::open(p))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_confirm_holds_back_no_later_publish() {
        checks::a_slow_confirm_holds_back_no_later_publish(open_with).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_confirm_holds_back_no_later_publish_on_one_thread() {
        checks::a_slow_confirm_holds_back_no_later_publish(open_with).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_bound_replies_and_confirms_still_arrive() {
        let conn = Connection::open(params().with_delivery_buffer(20, usize::MAX))
            .await
            .unwrap();
        checks::at_the_bound_replies_and_confirms_still_arrive(conn, sleep).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_bounds_what_its_consumers_hold() {
        let p = params().with_delivery_buffer(usize::from(u16::MAX), checks::HELD_BOUND);
        let conn = Connection::open(p).await.unwrap();
        checks::a_connection_bounds_what_its_consumers_hold(conn, sleep).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_call_does_not_disturb_the_next() {
        checks::a_dropped_call_does_not_disturb_the_next(open().await, sleep).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deep_pipeline_of_confirms_resolves() {
        checks::a_deep_pipeline_of_confirms_resolves(open().await, sleep).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_deep_pipeline_of_confirms_resolves_on_one_thread() {
        checks::a_deep_pipeline_of_confirms_resolves(open().await, sleep).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn confirmation_futures() {
        checks::confirmation_futures(open().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_back_publishes_leave_when_earlier_confirms_come() {
        checks::held_back_publishes_leave_when_earlier_confirms_come(
            open().await,
            open().await,
            sleep,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publishes_keep_their_order_behind_a_stalled_socket() {
        checks::publishes_keep_their_order_behind_a_stalled_socket(sleep).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn publishes_keep_their_order_behind_a_stalled_socket_on_one_thread() {
        checks::publishes_keep_their_order_behind_a_stalled_socket(sleep).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn handles_are_clones_of_one_connection() {
        checks::handles_are_clones_of_one_connection(open().await).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tcp_options_on_a_stream_the_application_supplies_are_a_misuse() {
        let (client, _server) = tokio::io::duplex(64);
        let options = amqp_client::TcpOptions::new().with_keepalive_count(3);
        let e = Connection::open_stream(client, &params().with_tcp_options(options))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Misuse(m) if m.contains("TCP options")),
            "{e:?}"
        );
    }

    #[test]
    fn handles_are_send_sync_clone() {
        checks::assert_send_sync_clone();
    }

    #[test]
    fn outside_a_runtime_open_is_an_error_not_a_panic() {
        // Polled by another executor, with no tokio runtime around.
        let e = smol::block_on(Connection::open(params())).unwrap_err();
        assert!(
            matches!(&e, Error::Misuse(m) if m.contains("tokio runtime")),
            "{e:?}"
        );
    }

    #[test]
    fn a_connection_outlives_a_runtime_that_is_shut_down_with_errors_not_hangs() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let conn = rt.block_on(open());
        let ch = rt.block_on(conn.channel()).unwrap();
        drop(rt);
        // The driver is gone: calls fail at once.
        let e = smol::block_on(ch.basic_qos(0, 1, false)).unwrap_err();
        assert!(matches!(e, Error::StreamLost(_)), "{e:?}");
        assert!(conn.is_closed());
    }
}
