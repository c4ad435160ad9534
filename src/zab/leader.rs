//! The leader side: ZooKeeper's `Leader` and its `LearnerHandler`s: the epoch
//! agreement, one sync per learner, the establishment of the epoch, and the
//! broadcast (proposals, acks, commits in zxid order, informs, pings).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::{chunk_records, EpochKind, LinkId, Output, PeerMsg, State, Zab};
use crate::config::PeerRole;
use crate::txn::TxnRecord;
use crate::types::{ServerId, Zxid};
use crate::zab::history::zxid_of;

/// Where one learner is (a `LearnerHandler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum HandlePhase {
    /// `FOLLOWERINFO` received; `LEADERINFO` not sent yet.
    Info,
    /// `LEADERINFO` sent.
    LeaderInfoSent,
    /// `ACKEPOCH` received; the sync starts once a quorum acked the epoch.
    EpochAcked,
    /// History and `NEWLEADER` sent; it gets every proposal and commit from here on.
    Syncing,
    /// `NEWLEADER` acked; `UPTODATE` goes out once the epoch is established.
    NewLeaderAcked,
    /// `UPTODATE` sent.
    Synced,
}

#[derive(Debug)]
struct Handle {
    link: LinkId,
    observer: bool,
    phase: HandlePhase,
    accepted_epoch: u32,
    peer_last: Zxid,
    /// Durable through this zxid (from `ACK(NEWLEADER)` and `ACK`s).
    acked: Zxid,
    last_heard: u64,
}

/// One proposed batch, committed as a whole.
#[derive(Debug)]
struct Batch {
    last: Zxid,
    chunks: Vec<Arc<[TxnRecord]>>,
}

/// Where the leader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaderPhase {
    /// Gathering `FOLLOWERINFO` and `ACKEPOCH` from a quorum.
    Discovery,
    /// Syncing learners; established once a quorum acked `NEWLEADER`.
    Syncing,
    /// Established: proposing.
    Broadcast,
}

/// A leader's state.
#[derive(Debug)]
pub(super) struct Leader {
    phase: LeaderPhase,
    /// When discovery began (initLimit counts from here until established).
    since: u64,
    epoch: Option<u32>,
    /// The leader's `(currentEpoch, last zxid)` when elected, for the
    /// "follower is ahead of the leader" check.
    start_epoch: u32,
    learners: BTreeMap<ServerId, Handle>,
    /// Accepted epochs of learners that sent `FOLLOWERINFO` during discovery.
    infos: BTreeMap<ServerId, u32>,
    epoch_acks: BTreeSet<ServerId>,
    /// The leader's log end when elected: committed once established.
    history_end: Zxid,
    outstanding: VecDeque<Batch>,
    pub(super) next_zxid: Zxid,
    last_ping: u64,
}

impl Leader {
    pub(super) fn established(&self) -> bool {
        self.phase == LeaderPhase::Broadcast
    }
}

/// The leader's state, borrowing only `self.state`.
macro_rules! leader_mut {
    ($zab:expr) => {
        match &mut $zab.state {
            State::Leading(leader) => leader,
            _ => unreachable!("only while leading"),
        }
    };
}

impl Zab {
    pub(super) fn become_leader(&mut self, out: &mut Vec<Output>) {
        self.state = State::Leading(Leader {
            phase: LeaderPhase::Discovery,
            since: self.tick,
            epoch: None,
            start_epoch: self.current_epoch,
            learners: BTreeMap::new(),
            infos: BTreeMap::new(),
            epoch_acks: BTreeSet::new(),
            history_end: self.history.last(),
            outstanding: VecDeque::new(),
            next_zxid: Zxid::ZERO,
            last_ping: self.tick,
        });
        self.role_changed(out, self.current_epoch);
        let early = std::mem::take(&mut self.early_infos);
        for (peer, (link, accepted_epoch)) in early {
            if self.links.get(&peer) == Some(&link) {
                self.on_follower_info(peer, link, accepted_epoch, self.tick);
            }
        }
    }

    fn step_down(&mut self, out: &mut Vec<Output>) {
        let learners = std::mem::take(&mut leader_mut!(self).learners);
        for (peer, handle) in learners {
            out.push(Output::Disconnect {
                peer,
                link: handle.link,
            });
        }
        self.start_election(out);
    }

    pub(super) fn leader_peer_down(&mut self, peer: ServerId, link: LinkId) {
        let leader = leader_mut!(self);
        if leader.learners.get(&peer).is_some_and(|h| h.link == link) {
            leader.learners.remove(&peer);
        }
    }

    pub(super) fn leader_tick(&mut self, out: &mut Vec<Output>) {
        let tick = self.tick;
        let (init, sync) = (
            u64::from(self.cfg.init_limit_ticks),
            u64::from(self.cfg.sync_limit_ticks),
        );
        let ping_interval = u64::from(self.cfg.ping_interval_ticks.max(1));
        let counter_max = self.cfg.zxid_counter_max;
        let leader = leader_mut!(self);
        if !leader.established() {
            if tick.saturating_sub(leader.since) > init {
                self.step_down(out);
            }
            return;
        }
        if leader.next_zxid.counter() > counter_max {
            // The counter is exhausted: a new epoch restarts it.
            self.step_down(out);
            return;
        }
        let mut dropped = Vec::new();
        for (&peer, handle) in &leader.learners {
            if tick.saturating_sub(handle.last_heard)
                > if handle.phase == HandlePhase::Synced {
                    sync
                } else {
                    init
                }
            {
                dropped.push((peer, handle.link));
            }
        }
        for (peer, link) in dropped {
            leader.learners.remove(&peer);
            out.push(Output::Disconnect { peer, link });
        }
        if tick.saturating_sub(leader.last_ping) >= ping_interval {
            leader.last_ping = tick;
            for (&peer, handle) in &leader.learners {
                out.push(Output::Send {
                    to: peer,
                    link: handle.link,
                    msg: PeerMsg::Ping,
                });
            }
        }
        let me = self.cfg.my_id;
        let State::Leading(leader) = &self.state else {
            unreachable!()
        };
        let synced = |id: ServerId| {
            id == me
                || leader
                    .learners
                    .get(&id)
                    .is_some_and(|h| !h.observer && h.phase == HandlePhase::Synced)
        };
        if !self.cfg.quorum.is_quorum(synced) {
            // "Not sufficient followers synced, only synced with sids: ..."
            self.step_down(out);
        }
    }

    pub(super) fn leader_message(
        &mut self,
        from: ServerId,
        link: LinkId,
        msg: PeerMsg,
        out: &mut Vec<Output>,
    ) {
        let tick = self.tick;
        if let PeerMsg::FollowerInfo { accepted_epoch } = msg {
            self.on_follower_info(from, link, accepted_epoch, tick);
            return;
        }
        let leader = leader_mut!(self);
        let Some(handle) = leader.learners.get_mut(&from).filter(|h| h.link == link) else {
            return;
        };
        handle.last_heard = tick;
        let phase = handle.phase;
        let ok = match msg {
            PeerMsg::AckEpoch {
                last_zxid,
                current_epoch,
            } if phase == HandlePhase::LeaderInfoSent => {
                self.on_ack_epoch(from, last_zxid, current_epoch, out);
                true
            }
            PeerMsg::AckNewLeader { epoch, zxid } if phase == HandlePhase::Syncing => {
                let leader = leader_mut!(self);
                let ok = Some(epoch) == leader.epoch;
                if ok {
                    let handle = leader.learners.get_mut(&from).expect("present");
                    handle.phase = HandlePhase::NewLeaderAcked;
                    handle.acked = handle.acked.max(zxid);
                    if leader.established() {
                        self.up_to_date(from, out);
                    }
                }
                ok
            }
            PeerMsg::Ack { zxid } if phase >= HandlePhase::NewLeaderAcked => {
                let last = self.history.last();
                let handle = leader_mut!(self).learners.get_mut(&from).expect("present");
                if zxid <= last && !handle.observer {
                    handle.acked = handle.acked.max(zxid);
                    true
                } else {
                    false
                }
            }
            PeerMsg::Ping => true,
            _ => false,
        };
        if !ok {
            let leader = leader_mut!(self);
            if let Some(handle) = leader.learners.remove(&from) {
                out.push(Output::Disconnect {
                    peer: from,
                    link: handle.link,
                });
            }
        }
    }

    fn on_follower_info(&mut self, from: ServerId, link: LinkId, accepted_epoch: u32, tick: u64) {
        let observer =
            self.cfg.role_of(from) == Some(PeerRole::Observer) || !self.cfg.quorum.is_voter(from);
        let leader = leader_mut!(self);
        leader.learners.insert(
            from,
            Handle {
                link,
                observer,
                phase: HandlePhase::Info,
                accepted_epoch,
                peer_last: Zxid::ZERO,
                acked: Zxid::ZERO,
                last_heard: tick,
            },
        );
        if leader.epoch.is_none() {
            leader.infos.insert(from, accepted_epoch);
        }
    }

    fn on_ack_epoch(
        &mut self,
        from: ServerId,
        last_zxid: Zxid,
        current_epoch: Option<u32>,
        out: &mut Vec<Output>,
    ) {
        let last = self.history.last();
        let voter = self.cfg.quorum.is_voter(from);
        let leader = leader_mut!(self);
        if let Some(current) = current_epoch {
            if !leader.established()
                && leader.phase == LeaderPhase::Discovery
                && (current, last_zxid) > (leader.start_epoch, last)
            {
                // `waitForEpochAck`: "Follower is ahead of the leader": let a
                // better-informed election run.
                self.step_down(out);
                return;
            }
            if voter {
                leader.epoch_acks.insert(from);
            }
        }
        let handle = leader.learners.get_mut(&from).expect("present");
        handle.phase = HandlePhase::EpochAcked;
        handle.peer_last = last_zxid;
        if leader.phase != LeaderPhase::Discovery {
            self.start_sync(from, out);
        }
    }

    /// Everything the leader waits on, re-checked after each input.
    pub(super) fn leader_progress(&mut self, out: &mut Vec<Output>) {
        let me = self.cfg.my_id;
        let leader = leader_mut!(self);
        if leader.epoch.is_none() {
            let infos = &leader.infos;
            if self
                .cfg
                .quorum
                .is_quorum(|id| id == me || infos.contains_key(&id))
            {
                let epoch = infos
                    .values()
                    .copied()
                    .chain([self.accepted_epoch])
                    .max()
                    .expect("at least our own")
                    + 1;
                leader_mut!(self).epoch = Some(epoch);
                self.update_election_vote(epoch);
                self.persist_epoch(EpochKind::Accepted, epoch, out);
            }
        }
        let leader = leader_mut!(self);
        let Some(epoch) = leader.epoch else {
            return;
        };
        if self.accepted_durable < epoch {
            return;
        }
        let mut infos = Vec::new();
        for (&peer, handle) in leader.learners.iter_mut() {
            if handle.phase == HandlePhase::Info {
                if handle.accepted_epoch > epoch {
                    // It promised a later epoch: it will not follow this one.
                    continue;
                }
                handle.phase = HandlePhase::LeaderInfoSent;
                infos.push((peer, handle.link));
            }
        }
        for (peer, link) in infos {
            self.send(out, peer, link, PeerMsg::LeaderInfo { epoch });
        }
        let leader = leader_mut!(self);
        if leader.phase == LeaderPhase::Discovery {
            let acks = &leader.epoch_acks;
            if !self
                .cfg
                .quorum
                .is_quorum(|id| id == me || acks.contains(&id))
            {
                return;
            }
            leader.phase = LeaderPhase::Syncing;
            let ready: Vec<ServerId> = leader
                .learners
                .iter()
                .filter(|(_, h)| h.phase == HandlePhase::EpochAcked)
                .map(|(&id, _)| id)
                .collect();
            for peer in ready {
                self.start_sync(peer, out);
            }
        }
        let leader = leader_mut!(self);
        if leader.phase == LeaderPhase::Syncing {
            let history_end = leader.history_end;
            if !self.log_ops.is_empty() || self.durable < history_end {
                return;
            }
            if self.current_epoch < epoch {
                // currentEpoch only once the history it vouches for is durable.
                self.persist_epoch(EpochKind::Current, epoch, out);
                return;
            }
            if self.current_durable < epoch {
                return;
            }
            let leader = leader_mut!(self);
            let learners = &leader.learners;
            let acked = |id: ServerId| {
                id == me
                    || learners
                        .get(&id)
                        .is_some_and(|h| !h.observer && h.phase >= HandlePhase::NewLeaderAcked)
            };
            if self.cfg.quorum.is_quorum(acked) {
                self.establish(epoch, out);
            }
        }
        if leader_mut!(self).established() {
            self.try_commit(out);
        }
    }

    fn establish(&mut self, epoch: u32, out: &mut Vec<Output>) {
        let leader = leader_mut!(self);
        leader.phase = LeaderPhase::Broadcast;
        leader.next_zxid = Zxid::new(epoch, 1);
        leader.last_ping = self.tick;
        let history_end = leader.history_end;
        for handle in leader.learners.values_mut() {
            // Settled learners need fresh silence budgets in the new phase.
            handle.last_heard = self.tick;
        }
        self.commit_to(history_end, out);
        let waiting: Vec<ServerId> = leader_mut!(self)
            .learners
            .iter()
            .filter(|(_, h)| h.phase == HandlePhase::NewLeaderAcked)
            .map(|(&id, _)| id)
            .collect();
        for peer in waiting {
            self.up_to_date(peer, out);
        }
        self.role_changed(out, epoch);
    }

    /// `UPTODATE`: the learner may serve.
    fn up_to_date(&mut self, peer: ServerId, out: &mut Vec<Output>) {
        let committed = self.committed;
        let handle = leader_mut!(self).learners.get_mut(&peer).expect("present");
        handle.phase = HandlePhase::Synced;
        let link = handle.link;
        self.send(out, peer, link, PeerMsg::UpToDate { committed });
    }

    /// `LearnerHandler.syncFollower`: DIFF, TRUNC or SNAP, the records, `NEWLEADER`.
    fn start_sync(&mut self, peer: ServerId, out: &mut Vec<Output>) {
        let applied = self.applied;
        let committed = self.committed;
        let last = self.history.last();
        let leader = leader_mut!(self);
        let epoch = leader.epoch.expect("decided");
        let established = leader.established();
        let history_end = leader.history_end;
        let handle = leader.learners.get_mut(&peer).expect("present");
        handle.phase = HandlePhase::Syncing;
        let (link, observer, p) = (handle.link, handle.observer, handle.peer_last);
        // Observers get only committed records; from then on, INFORMs.
        let through = match (observer, established) {
            (true, true) => committed,
            (true, false) => history_end,
            (false, _) => last,
        };
        let from = if p <= through && self.history.contains(p) {
            self.send(out, peer, link, PeerMsg::Diff { last_zxid: through });
            p
        } else {
            let below = if p > last {
                Some(last)
            } else {
                self.history.largest_below(p)
            };
            match below {
                Some(t) => {
                    let t = t.min(through);
                    self.send(out, peer, link, PeerMsg::Trunc { zxid: t });
                    t
                }
                None => {
                    out.push(Output::SendSnapshot {
                        to: peer,
                        link,
                        zxid: applied,
                    });
                    applied
                }
            }
        };
        for chunk in chunk_records(self.history.range(from, through)) {
            self.send(out, peer, link, PeerMsg::Proposal { records: chunk });
        }
        self.send(out, peer, link, PeerMsg::NewLeader { epoch });
    }

    /// `Leader.propose` for a batch of sequenced writes.
    pub(super) fn propose(&mut self, records: Vec<TxnRecord>, out: &mut Vec<Output>) {
        let counter_max = self.cfg.zxid_counter_max;
        let leader = leader_mut!(self);
        assert!(
            leader.established(),
            "propose only while next_zxid() is Some"
        );
        assert!(!records.is_empty(), "a batch has records");
        let mut expected = leader.next_zxid;
        for record in &records {
            assert_eq!(
                zxid_of(record),
                expected,
                "records are numbered from next_zxid()"
            );
            assert!(expected.counter() <= counter_max, "zxid counter exhausted");
            expected = expected.next();
        }
        leader.next_zxid = expected;
        let chunks = chunk_records(records.iter());
        let last = zxid_of(records.last().expect("non-empty"));
        for record in records {
            self.history.push(record);
        }
        let leader = leader_mut!(self);
        for chunk in &chunks {
            out.push(Output::AppendLog(chunk.clone()));
            for (&peer, handle) in &leader.learners {
                if !handle.observer && handle.phase >= HandlePhase::Syncing {
                    out.push(Output::Send {
                        to: peer,
                        link: handle.link,
                        msg: PeerMsg::Proposal {
                            records: chunk.clone(),
                        },
                    });
                }
            }
        }
        leader.outstanding.push_back(Batch { last, chunks });
    }

    /// Commits, in order, every batch a quorum's logs hold durably.
    fn try_commit(&mut self, out: &mut Vec<Output>) {
        let me = self.cfg.my_id;
        let own_durable = if self.log_ops.is_empty() {
            self.durable
        } else {
            Zxid::ZERO
        };
        loop {
            let State::Leading(leader) = &self.state else {
                unreachable!()
            };
            let Some(batch) = leader.outstanding.front() else {
                return;
            };
            let last = batch.last;
            let learners = &leader.learners;
            let acked = |id: ServerId| {
                if id == me {
                    own_durable >= last
                } else {
                    learners.get(&id).is_some_and(|h| {
                        !h.observer && h.phase >= HandlePhase::NewLeaderAcked && h.acked >= last
                    })
                }
            };
            if !self.cfg.quorum.is_quorum(acked) {
                return;
            }
            let batch = leader_mut!(self).outstanding.pop_front().expect("checked");
            self.commit_to(batch.last, out);
            let leader = leader_mut!(self);
            for (&peer, handle) in &leader.learners {
                if handle.phase < HandlePhase::Syncing {
                    continue;
                }
                if handle.observer {
                    for chunk in &batch.chunks {
                        out.push(Output::Send {
                            to: peer,
                            link: handle.link,
                            msg: PeerMsg::Inform {
                                records: chunk.clone(),
                            },
                        });
                    }
                } else {
                    out.push(Output::Send {
                        to: peer,
                        link: handle.link,
                        msg: PeerMsg::Commit { zxid: batch.last },
                    });
                }
            }
        }
    }
}
