//! Values of the `delivery-mode` basic property.
//!
//! The property itself stays the raw octet ([`BasicProperties::delivery_mode`]),
//! so that decoding keeps whatever a peer sent; these name the two values
//! brokers act on.
//!
//! ```
//! use amqp_protocol::{delivery_mode, BasicProperties};
//!
//! let props = BasicProperties::default().persistent();
//! assert_eq!(props.delivery_mode, Some(delivery_mode::PERSISTENT));
//! assert!(props.is_persistent());
//! assert!(!BasicProperties::default().is_persistent());
//! ```

use crate::BasicProperties;

/// Non-persistent: the broker may keep the message in memory only.
pub const TRANSIENT: u8 = 1;
/// Persistent: a durable queue keeps the message across a broker restart.
pub const PERSISTENT: u8 = 2;

impl BasicProperties {
    /// These properties with `delivery-mode` 2 ([`PERSISTENT`]).
    pub fn persistent(mut self) -> Self {
        self.delivery_mode = Some(PERSISTENT);
        self
    }

    /// These properties with `delivery-mode` 1 ([`TRANSIENT`]).
    pub fn transient(mut self) -> Self {
        self.delivery_mode = Some(TRANSIENT);
        self
    }

    /// Whether `delivery-mode` is 2 ([`PERSISTENT`]).
    pub fn is_persistent(&self) -> bool {
        self.delivery_mode == Some(PERSISTENT)
    }
}
