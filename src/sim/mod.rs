//! A deterministic cluster simulator: several members of the real `zab` core,
//! `tree`, `txn`, session bookkeeping and the pure `log` code (group commit,
//! record format, recovery) in one thread, over a simulated network ([`net`])
//! and simulated disks ([`disk`]), with crashes, restarts, partitions, lost and
//! duplicated datagrams, broken links, torn writes and fsync failures, under a
//! random client workload. Everything random comes from one seed, so a seed
//! replays a run exactly. [`check`] is consulted after every step.
//!
//! A run has a fault phase, then a healing phase (faults off, partitions
//! healed, every member restarted) at whose end the ensemble must have made
//! progress and converged: one leader, every member serving, equal trees.
//!
//! The simulated runtime here follows the contract the `zab` module documents,
//! so it doubles as an executable description of how a runtime drives the core.

pub mod check;
pub mod disk;
pub mod net;
pub mod rng;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;

use crate::config::PeerRole;
use crate::log::{
    replay, CommitConfig, FlushDone, FlushOutcome, FlushTicket, GroupCommit, Refusal,
    SessionTimeouts, SyncMode,
};
use crate::proto::request::{CreateRequest, DeleteRequest, MultiOp, SetDataRequest};
use crate::proto::{Acl, OpCode, Request};
use crate::tree::DataTree;
use crate::txn::{prep, PrepContext, Txn, TxnOp, TxnRecord};
use crate::types::{ServerId, SessionId, Zxid};
use crate::zab::{
    Epochs, Input, LinkId, LogState, Notification, Output, PeerMsg, QuorumVerifier, Role,
    RoleChange, Zab, ZabConfig,
};
use check::{Checker, Violation};
use disk::{Disk, SnapFile};
use net::{Net, NetConfig};
use rng::Rng;

/// The shape and fault rates of one run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Voting members.
    pub voters: usize,
    /// Observers.
    pub observers: usize,
    /// Milliseconds of the fault phase.
    pub fault_ms: u64,
    /// Milliseconds of the healing phase.
    pub heal_ms: u64,
    /// The core's tick.
    pub tick_ms: u64,
    /// The network.
    pub net: NetConfig,
    /// Mean milliseconds between fault events.
    pub fault_every_ms: u64,
    /// An fsync fails (fail-stop) with this probability per million.
    pub fsync_error_ppm: u32,
    /// Mean milliseconds between client batches.
    pub client_every_ms: u64,
    /// A member snapshots after this many commits.
    pub snapshot_every: u64,
    /// The core's DIFF window (small ones force SNAP syncs).
    pub window_txns_max: usize,
    /// The leader's zxid counter limit (small ones force epoch rollovers).
    pub zxid_counter_max: u32,
    /// Clients stop this long before the end, so the ensemble can settle.
    pub quiet_ms: u64,
    /// Keep a trace of every event, printed on failure.
    pub trace: bool,
}

impl SimConfig {
    /// A configuration chosen by the seed: ensemble size, rates and limits vary.
    pub fn for_seed(seed: u64) -> SimConfig {
        let mut rng = Rng::new(seed ^ 0x5eed_c0de_0bad_f00d);
        SimConfig {
            voters: *rng.pick(&[3, 3, 3, 5, 5, 1]),
            observers: *rng.pick(&[0, 0, 1]),
            fault_ms: 3_000,
            heal_ms: 3_000,
            tick_ms: 10,
            net: NetConfig {
                delay_min_ms: 1,
                delay_max_ms: *rng.pick(&[3, 10, 30]),
                link_break_ppm: *rng.pick(&[0, 500, 5_000]),
                loss_ppm: *rng.pick(&[0, 20_000, 200_000]),
                dup_ppm: *rng.pick(&[0, 20_000, 100_000]),
                reconnect_ms: rng.between(5, 50),
            },
            fault_every_ms: *rng.pick(&[150, 400, 1_000]),
            fsync_error_ppm: *rng.pick(&[0, 0, 2_000]),
            client_every_ms: *rng.pick(&[3, 10]),
            snapshot_every: *rng.pick(&[15, 60, 1_000]),
            window_txns_max: *rng.pick(&[8, 50, 500]),
            zxid_counter_max: *rng.pick(&[u32::MAX - 1, u32::MAX - 1, 60]),
            quiet_ms: 1_000,
            trace: false,
        }
    }
}

/// What a passing run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Writes acknowledged to clients.
    pub acked: usize,
    /// Zxids committed.
    pub committed: usize,
    /// Leaders established.
    pub leaders: u64,
    /// Crashes (including fail-stops).
    pub crashes: u64,
    /// Fail-stops after fsync errors.
    pub fsync_failures: u64,
    /// Torn or lost writes found by recovery (restarts).
    pub restarts: u64,
    /// SNAP syncs.
    pub snapshots_sent: u64,
    /// TRUNC syncs that cut a log.
    pub truncations: u64,
}

/// A failed run: its seed, what broke, and how to replay it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Simulated time of the failure.
    pub at_ms: u64,
    /// The broken invariant.
    pub message: String,
    /// The event trace (when tracing).
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "seed {} failed at {} ms: {}\n  replay: cargo run --release --bin sim -- --seed {} --trace",
            self.seed, self.at_ms, self.message, self.seed
        )
    }
}

/// Runs one seed with its own configuration.
pub fn run(seed: u64) -> Result<Report, Failure> {
    run_with(seed, SimConfig::for_seed(seed))
}

/// Runs one seed with a given configuration.
pub fn run_with(seed: u64, cfg: SimConfig) -> Result<Report, Failure> {
    let mut sim = Sim::new(seed, cfg);
    match sim.run() {
        Ok(()) => Ok(sim.report()),
        Err(message) => Err(Failure {
            seed,
            at_ms: sim.now,
            message,
            trace: std::mem::take(&mut sim.trace),
        }),
    }
}

#[derive(Debug)]
enum Delivery {
    Notification(usize, Notification),
    Up(usize, LinkId),
    Down(usize, LinkId),
    Frame(usize, LinkId, PeerMsg, Option<Box<SnapFile>>),
}

#[derive(Debug)]
enum Event {
    Tick,
    Deliver { to: usize, inc: u64, what: Delivery },
    FlushSynced { node: usize, inc: u64 },
    EpochSynced { node: usize, inc: u64 },
    LogOpDone { node: usize, inc: u64, op: LogWork },
    Dial { a: usize, b: usize },
    Client,
    Fault,
    HealPartitions,
    Restart { node: usize },
    StartHealing,
}

#[derive(Clone, Debug)]
enum LogWork {
    Append(Arc<[TxnRecord]>, usize),
    Truncate(Zxid),
    Install(Zxid),
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A member's volatile state: what a crash loses.
struct Runtime {
    zab: Zab,
    gc: GroupCommit<()>,
    ticket: Option<FlushTicket>,
    log_queue: VecDeque<LogWork>,
    /// A truncation or install waits for its confirmation event.
    log_blocked: bool,
    tree: DataTree,
    sessions: SessionTimeouts,
    /// The log as the core made it: records after `log_base`.
    log: Vec<TxnRecord>,
    log_base: Zxid,
    committed: Zxid,
    /// Leader: the tree with every proposed write applied, for prep.
    spec: Option<(DataTree, SessionTimeouts)>,
    received_snap: Option<Box<SnapFile>>,
    role: RoleChange,
    commits_since_snapshot: u64,
}

impl Runtime {
    fn applied(&self) -> Zxid {
        Zxid(self.tree.last_zxid())
    }

    fn last_logged(&self) -> Zxid {
        self.log.last().map_or(self.log_base, zxid_of)
    }
}

struct Member {
    id: ServerId,
    incarnation: u64,
    disk: Disk,
    rt: Option<Runtime>,
}

struct Sim {
    cfg: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    members: Vec<Member>,
    zab_members: Vec<(ServerId, PeerRole)>,
    quorum: QuorumVerifier,
    net: Net,
    check: Checker,
    faults_on: bool,
    report: Report,
    trace: Vec<String>,
    next_session: i64,
    out: Vec<Output>,
    committed_at_healing: usize,
}

/// Events in one run at most: a storm of messages is a bug, not a workload.
const EVENTS_MAX: u64 = 5_000_000;

/// Trace lines kept (the newest).
const TRACE_LINES_MAX: usize = 3_000;

/// Trees are compared at zxids whose counter is a multiple of this (a digest
/// costs a pass over the tree), and wherever a tree is rebuilt.
const DIGEST_EVERY: u32 = 8;

fn zxid_of(record: &TxnRecord) -> Zxid {
    Zxid(record.txn().zxid.0.to_native())
}

fn hash_of(record: &TxnRecord) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    record.bytes().hash(&mut h);
    h.finish()
}

impl Sim {
    fn new(seed: u64, cfg: SimConfig) -> Sim {
        let n = cfg.voters + cfg.observers;
        let zab_members: Vec<(ServerId, PeerRole)> = (0..n)
            .map(|i| {
                let role = if i < cfg.voters {
                    PeerRole::Participant
                } else {
                    PeerRole::Observer
                };
                (i as ServerId + 1, role)
            })
            .collect();
        let quorum = QuorumVerifier::majority((1..=cfg.voters as ServerId).collect::<Vec<_>>())
            .expect("voters");
        Sim {
            rng: Rng::new(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            members: (0..n)
                .map(|i| Member {
                    id: i as ServerId + 1,
                    incarnation: 0,
                    disk: Disk::default(),
                    rt: None,
                })
                .collect(),
            zab_members,
            quorum,
            net: Net::default(),
            check: Checker::default(),
            faults_on: true,
            report: Report {
                seed,
                ..Report::default()
            },
            trace: Vec::new(),
            next_session: 1,
            out: Vec::new(),
            committed_at_healing: 0,
            cfg,
        }
    }

    fn report(&self) -> Report {
        Report {
            acked: self.check.acked_count(),
            committed: self.check.committed_count(),
            ..self.report.clone()
        }
    }

    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at: self.now + delay,
            seq: self.seq,
            event,
        }));
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.cfg.trace {
            let line = format!("{:>6} {}", self.now, line());
            if self.trace.len() >= TRACE_LINES_MAX {
                self.trace.drain(..TRACE_LINES_MAX / 2);
            }
            self.trace.push(line);
        }
    }

    fn run(&mut self) -> Result<(), Violation> {
        let n = self.members.len();
        for i in 0..n {
            self.start(i)?;
        }
        for a in 0..n {
            for b in a + 1..n {
                self.net.link(a, b).dialing = true;
                self.at(0, Event::Dial { a, b });
            }
        }
        self.at(self.cfg.tick_ms, Event::Tick);
        self.at(1, Event::Client);
        let first_fault = self.rng.between(1, self.cfg.fault_every_ms * 2);
        self.at(first_fault, Event::Fault);
        self.at(self.cfg.fault_ms, Event::StartHealing);
        let end = self.cfg.fault_ms + self.cfg.heal_ms;
        let mut events = 0u64;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.at > end {
                break;
            }
            events += 1;
            if events > EVENTS_MAX {
                return Err(format!(
                    "more than {EVENTS_MAX} events: a message storm or livelock"
                ));
            }
            self.now = next.at;
            self.handle(next.event)?;
        }
        self.now = end;
        self.check_converged()
    }

    fn handle(&mut self, event: Event) -> Result<(), Violation> {
        match event {
            Event::Tick => {
                for i in 0..self.members.len() {
                    if self.members[i].rt.is_some() {
                        self.feed(i, Input::Tick)?;
                    }
                }
                self.at(self.cfg.tick_ms, Event::Tick);
            }
            Event::Deliver { to, inc, what } => {
                if self.members[to].incarnation == inc && self.members[to].rt.is_some() {
                    self.deliver(to, what)?;
                }
            }
            Event::FlushSynced { node, inc } => {
                if self.members[node].incarnation == inc && self.members[node].rt.is_some() {
                    self.flush_synced(node)?;
                }
            }
            Event::EpochSynced { node, inc } => {
                if self.members[node].incarnation == inc && self.members[node].rt.is_some() {
                    let (kind, epoch) = self.members[node].disk.sync_epoch();
                    self.feed(node, Input::EpochPersisted { kind, epoch })?;
                }
            }
            Event::LogOpDone { node, inc, op } => {
                if self.members[node].incarnation == inc && self.members[node].rt.is_some() {
                    self.rt(node).log_blocked = false;
                    let input = match op {
                        LogWork::Truncate(z) => Input::LogTruncated(z),
                        LogWork::Install(z) => Input::SnapshotInstalled(z),
                        LogWork::Append(..) => unreachable!(),
                    };
                    self.feed(node, input)?;
                    self.pump_log(node)?;
                }
            }
            Event::Dial { a, b } => self.dial(a, b),
            Event::Client => {
                if self.now + self.cfg.quiet_ms > self.cfg.fault_ms + self.cfg.heal_ms {
                    return Ok(());
                }
                self.client()?;
                let every = self.cfg.client_every_ms;
                let delay = self.rng.between(1, every * 2);
                self.at(delay, Event::Client);
            }
            Event::Fault => {
                if self.faults_on {
                    self.fault()?;
                    let delay = self.rng.between(1, self.cfg.fault_every_ms * 2);
                    self.at(delay, Event::Fault);
                }
            }
            Event::HealPartitions => {
                self.trace(|| "partitions healed".into());
                self.net.heal();
            }
            Event::Restart { node } => {
                if self.members[node].rt.is_none() {
                    self.start(node)?;
                }
            }
            Event::StartHealing => {
                self.trace(|| "healing: faults off".into());
                self.committed_at_healing = self.check.committed_count();
                self.faults_on = false;
                self.net.heal();
                self.cfg.net.link_break_ppm = 0;
                self.cfg.net.loss_ppm = 0;
                self.cfg.net.dup_ppm = 0;
                self.cfg.fsync_error_ppm = 0;
                for node in 0..self.members.len() {
                    if self.members[node].rt.is_none() {
                        self.start(node)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn rt(&mut self, i: usize) -> &mut Runtime {
        self.members[i].rt.as_mut().expect("alive")
    }

    fn zab_config(&self, id: ServerId) -> ZabConfig {
        ZabConfig {
            my_id: id,
            members: self.zab_members.clone(),
            quorum: self.quorum.clone(),
            init_limit_ticks: 30,
            sync_limit_ticks: 20,
            ping_interval_ticks: 5,
            finalize_wait_ticks: 2,
            notify_interval_ticks_min: 5,
            notify_interval_ticks_max: 40,
            window_txns_max: self.cfg.window_txns_max,
            window_bytes_max: 1 << 20,
            zxid_counter_max: self.cfg.zxid_counter_max,
        }
    }

    fn commit_config() -> CommitConfig {
        CommitConfig {
            batch_txns_max: 16,
            batch_bytes_max: 64 << 10,
            sync: SyncMode::Fdatasync,
            batch_align: 512,
            segment_bytes_max: 32 << 10,
        }
    }

    /// Starts (or restarts) member `i` from its disk.
    fn start(&mut self, i: usize) -> Result<(), Violation> {
        let id = self.members[i].id;
        let recovered = self.members[i]
            .disk
            .recover(false)
            .map_err(|e| format!("member {id} cannot recover its log: {e}"))?;
        let last = recovered
            .records
            .last()
            .map_or(recovered.snapshot_zxid, zxid_of);
        let window = self.cfg.window_txns_max;
        let skip = recovered.records.len().saturating_sub(window);
        let tail_base = if skip == 0 {
            recovered.snapshot_zxid
        } else {
            zxid_of(&recovered.records[skip - 1])
        };
        let log_state = LogState {
            tail: recovered.records[skip..].to_vec(),
            tail_base,
            applied: last,
            committed: recovered.snapshot_zxid,
        };
        let epochs = Epochs {
            accepted: recovered.accepted,
            current: recovered.current,
        };
        if epochs.current > epochs.accepted {
            return Err(format!(
                "member {id} recovered currentEpoch {} past acceptedEpoch {}",
                epochs.current, epochs.accepted
            ));
        }
        let zab = Zab::new(self.zab_config(id), epochs, log_state);
        self.check.digest(id, last, recovered.tree.digest())?;
        self.trace(|| format!("member {id} starts: epochs {epochs:?}, log to {last}"));
        let member = &mut self.members[i];
        member.incarnation += 1;
        member.rt = Some(Runtime {
            zab,
            gc: GroupCommit::new(Sim::commit_config(), last),
            ticket: None,
            log_queue: VecDeque::new(),
            log_blocked: false,
            tree: recovered.tree,
            sessions: recovered.sessions,
            log: recovered.records,
            log_base: recovered.snapshot_zxid,
            committed: recovered.snapshot_zxid,
            spec: None,
            received_snap: None,
            role: RoleChange {
                role: Role::Looking,
                leader: None,
                epoch: 0,
                serving: false,
            },
            commits_since_snapshot: 0,
        });
        if member.incarnation > 1 {
            self.report.restarts += 1;
        }
        for j in 0..self.members.len() {
            if j != i {
                self.redial(i, j);
            }
        }
        Ok(())
    }

    fn crash(&mut self, i: usize, why: &str) {
        let id = self.members[i].id;
        self.trace(|| format!("member {id} crashes ({why})"));
        self.report.crashes += 1;
        let member = &mut self.members[i];
        member.rt = None;
        member.incarnation += 1;
        member.disk.crash(&mut self.rng);
        for j in 0..self.members.len() {
            if j != i {
                self.break_link(i, j);
            }
        }
        let delay = self.rng.between(20, 600);
        self.at(delay, Event::Restart { node: i });
    }

    /// Feeds one input to member `i` and performs its outputs.
    fn feed(&mut self, i: usize, input: Input) -> Result<(), Violation> {
        let mut out = std::mem::take(&mut self.out);
        if self.cfg.trace {
            let id = self.members[i].id;
            let text = format!("{input:?}");
            self.trace(|| format!("member {id} <- {}", truncate(&text)));
        }
        self.rt(i).zab.step(input, &mut out);
        let result = out.drain(..).try_for_each(|output| self.perform(i, output));
        self.out = out;
        result?;
        self.pump_log(i)
    }

    fn perform(&mut self, i: usize, output: Output) -> Result<(), Violation> {
        let id = self.members[i].id;
        if self.cfg.trace {
            let text = format!("{output:?}");
            self.trace(|| format!("member {id} -> {}", truncate(&text)));
        }
        match output {
            Output::Notify { to, notification } => self.notify(i, to as usize - 1, notification),
            Output::Send { to, link, msg } => {
                self.check_send(i, &msg)?;
                self.send(i, to as usize - 1, link, msg, None);
            }
            Output::SendSnapshot { to, link, zxid } => {
                let rt = self.rt(i);
                if rt.applied() != zxid {
                    return Err(format!(
                        "member {id} asked to send a snapshot at {zxid}, its tree is at {}",
                        rt.applied()
                    ));
                }
                let snap = Box::new(SnapFile {
                    zxid,
                    tree: rt.tree.clone(),
                    sessions: rt.sessions.clone(),
                });
                self.report.snapshots_sent += 1;
                self.send(i, to as usize - 1, link, PeerMsg::Snap { zxid }, Some(snap));
            }
            Output::Disconnect { peer, link } => {
                let j = peer as usize - 1;
                if self.net.link(i, j).up == Some(link) {
                    self.break_link(i, j);
                }
            }
            Output::AppendLog(records) => {
                for record in records.iter() {
                    let prev = self.rt(i).last_logged();
                    self.check
                        .logged(id, zxid_of(record), hash_of(record), prev)?;
                    self.rt(i).log.push(record.clone());
                }
                let rt = self.rt(i);
                if let Some((tree, sessions)) = &mut rt.spec {
                    // Only the leader's own proposals; a learner has no spec tree.
                    replay(tree, sessions, records.iter());
                }
                rt.log_queue.push_back(LogWork::Append(records, 0));
            }
            Output::TruncateLog(zxid) => self.truncate(i, zxid)?,
            Output::InstallSnapshot(zxid) => self.install(i, zxid)?,
            Output::PersistEpoch { kind, epoch } => {
                self.members[i].disk.write_epoch(kind, epoch);
                let inc = self.members[i].incarnation;
                let delay = self.rng.between(1, 5);
                self.at(delay, Event::EpochSynced { node: i, inc });
            }
            Output::Commit(zxid) => self.commit(i, zxid)?,
            Output::RoleChanged(change) => self.role_changed(i, change)?,
        }
        Ok(())
    }

    /// What a member sends must be true when it leaves.
    fn check_send(&mut self, i: usize, msg: &PeerMsg) -> Result<(), Violation> {
        let id = self.members[i].id;
        let durable_epoch = self.members[i].disk.current_epoch();
        let durable = self.rt(i).gc.durable_zxid();
        match msg {
            PeerMsg::Ack { zxid } if *zxid > durable => Err(format!(
                "member {id} acks {zxid} but its log is durable only through {durable}"
            )),
            PeerMsg::AckNewLeader { epoch, zxid } if *zxid > durable || durable_epoch < *epoch => {
                Err(format!(
                    "member {id} acks NEWLEADER (epoch {epoch}, {zxid}) with log durable through \
                     {durable} and currentEpoch {durable_epoch} on disk"
                ))
            }
            _ => Ok(()),
        }
    }

    fn truncate(&mut self, i: usize, zxid: Zxid) -> Result<(), Violation> {
        let id = self.members[i].id;
        self.report.truncations += 1;
        let rt = self.rt(i);
        if zxid < rt.committed {
            return Err(format!(
                "member {id} told to truncate to {zxid} below its committed {}",
                rt.committed
            ));
        }
        rt.log.retain(|r| zxid_of(r) <= zxid);
        rt.spec = None;
        if rt.applied() > zxid {
            // The tree holds records being cut: rebuild it from a snapshot and the log.
            let snap = self.members[i]
                .disk
                .snapshot_at_or_below(zxid)
                .cloned()
                .unwrap_or(SnapFile {
                    zxid: Zxid::ZERO,
                    tree: DataTree::new(),
                    sessions: SessionTimeouts::new(),
                });
            let rt = self.rt(i);
            if snap.zxid < rt.log_base {
                return Err(format!(
                    "member {id} cannot rebuild its tree at {zxid}: snapshot {} is older than its log",
                    snap.zxid
                ));
            }
            let (mut tree, mut sessions) = (snap.tree, snap.sessions);
            let records: Vec<TxnRecord> = rt
                .log
                .iter()
                .filter(|r| zxid_of(r) > snap.zxid)
                .cloned()
                .collect();
            replay(&mut tree, &mut sessions, records.iter());
            rt.tree = tree;
            rt.sessions = sessions;
        }
        let digest = self.rt(i).tree.digest();
        let applied = self.rt(i).applied();
        self.check.digest(id, applied, digest)?;
        self.rt(i).log_queue.push_back(LogWork::Truncate(zxid));
        Ok(())
    }

    fn install(&mut self, i: usize, zxid: Zxid) -> Result<(), Violation> {
        let id = self.members[i].id;
        let rt = self.rt(i);
        let Some(snap) = rt.received_snap.take().filter(|s| s.zxid == zxid) else {
            return Err(format!(
                "member {id} told to install snapshot {zxid} it did not receive"
            ));
        };
        rt.tree = snap.tree.clone();
        rt.sessions = snap.sessions.clone();
        rt.log.clear();
        rt.log_base = zxid;
        rt.committed = zxid;
        rt.spec = None;
        rt.received_snap = Some(snap);
        let digest = self.rt(i).tree.digest();
        self.check.digest(id, zxid, digest)?;
        self.rt(i).log_queue.push_back(LogWork::Install(zxid));
        Ok(())
    }

    fn commit(&mut self, i: usize, zxid: Zxid) -> Result<(), Violation> {
        let id = self.members[i].id;
        let rt = self.members[i].rt.as_mut().expect("alive");
        let from = rt.applied();
        let records: Vec<TxnRecord> = rt.zab.records(from, zxid).cloned().collect();
        let leading = rt.role.role == Role::Leading && rt.role.serving;
        let epoch = rt.role.epoch;
        for record in &records {
            let z = zxid_of(record);
            let hash = hash_of(record);
            let logged = rt
                .log
                .binary_search_by_key(&z, zxid_of)
                .ok()
                .map(|k| hash_of(&rt.log[k]));
            if logged != Some(hash) {
                return Err(format!(
                    "member {id} commits {z}, which its log does not hold"
                ));
            }
            let prev = Zxid(rt.tree.last_zxid());
            replay(&mut rt.tree, &mut rt.sessions, [record]);
            self.check.committed(id, z, hash)?;
            if z.counter() % DIGEST_EVERY == 0 {
                self.check.digest(id, z, rt.tree.digest())?;
            }
            let _ = prev;
            if leading && z.epoch() == epoch {
                self.check.acked(z, hash);
            }
        }
        if rt.applied() < zxid {
            return Err(format!(
                "member {id} told to commit through {zxid} but could apply only through {}",
                rt.applied()
            ));
        }
        // Restart replay applied these already: they are committed now.
        let start = rt.log.partition_point(|r| zxid_of(r) <= rt.committed);
        for record in rt.log[start..]
            .iter()
            .take_while(|r| zxid_of(r) <= zxid.min(from))
        {
            self.check.committed(id, zxid_of(record), hash_of(record))?;
        }
        rt.committed = rt.committed.max(zxid);
        rt.commits_since_snapshot += records.len() as u64;
        if rt.commits_since_snapshot >= self.cfg.snapshot_every && rt.applied() == rt.committed {
            rt.commits_since_snapshot = 0;
            let snap = SnapFile {
                zxid: rt.committed,
                tree: rt.tree.clone(),
                sessions: rt.sessions.clone(),
            };
            self.members[i].disk.save_snapshot(snap);
        }
        Ok(())
    }

    fn role_changed(&mut self, i: usize, change: RoleChange) -> Result<(), Violation> {
        let id = self.members[i].id;
        let rt = self.rt(i);
        rt.role = change;
        rt.spec = None;
        if change.role == Role::Leading && change.serving {
            self.report.leaders += 1;
            self.check.established(id, change.epoch)?;
            let rt = self.rt(i);
            let log: BTreeMap<Zxid, u64> =
                rt.log.iter().map(|r| (zxid_of(r), hash_of(r))).collect();
            let (base, last) = (rt.log_base, rt.last_logged());
            self.check.leader_history(id, base, &log, last)?;
        }
        Ok(())
    }

    /// Moves the log queue forward: appends into the group commit, flushes,
    /// truncations and installs once everything before them is durable.
    fn pump_log(&mut self, i: usize) -> Result<(), Violation> {
        loop {
            let rt = self.rt(i);
            if rt.log_blocked {
                return Ok(());
            }
            match rt.log_queue.front_mut() {
                None => break,
                Some(LogWork::Append(records, next)) => {
                    while *next < records.len() {
                        match rt.gc.append(&records[*next], ()) {
                            Ok(()) => *next += 1,
                            Err(refused) => match refused.refusal {
                                Refusal::BatchFull => break,
                                Refusal::Failed(_) => unreachable!("fail-stop crashes the member"),
                            },
                        }
                    }
                    if *next < records.len() {
                        break;
                    }
                    rt.log_queue.pop_front();
                }
                Some(&mut (LogWork::Truncate(zxid) | LogWork::Install(zxid))) => {
                    if rt.ticket.is_some() || rt.gc.has_unflushed() {
                        break;
                    }
                    let op = rt.log_queue.pop_front().expect("front");
                    rt.gc = GroupCommit::new(Sim::commit_config(), zxid);
                    rt.log_blocked = true;
                    match &op {
                        LogWork::Truncate(_) => self.members[i].disk.truncate(zxid),
                        _ => {
                            let snap = self.rt(i).received_snap.take().expect("kept for install");
                            self.members[i].disk.install(*snap);
                        }
                    }
                    let inc = self.members[i].incarnation;
                    let delay = self.rng.between(1, 5);
                    self.at(delay, Event::LogOpDone { node: i, inc, op });
                    return Ok(());
                }
            }
        }
        self.start_flush(i);
        Ok(())
    }

    fn start_flush(&mut self, i: usize) {
        let member = &mut self.members[i];
        let rt = member.rt.as_mut().expect("alive");
        if rt.ticket.is_some() {
            return;
        }
        let Some(flush) = rt.gc.begin_flush() else {
            return;
        };
        member.disk.write(&flush);
        rt.ticket = Some(flush.ticket);
        let inc = member.incarnation;
        let delay = self.rng.between(1, 8);
        self.at(delay, Event::FlushSynced { node: i, inc });
    }

    fn flush_synced(&mut self, i: usize) -> Result<(), Violation> {
        let failed = self.rng.chance(self.cfg.fsync_error_ppm);
        let rt = self.rt(i);
        let ticket = rt.ticket.take().expect("a flush in flight");
        if failed {
            let outcome = FlushOutcome::Failed {
                reason: "EIO (simulated)".into(),
            };
            assert!(rt.gc.flush_done(ticket, outcome).is_err());
            self.report.fsync_failures += 1;
            self.crash(i, "fsync failed: fail-stop");
            return Ok(());
        }
        self.members[i].disk.sync();
        let rt = self.rt(i);
        match rt.gc.flush_done(ticket, FlushOutcome::Synced) {
            Ok(FlushDone::Durable { zxid, .. }) => {
                self.feed(i, Input::LogDurable(zxid))?;
            }
            Ok(FlushDone::Retry) | Err(_) => unreachable!("the simulated disk never fills"),
        }
        self.pump_log(i)
    }

    fn deliver(&mut self, to: usize, what: Delivery) -> Result<(), Violation> {
        match what {
            Delivery::Notification(from, notification) => self.feed(
                to,
                Input::Notification {
                    from: from as ServerId + 1,
                    notification,
                },
            ),
            Delivery::Up(from, link) => {
                if self.net.link(to, from).up != Some(link) {
                    return Ok(());
                }
                self.feed(
                    to,
                    Input::PeerUp {
                        peer: from as ServerId + 1,
                        link,
                    },
                )
            }
            Delivery::Down(from, link) => self.feed(
                to,
                Input::PeerDown {
                    peer: from as ServerId + 1,
                    link,
                },
            ),
            Delivery::Frame(from, link, msg, snap) => {
                if self.net.link(to, from).up != Some(link) {
                    return Ok(());
                }
                if let Some(snap) = snap {
                    self.rt(to).received_snap = Some(snap);
                }
                // What the runtime would do: the frame goes through the wire codec.
                let mut bytes = Vec::new();
                msg.encode(&mut bytes);
                let msg = PeerMsg::decode(&bytes).map_err(|e| format!("codec: {e}"))?;
                self.feed(
                    to,
                    Input::Message {
                        from: from as ServerId + 1,
                        link,
                        msg,
                    },
                )
            }
        }
    }

    fn delay(&mut self) -> u64 {
        let (lo, hi) = (self.cfg.net.delay_min_ms, self.cfg.net.delay_max_ms);
        self.rng.between(lo, hi)
    }

    fn notify(&mut self, from: usize, to: usize, notification: Notification) {
        if !self.net.can_send(from, to) || self.rng.chance(self.cfg.net.loss_ppm) {
            return;
        }
        let copies = if self.rng.chance(self.cfg.net.dup_ppm) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let inc = self.members[to].incarnation;
            let delay = self.delay();
            let dir = Net::direction(from, to);
            let now = self.now;
            let link = self.net.link(from, to);
            let at = (now + delay).max(link.election_floor[dir]);
            link.election_floor[dir] = at;
            let what = Delivery::Notification(from, notification);
            self.seq += 1;
            let event = Event::Deliver { to, inc, what };
            self.queue.push(Reverse(Scheduled {
                at,
                seq: self.seq,
                event,
            }));
        }
    }

    /// Schedules a delivery to `to` on the `from`-`to` link, after everything
    /// scheduled on it before.
    fn link_delivery(&mut self, from: usize, to: usize, what: Delivery) {
        let delay = self.delay();
        let dir = Net::direction(from, to);
        let now = self.now;
        let link = self.net.link(from, to);
        let at = (now + delay).max(link.fifo_floor[dir]);
        link.fifo_floor[dir] = at;
        let inc = self.members[to].incarnation;
        self.seq += 1;
        let event = Event::Deliver { to, inc, what };
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event,
        }));
    }

    fn send(
        &mut self,
        from: usize,
        to: usize,
        link: LinkId,
        msg: PeerMsg,
        snap: Option<Box<SnapFile>>,
    ) {
        if self.net.link(from, to).up != Some(link) {
            return;
        }
        if !self.net.can_link(from, to) || self.rng.chance(self.cfg.net.link_break_ppm) {
            self.break_link(from, to);
            return;
        }
        self.link_delivery(from, to, Delivery::Frame(from, link, msg, snap));
    }

    fn break_link(&mut self, a: usize, b: usize) {
        let Some(link) = self.net.link(a, b).up.take() else {
            return;
        };
        self.trace(|| format!("link {link} between {} and {} breaks", a + 1, b + 1));
        for (end, other) in [(a, b), (b, a)] {
            if self.members[end].rt.is_some() {
                self.link_delivery(other, end, Delivery::Down(other, link));
            }
        }
        self.redial(a, b);
    }

    fn redial(&mut self, a: usize, b: usize) {
        let link = self.net.link(a, b);
        if link.up.is_some() || link.dialing {
            return;
        }
        link.dialing = true;
        let delay = self.cfg.net.reconnect_ms;
        self.at(delay, Event::Dial { a, b });
    }

    fn dial(&mut self, a: usize, b: usize) {
        let alive = self.members[a].rt.is_some() && self.members[b].rt.is_some();
        if !alive || !self.net.can_link(a, b) {
            let delay = self.cfg.net.reconnect_ms;
            self.at(delay, Event::Dial { a, b });
            return;
        }
        let id = self.net.new_link_id();
        let link = self.net.link(a, b);
        link.dialing = false;
        link.up = Some(id);
        self.link_delivery(b, a, Delivery::Up(b, id));
        self.link_delivery(a, b, Delivery::Up(a, id));
    }

    /// A client batch at whichever member leads an established epoch.
    fn client(&mut self) -> Result<(), Violation> {
        let leaders: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.members[i]
                    .rt
                    .as_ref()
                    .is_some_and(|rt| rt.zab.next_zxid().is_some())
            })
            .collect();
        if leaders.is_empty() {
            return Ok(());
        }
        let i = *self.rng.pick(&leaders);
        let rt = self.rt(i);
        let outstanding = rt.last_logged().0 - rt.committed.0;
        if outstanding > 64 {
            return Ok(());
        }
        if rt.spec.is_none() {
            let (mut tree, mut sessions) = (rt.tree.clone(), rt.sessions.clone());
            let pending: Vec<TxnRecord> = rt
                .zab
                .records(rt.applied(), rt.last_logged())
                .cloned()
                .collect();
            replay(&mut tree, &mut sessions, pending.iter());
            rt.spec = Some((tree, sessions));
        }
        let count = self.rng.between(1, 4) as u32;
        let count = count.min(self.rt(i).zab.zxids_left());
        let mut next = self.rt(i).zab.next_zxid().expect("leader");
        let mut records = Vec::new();
        let mut scratch = self.rt(i).spec.clone().expect("made above");
        for _ in 0..count {
            let txn = self.random_txn(next, &scratch.0, &scratch.1);
            let record = TxnRecord::encode(&txn);
            replay(&mut scratch.0, &mut scratch.1, [&record]);
            records.push(record);
            next = next.next();
        }
        if records.is_empty() {
            return Ok(());
        }
        self.feed(i, Input::Propose(records))
    }

    fn random_txn(&mut self, zxid: Zxid, tree: &DataTree, sessions: &SessionTimeouts) -> Txn {
        let live: Vec<SessionId> = sessions.keys().copied().collect();
        let session = if live.is_empty() || self.rng.below(4) == 0 {
            SessionId(0)
        } else {
            *self.rng.pick(&live)
        };
        let key = self.rng.below(12);
        let path = if self.rng.below(3) == 0 {
            format!("/k{}/c{}", key % 4, self.rng.below(4))
        } else {
            format!("/k{key}")
        };
        let data = Bytes::from(format!("v{}-{}", zxid.0, self.rng.below(1000)));
        let create = |flags: i32| CreateRequest {
            op: OpCode::Create,
            path: &path,
            data: data.clone(),
            data_null: false,
            acl: Acl::open_unsafe(),
            flags,
            ttl: 0,
        };
        let request = match self.rng.below(20) {
            0..=6 => Request::Create(create(0)),
            7..=8 if session.0 != 0 => Request::Create(create(1)),
            9..=12 => Request::SetData(SetDataRequest {
                path: &path,
                data: data.clone(),
                data_null: false,
                version: -1,
            }),
            13..=15 => Request::Delete(DeleteRequest {
                path: &path,
                version: -1,
            }),
            16 => Request::Multi(vec![
                MultiOp::Create(create(0)),
                MultiOp::SetData(SetDataRequest {
                    path: &path,
                    data: data.clone(),
                    data_null: false,
                    version: -1,
                }),
            ]),
            17 if session.0 != 0 => Request::CloseSession,
            _ => {
                let id = SessionId(self.next_session);
                self.next_session += 1;
                return Txn {
                    zxid,
                    time_ms: self.now as i64,
                    session: id,
                    cxid: 0,
                    op: TxnOp::CreateSession { timeout_ms: 4000 },
                };
            }
        };
        let ctx = PrepContext {
            session,
            session_live: session.0 == 0 || sessions.contains_key(&session),
            auth: &[],
            skip_acl: true,
            extended_types: false,
            reconfig_enabled: false,
            zxid,
            time_ms: self.now as i64,
        };
        let op = prep(&request, &ctx, tree);
        Txn {
            zxid,
            time_ms: self.now as i64,
            session,
            cxid: 1,
            op,
        }
    }

    fn fault(&mut self) -> Result<(), Violation> {
        let n = self.members.len();
        match self.rng.below(10) {
            0..=3 => {
                let i = self.rng.below(n as u64) as usize;
                if self.members[i].rt.is_some() {
                    self.crash(i, "fault");
                }
            }
            4..=5 => {
                // A symmetric partition of a random side.
                let side: Vec<usize> = (0..n).filter(|_| self.rng.below(2) == 0).collect();
                self.trace(|| {
                    format!(
                        "partition {:?}",
                        side.iter().map(|i| i + 1).collect::<Vec<_>>()
                    )
                });
                for &a in &side {
                    for b in (0..n).filter(|b| !side.contains(b)) {
                        self.net.block(a, b);
                        self.net.block(b, a);
                        self.break_link(a, b);
                    }
                }
                let delay = self.rng.between(50, 1_500);
                self.at(delay, Event::HealPartitions);
            }
            6 => {
                let a = self.rng.below(n as u64) as usize;
                let b = self.rng.below(n as u64) as usize;
                if a != b {
                    self.trace(|| format!("one-way partition {} -> {}", a + 1, b + 1));
                    self.net.block(a, b);
                    self.break_link(a, b);
                    let delay = self.rng.between(50, 1_500);
                    self.at(delay, Event::HealPartitions);
                }
            }
            _ => {
                // The leader crashes: the fault that matters most.
                let leader = (0..n).find(|&i| {
                    self.members[i]
                        .rt
                        .as_ref()
                        .is_some_and(|rt| rt.role.role == Role::Leading)
                });
                if let Some(i) = leader {
                    self.crash(i, "leader fault");
                }
            }
        }
        Ok(())
    }

    /// After healing: one established leader, every member serving it, every
    /// tree at the same zxid, and writes committed since healing began.
    fn check_converged(&mut self) -> Result<(), Violation> {
        let mut leaders = Vec::new();
        let mut applied = Vec::new();
        for member in &self.members {
            let Some(rt) = &member.rt else {
                return Err(format!("member {} is down after healing", member.id));
            };
            if !rt.zab.serving() {
                return Err(format!(
                    "member {} is not serving after healing ({:?})",
                    member.id,
                    rt.zab.role()
                ));
            }
            if rt.zab.role() == Role::Leading {
                leaders.push(member.id);
            }
            applied.push((member.id, rt.applied(), rt.committed, rt.tree.digest()));
        }
        if leaders.len() != 1 {
            return Err(format!(
                "{} leaders after healing: {leaders:?}",
                leaders.len()
            ));
        }
        if applied
            .iter()
            .any(|a| (a.1, a.2, a.3) != (applied[0].1, applied[0].2, applied[0].3))
        {
            return Err(format!(
                "members did not converge after healing (id, applied, committed, digest): {applied:?}"
            ));
        }
        if self.check.committed_count() <= self.committed_at_healing {
            return Err("no write was committed after healing".into());
        }
        Ok(())
    }
}

/// Keeps trace lines short.
fn truncate(text: &str) -> &str {
    match text.char_indices().nth(300) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
