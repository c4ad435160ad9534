//! Retention: which files `autopurge.snapRetainCount` (and `corekeeper purge`)
//! delete, as ZooKeeper's `PurgeTxnLog.purge` chooses them.
//!
//! Keep the newest `retain_count` snapshots, and every segment that may hold a
//! txn after the oldest of them: the last segment starting at or before its
//! zxid, and all later ones. Everything older goes. The segment being written
//! is always the newest, so it is always kept.

use super::names::{SegmentName, SnapshotName};

/// The files to delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// Snapshots older than the retained ones.
    pub snapshots: Vec<SnapshotName>,
    /// Segments holding only txns before the oldest retained snapshot.
    pub segments: Vec<SegmentName>,
}

/// Chooses what to delete, keeping `retain_count` snapshots (at least 1; the
/// config enforces ZooKeeper's minimum of 3). With fewer snapshots than that,
/// nothing is deleted.
pub fn select_purge(
    snapshots: &[SnapshotName],
    segments: &[SegmentName],
    retain_count: usize,
) -> Purge {
    assert!(retain_count >= 1, "the config keeps at least one snapshot");
    let mut snapshots = snapshots.to_vec();
    snapshots.sort_unstable();
    if snapshots.len() <= retain_count {
        return Purge::default();
    }
    let oldest_kept = snapshots[snapshots.len() - retain_count];
    let mut segments = segments.to_vec();
    segments.sort_unstable();
    // The segment that may hold the txn right after the oldest kept snapshot.
    let first_kept = segments
        .iter()
        .rposition(|segment| segment.first_zxid <= oldest_kept.zxid)
        .unwrap_or(0);
    segments.truncate(first_kept);
    snapshots.truncate(snapshots.len() - retain_count);
    Purge {
        snapshots,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Zxid;

    fn snaps(zxids: &[i64]) -> Vec<SnapshotName> {
        zxids
            .iter()
            .map(|z| SnapshotName { zxid: Zxid(*z) })
            .collect()
    }

    fn segs(zxids: &[i64]) -> Vec<SegmentName> {
        zxids
            .iter()
            .map(|z| SegmentName {
                first_zxid: Zxid(*z),
            })
            .collect()
    }

    #[test]
    fn keeps_the_newest_snapshots_and_the_log_after_the_oldest_kept() {
        // Snapshots at 100, 200, 300, 400; segments starting at 1, 90, 150, 250, 350.
        let purge = select_purge(
            &snaps(&[300, 100, 400, 200]),
            &segs(&[150, 1, 350, 90, 250]),
            3,
        );
        // Keep 200, 300, 400; 150 holds the txns right after 200.
        assert_eq!(purge.snapshots, snaps(&[100]));
        assert_eq!(purge.segments, segs(&[1, 90]));
    }

    #[test]
    fn a_segment_starting_exactly_at_the_snapshot_is_the_first_kept() {
        let purge = select_purge(&snaps(&[10, 20]), &segs(&[1, 20, 21]), 1);
        assert_eq!(purge.snapshots, snaps(&[10]));
        assert_eq!(purge.segments, segs(&[1]));
    }

    #[test]
    fn too_few_snapshots_delete_nothing() {
        assert_eq!(
            select_purge(&snaps(&[1, 2, 3]), &segs(&[1]), 3),
            Purge::default()
        );
        assert_eq!(select_purge(&[], &segs(&[1, 5]), 3), Purge::default());
    }

    #[test]
    fn segments_all_after_the_snapshot_are_all_kept() {
        let purge = select_purge(&snaps(&[5, 6]), &segs(&[7, 9]), 1);
        assert_eq!(purge.snapshots, snaps(&[5]));
        assert!(purge.segments.is_empty());
    }
}
