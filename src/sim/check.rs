//! The invariants the simulator checks after every step, over everything any
//! member ever logged, committed or acknowledged.

use std::collections::{BTreeMap, HashMap};

use crate::types::{ServerId, Zxid};
use crate::zab::Epoch;

/// A broken invariant.
pub type Violation = String;

/// Global knowledge across members and time.
#[derive(Debug, Default)]
pub struct Checker {
    /// The established leader of each epoch.
    leaders: BTreeMap<Epoch, ServerId>,
    /// The one txn (by content hash) each zxid names, in any log.
    txns: HashMap<Zxid, u64>,
    /// The record before each zxid, in any log (ZAB's prefix property).
    prev: HashMap<Zxid, Zxid>,
    /// The tree digest at each zxid, on any member.
    digests: HashMap<Zxid, u64>,
    /// Writes whose reply reached a client (committed on their leader).
    acked: BTreeMap<Zxid, u64>,
    /// Committed zxids.
    committed: BTreeMap<Zxid, u64>,
}

impl Checker {
    /// A member became the established leader of `epoch`.
    pub fn established(&mut self, id: ServerId, epoch: Epoch) -> Result<(), Violation> {
        match self.leaders.insert(epoch, id) {
            Some(other) if other != id => Err(format!(
                "two established leaders in epoch {epoch}: {other} and {id}"
            )),
            _ => Ok(()),
        }
    }

    /// A member's log now has `zxid` (content `hash`) right after `prev`.
    pub fn logged(
        &mut self,
        id: ServerId,
        zxid: Zxid,
        hash: u64,
        prev: Zxid,
    ) -> Result<(), Violation> {
        if zxid <= prev {
            return Err(format!(
                "member {id} logged {zxid} after {prev}: not increasing"
            ));
        }
        if let Some(&known) = self.txns.get(&zxid) {
            if known != hash {
                return Err(format!("member {id} logged a different txn at {zxid}"));
            }
        } else {
            self.txns.insert(zxid, hash);
        }
        match self.prev.get(&zxid) {
            Some(&known) if known != prev => Err(format!(
                "member {id} logged {zxid} after {prev}, another log has it after {known}: \
                 histories diverge"
            )),
            Some(_) => Ok(()),
            None => {
                self.prev.insert(zxid, prev);
                Ok(())
            }
        }
    }

    /// A member's tree is at `zxid` with `digest`.
    pub fn digest(&mut self, id: ServerId, zxid: Zxid, digest: u64) -> Result<(), Violation> {
        match self.digests.insert(zxid, digest) {
            Some(known) if known != digest => Err(format!(
                "member {id} has tree digest {digest:x} at {zxid}, another member had {known:x}"
            )),
            _ => Ok(()),
        }
    }

    /// A member committed `zxid` (content `hash`).
    pub fn committed(&mut self, id: ServerId, zxid: Zxid, hash: u64) -> Result<(), Violation> {
        match self.committed.insert(zxid, hash) {
            Some(known) if known != hash => {
                Err(format!("member {id} committed a different txn at {zxid}"))
            }
            _ => Ok(()),
        }
    }

    /// A client got its reply for `zxid`.
    pub fn acked(&mut self, zxid: Zxid, hash: u64) {
        self.acked.insert(zxid, hash);
    }

    /// How many writes were acknowledged.
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }

    /// How many zxids were committed.
    pub fn committed_count(&self) -> usize {
        self.committed.len()
    }

    /// A new leader's history (its log after `base`, whose state it holds)
    /// must hold every acknowledged write.
    pub fn leader_history(
        &self,
        id: ServerId,
        base: Zxid,
        log: &BTreeMap<Zxid, u64>,
        last: Zxid,
    ) -> Result<(), Violation> {
        for (&zxid, &hash) in &self.acked {
            if zxid > last {
                return Err(format!(
                    "member {id} leads with history ending at {last}, without acknowledged write {zxid}"
                ));
            }
            if zxid > base && log.get(&zxid) != Some(&hash) {
                return Err(format!(
                    "member {id} leads without acknowledged write {zxid} in its log"
                ));
            }
        }
        Ok(())
    }
}
