//! Delivery tags as the application sees them. The broker numbers a
//! channel's deliveries from 1, and starts again at 1 on a new channel: a
//! channel recovered on a new connection would hand out tags the
//! application already holds, and an ack of an old tag would settle another
//! message. So the application sees tags that keep increasing on its
//! channel handle, across recoveries: the broker's tag plus the highest tag
//! handed out before the channel's current opening. An acknowledgement of a
//! tag from before the recovery is never sent (that message went back to
//! its queue with the old connection); one with `multiple` that spans the
//! recovery settles only what came after it.

use crate::error::Error;

/// One channel's delivery tags; see the [module docs](self).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct DeliveryTags {
    /// Added to the broker's tags of the channel's current opening.
    offset: u64,
    /// The highest tag handed out so far.
    highest: u64,
}

impl DeliveryTags {
    /// The application's tag for the broker's `wire` tag.
    pub(super) fn delivered(&mut self, wire: u64) -> u64 {
        let tag = wire.saturating_add(self.offset);
        self.highest = self.highest.max(tag);
        tag
    }

    /// The channel was opened again (recovered): the broker's tags restart
    /// at 1, after every tag handed out so far.
    pub(super) fn reopened(&mut self) {
        self.offset = self.highest;
    }

    /// The broker's tag for an acknowledgement of the application's `tag`
    /// (`multiple`: every delivery up to it). Tag 0 with `multiple` means
    /// every outstanding delivery, of the current opening only.
    pub(super) fn wire(&self, channel: u16, tag: u64, multiple: bool) -> Result<u64, Error> {
        if tag == 0 && multiple {
            return Ok(0);
        }
        if tag <= self.offset {
            return Err(Error::StaleDeliveryTag {
                channel,
                delivery_tag: tag,
            });
        }
        Ok(tag - self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identity until the channel is reopened; then tags go on from the
    /// highest, old ones are refused, and a `multiple` spanning the
    /// reopening settles only the new ones.
    #[test]
    fn tags_keep_increasing_across_a_reopening() {
        let mut t = DeliveryTags::default();
        assert_eq!((t.delivered(1), t.delivered(2), t.delivered(3)), (1, 2, 3));
        assert_eq!(t.wire(1, 2, false).unwrap(), 2);
        t.reopened();
        assert_eq!((t.delivered(1), t.delivered(2)), (4, 5));
        assert_eq!(t.wire(1, 5, false).unwrap(), 2);
        assert_eq!(t.wire(1, 5, true).unwrap(), 2, "settles 4 and 5 only");
        assert!(matches!(
            t.wire(1, 3, false),
            Err(Error::StaleDeliveryTag {
                channel: 1,
                delivery_tag: 3
            })
        ));
        assert!(t.wire(1, 3, true).is_err());
        assert_eq!(t.wire(1, 0, true).unwrap(), 0);
        // A reopening with nothing delivered since keeps the same base.
        t.reopened();
        t.reopened();
        assert_eq!(t.delivered(1), 6);
    }
}
