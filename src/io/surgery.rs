//! What an ensemble member's leader may ask of its log beyond appending:
//! cut it back (`TRUNC`: records a previous leader proposed that the new one
//! never committed) or replace it with the leader's snapshot (`SNAP`).
//!
//! Both leave the directory as recovery expects it and are durable when they
//! return; the log writer must be stopped while they run, and resumes with a
//! fresh [`crate::log::GroupCommit`] after the new end (its first batch opens a
//! new segment, so a cut segment is never written again).

use std::io;
use std::path::Path;

use super::Disk;
use crate::log::{decode_records, ScanEnd, SegmentName, SnapshotName};
use crate::types::Zxid;

/// Cuts the log in `log_dir` (a `corekeeper` directory) to end with the record
/// `zxid`: later segments are removed and the segment holding `zxid` is cut
/// right after it. A `zxid` before every record empties the log.
pub async fn truncate_log(disk: &Disk, log_dir: &Path, zxid: Zxid) -> io::Result<()> {
    let mut segments: Vec<SegmentName> = disk
        .list(log_dir)
        .await?
        .iter()
        .filter_map(|(name, _)| SegmentName::parse(name))
        .collect();
    segments.sort();
    let mut removed_any = false;
    while let Some(segment) = segments.pop() {
        let path = log_dir.join(segment.to_string());
        if segment.first_zxid > zxid {
            tracing::info!(file = %path.display(), %zxid, "truncating the log: removing a segment past the cut");
            disk.remove(&path).await?;
            removed_any = true;
            continue;
        }
        let image = disk.read_all(&path).await?;
        let scan = decode_records(&image);
        drop(image);
        if let ScanEnd::Corrupt { offset, reason } = &scan.end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "cannot truncate {}: damaged at offset {offset}: {reason}",
                    path.display()
                ),
            ));
        }
        let cut = match scan.records.iter().position(|r| r.zxid > zxid) {
            Some(i) => scan.records[i].offset,
            // Nothing after the cut in this segment: leave it as it is.
            None => break,
        };
        tracing::info!(file = %path.display(), offset = cut, %zxid, "truncating the log");
        let file = disk.open_write(&path).await?;
        let done = async {
            file.truncate(cut).await?;
            file.fdatasync().await
        }
        .await;
        let _ = file.close().await;
        done?;
        break;
    }
    if removed_any {
        disk.sync_dir(log_dir).await?;
    }
    Ok(())
}

/// Installs a snapshot image received from the leader as this member's
/// newest snapshot in `snap_dir` and removes every log segment in `log_dir`:
/// the history now starts after `zxid`. The image must have been checked
/// (decoded) by the caller.
pub async fn install_snapshot(
    disk: &Disk,
    snap_dir: &Path,
    log_dir: &Path,
    image: &[u8],
    zxid: Zxid,
) -> io::Result<()> {
    let name = SnapshotName { zxid };
    let temp = snap_dir.join(name.temp_name());
    let file = disk.create(&temp).await?;
    let written = async {
        let align = file.alignment() as usize;
        let mut offset = 0usize;
        const CHUNK: usize = 4 << 20;
        while offset < image.len() {
            let end = (offset + CHUNK).min(image.len());
            let mut block = image[offset..end].to_vec();
            block.resize(block.len().next_multiple_of(align), 0);
            file.write_at(&block, offset as u64).await?;
            offset = end;
        }
        file.truncate(image.len() as u64).await?;
        file.fdatasync().await
    }
    .await;
    let closed = file.close().await;
    if let Err(error) = written.and(closed) {
        let _ = disk.remove(&temp).await;
        return Err(error);
    }
    disk.rename(&temp, &snap_dir.join(name.to_string())).await?;
    disk.sync_dir(snap_dir).await?;
    // Segments before the snapshot are covered by it; segments after it hold
    // a history the leader replaced. Either way they go.
    for (file, _) in disk.list(log_dir).await? {
        if SegmentName::parse(&file).is_some() {
            disk.remove(&log_dir.join(&file)).await?;
        }
    }
    disk.sync_dir(log_dir).await
}
