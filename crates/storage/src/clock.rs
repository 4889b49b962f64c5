//! Where a [`crate::Db`] reads the time: the system clock, or a simulated clock that tests
//! move by seconds or days to run holds, expiries and return windows without waiting.

use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The time every write of a `Db` is decided at.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The machine's clock.
    #[default]
    System,
    /// A clock that stands still until moved (microseconds since the epoch, shared by clones).
    Simulated(Arc<AtomicI64>),
}

impl Clock {
    /// A simulated clock standing at `start`.
    pub fn simulated(start: Timestamp) -> Clock {
        Clock::Simulated(Arc::new(AtomicI64::new(crate::us(start))))
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Simulated(us) => Timestamp::from_microsecond(us.load(Ordering::SeqCst)).unwrap_or(Timestamp::MAX),
        }
    }

    /// Moves a simulated clock by `by` (never backwards); the system clock cannot be moved.
    pub fn advance(&self, by: SignedDuration) {
        if let Clock::Simulated(us) = self {
            let step = i64::try_from(by.as_micros().max(0)).unwrap_or(i64::MAX);
            us.fetch_add(step, Ordering::SeqCst);
        }
    }
}
