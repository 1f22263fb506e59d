//! The scenarios against a misbehaving scripted broker
//! (`amqp_tests::misbehaving`) with every adapter. They need no RabbitMQ.

mod blocking {
    amqp_tests::misbehaving_scenarios!(amqp_tests::adapter::Blocking);
}

mod tokio {
    amqp_tests::misbehaving_scenarios!(amqp_tests::adapter_tokio::Tokio);
}

mod smol {
    amqp_tests::misbehaving_scenarios!(amqp_tests::adapter_smol::Smol);
}

mod event_loop {
    amqp_tests::misbehaving_scenarios!(amqp_tests::adapter_event_loop::EventLoop);
}
