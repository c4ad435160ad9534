//! One member's simulated stable storage: log segments as byte images written
//! by the real group-commit policy and read back by the real recovery code,
//! snapshot files, and the two epoch files. Survives crashes; what was not
//! synced may be lost, kept, or torn.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::rng::Rng;
use crate::log::{
    decode_records, replay, Flush, LogChain, Repair, SegmentName, SegmentOp, SessionTimeouts,
};
use crate::tree::DataTree;
use crate::txn::TxnRecord;
use crate::types::Zxid;
use crate::zab::{Epoch, EpochKind};

/// A snapshot file: a tree version and its sessions.
#[derive(Clone, Debug)]
pub struct SnapFile {
    /// The zxid of the tree version.
    pub zxid: Zxid,
    /// The tree.
    pub tree: DataTree,
    /// The live sessions.
    pub sessions: SessionTimeouts,
}

/// A batch written but not yet synced.
#[derive(Clone, Debug)]
struct Unsynced {
    segment: SegmentName,
    offset: u64,
    bytes: Bytes,
}

/// What a member finds on its disk at startup.
#[derive(Debug)]
pub struct Recovered {
    /// The tree: the newest snapshot plus the log after it.
    pub tree: DataTree,
    /// The sessions, likewise.
    pub sessions: SessionTimeouts,
    /// The newest snapshot's zxid (0 without one).
    pub snapshot_zxid: Zxid,
    /// Every record after the snapshot, in order.
    pub records: Vec<TxnRecord>,
    /// `acceptedEpoch`.
    pub accepted: Epoch,
    /// `currentEpoch`.
    pub current: Epoch,
}

/// One member's disk.
#[derive(Debug, Default)]
pub struct Disk {
    segments: BTreeMap<SegmentName, Vec<u8>>,
    unsynced: Option<Unsynced>,
    snapshots: Vec<SnapFile>,
    accepted: Epoch,
    current: Epoch,
    epoch_writes: Vec<(EpochKind, Epoch)>,
}

fn write_at(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let offset = offset as usize;
    if image.len() < offset + bytes.len() {
        image.resize(offset + bytes.len(), 0);
    }
    image[offset..offset + bytes.len()].copy_from_slice(bytes);
}

impl Disk {
    /// A flush's write reaches the page cache (not yet durable).
    pub fn write(&mut self, flush: &Flush) {
        assert!(self.unsynced.is_none(), "one write in flight at a time");
        if flush.op == SegmentOp::Create {
            assert!(
                !self.segments.contains_key(&flush.segment),
                "a new segment has a new name: {:?}",
                flush.segment
            );
            self.segments.insert(flush.segment, Vec::new());
        }
        self.unsynced = Some(Unsynced {
            segment: flush.segment,
            offset: flush.offset,
            bytes: flush.bytes.clone(),
        });
    }

    /// The write in flight is synced.
    pub fn sync(&mut self) {
        let w = self.unsynced.take().expect("a write to sync");
        let image = self
            .segments
            .get_mut(&w.segment)
            .expect("written segment exists");
        write_at(image, w.offset, &w.bytes);
    }

    /// An epoch file write is issued (atomic: the old or the new value survives a crash).
    pub fn write_epoch(&mut self, kind: EpochKind, epoch: Epoch) {
        self.epoch_writes.push((kind, epoch));
    }

    /// The oldest issued epoch write is durable.
    pub fn sync_epoch(&mut self) -> (EpochKind, Epoch) {
        let (kind, epoch) = self.epoch_writes.remove(0);
        match kind {
            EpochKind::Accepted => self.accepted = epoch,
            EpochKind::Current => self.current = epoch,
        }
        (kind, epoch)
    }

    /// The durable `currentEpoch`.
    pub fn current_epoch(&self) -> Epoch {
        self.current
    }

    /// Power loss: the unsynced write is lost, kept, or torn; each pending
    /// epoch write (in order) may or may not have landed.
    pub fn crash(&mut self, rng: &mut Rng) {
        if let Some(w) = self.unsynced.take() {
            let len = w.bytes.len();
            let kept = match rng.below(3) {
                0 => 0,
                1 => len,
                _ => rng.below(len as u64 + 1) as usize,
            };
            if kept > 0 {
                let image = self
                    .segments
                    .get_mut(&w.segment)
                    .expect("written segment exists");
                let mut bytes = w.bytes[..kept].to_vec();
                if kept < len && rng.below(2) == 0 {
                    // A torn sector: garbage where the write stopped.
                    let from = kept.saturating_sub(rng.below(64) as usize);
                    for b in &mut bytes[from..] {
                        *b = rng.next_u64() as u8;
                    }
                }
                write_at(image, w.offset, &bytes);
            }
        }
        let landed = rng.below(self.epoch_writes.len() as u64 + 1) as usize;
        for _ in 0..landed {
            self.sync_epoch();
        }
        self.epoch_writes.clear();
    }

    /// The log ends at `zxid` (truncation is synced before it is reported).
    pub fn truncate(&mut self, zxid: Zxid) {
        assert!(self.unsynced.is_none(), "no write in flight");
        self.segments.retain(|name, _| name.first_zxid <= zxid);
        for image in self.segments.values_mut() {
            let scan = decode_records(image);
            if let Some(cut) = scan.records.iter().find(|r| r.zxid > zxid) {
                image.truncate(cut.offset as usize);
            }
        }
    }

    /// A received snapshot replaces the log.
    pub fn install(&mut self, snap: SnapFile) {
        assert!(self.unsynced.is_none(), "no write in flight");
        self.segments.clear();
        self.snapshots.push(snap);
    }

    /// A snapshot of committed state is written.
    pub fn save_snapshot(&mut self, snap: SnapFile) {
        if self.snapshots.last().is_some_and(|s| s.zxid >= snap.zxid) {
            return;
        }
        self.snapshots.push(snap);
        if self.snapshots.len() > 3 {
            self.snapshots.remove(0);
        }
    }

    /// The newest snapshot at or below `zxid`.
    pub fn snapshot_at_or_below(&self, zxid: Zxid) -> Option<&SnapFile> {
        self.snapshots.iter().rev().find(|s| s.zxid <= zxid)
    }

    /// Startup: the newest snapshot, the log after it checked with the real
    /// recovery code (torn tails cut), and the epoch files.
    pub fn recover(&mut self, extended_types: bool) -> Result<Recovered, String> {
        let (snapshot_zxid, mut tree, mut sessions) = match self.snapshots.last() {
            Some(s) => (s.zxid, s.tree.clone(), s.sessions.clone()),
            None => (
                Zxid::ZERO,
                DataTree::with_extended_types(extended_types),
                SessionTimeouts::new(),
            ),
        };
        let mut chain = LogChain::new(snapshot_zxid);
        let mut records = Vec::new();
        let mut removed = Vec::new();
        for (&name, image) in self.segments.iter_mut() {
            let scan = decode_records(image);
            let verdict = chain.check(name, &scan).map_err(|e| e.to_string())?;
            match verdict.repair {
                Repair::Keep => {}
                Repair::Truncate { offset } => image.truncate(offset as usize),
                Repair::Remove => removed.push(name),
            }
            records.extend(
                scan.records[verdict.replay_from..]
                    .iter()
                    .map(|r| r.record.clone()),
            );
        }
        for name in removed {
            self.segments.remove(&name);
        }
        replay(&mut tree, &mut sessions, &records);
        Ok(Recovered {
            tree,
            sessions,
            snapshot_zxid,
            records,
            accepted: self.accepted,
            current: self.current,
        })
    }
}
