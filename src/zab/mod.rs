//! ZAB, the pure core: ZooKeeper's fast leader election, discovery,
//! synchronization and broadcast as one state machine. `step(Input)` appends
//! [`Output`]s to a caller's vector; there is no I/O, no clock (time is
//! [`Input::Tick`]) and no randomness. The runtime on the sequencer core owns
//! one [`Zab`] for the life of the process and performs its outputs; the
//! simulator (`sim`) drives several of them against a simulated network and disk.
//!
//! # Phases (ZooKeeper 3.9 `quorum` package, ZAB 1.0)
//!
//! * **Election** (`FastLeaderElection`): votes `(leader, zxid, peerEpoch)`
//!   ordered by `peerEpoch`, then zxid, then id ([`Vote::beats`]); a logical
//!   clock per round; done when a quorum agrees and no better vote arrives
//!   within `finalize_wait_ticks`. A member that finds the others already
//!   following a leader joins it. Observers learn the leader but never vote.
//! * **Discovery** (`Leader.getEpochToPropose`, `waitForEpochAck`): learners
//!   send `FOLLOWERINFO` with their `acceptedEpoch`; once a quorum is in, the
//!   new epoch is one more than every accepted epoch seen; the leader persists
//!   it as its `acceptedEpoch` before sending `LEADERINFO`; a learner persists it
//!   before `ACKEPOCH`. A learner acks an epoch for the quorum only once, which
//!   makes at most one leader per epoch.
//! * **Synchronization** (`LearnerHandler.syncFollower`, `Learner.syncWithLeader`):
//!   `DIFF`, `TRUNC` or `SNAP` plus the missing records, then `NEWLEADER`. A
//!   learner acks `NEWLEADER` only after its log is durable through the history
//!   it was sent and, after that, its `currentEpoch` is durable (the fixes of
//!   ZOOKEEPER-1549, -2678 and -3911). A quorum of such acks (the leader's own
//!   log durable and `currentEpoch` persisted among them) commits the leader's
//!   whole log: the epoch is established and `UPTODATE` goes out.
//! * **Broadcast** (`Leader.propose`, `processAck`, `commit`): proposals carry the
//!   sequencer's [`TxnRecord`] bytes unchanged; a follower acks only in response
//!   to [`Input::LogDurable`], whose [`Durable`] proof only the group-commit log
//!   can make; the leader commits batches in zxid order once a quorum's logs
//!   (its own included) are durable through them; observers get `INFORM`.
//!   Pings every `ping_interval_ticks`; a learner leaves a leader silent for
//!   `sync_limit_ticks`; a leader steps down when the synced voters it heard
//!   from within `sync_limit_ticks` are no longer a quorum, and when its zxid
//!   counter is exhausted (a new epoch restarts it).
//!
//! # How the runtime drives it
//!
//! Give it every input, in the order things happened, and perform its outputs in
//! the order given before the next `step`:
//!
//! * [`Input::Tick`] at a fixed period (the limits in [`ZabConfig`] count these).
//! * Quorum-port links: [`Input::PeerUp`] / [`Input::PeerDown`] with the link's
//!   number, then every frame as [`Input::Message`] with that number. Send
//!   [`Output::Send`] only on the link it names (drop it if that link is gone);
//!   close the link on [`Output::Disconnect`].
//! * Election port: [`Input::Notification`] / [`Output::Notify`], best effort.
//! * The log: perform [`Output::AppendLog`], [`Output::TruncateLog`] and
//!   [`Output::InstallSnapshot`] in order. Report group-commit durability with
//!   [`Input::LogDurable`]; a truncation with [`Input::LogTruncated`] once the
//!   log ends at that zxid durably (flush or drop earlier appends first, and
//!   report no durability of records appended before it afterwards); a snapshot
//!   with [`Input::SnapshotInstalled`] once the received snapshot is durable
//!   and the old log is gone.
//! * [`Output::PersistEpoch`]: write `acceptedEpoch`/`currentEpoch` durably, in
//!   order, then [`Input::EpochPersisted`].
//! * [`Output::Commit`]: apply the log through that zxid (the records are
//!   [`Zab::records`] until the next step). The runtime's tree must always be
//!   at [`Zab::applied`]: [`Output::TruncateLog`] below it means rebuilding the
//!   tree (snapshot + log replay) to the truncation point. Never snapshot to
//!   disk past [`Zab::committed`].
//! * [`Output::SendSnapshot`]: stream a snapshot of the tree at that zxid on
//!   that link before anything else sent there later; the receiving runtime
//!   hands the core [`PeerMsg::Snap`] once the whole image arrived, keeps the
//!   image, and installs it on [`Output::InstallSnapshot`].
//! * Leader: propose with [`Input::Propose`] only while [`Zab::next_zxid`] is
//!   `Some`, numbering records consecutively from it.

mod election;
mod history;
mod leader;
mod learner;
pub mod msg;
pub mod quorum;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use msg::{
    DecodeError, Epoch, Notification, PeerMsg, ServerState, Vote, MSG_BYTES_MAX, MSG_RECORDS_MAX,
    MSG_RECORD_BYTES_MAX,
};
pub use quorum::{QuorumError, QuorumVerifier};

use crate::config::{Config, PeerRole};
use crate::log::Durable;
use crate::txn::TxnRecord;
use crate::types::{ServerId, Zxid};
use election::Election;
use history::History;
use leader::Leader;
use learner::Learner;

/// Names one quorum-port link (the runtime numbers them, never reusing one).
pub type LinkId = u64;

/// ZooKeeper's `finalizeWait`: the grace after a quorum agrees.
pub const FINALIZE_WAIT_MS: u32 = 200;

/// ZooKeeper's `maxNotificationInterval`.
pub const NOTIFICATION_INTERVAL_MAX_MS: u32 = 60_000;

/// `zookeeper.commitLogCount`: records kept in memory for DIFF syncs.
pub const WINDOW_TXNS_MAX_DEFAULT: usize = 500;

/// Bytes of records kept in memory for DIFF syncs.
pub const WINDOW_BYTES_MAX_DEFAULT: usize = 64 << 20;

/// The largest zxid counter a leader assigns; it steps down to start a new
/// epoch once it has (ZooKeeper: "zxid lower 32 bits have rolled over").
pub const ZXID_COUNTER_MAX: u32 = u32::MAX - 1;

/// The core's settings, in ticks.
#[derive(Clone, Debug)]
pub struct ZabConfig {
    /// This member's id.
    pub my_id: ServerId,
    /// Every member and its role (this one included).
    pub members: Vec<(ServerId, PeerRole)>,
    /// Who makes a quorum.
    pub quorum: QuorumVerifier,
    /// `initLimit`: discovery and sync must finish within this many ticks of silence.
    pub init_limit_ticks: u32,
    /// `syncLimit`: a leader silent this long is abandoned, a learner dropped.
    pub sync_limit_ticks: u32,
    /// A leader pings its learners this often.
    pub ping_interval_ticks: u32,
    /// `finalizeWait`: ticks to wait for a better vote once a quorum agrees (0: none).
    pub finalize_wait_ticks: u32,
    /// Notifications are re-sent after this many ticks without a decision,
    /// doubling up to `notify_interval_ticks_max`.
    pub notify_interval_ticks_min: u32,
    /// See `notify_interval_ticks_min`.
    pub notify_interval_ticks_max: u32,
    /// Records the DIFF window keeps at most (older learners get a SNAP).
    pub window_txns_max: usize,
    /// Bytes the DIFF window keeps at most.
    pub window_bytes_max: usize,
    /// The largest zxid counter a leader assigns before it forces a new epoch.
    pub zxid_counter_max: u32,
}

/// Why a `zoo.cfg` cannot run an ensemble.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZabConfigError {
    /// `myid` is not among the `server.N` lines.
    #[error("myid {0} has no server.{0} line")]
    NotAMember(ServerId),
    /// The quorum configuration is unusable.
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    /// A limit of zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl ZabConfig {
    /// The settings `zoo.cfg` gives, for a runtime that ticks the core every
    /// `tick_ms` milliseconds.
    pub fn from_config(config: &Config, tick_ms: u32) -> Result<ZabConfig, ZabConfigError> {
        assert!(tick_ms > 0);
        if !config.servers.iter().any(|s| s.id == config.server_id) {
            return Err(ZabConfigError::NotAMember(config.server_id));
        }
        let members: Vec<(ServerId, PeerRole)> =
            config.servers.iter().map(|s| (s.id, s.role)).collect();
        let quorum = if config.quorum_groups.is_empty() {
            QuorumVerifier::majority(
                members
                    .iter()
                    .filter(|(_, role)| *role == PeerRole::Participant)
                    .map(|(id, _)| *id),
            )?
        } else {
            QuorumVerifier::hierarchical(&config.quorum_groups, &config.quorum_weights)?
        };
        let ticks = |ms: u64| u32::try_from((ms / u64::from(tick_ms)).max(1)).unwrap_or(u32::MAX);
        let tick_time = u64::from(config.tick_time_ms);
        if config.init_limit == 0 {
            return Err(ZabConfigError::Zero("initLimit"));
        }
        if config.sync_limit == 0 {
            return Err(ZabConfigError::Zero("syncLimit"));
        }
        Ok(ZabConfig {
            my_id: config.server_id,
            members,
            quorum,
            init_limit_ticks: ticks(tick_time * u64::from(config.init_limit)),
            sync_limit_ticks: ticks(tick_time * u64::from(config.sync_limit)),
            ping_interval_ticks: ticks(tick_time / 2),
            finalize_wait_ticks: ticks(u64::from(FINALIZE_WAIT_MS)),
            notify_interval_ticks_min: ticks(u64::from(FINALIZE_WAIT_MS)),
            notify_interval_ticks_max: ticks(u64::from(NOTIFICATION_INTERVAL_MAX_MS)),
            window_txns_max: WINDOW_TXNS_MAX_DEFAULT,
            window_bytes_max: WINDOW_BYTES_MAX_DEFAULT,
            zxid_counter_max: ZXID_COUNTER_MAX,
        })
    }

    fn role_of(&self, id: ServerId) -> Option<PeerRole> {
        self.members.iter().find(|(m, _)| *m == id).map(|(_, r)| *r)
    }
}

/// `acceptedEpoch` and `currentEpoch` as the files say at startup (0 when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// The last epoch this member promised to follow (`acceptedEpoch`).
    pub accepted: Epoch,
    /// The epoch of the last leader whose history this member holds (`currentEpoch`).
    pub current: Epoch,
}

/// Which epoch file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpochKind {
    /// `acceptedEpoch`.
    Accepted,
    /// `currentEpoch`.
    Current,
}

/// The local log and tree at startup.
#[derive(Clone, Debug, Default)]
pub struct LogState {
    /// The newest records of the log, oldest first (up to the DIFF window's
    /// size; more are ignored from the front).
    pub tail: Vec<TxnRecord>,
    /// The zxid just before `tail[0]` (the snapshot's zxid if the tail starts
    /// right after it, 0 for an empty history); the log's end if `tail` is empty.
    pub tail_base: Zxid,
    /// The zxid the runtime's tree is at (after recovery: the log's end).
    pub applied: Zxid,
    /// A zxid known committed (the newest snapshot's).
    pub committed: Zxid,
}

/// What happened, for the core.
#[derive(Debug)]
pub enum Input {
    /// A period passed.
    Tick,
    /// A quorum-port link to `peer` is up.
    PeerUp {
        /// The member.
        peer: ServerId,
        /// The link's number.
        link: LinkId,
    },
    /// The quorum-port link `link` to `peer` is gone.
    PeerDown {
        /// The member.
        peer: ServerId,
        /// The link's number.
        link: LinkId,
    },
    /// An election notification arrived.
    Notification {
        /// The sender.
        from: ServerId,
        /// What it says.
        notification: Notification,
    },
    /// A quorum-port message arrived on `link`.
    Message {
        /// The sender.
        from: ServerId,
        /// The link it came on.
        link: LinkId,
        /// The message.
        msg: PeerMsg,
    },
    /// Leader: sequenced client writes to replicate, numbered from [`Zab::next_zxid`].
    Propose(Vec<TxnRecord>),
    /// The group-commit log is durable through this zxid.
    LogDurable(Durable<Zxid>),
    /// [`Output::TruncateLog`] is done: the log ends at this zxid, durably.
    LogTruncated(Zxid),
    /// [`Output::InstallSnapshot`] is done: the snapshot is durable and the old log gone.
    SnapshotInstalled(Zxid),
    /// [`Output::PersistEpoch`] is done.
    EpochPersisted {
        /// Which file.
        kind: EpochKind,
        /// The value now on disk.
        epoch: Epoch,
    },
}

/// This member's part in the ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Electing a leader.
    Looking,
    /// Following a leader (voting).
    Following,
    /// Leading.
    Leading,
    /// Observing a leader (not voting).
    Observing,
}

/// A role change, as [`Output::RoleChanged`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleChange {
    /// The new role.
    pub role: Role,
    /// The leader, once known.
    pub leader: Option<ServerId>,
    /// The epoch being established or served (0 while looking).
    pub epoch: Epoch,
    /// Whether this member may serve clients: a leader whose epoch is
    /// established, or a learner after `UPTODATE`.
    pub serving: bool,
}

/// What the runtime must do.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send an election notification (election port, best effort).
    Notify {
        /// The member.
        to: ServerId,
        /// The notification.
        notification: Notification,
    },
    /// Send a message on quorum-port link `link` to `to`; drop it if that link is gone.
    Send {
        /// The member.
        to: ServerId,
        /// The link.
        link: LinkId,
        /// The message.
        msg: PeerMsg,
    },
    /// Close this link (the relationship over it is over).
    Disconnect {
        /// The member.
        peer: ServerId,
        /// The link.
        link: LinkId,
    },
    /// Append these records to the log, after everything appended before.
    AppendLog(Arc<[TxnRecord]>),
    /// Cut the log back to end at this zxid; confirm with [`Input::LogTruncated`].
    TruncateLog(Zxid),
    /// Replace tree, sessions and log by the snapshot received with
    /// [`PeerMsg::Snap`]; confirm with [`Input::SnapshotInstalled`].
    InstallSnapshot(Zxid),
    /// Send `SNAP` and the snapshot of the tree at `zxid` on `link`.
    SendSnapshot {
        /// The learner.
        to: ServerId,
        /// The link.
        link: LinkId,
        /// The snapshot's zxid (the tree at [`Zab::applied`]).
        zxid: Zxid,
    },
    /// Write an epoch file durably; confirm with [`Input::EpochPersisted`].
    PersistEpoch {
        /// Which file.
        kind: EpochKind,
        /// The value.
        epoch: Epoch,
    },
    /// Everything in the log through this zxid is committed: apply it.
    Commit(Zxid),
    /// The role changed.
    RoleChanged(RoleChange),
}

/// The log operations waiting for their confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogOp {
    Truncate(Zxid),
    Snapshot(Zxid),
}

/// What the member is doing.
#[derive(Debug)]
enum State {
    Looking(Election),
    Learning(Learner),
    Leading(Leader),
}

/// The ZAB state machine of one member. Lives on the sequencer core.
#[derive(Debug)]
pub struct Zab {
    cfg: ZabConfig,
    voter: bool,
    tick: u64,
    started: bool,
    /// In memory, updated when the write is asked for.
    accepted_epoch: Epoch,
    current_epoch: Epoch,
    /// What the epoch files are known to hold.
    accepted_durable: Epoch,
    current_durable: Epoch,
    history: History,
    durable: Zxid,
    log_ops: Vec<LogOp>,
    applied: Zxid,
    committed: Zxid,
    /// Quorum-port links that are up.
    links: BTreeMap<ServerId, LinkId>,
    /// The election's logical clock.
    election_clock: u64,
    /// The vote that ended the last election, and its logical clock.
    decided: Option<(Vote, u64)>,
    /// `FOLLOWERINFO`s that arrived before this member knew it leads (a
    /// learner may decide first): its accept backlog, replayed on leading.
    early_infos: BTreeMap<ServerId, (LinkId, Epoch)>,
    state: State,
}

impl Zab {
    /// A member starting up, looking for a leader (its first step starts the election).
    pub fn new(cfg: ZabConfig, epochs: Epochs, log: LogState) -> Zab {
        let role = cfg.role_of(cfg.my_id).expect("ZabConfig lists this member");
        assert!(
            epochs.current <= epochs.accepted,
            "currentEpoch never passes acceptedEpoch"
        );
        let mut tail = log.tail;
        if tail.len() > cfg.window_txns_max {
            tail.drain(..tail.len() - cfg.window_txns_max);
        }
        let history = History::new(
            log.tail_base,
            tail,
            cfg.window_txns_max,
            cfg.window_bytes_max,
        );
        let last = history.last();
        assert!(
            log.committed <= log.applied && log.applied <= last,
            "committed <= applied <= last"
        );
        assert!(
            log.applied >= history.base(),
            "the window holds every unapplied record"
        );
        Zab {
            voter: role == PeerRole::Participant && cfg.quorum.is_voter(cfg.my_id),
            cfg,
            tick: 0,
            started: false,
            accepted_epoch: epochs.accepted,
            current_epoch: epochs.current,
            accepted_durable: epochs.accepted,
            current_durable: epochs.current,
            history,
            durable: last,
            log_ops: Vec::new(),
            applied: log.applied,
            committed: log.committed,
            links: BTreeMap::new(),
            election_clock: 0,
            decided: None,
            early_infos: BTreeMap::new(),
            state: State::Looking(Election::idle()),
        }
    }

    /// Handles one input, appending what to do to `out`.
    pub fn step(&mut self, input: Input, out: &mut Vec<Output>) {
        if !self.started {
            self.started = true;
            self.start_election(out);
        }
        match input {
            Input::Tick => {
                self.tick += 1;
                self.history.evict(self.applied);
                self.on_tick(out);
            }
            Input::PeerUp { peer, link } => self.on_peer_up(peer, link, out),
            Input::PeerDown { peer, link } => {
                if self.links.get(&peer) == Some(&link) {
                    self.links.remove(&peer);
                    self.early_infos.remove(&peer);
                    self.on_peer_down(peer, link, out);
                }
            }
            Input::Notification { from, notification } => {
                self.on_notification(from, notification, out)
            }
            Input::Message { from, link, msg } => {
                if self.links.get(&from) == Some(&link) {
                    self.on_message(from, link, msg, out);
                }
            }
            Input::Propose(records) => self.propose(records, out),
            Input::LogDurable(durable) => self.on_log_durable(durable.zxid()),
            Input::LogTruncated(zxid) => self.on_log_op_done(LogOp::Truncate(zxid)),
            Input::SnapshotInstalled(zxid) => self.on_log_op_done(LogOp::Snapshot(zxid)),
            Input::EpochPersisted { kind, epoch } => match kind {
                EpochKind::Accepted => self.accepted_durable = self.accepted_durable.max(epoch),
                EpochKind::Current => self.current_durable = self.current_durable.max(epoch),
            },
        }
        self.progress(out);
    }

    /// The current role.
    pub fn role(&self) -> Role {
        match &self.state {
            State::Looking(_) => Role::Looking,
            State::Learning(l) if l.observer => Role::Observing,
            State::Learning(_) => Role::Following,
            State::Leading(_) => Role::Leading,
        }
    }

    /// The leader this member follows or is, once elected.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.state {
            State::Looking(_) => None,
            State::Learning(l) => Some(l.leader),
            State::Leading(_) => Some(self.cfg.my_id),
        }
    }

    /// Whether this member may serve clients (established leader, or synced learner).
    pub fn serving(&self) -> bool {
        match &self.state {
            State::Looking(_) => false,
            State::Learning(l) => l.serving(),
            State::Leading(l) => l.established(),
        }
    }

    /// Leader: the zxid the next proposed record must carry; `None` unless
    /// this member leads an established epoch with zxids left.
    pub fn next_zxid(&self) -> Option<Zxid> {
        match &self.state {
            State::Leading(l) if l.established() => {
                let next = l.next_zxid;
                (next.counter() <= self.cfg.zxid_counter_max).then_some(next)
            }
            _ => None,
        }
    }

    /// Leader: how many more records this epoch can number.
    pub fn zxids_left(&self) -> u32 {
        self.next_zxid()
            .map_or(0, |next| self.cfg.zxid_counter_max - next.counter() + 1)
    }

    /// The zxid the runtime's tree must be at.
    pub fn applied(&self) -> Zxid {
        self.applied
    }

    /// The newest zxid known committed.
    pub fn committed(&self) -> Zxid {
        self.committed
    }

    /// The log's last zxid, durable or not.
    pub fn last_logged(&self) -> Zxid {
        self.history.last()
    }

    /// How far the log is known durable.
    pub fn durable(&self) -> Zxid {
        self.durable
    }

    /// `acceptedEpoch` and `currentEpoch` (in memory; the files may lag until confirmed).
    pub fn epochs(&self) -> Epochs {
        Epochs {
            accepted: self.accepted_epoch,
            current: self.current_epoch,
        }
    }

    /// The log's records after `after` through `through`, from the in-memory
    /// window: every record after [`Zab::applied`] is there.
    pub fn records(&self, after: Zxid, through: Zxid) -> impl Iterator<Item = &TxnRecord> {
        self.history.range(after.max(self.history.base()), through)
    }

    /// This member's id.
    pub fn my_id(&self) -> ServerId {
        self.cfg.my_id
    }

    fn on_tick(&mut self, out: &mut Vec<Output>) {
        match &self.state {
            State::Looking(_) => self.election_tick(out),
            State::Learning(_) => self.learner_tick(out),
            State::Leading(_) => self.leader_tick(out),
        }
    }

    fn on_peer_up(&mut self, peer: ServerId, link: LinkId, out: &mut Vec<Output>) {
        if peer == self.cfg.my_id || self.cfg.role_of(peer).is_none() {
            return;
        }
        if let Some(old) = self.links.insert(peer, link) {
            // The runtime reports the old link's end too; act on it now.
            self.on_peer_down(peer, old, out);
        }
        if let State::Learning(_) = self.state {
            self.learner_peer_up(peer, link, out);
        }
    }

    fn on_peer_down(&mut self, peer: ServerId, link: LinkId, out: &mut Vec<Output>) {
        match &self.state {
            State::Looking(_) => {}
            State::Learning(_) => self.learner_peer_down(peer, link, out),
            State::Leading(_) => self.leader_peer_down(peer, link),
        }
    }

    fn on_message(&mut self, from: ServerId, link: LinkId, msg: PeerMsg, out: &mut Vec<Output>) {
        if let (PeerMsg::FollowerInfo { accepted_epoch }, false) =
            (&msg, matches!(self.state, State::Leading(_)))
        {
            self.early_infos.insert(from, (link, *accepted_epoch));
            return;
        }
        match &self.state {
            State::Looking(_) => {}
            State::Learning(_) => self.learner_message(from, link, msg, out),
            State::Leading(_) => self.leader_message(from, link, msg, out),
        }
    }

    fn progress(&mut self, out: &mut Vec<Output>) {
        match &self.state {
            State::Looking(_) => {}
            State::Learning(_) => self.learner_progress(out),
            State::Leading(_) => self.leader_progress(out),
        }
    }

    fn on_log_durable(&mut self, zxid: Zxid) {
        if !self.log_ops.is_empty() {
            // Durability reported across a truncation or snapshot install is
            // not about the log as it is now.
            return;
        }
        assert!(
            zxid <= self.history.last(),
            "the log cannot be durable through {zxid} past its end {}",
            self.history.last()
        );
        self.durable = self.durable.max(zxid);
    }

    fn on_log_op_done(&mut self, op: LogOp) {
        assert_eq!(
            self.log_ops.first(),
            Some(&op),
            "log operations confirm in order"
        );
        self.log_ops.remove(0);
        if self.log_ops.is_empty() {
            let (LogOp::Truncate(zxid) | LogOp::Snapshot(zxid)) = op;
            self.durable = zxid.min(self.history.last());
        }
    }

    /// Marks a newly committed zxid and tells the runtime to apply through it.
    fn commit_to(&mut self, zxid: Zxid, out: &mut Vec<Output>) {
        if zxid <= self.committed {
            return;
        }
        assert!(zxid <= self.history.last(), "commits only logged records");
        self.committed = zxid;
        self.applied = self.applied.max(zxid);
        out.push(Output::Commit(zxid));
    }

    fn own_vote(&self) -> Vote {
        Vote {
            leader: self.cfg.my_id,
            zxid: self.history.last(),
            peer_epoch: self.current_epoch,
        }
    }

    fn role_changed(&self, out: &mut Vec<Output>, epoch: Epoch) {
        out.push(Output::RoleChanged(RoleChange {
            role: self.role(),
            leader: self.leader(),
            epoch,
            serving: self.serving(),
        }));
    }

    fn persist_epoch(&mut self, kind: EpochKind, epoch: Epoch, out: &mut Vec<Output>) {
        match kind {
            EpochKind::Accepted => {
                assert!(epoch > self.accepted_epoch);
                self.accepted_epoch = epoch;
            }
            EpochKind::Current => {
                assert!(epoch > self.current_epoch && epoch <= self.accepted_epoch);
                self.current_epoch = epoch;
            }
        }
        out.push(Output::PersistEpoch { kind, epoch });
    }

    /// `QuorumPeer.updateElectionVote` (ZOOKEEPER-1732): once the new epoch is
    /// known, the vote this member reports to looking members carries it, so
    /// that a joining member sees the leader and its followers agree.
    fn update_election_vote(&mut self, epoch: Epoch) {
        if let Some((vote, _)) = &mut self.decided {
            vote.peer_epoch = epoch;
        }
    }

    fn send(&self, out: &mut Vec<Output>, to: ServerId, link: LinkId, msg: PeerMsg) {
        out.push(Output::Send { to, link, msg });
    }
}

/// Splits records into message-sized shared slices.
fn chunk_records<'a>(records: impl Iterator<Item = &'a TxnRecord>) -> Vec<Arc<[TxnRecord]>> {
    let mut chunks = Vec::new();
    let mut current: Vec<TxnRecord> = Vec::new();
    let mut bytes = 0usize;
    for record in records {
        let len = record.bytes().len();
        if !current.is_empty()
            && (current.len() >= MSG_RECORDS_MAX || bytes + len > MSG_RECORD_BYTES_MAX)
        {
            chunks.push(Arc::from(std::mem::take(&mut current)));
            bytes = 0;
        }
        bytes += len;
        current.push(record.clone());
    }
    if !current.is_empty() {
        chunks.push(Arc::from(current));
    }
    chunks
}
