//! The clock: the only place that reads time. Pure modules get these values as inputs.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic and wall time for one process.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Monotonic milliseconds since the clock started.
    pub fn now_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }

    /// Wall-clock milliseconds since the Unix epoch (for ctime/mtime).
    pub fn wall_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
