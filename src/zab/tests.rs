//! Unit tests of the ZAB core: exact outputs of steps, and scenarios that
//! reproduce ZooKeeper's historic data-loss bugs on a small hand-driven
//! cluster (instant FIFO links; disk operations completed only when a test says).

use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::log::{CommitConfig, FlushDone, FlushOutcome, GroupCommit};
use crate::txn::{Txn, TxnOp};
use crate::types::SessionId;

fn record(epoch: u32, counter: u32) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid: Zxid::new(epoch, counter),
        time_ms: 0,
        session: SessionId(1),
        cxid: 0,
        op: TxnOp::Error(0),
    })
}

/// A real durability proof for `zxid`, from a real group commit.
fn durable(zxid: Zxid) -> Durable<Zxid> {
    let mut gc: GroupCommit<()> = GroupCommit::new(CommitConfig::default(), Zxid::ZERO);
    let txn = Txn {
        zxid,
        time_ms: 0,
        session: SessionId(1),
        cxid: 0,
        op: TxnOp::Error(0),
    };
    gc.append(&TxnRecord::encode(&txn), ()).unwrap();
    let flush = gc.begin_flush().unwrap();
    match gc.flush_done(flush.ticket, FlushOutcome::Synced).unwrap() {
        FlushDone::Durable { zxid, .. } => zxid,
        FlushDone::Retry => unreachable!(),
    }
}

fn config(me: ServerId, voters: &[ServerId], observers: &[ServerId]) -> ZabConfig {
    let mut members: Vec<(ServerId, PeerRole)> = voters
        .iter()
        .map(|&id| (id, PeerRole::Participant))
        .collect();
    members.extend(observers.iter().map(|&id| (id, PeerRole::Observer)));
    ZabConfig {
        my_id: me,
        members,
        quorum: QuorumVerifier::majority(voters.iter().copied()).unwrap(),
        init_limit_ticks: 10,
        sync_limit_ticks: 5,
        ping_interval_ticks: 2,
        finalize_wait_ticks: 1,
        notify_interval_ticks_min: 2,
        notify_interval_ticks_max: 8,
        window_txns_max: 100,
        window_bytes_max: 1 << 20,
        zxid_counter_max: ZXID_COUNTER_MAX,
    }
}

fn log_state(records: &[(u32, u32)]) -> LogState {
    let tail: Vec<TxnRecord> = records.iter().map(|&(e, c)| record(e, c)).collect();
    let last = records.last().map_or(Zxid::ZERO, |&(e, c)| Zxid::new(e, c));
    LogState {
        tail,
        tail_base: Zxid::ZERO,
        applied: last,
        committed: Zxid::ZERO,
    }
}

/// What a member did with its disk, in order.
#[derive(Debug, Clone, PartialEq)]
enum DiskOp {
    Append(Vec<Zxid>),
    Truncate(Zxid),
    Install(Zxid),
    Epoch(EpochKind, Epoch),
}

struct Member {
    zab: Zab,
    /// Disk work not yet confirmed.
    pending: VecDeque<DiskOp>,
    /// Everything the member asked of its disk.
    disk_log: Vec<DiskOp>,
    commits: Vec<Zxid>,
    sent: Vec<(ServerId, PeerMsg)>,
    /// Confirm disk work automatically.
    auto_disk: bool,
}

struct Cluster {
    members: BTreeMap<ServerId, Member>,
    inbox: VecDeque<(ServerId, Input)>,
    next_link: LinkId,
}

impl Cluster {
    fn new(
        voters: &[ServerId],
        observers: &[ServerId],
        logs: &[(ServerId, Epochs, LogState)],
    ) -> Cluster {
        let mut members = BTreeMap::new();
        for (id, epochs, log) in logs {
            let zab = Zab::new(config(*id, voters, observers), *epochs, log.clone());
            members.insert(
                *id,
                Member {
                    zab,
                    pending: VecDeque::new(),
                    disk_log: Vec::new(),
                    commits: Vec::new(),
                    sent: Vec::new(),
                    auto_disk: true,
                },
            );
        }
        Cluster {
            members,
            inbox: VecDeque::new(),
            next_link: 0,
        }
    }

    fn link_all(&mut self) {
        let ids: Vec<ServerId> = self.members.keys().copied().collect();
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                self.next_link += 1;
                self.inbox.push_back((
                    a,
                    Input::PeerUp {
                        peer: b,
                        link: self.next_link,
                    },
                ));
                self.inbox.push_back((
                    b,
                    Input::PeerUp {
                        peer: a,
                        link: self.next_link,
                    },
                ));
            }
        }
    }

    fn step(&mut self, id: ServerId, input: Input) {
        let mut out = Vec::new();
        let member = self.members.get_mut(&id).expect("member");
        member.zab.step(input, &mut out);
        for output in out {
            self.perform(id, output);
        }
    }

    fn perform(&mut self, id: ServerId, output: Output) {
        let member = self.members.get_mut(&id).expect("member");
        let op = match output {
            Output::Notify { to, notification } => {
                if self.members.contains_key(&to) {
                    self.inbox.push_back((
                        to,
                        Input::Notification {
                            from: id,
                            notification,
                        },
                    ));
                }
                return;
            }
            Output::Send { to, link, msg } => {
                member.sent.push((to, msg.clone()));
                if self.members.contains_key(&to) {
                    self.inbox.push_back((
                        to,
                        Input::Message {
                            from: id,
                            link,
                            msg,
                        },
                    ));
                }
                return;
            }
            Output::SendSnapshot { to, link, zxid } => {
                member.sent.push((to, PeerMsg::Snap { zxid }));
                self.inbox.push_back((
                    to,
                    Input::Message {
                        from: id,
                        link,
                        msg: PeerMsg::Snap { zxid },
                    },
                ));
                return;
            }
            Output::Commit(zxid) => {
                member.commits.push(zxid);
                return;
            }
            Output::Disconnect { .. } | Output::RoleChanged(_) => return,
            Output::AppendLog(records) => {
                DiskOp::Append(records.iter().map(history::zxid_of).collect())
            }
            Output::TruncateLog(zxid) => DiskOp::Truncate(zxid),
            Output::InstallSnapshot(zxid) => DiskOp::Install(zxid),
            Output::PersistEpoch { kind, epoch } => DiskOp::Epoch(kind, epoch),
        };
        member.disk_log.push(op.clone());
        member.pending.push_back(op);
        if member.auto_disk {
            self.confirm_disk(id);
        }
    }

    /// Completes all of a member's pending disk work, in order.
    fn confirm_disk(&mut self, id: ServerId) {
        while let Some(op) = self.members.get_mut(&id).unwrap().pending.pop_front() {
            let input = match op {
                DiskOp::Append(zxids) => Input::LogDurable(durable(*zxids.last().unwrap())),
                DiskOp::Truncate(zxid) => Input::LogTruncated(zxid),
                DiskOp::Install(zxid) => Input::SnapshotInstalled(zxid),
                DiskOp::Epoch(kind, epoch) => Input::EpochPersisted { kind, epoch },
            };
            self.inbox.push_back((id, input));
        }
    }

    /// Delivers until nothing is in flight.
    fn run(&mut self) {
        let mut steps = 0;
        while let Some((to, input)) = self.inbox.pop_front() {
            if self.members.contains_key(&to) {
                self.step(to, input);
            }
            steps += 1;
            assert!(steps < 100_000, "no quiescence");
        }
    }

    fn tick(&mut self, ticks: usize) {
        for _ in 0..ticks {
            let ids: Vec<ServerId> = self.members.keys().copied().collect();
            for id in ids {
                self.inbox.push_back((id, Input::Tick));
            }
            self.run();
        }
    }

    fn zab(&self, id: ServerId) -> &Zab {
        &self.members[&id].zab
    }
}

fn epochs(accepted: Epoch, current: Epoch) -> Epochs {
    Epochs { accepted, current }
}

#[test]
fn votes_order_by_epoch_then_zxid_then_id() {
    let v = |leader, zxid: Zxid, peer_epoch| Vote {
        leader,
        zxid,
        peer_epoch,
    };
    let a = v(1, Zxid::new(1, 9), 2);
    assert!(
        a.beats(&v(3, Zxid::new(2, 9), 1)),
        "epoch beats a larger zxid and id"
    );
    assert!(v(1, Zxid::new(2, 1), 2).beats(&a), "then the zxid");
    assert!(v(2, Zxid::new(1, 9), 2).beats(&a), "then the id");
    assert!(!a.beats(&a));
}

#[test]
fn the_member_with_the_newest_history_is_elected() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        &[],
        &[
            (1, epochs(1, 1), log_state(&[(1, 1)])),
            (2, epochs(1, 1), log_state(&[(1, 1), (1, 2)])),
            (3, epochs(1, 1), log_state(&[(1, 1)])),
        ],
    );
    c.link_all();
    c.tick(4);
    assert_eq!(c.zab(2).role(), Role::Leading);
    assert!(c.zab(2).serving());
    for id in [1, 3] {
        assert_eq!(c.zab(id).role(), Role::Following);
        assert_eq!(c.zab(id).leader(), Some(2));
        assert!(c.zab(id).serving());
        assert_eq!(
            c.zab(id).last_logged(),
            Zxid::new(1, 2),
            "DIFF brought the missing record"
        );
        assert_eq!(c.zab(id).epochs(), epochs(2, 2));
    }
    // The whole history of the leader is committed everywhere.
    for id in [1, 2, 3] {
        assert_eq!(c.zab(id).committed(), Zxid::new(1, 2));
    }
}

#[test]
fn observers_learn_the_leader_but_never_vote_or_lead() {
    // The observer holds the newest history; it still may not lead, and the
    // two voters alone are a quorum of two.
    let mut c = Cluster::new(
        &[1, 2],
        &[9],
        &[
            (1, epochs(1, 1), log_state(&[(1, 1)])),
            (2, epochs(1, 1), log_state(&[(1, 1)])),
            (9, epochs(1, 1), log_state(&[(1, 1)])),
        ],
    );
    c.link_all();
    c.tick(4);
    assert_eq!(c.zab(2).role(), Role::Leading);
    assert_eq!(c.zab(9).role(), Role::Observing);
    assert_eq!(c.zab(9).leader(), Some(2));
    assert!(c.zab(9).serving());
    let next = c.zab(2).next_zxid().expect("established");
    c.step(
        2,
        Input::Propose(vec![record(next.epoch(), next.counter())]),
    );
    c.run();
    assert_eq!(c.zab(9).committed(), next, "observers get INFORM");
    assert!(
        c.members[&9]
            .sent
            .iter()
            .all(|(_, m)| !matches!(m, PeerMsg::Ack { .. })),
        "observers never ack proposals"
    );
}

#[test]
fn a_follower_acks_only_what_its_log_proved_durable() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        &[],
        &[
            (1, epochs(0, 0), log_state(&[])),
            (2, epochs(0, 0), log_state(&[])),
            (3, epochs(0, 0), log_state(&[])),
        ],
    );
    c.link_all();
    c.tick(4);
    assert_eq!(c.zab(3).role(), Role::Leading);
    c.members.get_mut(&1).unwrap().auto_disk = false;
    let next = c.zab(3).next_zxid().unwrap();
    c.step(
        3,
        Input::Propose(vec![record(next.epoch(), next.counter())]),
    );
    c.run();
    let acks = |c: &Cluster| {
        c.members[&1]
            .sent
            .iter()
            .filter(|(_, m)| matches!(m, PeerMsg::Ack { .. }))
            .count()
    };
    assert_eq!(acks(&c), 0, "appended, not durable: no ACK");
    assert_eq!(c.members[&1].pending.len(), 1);
    c.confirm_disk(1);
    c.run();
    assert_eq!(acks(&c), 1, "ACK after LogDurable");
}

/// ZOOKEEPER-3911 / -2678: a follower must not ack NEWLEADER before the
/// history it was sent is durable, and must persist currentEpoch only after
/// that history, so a crash in between cannot leave it with the new epoch and
/// the old log (which would let it win an election and lose committed txns).
#[test]
fn newleader_is_acked_only_after_history_then_current_epoch_are_durable() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        &[],
        &[
            (1, epochs(1, 1), log_state(&[])),
            (2, epochs(1, 1), log_state(&[])),
            (3, epochs(1, 1), log_state(&[(1, 1), (1, 2), (1, 3)])),
        ],
    );
    c.members.get_mut(&1).unwrap().auto_disk = false;
    c.link_all();
    c.tick(4);
    // Member 1 promised the epoch only once acceptedEpoch was durable.
    let m1 = &c.members[&1];
    assert_eq!(
        m1.pending.front(),
        Some(&DiskOp::Epoch(EpochKind::Accepted, 2))
    );
    assert!(!m1
        .sent
        .iter()
        .any(|(_, m)| matches!(m, PeerMsg::AckEpoch { .. })));
    c.confirm_disk(1);
    c.run();
    // Now it got the DIFF, the records and NEWLEADER: the records are appended
    // but not durable, so neither currentEpoch nor the ack may go out.
    let m1 = &c.members[&1];
    assert_eq!(
        m1.pending.iter().cloned().collect::<Vec<_>>(),
        vec![DiskOp::Append(vec![
            Zxid::new(1, 1),
            Zxid::new(1, 2),
            Zxid::new(1, 3)
        ])]
    );
    assert!(!m1
        .sent
        .iter()
        .any(|(_, m)| matches!(m, PeerMsg::AckNewLeader { .. })));
    c.confirm_disk(1);
    c.run();
    let m1 = &c.members[&1];
    assert_eq!(
        m1.pending.iter().cloned().collect::<Vec<_>>(),
        vec![DiskOp::Epoch(EpochKind::Current, 2)],
        "currentEpoch is written only after the history is durable"
    );
    assert!(!m1
        .sent
        .iter()
        .any(|(_, m)| matches!(m, PeerMsg::AckNewLeader { .. })));
    c.confirm_disk(1);
    c.run();
    assert!(c.members[&1].sent.iter().any(
        |(_, m)| matches!(m, PeerMsg::AckNewLeader { epoch: 2, zxid } if *zxid == Zxid::new(1, 3))
    ));
    assert!(c.zab(1).serving());
    // Epoch files were written accepted first, current second, never current > accepted.
    let epochs_written: Vec<DiskOp> = c.members[&1]
        .disk_log
        .iter()
        .filter(|op| matches!(op, DiskOp::Epoch(..)))
        .cloned()
        .collect();
    assert_eq!(
        epochs_written,
        vec![
            DiskOp::Epoch(EpochKind::Accepted, 2),
            DiskOp::Epoch(EpochKind::Current, 2)
        ]
    );
}

/// ZOOKEEPER-1549-style truncation on rejoin: a member holding an uncommitted
/// txn the new leader lacks must cut it (TRUNC) before taking the new history.
#[test]
fn a_rejoining_member_truncates_what_the_leader_lacks() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        &[],
        &[
            (1, epochs(1, 1), log_state(&[(1, 1), (1, 2)])),
            (2, epochs(1, 1), log_state(&[(1, 1), (1, 2)])),
        ],
    );
    c.link_all();
    c.tick(4);
    assert_eq!(c.zab(2).role(), Role::Leading);
    let next = c.zab(2).next_zxid().unwrap();
    assert_eq!(next, Zxid::new(2, 1));
    c.step(2, Input::Propose(vec![record(2, 1)]));
    c.run();
    // Member 3 comes back with 1:3, proposed by the old leader and never committed.
    let zab = Zab::new(
        config(3, &[1, 2, 3], &[]),
        epochs(1, 1),
        log_state(&[(1, 1), (1, 2), (1, 3)]),
    );
    c.members.insert(
        3,
        Member {
            zab,
            pending: VecDeque::new(),
            disk_log: Vec::new(),
            commits: Vec::new(),
            sent: Vec::new(),
            auto_disk: true,
        },
    );
    for (peer, link) in [(1, 101), (2, 102)] {
        c.inbox.push_back((3, Input::PeerUp { peer, link }));
        c.inbox.push_back((peer, Input::PeerUp { peer: 3, link }));
    }
    c.tick(4);
    assert_eq!(c.zab(3).leader(), Some(2));
    assert!(c.zab(3).serving());
    let ops = &c.members[&3].disk_log;
    let trunc = ops
        .iter()
        .position(|op| *op == DiskOp::Truncate(Zxid::new(1, 2)));
    let append = ops
        .iter()
        .position(|op| *op == DiskOp::Append(vec![Zxid::new(2, 1)]));
    assert!(
        trunc.is_some() && append > trunc,
        "TRUNC to 1:2, then 2:1: {ops:?}"
    );
    assert_eq!(c.zab(3).last_logged(), Zxid::new(2, 1));
    assert_eq!(c.zab(3).committed(), Zxid::new(2, 1));
}

/// A SNAP carries only committed state (the tree at the leader's applied
/// zxid), never outstanding proposals; those follow as proposals.
#[test]
fn snapshots_hold_only_committed_state() {
    let cfg_small = |id| {
        let mut cfg = config(id, &[1, 2, 3], &[]);
        cfg.window_txns_max = 2;
        cfg
    };
    let mut c = Cluster::new(&[1, 2, 3], &[], &[]);
    for id in [1, 2] {
        let zab = Zab::new(cfg_small(id), epochs(0, 0), log_state(&[]));
        c.members.insert(
            id,
            Member {
                zab,
                pending: VecDeque::new(),
                disk_log: Vec::new(),
                commits: Vec::new(),
                sent: Vec::new(),
                auto_disk: true,
            },
        );
    }
    c.link_all();
    c.tick(4);
    assert_eq!(c.zab(2).role(), Role::Leading);
    for counter in 1..=6 {
        c.step(2, Input::Propose(vec![record(1, counter)]));
        c.run();
        c.tick(1);
    }
    assert_eq!(c.zab(2).committed(), Zxid::new(1, 6));
    // An outstanding proposal: member 1 stops confirming its disk.
    c.members.get_mut(&1).unwrap().auto_disk = false;
    c.step(2, Input::Propose(vec![record(1, 7)]));
    c.run();
    assert_eq!(c.zab(2).committed(), Zxid::new(1, 6));
    // Member 3 joins empty: too far behind the window for a DIFF.
    let zab = Zab::new(cfg_small(3), epochs(0, 0), log_state(&[]));
    c.members.insert(
        3,
        Member {
            zab,
            pending: VecDeque::new(),
            disk_log: Vec::new(),
            commits: Vec::new(),
            sent: Vec::new(),
            auto_disk: true,
        },
    );
    for (peer, link) in [(1, 201), (2, 202)] {
        c.inbox.push_back((3, Input::PeerUp { peer, link }));
        c.inbox.push_back((peer, Input::PeerUp { peer: 3, link }));
    }
    c.tick(2);
    let to3: Vec<&PeerMsg> = c.members[&2]
        .sent
        .iter()
        .filter(|(to, _)| *to == 3)
        .map(|(_, m)| m)
        .collect();
    let snap = to3
        .iter()
        .position(|m| matches!(m, PeerMsg::Snap { zxid } if *zxid == Zxid::new(1, 6)));
    let proposal = to3.iter().position(|m| {
        matches!(m, PeerMsg::Proposal { records } if history::zxid_of(&records[0]) == Zxid::new(1, 7))
    });
    assert!(
        snap.is_some() && proposal > snap,
        "SNAP at the committed 1:6, then 1:7: {to3:?}"
    );
    assert!(c.zab(3).serving());
    assert_eq!(c.zab(3).last_logged(), Zxid::new(1, 7));
    // Member 3's durable ack of 1:7 completes a quorum with the leader.
    assert_eq!(c.zab(2).committed(), Zxid::new(1, 7));
    assert_eq!(c.zab(3).committed(), Zxid::new(1, 7));
}

#[test]
fn a_leader_without_a_synced_quorum_steps_down_and_followers_leave_a_silent_leader() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        &[],
        &[
            (1, epochs(0, 0), log_state(&[])),
            (2, epochs(0, 0), log_state(&[])),
            (3, epochs(0, 0), log_state(&[])),
        ],
    );
    c.link_all();
    c.tick(4);
    assert_eq!(c.zab(3).role(), Role::Leading);
    // Members 1 and 2 stop hearing from 3 and 3 from them (their messages vanish).
    let isolated = c.members.remove(&3).unwrap();
    c.tick(6);
    for id in [1, 2] {
        assert_ne!(
            c.zab(id).leader(),
            Some(3),
            "a leader silent past syncLimit is left"
        );
    }
    c.members.insert(3, isolated);
    let mut rest = c.members.split_off(&3);
    let mut leader_alone = Cluster {
        members: std::mem::take(&mut rest),
        inbox: VecDeque::new(),
        next_link: 0,
    };
    leader_alone.tick(7);
    assert_eq!(
        leader_alone.zab(3).role(),
        Role::Looking,
        "no synced quorum: step down"
    );
    assert_eq!(leader_alone.zab(3).next_zxid(), None);
}

#[test]
fn an_exhausted_zxid_counter_forces_a_new_epoch() {
    let mut c = Cluster::new(&[1], &[], &[(1, epochs(0, 0), log_state(&[]))]);
    let mut cfg = config(1, &[1], &[]);
    cfg.zxid_counter_max = 3;
    c.members.get_mut(&1).unwrap().zab = Zab::new(cfg, epochs(0, 0), log_state(&[]));
    c.tick(2);
    assert_eq!(c.zab(1).next_zxid(), Some(Zxid::new(1, 1)));
    assert_eq!(c.zab(1).zxids_left(), 3);
    c.step(
        1,
        Input::Propose(vec![record(1, 1), record(1, 2), record(1, 3)]),
    );
    c.run();
    assert_eq!(c.zab(1).committed(), Zxid::new(1, 3));
    assert_eq!(c.zab(1).next_zxid(), None, "nothing left in epoch 1");
    c.tick(3);
    assert_eq!(
        c.zab(1).next_zxid(),
        Some(Zxid::new(2, 1)),
        "a new epoch restarts the counter"
    );
}
