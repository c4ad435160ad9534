//! What stands between the sequencer and the shards: the transaction log.
//!
//! Lives on the sequencer core, owned by the sequencer loop. The sequencer
//! prepares and applies writes against its newest (speculative) tree at once;
//! each batch of its output becomes a [`Publication`] (the tree version at the
//! batch end, the batch's watch events and replies). The publication's txn
//! records go into [`GroupCommit`] right away; the publication itself waits
//! here until the log is durable up to its last zxid, and only then leaves as
//! [`Released`] commits for the shards. A [`Released`] can only be made from a
//! [`DurableMark`], and a mark only from the `Durable` proof that
//! `GroupCommit::flush_done` hands out (or from recovery, for what was read
//! back from disk): no reply, watch event or tree version reaches a shard
//! before the fdatasync that covers it.
//!
//! Publications that wait behind the same flush are merged, so the shards get
//! one commit per shard per flush. The durable session set and the durable
//! tree version are kept here too: they are what a snapshot is taken of.

use std::collections::VecDeque;
use std::sync::Arc;

use super::forward::FromLeader;
use super::msg::{Commit, ConnRef, Connected, WriteReply};
use crate::log::{
    CommitConfig, Durable, Flush, FlushDone, FlushOutcome, FlushTicket, GroupCommit, LogFailed,
    LogStatus, SessionTimeouts, SnapshotTrigger,
};
use crate::tree::{DataTree, TreeEvent};
use crate::txn::TxnRecord;
use crate::types::{SessionId, Zxid};

/// Records held back while the open batch is full, before the sequencer stops
/// taking requests (the shards' rings then fill and push back).
pub const OVERFLOW_RECORDS_MAX: usize = 4096;

/// Proof that every txn up to [`DurableMark::zxid`] is on stable storage.
#[derive(Debug)]
pub struct DurableMark {
    zxid: Zxid,
}

impl DurableMark {
    /// What recovery read back from disk is durable.
    pub(super) fn recovered(zxid: Zxid) -> DurableMark {
        DurableMark { zxid }
    }

    /// A completed flush.
    fn flushed(durable: &Durable<Zxid>) -> DurableMark {
        DurableMark {
            zxid: *durable.value(),
        }
    }

    /// Everything up to here is durable.
    pub fn zxid(&self) -> Zxid {
        self.zxid
    }
}

/// Per-shard output of one batch.
#[derive(Debug, Default)]
pub struct ShardOut {
    /// Handshake outcomes.
    pub connected: Vec<Connected>,
    /// Write outcomes, in sequencing order.
    pub replies: Vec<WriteReply>,
    /// Connections to close.
    pub close: Vec<u64>,
}

impl ShardOut {
    fn is_empty(&self) -> bool {
        self.connected.is_empty() && self.replies.is_empty() && self.close.is_empty()
    }

    fn append(&mut self, other: ShardOut) {
        self.connected.extend(other.connected);
        self.replies.extend(other.replies);
        self.close.extend(other.close);
    }
}

/// A batch of the sequencer's output, waiting for its txns to become durable.
#[derive(Debug)]
pub struct Publication {
    /// The zxid of the last txn applied before the batch ended.
    pub last_zxid: Zxid,
    /// The tree as of the batch end.
    pub tree: Arc<DataTree>,
    /// The batch's tree events, with their txns' zxids.
    pub events: Vec<(Zxid, TreeEvent)>,
    /// One per shard.
    pub outs: Vec<ShardOut>,
    /// A report round the shards should publish.
    pub report_round: Option<u64>,
    /// Sessions created (with their timeout) and closed by the batch's txns.
    pub session_changes: Vec<(SessionId, Option<u32>)>,
    /// The batch's txn records, for the log.
    pub records: Vec<TxnRecord>,
    /// Leading: answers for other members, sent once the batch is committed.
    pub to_members: Vec<(u64, FromLeader)>,
}

/// Commits for the shards (one per shard) whose txns are durable.
#[derive(Debug)]
pub struct Released {
    commits: Vec<Commit>,
    to_members: Vec<(u64, FromLeader)>,
}

impl Released {
    /// The commits, in shard order.
    pub fn into_commits(self) -> Vec<Commit> {
        self.commits
    }

    /// Answers for other members (leading), in order; taken once.
    pub fn take_to_members(&mut self) -> Vec<(u64, FromLeader)> {
        std::mem::take(&mut self.to_members)
    }
}

/// A snapshot to take: a durable tree version and the sessions live at it.
#[derive(Debug)]
pub struct SnapshotJob {
    /// The tree (immutable: nothing mutates a published version).
    pub tree: Arc<DataTree>,
    /// The sessions live at `zxid`.
    pub sessions: SessionTimeouts,
    /// The tree's last zxid.
    pub zxid: Zxid,
}

/// Log counters for `mntr`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogCounters {
    /// Flushes completed (each one write and, with forceSync, one fdatasync).
    pub flushes: u64,
    /// Txns made durable.
    pub txns: u64,
    /// Bytes written to the log.
    pub bytes: u64,
    /// Time in fdatasync (and directory fsync), summed over flushes, µs.
    pub sync_us_sum: u64,
    /// The longest fdatasync, µs.
    pub sync_us_max: u64,
    /// Flushes by fdatasync time: bucket i counts syncs under 2^(i+4) µs (the
    /// last takes the rest): 16 µs, 32 µs, ... 256 ms, more.
    pub sync_us_histogram: [u64; SYNC_HISTOGRAM_BUCKETS],
    /// Flushes that ran out of disk space.
    pub no_space: u64,
    /// Snapshots written.
    pub snapshots: u64,
    /// The last snapshot's size, bytes.
    pub snapshot_last_bytes: u64,
    /// The last snapshot's duration, ms.
    pub snapshot_last_ms: u64,
}

/// Buckets of [`LogCounters::sync_us_histogram`].
pub const SYNC_HISTOGRAM_BUCKETS: usize = 16;

impl LogCounters {
    fn record_sync(&mut self, sync_us: u64) {
        self.sync_us_sum += sync_us;
        self.sync_us_max = self.sync_us_max.max(sync_us);
        let bucket = (64 - (sync_us >> 4).leading_zeros()) as usize;
        self.sync_us_histogram[bucket.min(SYNC_HISTOGRAM_BUCKETS - 1)] += 1;
    }
}

/// The log between the sequencer and the shards. Lives on the sequencer core.
pub struct Pipeline {
    commit: GroupCommit<()>,
    overflow: VecDeque<TxnRecord>,
    waiting: VecDeque<Publication>,
    mark: DurableMark,
    /// In an ensemble: the newest zxid ZAB committed. A publication leaves
    /// once it is both durable here and committed.
    committed: Option<Zxid>,
    /// The last zxid of the flush most recently begun.
    flushing_up_to: Zxid,
    published: Arc<DataTree>,
    durable_sessions: SessionTimeouts,
    trigger: SnapshotTrigger,
    random: u64,
    snapshot_due: bool,
    snapshot_running: bool,
    last_snapshot: Zxid,
    shards: usize,
    /// Counters.
    pub counters: LogCounters,
}

impl Pipeline {
    /// A pipeline resuming after recovery: everything up to `recovered` is
    /// durable; `tree` and `sessions` are the state at that zxid. `seed`
    /// randomizes the snapshot interval.
    pub fn new(
        config: CommitConfig,
        recovered: Zxid,
        tree: Arc<DataTree>,
        sessions: SessionTimeouts,
        trigger: (u64, u64),
        seed: u64,
        shards: usize,
    ) -> Pipeline {
        let mut random = seed;
        let (snap_count, snap_size_bytes) = trigger;
        let trigger = SnapshotTrigger::new(snap_count, snap_size_bytes, splitmix64(&mut random));
        Pipeline {
            commit: GroupCommit::new(config, recovered),
            overflow: VecDeque::new(),
            waiting: VecDeque::new(),
            mark: DurableMark::recovered(recovered),
            committed: None,
            flushing_up_to: recovered,
            published: tree,
            durable_sessions: sessions,
            trigger,
            random,
            snapshot_due: false,
            snapshot_running: false,
            last_snapshot: Zxid::ZERO,
            shards,
            counters: LogCounters::default(),
        }
    }

    /// Makes this an ensemble member's pipeline: from now on publications
    /// also wait for ZAB to commit them ([`Pipeline::committed`]); everything
    /// through `committed` already is.
    pub fn gate_on_commit(&mut self, committed: Zxid) {
        self.committed = Some(committed);
    }

    /// ZAB committed everything through `zxid`: what is also durable here leaves.
    pub fn committed(&mut self, zxid: Zxid) -> Option<Released> {
        let bound = self.committed.get_or_insert(zxid);
        *bound = (*bound).max(zxid);
        self.release()
    }

    /// Appends records that did not come from this member's sequencer (a
    /// learner's proposals from its leader) to the log.
    pub fn log_records(&mut self, records: &[TxnRecord]) {
        for record in records {
            self.count_for_snapshot(record);
            self.append(record.clone());
        }
    }

    fn count_for_snapshot(&mut self, record: &TxnRecord) {
        if self.trigger.logged(record.bytes().len() as u64) {
            self.snapshot_due = true;
            let random = splitmix64(&mut self.random);
            self.trigger.reset(random);
        }
    }

    /// Where the log stands.
    pub fn status(&self) -> LogStatus {
        self.commit.status()
    }

    /// The last zxid known durable.
    pub fn durable_zxid(&self) -> Zxid {
        self.mark.zxid()
    }

    /// The newest tree version the shards have (or are about to get).
    pub fn published(&self) -> &Arc<DataTree> {
        &self.published
    }

    /// Whether the sequencer should stop taking requests until a flush completes.
    pub fn backlogged(&self) -> bool {
        self.overflow.len() >= OVERFLOW_RECORDS_MAX
    }

    /// Whether a reply for `conn` waits for the log.
    pub fn has_unreleased(&self, conn: ConnRef) -> bool {
        self.waiting.iter().any(|p| {
            let out = &p.outs[conn.shard];
            out.replies.iter().any(|r| r.conn == conn.conn)
                || out.connected.iter().any(|c| c.conn == conn.conn)
        })
    }

    /// Takes a batch of the sequencer's output: its records go to the log, and
    /// it waits for them (or leaves at once if it has none to wait for).
    pub fn submit(&mut self, mut publication: Publication) -> Option<Released> {
        assert_eq!(publication.outs.len(), self.shards);
        for record in std::mem::take(&mut publication.records) {
            self.count_for_snapshot(&record);
            self.append(record);
        }
        match self.waiting.back_mut() {
            // Not yet in a flush: the two leave together (in an ensemble each
            // stays whole: ZAB commits batch by batch).
            Some(back) if back.last_zxid > self.flushing_up_to && self.committed.is_none() => {
                merge(back, publication)
            }
            _ => self.waiting.push_back(publication),
        }
        self.release()
    }

    fn append(&mut self, record: TxnRecord) {
        if !self.overflow.is_empty() {
            self.overflow.push_back(record);
            return;
        }
        if let Err(refused) = self.commit.append(&record, ()) {
            match refused.refusal {
                crate::log::Refusal::BatchFull => self.overflow.push_back(record),
                crate::log::Refusal::Failed(_) => {
                    // The loop stops on the failure; nothing more is released.
                }
            }
        }
    }

    /// The next batch to write, if no flush is in flight.
    pub fn begin_flush(&mut self) -> Option<Flush> {
        let flush = self.commit.begin_flush()?;
        self.flushing_up_to = self.flushing_up_to.max(flush.last_zxid);
        // The open batch is empty again: records held back go in first.
        while let Some(record) = self.overflow.pop_front() {
            if let Err(refused) = self.commit.append(&record, ()) {
                debug_assert!(matches!(refused.refusal, crate::log::Refusal::BatchFull));
                self.overflow.push_front(record);
                break;
            }
        }
        Some(flush)
    }

    /// Whether records wait for a flush.
    pub fn has_unflushed(&self) -> bool {
        self.commit.has_unflushed()
    }

    /// Reports how a flush went; on success, the publications it covers leave,
    /// and the proof of durability is handed back (for an ensemble's ZAB core).
    pub fn flush_done(
        &mut self,
        ticket: FlushTicket,
        outcome: FlushOutcome,
        flush_bytes: usize,
        flush_txns: usize,
        sync_us: u64,
    ) -> Result<(Option<Released>, Option<Durable<Zxid>>), LogFailed> {
        match self.commit.flush_done(ticket, outcome)? {
            FlushDone::Durable { zxid, released } => {
                debug_assert_eq!(released.len(), flush_txns);
                self.mark = DurableMark::flushed(&zxid);
                self.counters.flushes += 1;
                self.counters.txns += flush_txns as u64;
                self.counters.bytes += flush_bytes as u64;
                self.counters.record_sync(sync_us);
                Ok((self.release(), Some(zxid)))
            }
            FlushDone::Retry => {
                self.counters.no_space += 1;
                Ok((None, None))
            }
        }
    }

    /// Starts the log afresh after `zxid` (a truncation or an installed
    /// snapshot replaced it): nothing may be unflushed or in flight. `tree`
    /// and `sessions` are the state at `zxid`, now published.
    pub fn reset_log(&mut self, zxid: Zxid, tree: Arc<DataTree>, sessions: SessionTimeouts) {
        assert!(!self.commit.has_unflushed() && self.overflow.is_empty());
        self.commit = GroupCommit::new(*self.commit.config(), zxid);
        self.mark = DurableMark::recovered(zxid);
        self.flushing_up_to = zxid;
        self.waiting.clear();
        self.published = tree;
        self.durable_sessions = sessions;
        self.last_snapshot = self.last_snapshot.min(zxid);
    }

    /// Drops every publication not yet released: a leader that lost its
    /// quorum never answers what it sequenced but did not commit.
    pub fn abandon_unreleased(&mut self) {
        self.waiting.clear();
    }

    /// The sessions live at the published tree.
    pub fn durable_sessions(&self) -> &SessionTimeouts {
        &self.durable_sessions
    }

    /// Merges every publication the mark covers into one commit per shard.
    fn release(&mut self) -> Option<Released> {
        let bound = match self.committed {
            Some(committed) => committed.min(self.mark.zxid()),
            None => self.mark.zxid(),
        };
        let covered = |p: &Publication| p.last_zxid <= bound;
        if !self.waiting.front().is_some_and(covered) {
            return None;
        }
        let mut first = self.waiting.pop_front().expect("checked");
        while self.waiting.front().is_some_and(covered) {
            let next = self.waiting.pop_front().expect("checked");
            merge(&mut first, next);
        }
        for (session, change) in first.session_changes.drain(..) {
            match change {
                Some(timeout_ms) => self.durable_sessions.insert(session, timeout_ms),
                None => self.durable_sessions.remove(&session),
            };
        }
        self.published = first.tree.clone();
        let events: Arc<[(Zxid, TreeEvent)]> = first.events.into();
        let report_round = first.report_round;
        let to_members = first.to_members;
        let tree = first.tree;
        let commits = first
            .outs
            .into_iter()
            .map(|out| Commit {
                tree: tree.clone(),
                events: events.clone(),
                connected: out.connected,
                replies: out.replies,
                close: out.close,
                report_round,
            })
            .collect();
        Some(Released {
            commits,
            to_members,
        })
    }

    /// Commits that carry no new tree version: answers that wait for nothing
    /// in the log (refusals while the log cannot write), or a report round.
    pub fn unlogged(&self, outs: Vec<ShardOut>, report_round: Option<u64>) -> Option<Released> {
        if report_round.is_none() && outs.iter().all(ShardOut::is_empty) {
            return None;
        }
        let events: Arc<[(Zxid, TreeEvent)]> = Arc::from(Vec::new());
        let commits = outs
            .into_iter()
            .map(|out| Commit {
                tree: self.published.clone(),
                events: events.clone(),
                connected: out.connected,
                replies: out.replies,
                close: out.close,
                report_round,
            })
            .collect();
        Some(Released {
            commits,
            to_members: Vec::new(),
        })
    }

    /// A snapshot to take now, if one is due and none is running. The next
    /// batch then opens a new log segment, so old segments can be purged.
    pub fn take_snapshot_job(&mut self) -> Option<SnapshotJob> {
        let zxid = Zxid(self.published.last_zxid());
        if !self.snapshot_due || self.snapshot_running || zxid <= self.last_snapshot {
            return None;
        }
        self.snapshot_due = false;
        self.snapshot_running = true;
        self.commit.request_roll();
        Some(SnapshotJob {
            tree: self.published.clone(),
            sessions: self.durable_sessions.clone(),
            zxid,
        })
    }

    /// A snapshot finished: written (zxid, bytes, ms) or not (None).
    pub fn snapshot_finished(&mut self, written: Option<(Zxid, u64, u64)>) {
        self.snapshot_running = false;
        if let Some((zxid, bytes, ms)) = written {
            self.last_snapshot = zxid;
            self.counters.snapshots += 1;
            self.counters.snapshot_last_bytes = bytes;
            self.counters.snapshot_last_ms = ms;
        }
    }
}

fn merge(into: &mut Publication, next: Publication) {
    debug_assert!(next.last_zxid >= into.last_zxid);
    into.last_zxid = next.last_zxid;
    into.tree = next.tree;
    into.events.extend(next.events);
    for (out, more) in into.outs.iter_mut().zip(next.outs) {
        out.append(more);
    }
    into.report_round = next.report_round.or(into.report_round);
    into.session_changes.extend(next.session_changes);
    into.to_members.extend(next.to_members);
    debug_assert!(next.records.is_empty(), "records go to the log on submit");
}

/// SplitMix64: the snapshot interval's randomness, from the seed the runtime gives.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
