//! The log writer's disk half: carries out the [`Flush`] batches that
//! [`crate::log::GroupCommit`] hands out, one at a time.
//!
//! Lives on the sequencer core, in the writer task. For each flush: on
//! `SegmentOp::Create`, put the next segment file in place; write the batch in
//! one piece at its offset; fdatasync; on a new segment, fsync the directory so
//! its name is durable. The outcome goes back to `GroupCommit::flush_done`.
//!
//! # Zero-filled segments
//!
//! A batch written into space that `fallocate` reserved but nobody wrote lands
//! in an "unwritten" extent, and the fdatasync after it must also commit the
//! file system's journal to mark the extent written: on ext4 that doubles the
//! sync (~150 µs instead of ~80 µs here). So the writer keeps a *spare*
//! segment, `log.next`, that a background task fills with zeros
//! (`preAllocSize` of them) and syncs while the current segment is in use; a
//! new segment is the spare renamed to its name, and its batches overwrite
//! blocks that are already written. If the spare is not ready (still being
//! filled, or failed, or out of space), the segment is created and
//! preallocated on the spot: a roll never waits for zeros. Recovery ignores
//! `log.next` (it is not a segment name).
//!
//! The spare is started only once the current segment is half written, never
//! at startup: a fresh server's first batches go into a preallocated first
//! segment with no 64 MiB of zeros queued on the disk ahead of their
//! fdatasync (which made a client's first handshake wait, with several
//! servers starting at once), and a lightly used server writes no zeros at
//! all. The second half of a segment leaves the fill time to finish: 32 MiB
//! of log at the ~20 MB/s the log takes at full load here, against ~0.1 s of
//! zeros.

use std::cell::Cell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::task::JoinHandle;

use super::{is_out_of_space, Disk, File, SyncedWrite, WriteSync};
use crate::log::{Flush, FlushOutcome, FlushSync, SegmentName, SegmentOp};

/// The spare segment's file name (not a segment name: recovery ignores it).
pub const SPARE_NAME: &str = "log.next";

/// Zeros written per write call while filling the spare.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// The spare is started once the current segment holds this share of its
/// preallocated size (1/2).
const SPARE_START_DIVISOR: u64 = 2;

/// What one flush cost, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlushTiming {
    /// Time in the write call.
    pub write: Duration,
    /// Time in fdatasync (and the directory fsync), zero without a sync.
    pub sync: Duration,
}

/// The task filling the spare segment, and whether it has finished.
type Spare = (JoinHandle<io::Result<File>>, Rc<Cell<bool>>);

/// Writes log segments in `dataLogDir/corekeeper`. Lives on the sequencer core.
pub struct SegmentWriter {
    disk: Disk,
    dir: PathBuf,
    pre_alloc_bytes: u64,
    current: Option<(SegmentName, File)>,
    /// The spare segment being zero-filled (a task on this core), and whether
    /// that task has finished.
    spare: Option<Spare>,
    /// How segment writes become durable (`forceSync=yes`: every write is
    /// O_DSYNC, which takes the place of the fdatasync the flush asks for).
    sync: WriteSync,
}

impl SegmentWriter {
    /// A writer for segments in `dir` (which must exist), each new segment
    /// `pre_alloc_bytes` long. It fills spares in tasks of the executor that
    /// runs its writes.
    pub fn new(disk: Disk, dir: PathBuf, pre_alloc_bytes: u64, sync: WriteSync) -> SegmentWriter {
        SegmentWriter {
            disk,
            dir,
            pre_alloc_bytes,
            current: None,
            spare: None,
            sync,
        }
    }

    /// Starts the next spare once the current segment is half written (see
    /// the module docs), if none is ready or being filled.
    fn start_spare_if_due(&mut self, written_to: u64) {
        if self.spare.is_none() && written_to >= self.pre_alloc_bytes / SPARE_START_DIVISOR {
            self.start_spare();
        }
    }

    fn start_spare(&mut self) {
        let disk = self.disk.clone();
        let path = self.dir.join(SPARE_NAME);
        let len = self.pre_alloc_bytes;
        let sync = self.sync;
        let done = Rc::new(Cell::new(false));
        let finished = done.clone();
        let task = glommio::spawn_local(async move {
            let spare = fill_spare(disk, path, len, sync).await;
            finished.set(true);
            spare
        })
        .detach();
        self.spare = Some((task, done));
    }

    /// The spare if it is ready now (a roll never waits for the zeros: the
    /// batches behind it would); None if it is still being filled (it stays for
    /// the next roll) or if making it failed.
    async fn take_spare(&mut self) -> Option<File> {
        if !self.spare.as_ref()?.1.get() {
            return None;
        }
        self.take_spare_waiting().await
    }

    async fn take_spare_waiting(&mut self) -> Option<File> {
        let (task, _) = self.spare.take()?;
        match task.await {
            Some(Ok(file)) => Some(file),
            Some(Err(error)) => {
                tracing::debug!(%error, "no zero-filled spare segment; preallocating instead");
                None
            }
            None => None,
        }
    }

    /// Writes and syncs one batch; the outcome is for `flush_done`.
    pub async fn write(&mut self, flush: &Flush) -> (FlushOutcome, FlushTiming) {
        let mut timing = FlushTiming::default();
        let outcome = match self.write_batch(flush, &mut timing).await {
            Ok(()) => {
                self.start_spare_if_due(flush.offset + flush.bytes.len() as u64);
                FlushOutcome::Synced
            }
            Err(Failure::NoSpace(error)) => {
                tracing::warn!(
                    segment = %flush.segment,
                    offset = flush.offset,
                    %error,
                    "transaction log out of disk space: writes wait until space is freed"
                );
                FlushOutcome::NoSpace
            }
            Err(Failure::Fatal(error)) => FlushOutcome::Failed {
                reason: format!(
                    "{} at offset {}: {error}",
                    self.dir.join(flush.segment.to_string()).display(),
                    flush.offset
                ),
            },
        };
        (outcome, timing)
    }

    async fn write_batch(
        &mut self,
        flush: &Flush,
        timing: &mut FlushTiming,
    ) -> Result<(), Failure> {
        if flush.op == SegmentOp::Create {
            self.create_segment(flush).await?;
        }
        let file = match &self.current {
            Some((name, file)) if *name == flush.segment => file,
            _ => {
                // The policy appends only to the segment this writer created.
                return Err(Failure::Fatal(io::Error::other(format!(
                    "asked to append to {} which this writer has not open",
                    flush.segment
                ))));
            }
        };
        let started = Instant::now();
        match (flush.sync, self.sync) {
            (FlushSync::None, _) => {
                file.write_at(&flush.bytes, flush.offset)
                    .await
                    .map_err(Failure::from_write)?;
                timing.write = started.elapsed();
                return Ok(());
            }
            (_, WriteSync::OnFdatasync) => {
                file.write_at(&flush.bytes, flush.offset)
                    .await
                    .map_err(Failure::from_write)?;
                timing.write = started.elapsed();
                file.fdatasync().await.map_err(Failure::Fatal)?;
            }
            (_, WriteSync::BlockingFdatasync) => {
                // One hand-off for the write and its fdatasync.
                file.write_then_fdatasync(&flush.bytes, flush.offset)
                    .await
                    .map_err(|error| match error {
                        SyncedWrite::Written(error) => Failure::from_write(error),
                        SyncedWrite::Synced(error) => Failure::Fatal(error),
                    })?;
            }
            (_, WriteSync::EveryWrite) => {
                // An O_DSYNC write also reports sync errors: out of space is
                // still out of space, anything else is a failed sync.
                file.write_at(&flush.bytes, flush.offset)
                    .await
                    .map_err(Failure::from_write)?;
            }
        }
        if flush.sync == FlushSync::DataAndDirectory {
            self.disk
                .sync_dir(&self.dir)
                .await
                .map_err(Failure::Fatal)?;
        }
        timing.sync = started.elapsed();
        Ok(())
    }

    async fn create_segment(&mut self, flush: &Flush) -> Result<(), Failure> {
        if let Some((_, file)) = self.current.take() {
            // The old segment was synced with its last batch; a failed close
            // loses nothing.
            let _ = file.close().await;
        }
        let path = self.dir.join(flush.segment.to_string());
        if let Some(spare) = self.take_spare().await {
            match self.disk.rename(&self.dir.join(SPARE_NAME), &path).await {
                Ok(()) => {
                    self.current = Some((flush.segment, spare));
                    return Ok(());
                }
                Err(error) => {
                    let _ = spare.close().await;
                    tracing::warn!(%error, "cannot use the spare segment; preallocating instead");
                }
            }
        }
        let file = self
            .disk
            .create_with(&path, self.sync)
            .await
            .map_err(Failure::from_write)?;
        let len = self.pre_alloc_bytes.max(flush.bytes.len() as u64);
        let len = len.next_multiple_of(file.alignment());
        if let Err(error) = file.pre_allocate(len).await {
            // Leave nothing half made: a retry creates the file again.
            let _ = file.close().await;
            return Err(Failure::from_write(error));
        }
        self.current = Some((flush.segment, file));
        Ok(())
    }

    /// Closes the open segment and the spare.
    pub async fn close(&mut self) {
        if let Some((_, file)) = self.current.take() {
            let _ = file.close().await;
        }
        if let Some(spare) = self.take_spare_waiting().await {
            let _ = spare.close().await;
        }
    }
}

/// Makes the spare: `len` bytes of zeros at `path`, synced, then opened again
/// for the log's writes (`sync`). On failure the file is removed (it may have
/// run the disk out of space).
async fn fill_spare(disk: Disk, path: PathBuf, len: u64, sync: WriteSync) -> io::Result<File> {
    let file = disk.create(&path).await?;
    let filled = async {
        let len = len.next_multiple_of(file.alignment());
        let zeros = vec![0u8; ZERO_CHUNK_BYTES];
        let mut offset = 0u64;
        while offset < len {
            let chunk = (len - offset).min(ZERO_CHUNK_BYTES as u64) as usize;
            file.write_at(&zeros[..chunk], offset).await?;
            offset += chunk as u64;
        }
        file.fdatasync().await
    }
    .await;
    let reopened = match filled {
        Ok(()) => {
            let _ = file.close().await;
            disk.open_write_with(&path, sync).await
        }
        Err(error) => {
            let _ = file.close().await;
            Err(error)
        }
    };
    match reopened {
        Ok(file) => Ok(file),
        Err(error) => {
            let _ = disk.remove(&path).await;
            Err(error)
        }
    }
}

enum Failure {
    NoSpace(io::Error),
    Fatal(io::Error),
}

impl Failure {
    fn from_write(error: io::Error) -> Failure {
        if is_out_of_space(&error) {
            Failure::NoSpace(error)
        } else {
            Failure::Fatal(error)
        }
    }
}
