//! Recovery, the pure half: which files to read, whether the log read back is
//! whole, what to cut from a torn segment, and replaying records onto the tree.
//!
//! Runs once, on the sequencer core, before the server takes requests:
//!
//! 1. [`plan_recovery`] over the listings of `dataDir` and `dataLogDir`: the
//!    newest snapshot, the segments that may hold txns after it, temp files to
//!    delete, or the error that this is an Apache ZooKeeper data directory.
//! 2. The snapshot is read and decoded ([`super::decode_snapshot`]); with none,
//!    the tree starts fresh at zxid 0.
//! 3. Each planned segment, in order, is read, scanned
//!    ([`super::decode_records`]) and checked by [`LogChain::check`], which
//!    says which of its records to [`replay`] and what to repair. Any
//!    corruption, missing segment or inconsistency is an error naming the file
//!    and offset and saying what to do: never a silent loss.
//!
//! Where the files live: corekeeper keeps its snapshots in
//! `<dataDir>/corekeeper/` and its log in `<dataLogDir>/corekeeper/` (the same
//! directory when `dataLogDir` is unset). ZooKeeper's `version-2/` beside it is
//! recognised and never touched.

use super::names::{zookeeper_zxid, SegmentName, SnapshotName};
use super::record::{Corruption, Scan, ScanEnd};
use super::SessionTimeouts;
use crate::tree::DataTree;
use crate::txn::{apply, ArchivedTxnOp, TxnRecord};
use crate::types::{SessionId, Zxid};

/// The subdirectory of `dataDir` / `dataLogDir` that holds corekeeper's files.
pub const DATA_SUBDIR: &str = "corekeeper";
/// Where Apache ZooKeeper keeps its files (`FileTxnSnapLog.version + VERSION`).
const ZOOKEEPER_SUBDIR: &str = "version-2";
/// The smallest snapshot file: header and trailer.
const SNAPSHOT_LEN_MIN: u64 = 36;

/// One file of a data directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Path relative to the listed directory, `/`-separated (`corekeeper/log.1`,
    /// `version-2/snapshot.0`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The file's first four bytes, if the lister read them (it should for
    /// files under `version-2/`, to confirm they are ZooKeeper's).
    pub magic: Option<[u8; 4]>,
}

/// The files of one directory listing, sorted by zxid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataFiles {
    /// corekeeper snapshots with their sizes.
    pub snapshots: Vec<(SnapshotName, u64)>,
    /// corekeeper log segments with their sizes.
    pub segments: Vec<(SegmentName, u64)>,
    /// Snapshot temp files a crash left behind (paths as listed).
    pub temp: Vec<String>,
    /// Apache ZooKeeper snapshots (zxids) under `version-2/`.
    pub zookeeper_snapshots: Vec<i64>,
    /// Apache ZooKeeper log files (first zxids) under `version-2/`.
    pub zookeeper_logs: Vec<i64>,
}

impl DataFiles {
    /// Sorts a listing into what it holds; other files are ignored.
    pub fn from_listing(entries: &[DirEntry]) -> DataFiles {
        let mut files = DataFiles::default();
        for entry in entries {
            let Some((dir, name)) = entry.path.rsplit_once('/') else {
                continue;
            };
            match dir {
                DATA_SUBDIR => {
                    if let Some(snapshot) = SnapshotName::parse(name) {
                        files.snapshots.push((snapshot, entry.size));
                    } else if let Some(segment) = SegmentName::parse(name) {
                        files.segments.push((segment, entry.size));
                    } else if SnapshotName::is_temp_name(name) {
                        files.temp.push(entry.path.clone());
                    }
                }
                ZOOKEEPER_SUBDIR => {
                    let magic_is = |expected: &[u8; 4]| entry.magic.is_none_or(|m| &m == expected);
                    if let Some(zxid) = zookeeper_zxid(name, "log").filter(|_| magic_is(b"ZKLG")) {
                        files.zookeeper_logs.push(zxid);
                    } else if let Some(zxid) =
                        zookeeper_zxid(name, "snapshot").filter(|_| magic_is(b"ZKSN"))
                    {
                        files.zookeeper_snapshots.push(zxid);
                    }
                }
                _ => {}
            }
        }
        files.snapshots.sort_unstable();
        files.segments.sort_unstable();
        files.temp.sort_unstable();
        files.zookeeper_snapshots.sort_unstable();
        files.zookeeper_logs.sort_unstable();
        files
    }
}

/// What to read at startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryPlan {
    /// The newest snapshot (in `dataDir`), or none: start from an empty tree.
    pub snapshot: Option<SnapshotName>,
    /// The segments (in `dataLogDir`) that may hold txns after the snapshot, in
    /// zxid order: from the last one starting at or before the snapshot's zxid.
    pub segments: Vec<SegmentName>,
    /// Snapshot temp files (paths relative to `dataDir`) to delete.
    pub leftovers: Vec<String>,
    /// Apache ZooKeeper files found beside ours and ignored (worth a warning).
    pub zookeeper_files_ignored: usize,
}

impl RecoveryPlan {
    /// The zxid recovery starts from: the snapshot's, or 0.
    pub fn snapshot_zxid(&self) -> Zxid {
        self.snapshot.map_or(Zxid::ZERO, |s| s.zxid)
    }
}

/// Checks that a decoded snapshot holds the zxid its file name says.
pub fn check_snapshot_name(file: SnapshotName, zxid: Zxid) -> Result<(), RecoveryError> {
    if file.zxid == zxid {
        return Ok(());
    }
    Err(RecoveryError::SnapshotMisnamed { file, zxid })
}

/// Why the server cannot start from its data directories. Each message names
/// the file and says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// Only Apache ZooKeeper data is here.
    #[error(
        "this is an Apache ZooKeeper data directory: version-2/ holds {snapshots} ZooKeeper \
         snapshot(s) and {logs} log file(s){newest}, and there is no corekeeper data in \
         {DATA_SUBDIR}/. Import it with `corekeeper import` (coming in a later release), or \
         point dataDir/dataLogDir at an empty directory to start with an empty tree"
    )]
    ZooKeeperDataDir {
        /// ZooKeeper snapshots found.
        snapshots: usize,
        /// ZooKeeper log files found.
        logs: usize,
        /// ", the newest at zxid 0x..", or empty.
        newest: String,
    },
    /// The newest snapshot cannot be a complete snapshot.
    #[error(
        "snapshot {file} is {size} bytes, too short to be a snapshot; snapshots are renamed \
         into place only when complete, so the file was damaged afterwards. Move it aside to \
         recover from the previous snapshot and the log"
    )]
    SnapshotTooShort {
        /// The file.
        file: SnapshotName,
        /// Its size.
        size: u64,
    },
    /// A snapshot whose content is of another zxid than its name.
    #[error(
        "snapshot {file} holds the tree at zxid {zxid}: the file was renamed or copied over; \
         restore the original or move it aside to recover from the previous snapshot"
    )]
    SnapshotMisnamed {
        /// The file.
        file: SnapshotName,
        /// The zxid inside.
        zxid: Zxid,
    },
    /// A segment damaged where a crash cannot explain it.
    #[error(
        "log segment {file} is corrupt at offset {offset}: {reason}. Records written after \
         that point had been synced, so this is not a torn write and corekeeper will not \
         truncate acknowledged data. Restore the file from a backup, or, in an ensemble, move \
         this server's data directories aside so it resyncs from the leader"
    )]
    Corrupt {
        /// The segment.
        file: SegmentName,
        /// Where the damage begins.
        offset: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// A segment whose header names another first zxid than its file name.
    #[error(
        "log segment {file} has a header for a segment starting at zxid {header_zxid}: the \
         file was renamed or copied over; restore the original"
    )]
    Misnamed {
        /// The segment.
        file: SegmentName,
        /// The first zxid its header names.
        header_zxid: Zxid,
    },
    /// The log after the snapshot does not link up: something is missing.
    #[error(
        "log segment {file}: its record {zxid} follows zxid {prev_zxid}, but the history \
         before it ends at zxid {expected} ({after}). A log segment between them is missing \
         or was truncated; restore it, or, in an ensemble, move this server's data \
         directories aside so it resyncs from the leader"
    )]
    Gap {
        /// The segment where the chain breaks.
        file: SegmentName,
        /// The record that does not link.
        zxid: Zxid,
        /// What it says precedes it.
        prev_zxid: Zxid,
        /// What actually precedes it.
        expected: Zxid,
        /// Where `expected` comes from (the snapshot or a segment).
        after: String,
    },
}

/// Picks the files to recover from.
pub fn plan_recovery(
    snap_dir: &[DirEntry],
    log_dir: &[DirEntry],
) -> Result<RecoveryPlan, RecoveryError> {
    let snaps = DataFiles::from_listing(snap_dir);
    let logs = DataFiles::from_listing(log_dir);
    let zookeeper_files = snaps.zookeeper_snapshots.len() + logs.zookeeper_logs.len();
    if zookeeper_files > 0 && snaps.snapshots.is_empty() && logs.segments.is_empty() {
        return Err(RecoveryError::ZooKeeperDataDir {
            snapshots: snaps.zookeeper_snapshots.len(),
            logs: logs.zookeeper_logs.len(),
            newest: snaps
                .zookeeper_snapshots
                .last()
                .map(|zxid| format!(", the newest snapshot at zxid {:#x}", zxid))
                .unwrap_or_default(),
        });
    }
    let snapshot = snaps.snapshots.last().copied();
    if let Some((file, size)) = snapshot {
        if size < SNAPSHOT_LEN_MIN {
            return Err(RecoveryError::SnapshotTooShort { file, size });
        }
    }
    let snapshot = snapshot.map(|(name, _)| name);
    let after = snapshot.map_or(Zxid::ZERO, |s| s.zxid);
    let first = logs
        .segments
        .iter()
        .rposition(|(segment, _)| segment.first_zxid <= after)
        .unwrap_or(0);
    Ok(RecoveryPlan {
        snapshot,
        segments: logs.segments[first..].iter().map(|(s, _)| *s).collect(),
        leftovers: snaps.temp,
        zookeeper_files_ignored: zookeeper_files,
    })
}

/// What to do with a segment after checking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Nothing.
    Keep,
    /// Cut a torn tail: zero or truncate the file from `offset`, and sync it,
    /// before anything else is written.
    Truncate {
        /// Where the torn write begins.
        offset: u64,
    },
    /// It holds no record: delete it (its name may be needed again).
    Remove,
}

/// The verdict on one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentVerdict {
    /// Replay `scan.records[replay_from..]` (the earlier ones are in the snapshot).
    pub replay_from: usize,
    /// What to repair.
    pub repair: Repair,
}

/// Checks that the segments read after a snapshot form one unbroken history:
/// each record after the snapshot names its predecessor, and that predecessor
/// is the snapshot's zxid or the record before it, across segment boundaries.
#[derive(Clone, Debug)]
pub struct LogChain {
    snapshot_zxid: Zxid,
    last: Zxid,
    last_from: Option<SegmentName>,
    checked: Option<SegmentName>,
}

impl LogChain {
    /// A chain starting at the snapshot's zxid (0 without a snapshot).
    pub fn new(snapshot_zxid: Zxid) -> LogChain {
        LogChain {
            snapshot_zxid,
            last: snapshot_zxid,
            last_from: None,
            checked: None,
        }
    }

    /// The last zxid of the history so far: where the log resumes.
    pub fn last_zxid(&self) -> Zxid {
        self.last
    }

    /// Checks the next segment of the plan (in order) and its scan.
    pub fn check(
        &mut self,
        segment: SegmentName,
        scan: &Scan,
    ) -> Result<SegmentVerdict, RecoveryError> {
        assert!(
            self.checked.is_none_or(|previous| previous < segment),
            "segments are checked in zxid order"
        );
        self.checked = Some(segment);
        let repair = match &scan.end {
            ScanEnd::Corrupt { offset, reason } => {
                return Err(RecoveryError::Corrupt {
                    file: segment,
                    offset: *offset,
                    reason: reason.clone(),
                })
            }
            _ if scan.records.is_empty() => Repair::Remove,
            ScanEnd::Clean { .. } => Repair::Keep,
            ScanEnd::TornTail { offset } => Repair::Truncate { offset: *offset },
        };
        if let Some(header) = scan.header {
            if header.first_zxid != segment.first_zxid {
                return Err(RecoveryError::Misnamed {
                    file: segment,
                    header_zxid: header.first_zxid,
                });
            }
        }
        let replay_from = scan
            .records
            .partition_point(|r| r.zxid <= self.snapshot_zxid);
        for record in &scan.records[replay_from..] {
            if record.prev_zxid != self.last {
                return Err(RecoveryError::Gap {
                    file: segment,
                    zxid: record.zxid,
                    prev_zxid: record.prev_zxid,
                    expected: self.last,
                    after: match self.last_from {
                        Some(from) => format!("the last record of {from}"),
                        None if self.snapshot_zxid == Zxid::ZERO => "an empty tree".into(),
                        None => format!("snapshot.{:x}", self.snapshot_zxid.0),
                    },
                });
            }
            self.last = record.zxid;
        }
        if replay_from < scan.records.len() {
            self.last_from = Some(segment);
        }
        Ok(SegmentVerdict {
            replay_from,
            repair,
        })
    }
}

/// Applies records (all after the tree's last zxid, in order) to the tree, and
/// their session creates and closes to `sessions`. Returns how many.
pub fn replay<'r>(
    tree: &mut DataTree,
    sessions: &mut SessionTimeouts,
    records: impl IntoIterator<Item = &'r TxnRecord>,
) -> u64 {
    let mut events = Vec::new();
    let mut count = 0;
    for record in records {
        let txn = record.txn();
        assert!(
            txn.zxid.0.to_native() > tree.last_zxid(),
            "replay gets only records after the tree"
        );
        let session = SessionId(txn.session.0.to_native());
        match &txn.op {
            ArchivedTxnOp::CreateSession { timeout_ms } => {
                sessions.insert(session, timeout_ms.to_native());
            }
            ArchivedTxnOp::CloseSession => {
                sessions.remove(&session);
            }
            _ => {}
        }
        apply(tree, record, &mut events);
        events.clear();
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests;
