//! The log writer's disk half: carries out the [`Flush`] batches that
//! [`crate::log::GroupCommit`] hands out, one at a time.
//!
//! Lives on the sequencer core, in the writer task. For each flush: on
//! `SegmentOp::Create`, create the segment file and preallocate it
//! (`preAllocSize`, or the batch if larger); write the batch in one piece at its
//! offset; fdatasync; on a new segment, fsync the directory so its name is
//! durable. The outcome goes back to `GroupCommit::flush_done`.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{is_out_of_space, Disk, File};
use crate::log::{Flush, FlushOutcome, FlushSync, SegmentName, SegmentOp};

/// What one flush cost, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlushTiming {
    /// Time in the write call.
    pub write: Duration,
    /// Time in fdatasync (and the directory fsync), zero without a sync.
    pub sync: Duration,
}

/// Writes log segments in `dataLogDir/corekeeper`. Lives on the sequencer core.
pub struct SegmentWriter {
    disk: Disk,
    dir: PathBuf,
    pre_alloc_bytes: u64,
    current: Option<(SegmentName, File)>,
}

impl SegmentWriter {
    /// A writer for segments in `dir` (which must exist), preallocating each
    /// new segment to `pre_alloc_bytes`.
    pub fn new(disk: Disk, dir: PathBuf, pre_alloc_bytes: u64) -> SegmentWriter {
        SegmentWriter {
            disk,
            dir,
            pre_alloc_bytes,
            current: None,
        }
    }

    /// Writes and syncs one batch; the outcome is for `flush_done`.
    pub async fn write(&mut self, flush: &Flush) -> (FlushOutcome, FlushTiming) {
        let mut timing = FlushTiming::default();
        let outcome = match self.write_batch(flush, &mut timing).await {
            Ok(()) => FlushOutcome::Synced,
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
        file.write_at(&flush.bytes, flush.offset)
            .await
            .map_err(Failure::from_write)?;
        timing.write = started.elapsed();
        let started = Instant::now();
        match flush.sync {
            FlushSync::None => {}
            FlushSync::Data => file.fdatasync().await.map_err(Failure::Fatal)?,
            FlushSync::DataAndDirectory => {
                file.fdatasync().await.map_err(Failure::Fatal)?;
                self.disk
                    .sync_dir(&self.dir)
                    .await
                    .map_err(Failure::Fatal)?;
            }
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
        let file = self.disk.create(&path).await.map_err(Failure::from_write)?;
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

    /// Closes the open segment.
    pub async fn close(&mut self) {
        if let Some((_, file)) = self.current.take() {
            let _ = file.close().await;
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
