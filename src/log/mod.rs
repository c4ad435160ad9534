//! Durability, the pure half: the bytes of the transaction log and of snapshots,
//! the group-commit policy, recovery and retention decisions. No I/O: the
//! `io` module opens, writes, syncs and reads the files and hands the bytes here.
//!
//! Lives on the sequencer core (the log writer, the snapshot trigger, replay at
//! startup); a snapshot encoder may run on any core over a held tree version.
//!
//! * [`record`]: a segment's header and records, [`encode_record`], and
//!   [`decode_records`], which reads a segment image back and says how it ends
//!   (clean, torn tail to truncate, or corrupt).
//! * [`names`]: `log.<first zxid hex>` and `snapshot.<zxid hex>`, as ZooKeeper names them.
//! * [`commit`]: [`GroupCommit`], the group-commit state machine the writer drives;
//!   the only source of [`Durable`] proofs.
//! * [`snapshot`]: [`encode_snapshot`] (streamed from a held tree version),
//!   [`decode_snapshot`], and [`SnapshotTrigger`] (`snapCount`, randomized).
//! * [`recovery`]: [`plan_recovery`] over a directory listing, [`LogChain`] that
//!   checks segments link up after the snapshot, and [`replay`].
//! * [`retention`]: what `autopurge.snapRetainCount` deletes.
//!
//! Lifecycle at startup: `plan_recovery` -> read and [`decode_snapshot`] the
//! newest snapshot -> read each planned segment, [`decode_records`], check it with
//! [`LogChain::check`] (which also says what to cut from a torn segment) and
//! [`replay`] its new records -> start a [`GroupCommit`] after the last zxid (its
//! first batch opens a new segment). While serving: every txn record goes through
//! [`GroupCommit::append`]; replies and ACKs leave only as [`Durable`] values.
//!
//! # Byte order
//!
//! Little-endian throughout. The payload is rkyv's archived `Txn`, which is
//! little-endian by default, and every host we run on is little-endian, so the
//! header fields load as native integers and one convention covers the whole
//! file. ZooKeeper's own files are big-endian (Java `DataOutput`), but we do not
//! share its format, only its file names.

pub mod commit;
pub mod names;
pub mod record;
pub mod recovery;
pub mod retention;
pub mod snapshot;

pub use commit::{
    AppendRefused, CommitConfig, Durable, Flush, FlushDone, FlushOutcome, FlushSync, FlushTicket,
    GroupCommit, LogFailed, LogStatus, Refusal, SegmentOp, SyncMode,
};
pub use names::{SegmentName, SnapshotName};
pub use record::{
    decode_records, encode_record, framed_len, Corruption, LogRecord, Scan, ScanEnd, SegmentHeader,
    RECORD_ALIGN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
pub use recovery::{
    check_snapshot_name, plan_recovery, replay, DataFiles, DirEntry, LogChain, RecoveryError,
    RecoveryPlan, Repair, SegmentVerdict, DATA_SUBDIR,
};
pub use retention::{select_purge, Purge};
pub use snapshot::{
    decode_snapshot, encode_snapshot, Snapshot, SnapshotChunks, SnapshotDecoder, SnapshotError,
    SnapshotTrigger,
};

use std::collections::BTreeMap;

use crate::constants::{JUTE_MAXBUFFER_MAX, PRE_ALLOC_SIZE_KB_DEFAULT};
use crate::types::SessionId;

/// Live sessions and their negotiated timeouts (ms), as a snapshot stores them.
/// Passwords are not stored: they derive from the id (`session_password`).
pub type SessionTimeouts = BTreeMap<SessionId, u32>;

/// Largest rkyv payload of one log record. A txn holds at most one request's
/// bytes (at most `jute.maxbuffer`) plus what prep resolves (paths, ACLs): twice
/// the largest configurable frame leaves room for both.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = 2 * JUTE_MAXBUFFER_MAX;

/// `zookeeper.maxBatchSize` default: txns in one write + fdatasync.
pub const BATCH_TXNS_MAX_DEFAULT: usize = 1000;

/// Bytes of records in one write + fdatasync before the batch stops taking more.
pub const BATCH_BYTES_MAX_DEFAULT: usize = 4 << 20;

/// Each batch ends on a multiple of this many bytes (zero padding), so a batch
/// never shares a disk sector with the one before it: a torn write of batch N+1
/// cannot damage batch N, which is already acknowledged. 4 KiB covers 512-byte
/// and 4 KiB sectors and suits O_DIRECT writes.
pub const BATCH_ALIGN_DEFAULT: u32 = 4096;

/// Largest accepted batch alignment.
pub const BATCH_ALIGN_MAX: u32 = 1 << 20;

/// A segment is rolled before a batch would take it past this size: the
/// preallocation step (`preAllocSize`), so a segment never outgrows its first
/// preallocation unless one batch alone is larger.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = PRE_ALLOC_SIZE_KB_DEFAULT * 1024;

/// Target size of one chunk [`encode_snapshot`] yields.
pub const SNAPSHOT_CHUNK_BYTES: usize = 256 << 10;

const _: () = assert!(RECORD_PAYLOAD_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(BATCH_BYTES_MAX_DEFAULT < u32::MAX as usize);
const _: () = assert!(BATCH_ALIGN_DEFAULT.is_power_of_two());
const _: () = assert!(BATCH_ALIGN_DEFAULT as usize % RECORD_ALIGN == 0);
const _: () = assert!(BATCH_ALIGN_DEFAULT <= BATCH_ALIGN_MAX);
const _: () = assert!(SEGMENT_BYTES_MAX_DEFAULT >= 2 * BATCH_BYTES_MAX_DEFAULT as u64);
