//! One ZooKeeper session of the load generator, as a pure state machine: the
//! driver hands it the time and the frames it reads, and it writes request
//! frames into the driver's output buffer and returns what completed.
//!
//! A session works through phases the driver sets: `Connecting` (handshake),
//! `Setup` (create its own znode), `Run` (the measured workload), `Drain`
//! (answer what is still in flight or queued, send nothing new), `Teardown`
//! (delete everything it created), `Close` (closeSession) and `Done`.
//!
//! ZooKeeper answers a session's requests in the order it sent them
//! (`FinalRequestProcessor`, the "FIFO client order" guarantee), so requests in
//! flight are a queue and every reply must match the oldest one's xid. Because
//! only this session writes its znode, every reply is checked exactly: a setData
//! returns the previous version plus one, a getData returns the version of this
//! session's last acknowledged write (read-your-writes) and data of the written
//! length whose first bytes carry that version.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use corekeeper::constants::JUTE_MAXBUFFER_DEFAULT;
use corekeeper::proto::frame::{begin_frame, end_frame};
use corekeeper::proto::{
    xid, Acl, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, ErrorCode, OpCode,
    PathWatch, ReplyHeader, Request, Response, SetDataRequest,
};
use corekeeper::proto::{DecodeError, Reader};

use crate::rng::Rng;
use crate::workload::{OpKind, Workload};

/// Arrivals an open-loop session queues while its pipeline is full; later ones
/// are dropped and counted as `BacklogFull` errors.
pub const BACKLOG_MAX: usize = 65_536;

/// Largest reply frame accepted (ZooKeeper's `jute.maxbuffer` default).
pub const REPLY_BYTES_MAX: usize = JUTE_MAXBUFFER_DEFAULT;

/// Where a session is in the run; the driver moves all sessions together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Handshake sent or to send.
    Connecting,
    /// Creating the session's own znode.
    Setup,
    /// The measured workload.
    Run,
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

/// A reply that came back but is not what the request must return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invalid {
    /// getData returned data (or `Stat.dataLength`) of the wrong length.
    DataLength,
    /// The data's version stamp disagrees with the returned `Stat.version`.
    DataStamp,
    /// setData did not return the previous version plus one.
    Version,
    /// getData did not see this session's last acknowledged write.
    ReadYourWrites,
    /// create returned a different path than requested.
    CreatedPath,
    /// The reply body did not decode.
    Body,
}

/// Why an operation did not succeed; the key of the error counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The server answered with this ZooKeeper error code (`ReplyHeader.err`).
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
            ErrorKind::Invalid(what) => format!("invalid.{}", invalid_name(*what)),
            ErrorKind::ConnectionLoss => "CONNECTIONLOSS".to_owned(),
            ErrorKind::Timeout => "TIMEOUT".to_owned(),
            ErrorKind::BacklogFull => "BACKLOGFULL".to_owned(),
        }
    }
}

fn invalid_name(what: Invalid) -> &'static str {
    match what {
        Invalid::DataLength => "data_length",
        Invalid::DataStamp => "data_stamp",
        Invalid::Version => "version",
        Invalid::ReadYourWrites => "read_your_writes",
        Invalid::CreatedPath => "created_path",
        Invalid::Body => "body",
    }
}

/// Why an operation was sent; only `Measured` ones enter the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Part of the workload.
    Measured,
    /// Creating the session's znode.
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
    /// When it should have been sent (closed loop: when it was), ns on the run clock.
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
#[derive(Clone, Copy, Debug)]
struct InFlight {
    xid: i32,
    op: OpKind,
    purpose: Purpose,
    intended_ns: u64,
    sent_ns: u64,
    /// For creates and tear-down deletes: the number in the node's name.
    seq: u64,
}

/// Parameters shared by all sessions of a run.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The workload.
    pub workload: Workload,
    /// Requests in flight at most.
    pub depth: usize,
    /// Closed or open loop.
    pub model: LoopModel,
    /// The run's root znode (created and removed by the driver).
    pub root: String,
    /// Session timeout asked for in the handshake.
    pub timeout_ms: i32,
    /// Run seed (each session draws from its own stream of it).
    pub seed: u64,
}

/// One session's protocol state. Lives on one driver thread.
pub struct Session {
    index: u32,
    config: SessionConfig,
    node: String,
    rng: Rng,
    phase: Phase,
    failed: bool,
    xid_next: i32,
    in_flight: VecDeque<InFlight>,
    backlog: VecDeque<u64>,
    run_end_ns: u64,
    connect_sent: bool,
    connected_session_id: Option<i64>,
    setup_sent: bool,
    created_next: u64,
    teardown_next: u64,
    node_delete_sent: bool,
    close_sent: bool,
    node_version: i32,
    /// The time handed to the last `fill`.
    now_ns: u64,
    /// Measured setData requests in flight (each will add one to the version).
    writes_in_flight: i32,
    value_fill: Bytes,
}

impl Session {
    /// Session number `index` of a run.
    pub fn new(index: u32, config: SessionConfig) -> Session {
        assert!(config.depth > 0, "depth must be positive");
        let node = format!("{}/s{index}", config.root);
        let value_fill = Bytes::from(vec![b'x'; config.workload.value_size]);
        Session {
            index,
            rng: Rng::new(config.seed, u64::from(index)),
            node,
            config,
            phase: Phase::Connecting,
            failed: false,
            xid_next: 1,
            in_flight: VecDeque::new(),
            backlog: VecDeque::new(),
            run_end_ns: 0,
            connect_sent: false,
            connected_session_id: None,
            setup_sent: false,
            created_next: 0,
            teardown_next: 0,
            node_delete_sent: false,
            close_sent: false,
            node_version: 0,
            now_ns: 0,
            writes_in_flight: 0,
            value_fill,
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

    /// Moves to `phase`; `Run` sends until `run_end_ns` (closed loop).
    pub fn set_phase(&mut self, phase: Phase, run_end_ns: u64) {
        if self.failed {
            return;
        }
        self.phase = phase;
        self.run_end_ns = run_end_ns;
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

    /// Whether the current phase has nothing left to send or wait for. `Run`
    /// never finishes by itself: the driver ends it by the clock.
    pub fn phase_done(&self) -> bool {
        if self.failed {
            return true;
        }
        let idle = self.in_flight.is_empty();
        match self.phase {
            Phase::Connecting => self.connected_session_id.is_some(),
            Phase::Setup => idle && (self.setup_sent || !self.config.workload.uses_session_node()),
            Phase::Run => false,
            Phase::Drain => idle && self.backlog.is_empty(),
            Phase::Teardown => {
                idle && self.teardown_next >= self.created_next
                    && (self.node_delete_sent || !self.config.workload.uses_session_node())
            }
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
        let mut sent = 0;
        match self.phase {
            Phase::Connecting if !self.connect_sent => {
                self.encode_connect(out);
                self.connect_sent = true;
                sent += 1;
            }
            Phase::Setup if !self.setup_sent && self.config.workload.uses_session_node() => {
                self.setup_sent = true;
                self.send_create_node(out);
                sent += 1;
            }
            Phase::Run => match self.config.model {
                LoopModel::Closed => {
                    while self.has_room() && now_ns < self.run_end_ns {
                        self.send_measured(now_ns, out);
                        sent += 1;
                    }
                }
                LoopModel::Open => sent += self.send_backlog(out),
            },
            Phase::Drain => sent += self.send_backlog(out),
            Phase::Teardown => sent += self.send_teardown(out),
            Phase::Close if !self.close_sent => {
                self.close_sent = true;
                let xid = self.next_xid();
                Request::CloseSession.encode_frame(xid, out);
                // closeSession's reply is bookkept like a delete's (no body).
                self.push_in_flight(xid, OpKind::Delete, Purpose::Close, 0, 0);
                sent += 1;
            }
            _ => {}
        }
        sent
    }

    /// Writes a ping (xid -2); its reply is skipped, wherever it comes.
    pub fn encode_ping(&self, out: &mut BytesMut) {
        Request::Ping.encode_frame(xid::PING, out);
    }

    /// Handles one frame from the server.
    pub fn on_frame(&mut self, frame: &Bytes) -> Result<Option<Completion>, SessionError> {
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
        if header.xid == xid::PING || header.xid == xid::NOTIFICATION {
            return Ok(None);
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
        if pending.purpose == Purpose::Close {
            self.phase = Phase::Done;
        }
        if pending.op == OpKind::SetData {
            // Answered, successfully or not. (A failed write leaves the stamps of
            // later ones one ahead; that run already reports the failure.)
            self.writes_in_flight -= 1;
        }
        let outcome = if header.err != 0 {
            Err(ErrorKind::Server(header.err))
        } else {
            self.check_reply(&pending, &mut r)
                .map_err(ErrorKind::Invalid)
        };
        Ok(Some(Completion {
            op: pending.op,
            purpose: pending.purpose,
            intended_ns: pending.intended_ns,
            sent_ns: pending.sent_ns,
            outcome,
        }))
    }

    /// Marks the session failed and returns a `ConnectionLoss` completion for
    /// everything in flight or queued.
    pub fn fail(&mut self) -> Vec<Completion> {
        self.failed = true;
        self.writes_in_flight = 0;
        let mut lost: Vec<Completion> = self
            .in_flight
            .drain(..)
            .map(|p| Completion {
                op: p.op,
                purpose: p.purpose,
                intended_ns: p.intended_ns,
                sent_ns: p.sent_ns,
                outcome: Err(ErrorKind::ConnectionLoss),
            })
            .collect();
        let workload = self.config.workload;
        for intended_ns in self.backlog.drain(..) {
            lost.push(Completion {
                op: workload.next_op(&mut self.rng),
                purpose: Purpose::Measured,
                intended_ns,
                sent_ns: intended_ns,
                outcome: Err(ErrorKind::ConnectionLoss),
            });
        }
        lost
    }

    /// Gives up on the measured operations still in flight or queued (the drain
    /// limit passed): returns their intended times, drops the queue, and keeps
    /// the in-flight ones only to match their replies if they still come.
    pub fn abandon_measured(&mut self) -> Vec<u64> {
        let mut given_up: Vec<u64> = self.backlog.drain(..).collect();
        for pending in self.in_flight.iter_mut() {
            if pending.purpose == Purpose::Measured {
                pending.purpose = Purpose::Abandoned;
                given_up.push(pending.intended_ns);
            }
        }
        given_up
    }

    fn has_room(&self) -> bool {
        self.in_flight.len() < self.config.depth
    }

    fn next_xid(&mut self) -> i32 {
        let xid = self.xid_next;
        self.xid_next = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    fn push_in_flight(
        &mut self,
        xid: i32,
        op: OpKind,
        purpose: Purpose,
        intended_ns: u64,
        seq: u64,
    ) {
        self.in_flight.push_back(InFlight {
            xid,
            op,
            purpose,
            intended_ns,
            sent_ns: self.now_ns,
            seq,
        });
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

    /// The data written when the node reaches `version`: the version, big-endian,
    /// in the first 4 bytes (when the value has room), then filler.
    fn stamped_value(&self, version: i32) -> Bytes {
        let size = self.config.workload.value_size;
        if size < 4 {
            return self.value_fill.clone();
        }
        let mut value = BytesMut::with_capacity(size);
        value.put_i32(version);
        value.extend_from_slice(&self.value_fill[4..]);
        value.freeze()
    }

    fn send_create_node(&mut self, out: &mut BytesMut) {
        let data = self.stamped_value(0);
        let xid = self.next_xid();
        Request::Create(CreateRequest {
            path: &self.node,
            data,
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        })
        .encode_frame(xid, out);
        self.push_in_flight(xid, OpKind::Create, Purpose::Setup, 0, 0);
    }

    fn send_measured(&mut self, intended_ns: u64, out: &mut BytesMut) {
        let op = self.config.workload.next_op(&mut self.rng);
        let xid = self.next_xid();
        let mut seq = 0;
        match op {
            OpKind::GetData => Request::GetData(PathWatch {
                path: &self.node,
                watch: false,
            })
            .encode_frame(xid, out),
            OpKind::SetData => {
                // Stamp with the version this write will create, counting writes
                // still in flight ahead of it.
                self.writes_in_flight += 1;
                let data = self.stamped_value(self.node_version + self.writes_in_flight);
                Request::SetData(SetDataRequest {
                    path: &self.node,
                    data,
                    data_null: false,
                    version: -1,
                })
                .encode_frame(xid, out)
            }
            OpKind::Create => {
                seq = self.created_next;
                self.created_next += 1;
                let path = created_path(&self.config.root, self.index, seq);
                Request::Create(CreateRequest {
                    path: &path,
                    data: self.value_fill.clone(),
                    acl: Acl::open_unsafe(),
                    ..CreateRequest::default()
                })
                .encode_frame(xid, out)
            }
            OpKind::Delete => unreachable!("no workload deletes in its measured phase yet"),
        }
        self.push_in_flight(xid, op, Purpose::Measured, intended_ns, seq);
    }

    fn send_backlog(&mut self, out: &mut BytesMut) -> usize {
        let mut sent = 0;
        while self.has_room() {
            let Some(intended_ns) = self.backlog.pop_front() else {
                break;
            };
            self.send_measured(intended_ns, out);
            sent += 1;
        }
        sent
    }

    fn send_teardown(&mut self, out: &mut BytesMut) -> usize {
        let mut sent = 0;
        while self.has_room() && self.teardown_next < self.created_next {
            let seq = self.teardown_next;
            self.teardown_next += 1;
            let path = created_path(&self.config.root, self.index, seq);
            let xid = self.next_xid();
            Request::Delete(DeleteRequest {
                path: &path,
                version: -1,
            })
            .encode_frame(xid, out);
            self.push_in_flight(xid, OpKind::Delete, Purpose::Teardown, 0, seq);
            sent += 1;
        }
        if self.has_room()
            && self.config.workload.uses_session_node()
            && self.setup_sent
            && !self.node_delete_sent
        {
            self.node_delete_sent = true;
            let xid = self.next_xid();
            Request::Delete(DeleteRequest {
                path: &self.node,
                version: -1,
            })
            .encode_frame(xid, out);
            self.push_in_flight(xid, OpKind::Delete, Purpose::Teardown, 0, 0);
            sent += 1;
        } else if !self.setup_sent {
            // Nothing was created: nothing to delete.
            self.node_delete_sent = true;
        }
        sent
    }

    /// Decodes and validates a successful reply; updates the session's view of
    /// its znode.
    fn check_reply(&mut self, pending: &InFlight, r: &mut Reader<'_>) -> Result<(), Invalid> {
        let op = match pending.purpose {
            Purpose::Close => OpCode::CloseSession,
            _ => opcode(pending.op),
        };
        let response = Response::decode(op, r).map_err(|_| Invalid::Body)?;
        if matches!(pending.purpose, Purpose::Close | Purpose::Teardown) {
            return Ok(());
        }
        match response {
            Response::GetData { data, stat, .. } => {
                self.check_read(&data, stat.version, stat.data_length)
            }
            Response::SetData { stat } => {
                let expected = self.node_version + 1;
                self.node_version = stat.version;
                if stat.version == expected {
                    Ok(())
                } else {
                    Err(Invalid::Version)
                }
            }
            Response::Create { path } if pending.purpose == Purpose::Setup => (path == self.node)
                .then_some(())
                .ok_or(Invalid::CreatedPath),
            Response::Create { path } => (path
                == created_path(&self.config.root, self.index, pending.seq))
            .then_some(())
            .ok_or(Invalid::CreatedPath),
            Response::Empty => Ok(()),
            _ => Err(Invalid::Body),
        }
    }

    fn check_read(&self, data: &[u8], version: i32, data_length: i32) -> Result<(), Invalid> {
        let size = self.config.workload.value_size;
        if data.len() != size || usize::try_from(data_length) != Ok(size) {
            return Err(Invalid::DataLength);
        }
        if version != self.node_version {
            return Err(Invalid::ReadYourWrites);
        }
        if size >= 4 && data[..4] != version.to_be_bytes() {
            return Err(Invalid::DataStamp);
        }
        Ok(())
    }
}

/// The path of create number `seq` of session `index` under `root`.
pub fn created_path(root: &str, index: u32, seq: u64) -> String {
    format!("{root}/c{index}-{seq}")
}

fn opcode(op: OpKind) -> OpCode {
    match op {
        OpKind::GetData => OpCode::GetData,
        OpKind::SetData => OpCode::SetData,
        OpKind::Create => OpCode::Create,
        OpKind::Delete => OpCode::Delete,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use corekeeper::proto::frame::split_frame;
    use corekeeper::proto::response::{
        encode_create_response, encode_get_data_response, encode_header_only_reply,
        encode_reply_frame_header, encode_stat_response,
    };
    use corekeeper::proto::{RequestHeader, Stat};

    use super::*;
    use crate::workload::WorkloadKind;

    /// A tiny in-memory ZooKeeper: enough of the protocol for one session. A
    /// `fault` can make it answer wrongly.
    #[derive(Default)]
    struct FakeServer {
        nodes: HashMap<String, (Bytes, i32)>,
        connected: bool,
        fault: Option<Fault>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        SkipVersion,
        StaleRead,
        ShortRead,
        WrongXid,
    }

    impl FakeServer {
        /// Answers every whole request frame in `input`, in order.
        fn serve(&mut self, input: &mut BytesMut) -> BytesMut {
            let mut out = BytesMut::new();
            while let Some(frame) = split_frame(input, REPLY_BYTES_MAX).unwrap() {
                let mut r = Reader::new(&frame, REPLY_BYTES_MAX);
                if !self.connected {
                    ConnectRequest::decode(&mut r).unwrap();
                    self.connected = true;
                    let response = ConnectResponse {
                        timeout_ms: 30_000,
                        session_id: 0x77,
                        read_only: Some(false),
                        ..ConnectResponse::default()
                    };
                    response.encode_frame(&mut out);
                    continue;
                }
                let header = RequestHeader::decode(&mut r).unwrap();
                let request = Request::decode(header.op().unwrap(), &mut r).unwrap();
                self.answer(header.xid, request, &mut out);
            }
            out
        }

        fn answer(&mut self, xid: i32, request: Request<'_>, out: &mut BytesMut) {
            let xid = if self.fault == Some(Fault::WrongXid) {
                xid + 1
            } else {
                xid
            };
            let stat = |data: &Bytes, version: i32| Stat {
                version,
                data_length: data.len() as i32,
                ..Stat::default()
            };
            match request {
                Request::Create(c) => {
                    if self.nodes.contains_key(c.path) {
                        return encode_header_only_reply(out, xid, 1, ErrorCode::NodeExists.code());
                    }
                    self.nodes.insert(c.path.to_owned(), (c.data.clone(), 0));
                    let start = encode_reply_frame_header(out, xid, 1, 0);
                    encode_create_response(out, c.path);
                    end_frame(out, start);
                }
                Request::SetData(s) => {
                    let skip = i32::from(self.fault == Some(Fault::SkipVersion));
                    let node = self.nodes.get_mut(s.path).unwrap();
                    *node = (s.data.clone(), node.1 + 1 + skip);
                    let start = encode_reply_frame_header(out, xid, 1, 0);
                    encode_stat_response(out, &stat(&node.0, node.1));
                    end_frame(out, start);
                }
                Request::GetData(g) => {
                    let (mut data, mut version) = self.nodes[g.path].clone();
                    if self.fault == Some(Fault::StaleRead) && version > 0 {
                        version -= 1;
                        let mut stamped = BytesMut::from(&data[..]);
                        stamped[..4].copy_from_slice(&version.to_be_bytes());
                        data = stamped.freeze();
                    }
                    if self.fault == Some(Fault::ShortRead) {
                        data = data.slice(1..);
                    }
                    let start = encode_reply_frame_header(out, xid, 1, 0);
                    encode_get_data_response(out, &data, &stat(&data, version));
                    end_frame(out, start);
                }
                Request::Delete(d) => {
                    let err = match self.nodes.remove(d.path) {
                        Some(_) => 0,
                        None => ErrorCode::NoNode.code(),
                    };
                    encode_header_only_reply(out, xid, 1, err);
                }
                Request::CloseSession => encode_header_only_reply(out, xid, 1, 0),
                other => panic!("fake server cannot answer {other:?}"),
            }
        }
    }

    fn config(kind: WorkloadKind, depth: usize, model: LoopModel) -> SessionConfig {
        SessionConfig {
            workload: Workload::new(kind),
            depth,
            model,
            root: "/r".into(),
            timeout_ms: 30_000,
            seed: 9,
        }
    }

    /// Feeds the session's output to the server and its replies back; returns
    /// the completions.
    fn exchange(
        session: &mut Session,
        server: &mut FakeServer,
        out: &mut BytesMut,
    ) -> Vec<Completion> {
        let mut replies = server.serve(out);
        let mut done = Vec::new();
        while let Some(frame) = split_frame(&mut replies, REPLY_BYTES_MAX).unwrap() {
            if let Some(c) = session.on_frame(&frame).unwrap() {
                done.push(c);
            }
        }
        done
    }

    /// A session connected and set up against `server`.
    fn ready(
        kind: WorkloadKind,
        depth: usize,
        model: LoopModel,
        server: &mut FakeServer,
    ) -> Session {
        let mut session = Session::new(3, config(kind, depth, model));
        let mut out = BytesMut::new();
        assert_eq!(session.fill(0, &mut out), 1);
        assert_eq!(session.fill(0, &mut out), 0, "one handshake only");
        exchange(&mut session, server, &mut out);
        assert!(session.phase_done());
        assert_eq!(session.session_id(), Some(0x77));
        session.set_phase(Phase::Setup, 0);
        session.fill(0, &mut out);
        let setup = exchange(&mut session, server, &mut out);
        assert!(setup
            .iter()
            .all(|c| c.outcome.is_ok() && c.purpose == Purpose::Setup));
        assert!(session.phase_done());
        session
    }

    #[test]
    fn closed_loop_keeps_depth_in_flight_and_validates_every_reply() {
        let mut server = FakeServer::default();
        let mut session = ready(WorkloadKind::Mixed, 4, LoopModel::Closed, &mut server);
        assert_eq!(server.nodes["/r/s3"].0.len(), 1024);
        session.set_phase(Phase::Run, 1_000);
        let mut out = BytesMut::new();
        let mut completions = Vec::new();
        for now in 0..100 {
            let free = 4 - session.in_flight();
            assert_eq!(session.fill(now, &mut out), free);
            assert_eq!(session.in_flight(), 4);
            completions.extend(exchange(&mut session, &mut server, &mut out));
        }
        assert_eq!(completions.len(), 400);
        assert!(
            completions.iter().all(|c| c.outcome == Ok(())),
            "{completions:?}"
        );
        let writes = completions
            .iter()
            .filter(|c| c.op == OpKind::SetData)
            .count();
        assert!((100..300).contains(&writes));
        assert_eq!(server.nodes["/r/s3"].1, writes as i32);
        // The window's end stops a closed loop.
        assert_eq!(session.fill(1_000, &mut out), 0);
    }

    #[test]
    fn wrong_replies_are_caught() {
        let cases = [
            (Fault::SkipVersion, WorkloadKind::Write, Invalid::Version),
            (
                Fault::StaleRead,
                WorkloadKind::Mixed,
                Invalid::ReadYourWrites,
            ),
            (Fault::ShortRead, WorkloadKind::Read, Invalid::DataLength),
        ];
        for (fault, kind, expected) in cases {
            let mut server = FakeServer::default();
            let mut session = ready(kind, 2, LoopModel::Closed, &mut server);
            server.fault = Some(fault);
            session.set_phase(Phase::Run, u64::MAX);
            let mut out = BytesMut::new();
            let mut errors = Vec::new();
            for now in 0..50 {
                session.fill(now, &mut out);
                errors.extend(
                    exchange(&mut session, &mut server, &mut out)
                        .into_iter()
                        .filter_map(|c| c.outcome.err()),
                );
            }
            assert!(!errors.is_empty(), "{expected:?} not caught");
            assert!(
                errors.iter().all(|e| *e == ErrorKind::Invalid(expected)),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn a_reply_out_of_order_stops_the_session() {
        let mut server = FakeServer::default();
        let mut session = ready(WorkloadKind::Read, 2, LoopModel::Closed, &mut server);
        server.fault = Some(Fault::WrongXid);
        session.set_phase(Phase::Run, u64::MAX);
        let mut out = BytesMut::new();
        session.fill(0, &mut out);
        let mut replies = server.serve(&mut out);
        let frame = split_frame(&mut replies, REPLY_BYTES_MAX).unwrap().unwrap();
        assert!(matches!(
            session.on_frame(&frame),
            Err(SessionError::UnexpectedXid { .. })
        ));
        let lost = session.fail();
        assert_eq!(lost.len(), 2);
        assert!(lost
            .iter()
            .all(|c| c.outcome == Err(ErrorKind::ConnectionLoss)));
        assert!(session.phase_done());
    }

    #[test]
    fn open_loop_queues_arrivals_and_keeps_their_intended_times() {
        let mut server = FakeServer::default();
        let mut session = ready(WorkloadKind::Read, 2, LoopModel::Open, &mut server);
        session.set_phase(Phase::Run, 1_000_000);
        let mut out = BytesMut::new();
        assert_eq!(
            session.fill(0, &mut out),
            0,
            "open loop sends only arrivals"
        );
        for t in [10, 20, 30, 40, 50] {
            session.push_arrival(t).unwrap();
        }
        assert_eq!(
            session.fill(60, &mut out),
            2,
            "depth caps what is in flight"
        );
        let first = exchange(&mut session, &mut server, &mut out);
        assert_eq!(
            first.iter().map(|c| c.intended_ns).collect::<Vec<_>>(),
            [10, 20]
        );
        assert!(
            first.iter().all(|c| c.sent_ns == 60),
            "sent when the slot was free"
        );
        session.set_phase(Phase::Drain, 1_000_000);
        assert!(!session.phase_done());
        let mut rest = Vec::new();
        while !session.phase_done() {
            session.fill(70, &mut out);
            rest.extend(exchange(&mut session, &mut server, &mut out));
        }
        assert_eq!(
            rest.iter().map(|c| c.intended_ns).collect::<Vec<_>>(),
            [30, 40, 50]
        );
    }

    #[test]
    fn a_full_backlog_refuses_arrivals() {
        let mut session = Session::new(0, config(WorkloadKind::Read, 1, LoopModel::Open));
        for t in 0..BACKLOG_MAX as u64 {
            session.push_arrival(t).unwrap();
        }
        assert_eq!(session.push_arrival(0), Err(ErrorKind::BacklogFull));
        assert_eq!(session.abandon_measured().len(), BACKLOG_MAX);
    }

    #[test]
    fn teardown_deletes_everything_created_then_close_ends_the_session() {
        let mut server = FakeServer::default();
        let mut session = ready(WorkloadKind::Create, 8, LoopModel::Closed, &mut server);
        session.set_phase(Phase::Run, 10);
        let mut out = BytesMut::new();
        let mut created = 0;
        for now in 0..10 {
            session.fill(now, &mut out);
            created += exchange(&mut session, &mut server, &mut out)
                .iter()
                .filter(|c| c.outcome.is_ok())
                .count();
        }
        assert_eq!(created, 80);
        assert_eq!(server.nodes.len(), 80);
        assert!(server.nodes.contains_key("/r/c3-79"));
        for phase in [Phase::Teardown, Phase::Close] {
            session.set_phase(phase, 0);
            while !session.phase_done() {
                assert!(session.fill(0, &mut out) > 0 || session.in_flight() > 0);
                for c in exchange(&mut session, &mut server, &mut out) {
                    assert_eq!(c.outcome, Ok(()), "{c:?}");
                }
            }
        }
        assert!(server.nodes.is_empty());
        assert_eq!(session.phase(), Phase::Done);
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
