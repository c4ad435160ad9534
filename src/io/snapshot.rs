//! Writing snapshots and deleting old files.
//!
//! A snapshot is streamed from a held tree version ([`encode_snapshot`]) into
//! `snapshot.<zxid>.tmp`, synced, renamed to `snapshot.<zxid>` and the
//! directory synced: a snapshot name on disk always means a complete file.
//! Runs on whichever core writes snapshots (the background core); the tree is
//! an immutable version, so nothing pauses while it is read.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{data_subdir, is_out_of_space, Disk};
use crate::log::{
    encode_snapshot, select_purge, Purge, SegmentName, SessionTimeouts, SnapshotName,
};
use crate::tree::DataTree;
use crate::types::Zxid;

/// Bytes gathered before a write (a multiple of any DMA alignment).
const WRITE_BYTES: usize = 1 << 20;

/// A snapshot on disk.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotWritten {
    /// Its name.
    pub name: SnapshotName,
    /// Its size in bytes.
    pub bytes: u64,
    /// Time from the first byte encoded to the directory synced.
    pub duration: Duration,
}

/// Why a snapshot was not written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotWriteError {
    /// The disk is full: try again at the next snapshot.
    #[error("out of disk space writing {file}: {source}")]
    NoSpace {
        /// The file being written.
        file: String,
        /// The error.
        source: io::Error,
    },
    /// Any other failure: fail-stop, like a failed log sync.
    #[error("cannot write snapshot {file}: {source}")]
    Failed {
        /// The file being written.
        file: String,
        /// The error.
        source: io::Error,
    },
}

/// Writes the snapshot of `tree` (at `zxid`) and `sessions` into `dir`
/// (`dataDir/corekeeper`). On failure the temp file is removed.
pub async fn write_snapshot(
    disk: &Disk,
    dir: &Path,
    tree: &DataTree,
    sessions: &SessionTimeouts,
    zxid: Zxid,
) -> Result<SnapshotWritten, SnapshotWriteError> {
    let started = Instant::now();
    let name = SnapshotName { zxid };
    let temp = dir.join(name.temp_name());
    let result = write_temp(disk, &temp, tree, sessions, zxid).await;
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(source) => {
            let _ = disk.remove(&temp).await;
            let file = temp.display().to_string();
            return Err(if is_out_of_space(&source) {
                SnapshotWriteError::NoSpace { file, source }
            } else {
                SnapshotWriteError::Failed { file, source }
            });
        }
    };
    let target = dir.join(name.to_string());
    let renamed = async {
        disk.rename(&temp, &target).await?;
        disk.sync_dir(dir).await
    }
    .await;
    if let Err(source) = renamed {
        return Err(SnapshotWriteError::Failed {
            file: target.display().to_string(),
            source,
        });
    }
    Ok(SnapshotWritten {
        name,
        bytes,
        duration: started.elapsed(),
    })
}

async fn write_temp(
    disk: &Disk,
    temp: &Path,
    tree: &DataTree,
    sessions: &SessionTimeouts,
    zxid: Zxid,
) -> io::Result<u64> {
    let file = disk.create(temp).await?;
    let align = file.alignment() as usize;
    let result = async {
        let mut pending: Vec<u8> = Vec::with_capacity(2 * WRITE_BYTES);
        let mut offset = 0u64;
        let mut total = 0u64;
        for chunk in encode_snapshot(tree, sessions, zxid) {
            total += chunk.len() as u64;
            pending.extend_from_slice(&chunk);
            if pending.len() >= WRITE_BYTES {
                let whole = pending.len() - pending.len() % align;
                file.write_at(&pending[..whole], offset).await?;
                offset += whole as u64;
                pending.drain(..whole);
            }
            glommio::yield_if_needed().await;
        }
        if !pending.is_empty() {
            let len = pending.len().next_multiple_of(align);
            pending.resize(len, 0);
            file.write_at(&pending, offset).await?;
        }
        file.truncate(total).await?;
        file.fdatasync().await?;
        Ok::<u64, io::Error>(total)
    }
    .await;
    let closed = file.close().await;
    let total = result?;
    closed?;
    Ok(total)
}

/// Deletes the snapshots and log segments that `autopurge.snapRetainCount`
/// (`retain_count`) no longer needs, as `corekeeper purge` and the autopurge
/// task do. Returns what was deleted.
pub async fn purge(
    disk: &Disk,
    data_dir: &Path,
    data_log_dir: &Path,
    retain_count: usize,
) -> io::Result<Purge> {
    let snap_dir = data_subdir(data_dir);
    let log_dir = data_subdir(data_log_dir);
    let snapshots: Vec<SnapshotName> = disk
        .list(&snap_dir)
        .await?
        .iter()
        .filter_map(|(name, _)| SnapshotName::parse(name))
        .collect();
    let segments: Vec<SegmentName> = disk
        .list(&log_dir)
        .await?
        .iter()
        .filter_map(|(name, _)| SegmentName::parse(name))
        .collect();
    let purge = select_purge(&snapshots, &segments, retain_count);
    for snapshot in &purge.snapshots {
        disk.remove(&snap_dir.join(snapshot.to_string())).await?;
    }
    for segment in &purge.segments {
        disk.remove(&log_dir.join(segment.to_string())).await?;
    }
    if !purge.snapshots.is_empty() {
        disk.sync_dir(&snap_dir).await?;
    }
    if !purge.segments.is_empty() && (log_dir != snap_dir || purge.snapshots.is_empty()) {
        disk.sync_dir(&log_dir).await?;
    }
    Ok(purge)
}
