//! watch-fanout's shared clock: the writer (session 0) records when it meant to
//! send each version of its znode, and every watcher, on whatever thread,
//! reads the time of the version its next notification is for. The one piece
//! of state the threads of a run share on the measured path; only this
//! workload has it.
//!
//! A persistent watch (`addWatch`, ZooKeeper 3.6+) sees every change, in zxid
//! order, so a watcher's n-th data-change notification is for version n of
//! the znode (the writer is its only writer and each setData adds one).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Versions remembered; a watcher further behind than this would misattribute
/// its notifications (it would have to be hundreds of seconds late at the
/// default rate).
pub const VERSIONS_MAX: usize = 1 << 16;

/// The writer's send times, shared by a step's sessions.
#[derive(Debug)]
pub struct FanoutClock {
    path: String,
    /// Intended send time of version `v` plus one (0: not sent), at `v % VERSIONS_MAX`.
    intended_ns: Box<[AtomicU64]>,
    /// The version the writer ended at once its drain is over; -1 until then,
    /// `i64::MIN` if it cannot know (a write failed).
    final_version: AtomicI64,
}

impl FanoutClock {
    /// A clock for the writer's znode `path`.
    pub fn new(path: String) -> FanoutClock {
        FanoutClock {
            path,
            intended_ns: (0..VERSIONS_MAX).map(|_| AtomicU64::new(0)).collect(),
            final_version: AtomicI64::new(-1),
        }
    }

    /// The znode the watchers watch.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The writer sent the setData that creates `version`, meant for `intended_ns`.
    pub fn record_sent(&self, version: i32, intended_ns: u64) {
        let slot = version as usize % VERSIONS_MAX;
        self.intended_ns[slot].store(intended_ns + 1, Ordering::Release);
    }

    /// When the write of `version` was meant to be sent, if it was.
    pub fn sent_ns(&self, version: i32) -> Option<u64> {
        let slot = version as usize % VERSIONS_MAX;
        match self.intended_ns[slot].load(Ordering::Acquire) {
            0 => None,
            t => Some(t - 1),
        }
    }

    /// The writer has drained: `version` is the last it wrote (`None`: unknown).
    pub fn writer_finished(&self, version: Option<i32>) {
        let v = version.map_or(i64::MIN, i64::from);
        self.final_version.store(v, Ordering::Release);
    }

    /// Whether a watcher that has seen `seen` versions has seen all there are.
    pub fn settled(&self, seen: i32) -> bool {
        match self.final_version.load(Ordering::Acquire) {
            -1 => false,
            i64::MIN => true,
            last => i64::from(seen) >= last,
        }
    }

    /// Forgets the writer's end (a new phase of writes begins).
    pub fn reopen(&self) {
        self.final_version.store(-1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_their_send_times() {
        let clock = FanoutClock::new("/r/s0/k0".into());
        assert_eq!(clock.sent_ns(1), None);
        clock.record_sent(1, 0);
        clock.record_sent(2, 500);
        assert_eq!(clock.sent_ns(1), Some(0));
        assert_eq!(clock.sent_ns(2), Some(500));
        assert_eq!(clock.path(), "/r/s0/k0");
    }

    #[test]
    fn watchers_settle_once_the_writer_is_done_and_they_caught_up() {
        let clock = FanoutClock::new("/x".into());
        assert!(!clock.settled(10), "the writer may still write");
        clock.writer_finished(Some(3));
        assert!(!clock.settled(2));
        assert!(clock.settled(3));
        clock.reopen();
        assert!(!clock.settled(3));
        clock.writer_finished(None);
        assert!(
            clock.settled(0),
            "nothing to wait for when the writer failed"
        );
    }
}
