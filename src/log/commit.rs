//! Group commit: the state machine the log writer drives, and the [`Durable`]
//! proof that replies and ACKs need.
//!
//! Lives on the sequencer core, owned by the log writer. The writer loop is:
//!
//! ```text
//! append(record, waiter)*            -- records gather in the open batch
//! begin_flush() -> Flush             -- the batch leaves: one write + one fdatasync
//!   ... more appends gather in the next batch while the sync is in flight ...
//! flush_done(ticket, outcome)        -- Durable waiters come back; loop
//! ```
//!
//! Each appended record may carry a waiter `T`: the reply to a client, or (in an
//! ensemble) the ACK to the leader. The policy keeps it until the fdatasync that
//! covers its record completes and then hands it back wrapped in [`Durable`],
//! which nothing else can construct. Code that sends replies or ACKs takes
//! `Durable<_>`, so sending one before its record is durable does not compile.
//!
//! Knobs, named as in ZooKeeper where it has them: `zookeeper.maxBatchSize`
//! ([`CommitConfig::batch_txns_max`]), `forceSync` ([`CommitConfig::sync`]).
//! `flushDelay` is a timing decision, so it belongs to the writer: it may hold
//! off `begin_flush` while this policy stays pure.
//!
//! Failures: out of space (ENOSPC, EDQUOT) while writing leaves nothing
//! changed on disk that was acknowledged; the batch is handed out again by the
//! next `begin_flush` and appends stop once the open batch is full (the writer
//! should then fail new writes with a clear error). Any other write or sync
//! error is fail-stop: the page cache may have dropped the data (a retried
//! fsync can succeed without writing it), so the policy refuses everything
//! from then on and the process exits.

use bytes::Bytes;

use super::names::SegmentName;
use super::record::{encode_record, SegmentHeader, RECORD_ALIGN, SEGMENT_HEADER_LEN};
use super::{
    BATCH_ALIGN_DEFAULT, BATCH_ALIGN_MAX, BATCH_BYTES_MAX_DEFAULT, BATCH_TXNS_MAX_DEFAULT,
    SEGMENT_BYTES_MAX_DEFAULT,
};
use crate::txn::TxnRecord;
use crate::types::Zxid;

/// Proof that the record with zxid [`Durable::zxid`] (and every record before
/// it) is on stable storage, carrying the value that was waiting for it. Only
/// [`GroupCommit::flush_done`] makes one; nothing else can:
///
/// ```compile_fail
/// use corekeeper::log::Durable;
/// use corekeeper::types::Zxid;
/// let forged = Durable { value: "reply", zxid: Zxid(1) };
/// ```
#[must_use = "a durable reply or ACK is meant to be sent"]
#[derive(Debug)]
pub struct Durable<T> {
    value: T,
    zxid: Zxid,
}

impl<T> Durable<T> {
    /// The zxid of the record this value waited for.
    pub fn zxid(&self) -> Zxid {
        self.zxid
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, for the code that sends it.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Transforms the value, keeping the proof.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Durable<U> {
        Durable {
            value: f(self.value),
            zxid: self.zxid,
        }
    }
}

/// `forceSync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// `forceSync=yes` (the default): fdatasync every batch.
    Fdatasync,
    /// `forceSync=no`: write without syncing. [`Durable`] then only means
    /// "written to the page cache": a power loss loses acknowledged writes.
    NoSync,
}

/// The policy's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitConfig {
    /// `zookeeper.maxBatchSize`: txns in one batch at most.
    pub batch_txns_max: usize,
    /// Bytes of records in one batch before it takes no more (a single larger
    /// record still goes alone into an empty batch).
    pub batch_bytes_max: usize,
    /// `forceSync`.
    pub sync: SyncMode,
    /// Batches end on multiples of this (a power of two, at least the device's
    /// sector size so a torn write never reaches an earlier batch).
    pub batch_align: u32,
    /// A segment is rolled before a batch would take it past this size.
    pub segment_bytes_max: u64,
}

impl Default for CommitConfig {
    fn default() -> CommitConfig {
        CommitConfig {
            batch_txns_max: BATCH_TXNS_MAX_DEFAULT,
            batch_bytes_max: BATCH_BYTES_MAX_DEFAULT,
            sync: SyncMode::Fdatasync,
            batch_align: BATCH_ALIGN_DEFAULT,
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
        }
    }
}

/// Whether the batch goes into the current segment or opens a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentOp {
    /// Write at `offset` into the existing segment file.
    Append,
    /// Create the segment file (preallocating it), write from offset 0 (the
    /// bytes begin with the segment header), and sync the directory too.
    Create,
}

/// What the writer must do after writing a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushSync {
    /// fdatasync the segment.
    Data,
    /// fdatasync the new segment, then fsync its directory (its name must be
    /// durable too, or the records vanish with it).
    DataAndDirectory,
    /// `forceSync=no`: nothing.
    None,
}

/// A batch to write: one write of `bytes` at `offset` in `segment`, then `sync`,
/// then [`GroupCommit::flush_done`] with `ticket`.
#[derive(Debug)]
pub struct Flush {
    /// The segment file.
    pub segment: SegmentName,
    /// Whether to create it.
    pub op: SegmentOp,
    /// Where the bytes go (a multiple of the batch alignment).
    pub offset: u64,
    /// The bytes: header (on create), records, zero padding to the batch
    /// alignment. Write them in one piece.
    pub bytes: Bytes,
    /// What to sync afterwards.
    pub sync: FlushSync,
    /// The first record's zxid.
    pub first_zxid: Zxid,
    /// The last record's zxid: durable once this flush is done.
    pub last_zxid: Zxid,
    /// How many records.
    pub txns: usize,
    /// Hand back to `flush_done`.
    pub ticket: FlushTicket,
}

/// Names the flush in flight; only [`GroupCommit::begin_flush`] makes one:
///
/// ```compile_fail
/// use corekeeper::log::FlushTicket;
/// use corekeeper::types::Zxid;
/// let forged = FlushTicket { last_zxid: Zxid(1) };
/// ```
#[derive(Debug)]
pub struct FlushTicket {
    last_zxid: Zxid,
}

/// How a flush went, as the writer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Written and synced as asked.
    Synced,
    /// The write ran out of space (ENOSPC, EDQUOT): retry the same batch later.
    NoSpace,
    /// Any other write or sync error: fail-stop.
    Failed {
        /// The error, for the log line and the exit message.
        reason: String,
    },
}

/// What [`GroupCommit::flush_done`] returns when the log still works.
#[derive(Debug)]
pub enum FlushDone<T> {
    /// The batch is durable.
    Durable {
        /// Everything up to this zxid is durable (the ZAB core's "log durable up to").
        zxid: Durable<Zxid>,
        /// The waiters of the batch's records, in zxid order.
        released: Vec<Durable<T>>,
    },
    /// Out of space: nothing changed; the next `begin_flush` hands out the same batch.
    Retry,
}

/// The log is stopped: a write or sync failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "transaction log write failed ({reason}); the log is durable up to zxid {durable} and \
     accepts no more writes: the server must stop (fail-stop) and recover from disk on restart"
)]
pub struct LogFailed {
    /// The last zxid known durable.
    pub durable: Zxid,
    /// What failed.
    pub reason: String,
}

/// Why an append was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The open batch is full: wait for the flush in flight to finish.
    BatchFull,
    /// The log is stopped.
    Failed(LogFailed),
}

/// An append that did not happen; the waiter comes back.
#[derive(Debug)]
pub struct AppendRefused<T> {
    /// The waiter given to `append`.
    pub waiter: T,
    /// Why.
    pub refusal: Refusal,
}

/// Where the policy stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStatus {
    /// Taking appends, flushing as asked.
    Ready,
    /// A batch is waiting to be retried after running out of space.
    OutOfSpace,
    /// Stopped after a failed write or sync.
    Failed,
}

/// Where the next batch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    segment: SegmentName,
    /// End of the last batch written (a multiple of the batch alignment).
    end: u64,
}

/// The batch being filled.
#[derive(Debug)]
struct OpenBatch<T> {
    /// `SEGMENT_HEADER_LEN` bytes of headroom (for the header if the batch opens
    /// a segment), then the framed records.
    bytes: Vec<u8>,
    waiters: Vec<(Zxid, T)>,
    first_zxid: Option<Zxid>,
    last_zxid: Zxid,
    txns: usize,
}

impl<T> OpenBatch<T> {
    fn new() -> OpenBatch<T> {
        OpenBatch {
            bytes: vec![0; SEGMENT_HEADER_LEN],
            waiters: Vec::new(),
            first_zxid: None,
            last_zxid: Zxid::ZERO,
            txns: 0,
        }
    }

    fn records_len(&self) -> usize {
        self.bytes.len() - SEGMENT_HEADER_LEN
    }
}

/// The batch handed to the writer, kept for `flush_done` (and a retry).
#[derive(Debug)]
struct InFlight<T> {
    segment: SegmentName,
    op: SegmentOp,
    offset: u64,
    bytes: Bytes,
    first_zxid: Zxid,
    last_zxid: Zxid,
    txns: usize,
    waiters: Vec<(Zxid, T)>,
    /// The writer has it now (false: it waits for a retry).
    writing: bool,
}

/// The group-commit policy. `T` is what waits for durability (a reply, an ACK).
#[derive(Debug)]
pub struct GroupCommit<T> {
    config: CommitConfig,
    open: OpenBatch<T>,
    in_flight: Option<InFlight<T>>,
    cursor: Option<Cursor>,
    roll_requested: bool,
    appended: Zxid,
    durable: Zxid,
    failed: Option<LogFailed>,
}

impl<T> GroupCommit<T> {
    /// A policy resuming after `last_zxid` (the last recovered record, or the
    /// snapshot's zxid): the first record appended must follow it, and the
    /// first batch opens a new segment.
    pub fn new(config: CommitConfig, last_zxid: Zxid) -> GroupCommit<T> {
        assert!(config.batch_txns_max > 0);
        assert!(config.batch_bytes_max > 0 && config.batch_bytes_max < u32::MAX as usize);
        assert!(config.batch_align.is_power_of_two());
        assert!(
            config.batch_align as usize >= RECORD_ALIGN && config.batch_align <= BATCH_ALIGN_MAX
        );
        assert!(config.segment_bytes_max >= u64::from(config.batch_align));
        GroupCommit {
            config,
            open: OpenBatch::new(),
            in_flight: None,
            cursor: None,
            roll_requested: false,
            appended: last_zxid,
            durable: last_zxid,
            failed: None,
        }
    }

    /// The policy this log was made with.
    pub fn config(&self) -> &CommitConfig {
        &self.config
    }

    /// The last zxid appended (durable or not).
    pub fn appended_zxid(&self) -> Zxid {
        self.appended
    }

    /// The last zxid known durable.
    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    /// Where the policy stands.
    pub fn status(&self) -> LogStatus {
        match (&self.failed, &self.in_flight) {
            (Some(_), _) => LogStatus::Failed,
            (None, Some(flight)) if !flight.writing => LogStatus::OutOfSpace,
            _ => LogStatus::Ready,
        }
    }

    /// Whether the open batch holds records that no flush has taken yet.
    pub fn has_unflushed(&self) -> bool {
        self.open.txns > 0
    }

    /// Whether a flush was handed out and is not done yet.
    pub fn flush_in_flight(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|flight| flight.writing)
    }

    /// Adds a record to the open batch, with the value waiting for it to become
    /// durable. Refused, with the waiter given back, when the open batch is full
    /// or the log has failed. Records must come in zxid order.
    pub fn append(&mut self, record: &TxnRecord, waiter: T) -> Result<(), AppendRefused<T>> {
        if let Some(failed) = &self.failed {
            return Err(AppendRefused {
                waiter,
                refusal: Refusal::Failed(failed.clone()),
            });
        }
        let full = self.open.txns >= self.config.batch_txns_max
            || self.open.records_len() >= self.config.batch_bytes_max;
        if full {
            return Err(AppendRefused {
                waiter,
                refusal: Refusal::BatchFull,
            });
        }
        let zxid = Zxid(record.txn().zxid.0.to_native());
        assert!(zxid > self.appended, "records are appended in zxid order");
        let batch_offset =
            u32::try_from(self.open.records_len()).expect("bounded by batch_bytes_max");
        encode_record(record, self.appended, batch_offset, &mut self.open.bytes);
        self.open.first_zxid.get_or_insert(zxid);
        self.open.last_zxid = zxid;
        self.open.txns += 1;
        self.open.waiters.push((zxid, waiter));
        self.appended = zxid;
        Ok(())
    }

    /// Makes the next batch open a new segment (after a snapshot, as ZooKeeper
    /// rolls its log, so retention can drop whole segments).
    pub fn request_roll(&mut self) {
        self.roll_requested = true;
    }

    /// The next batch to write, if any: the batch waiting for a retry, else the
    /// open batch. `None` while a flush is in flight, when nothing is waiting,
    /// or once the log has failed.
    pub fn begin_flush(&mut self) -> Option<Flush> {
        if self.failed.is_some() {
            return None;
        }
        match &mut self.in_flight {
            Some(flight) if flight.writing => return None,
            Some(flight) => {
                flight.writing = true;
                return Some(self.flush_of_in_flight());
            }
            None => {}
        }
        if self.open.txns == 0 {
            return None;
        }
        let batch = std::mem::replace(&mut self.open, OpenBatch::new());
        let flight = self.place(batch);
        self.in_flight = Some(flight);
        Some(self.flush_of_in_flight())
    }

    /// Reports how the flush with `ticket` went. On success the batch's waiters
    /// come back as [`Durable`]; out of space, the batch waits for a retry; any
    /// other failure stops the log for good.
    pub fn flush_done(
        &mut self,
        ticket: FlushTicket,
        outcome: FlushOutcome,
    ) -> Result<FlushDone<T>, LogFailed> {
        let flight = self
            .in_flight
            .as_mut()
            .filter(|flight| flight.writing)
            .expect("flush_done answers the flush begin_flush handed out");
        assert_eq!(
            ticket.last_zxid, flight.last_zxid,
            "the ticket of the flush in flight"
        );
        match outcome {
            FlushOutcome::Synced => {
                let flight = self.in_flight.take().expect("checked above");
                assert!(flight.last_zxid > self.durable);
                self.durable = flight.last_zxid;
                self.cursor = Some(Cursor {
                    segment: flight.segment,
                    end: flight.offset + flight.bytes.len() as u64,
                });
                let released = flight
                    .waiters
                    .into_iter()
                    .map(|(zxid, value)| Durable { value, zxid })
                    .collect();
                Ok(FlushDone::Durable {
                    zxid: Durable {
                        value: self.durable,
                        zxid: self.durable,
                    },
                    released,
                })
            }
            FlushOutcome::NoSpace => {
                flight.writing = false;
                Ok(FlushDone::Retry)
            }
            FlushOutcome::Failed { reason } => {
                let failed = LogFailed {
                    durable: self.durable,
                    reason,
                };
                // Nothing that waited may ever be answered as a success.
                self.in_flight = None;
                self.open = OpenBatch::new();
                self.failed = Some(failed.clone());
                Err(failed)
            }
        }
    }

    /// Decides where a closed batch goes, pads it and freezes its bytes.
    fn place(&mut self, batch: OpenBatch<T>) -> InFlight<T> {
        let OpenBatch {
            mut bytes,
            waiters,
            first_zxid,
            last_zxid,
            txns,
        } = batch;
        let first_zxid = first_zxid.expect("a batch with records has a first zxid");
        let align = self.config.batch_align as usize;
        let records = bytes.len() - SEGMENT_HEADER_LEN;
        let appended_len = records.next_multiple_of(align) as u64;
        let target = match self.cursor {
            Some(cursor)
                if !self.roll_requested
                    && cursor.end + appended_len <= self.config.segment_bytes_max =>
            {
                Some(cursor)
            }
            _ => None,
        };
        match target {
            Some(cursor) => {
                bytes.resize(SEGMENT_HEADER_LEN + records.next_multiple_of(align), 0);
                let bytes = Bytes::from(bytes).slice(SEGMENT_HEADER_LEN..);
                InFlight {
                    segment: cursor.segment,
                    op: SegmentOp::Append,
                    offset: cursor.end,
                    bytes,
                    first_zxid,
                    last_zxid,
                    txns,
                    waiters,
                    writing: true,
                }
            }
            None => {
                self.roll_requested = false;
                let header = SegmentHeader {
                    first_zxid,
                    batch_align: self.config.batch_align,
                };
                bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&header.encode());
                let len = bytes.len().next_multiple_of(align);
                bytes.resize(len, 0);
                InFlight {
                    segment: SegmentName { first_zxid },
                    op: SegmentOp::Create,
                    offset: 0,
                    bytes: Bytes::from(bytes),
                    first_zxid,
                    last_zxid,
                    txns,
                    waiters,
                    writing: true,
                }
            }
        }
    }

    fn flush_of_in_flight(&self) -> Flush {
        let flight = self.in_flight.as_ref().expect("a flush in flight");
        let sync = match (self.config.sync, flight.op) {
            (SyncMode::NoSync, _) => FlushSync::None,
            (SyncMode::Fdatasync, SegmentOp::Append) => FlushSync::Data,
            (SyncMode::Fdatasync, SegmentOp::Create) => FlushSync::DataAndDirectory,
        };
        Flush {
            segment: flight.segment,
            op: flight.op,
            offset: flight.offset,
            bytes: flight.bytes.clone(),
            sync,
            first_zxid: flight.first_zxid,
            last_zxid: flight.last_zxid,
            txns: flight.txns,
            ticket: FlushTicket {
                last_zxid: flight.last_zxid,
            },
        }
    }
}

#[cfg(test)]
mod tests;
