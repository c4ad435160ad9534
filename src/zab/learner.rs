//! The learner side (followers and observers): ZooKeeper's `Learner`,
//! `Follower` and `Observer`: `FOLLOWERINFO`, the epoch handshake, the sync,
//! and logging, acking and committing what the leader broadcasts.

use super::{EpochKind, LinkId, LogOp, Output, PeerMsg, State, Zab};
use crate::config::PeerRole;
use crate::types::{ServerId, Zxid};
use crate::zab::history::zxid_of;

/// Where a learner is in its leader's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    /// Waiting for a link to the leader.
    Connecting,
    /// `FOLLOWERINFO` sent.
    AwaitLeaderInfo,
    /// Waiting for `acceptedEpoch` to be durable before `ACKEPOCH`.
    AckingEpoch,
    /// `ACKEPOCH` sent; waiting for `DIFF`/`TRUNC`/`SNAP`.
    AwaitSync,
    /// Receiving the leader's history.
    Syncing,
    /// `NEWLEADER` received: waiting for the log, then `currentEpoch`, to be durable.
    AckingNewLeader,
    /// `NEWLEADER` acked; waiting for `UPTODATE`.
    AwaitUpToDate,
    /// Serving.
    Serving,
}

/// A learner's state.
#[derive(Debug)]
pub(super) struct Learner {
    pub(super) leader: ServerId,
    pub(super) observer: bool,
    link: Option<LinkId>,
    phase: Phase,
    last_heard: u64,
    new_epoch: u32,
    /// The history end to be durable before `NEWLEADER` is acked.
    sync_end: Zxid,
    /// The highest commit the leader announced.
    leader_committed: Zxid,
    /// The last durable zxid reported to the leader.
    acked: Zxid,
}

impl Learner {
    pub(super) fn serving(&self) -> bool {
        self.phase == Phase::Serving
    }
}

/// The learner's state, borrowing only `self.state`.
macro_rules! learner_mut {
    ($zab:expr) => {
        match &mut $zab.state {
            State::Learning(learner) => learner,
            _ => unreachable!("only while learning"),
        }
    };
}

impl Zab {
    pub(super) fn become_learner(&mut self, leader: ServerId, out: &mut Vec<Output>) {
        let observer = self.cfg.role_of(self.cfg.my_id) == Some(PeerRole::Observer) || !self.voter;
        self.state = State::Learning(Learner {
            leader,
            observer,
            link: None,
            phase: Phase::Connecting,
            last_heard: self.tick,
            new_epoch: 0,
            sync_end: Zxid::ZERO,
            leader_committed: Zxid::ZERO,
            acked: Zxid::ZERO,
        });
        self.role_changed(out, self.current_epoch);
        if let Some(&link) = self.links.get(&leader) {
            self.learner_peer_up(leader, link, out);
        }
    }

    /// Leaves the leader and looks for another.
    fn abandon_leader(&mut self, out: &mut Vec<Output>) {
        let learner = learner_mut!(self);
        if let Some(link) = learner.link.take() {
            let peer = learner.leader;
            out.push(Output::Disconnect { peer, link });
        }
        self.start_election(out);
    }

    pub(super) fn learner_peer_up(&mut self, peer: ServerId, link: LinkId, out: &mut Vec<Output>) {
        let accepted_epoch = self.accepted_epoch;
        let tick = self.tick;
        let learner = learner_mut!(self);
        if peer != learner.leader || learner.phase != Phase::Connecting {
            return;
        }
        learner.link = Some(link);
        learner.phase = Phase::AwaitLeaderInfo;
        learner.last_heard = tick;
        self.send(out, peer, link, PeerMsg::FollowerInfo { accepted_epoch });
    }

    pub(super) fn learner_peer_down(
        &mut self,
        peer: ServerId,
        link: LinkId,
        out: &mut Vec<Output>,
    ) {
        let learner = learner_mut!(self);
        if peer != learner.leader || learner.link != Some(link) {
            return;
        }
        learner.link = None;
        if learner.phase <= Phase::AwaitLeaderInfo {
            // Nothing was promised on that link: wait for the next one (within initLimit).
            learner.phase = Phase::Connecting;
        } else {
            self.abandon_leader(out);
        }
    }

    pub(super) fn learner_tick(&mut self, out: &mut Vec<Output>) {
        let tick = self.tick;
        let (init, sync) = (self.cfg.init_limit_ticks, self.cfg.sync_limit_ticks);
        let learner = learner_mut!(self);
        let limit = if learner.phase == Phase::Serving {
            sync
        } else {
            init
        };
        if tick.saturating_sub(learner.last_heard) > u64::from(limit) {
            self.abandon_leader(out);
        }
    }

    pub(super) fn learner_message(
        &mut self,
        from: ServerId,
        link: LinkId,
        msg: PeerMsg,
        out: &mut Vec<Output>,
    ) {
        let tick = self.tick;
        let learner = learner_mut!(self);
        if from != learner.leader || learner.link != Some(link) {
            return;
        }
        learner.last_heard = tick;
        let phase = learner.phase;
        let ok = match msg {
            PeerMsg::LeaderInfo { epoch } if phase == Phase::AwaitLeaderInfo => {
                self.on_leader_info(epoch, out)
            }
            PeerMsg::Diff { .. } if phase == Phase::AwaitSync => {
                learner_mut!(self).phase = Phase::Syncing;
                true
            }
            PeerMsg::Trunc { zxid } if phase == Phase::AwaitSync => self.on_trunc(zxid, out),
            PeerMsg::Snap { zxid } if phase == Phase::AwaitSync => self.on_snap(zxid, out),
            PeerMsg::Proposal { records } if phase >= Phase::Syncing => {
                let observer = learner_mut!(self).observer;
                if observer && phase == Phase::Serving {
                    false
                } else {
                    self.learner_append(&records, out)
                }
            }
            PeerMsg::Inform { records } if phase >= Phase::Syncing => {
                let last = records.last().map(zxid_of);
                let ok = learner_mut!(self).observer && self.learner_append(&records, out);
                if let (true, Some(last)) = (ok, last) {
                    self.leader_committed(last, out);
                }
                ok
            }
            PeerMsg::Commit { zxid } if phase >= Phase::Syncing => {
                self.leader_committed(zxid, out);
                true
            }
            PeerMsg::NewLeader { epoch } if phase == Phase::Syncing => {
                let learner = learner_mut!(self);
                if epoch == learner.new_epoch {
                    learner.phase = Phase::AckingNewLeader;
                    learner.sync_end = self.history.last();
                    true
                } else {
                    false
                }
            }
            PeerMsg::UpToDate { committed } if phase == Phase::AwaitUpToDate => {
                let learner = learner_mut!(self);
                learner.phase = Phase::Serving;
                let epoch = learner.new_epoch;
                self.leader_committed(committed, out);
                self.role_changed(out, epoch);
                true
            }
            PeerMsg::Ping => {
                self.send(out, from, link, PeerMsg::Ping);
                true
            }
            _ => false,
        };
        if !ok {
            // Out of protocol: ZooKeeper's learner throws and goes back to looking.
            if matches!(self.state, State::Learning(_)) {
                self.abandon_leader(out);
            }
        }
    }

    fn on_leader_info(&mut self, epoch: u32, out: &mut Vec<Output>) -> bool {
        if epoch >= self.accepted_epoch {
            self.update_election_vote(epoch);
        }
        if epoch > self.accepted_epoch {
            self.persist_epoch(EpochKind::Accepted, epoch, out);
            let learner = learner_mut!(self);
            learner.new_epoch = epoch;
            learner.phase = Phase::AckingEpoch;
            true
        } else if epoch == self.accepted_epoch {
            // Already promised this epoch (to this leader or another): the ack
            // goes out without an epoch and does not count for the quorum.
            let last_zxid = self.history.last();
            let learner = learner_mut!(self);
            learner.new_epoch = epoch;
            learner.phase = Phase::AwaitSync;
            let (leader, link) = (learner.leader, learner.link.expect("linked"));
            self.send(
                out,
                leader,
                link,
                PeerMsg::AckEpoch {
                    last_zxid,
                    current_epoch: None,
                },
            );
            true
        } else {
            false
        }
    }

    fn on_trunc(&mut self, zxid: Zxid, out: &mut Vec<Output>) -> bool {
        if zxid < self.committed {
            // The leader lacks what this member knows committed: refuse.
            return false;
        }
        learner_mut!(self).phase = Phase::Syncing;
        if zxid < self.history.last() {
            self.history.truncate(zxid);
            self.applied = self.applied.min(zxid);
            self.durable = self.durable.min(zxid);
            self.log_ops.push(LogOp::Truncate(zxid));
            out.push(Output::TruncateLog(zxid));
        }
        true
    }

    fn on_snap(&mut self, zxid: Zxid, out: &mut Vec<Output>) -> bool {
        if zxid < self.committed {
            return false;
        }
        learner_mut!(self).phase = Phase::Syncing;
        self.history.reset(zxid);
        self.applied = zxid;
        self.committed = zxid;
        self.durable = self.durable.min(zxid);
        self.log_ops.push(LogOp::Snapshot(zxid));
        out.push(Output::InstallSnapshot(zxid));
        true
    }

    fn learner_append(
        &mut self,
        records: &std::sync::Arc<[crate::txn::TxnRecord]>,
        out: &mut Vec<Output>,
    ) -> bool {
        let mut last = self.history.last();
        for record in records.iter() {
            let zxid = zxid_of(record);
            if zxid <= last {
                return false;
            }
            last = zxid;
        }
        for record in records.iter() {
            self.history.push(record.clone());
        }
        out.push(Output::AppendLog(records.clone()));
        true
    }

    fn leader_committed(&mut self, zxid: Zxid, out: &mut Vec<Output>) {
        let learner = learner_mut!(self);
        learner.leader_committed = learner.leader_committed.max(zxid);
        if learner.phase == Phase::Serving {
            let upto = learner.leader_committed.min(self.history.last());
            self.commit_to(upto, out);
        }
    }

    /// Sends what waited for durability: `ACKEPOCH`, `ACK(NEWLEADER)`, `ACK`.
    pub(super) fn learner_progress(&mut self, out: &mut Vec<Output>) {
        let (accepted_durable, current_durable) = (self.accepted_durable, self.current_durable);
        let log_settled = self.log_ops.is_empty();
        let (durable, last) = (self.durable, self.history.last());
        let current_epoch = self.current_epoch;
        let learner = learner_mut!(self);
        let (leader, Some(link)) = (learner.leader, learner.link) else {
            return;
        };
        match learner.phase {
            Phase::AckingEpoch if accepted_durable >= learner.new_epoch => {
                learner.phase = Phase::AwaitSync;
                let msg = PeerMsg::AckEpoch {
                    last_zxid: last,
                    current_epoch: Some(current_epoch),
                };
                self.send(out, leader, link, msg);
            }
            Phase::AckingNewLeader if log_settled && durable >= learner.sync_end => {
                let epoch = learner.new_epoch;
                if current_epoch < epoch {
                    // currentEpoch only after the history it vouches for is durable.
                    self.persist_epoch(EpochKind::Current, epoch, out);
                } else if current_durable >= epoch {
                    let learner = learner_mut!(self);
                    learner.phase = Phase::AwaitUpToDate;
                    learner.acked = learner.sync_end;
                    let zxid = learner.sync_end;
                    self.send(out, leader, link, PeerMsg::AckNewLeader { epoch, zxid });
                    self.learner_ack(out);
                }
            }
            Phase::AwaitUpToDate | Phase::Serving => self.learner_ack(out),
            _ => {}
        }
    }

    /// `ACK`: only ever for what [`super::Input::LogDurable`] proved durable.
    fn learner_ack(&mut self, out: &mut Vec<Output>) {
        let durable = self.durable;
        if !self.log_ops.is_empty() {
            return;
        }
        let learner = learner_mut!(self);
        if learner.observer || durable <= learner.acked {
            return;
        }
        learner.acked = durable;
        let (leader, link) = (learner.leader, learner.link.expect("linked"));
        self.send(out, leader, link, PeerMsg::Ack { zxid: durable });
    }
}
