//! The core's picture of the local transaction log: where it ends, how far it
//! is durable, and an in-memory window of its newest records for DIFF syncs
//! (ZooKeeper's `committedLog`, but over the log, uncommitted tail included).
//!
//! The window never drops a record after the applied point: those are still
//! needed to bring the runtime's tree, or a learner, up to the log's end.

use std::collections::VecDeque;

use crate::txn::TxnRecord;
use crate::types::Zxid;

/// The zxid a record carries.
pub(crate) fn zxid_of(record: &TxnRecord) -> Zxid {
    Zxid(record.txn().zxid.0.to_native())
}

/// The log as the core knows it.
#[derive(Debug)]
pub(crate) struct History {
    /// The newest records, oldest first; each follows the one before it in the log.
    window: VecDeque<TxnRecord>,
    /// The zxid of the record just before `window[0]` (the log's start, a
    /// snapshot's zxid, or an evicted record). The log holds it or its history.
    base: Zxid,
    window_bytes: usize,
    window_txns_max: usize,
    window_bytes_max: usize,
}

impl History {
    pub(crate) fn new(
        base: Zxid,
        tail: Vec<TxnRecord>,
        window_txns_max: usize,
        window_bytes_max: usize,
    ) -> History {
        let mut history = History {
            window: VecDeque::new(),
            base,
            window_bytes: 0,
            window_txns_max,
            window_bytes_max,
        };
        for record in tail {
            history.push(record);
        }
        history
    }

    /// The last zxid in the log.
    pub(crate) fn last(&self) -> Zxid {
        self.window.back().map_or(self.base, zxid_of)
    }

    /// The oldest zxid the window can start a DIFF from.
    pub(crate) fn base(&self) -> Zxid {
        self.base
    }

    /// Appends one record (after the last one).
    pub(crate) fn push(&mut self, record: TxnRecord) {
        let zxid = zxid_of(&record);
        assert!(
            zxid > self.last(),
            "the log's zxids increase: {zxid} after {}",
            self.last()
        );
        self.window_bytes += record.bytes().len();
        self.window.push_back(record);
    }

    /// Drops old records beyond the window's limits, never one after `keep_after`.
    pub(crate) fn evict(&mut self, keep_after: Zxid) {
        while self.window.len() > self.window_txns_max || self.window_bytes > self.window_bytes_max
        {
            let Some(front) = self.window.front() else {
                break;
            };
            let zxid = zxid_of(front);
            if zxid > keep_after {
                break;
            }
            self.window_bytes -= front.bytes().len();
            self.window.pop_front();
            self.base = zxid;
        }
    }

    /// Cuts the log back to end at `zxid`.
    pub(crate) fn truncate(&mut self, zxid: Zxid) {
        while self.window.back().is_some_and(|r| zxid_of(r) > zxid) {
            let record = self.window.pop_back().expect("checked");
            self.window_bytes -= record.bytes().len();
        }
        if self.window.is_empty() && self.base > zxid {
            self.base = zxid;
        }
    }

    /// The log now starts after a snapshot at `zxid` and holds nothing else.
    pub(crate) fn reset(&mut self, zxid: Zxid) {
        self.window.clear();
        self.window_bytes = 0;
        self.base = zxid;
    }

    /// Whether the log holds `zxid` as a record or as its base, so that a log
    /// ending at `zxid` is a prefix of this one (ZAB's prefix property).
    pub(crate) fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.window.binary_search_by_key(&zxid, zxid_of).is_ok()
    }

    /// The largest zxid the log holds (record or base) that is below `zxid`,
    /// if the window reaches back that far.
    pub(crate) fn largest_below(&self, zxid: Zxid) -> Option<Zxid> {
        if zxid <= self.base {
            return None;
        }
        let index = self.window.partition_point(|r| zxid_of(r) < zxid);
        Some(if index == 0 {
            self.base
        } else {
            zxid_of(&self.window[index - 1])
        })
    }

    /// The records after `zxid` up to and including `through` (`zxid` at or
    /// after the base).
    pub(crate) fn range(&self, zxid: Zxid, through: Zxid) -> impl Iterator<Item = &TxnRecord> {
        debug_assert!(zxid >= self.base);
        let start = self.window.partition_point(|r| zxid_of(r) <= zxid);
        self.window
            .range(start..)
            .take_while(move |r| zxid_of(r) <= through)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnOp};
    use crate::types::SessionId;

    fn record(epoch: u32, counter: u32) -> TxnRecord {
        TxnRecord::encode(&Txn {
            zxid: Zxid::new(epoch, counter),
            time_ms: 0,
            session: SessionId(1),
            cxid: 0,
            op: TxnOp::Error(0),
        })
    }

    fn zxids<'a>(it: impl Iterator<Item = &'a TxnRecord>) -> Vec<Zxid> {
        it.map(zxid_of).collect()
    }

    #[test]
    fn window_answers_contains_below_and_range() {
        let tail = vec![record(1, 3), record(1, 4), record(2, 1)];
        let h = History::new(Zxid::new(1, 2), tail, 10, 1 << 20);
        assert_eq!(h.last(), Zxid::new(2, 1));
        assert!(h.contains(Zxid::new(1, 2)), "the base is in the history");
        assert!(h.contains(Zxid::new(1, 4)));
        assert!(!h.contains(Zxid::new(1, 5)));
        assert_eq!(h.largest_below(Zxid::new(1, 5)), Some(Zxid::new(1, 4)));
        assert_eq!(h.largest_below(Zxid::new(1, 3)), Some(Zxid::new(1, 2)));
        assert_eq!(h.largest_below(Zxid::new(1, 2)), None);
        assert_eq!(
            zxids(h.range(Zxid::new(1, 3), Zxid::new(9, 0))),
            vec![Zxid::new(1, 4), Zxid::new(2, 1)]
        );
        assert_eq!(
            zxids(h.range(Zxid::new(1, 2), Zxid::new(1, 4))),
            vec![Zxid::new(1, 3), Zxid::new(1, 4)]
        );
    }

    #[test]
    fn eviction_keeps_what_is_not_applied() {
        let tail = (1..=6).map(|c| record(1, c)).collect();
        let mut h = History::new(Zxid::ZERO, tail, 2, 1 << 20);
        h.evict(Zxid::new(1, 2));
        assert_eq!(h.base(), Zxid::new(1, 2), "stops at the applied point");
        h.evict(Zxid::new(1, 6));
        assert_eq!(h.base(), Zxid::new(1, 4));
        assert_eq!(h.last(), Zxid::new(1, 6));
    }

    #[test]
    fn truncate_and_reset() {
        let tail = (1..=4).map(|c| record(1, c)).collect();
        let mut h = History::new(Zxid::ZERO, tail, 10, 1 << 20);
        h.truncate(Zxid::new(1, 2));
        assert_eq!(h.last(), Zxid::new(1, 2));
        h.push(record(2, 1));
        assert_eq!(h.last(), Zxid::new(2, 1));
        h.reset(Zxid::new(3, 7));
        assert_eq!((h.base(), h.last()), (Zxid::new(3, 7), Zxid::new(3, 7)));
        h.truncate(Zxid::new(3, 1));
        assert_eq!(h.last(), Zxid::new(3, 1), "cut below the window's base");
    }
}
