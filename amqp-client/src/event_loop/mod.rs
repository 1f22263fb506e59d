//! The event-loop adapter, the counterpart of Pika's `SelectConnection`: one thread, no async runtime, callbacks.
