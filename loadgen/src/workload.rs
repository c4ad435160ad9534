//! Workloads: what a run does, as data. Pure.
//!
//! A [`Plan`] is one or more [`Step`]s run one after another, each with its own
//! sessions, set-up and tear-down (a sweep: `rw-sweep` over the read share,
//! `durability-floor` over the session count). A step is one or more
//! [`PhaseSpec`]s the same sessions go through in order (`latency-profile`'s
//! create, set, get, delete ... passes), each ending by the clock or after a
//! number of operations. A phase's [`Mix`] weights the operations a session
//! draws; keys are chosen from the session's own [`crate::keys::KeySpace`].
//!
//! Every named workload maps to a published anchor ([`WorkloadKind::anchor`])
//! so that its numbers compare with the literature and other tools; a TOML
//! file ([`TomlWorkload`]) describes any other mix.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::keys::KeyDist;
use crate::rng::{Rng, Zipf};

/// A named workload (`--workload NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// getData of the session's own znode.
    Read,
    /// setData of the session's own znode.
    Write,
    /// getData/setData of the session's own znode at each read share.
    RwSweep,
    /// Creates of new znodes (100 B).
    Create,
    /// 10% create, 40% setData, 40% getData, 10% delete.
    Mixed,
    /// Workers that create, wait, and delete asynchronously; 1, 10, 20 workers.
    SyncCreate,
    /// Synchronous setData with 1, 2, 4 ... 1024 sessions.
    DurabilityFloor,
    /// 1M creates of 1 KiB.
    BulkLoad,
    /// multi of creates, setData and deletes.
    MultiWrite,
    /// multiRead of getData and getChildren.
    MultiRead,
    /// zk-latencies' passes: create, set, get, delete, ephemeral, watch, notify.
    LatencyProfile,
    /// N sessions watch one znode; one writer changes it.
    WatchFanout,
    /// connect, create an ephemeral, close; again.
    SessionChurn,
    /// getData/setData of 64 KiB values.
    Large,
}

impl WorkloadKind {
    /// Every named workload, in `--help` order.
    pub const ALL: [WorkloadKind; 14] = [
        WorkloadKind::Read,
        WorkloadKind::Write,
        WorkloadKind::RwSweep,
        WorkloadKind::Create,
        WorkloadKind::Mixed,
        WorkloadKind::SyncCreate,
        WorkloadKind::DurabilityFloor,
        WorkloadKind::BulkLoad,
        WorkloadKind::MultiWrite,
        WorkloadKind::MultiRead,
        WorkloadKind::LatencyProfile,
        WorkloadKind::WatchFanout,
        WorkloadKind::SessionChurn,
        WorkloadKind::Large,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Read => "read",
            WorkloadKind::Write => "write",
            WorkloadKind::RwSweep => "rw-sweep",
            WorkloadKind::Create => "create",
            WorkloadKind::Mixed => "mixed",
            WorkloadKind::SyncCreate => "sync-create",
            WorkloadKind::DurabilityFloor => "durability-floor",
            WorkloadKind::BulkLoad => "bulk-load",
            WorkloadKind::MultiWrite => "multi-write",
            WorkloadKind::MultiRead => "multi-read",
            WorkloadKind::LatencyProfile => "latency-profile",
            WorkloadKind::WatchFanout => "watch-fanout",
            WorkloadKind::SessionChurn => "session-churn",
            WorkloadKind::Large => "large",
        }
    }

    /// The workload called `name`.
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What each session does.
    pub fn what(self) -> &'static str {
        match self {
            WorkloadKind::Read => "getData of its own znode (1 KiB)",
            WorkloadKind::Write => "setData of its own znode (1 KiB)",
            WorkloadKind::RwSweep => {
                "getData or setData of its own znode (1 KiB), one step per --read-pct \
                 (default 0,10,...,100)"
            }
            WorkloadKind::Create => "creates of new znodes (100 B)",
            WorkloadKind::Mixed => {
                "10% create, 40% setData, 40% getData, 10% delete over its own 100 znodes (1 KiB)"
            }
            WorkloadKind::SyncCreate => {
                "a worker: create (100 B), wait for it, delete it asynchronously, next create; \
                 one step each for 1, 10, 20 workers"
            }
            WorkloadKind::DurabilityFloor => {
                "synchronous setData (depth 1, 1 KiB), one step each for 1, 2, 4 ... 1024 \
                 sessions: throughput against sessions shows group commit"
            }
            WorkloadKind::BulkLoad => {
                "1,000,000 creates of 1 KiB in all, then stops; the report's time series shows \
                 tail latency as the tree grows"
            }
            WorkloadKind::MultiWrite => {
                "multi of 20 sub-ops (create 1 : setData 2 : delete 1) over its own znodes"
            }
            WorkloadKind::MultiRead => {
                "multiRead of 20 sub-ops (getData 4 : getChildren 1) over its own 100 znodes"
            }
            WorkloadKind::LatencyProfile => {
                "10,000 each, in passes: create, setData, getData, delete, create ephemeral, \
                 exists with watch, delete ephemeral (and the notifications it fires); \
                 25 B, 1 session, synchronous (--depth N for zk-latencies' asynchronous mode)"
            }
            WorkloadKind::WatchFanout => {
                "session 0 sets one znode 100 times a second (--rate); every other session holds \
                 a persistent watch on it: notification latency from the setData's send"
            }
            WorkloadKind::SessionChurn => {
                "connect, check the previous cycle's ephemeral is gone, create an ephemeral, \
                 close; again: sessions per second"
            }
            WorkloadKind::Large => "getData or setData of its own znode with 64 KiB values",
        }
    }

    /// The published benchmark this workload reproduces, so that its numbers
    /// compare with the literature and other tools.
    pub fn anchor(self) -> &'static str {
        match self {
            WorkloadKind::Read => "ZooKeeper paper (Hunt et al., USENIX ATC 2010) 5.1, 100% reads",
            WorkloadKind::Write => "ZooKeeper paper 5.1, 0% reads",
            WorkloadKind::RwSweep => {
                "ZooKeeper paper 5.1, Figure 5: throughput as the read share goes 0 to 100%"
            }
            WorkloadKind::Create => "ClickHouse keeper-bench `create` generator",
            WorkloadKind::Mixed => "keeper-bench style mix of create, set, get, remove",
            WorkloadKind::SyncCreate => {
                "ZooKeeper paper 5.2, Table 2 (latency of requests, after Chubby's benchmark)"
            }
            WorkloadKind::DurabilityFloor => {
                "etcd benchmark `put` with 1 to 1000 clients (etcd op-guide performance)"
            }
            WorkloadKind::BulkLoad => {
                "etcd benchmark `put --total 1000000`; keeper-bench-suite long runs"
            }
            WorkloadKind::MultiWrite => {
                "keeper-bench `multi` of create/set (example.yaml), keeper-bench-suite"
            }
            WorkloadKind::MultiRead => {
                "keeper-bench `multi` of get/list (example.yaml), keeper-bench-suite"
            }
            WorkloadKind::LatencyProfile => "zk-smoketest zk-latencies.py",
            WorkloadKind::WatchFanout => "etcd benchmark `watch-latency`",
            WorkloadKind::SessionChurn => {
                "zk-smoketest zk-smoketest.py sessions; etcd benchmark `lease-keepalive`"
            }
            WorkloadKind::Large => "etcd benchmark `put --val-size 65536`",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operations a session sends (and the report's rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// getData (4).
    GetData,
    /// setData (5).
    SetData,
    /// create (1), persistent.
    Create,
    /// create (1), ephemeral.
    CreateEphemeral,
    /// delete (2).
    Delete,
    /// exists (3).
    Exists,
    /// getChildren (8) of the session's directory.
    GetChildren,
    /// multi (14).
    Multi,
    /// multiRead (22).
    MultiRead,
    /// A watch notification (xid -1): latency from the triggering write's send.
    Notification,
    /// session-churn: one whole cycle, connect to closeSession's reply.
    Session,
    /// session-churn: TCP connect and handshake.
    Connect,
    /// session-churn: closeSession.
    Close,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 13] = [
        OpKind::GetData,
        OpKind::SetData,
        OpKind::Create,
        OpKind::CreateEphemeral,
        OpKind::Delete,
        OpKind::Exists,
        OpKind::GetChildren,
        OpKind::Multi,
        OpKind::MultiRead,
        OpKind::Notification,
        OpKind::Session,
        OpKind::Connect,
        OpKind::Close,
    ];

    /// Number of kinds (the length of per-kind arrays).
    pub const COUNT: usize = Self::ALL.len();

    /// Index into per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in reports (ZooKeeper's for requests).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::GetData => "getData",
            OpKind::SetData => "setData",
            OpKind::Create => "create",
            OpKind::CreateEphemeral => "createEphemeral",
            OpKind::Delete => "delete",
            OpKind::Exists => "exists",
            OpKind::GetChildren => "getChildren",
            OpKind::Multi => "multi",
            OpKind::MultiRead => "multiRead",
            OpKind::Notification => "notification",
            OpKind::Session => "session",
            OpKind::Connect => "connect",
            OpKind::Close => "close",
        }
    }
}

/// An operation a mix can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MixOp {
    /// getData of an existing key.
    Get,
    /// setData of an existing key.
    Set,
    /// create of an absent key (persistent).
    Create,
    /// create of an absent key (ephemeral).
    CreateEphemeral,
    /// delete of an existing key (with its exact version).
    Delete,
    /// exists of an existing key.
    Exists,
    /// exists with a watch: the next write of the key must notify.
    Watch,
    /// getChildren of the session's directory.
    List,
    /// multi of [`MultiSpec`].
    Multi,
    /// multiRead of [`MultiReadSpec`].
    MultiRead,
}

impl MixOp {
    /// The report row of the operation.
    pub fn kind(self) -> OpKind {
        match self {
            MixOp::Get => OpKind::GetData,
            MixOp::Set => OpKind::SetData,
            MixOp::Create => OpKind::Create,
            MixOp::CreateEphemeral => OpKind::CreateEphemeral,
            MixOp::Delete => OpKind::Delete,
            MixOp::Exists | MixOp::Watch => OpKind::Exists,
            MixOp::List => OpKind::GetChildren,
            MixOp::Multi => OpKind::Multi,
            MixOp::MultiRead => OpKind::MultiRead,
        }
    }
}

/// Relative weights of the operations a session draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Non-zero weights, in a fixed order.
    entries: Vec<(MixOp, u32)>,
    total: u32,
}

impl Mix {
    /// A mix of `weights` (zero weights dropped). Panics if all are zero.
    pub fn new(weights: &[(MixOp, u32)]) -> Mix {
        let entries: Vec<(MixOp, u32)> = weights.iter().copied().filter(|e| e.1 > 0).collect();
        let total = entries.iter().map(|e| e.1).sum();
        assert!(total > 0, "a mix needs a positive weight");
        Mix { entries, total }
    }

    /// Only `op`.
    pub fn only(op: MixOp) -> Mix {
        Mix::new(&[(op, 1)])
    }

    /// getData `read_pct`% of the time, else setData.
    pub fn read_write(read_pct: u8) -> Mix {
        let read = u32::from(read_pct.min(100));
        Mix::new(&[(MixOp::Get, read), (MixOp::Set, 100 - read)])
    }

    /// The weights.
    pub fn entries(&self) -> &[(MixOp, u32)] {
        &self.entries
    }

    /// The weight of `op` in percent of the whole.
    pub fn share_pct(&self, op: MixOp) -> f64 {
        let w: u32 = self.entries.iter().filter(|e| e.0 == op).map(|e| e.1).sum();
        f64::from(w) * 100.0 / f64::from(self.total)
    }

    /// Whether the mix can create keys.
    pub fn creates(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.0, MixOp::Create | MixOp::CreateEphemeral | MixOp::Multi))
    }

    /// Draws the next operation.
    pub fn draw(&self, rng: &mut Rng) -> MixOp {
        if self.entries.len() == 1 {
            return self.entries[0].0;
        }
        let mut x = rng.below(self.total);
        for &(op, w) in &self.entries {
            if x < w {
                return op;
            }
            x -= w;
        }
        unreachable!("x < total")
    }
}

/// The sub-operations of each multi (`MixOp::Multi`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiSpec {
    /// Sub-operations per multi.
    pub size: u32,
    /// Weights of the sub-operations: create, setData, delete, check.
    pub mix: Mix,
}

impl Default for MultiSpec {
    /// keeper-bench's example: creates and twice as many sets; creates
    /// balanced by deletes so the tree keeps its size.
    fn default() -> Self {
        MultiSpec {
            size: 20,
            mix: Mix::new(&[(MixOp::Create, 1), (MixOp::Set, 2), (MixOp::Delete, 1)]),
        }
    }
}

/// The sub-operations of each multiRead (`MixOp::MultiRead`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiReadSpec {
    /// Sub-operations per multiRead.
    pub size: u32,
    /// Weights: getData (`Get`) and getChildren (`List`).
    pub mix: Mix,
}

impl Default for MultiReadSpec {
    fn default() -> Self {
        MultiReadSpec {
            size: 20,
            mix: Mix::new(&[(MixOp::Get, 4), (MixOp::List, 1)]),
        }
    }
}

/// Bytes of data per write: uniform in `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSize {
    /// Smallest.
    pub min: u32,
    /// Largest.
    pub max: u32,
}

impl ValueSize {
    /// Always `size` bytes.
    pub fn fixed(size: u32) -> ValueSize {
        ValueSize {
            min: size,
            max: size,
        }
    }

    /// The next size.
    pub fn draw(&self, rng: &mut Rng) -> u32 {
        if self.min == self.max {
            self.min
        } else {
            rng.between(self.min, self.max)
        }
    }
}

impl fmt::Display for ValueSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{} B", self.min)
        } else {
            write!(f, "{}-{} B", self.min, self.max)
        }
    }
}

/// When a phase ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// After a warm-up (load, not recorded) and a measured window.
    Time {
        /// Unrecorded load before the window.
        warmup: Duration,
        /// The measured window.
        duration: Duration,
    },
    /// After this many operations in all (spread evenly over the sessions),
    /// every one of them measured; the window runs until the last reply.
    Ops(u64),
}

impl End {
    /// The operations session `index` of `sessions` sends (`Ops` only).
    pub fn quota(&self, index: u32, sessions: u32) -> Option<u64> {
        match *self {
            End::Time { .. } => None,
            End::Ops(total) => {
                let sessions = u64::from(sessions.max(1));
                let base = total / sessions;
                Some(base + u64::from(u64::from(index) < total % sessions))
            }
        }
    }
}

/// One pass of a step.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseSpec {
    /// Its name in reports ("run" for single-phase steps).
    pub name: String,
    /// What the sessions draw.
    pub mix: Mix,
    /// When it ends.
    pub end: End,
}

/// What the sessions of a step are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roles {
    /// Every session runs the mix.
    AllWork,
    /// watch-fanout: session 0 runs the mix (setData of its znode); all others
    /// hold a persistent watch on that znode and only receive notifications.
    OneWriterManyWatchers,
    /// session-churn: every session is a worker that opens and closes a new
    /// ZooKeeper session per cycle.
    Churn,
}

/// One measured run: its sessions, set-up, phases and tear-down.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Which workload (a name or a TOML file's `name`).
    pub workload: String,
    /// The swept parameter of this step, if the plan sweeps one, e.g.
    /// `("read_pct", 30.0)` or `("sessions", 16.0)`.
    pub point: Option<(&'static str, f64)>,
    /// Sessions.
    pub sessions: u32,
    /// Requests in flight per session at most.
    pub depth: usize,
    /// Open-loop arrival rate, ops/s; `None`: closed loop.
    pub rate: Option<f64>,
    /// Data per write.
    pub values: ValueSize,
    /// Znodes each session creates at set-up.
    pub keys_per_session: u32,
    /// How keys are picked.
    pub key_dist: KeyDist,
    /// The phases, in order.
    pub phases: Vec<PhaseSpec>,
    /// Shape of each multi.
    pub multi: MultiSpec,
    /// Shape of each multiRead.
    pub multi_read: MultiReadSpec,
    /// sync-create: delete each created znode as soon as its create returns,
    /// without waiting (those deletes do not count against `depth`).
    pub delete_after_create: bool,
    /// The row whose count and latency are the step's headline (`ops_per_sec`,
    /// `p99_us` ...); `None`: all operations together.
    pub headline: Option<OpKind>,
    /// What the sessions are for.
    pub roles: Roles,
}

impl Step {
    /// A short label: the workload and the swept parameter.
    pub fn label(&self) -> String {
        match self.point {
            Some((name, value)) => format!("{} {name}={value}", self.workload),
            None => self.workload.clone(),
        }
    }

    /// Checks what a run needs of the numbers.
    pub fn validate(&self) -> Result<(), String> {
        if self.sessions == 0 {
            return Err("sessions must be positive".into());
        }
        if self.depth == 0 {
            return Err("depth must be positive".into());
        }
        if self.phases.is_empty() {
            return Err("a workload needs at least one phase".into());
        }
        if self.values.min > self.values.max {
            return Err(format!("value size {} is empty", self.values));
        }
        if self.values.max as usize > crate::session::VALUE_BYTES_MAX {
            return Err(format!(
                "values of {} do not fit a reply under jute.maxbuffer (1 MiB)",
                self.values
            ));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err("rate must be a positive number of ops/s".into());
            }
        }
        if self.multi.size == 0 || self.multi_read.size == 0 {
            return Err("multi sizes must be positive".into());
        }
        if self.roles == Roles::OneWriterManyWatchers && self.sessions < 2 {
            return Err(
                "watch-fanout needs a writer and at least one watcher (sessions >= 2)".into(),
            );
        }
        for phase in &self.phases {
            match phase.end {
                End::Time { duration, .. } if duration.is_zero() => {
                    return Err("duration must be positive".into())
                }
                End::Ops(0) => return Err("ops must be positive".into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Everything `run` does: one or more steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The workload's name.
    pub workload: String,
    /// Its anchor (named workloads) or file (TOML).
    pub anchor: String,
    /// The steps, run one after another.
    pub steps: Vec<Step>,
}

/// What the command line may change in a workload. `None`: the workload's own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Sessions; several values make one step each.
    pub sessions: Vec<u32>,
    /// Requests in flight per session.
    pub depth: Option<usize>,
    /// Open-loop rate.
    pub rate: Option<f64>,
    /// Bytes per value.
    pub value_size: Option<u32>,
    /// Read shares (rw-sweep, large, read, write); several make one step each.
    pub read_pct: Vec<u8>,
    /// Measured window.
    pub duration: Option<Duration>,
    /// Warm-up.
    pub warmup: Option<Duration>,
    /// End after this many operations instead of by the clock.
    pub ops: Option<u64>,
    /// Znodes pre-created in all (spread over the sessions).
    pub tree_size: Option<u64>,
    /// Key distribution.
    pub zipfian: Option<bool>,
    /// Sub-operations per multi or multiRead.
    pub multi_size: Option<u32>,
}

/// The default window of a measured phase.
pub const DURATION_DEFAULT: Duration = Duration::from_secs(10);
/// The default warm-up before it.
pub const WARMUP_DEFAULT: Duration = Duration::from_secs(2);
/// Sessions when a workload does not say.
pub const SESSIONS_DEFAULT: u32 = 64;
/// Requests in flight per session when a workload does not say.
pub const DEPTH_DEFAULT: usize = 8;

fn timed() -> End {
    End::Time {
        warmup: WARMUP_DEFAULT,
        duration: DURATION_DEFAULT,
    }
}

fn one_phase(mix: Mix, end: End) -> Vec<PhaseSpec> {
    vec![PhaseSpec {
        name: "run".into(),
        mix,
        end,
    }]
}

/// The step every named workload starts from: 64 sessions x 8 in flight, 1 KiB,
/// one znode each, 2 s warm-up and 10 s window.
fn base(kind: WorkloadKind, mix: Mix) -> Step {
    Step {
        workload: kind.name().into(),
        point: None,
        sessions: SESSIONS_DEFAULT,
        depth: DEPTH_DEFAULT,
        rate: None,
        values: ValueSize::fixed(1024),
        keys_per_session: 1,
        key_dist: KeyDist::Uniform,
        phases: one_phase(mix, timed()),
        multi: MultiSpec::default(),
        multi_read: MultiReadSpec::default(),
        delete_after_create: false,
        headline: None,
        roles: Roles::AllWork,
    }
}

/// A named workload's steps before overrides, and the values it sweeps.
fn named(kind: WorkloadKind) -> (Step, Sweep) {
    use WorkloadKind as W;
    let mut sweep = Sweep::default();
    let step = match kind {
        W::Read => base(kind, Mix::only(MixOp::Get)),
        W::Write => base(kind, Mix::only(MixOp::Set)),
        W::RwSweep => {
            sweep.read_pct = (0..=10).map(|i| i * 10).collect();
            base(kind, Mix::read_write(50))
        }
        W::Large => {
            sweep.read_pct = vec![50];
            Step {
                values: ValueSize::fixed(64 << 10),
                ..base(kind, Mix::read_write(50))
            }
        }
        W::Create => Step {
            values: ValueSize::fixed(100),
            keys_per_session: 0,
            ..base(kind, Mix::only(MixOp::Create))
        },
        W::Mixed => Step {
            keys_per_session: 100,
            ..base(
                kind,
                Mix::new(&[
                    (MixOp::Create, 10),
                    (MixOp::Set, 40),
                    (MixOp::Get, 40),
                    (MixOp::Delete, 10),
                ]),
            )
        },
        W::SyncCreate => {
            sweep.sessions = vec![1, 10, 20];
            Step {
                depth: 1,
                values: ValueSize::fixed(100),
                keys_per_session: 0,
                delete_after_create: true,
                headline: Some(OpKind::Create),
                ..base(kind, Mix::only(MixOp::Create))
            }
        }
        W::DurabilityFloor => {
            sweep.sessions = (0..=10).map(|i| 1 << i).collect();
            Step {
                depth: 1,
                ..base(kind, Mix::only(MixOp::Set))
            }
        }
        W::BulkLoad => Step {
            keys_per_session: 0,
            phases: one_phase(Mix::only(MixOp::Create), End::Ops(1_000_000)),
            ..base(kind, Mix::only(MixOp::Create))
        },
        W::MultiWrite => Step {
            values: ValueSize::fixed(100),
            keys_per_session: 100,
            headline: Some(OpKind::Multi),
            ..base(kind, Mix::only(MixOp::Multi))
        },
        W::MultiRead => Step {
            values: ValueSize::fixed(100),
            keys_per_session: 100,
            headline: Some(OpKind::MultiRead),
            ..base(kind, Mix::only(MixOp::MultiRead))
        },
        W::LatencyProfile => Step {
            sessions: 1,
            depth: 1,
            values: ValueSize::fixed(25),
            keys_per_session: 0,
            key_dist: KeyDist::Sequential,
            phases: latency_profile_phases(10_000),
            ..base(kind, Mix::only(MixOp::Get))
        },
        W::WatchFanout => Step {
            sessions: 1001,
            depth: 1,
            rate: Some(100.0),
            values: ValueSize::fixed(100),
            headline: Some(OpKind::Notification),
            roles: Roles::OneWriterManyWatchers,
            ..base(kind, Mix::only(MixOp::Set))
        },
        W::SessionChurn => Step {
            sessions: 16,
            depth: 1,
            values: ValueSize::fixed(100),
            keys_per_session: 0,
            headline: Some(OpKind::Session),
            roles: Roles::Churn,
            ..base(kind, Mix::only(MixOp::CreateEphemeral))
        },
    };
    (step, sweep)
}

/// zk-latencies' passes, `count` operations each.
fn latency_profile_phases(count: u64) -> Vec<PhaseSpec> {
    [
        ("create", MixOp::Create),
        ("set", MixOp::Set),
        ("get", MixOp::Get),
        ("delete", MixOp::Delete),
        ("create-ephemeral", MixOp::CreateEphemeral),
        ("watch", MixOp::Watch),
        ("delete-ephemeral", MixOp::Delete),
    ]
    .into_iter()
    .map(|(name, op)| PhaseSpec {
        name: name.into(),
        mix: Mix::only(op),
        end: End::Ops(count),
    })
    .collect()
}

/// Values a plan makes one step each for (empty: no sweep).
#[derive(Clone, Debug, Default, PartialEq)]
struct Sweep {
    sessions: Vec<u32>,
    read_pct: Vec<u8>,
}

/// The plan of a named workload with the command line's overrides.
pub fn plan_named(kind: WorkloadKind, o: &Overrides) -> Result<Plan, String> {
    let (step, sweep) = named(kind);
    let steps = expand(step, sweep, o)?;
    Ok(Plan {
        workload: kind.name().into(),
        anchor: kind.anchor().into(),
        steps,
    })
}

/// Applies the overrides to `step` and makes one step per swept value.
fn expand(mut step: Step, mut sweep: Sweep, o: &Overrides) -> Result<Vec<Step>, String> {
    if !o.sessions.is_empty() {
        sweep.sessions = o.sessions.clone();
    }
    if !o.read_pct.is_empty() {
        if !step.phases.iter().all(|p| is_read_write(&p.mix)) {
            return Err(format!(
                "--read-pct applies to getData/setData workloads, not {}",
                step.workload
            ));
        }
        sweep.read_pct = o.read_pct.clone();
    }
    if let Some(depth) = o.depth {
        step.depth = depth;
    }
    if let Some(rate) = o.rate {
        step.rate = Some(rate);
    }
    if let Some(size) = o.value_size {
        step.values = ValueSize::fixed(size);
    }
    if let Some(size) = o.multi_size {
        step.multi.size = size;
        step.multi_read.size = size;
    }
    for phase in &mut step.phases {
        apply_end(&mut phase.end, o);
    }
    let sessions_list = if sweep.sessions.is_empty() {
        vec![step.sessions]
    } else {
        sweep.sessions.clone()
    };
    let mut steps = Vec::new();
    for &sessions in &sessions_list {
        let mut s = step.clone();
        s.sessions = sessions;
        if let Some(tree) = o.tree_size {
            let per = tree.div_ceil(u64::from(sessions.max(1)));
            s.keys_per_session = u32::try_from(per).map_err(|_| "--tree-size too large")?;
        }
        s.key_dist = key_dist(&s, o.zipfian)?;
        if sessions_list.len() > 1 {
            s.point = Some(("sessions", f64::from(sessions)));
        }
        if sweep.read_pct.is_empty() {
            s.validate()?;
            steps.push(s);
            continue;
        }
        for &read_pct in &sweep.read_pct {
            let mut r = s.clone();
            for phase in &mut r.phases {
                phase.mix = Mix::read_write(read_pct);
            }
            if sweep.read_pct.len() > 1 || step.workload == WorkloadKind::RwSweep.name() {
                r.point = Some(("read_pct", f64::from(read_pct)));
            }
            r.validate()?;
            steps.push(r);
        }
    }
    Ok(steps)
}

fn is_read_write(mix: &Mix) -> bool {
    mix.entries()
        .iter()
        .all(|e| matches!(e.0, MixOp::Get | MixOp::Set))
}

fn apply_end(end: &mut End, o: &Overrides) {
    if let Some(ops) = o.ops {
        *end = End::Ops(ops);
        return;
    }
    if let End::Time { warmup, duration } = end {
        if let Some(w) = o.warmup {
            *warmup = w;
        }
        if let Some(d) = o.duration {
            *duration = d;
        }
    }
}

fn key_dist(step: &Step, zipfian: Option<bool>) -> Result<KeyDist, String> {
    match zipfian {
        None => Ok(match step.key_dist {
            // Rebuilt for the step's key count.
            KeyDist::Zipfian(z) => {
                KeyDist::Zipfian(Zipf::new(step.keys_per_session.max(1), z.theta()))
            }
            other => other,
        }),
        Some(false) => Ok(KeyDist::Uniform),
        Some(true) => Ok(KeyDist::Zipfian(Zipf::new(
            step.keys_per_session.max(1),
            Zipf::THETA_DEFAULT,
        ))),
    }
}

/// A workload file: `--workload path/to/file.toml`.
///
/// ```toml
/// name = "hot-config"        # label in reports (default: the file's stem)
/// sessions = 64
/// depth = 8
/// rate = 20000               # open loop, ops/s (omit for closed loop)
/// warmup_s = 2
/// duration_s = 10            # or: total_ops = 100000 (stop after that many)
///
/// [ops]                      # relative weights; omitted ones are 0
/// get = 80
/// set = 15
/// create = 3
/// delete = 2
/// # also: create_ephemeral, exists, watch, list, multi, multi_read
///
/// [values]
/// size = 512                 # or: min = 100, max = 4096
///
/// [keys]
/// tree_size = 64000          # znodes created at set-up, spread over sessions
/// distribution = "zipfian"   # or "uniform"
/// zipf_theta = 0.99
///
/// [multi]                    # when ops.multi > 0
/// size = 10
/// create = 1
/// set = 2
/// delete = 1
/// check = 0
///
/// [multi_read]               # when ops.multi_read > 0
/// size = 10
/// get = 4
/// list = 1
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TomlWorkload {
    /// Label in reports.
    pub name: Option<String>,
    /// Sessions.
    pub sessions: Option<u32>,
    /// Requests in flight per session.
    pub depth: Option<usize>,
    /// Open-loop rate, ops/s.
    pub rate: Option<f64>,
    /// Warm-up, seconds.
    pub warmup_s: Option<f64>,
    /// Measured window, seconds.
    pub duration_s: Option<f64>,
    /// Stop after this many operations instead of by the clock.
    pub total_ops: Option<u64>,
    /// Operation weights (`[ops]`).
    #[serde(default)]
    pub ops: TomlOps,
    /// Value sizes (`[values]`).
    #[serde(default)]
    pub values: TomlValues,
    /// Keys (`[keys]`).
    #[serde(default)]
    pub keys: TomlKeys,
    /// Shape of each multi (`[multi]`).
    #[serde(default)]
    pub multi: TomlMulti,
    /// Shape of each multiRead (`[multi_read]`).
    #[serde(default)]
    pub multi_read: TomlMultiRead,
}

/// `[ops]`: relative weights.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TomlOps {
    /// getData.
    #[serde(default)]
    pub get: u32,
    /// setData.
    #[serde(default)]
    pub set: u32,
    /// create (persistent).
    #[serde(default)]
    pub create: u32,
    /// create (ephemeral).
    #[serde(default)]
    pub create_ephemeral: u32,
    /// delete.
    #[serde(default)]
    pub delete: u32,
    /// exists.
    #[serde(default)]
    pub exists: u32,
    /// exists with a watch.
    #[serde(default)]
    pub watch: u32,
    /// getChildren of the session's directory.
    #[serde(default)]
    pub list: u32,
    /// multi.
    #[serde(default)]
    pub multi: u32,
    /// multiRead.
    #[serde(default)]
    pub multi_read: u32,
}

/// `[values]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TomlValues {
    /// Every value this size.
    pub size: Option<u32>,
    /// Or uniform from `min` ...
    pub min: Option<u32>,
    /// ... to `max`.
    pub max: Option<u32>,
}

/// `[keys]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TomlKeys {
    /// Znodes created at set-up in all.
    pub tree_size: Option<u64>,
    /// "uniform" or "zipfian".
    pub distribution: Option<String>,
    /// Zipfian skew, 0 < theta < 1.
    pub zipf_theta: Option<f64>,
}

/// `[multi]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TomlMulti {
    /// Sub-operations per multi.
    pub size: Option<u32>,
    /// Weight of create.
    pub create: Option<u32>,
    /// Weight of setData.
    pub set: Option<u32>,
    /// Weight of delete.
    pub delete: Option<u32>,
    /// Weight of check (of an existing key's exact version).
    pub check: Option<u32>,
}

/// `[multi_read]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TomlMultiRead {
    /// Sub-operations per multiRead.
    pub size: Option<u32>,
    /// Weight of getData.
    pub get: Option<u32>,
    /// Weight of getChildren.
    pub list: Option<u32>,
}

fn seconds(name: &str, s: Option<f64>, default: Duration) -> Result<Duration, String> {
    match s {
        None => Ok(default),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(_) => Err(format!("{name} must be a non-negative number of seconds")),
    }
}

impl TomlWorkload {
    /// Parses a workload file's text.
    pub fn parse(text: &str) -> Result<TomlWorkload, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The step this file describes (`default_name` when it has no `name`).
    pub fn to_step(&self, default_name: &str) -> Result<Step, String> {
        let o = &self.ops;
        let mix_weights = [
            (MixOp::Get, o.get),
            (MixOp::Set, o.set),
            (MixOp::Create, o.create),
            (MixOp::CreateEphemeral, o.create_ephemeral),
            (MixOp::Delete, o.delete),
            (MixOp::Exists, o.exists),
            (MixOp::Watch, o.watch),
            (MixOp::List, o.list),
            (MixOp::Multi, o.multi),
            (MixOp::MultiRead, o.multi_read),
        ];
        if mix_weights.iter().all(|w| w.1 == 0) {
            return Err("[ops] needs at least one positive weight".into());
        }
        let values = match (self.values.size, self.values.min, self.values.max) {
            (Some(size), None, None) => ValueSize::fixed(size),
            (None, None, None) => ValueSize::fixed(1024),
            (None, Some(min), Some(max)) => ValueSize { min, max },
            _ => return Err("[values] takes either size, or min and max".into()),
        };
        let end = match (self.total_ops, self.duration_s) {
            (Some(_), Some(_)) => return Err("give duration_s or total_ops, not both".into()),
            (Some(n), None) => End::Ops(n),
            (None, d) => End::Time {
                warmup: seconds("warmup_s", self.warmup_s, WARMUP_DEFAULT)?,
                duration: seconds("duration_s", d, DURATION_DEFAULT)?,
            },
        };
        let sessions = self.sessions.unwrap_or(SESSIONS_DEFAULT);
        let keys_per_session = match self.keys.tree_size {
            Some(tree) => u32::try_from(tree.div_ceil(u64::from(sessions.max(1))))
                .map_err(|_| "tree_size too large")?,
            None => 1,
        };
        let theta = self.keys.zipf_theta.unwrap_or(Zipf::THETA_DEFAULT);
        if !(theta > 0.0 && theta < 1.0) {
            return Err("zipf_theta must be between 0 and 1 (exclusive)".into());
        }
        let key_dist = match self.keys.distribution.as_deref() {
            None | Some("uniform") => KeyDist::Uniform,
            Some("zipfian") => KeyDist::Zipfian(Zipf::new(keys_per_session.max(1), theta)),
            Some(other) => {
                return Err(format!(
                    "unknown key distribution {other:?} (uniform, zipfian)"
                ))
            }
        };
        let m = &self.multi;
        let multi_default = MultiSpec::default();
        let multi = if m == &TomlMulti::default() {
            multi_default
        } else {
            MultiSpec {
                size: m.size.unwrap_or(multi_default.size),
                mix: mix_or_err(
                    "[multi]",
                    &[
                        (MixOp::Create, m.create.unwrap_or(0)),
                        (MixOp::Set, m.set.unwrap_or(0)),
                        (MixOp::Delete, m.delete.unwrap_or(0)),
                        (MixOp::Exists, m.check.unwrap_or(0)),
                    ],
                )?,
            }
        };
        let r = &self.multi_read;
        let read_default = MultiReadSpec::default();
        let multi_read = if r == &TomlMultiRead::default() {
            read_default
        } else {
            MultiReadSpec {
                size: r.size.unwrap_or(read_default.size),
                mix: mix_or_err(
                    "[multi_read]",
                    &[
                        (MixOp::Get, r.get.unwrap_or(0)),
                        (MixOp::List, r.list.unwrap_or(0)),
                    ],
                )?,
            }
        };
        let step = Step {
            workload: self.name.clone().unwrap_or_else(|| default_name.to_owned()),
            point: None,
            sessions,
            depth: self.depth.unwrap_or(DEPTH_DEFAULT),
            rate: self.rate,
            values,
            keys_per_session,
            key_dist,
            phases: one_phase(Mix::new(&mix_weights), end),
            multi,
            multi_read,
            delete_after_create: false,
            headline: None,
            roles: Roles::AllWork,
        };
        step.validate()?;
        Ok(step)
    }
}

fn mix_or_err(section: &str, weights: &[(MixOp, u32)]) -> Result<Mix, String> {
    if weights.iter().all(|w| w.1 == 0) {
        return Err(format!("{section} needs at least one positive weight"));
    }
    Ok(Mix::new(weights))
}

/// The plan of a workload file with the command line's overrides.
pub fn plan_toml(text: &str, file_name: &str, o: &Overrides) -> Result<Plan, String> {
    let stem = std::path::Path::new(file_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("workload");
    let step = TomlWorkload::parse(text)
        .and_then(|w| w.to_step(stem))
        .map_err(|e| format!("{file_name}: {e}"))?;
    let o = Overrides {
        // The file's tree size is already spread over its sessions; a new
        // session count spreads it again.
        tree_size: o.tree_size.or_else(|| {
            (!o.sessions.is_empty())
                .then(|| u64::from(step.keys_per_session) * u64::from(step.sessions))
        }),
        ..o.clone()
    };
    let workload = step.workload.clone();
    let steps = expand(step, Sweep::default(), &o)?;
    Ok(Plan {
        workload,
        anchor: format!("workload file {file_name}"),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(mix: &Mix, n: usize) -> std::collections::HashMap<MixOp, usize> {
        let mut rng = Rng::new(42, 0);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..n {
            *counts.entry(mix.draw(&mut rng)).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn mixes_follow_their_weights() {
        let mixed = plan_named(WorkloadKind::Mixed, &Overrides::default()).unwrap();
        let counts = draw(&mixed.steps[0].phases[0].mix, 100_000);
        for (op, pct) in [
            (MixOp::Create, 10),
            (MixOp::Set, 40),
            (MixOp::Get, 40),
            (MixOp::Delete, 10),
        ] {
            let expected = pct * 1000;
            assert!(
                counts[&op].abs_diff(expected) <= 1000,
                "{op:?}: {}",
                counts[&op]
            );
        }
        for read_pct in [0u8, 10, 50, 100] {
            let counts = draw(&Mix::read_write(read_pct), 10_000);
            let reads = counts.get(&MixOp::Get).copied().unwrap_or(0);
            assert!(
                reads.abs_diff(usize::from(read_pct) * 100) <= 300,
                "{read_pct}: {reads}"
            );
        }
    }

    #[test]
    fn every_named_workload_has_a_valid_plan_and_an_anchor() {
        for kind in WorkloadKind::ALL {
            let plan = plan_named(kind, &Overrides::default()).unwrap();
            assert!(!plan.steps.is_empty(), "{kind}");
            assert!(!kind.anchor().is_empty() && !kind.what().is_empty());
            assert_eq!(WorkloadKind::from_name(kind.name()), Some(kind));
            for step in &plan.steps {
                step.validate().unwrap();
            }
        }
    }

    #[test]
    fn sweeps_make_one_step_per_point() {
        let rw = plan_named(WorkloadKind::RwSweep, &Overrides::default()).unwrap();
        let points: Vec<_> = rw.steps.iter().map(|s| s.point.unwrap().1 as u8).collect();
        assert_eq!(points, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(rw.steps[3].phases[0].mix.share_pct(MixOp::Get), 30.0);
        let one = plan_named(
            WorkloadKind::RwSweep,
            &Overrides {
                read_pct: vec![90],
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(one.steps.len(), 1);
        assert_eq!(one.steps[0].label(), "rw-sweep read_pct=90");
        let floor = plan_named(WorkloadKind::DurabilityFloor, &Overrides::default()).unwrap();
        let sessions: Vec<u32> = floor.steps.iter().map(|s| s.sessions).collect();
        assert_eq!(sessions, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
        assert!(floor.steps.iter().all(|s| s.depth == 1));
        let sync = plan_named(WorkloadKind::SyncCreate, &Overrides::default()).unwrap();
        assert_eq!(
            sync.steps.iter().map(|s| s.sessions).collect::<Vec<_>>(),
            [1, 10, 20]
        );
        assert!(sync.steps.iter().all(|s| s.delete_after_create));
    }

    #[test]
    fn overrides_apply() {
        let o = Overrides {
            sessions: vec![4],
            depth: Some(2),
            value_size: Some(512),
            duration: Some(Duration::from_secs(3)),
            warmup: Some(Duration::ZERO),
            tree_size: Some(1000),
            zipfian: Some(true),
            ..Overrides::default()
        };
        let plan = plan_named(WorkloadKind::Mixed, &o).unwrap();
        let s = &plan.steps[0];
        assert_eq!(
            (s.sessions, s.depth, s.values),
            (4, 2, ValueSize::fixed(512))
        );
        assert_eq!(s.keys_per_session, 250);
        assert!(matches!(s.key_dist, KeyDist::Zipfian(z) if z.n() == 250));
        assert_eq!(
            s.phases[0].end,
            End::Time {
                warmup: Duration::ZERO,
                duration: Duration::from_secs(3)
            }
        );
        let counted = plan_named(
            WorkloadKind::Create,
            &Overrides {
                ops: Some(500),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(counted.steps[0].phases[0].end, End::Ops(500));
        assert!(plan_named(
            WorkloadKind::Mixed,
            &Overrides {
                read_pct: vec![50],
                ..Overrides::default()
            }
        )
        .unwrap_err()
        .contains("--read-pct"));
    }

    #[test]
    fn quotas_spread_the_total() {
        let end = End::Ops(10);
        let quotas: Vec<u64> = (0..3).map(|i| end.quota(i, 3).unwrap()).collect();
        assert_eq!(quotas, [4, 3, 3]);
        assert_eq!(timed().quota(0, 3), None);
    }

    #[test]
    fn latency_profile_is_zk_latencies() {
        let plan = plan_named(WorkloadKind::LatencyProfile, &Overrides::default()).unwrap();
        let s = &plan.steps[0];
        let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "create",
                "set",
                "get",
                "delete",
                "create-ephemeral",
                "watch",
                "delete-ephemeral"
            ]
        );
        assert!(s.phases.iter().all(|p| p.end == End::Ops(10_000)));
        assert_eq!(
            (s.sessions, s.depth, s.values),
            (1, 1, ValueSize::fixed(25))
        );
        assert_eq!(s.key_dist, KeyDist::Sequential);
    }

    #[test]
    fn toml_files_describe_any_mix() {
        let text = r#"
            name = "hot"
            sessions = 8
            depth = 4
            duration_s = 3
            warmup_s = 0.5
            [ops]
            get = 80
            set = 15
            multi = 5
            [values]
            min = 100
            max = 200
            [keys]
            tree_size = 800
            distribution = "zipfian"
            [multi]
            size = 4
            set = 1
            check = 1
        "#;
        let plan = plan_toml(text, "dir/hot-config.toml", &Overrides::default()).unwrap();
        let s = &plan.steps[0];
        assert_eq!(s.workload, "hot");
        assert_eq!((s.sessions, s.depth, s.keys_per_session), (8, 4, 100));
        assert_eq!(s.values, ValueSize { min: 100, max: 200 });
        assert!(matches!(s.key_dist, KeyDist::Zipfian(z) if z.n() == 100));
        assert_eq!(s.phases[0].mix.share_pct(MixOp::Get), 80.0);
        assert_eq!(s.multi.size, 4);
        assert_eq!(s.multi.mix.share_pct(MixOp::Exists), 50.0);
        assert_eq!(
            s.phases[0].end,
            End::Time {
                warmup: Duration::from_millis(500),
                duration: Duration::from_secs(3)
            }
        );
        // More sessions on the command line keep the file's tree size.
        let wider = plan_toml(
            text,
            "hot.toml",
            &Overrides {
                sessions: vec![16],
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(wider.steps[0].keys_per_session, 50);
        let anonymous =
            plan_toml("[ops]\nget = 1\n", "x/reads.toml", &Overrides::default()).unwrap();
        assert_eq!(anonymous.workload, "reads");
    }

    #[test]
    fn bad_toml_files_are_refused_with_a_reason() {
        let cases = [
            ("", "positive weight"),
            ("[ops]\nget = 1\n[values]\nsize = 1\nmin = 2\n", "[values]"),
            ("[ops]\nget = 1\nfrobnicate = 2\n", "unknown field"),
            (
                "total_ops = 5\nduration_s = 1\n[ops]\nget = 1\n",
                "not both",
            ),
            (
                "[ops]\nget = 1\n[keys]\ndistribution = \"pareto\"\n",
                "pareto",
            ),
            (
                "[ops]\nget = 1\n[values]\nsize = 2000000\n",
                "jute.maxbuffer",
            ),
        ];
        for (text, why) in cases {
            let err = plan_toml(text, "bad.toml", &Overrides::default()).unwrap_err();
            assert!(
                err.contains(why) && err.starts_with("bad.toml: "),
                "{text:?}: {err}"
            );
        }
    }
}
