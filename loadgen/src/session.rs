//! One ZooKeeper session of the load generator, as a pure state machine: the
//! driver hands it the time and the frames it reads, and it writes request
//! frames into the driver's output buffer and returns what completed.
//!
//! A session works through phases the driver sets: `Connecting` (handshake),
//! `Setup` (create its directory `<root>/s<index>` and its znodes, or set its
//! watch), `Run(p)` (phase `p` of the step), `Drain` (answer what is still in
//! flight or queued, send nothing new), `Teardown` (delete everything it
//! created), `Close` (closeSession) and `Done`.
//!
//! ZooKeeper answers a session's requests in the order it sent them
//! (`FinalRequestProcessor`, the "FIFO client order" guarantee), so requests in
//! flight are a queue and every reply must match the oldest one's xid. Only
//! this session writes its znodes and ZooKeeper applies its requests in order,
//! so what each reply must say is known when the request is sent
//! ([`crate::keys`], [`crate::expect`]): versions, data, read-your-writes,
//! listings, and the watch notifications its writes must fire.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corekeeper::constants::JUTE_MAXBUFFER_DEFAULT;
use corekeeper::proto::frame::{begin_frame, end_frame};
use corekeeper::proto::{
    xid, Acl, AddWatchMode, AddWatchRequest, CheckVersionRequest, ConnectRequest, ConnectResponse,
    CreateMode, CreateRequest, DecodeError, DeleteRequest, ErrorCode, EventType, MultiOp,
    MultiReadOp, OpCode, PathWatch, Reader, ReplyHeader, Request, Response, SetDataRequest,
    WatcherEvent,
};

use crate::expect::{self, stamped_value, Expect, Invalid, Owner};
use crate::fanout::FanoutClock;
use crate::keys::{KeySpace, Need};
use crate::rng::Rng;
use crate::workload::{MixOp, OpKind, Roles, Step};

/// Arrivals an open-loop session queues while its pipeline is full; later ones
/// are dropped and counted as `BacklogFull` errors.
pub const BACKLOG_MAX: usize = 65_536;

/// Largest reply frame accepted (ZooKeeper's `jute.maxbuffer` default).
pub const REPLY_BYTES_MAX: usize = JUTE_MAXBUFFER_DEFAULT;

/// Largest value a workload may write: a getData reply of it (value, stat,
/// header) must fit `REPLY_BYTES_MAX`.
pub const VALUE_BYTES_MAX: usize = REPLY_BYTES_MAX - 1024;

/// Requests in flight during set-up and tear-down, at least (those phases are
/// not measured; a deeper pipeline only makes them quicker).
const HOUSEKEEPING_DEPTH_MIN: usize = 32;

/// Deletes of created znodes a sync-create session may have in flight beside
/// its create.
const FOLLOW_UPS_MAX: usize = 1024;

/// Where a session is in the run; the driver moves all sessions together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Handshake sent or to send.
    Connecting,
    /// Creating the session's directory and znodes, or setting its watch.
    Setup,
    /// Phase `p` of the step (measured).
    Run(usize),
    /// No new operations; finishing those in flight or queued.
    Drain,
    /// Deleting what the session created.
    Teardown,
    /// closeSession sent or to send.
    Close,
    /// Closed (or failed): nothing more to do.
    Done,
}

/// How operations arrive (`--rate` or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopModel {
    /// Each completion lets the session send the next operation at once
    /// (sessions × depth operations always outstanding).
    Closed,
    /// Operations arrive at fixed times handed in by the driver's pacer; latency
    /// counts from the arrival, including any wait for a free pipeline slot.
    Open,
}

/// Why an operation did not succeed; the key of the error counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The server answered with this ZooKeeper error code (`ReplyHeader.err`,
    /// or the failing sub-op's code in a multi).
    Server(i32),
    /// The server answered, but wrongly.
    Invalid(Invalid),
    /// The connection closed (or broke the protocol) with the operation pending.
    ConnectionLoss,
    /// Not answered within the drain time limit after the run.
    Timeout,
    /// Open loop: the arrival found the session's backlog full and was dropped.
    BacklogFull,
}

impl ErrorKind {
    /// The name used in reports: ZooKeeper's `KeeperException.Code` name for
    /// server codes (`NONODE`), `invalid.*` for validation failures.
    pub fn name(&self) -> String {
        match self {
            ErrorKind::Server(code) => match ErrorCode::from_code(*code) {
                Some(known) => format!("{known:?}").to_uppercase(),
                None => format!("ERROR{code}"),
            },
            ErrorKind::Invalid(what) => format!("invalid.{}", what.name()),
            ErrorKind::ConnectionLoss => "CONNECTIONLOSS".to_owned(),
            ErrorKind::Timeout => "TIMEOUT".to_owned(),
            ErrorKind::BacklogFull => "BACKLOGFULL".to_owned(),
        }
    }
}

/// Why an operation was sent; only `Measured` ones enter the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Part of the workload.
    Measured,
    /// Creating the session's directory, znodes or watch.
    Setup,
    /// Deleting what the run created.
    Teardown,
    /// closeSession.
    Close,
    /// Given up on at the drain limit (already counted as a timeout).
    Abandoned,
}

/// An operation that got its reply (or was failed by the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The operation.
    pub op: OpKind,
    /// Why it was sent.
    pub purpose: Purpose,
    /// Which phase of the step it belongs to.
    pub phase: usize,
    /// When it should have been sent (closed loop: when it was), ns on the run
    /// clock. For a notification: when the write that fired it was sent.
    pub intended_ns: u64,
    /// When it was queued for the socket, ns on the run clock (open loop: later
    /// than intended when the pacer woke late or the pipeline was full).
    pub sent_ns: u64,
    /// What came of it.
    pub outcome: Result<(), ErrorKind>,
}

/// The session cannot go on; the driver fails what is in flight and stops it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The server refused the handshake (negotiated timeout 0: session invalid).
    #[error("the server refused the session (handshake returned timeout 0)")]
    Refused,
    /// A frame did not decode as the expected record.
    #[error("undecodable frame: {0}")]
    Decode(#[from] DecodeError),
    /// A reply's xid is not that of the oldest request in flight.
    #[error("reply xid {got} but the oldest request in flight is xid {expected:?}")]
    UnexpectedXid {
        /// The reply's xid.
        got: i32,
        /// The xid the session waited for (`None`: nothing in flight).
        expected: Option<i32>,
    },
}

/// A request sent and not yet answered.
#[derive(Clone, Debug)]
struct InFlight {
    xid: i32,
    op: OpKind,
    opcode: OpCode,
    purpose: Purpose,
    phase: usize,
    intended_ns: u64,
    sent_ns: u64,
    expect: Expect,
    /// Counts against `depth` (sync-create's follow-up deletes do not).
    primary: bool,
}

/// A notification one of this session's writes must fire.
#[derive(Clone, Copy, Debug)]
struct NotifyDue {
    event: EventType,
    phase: usize,
    /// When the write that fires it was meant to be sent.
    intended_ns: u64,
}

/// Parameters shared by all sessions of a step.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The step.
    pub step: Arc<Step>,
    /// Closed or open loop.
    pub model: LoopModel,
    /// The run's root znode (created and removed by the driver).
    pub root: String,
    /// Session timeout asked for in the handshake.
    pub timeout_ms: i32,
    /// Run seed (each session draws from its own stream of it).
    pub seed: u64,
    /// watch-fanout: the writer's send times, read by the watchers.
    pub fanout: Option<Arc<FanoutClock>>,
}

/// What a session is for in its step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Worker,
    /// Holds a persistent watch on the writer's znode; sends nothing measured.
    Watcher,
}

/// One session's protocol state. Lives on one driver thread.
pub struct Session {
    index: u32,
    config: SessionConfig,
    role: Role,
    dir: String,
    rng: Rng,
    phase: Phase,
    failed: bool,
    xid_next: i32,
    in_flight: VecDeque<InFlight>,
    primary_in_flight: usize,
    backlog: VecDeque<u64>,
    run_end_ns: u64,
    /// Measured operations left in a counted phase.
    quota: Option<u64>,
    keys: KeySpace,
    /// Keys whose create returned, to delete now (sync-create).
    follow_ups: VecDeque<u32>,
    notify_due: HashMap<u32, NotifyDue>,
    /// watch-fanout watchers: data-change notifications received.
    fanout_seen: i32,
    connect_sent: bool,
    connected_session_id: Option<i64>,
    setup_dir_sent: bool,
    setup_next_key: u32,
    teardown_keys: Option<Vec<u32>>,
    teardown_next: usize,
    teardown_dir_sent: bool,
    close_sent: bool,
    /// The time handed to the last `fill`.
    now_ns: u64,
    /// The intended time of the measured operation being encoded.
    intended_ns: u64,
    /// The step's phase the session is in or last was in.
    run_phase: usize,
    value_fill: Bytes,
    scratch_keys: Vec<u32>,
}

impl Session {
    /// Session number `index` of a step.
    pub fn new(index: u32, config: SessionConfig) -> Session {
        assert!(config.step.depth > 0, "depth must be positive");
        let role = if config.step.roles == Roles::OneWriterManyWatchers && index > 0 {
            Role::Watcher
        } else {
            Role::Worker
        };
        let dir = format!("{}/s{index}", config.root);
        let value_fill = Bytes::from(vec![b'x'; config.step.values.max as usize]);
        let mut keys = KeySpace::new();
        if role == Role::Worker {
            keys.reserve(config.step.keys_per_session);
        }
        Session {
            index,
            rng: Rng::new(config.seed, u64::from(index)),
            role,
            dir,
            config,
            phase: Phase::Connecting,
            failed: false,
            xid_next: 1,
            in_flight: VecDeque::new(),
            primary_in_flight: 0,
            backlog: VecDeque::new(),
            run_end_ns: 0,
            quota: None,
            keys,
            follow_ups: VecDeque::new(),
            notify_due: HashMap::new(),
            fanout_seen: 0,
            connect_sent: false,
            connected_session_id: None,
            setup_dir_sent: false,
            setup_next_key: 0,
            teardown_keys: None,
            teardown_next: 0,
            teardown_dir_sent: false,
            close_sent: false,
            now_ns: 0,
            intended_ns: 0,
            run_phase: 0,
            value_fill,
            scratch_keys: Vec::new(),
        }
    }

    /// The session's index in the run.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The session id the server gave, once connected.
    pub fn session_id(&self) -> Option<i64> {
        self.connected_session_id
    }

    /// Whether the session failed (connection lost, refused, protocol error).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether the open-loop pacer should hand this session arrivals.
    pub fn takes_arrivals(&self) -> bool {
        self.role == Role::Worker
    }

    /// The session's model of its znodes.
    pub fn keys(&self) -> &KeySpace {
        &self.keys
    }

    /// Moves to `phase`; `Run` sends until `run_end_ns` (closed loop, timed
    /// phases) or until its share of a counted phase is sent.
    pub fn set_phase(&mut self, phase: Phase, run_end_ns: u64) {
        if self.failed {
            return;
        }
        self.phase = phase;
        self.run_end_ns = run_end_ns;
        if phase == Phase::Drain {
            self.finish_fanout_writer();
        }
        if let Phase::Run(p) = phase {
            self.run_phase = p;
            self.keys.rewind();
            let step = &self.config.step;
            self.quota = step.phases[p].end.quota(self.index, step.sessions);
        }
    }

    /// Queues an open-loop arrival intended at `intended_ns`.
    pub fn push_arrival(&mut self, intended_ns: u64) -> Result<(), ErrorKind> {
        if self.failed {
            return Err(ErrorKind::ConnectionLoss);
        }
        if self.backlog.len() >= BACKLOG_MAX {
            return Err(ErrorKind::BacklogFull);
        }
        self.backlog.push_back(intended_ns);
        Ok(())
    }

    /// Whether the current phase has nothing left to send or wait for. A timed
    /// `Run` never finishes by itself: the driver ends it by the clock.
    pub fn phase_done(&self) -> bool {
        if self.failed {
            return true;
        }
        let idle = self.in_flight.is_empty() && self.follow_ups.is_empty();
        let settled = idle && self.notify_due.is_empty() && self.fanout_settled();
        match self.phase {
            Phase::Connecting => self.connected_session_id.is_some(),
            Phase::Setup => idle && self.setup_sent_all(),
            Phase::Run(_) => self.quota == Some(0) && self.backlog.is_empty() && settled,
            Phase::Drain => self.backlog.is_empty() && settled,
            Phase::Teardown => idle && self.teardown_dir_sent,
            Phase::Close => false,
            Phase::Done => true,
        }
    }

    /// Writes the requests the session may send now into `out` (appending whole
    /// frames) and returns how many.
    pub fn fill(&mut self, now_ns: u64, out: &mut BytesMut) -> usize {
        if self.failed {
            return 0;
        }
        self.now_ns = now_ns;
        match self.phase {
            Phase::Connecting if !self.connect_sent => {
                self.encode_connect(out);
                self.connect_sent = true;
                1
            }
            Phase::Setup => self.send_setup(out),
            Phase::Run(p) => {
                let mut sent = self.send_follow_ups(out);
                sent += match self.config.model {
                    LoopModel::Closed => self.send_closed_loop(p, now_ns, out),
                    LoopModel::Open => self.send_backlog(p, out),
                };
                sent
            }
            Phase::Drain => {
                let p = self.last_run_phase();
                self.send_follow_ups(out) + self.send_backlog(p, out)
            }
            Phase::Teardown => self.send_teardown(out),
            Phase::Close if !self.close_sent => {
                self.close_sent = true;
                let xid = self.next_xid();
                Request::CloseSession.encode_frame(xid, out);
                self.push(
                    xid,
                    OpKind::Close,
                    OpCode::CloseSession,
                    Purpose::Close,
                    0,
                    Expect::Success,
                );
                1
            }
            _ => 0,
        }
    }

    /// Writes a ping (xid -2); its reply is skipped, wherever it comes.
    pub fn encode_ping(&self, out: &mut BytesMut) {
        Request::Ping.encode_frame(xid::PING, out);
    }

    /// Handles one frame from the server; returns what it completed (a reply,
    /// or a notification this session waited for).
    pub fn on_frame(
        &mut self,
        frame: &Bytes,
        now_ns: u64,
    ) -> Result<Option<Completion>, SessionError> {
        let mut r = Reader::new(frame, REPLY_BYTES_MAX);
        if self.connected_session_id.is_none() {
            let response = ConnectResponse::decode(&mut r)?;
            if response.timeout_ms <= 0 {
                return Err(SessionError::Refused);
            }
            self.connected_session_id = Some(response.session_id);
            return Ok(None);
        }
        let header = ReplyHeader::decode(&mut r)?;
        if header.xid == xid::PING {
            return Ok(None);
        }
        if header.xid == xid::NOTIFICATION {
            let event = WatcherEvent::decode(&mut r)?;
            return Ok(self.on_notification(&event, now_ns));
        }
        let pending = match self.in_flight.front() {
            Some(front) if front.xid == header.xid => {
                self.in_flight.pop_front().expect("front exists")
            }
            other => {
                return Err(SessionError::UnexpectedXid {
                    got: header.xid,
                    expected: other.map(|p| p.xid),
                })
            }
        };
        if pending.primary {
            self.primary_in_flight -= 1;
        }
        if pending.purpose == Purpose::Close {
            self.phase = Phase::Done;
        }
        let outcome = self.outcome(&pending, header.err, &mut r);
        if outcome.is_err() {
            self.forget(&pending.expect);
        } else if self.config.step.delete_after_create && pending.purpose == Purpose::Measured {
            if let Expect::Created { key } = pending.expect {
                self.follow_ups.push_back(key);
            }
        }
        self.finish_fanout_writer();
        Ok(Some(Completion {
            op: pending.op,
            purpose: pending.purpose,
            phase: pending.phase,
            intended_ns: pending.intended_ns,
            sent_ns: pending.sent_ns,
            outcome,
        }))
    }

    /// Marks the session failed and returns a `ConnectionLoss` completion for
    /// everything in flight or queued.
    pub fn fail(&mut self) -> Vec<Completion> {
        self.failed = true;
        self.primary_in_flight = 0;
        let phase = self.last_run_phase();
        let mut lost: Vec<Completion> = self
            .in_flight
            .drain(..)
            .map(|p| Completion {
                op: p.op,
                purpose: p.purpose,
                phase: p.phase,
                intended_ns: p.intended_ns,
                sent_ns: p.sent_ns,
                outcome: Err(ErrorKind::ConnectionLoss),
            })
            .collect();
        for intended_ns in self.backlog.drain(..) {
            lost.push(Completion {
                op: self.config.step.phases[phase]
                    .mix
                    .draw(&mut self.rng)
                    .kind(),
                purpose: Purpose::Measured,
                phase,
                intended_ns,
                sent_ns: intended_ns,
                outcome: Err(ErrorKind::ConnectionLoss),
            });
        }
        self.follow_ups.clear();
        for (_, due) in self.notify_due.drain() {
            lost.push(Completion {
                op: OpKind::Notification,
                purpose: Purpose::Measured,
                phase: due.phase,
                intended_ns: due.intended_ns,
                sent_ns: due.intended_ns,
                outcome: Err(ErrorKind::ConnectionLoss),
            });
        }
        lost
    }

    /// Gives up on the measured operations still in flight or queued, and on
    /// the notifications still due (the drain limit passed): returns them as
    /// (kind, phase, intended time), drops the queue, and keeps the in-flight
    /// requests only to match their replies if they still come.
    pub fn abandon_measured(&mut self) -> Vec<(OpKind, usize, u64)> {
        let phase = self.last_run_phase();
        let mut given_up = Vec::new();
        for intended_ns in self.backlog.drain(..) {
            given_up.push((
                self.config.step.phases[phase]
                    .mix
                    .draw(&mut self.rng)
                    .kind(),
                phase,
                intended_ns,
            ));
        }
        for pending in self.in_flight.iter_mut() {
            if pending.purpose == Purpose::Measured {
                pending.purpose = Purpose::Abandoned;
                given_up.push((pending.op, pending.phase, pending.intended_ns));
            }
        }
        self.follow_ups.clear();
        for (_, due) in self.notify_due.drain() {
            given_up.push((OpKind::Notification, due.phase, due.intended_ns));
        }
        given_up
    }

    fn last_run_phase(&self) -> usize {
        self.run_phase
    }

    /// watch-fanout: once the writer has drained, tells the watchers which
    /// version it ended at.
    fn finish_fanout_writer(&self) {
        let Some(clock) = &self.config.fanout else {
            return;
        };
        if self.role != Role::Worker || self.phase != Phase::Drain {
            return;
        }
        if self.in_flight.is_empty() && self.backlog.is_empty() {
            let k = self.keys.get(0);
            clock.writer_finished((!k.retired).then_some(k.version));
        }
    }

    fn fanout_settled(&self) -> bool {
        match (&self.config.fanout, self.role) {
            (Some(clock), Role::Watcher) => clock.settled(self.fanout_seen),
            _ => true,
        }
    }

    fn depth(&self) -> usize {
        match self.phase {
            Phase::Setup | Phase::Teardown => self.config.step.depth.max(HOUSEKEEPING_DEPTH_MIN),
            _ => self.config.step.depth,
        }
    }

    fn has_room(&self) -> bool {
        self.primary_in_flight < self.depth()
    }

    fn next_xid(&mut self) -> i32 {
        let xid = self.xid_next;
        self.xid_next = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    fn owner(&self) -> Owner<'_> {
        Owner {
            session: self.index,
            dir: &self.dir,
        }
    }

    fn push(
        &mut self,
        xid: i32,
        op: OpKind,
        opcode: OpCode,
        purpose: Purpose,
        intended_ns: u64,
        expect: Expect,
    ) {
        self.push_full(xid, op, opcode, purpose, intended_ns, expect, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_full(
        &mut self,
        xid: i32,
        op: OpKind,
        opcode: OpCode,
        purpose: Purpose,
        intended_ns: u64,
        expect: Expect,
        primary: bool,
    ) {
        let phase = self.run_phase;
        if primary {
            self.primary_in_flight += 1;
        }
        self.in_flight.push_back(InFlight {
            xid,
            op,
            opcode,
            purpose,
            phase,
            intended_ns,
            sent_ns: self.now_ns,
            expect,
            primary,
        });
    }

    /// What came of a reply: the server's code, or the check of its body.
    fn outcome(
        &mut self,
        pending: &InFlight,
        err: i32,
        r: &mut Reader<'_>,
    ) -> Result<(), ErrorKind> {
        if err != 0 {
            let tolerated = pending.purpose == Purpose::Teardown && err == ErrorCode::NoNode.code();
            return if tolerated {
                Ok(())
            } else {
                Err(ErrorKind::Server(err))
            };
        }
        let response =
            Response::decode(pending.opcode, r).map_err(|_| ErrorKind::Invalid(Invalid::Body))?;
        if let Some(code) = expect::multi_error(&response) {
            return Err(ErrorKind::Server(code));
        }
        if pending.purpose != Purpose::Measured {
            return Ok(());
        }
        expect::check(&pending.expect, &response, self.owner()).map_err(ErrorKind::Invalid)
    }

    /// A request on these keys failed: their state is unknown; stop using them
    /// and stop waiting for notifications their writes would have fired.
    fn forget(&mut self, expect: &Expect) {
        let mut keys = std::mem::take(&mut self.scratch_keys);
        keys.clear();
        expect.keys(&mut keys);
        for &key in &keys {
            self.keys.retire(key);
            self.notify_due.remove(&key);
        }
        self.scratch_keys = keys;
    }

    fn on_notification(&mut self, event: &WatcherEvent<'_>, now_ns: u64) -> Option<Completion> {
        if matches!(
            self.phase,
            Phase::Teardown | Phase::Close | Phase::Done | Phase::Setup
        ) {
            // Our own tear-down (or a set-up race) fires watches: not measured.
            return None;
        }
        if let (Some(clock), Role::Watcher) = (&self.config.fanout, self.role) {
            return self.on_fanout_notification(clock.clone(), event, now_ns);
        }
        let due = self
            .owner()
            .key_of(event.path)
            .and_then(|key| self.notify_due.remove(&key));
        let outcome = match due {
            Some(due) if due.event as i32 == event.event_type => Ok(()),
            _ => Err(ErrorKind::Invalid(Invalid::Notification)),
        };
        let (phase, intended_ns) =
            due.map_or((self.run_phase, now_ns), |d| (d.phase, d.intended_ns));
        Some(Completion {
            op: OpKind::Notification,
            purpose: Purpose::Measured,
            phase,
            intended_ns,
            sent_ns: intended_ns,
            outcome,
        })
    }

    fn on_fanout_notification(
        &mut self,
        clock: Arc<FanoutClock>,
        event: &WatcherEvent<'_>,
        now_ns: u64,
    ) -> Option<Completion> {
        if event.event_type == EventType::NodeCreated as i32 && self.fanout_seen == 0 {
            // The writer created its znode after this watch was set.
            return None;
        }
        let version = self.fanout_seen + 1;
        let sent_ns = clock.sent_ns(version);
        let right = event.event_type == EventType::NodeDataChanged as i32
            && event.path == clock.path()
            && sent_ns.is_some();
        let outcome = if right {
            self.fanout_seen = version;
            Ok(())
        } else {
            Err(ErrorKind::Invalid(Invalid::Notification))
        };
        let sent_ns = sent_ns.unwrap_or(now_ns);
        Some(Completion {
            op: OpKind::Notification,
            purpose: Purpose::Measured,
            phase: 0,
            intended_ns: sent_ns,
            sent_ns,
            outcome,
        })
    }

    fn encode_connect(&self, out: &mut BytesMut) {
        let start = begin_frame(out);
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: self.config.timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        }
        .encode(out);
        end_frame(out, start);
    }

    fn setup_sent_all(&self) -> bool {
        match self.role {
            Role::Watcher => self.setup_dir_sent,
            Role::Worker => {
                self.setup_dir_sent && self.setup_next_key >= self.config.step.keys_per_session
            }
        }
    }

    /// Set-up: the directory, then the pre-created znodes (or, for a watcher,
    /// the persistent watch on the writer's znode).
    fn send_setup(&mut self, out: &mut BytesMut) -> usize {
        let mut sent = 0;
        if !self.setup_dir_sent {
            self.setup_dir_sent = true;
            let xid = self.next_xid();
            if self.role == Role::Watcher {
                let clock = self
                    .config
                    .fanout
                    .clone()
                    .expect("watchers have a fanout clock");
                Request::AddWatch(AddWatchRequest {
                    path: clock.path(),
                    mode: AddWatchMode::Persistent as i32,
                })
                .encode_frame(xid, out);
                self.push(
                    xid,
                    OpKind::Exists,
                    OpCode::AddWatch,
                    Purpose::Setup,
                    0,
                    Expect::Success,
                );
                return 1;
            }
            encode_create(&self.dir, Bytes::new(), false, xid, out);
            self.push(
                xid,
                OpKind::Create,
                OpCode::Create,
                Purpose::Setup,
                0,
                Expect::Success,
            );
            sent += 1;
        }
        while self.role == Role::Worker
            && self.has_room()
            && self.setup_next_key < self.config.step.keys_per_session
        {
            let key = self.setup_next_key;
            self.setup_next_key += 1;
            let (xid, _) = self.encode_create_key(key, false, out);
            self.push(
                xid,
                OpKind::Create,
                OpCode::Create,
                Purpose::Setup,
                0,
                Expect::Success,
            );
            sent += 1;
        }
        sent
    }

    /// Encodes a create of `key` and records it in the model.
    fn encode_create_key(
        &mut self,
        key: u32,
        ephemeral: bool,
        out: &mut BytesMut,
    ) -> (i32, Expect) {
        let len = self.config.step.values.draw(&mut self.rng);
        let data = stamped_value(0, key, self.index, len, &self.value_fill);
        let path = self.owner().path(key);
        let xid = self.next_xid();
        encode_create(&path, data, ephemeral, xid, out);
        self.keys.created(key, len, ephemeral);
        (xid, Expect::Created { key })
    }

    fn send_closed_loop(&mut self, p: usize, now_ns: u64, out: &mut BytesMut) -> usize {
        if self.role != Role::Worker {
            return 0;
        }
        let mut sent = 0;
        while self.has_room()
            && self.quota != Some(0)
            && (self.quota.is_some() || now_ns < self.run_end_ns)
        {
            self.send_measured(p, now_ns, out);
            sent += 1;
        }
        sent
    }

    fn send_backlog(&mut self, p: usize, out: &mut BytesMut) -> usize {
        let mut sent = 0;
        while self.has_room() && self.quota != Some(0) {
            let Some(intended_ns) = self.backlog.pop_front() else {
                break;
            };
            self.send_measured(p, intended_ns, out);
            sent += 1;
        }
        if self.quota == Some(0) {
            // A counted phase's share is sent: later arrivals are not part of it.
            self.backlog.clear();
        }
        sent
    }

    /// sync-create: deletes of the znodes whose creates returned, sent at once.
    fn send_follow_ups(&mut self, out: &mut BytesMut) -> usize {
        let mut sent = 0;
        while self.in_flight.len() - self.primary_in_flight < FOLLOW_UPS_MAX {
            let Some(key) = self.follow_ups.pop_front() else {
                break;
            };
            if !self.keys.get(key).present {
                continue;
            }
            self.intended_ns = self.now_ns;
            let expect = self.encode_delete(key, out);
            let xid = self.xid_next - 1;
            self.push_full(
                xid,
                OpKind::Delete,
                OpCode::Delete,
                Purpose::Measured,
                self.now_ns,
                expect,
                false,
            );
            sent += 1;
        }
        sent
    }

    /// Draws and sends one measured operation intended at `intended_ns`.
    fn send_measured(&mut self, p: usize, intended_ns: u64, out: &mut BytesMut) {
        if let Some(q) = self.quota.as_mut() {
            *q -= 1;
        }
        self.intended_ns = intended_ns;
        let step = self.config.step.clone();
        let mut op = step.phases[p].mix.draw(&mut self.rng);
        let needs_key = !matches!(
            op,
            MixOp::Create | MixOp::CreateEphemeral | MixOp::List | MixOp::Multi | MixOp::MultiRead
        );
        if needs_key && self.keys.present_count() == 0 {
            // Nothing to read, write or delete: make something instead.
            op = MixOp::Create;
        }
        let (opcode, expect) = match op {
            MixOp::Multi => self.encode_multi(out),
            MixOp::MultiRead => self.encode_multi_read(out),
            single => self.encode_single(single, out),
        };
        let xid = self.xid_next - 1;
        self.push(
            xid,
            op.kind(),
            opcode,
            Purpose::Measured,
            intended_ns,
            expect,
        );
    }

    /// Encodes one single-key (or listing) operation; the xid is the last taken.
    fn encode_single(&mut self, op: MixOp, out: &mut BytesMut) -> (OpCode, Expect) {
        let dist = self.config.step.key_dist;
        let need = match op {
            MixOp::Create | MixOp::CreateEphemeral => Need::Absent,
            _ => Need::Present,
        };
        let key = if op == MixOp::List {
            0
        } else {
            self.keys
                .choose(need, &dist, true, &mut self.rng)
                .expect("creates may grow; other ops have a present key")
        };
        match op {
            MixOp::Get | MixOp::Exists | MixOp::Watch => {
                let k = self.keys.get(key);
                let watch = op == MixOp::Watch;
                if watch {
                    self.keys.watch(key);
                }
                let path = self.owner().path(key);
                let xid = self.next_xid();
                let body = PathWatch { path: &path, watch };
                if op == MixOp::Get {
                    Request::GetData(body).encode_frame(xid, out);
                    (
                        OpCode::GetData,
                        Expect::Data {
                            key,
                            version: k.version,
                            len: k.data_len,
                        },
                    )
                } else {
                    Request::Exists(body).encode_frame(xid, out);
                    (
                        OpCode::Exists,
                        Expect::Exists {
                            key,
                            version: k.version,
                        },
                    )
                }
            }
            MixOp::Set => (OpCode::SetData, self.encode_set(key, out)),
            MixOp::Create | MixOp::CreateEphemeral => {
                let (_, expect) = self.encode_create_key(key, op == MixOp::CreateEphemeral, out);
                (OpCode::Create, expect)
            }
            MixOp::Delete => (OpCode::Delete, self.encode_delete(key, out)),
            MixOp::List => {
                let expect =
                    Expect::Children((!self.keys.any_retired()).then(|| self.keys.children()));
                let xid = self.next_xid();
                Request::GetChildren(PathWatch {
                    path: &self.dir,
                    watch: false,
                })
                .encode_frame(xid, out);
                (OpCode::GetChildren, expect)
            }
            MixOp::Multi | MixOp::MultiRead => unreachable!("not single-key"),
        }
    }

    fn encode_set(&mut self, key: u32, out: &mut BytesMut) -> Expect {
        let len = self.config.step.values.draw(&mut self.rng);
        let version = self.keys.set(key, len);
        let data = stamped_value(version, key, self.index, len, &self.value_fill);
        let path = self.owner().path(key);
        let xid = self.next_xid();
        Request::SetData(SetDataRequest {
            path: &path,
            data,
            data_null: false,
            version: -1,
        })
        .encode_frame(xid, out);
        self.fired(key, EventType::NodeDataChanged, version);
        Expect::Written { key, version }
    }

    fn encode_delete(&mut self, key: u32, out: &mut BytesMut) -> Expect {
        let version = self.keys.get(key).version;
        // The watch fires before the model forgets the key.
        self.fired(key, EventType::NodeDeleted, version);
        self.keys.deleted(key);
        let path = self.owner().path(key);
        let xid = self.next_xid();
        Request::Delete(DeleteRequest {
            path: &path,
            version,
        })
        .encode_frame(xid, out);
        Expect::Deleted { key }
    }

    /// A write of `key` was sent: a watch on it fires `event`.
    fn fired(&mut self, key: u32, event: EventType, version: i32) {
        if self.keys.take_watch(key) {
            let due = NotifyDue {
                event,
                phase: self.run_phase,
                intended_ns: self.intended_ns,
            };
            self.notify_due.insert(key, due);
        }
        if let (Some(clock), true) = (&self.config.fanout, event == EventType::NodeDataChanged) {
            clock.record_sent(version, self.intended_ns);
        }
    }

    /// A multi of `multi.size` sub-operations drawn from `multi.mix`.
    fn encode_multi(&mut self, out: &mut BytesMut) -> (OpCode, Expect) {
        let spec = self.config.step.multi.clone();
        let dist = self.config.step.key_dist;
        let mut paths: Vec<(MixOp, String, Bytes, i32)> = Vec::with_capacity(spec.size as usize);
        let mut expects = Vec::with_capacity(spec.size as usize);
        for _ in 0..spec.size {
            let mut op = spec.mix.draw(&mut self.rng);
            if op != MixOp::Create && self.keys.present_count() == 0 {
                op = MixOp::Create;
            }
            let need = if op == MixOp::Create {
                Need::Absent
            } else {
                Need::Present
            };
            let key = self
                .keys
                .choose(need, &dist, true, &mut self.rng)
                .expect("creates may grow");
            let path = self.owner().path(key);
            match op {
                MixOp::Create => {
                    let len = self.config.step.values.draw(&mut self.rng);
                    let data = stamped_value(0, key, self.index, len, &self.value_fill);
                    self.keys.created(key, len, false);
                    paths.push((op, path, data, 0));
                    expects.push(Expect::Created { key });
                }
                MixOp::Set => {
                    let len = self.config.step.values.draw(&mut self.rng);
                    let version = self.keys.set(key, len);
                    let data = stamped_value(version, key, self.index, len, &self.value_fill);
                    self.fired(key, EventType::NodeDataChanged, version);
                    paths.push((op, path, data, -1));
                    expects.push(Expect::Written { key, version });
                }
                MixOp::Delete => {
                    let version = self.keys.get(key).version;
                    self.fired(key, EventType::NodeDeleted, version);
                    self.keys.deleted(key);
                    paths.push((op, path, Bytes::new(), version));
                    expects.push(Expect::Deleted { key });
                }
                _ => {
                    let version = self.keys.get(key).version;
                    paths.push((MixOp::Exists, path, Bytes::new(), version));
                    expects.push(Expect::Checked { key });
                }
            }
        }
        let ops: Vec<MultiOp<'_>> = paths
            .iter()
            .map(|(op, path, data, version)| match op {
                MixOp::Create => MultiOp::Create(CreateRequest {
                    path,
                    data: data.clone(),
                    acl: Acl::open_unsafe(),
                    ..CreateRequest::default()
                }),
                MixOp::Set => MultiOp::SetData(SetDataRequest {
                    path,
                    data: data.clone(),
                    data_null: false,
                    version: *version,
                }),
                MixOp::Delete => MultiOp::Delete(DeleteRequest {
                    path,
                    version: *version,
                }),
                _ => MultiOp::Check(CheckVersionRequest {
                    path,
                    version: *version,
                }),
            })
            .collect();
        let xid = self.next_xid();
        Request::Multi(ops).encode_frame(xid, out);
        (OpCode::Multi, Expect::Multi(expects))
    }

    /// A multiRead of `multi_read.size` getData and getChildren sub-operations.
    fn encode_multi_read(&mut self, out: &mut BytesMut) -> (OpCode, Expect) {
        let spec = self.config.step.multi_read.clone();
        let dist = self.config.step.key_dist;
        let mut paths: Vec<(bool, String)> = Vec::with_capacity(spec.size as usize);
        let mut expects = Vec::with_capacity(spec.size as usize);
        for _ in 0..spec.size {
            let op = spec.mix.draw(&mut self.rng);
            let key = (op == MixOp::Get)
                .then(|| self.keys.choose(Need::Present, &dist, false, &mut self.rng))
                .flatten();
            match key {
                Some(key) => {
                    let k = self.keys.get(key);
                    paths.push((true, self.owner().path(key)));
                    expects.push(Expect::Data {
                        key,
                        version: k.version,
                        len: k.data_len,
                    });
                }
                None => {
                    paths.push((false, self.dir.clone()));
                    expects.push(Expect::Children(
                        (!self.keys.any_retired()).then(|| self.keys.children()),
                    ));
                }
            }
        }
        let ops: Vec<MultiReadOp<'_>> = paths
            .iter()
            .map(|(get, path)| {
                if *get {
                    MultiReadOp::GetData(path)
                } else {
                    MultiReadOp::GetChildren(path)
                }
            })
            .collect();
        let xid = self.next_xid();
        Request::MultiRead(ops).encode_frame(xid, out);
        (OpCode::MultiRead, Expect::MultiRead(expects))
    }

    /// Tear-down: every znode the session may have created, then its directory.
    fn send_teardown(&mut self, out: &mut BytesMut) -> usize {
        if self.role == Role::Watcher || !self.setup_dir_sent {
            self.teardown_dir_sent = true;
            return 0;
        }
        let keys = match self.teardown_keys.take() {
            Some(keys) => keys,
            None => self.keys.to_delete(),
        };
        let mut sent = 0;
        while self.has_room() && self.teardown_next < keys.len() {
            let key = keys[self.teardown_next];
            self.teardown_next += 1;
            let path = self.owner().path(key);
            let xid = self.next_xid();
            Request::Delete(DeleteRequest {
                path: &path,
                version: -1,
            })
            .encode_frame(xid, out);
            self.push(
                xid,
                OpKind::Delete,
                OpCode::Delete,
                Purpose::Teardown,
                0,
                Expect::Success,
            );
            sent += 1;
        }
        if self.has_room() && self.teardown_next >= keys.len() && !self.teardown_dir_sent {
            self.teardown_dir_sent = true;
            let xid = self.next_xid();
            Request::Delete(DeleteRequest {
                path: &self.dir,
                version: -1,
            })
            .encode_frame(xid, out);
            self.push(
                xid,
                OpKind::Delete,
                OpCode::Delete,
                Purpose::Teardown,
                0,
                Expect::Success,
            );
            sent += 1;
        }
        self.teardown_keys = Some(keys);
        sent
    }
}

fn encode_create(path: &str, data: Bytes, ephemeral: bool, xid: i32, out: &mut BytesMut) {
    let flags = if ephemeral {
        CreateMode::Ephemeral as i32
    } else {
        CreateMode::Persistent as i32
    };
    Request::Create(CreateRequest {
        path,
        data,
        acl: Acl::open_unsafe(),
        flags,
        ..CreateRequest::default()
    })
    .encode_frame(xid, out);
}

#[cfg(test)]
mod tests {
    use corekeeper::proto::frame::split_frame;

    use super::*;
    use crate::fake::{FakeServer, Fault};
    use crate::workload::{plan_named, Overrides, WorkloadKind};

    fn step(kind: WorkloadKind, o: Overrides) -> Step {
        plan_named(kind, &o).unwrap().steps.remove(0)
    }

    fn config(step: Step, model: LoopModel, fanout: Option<Arc<FanoutClock>>) -> SessionConfig {
        SessionConfig {
            step: Arc::new(step),
            model,
            root: "/r".into(),
            timeout_ms: 30_000,
            seed: 9,
            fanout,
        }
    }

    /// Sessions and the fake server they talk to; connection `i` is session `i`.
    struct Harness {
        server: FakeServer,
        sessions: Vec<Session>,
        done: Vec<Completion>,
        now: u64,
    }

    impl Harness {
        fn new(step: Step, model: LoopModel) -> Harness {
            let fanout = (step.roles == Roles::OneWriterManyWatchers)
                .then(|| Arc::new(FanoutClock::new("/r/s0/k0".into())));
            let sessions = (0..step.sessions)
                .map(|i| Session::new(i, config(step.clone(), model, fanout.clone())))
                .collect();
            Harness {
                server: FakeServer::default(),
                sessions,
                done: Vec::new(),
                now: 0,
            }
        }

        /// One exchange: every session sends what it may, the server answers,
        /// replies and notifications go back. Returns the requests sent.
        fn pump(&mut self) -> usize {
            self.now += 1;
            let mut sent = 0;
            for i in 0..self.sessions.len() {
                let mut out = BytesMut::new();
                sent += self.sessions[i].fill(self.now, &mut out);
                for (conn, mut bytes) in self.server.serve(i, &mut out) {
                    while let Some(frame) = split_frame(&mut bytes, REPLY_BYTES_MAX).unwrap() {
                        if let Some(c) = self.sessions[conn].on_frame(&frame, self.now).unwrap() {
                            self.done.push(c);
                        }
                    }
                }
            }
            sent
        }

        fn set_phase(&mut self, phase: Phase, run_end_ns: u64) {
            for s in &mut self.sessions {
                s.set_phase(phase, run_end_ns);
            }
        }

        /// Runs `phase` until every session is done with it.
        fn finish(&mut self, phase: Phase) {
            self.set_phase(phase, u64::MAX);
            for _ in 0..100_000 {
                if self.sessions.iter().all(Session::phase_done) {
                    return;
                }
                self.pump();
            }
            panic!("{phase:?} did not finish");
        }

        fn connect_and_set_up(&mut self) {
            self.finish(Phase::Connecting);
            self.finish(Phase::Setup);
            assert!(
                self.done.iter().all(|c| c.outcome.is_ok()),
                "{:?}",
                self.done
            );
            self.done.clear();
        }

        fn measured(&self) -> impl Iterator<Item = &Completion> {
            self.done.iter().filter(|c| c.purpose == Purpose::Measured)
        }

        fn errors(&self) -> Vec<ErrorKind> {
            self.measured().filter_map(|c| c.outcome.err()).collect()
        }

        /// Tear-down and close: afterwards the server holds nothing of the run.
        fn tear_down(&mut self) {
            self.finish(Phase::Teardown);
            self.set_phase(Phase::Close, 0);
            for _ in 0..10 {
                self.pump();
            }
            assert!(self.sessions.iter().all(|s| s.phase() == Phase::Done));
            assert_eq!(
                self.server.paths(),
                Vec::<String>::new(),
                "the run left znodes"
            );
        }
    }

    fn small(o: Overrides) -> Overrides {
        Overrides {
            sessions: vec![2],
            depth: Some(4),
            ..o
        }
    }

    #[test]
    fn closed_loop_keeps_depth_in_flight_and_validates_every_reply() {
        let mut h = Harness::new(
            step(WorkloadKind::Mixed, small(Overrides::default())),
            LoopModel::Closed,
        );
        h.connect_and_set_up();
        assert_eq!(
            h.server.paths().len(),
            2 + 2 * 100,
            "directories and 100 znodes each"
        );
        let end = h.now + 201;
        h.set_phase(Phase::Run(0), end);
        for _ in 0..200 {
            h.pump();
            assert!(h.sessions.iter().all(|s| s.in_flight() <= 4));
        }
        assert!(h.measured().count() >= 200 * 2 * 4 - 16);
        assert_eq!(h.errors(), []);
        for kind in [
            OpKind::Create,
            OpKind::SetData,
            OpKind::GetData,
            OpKind::Delete,
        ] {
            assert!(h.measured().any(|c| c.op == kind), "{kind:?} never drawn");
        }
        // The model and the server agree on every znode.
        for s in &h.sessions {
            for key in 0..s.keys().len() {
                let k = s.keys().get(key);
                let server = h.server.node(&format!("/r/s{}/k{key}", s.index()));
                assert_eq!(
                    server.map(|n| n.1),
                    k.present.then_some(k.version),
                    "key {key}"
                );
            }
        }
        // The window's end stops a closed loop.
        assert_eq!(h.pump(), 0);
        h.finish(Phase::Drain);
        h.tear_down();
    }

    #[test]
    fn wrong_replies_are_caught() {
        let cases = [
            (Fault::SkipVersion, WorkloadKind::Write, Invalid::Version),
            (
                Fault::StaleRead,
                WorkloadKind::RwSweep,
                Invalid::ReadYourWrites,
            ),
            (Fault::ShortRead, WorkloadKind::Read, Invalid::DataLength),
            (Fault::ForeignData, WorkloadKind::Read, Invalid::DataStamp),
        ];
        for (fault, kind, expected) in cases {
            let o = small(Overrides {
                read_pct: if kind == WorkloadKind::RwSweep {
                    vec![50]
                } else {
                    vec![]
                },
                ..Overrides::default()
            });
            let mut h = Harness::new(step(kind, o), LoopModel::Closed);
            h.connect_and_set_up();
            h.server.fault = Some(fault);
            h.set_phase(Phase::Run(0), u64::MAX);
            for _ in 0..50 {
                h.pump();
            }
            let errors = h.errors();
            assert!(!errors.is_empty(), "{expected:?} not caught");
            assert!(
                errors.iter().all(|e| *e == ErrorKind::Invalid(expected)),
                "{fault:?}: {errors:?}"
            );
        }
    }

    #[test]
    fn a_failed_write_retires_its_key_and_the_rest_runs_clean() {
        let o = small(Overrides {
            tree_size: Some(20),
            ..Overrides::default()
        });
        let mut h = Harness::new(step(WorkloadKind::Write, o), LoopModel::Closed);
        h.connect_and_set_up();
        h.server.fault = Some(Fault::FailSetOn("/r/s0/k3"));
        h.set_phase(Phase::Run(0), u64::MAX);
        for _ in 0..200 {
            h.pump();
        }
        let errors = h.errors();
        assert!(
            !errors.is_empty() && errors.len() <= 4,
            "at most the writes in flight: {errors:?}"
        );
        assert!(errors
            .iter()
            .all(|e| *e == ErrorKind::Server(ErrorCode::BadVersion.code())));
        assert!(h.sessions[0].keys().get(3).retired);
        h.finish(Phase::Drain);
        h.server.fault = None;
        h.tear_down();
    }

    #[test]
    fn a_reply_out_of_order_stops_the_session() {
        let mut h = Harness::new(
            step(WorkloadKind::Read, small(Overrides::default())),
            LoopModel::Closed,
        );
        h.connect_and_set_up();
        h.server.fault = Some(Fault::WrongXid);
        let session = &mut h.sessions[0];
        session.set_phase(Phase::Run(0), u64::MAX);
        let mut out = BytesMut::new();
        session.fill(0, &mut out);
        let mut replies = h.server.serve(0, &mut out).remove(&0).unwrap();
        let frame = split_frame(&mut replies, REPLY_BYTES_MAX).unwrap().unwrap();
        assert!(matches!(
            session.on_frame(&frame, 0),
            Err(SessionError::UnexpectedXid { .. })
        ));
        let lost = session.fail();
        assert_eq!(lost.len(), 4);
        assert!(lost
            .iter()
            .all(|c| c.outcome == Err(ErrorKind::ConnectionLoss)));
        assert!(session.phase_done());
    }

    #[test]
    fn open_loop_queues_arrivals_and_keeps_their_intended_times() {
        let o = Overrides {
            sessions: vec![1],
            depth: Some(2),
            ..Overrides::default()
        };
        let mut h = Harness::new(step(WorkloadKind::Read, o), LoopModel::Open);
        h.connect_and_set_up();
        h.set_phase(Phase::Run(0), 1_000_000);
        assert_eq!(h.pump(), 0, "open loop sends only arrivals");
        for t in [10, 20, 30, 40, 50] {
            h.sessions[0].push_arrival(t).unwrap();
        }
        let mut out = BytesMut::new();
        assert_eq!(
            h.sessions[0].fill(60, &mut out),
            2,
            "depth caps what is in flight"
        );
        let sent: Vec<u64> = h.sessions[0]
            .in_flight
            .iter()
            .map(|p| p.intended_ns)
            .collect();
        assert_eq!(sent, [10, 20]);
        assert!(h.sessions[0].in_flight.iter().all(|p| p.sent_ns == 60));
        let mut replies = h.server.serve(0, &mut out).remove(&0).unwrap();
        while let Some(frame) = split_frame(&mut replies, REPLY_BYTES_MAX).unwrap() {
            h.done.extend(h.sessions[0].on_frame(&frame, 70).unwrap());
        }
        h.finish(Phase::Drain);
        let intended: Vec<u64> = h.measured().map(|c| c.intended_ns).collect();
        assert_eq!(intended, [10, 20, 30, 40, 50]);
        assert_eq!(h.errors(), []);
    }

    #[test]
    fn a_full_backlog_refuses_arrivals() {
        let mut session = Session::new(
            0,
            config(
                step(WorkloadKind::Read, Overrides::default()),
                LoopModel::Open,
                None,
            ),
        );
        for t in 0..BACKLOG_MAX as u64 {
            session.push_arrival(t).unwrap();
        }
        assert_eq!(session.push_arrival(0), Err(ErrorKind::BacklogFull));
        assert_eq!(session.abandon_measured().len(), BACKLOG_MAX);
    }

    #[test]
    fn creates_grow_and_tear_down_removes_everything() {
        let mut h = Harness::new(
            step(WorkloadKind::Create, small(Overrides::default())),
            LoopModel::Closed,
        );
        h.connect_and_set_up();
        let end = h.now + 11;
        h.set_phase(Phase::Run(0), end);
        for _ in 0..10 {
            h.pump();
        }
        assert_eq!(h.pump(), 0, "the window is over");
        assert_eq!(h.measured().filter(|c| c.outcome.is_ok()).count(), 80);
        assert_eq!(h.server.paths().len(), 2 + 80);
        assert!(h.server.node("/r/s1/k39").is_some());
        h.tear_down();
    }

    #[test]
    fn counted_phases_send_exactly_their_share() {
        let o = small(Overrides {
            ops: Some(101),
            ..Overrides::default()
        });
        let mut h = Harness::new(step(WorkloadKind::BulkLoad, o), LoopModel::Closed);
        h.connect_and_set_up();
        h.finish(Phase::Run(0));
        assert_eq!(h.measured().count(), 101);
        assert_eq!(h.sessions[0].keys().len(), 51);
        assert_eq!(h.sessions[1].keys().len(), 50);
        h.tear_down();
    }

    #[test]
    fn latency_profile_passes_check_every_reply_and_notification() {
        let o = Overrides {
            ops: Some(30),
            depth: Some(3),
            ..Overrides::default()
        };
        let s = step(WorkloadKind::LatencyProfile, o);
        let phases = s.phases.len();
        let mut h = Harness::new(s, LoopModel::Closed);
        h.connect_and_set_up();
        for p in 0..phases {
            h.finish(Phase::Run(p));
            h.finish(Phase::Drain);
        }
        assert_eq!(h.errors(), []);
        let count = |phase: usize, op: OpKind| {
            h.measured()
                .filter(|c| c.phase == phase && c.op == op)
                .count()
        };
        assert_eq!(count(0, OpKind::Create), 30);
        assert_eq!(count(1, OpKind::SetData), 30);
        assert_eq!(count(2, OpKind::GetData), 30);
        assert_eq!(count(3, OpKind::Delete), 30);
        assert_eq!(count(4, OpKind::CreateEphemeral), 30);
        assert_eq!(count(5, OpKind::Exists), 30);
        assert_eq!(count(6, OpKind::Delete), 30);
        assert_eq!(
            count(6, OpKind::Notification),
            30,
            "every delete fires its watch"
        );
        h.tear_down();
    }

    #[test]
    fn a_missing_notification_keeps_the_phase_open() {
        let o = Overrides {
            ops: Some(5),
            ..Overrides::default()
        };
        let s = step(WorkloadKind::LatencyProfile, o);
        let mut h = Harness::new(s, LoopModel::Closed);
        h.connect_and_set_up();
        for p in 0..6 {
            h.finish(Phase::Run(p));
        }
        h.server.fault = Some(Fault::NoNotifications);
        h.set_phase(Phase::Run(6), u64::MAX);
        for _ in 0..100 {
            h.pump();
        }
        assert!(!h.sessions[0].phase_done(), "five notifications are due");
        let given_up = h.sessions[0].abandon_measured();
        assert_eq!(
            given_up
                .iter()
                .filter(|g| g.0 == OpKind::Notification)
                .count(),
            5
        );
        assert!(h.sessions[0].phase_done());
    }

    #[test]
    fn multis_and_listings_are_checked_op_by_op() {
        for kind in [WorkloadKind::MultiWrite, WorkloadKind::MultiRead] {
            let mut h = Harness::new(step(kind, small(Overrides::default())), LoopModel::Closed);
            h.connect_and_set_up();
            let end = h.now + 101;
            h.set_phase(Phase::Run(0), end);
            for _ in 0..100 {
                h.pump();
            }
            assert!(h.measured().count() >= 300, "{kind}");
            assert_eq!(h.errors(), [], "{kind}");
            h.finish(Phase::Drain);
            h.tear_down();
        }
    }

    #[test]
    fn sync_create_deletes_each_create_without_waiting() {
        let o = Overrides {
            sessions: vec![1],
            ..Overrides::default()
        };
        let mut h = Harness::new(step(WorkloadKind::SyncCreate, o), LoopModel::Closed);
        h.connect_and_set_up();
        let end = h.now + 20;
        h.set_phase(Phase::Run(0), end);
        for _ in 0..19 {
            h.pump();
            let creates = h.sessions[0]
                .in_flight
                .iter()
                .filter(|p| p.op == OpKind::Create)
                .count();
            assert!(creates <= 1, "creates are synchronous");
        }
        h.finish(Phase::Drain);
        assert_eq!(h.errors(), []);
        let creates = h.measured().filter(|c| c.op == OpKind::Create).count();
        let deletes = h.measured().filter(|c| c.op == OpKind::Delete).count();
        assert!(
            creates >= 10 && deletes == creates,
            "{creates} creates, {deletes} deletes"
        );
        assert_eq!(h.server.paths(), ["/r/s0"], "every create deleted");
        h.tear_down();
    }

    #[test]
    fn watchers_see_every_write_of_the_writer() {
        let o = Overrides {
            sessions: vec![4],
            ..Overrides::default()
        };
        let mut h = Harness::new(step(WorkloadKind::WatchFanout, o), LoopModel::Open);
        h.connect_and_set_up();
        h.set_phase(Phase::Run(0), u64::MAX);
        for t in 0..10 {
            assert!(h.sessions[0].takes_arrivals() && !h.sessions[1].takes_arrivals());
            h.sessions[0].push_arrival(1000 + t).unwrap();
            h.pump();
        }
        h.finish(Phase::Drain);
        assert_eq!(h.errors(), []);
        let notes: Vec<&Completion> = h
            .measured()
            .filter(|c| c.op == OpKind::Notification)
            .collect();
        assert_eq!(notes.len(), 10 * 3);
        let mut firsts: Vec<u64> = notes.iter().map(|c| c.intended_ns).collect();
        firsts.sort_unstable();
        firsts.dedup();
        assert_eq!(
            firsts,
            (1000..1010).collect::<Vec<_>>(),
            "each timed from its write's arrival"
        );
        h.tear_down();
    }

    #[test]
    fn error_names_follow_zookeeper() {
        assert_eq!(ErrorKind::Server(-101).name(), "NONODE");
        assert_eq!(ErrorKind::Server(-103).name(), "BADVERSION");
        assert_eq!(ErrorKind::Server(-9999).name(), "ERROR-9999");
        assert_eq!(
            ErrorKind::Invalid(Invalid::ReadYourWrites).name(),
            "invalid.read_your_writes"
        );
    }
}
