//! Startup recovery, the disk half: list `dataDir` and `dataLogDir`, let
//! [`plan_recovery`] choose the files, read the newest snapshot and the log
//! segments after it, cut torn tails, remove empty segments, replay.
//!
//! Runs once, before any core serves, on a short-lived executor of its own,
//! made with a short preempt timer ([`RECOVERY_PREEMPT`]): the snapshot is
//! decoded as it is read, and glommio submits the reads queued behind the
//! decode only when the running task queue is preempted.
//! Every failure is a [`StartupError`] that names the file (and the offset,
//! where there is one) and says what to do.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{data_subdir, Disk};
use crate::log::{
    check_snapshot_name, decode_records, plan_recovery, replay, DirEntry, LogChain, RecoveryError,
    Repair, SegmentName, SessionTimeouts, SnapshotDecoder, SnapshotError, SnapshotName,
};
use crate::tree::DataTree;
use crate::txn::TxnRecord;
use crate::types::Zxid;

/// The preempt timer of the executor that runs [`recover`]: how long the
/// decode may run before the reads it queued are submitted.
pub const RECOVERY_PREEMPT: Duration = Duration::from_millis(2);

/// What recovery rebuilt.
#[derive(Debug)]
pub struct Recovered {
    /// The tree after the last durable txn.
    pub tree: DataTree,
    /// The sessions live after it.
    pub sessions: SessionTimeouts,
    /// The last durable txn's zxid (0 for an empty data directory).
    pub last_zxid: Zxid,
    /// The newest records replayed from the log, oldest first (at most
    /// [`RECOVERED_TAIL_MAX`]): an ensemble member's window for syncing others.
    pub tail: Vec<TxnRecord>,
    /// The zxid before `tail[0]` (the snapshot's, or `last_zxid` if `tail` is empty).
    pub tail_base: Zxid,
    /// The snapshot recovery started from.
    pub snapshot: Option<SnapshotName>,
    /// Log segments read.
    pub segments_read: usize,
    /// Txns replayed from the log.
    pub replayed: u64,
    /// Segments whose torn tail was cut, and where.
    pub truncated: Vec<(SegmentName, u64)>,
    /// Segments removed because they held no record.
    pub removed: Vec<SegmentName>,
    /// Apache ZooKeeper files found beside ours and left alone.
    pub zookeeper_files_ignored: usize,
    /// Time taken.
    pub duration: Duration,
    /// CPU time the recovering thread used meanwhile (on a busy host, wall
    /// time minus this is time spent waiting for a CPU or the disk).
    pub cpu: Duration,
    /// Of which waiting for the disk while reading the snapshot file (reads
    /// run ahead of the decode, so this is the part the decode did not hide).
    pub snapshot_read: Duration,
    /// Of which decoding the snapshot into a tree, as its pieces came.
    pub snapshot_decode: Duration,
    /// Of which reading, scanning and replaying the log.
    pub log: Duration,
}

/// Records [`Recovered::tail`] keeps at most (ZooKeeper's `commitLogCount`).
pub const RECOVERED_TAIL_MAX: usize = 500;

/// Why the server cannot start from its data directories.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A file or directory could not be read or repaired.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The files do not form a history this server can recover.
    #[error("cannot recover from {dir}: {error}")]
    Recovery {
        /// The directory holding the file named in `error`.
        dir: PathBuf,
        /// What is wrong.
        error: RecoveryError,
    },
    /// The newest snapshot is unusable.
    #[error(
        "snapshot {path} is unusable: {error}. Snapshots are renamed into place only when \
         complete, so the file was damaged afterwards; restore it from a backup, or move it \
         aside to recover from the previous snapshot and the log"
    )]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong (offsets are from the start of the file).
        error: SnapshotError,
    },
}

/// Recovers the newest durable state from `data_dir` (snapshots) and
/// `data_log_dir` (log segments), repairing torn tails on disk, and creates
/// the directories if this is a fresh start.
pub async fn recover(
    disk: &Disk,
    data_dir: &Path,
    data_log_dir: &Path,
    extended_types_enabled: bool,
) -> Result<Recovered, StartupError> {
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let snap_dir = data_subdir(data_dir);
    let log_dir = data_subdir(data_log_dir);
    let snap_listing = listing(disk, data_dir).await?;
    let log_listing = listing(disk, data_log_dir).await?;
    let plan = plan_recovery(&snap_listing, &log_listing).map_err(|error| {
        let dir = match &error {
            RecoveryError::ZooKeeperDataDir { .. } => data_dir.to_path_buf(),
            _ => snap_dir.clone(),
        };
        StartupError::Recovery { dir, error }
    })?;
    // Only now: a directory that is not ours is left as it was.
    disk.create_dir_all(&snap_dir).await?;
    disk.create_dir_all(&log_dir).await?;
    for leftover in &plan.leftovers {
        let path = data_dir.join(leftover);
        tracing::info!(file = %path.display(), "removing a snapshot left half-written by a crash");
        disk.remove(&path).await?;
    }
    if !plan.leftovers.is_empty() {
        disk.sync_dir(&snap_dir).await?;
    }

    let mut timings = (Duration::ZERO, Duration::ZERO);
    let (mut tree, mut sessions) = match plan.snapshot {
        Some(name) => {
            read_snapshot(disk, &snap_dir, name, extended_types_enabled, &mut timings).await?
        }
        None => (
            DataTree::with_extended_types(extended_types_enabled),
            SessionTimeouts::new(),
        ),
    };
    let log_started = Instant::now();
    let mut chain = LogChain::new(plan.snapshot_zxid());
    let mut tail_prevs: Vec<Zxid> = Vec::new();
    let mut recovered = Recovered {
        tree: DataTree::new(),
        sessions: SessionTimeouts::new(),
        last_zxid: Zxid::ZERO,
        tail: Vec::new(),
        tail_base: plan.snapshot_zxid(),
        snapshot: plan.snapshot,
        segments_read: 0,
        replayed: 0,
        truncated: Vec::new(),
        removed: Vec::new(),
        zookeeper_files_ignored: plan.zookeeper_files_ignored,
        duration: Duration::ZERO,
        cpu: Duration::ZERO,
        snapshot_read: timings.0,
        snapshot_decode: timings.1,
        log: Duration::ZERO,
    };
    for segment in &plan.segments {
        let path = log_dir.join(segment.to_string());
        let image = disk.read_all(&path).await?;
        let scan = decode_records(&image);
        drop(image);
        let verdict = chain
            .check(*segment, &scan)
            .map_err(|error| StartupError::Recovery {
                dir: log_dir.clone(),
                error,
            })?;
        recovered.replayed += replay(
            &mut tree,
            &mut sessions,
            scan.records[verdict.replay_from..]
                .iter()
                .map(|r| &r.record),
        );
        let replayed = &scan.records[verdict.replay_from..];
        let keep = replayed.len().min(RECOVERED_TAIL_MAX);
        let kept = &replayed[replayed.len() - keep..];
        tail_prevs.extend(kept.iter().map(|r| r.prev_zxid));
        recovered.tail.extend(kept.iter().map(|r| r.record.clone()));
        let excess = recovered.tail.len().saturating_sub(RECOVERED_TAIL_MAX);
        recovered.tail.drain(..excess);
        tail_prevs.drain(..excess);
        recovered.segments_read += 1;
        match verdict.repair {
            Repair::Keep => {}
            Repair::Truncate { offset } => {
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    "cutting a torn write at the end of the log (never acknowledged)"
                );
                let file = disk.open_write(&path).await?;
                let cut = async {
                    file.truncate(offset).await?;
                    file.fdatasync().await
                }
                .await;
                let _ = file.close().await;
                cut.map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot cut {} at offset {offset}: {e}", path.display()),
                    )
                })?;
                recovered.truncated.push((*segment, offset));
            }
            Repair::Remove => {
                tracing::info!(file = %path.display(), "removing a log segment that holds no record");
                disk.remove(&path).await?;
                disk.sync_dir(&log_dir).await?;
                recovered.removed.push(*segment);
            }
        }
    }
    let last_zxid = chain.last_zxid();
    assert_eq!(
        tree.last_zxid(),
        last_zxid.0,
        "the tree holds exactly the recovered history"
    );
    recovered.tail_base = tail_prevs.first().copied().unwrap_or(last_zxid);
    recovered.tree = tree;
    recovered.sessions = sessions;
    recovered.last_zxid = last_zxid;
    recovered.log = log_started.elapsed();
    recovered.duration = started.elapsed();
    recovered.cpu = thread_cpu_time().saturating_sub(cpu_started);
    Ok(recovered)
}

/// CPU time of the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the one we pass.
    let got = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if got != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Reads and decodes the snapshot in one pass: each piece is decoded as it
/// comes while the next ones are being read, so the file is never whole in
/// memory and the disk's time hides behind the decode's. `timings` gets the
/// time spent waiting for the disk and the rest (decoding).
async fn read_snapshot(
    disk: &Disk,
    snap_dir: &Path,
    name: SnapshotName,
    extended_types_enabled: bool,
    timings: &mut (Duration, Duration),
) -> Result<(DataTree, SessionTimeouts), StartupError> {
    let path = snap_dir.join(name.to_string());
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut reader = disk.read_pieces(&path).await?;
    let mut decoder = SnapshotDecoder::new(reader.len(), extended_types_enabled);
    let read = async {
        loop {
            let asked = Instant::now();
            let piece = reader.next().await?;
            waited += asked.elapsed();
            let Some(piece) = piece else {
                return Ok::<(), io::Error>(());
            };
            decoder.feed(&piece);
            drop(piece);
            // Let the executor submit the next reads (see RECOVERY_PREEMPT).
            glommio::yield_if_needed().await;
        }
    }
    .await;
    reader.close().await;
    read?;
    let snapshot = decoder.finish().map_err(|error| StartupError::Snapshot {
        path: path.clone(),
        error,
    })?;
    timings.0 = waited;
    timings.1 = started.elapsed().saturating_sub(waited);
    check_snapshot_name(name, snapshot.zxid).map_err(|error| StartupError::Recovery {
        dir: snap_dir.to_path_buf(),
        error,
    })?;
    Ok((snapshot.tree, snapshot.sessions))
}

/// The files of `dir/corekeeper` and `dir/version-2`, as `plan_recovery` takes them.
async fn listing(disk: &Disk, dir: &Path) -> io::Result<Vec<DirEntry>> {
    let mut entries = Vec::new();
    for (name, size) in disk.list(&data_subdir(dir)).await? {
        entries.push(DirEntry {
            path: format!("{}/{name}", crate::log::DATA_SUBDIR),
            size,
            magic: None,
        });
    }
    let zookeeper = dir.join(ZOOKEEPER_SUBDIR);
    for (name, size) in disk.list(&zookeeper).await? {
        let prefix = disk.read_prefix(&zookeeper.join(&name), 4).await?;
        let magic = <[u8; 4]>::try_from(prefix.as_slice()).ok();
        entries.push(DirEntry {
            path: format!("{ZOOKEEPER_SUBDIR}/{name}"),
            size,
            magic,
        });
    }
    Ok(entries)
}

/// Where Apache ZooKeeper keeps its files.
const ZOOKEEPER_SUBDIR: &str = "version-2";
