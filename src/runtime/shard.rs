//! A shard: the client connections of one core, their watches, and reads.
//!
//! Lives on one shard core for the life of the process. It decodes requests,
//! answers reads from its tree view (an `Arc` to an immutable version: no lock,
//! no atomic per read), forwards writes to the sequencer in batches, and applies
//! the sequencer's commits: watches fire first, then the view moves forward,
//! then the waiting writes are answered. Per connection, replies leave in
//! request order: a read that arrives behind a pending write waits for it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::bell::Bell;
use super::msg::{Commit, ConnRef, Connected, SeqRequest, WriteOutcome, WriteReply};
use crate::config::Config;
use crate::proto::frame::{begin_frame, end_frame};
use crate::proto::jute::{JuteWrite, Reader};
use crate::proto::records::SetWatches;
use crate::proto::records::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader};
use crate::proto::request::{MultiReadOp, PathWatch};
use crate::proto::response::{encode_multi_response, encode_notification, MultiResult};
use crate::proto::{
    opcode::xid, perms, Acl, AddWatchMode, ErrorCode, EventType, Id, OpCode, Request, WatcherType,
};
use crate::session::negotiate_timeout;
use crate::tree::acl::{check_acl, digest};
use crate::tree::{DataTree, Node, TreeEvent};
use crate::txn::OpResult;
use crate::types::{SessionId, Xid, Zxid};
use crate::watch::{replay_child, replay_data, replay_exist, Fired, Replay, WatchTable};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the ConnectRequest.
    New,
    /// ConnectRequest sent to the sequencer; requests queue behind it.
    Handshaking,
    /// Session established.
    Established,
    /// Flush what is queued, then close.
    Closing,
}

/// A request held in a connection's order queue.
#[derive(Debug)]
enum Pending {
    /// The handshake is with the sequencer.
    Handshake,
    /// A write is with the sequencer.
    Awaiting { xid: Xid, since_ms: i64 },
    /// Arrived behind pending work; runs when it reaches the front (reads) or when
    /// nothing but forwarded writes is ahead (writes).
    Deferred { header: RequestHeader, body: Bytes },
}

/// Per-connection counters for `cons`/`stat`.
#[derive(Clone, Debug, Default)]
pub struct ConnStats {
    /// Requests received.
    pub received: u64,
    /// Replies and notifications sent.
    pub sent: u64,
    /// Last opcode seen.
    pub last_op: Option<OpCode>,
    /// Last client xid.
    pub last_cxid: i32,
    /// Last zxid replied.
    pub last_zxid: i64,
    /// Smallest, summed and largest write latency in ms, and how many.
    pub latency_min_ms: i64,
    /// Sum of latencies.
    pub latency_sum_ms: i64,
    /// Largest latency.
    pub latency_max_ms: i64,
    /// Latency samples.
    pub latency_count: u64,
    /// When the connection was accepted (wall-clock ms, as `cons` prints it).
    pub established_ms: i64,
}

/// One client connection. Lives on its shard's core.
pub struct Conn {
    /// The client's address.
    pub peer: SocketAddr,
    /// Lifecycle phase.
    pub phase: Phase,
    /// The session, once established.
    pub session: Option<SessionId>,
    /// The negotiated timeout.
    pub timeout_ms: u32,
    /// Authenticated ids (starts with the client's `ip`).
    pub auth: Arc<[Id]>,
    /// Encoded frames waiting for the writer.
    pub out: BytesMut,
    queue: VecDeque<Pending>,
    /// Whether the client's ConnectRequest carried the readOnly byte.
    with_read_only: bool,
    /// Wakes this connection's writer.
    pub writer_bell: Bell,
    /// Wakes this connection's reader after backpressure.
    pub reader_bell: Bell,
    /// Counters.
    pub stats: ConnStats,
    /// Serving a four-letter word (not reading; `cons` shows interest ops 0).
    pub serving_word: bool,
}

impl Conn {
    /// Whether the reader should stop reading until the writer catches up.
    pub fn saturated(&self) -> bool {
        self.queue.len() >= crate::constants::CONNECTION_OUTSTANDING_MAX
            || self.out.len() >= crate::constants::CONNECTION_OUTPUT_BYTES_MAX
    }

    /// Requests queued (waiting for the sequencer or behind one).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

/// What the reader should do after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep reading.
    Continue,
    /// Stop reading; the writer flushes and closes.
    Close,
}

/// Shard-wide counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardCounters {
    /// Packets received.
    pub received: u64,
    /// Packets sent.
    pub sent: u64,
}

/// The state of one shard core.
pub struct Shard {
    /// This shard's index.
    pub id: usize,
    config: Arc<Config>,
    view: Arc<DataTree>,
    /// Its connections, by id (the id is also the watcher id).
    pub conns: HashMap<u64, Conn>,
    /// Its watches.
    pub watches: WatchTable,
    next_conn: u64,
    /// Requests for the sequencer, flushed as one batch.
    pub outbox: Vec<SeqRequest>,
    outbox_bell: Bell,
    touched: HashSet<SessionId>,
    fired: Vec<Fired>,
    now_ms: i64,
    wall_ms: i64,
    /// The highest zxid any shard has acknowledged to a client (shared).
    acked: Arc<AtomicI64>,
    /// `acked` as last read: local requests wait until the view reaches it, so a
    /// read that follows an acknowledged write (on any connection, any core)
    /// sees it, as on a standalone ZooKeeper.
    read_floor: i64,
    /// Connections with local requests waiting for the view to reach the floor.
    view_waiters: Vec<u64>,
    /// Counters.
    pub counters: ShardCounters,
}

impl Shard {
    /// A shard with no connections over the initial tree.
    pub fn new(
        id: usize,
        config: Arc<Config>,
        view: Arc<DataTree>,
        outbox_bell: Bell,
        acked: Arc<AtomicI64>,
    ) -> Shard {
        Shard {
            id,
            config,
            view,
            acked,
            read_floor: 0,
            view_waiters: Vec::new(),
            conns: HashMap::new(),
            watches: WatchTable::new(),
            next_conn: 1,
            outbox: Vec::new(),
            outbox_bell,
            touched: HashSet::new(),
            fired: Vec::new(),
            now_ms: 0,
            wall_ms: 0,
            counters: ShardCounters::default(),
        }
    }

    /// The tree version reads are answered from.
    pub fn view(&self) -> &Arc<DataTree> {
        &self.view
    }

    /// The server configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Updates the cached monotonic time (once per read batch, not per request).
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// Updates the cached wall-clock time (read at accept and for reports).
    pub fn set_wall(&mut self, wall_ms: i64) {
        self.wall_ms = wall_ms;
    }

    /// Reads the acknowledged-zxid floor (once per read batch, not per request):
    /// requests read after this must see every write acknowledged before it.
    pub fn observe_acked(&mut self) {
        self.read_floor = self.read_floor.max(self.acked.load(Ordering::Acquire));
    }

    fn view_reached_floor(&self) -> bool {
        self.view.last_zxid() >= self.read_floor
    }

    /// Registers an accepted connection; returns its id.
    pub fn add_conn(&mut self, peer: SocketAddr, writer_bell: Bell, reader_bell: Bell) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        let auth: Arc<[Id]> = Arc::from(vec![Id::new("ip", peer.ip().to_string())]);
        let stats = ConnStats {
            latency_min_ms: i64::MAX,
            established_ms: self.wall_ms,
            ..ConnStats::default()
        };
        let conn = Conn {
            peer,
            phase: Phase::New,
            session: None,
            timeout_ms: 0,
            auth,
            out: BytesMut::new(),
            queue: VecDeque::new(),
            with_read_only: false,
            writer_bell,
            reader_bell,
            stats,
            serving_word: false,
        };
        self.conns.insert(id, conn);
        id
    }

    /// Forgets a connection whose socket is gone.
    pub fn remove_conn(&mut self, id: u64) {
        if let Some(conn) = self.conns.remove(&id) {
            self.watches.remove_watcher(id);
            let conn_ref = ConnRef {
                shard: self.id,
                conn: id,
            };
            self.send(SeqRequest::Disconnected {
                conn: conn_ref,
                session: conn.session,
            });
        }
    }

    /// `crst`: resets the counters of this shard's connections. (Other shards keep
    /// theirs until their own `crst`; a word is served by one shard.)
    pub fn reset_connection_stats(&mut self) {
        let now_ms = self.wall_ms;
        for conn in self.conns.values_mut() {
            conn.stats = ConnStats {
                latency_min_ms: i64::MAX,
                established_ms: now_ms,
                ..ConnStats::default()
            };
        }
    }

    /// Asks the sequencer for a report round (four-letter words).
    pub fn request_report(&mut self) {
        self.send(SeqRequest::Report);
    }

    /// Takes the sessions touched since the last call.
    pub fn take_touched(&mut self) -> Vec<SessionId> {
        self.touched.drain().collect()
    }

    fn send(&mut self, request: SeqRequest) {
        self.outbox.push(request);
        self.outbox_bell.ring();
    }

    /// Handles one complete frame from a connection.
    pub fn on_frame(&mut self, id: u64, frame: Bytes) -> Verdict {
        self.counters.received += 1;
        let Some(conn) = self.conns.get_mut(&id) else {
            return Verdict::Close;
        };
        conn.stats.received += 1;
        if let Some(session) = conn.session {
            self.touched.insert(session);
        }
        match conn.phase {
            Phase::New => self.on_connect_request(id, frame),
            Phase::Closing => Verdict::Close,
            Phase::Handshaking | Phase::Established => self.on_request_frame(id, frame),
        }
    }

    fn on_connect_request(&mut self, id: u64, frame: Bytes) -> Verdict {
        let request = match ConnectRequest::decode_frame(&frame, self.config.jute_maxbuffer) {
            Ok(request) => request,
            Err(error) => {
                tracing::info!(conn = id, %error, "closing connection: malformed ConnectRequest");
                return Verdict::Close;
            }
        };
        let timeout_ms = negotiate_timeout(
            request.timeout_ms,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let mut password = [0u8; 16];
        if request.passwd.len() == password.len() {
            password.copy_from_slice(&request.passwd);
        }
        let conn = self.conns.get_mut(&id).expect("caller checked");
        conn.phase = Phase::Handshaking;
        conn.with_read_only = request.read_only.is_some();
        conn.queue.push_back(Pending::Handshake);
        let conn_ref = ConnRef {
            shard: self.id,
            conn: id,
        };
        self.send(SeqRequest::Connect {
            conn: conn_ref,
            session_id: SessionId(request.session_id),
            password,
            timeout_ms,
            last_zxid_seen: Zxid(request.last_zxid_seen),
        });
        Verdict::Continue
    }

    fn on_request_frame(&mut self, id: u64, frame: Bytes) -> Verdict {
        let mut reader = Reader::new(&frame, self.config.jute_maxbuffer);
        let header = match RequestHeader::decode(&mut reader) {
            Ok(header) => header,
            Err(error) => {
                tracing::info!(conn = id, %error, "closing connection: malformed request header");
                return Verdict::Close;
            }
        };
        let body = frame.slice(frame.len() - reader.remaining()..);
        let conn = self.conns.get_mut(&id).expect("caller checked");
        conn.stats.last_cxid = header.xid;
        let Some(op) = OpCode::from_code(header.op_code) else {
            return self.refuse(id, header.xid, ErrorCode::Unimplemented, "unknown opcode");
        };
        conn.stats.last_op = Some(op);
        match class_of(op) {
            Class::Ping => {
                let zxid = self.view.last_zxid();
                self.reply_empty(id, xid::PING, zxid, ErrorCode::Ok);
                Verdict::Continue
            }
            Class::Refuse => self.refuse(
                id,
                header.xid,
                ErrorCode::Unimplemented,
                "opcode not valid as a request",
            ),
            Class::Sasl => self.refuse(
                id,
                header.xid,
                ErrorCode::AuthFailed,
                "SASL is not supported",
            ),
            class => {
                let conn = self.conns.get_mut(&id).expect("caller checked");
                let floor_reached = self.view.last_zxid() >= self.read_floor;
                let runnable = match class {
                    Class::Write => conn
                        .queue
                        .iter()
                        .all(|p| matches!(p, Pending::Awaiting { .. })),
                    _ => conn.queue.is_empty() && floor_reached,
                };
                if conn.phase != Phase::Established || !runnable {
                    conn.queue.push_back(Pending::Deferred { header, body });
                    if !floor_reached {
                        self.view_waiters.push(id);
                    }
                    return Verdict::Continue;
                }
                self.run(id, header, body)
            }
        }
    }

    /// Answers with an error and closes: ZooKeeper's reply to requests it cannot
    /// serve. The reply's zxid is what ZooKeeper sends there: -1 for an invalid
    /// opcode (the request never reached the data tree), 0 for SASL.
    fn refuse(&mut self, id: u64, xid: Xid, code: ErrorCode, why: &str) -> Verdict {
        let conn = &self.conns[&id];
        tracing::info!(conn = id, peer = %conn.peer, xid, code = ?code, "closing connection: {why}");
        let zxid = match code {
            ErrorCode::AuthFailed => 0,
            _ => -1,
        };
        self.reply_empty(id, xid, zxid, code);
        self.close(id);
        Verdict::Close
    }

    /// Marks a connection to close once its queued output is written.
    pub fn close(&mut self, id: u64) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.phase = Phase::Closing;
            conn.writer_bell.ring();
            conn.reader_bell.ring();
        }
    }

    fn run(&mut self, id: u64, header: RequestHeader, body: Bytes) -> Verdict {
        let op = OpCode::from_code(header.op_code).expect("checked on arrival");
        if class_of(op) == Class::Write {
            let conn = self.conns.get_mut(&id).expect("caller checked");
            conn.queue.push_back(Pending::Awaiting {
                xid: header.xid,
                since_ms: self.now_ms,
            });
            let request = SeqRequest::Write {
                conn: ConnRef {
                    shard: self.id,
                    conn: id,
                },
                session: conn.session.expect("established"),
                xid: header.xid,
                op,
                body,
                auth: conn.auth.clone(),
            };
            self.send(request);
            return Verdict::Continue;
        }
        let mut reader = Reader::new(&body, self.config.jute_maxbuffer);
        match Request::decode(op, &mut reader) {
            Ok(request) => self.run_local(id, header.xid, request),
            Err(error) => {
                // ZooKeeper answers MARSHALLINGERROR and keeps the connection: the
                // frame itself was well formed.
                tracing::info!(conn = id, %error, "malformed request body");
                let zxid = self.view.last_zxid();
                self.reply_error(id, header.xid, zxid, ErrorCode::MarshallingError)
            }
        }
    }

    /// Runs a request served by the shard itself (reads, watches, auth). Reads
    /// borrow the view and the connection's ids: no reference count moves.
    fn run_local(&mut self, id: u64, xid: Xid, request: Request<'_>) -> Verdict {
        match &request {
            Request::Auth(req) => return self.auth(id, xid, req.scheme, &req.auth),
            Request::SetWatches(req) => {
                let view = self.view.clone();
                return self.set_watches(id, xid, &view, req);
            }
            Request::AddWatch(req) if AddWatchMode::from_code(req.mode).is_none() => {
                return self.refuse(id, xid, ErrorCode::MarshallingError, "bad addWatch mode");
            }
            Request::CheckWatches(req) | Request::RemoveWatches(req)
                if WatcherType::from_code(req.watcher_type).is_none() =>
            {
                return self.refuse(id, xid, ErrorCode::MarshallingError, "bad watcher type");
            }
            _ => {}
        }
        let Shard {
            view,
            conns,
            watches,
            config,
            counters,
            ..
        } = self;
        let Some(conn) = conns.get_mut(&id) else {
            return Verdict::Close;
        };
        let Conn {
            out,
            stats,
            auth,
            session,
            writer_bell,
            ..
        } = conn;
        let reads = Reads {
            view,
            auth,
            skip_acl: config.skip_acl,
        };
        let mut reply = Reply {
            out,
            stats,
            sent: &mut counters.sent,
            xid,
            zxid: view.last_zxid(),
        };
        match request {
            Request::Exists(PathWatch { path, watch }) => {
                if path.contains('\0') {
                    reply.error(ErrorCode::BadArguments);
                } else {
                    let node = view.get(path);
                    match node {
                        Some(node) if !reads.allows(node, perms::READ) => {
                            reply.error(ErrorCode::NoAuth)
                        }
                        _ => {
                            if watch {
                                watches.add_data(path, id);
                            }
                            match node {
                                Some(node) => reply.with(|out| node.stat.encode(out)),
                                None => reply.error(ErrorCode::NoNode),
                            }
                        }
                    }
                }
            }
            Request::GetData(PathWatch { path, watch }) => match reads.node(path, perms::READ) {
                Ok(node) => {
                    if watch {
                        watches.add_data(path, id);
                    }
                    reply.with(|out| {
                        if node.data_null {
                            out.put_jute_null();
                        } else {
                            out.put_jute_buf(&node.data);
                        }
                        node.stat.encode(out);
                    })
                }
                Err(code) => reply.error(code),
            },
            Request::GetChildren(PathWatch { path, watch })
            | Request::GetChildren2(PathWatch { path, watch }) => {
                let with_stat = matches!(request, Request::GetChildren2(_));
                match reads.node(path, perms::READ) {
                    Ok(node) => {
                        if watch {
                            watches.add_child(path, id);
                        }
                        reply.with(|out| {
                            encode_children(out, node);
                            if with_stat {
                                node.stat.encode(out);
                            }
                        })
                    }
                    Err(code) => reply.error(code),
                }
            }
            Request::GetAcl(p) => match reads.node(p.path, perms::READ | perms::ADMIN) {
                Ok(node) => {
                    // FinalRequestProcessor: without ADMIN, digest hashes are masked.
                    let admin = reads.allows(node, perms::ADMIN);
                    reply.with(|out| {
                        encode_acl_list(out, &node.acl, !admin);
                        node.stat.encode(out);
                    })
                }
                Err(code) => reply.error(code),
            },
            Request::GetAllChildrenNumber(p) => match reads.node(p.path, perms::READ) {
                Ok(_) => {
                    let count = view.all_children_number(p.path).unwrap_or(0);
                    reply.with(|out| out.put_i32(count as i32))
                }
                Err(code) => reply.error(code),
            },
            Request::GetEphemerals(p) => {
                let prefix = p.path.trim();
                let mut paths: Vec<&str> = view
                    .ephemerals(session.unwrap_or_default().0)
                    .map(|path| &**path)
                    .filter(|path| prefix.is_empty() || prefix == "/" || path.starts_with(p.path))
                    .collect();
                paths.sort_unstable();
                reply.with(|out| {
                    out.put_i32(paths.len() as i32);
                    for path in &paths {
                        out.put_jute_str(path);
                    }
                })
            }
            Request::MultiRead(ops) => {
                let results: Vec<MultiResult> =
                    ops.iter().map(|op| reads.multi_read_op(op)).collect();
                reply.with(|out| encode_multi_response(out, &results))
            }
            Request::AddWatch(req) => {
                let recursive =
                    AddWatchMode::from_code(req.mode) == Some(AddWatchMode::PersistentRecursive);
                watches.add_persistent(req.path, id, recursive);
                reply.with(|out| out.put_i32(0))
            }
            Request::CheckWatches(req) | Request::RemoveWatches(req) => {
                let kind = WatcherType::from_code(req.watcher_type).expect("checked above");
                let found = if matches!(request, Request::RemoveWatches(_)) {
                    watches.remove(req.path, id, kind)
                } else {
                    watches.contains(req.path, id, kind)
                };
                reply.error(if found {
                    ErrorCode::Ok
                } else {
                    ErrorCode::NoWatcher
                })
            }
            Request::WhoAmI => reply.with(|out| {
                out.put_i32(auth.len() as i32);
                for id in auth.iter() {
                    out.put_jute_str(&id.scheme);
                    out.put_jute_str(user_name(id));
                }
            }),
            other => {
                tracing::warn!(op = ?other.op(), "request reached the wrong path");
                reply.error(ErrorCode::Unimplemented);
            }
        }
        writer_bell.ring();
        Verdict::Continue
    }

    /// `setWatches`/`setWatches2` on reconnect: `DataTree.setWatches`. Events for
    /// changes the client missed go out before the reply, with zxid -1 as in ZooKeeper.
    fn set_watches(&mut self, id: u64, xid: Xid, view: &DataTree, req: &SetWatches<'_>) -> Verdict {
        let rel = req.relative_zxid;
        let mut missed: Vec<(EventType, &str)> = Vec::new();
        for path in &req.data {
            match replay_data(view.get(path).map(|n| n.stat.mzxid), rel) {
                Replay::Registered => self.watches.add_data(path, id),
                Replay::Fire(event) => missed.push((event, path)),
            }
        }
        for path in &req.exist {
            match replay_exist(view.get(path).is_some()) {
                Replay::Registered => self.watches.add_data(path, id),
                Replay::Fire(event) => missed.push((event, path)),
            }
        }
        for path in &req.child {
            match replay_child(view.get(path).map(|n| n.stat.pzxid), rel) {
                Replay::Registered => self.watches.add_child(path, id),
                Replay::Fire(event) => missed.push((event, path)),
            }
        }
        for path in &req.persistent {
            self.watches.add_persistent(path, id, false);
        }
        for path in &req.persistent_recursive {
            self.watches.add_persistent(path, id, true);
        }
        let conn = self.conns.get_mut(&id).expect("caller checked");
        for (event, path) in missed {
            encode_notification(&mut conn.out, -1, event, path);
            conn.stats.sent += 1;
        }
        self.reply_empty(id, xid, view.last_zxid(), ErrorCode::Ok);
        Verdict::Continue
    }

    /// `auth` packets: digest adds `digest:user:hash` (and `super:` for the super
    /// digest); an unknown scheme fails and closes, as ZooKeeper does. The reply
    /// echoes the request xid (-4 from the Java client, ordinary xids from others).
    fn auth(&mut self, id: u64, xid: Xid, scheme: &str, auth: &[u8]) -> Verdict {
        let mut added = Vec::new();
        match scheme {
            "digest" => {
                let credentials = String::from_utf8_lossy(auth);
                let id_text = digest(&credentials);
                if self.config.super_digest.as_deref() == Some(id_text.as_str()) {
                    added.push(Id::new("super", ""));
                }
                added.push(Id::new("digest", id_text));
            }
            // `ip` authentication is implicit: every connection already holds its ip id.
            "ip" => {}
            _ => {
                tracing::info!(conn = id, scheme, "auth failed: no provider for scheme");
                self.reply_empty(id, xid, 0, ErrorCode::AuthFailed);
                self.close(id);
                return Verdict::Close;
            }
        }
        let conn = self.conns.get_mut(&id).expect("caller checked");
        if !added.is_empty() {
            let mut ids: Vec<Id> = conn.auth.to_vec();
            for id in added {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            conn.auth = Arc::from(ids);
        }
        self.reply_empty(id, xid, 0, ErrorCode::Ok);
        Verdict::Continue
    }

    fn reply_with(
        &mut self,
        id: u64,
        xid: Xid,
        zxid: i64,
        body: impl FnOnce(&mut BytesMut),
    ) -> Verdict {
        let conn = self.conns.get_mut(&id).expect("caller checked");
        let start = begin_frame(&mut conn.out);
        ReplyHeader { xid, zxid, err: 0 }.encode(&mut conn.out);
        body(&mut conn.out);
        end_frame(&mut conn.out, start);
        conn.stats.sent += 1;
        conn.stats.last_zxid = zxid;
        self.counters.sent += 1;
        conn.writer_bell.ring();
        Verdict::Continue
    }

    fn reply_empty(&mut self, id: u64, xid: Xid, zxid: i64, code: ErrorCode) {
        let conn = self.conns.get_mut(&id).expect("caller checked");
        let start = begin_frame(&mut conn.out);
        ReplyHeader {
            xid,
            zxid,
            err: code.code(),
        }
        .encode(&mut conn.out);
        end_frame(&mut conn.out, start);
        conn.stats.sent += 1;
        self.counters.sent += 1;
        conn.writer_bell.ring();
    }

    fn reply_error(&mut self, id: u64, xid: Xid, zxid: i64, code: ErrorCode) -> Verdict {
        self.reply_empty(id, xid, zxid, code);
        Verdict::Continue
    }

    /// Applies one published batch: watches fire, the view moves, writes are answered.
    pub fn on_commit(&mut self, commit: Commit) {
        self.fire_watches(&commit.tree, &commit.events);
        self.view = commit.tree;
        // Raise the shared floor before any of these replies can reach a socket
        // (the writer tasks run after this returns).
        if let Some(last) = commit.replies.last() {
            self.acked.fetch_max(last.zxid.0, Ordering::Release);
        }
        for connected in commit.connected {
            self.on_connected(connected);
        }
        for reply in commit.replies {
            self.on_write_reply(reply);
        }
        for id in commit.close {
            self.close(id);
        }
        if !self.view_waiters.is_empty() && self.view_reached_floor() {
            let mut waiters = std::mem::take(&mut self.view_waiters);
            waiters.sort_unstable();
            waiters.dedup();
            for id in waiters {
                self.drain(id);
            }
        }
    }

    fn fire_watches(&mut self, new: &DataTree, events: &[(Zxid, TreeEvent)]) {
        if events.is_empty() {
            return;
        }
        let old = self.view.clone();
        let mut fired = std::mem::take(&mut self.fired);
        for (zxid, event) in events {
            fired.clear();
            self.watches.trigger(event, &mut fired);
            for f in &fired {
                let Some(conn) = self.conns.get_mut(&f.watcher) else {
                    continue;
                };
                // ZooKeeper 3.9 drops events for nodes the watcher may not read.
                let acl = new
                    .get(&f.path)
                    .or_else(|| old.get(&f.path))
                    .map(|n| &n.acl);
                if let Some(acl) = acl {
                    if !self.config.skip_acl && !check_acl(acl, perms::READ, &conn.auth) {
                        continue;
                    }
                }
                encode_notification(&mut conn.out, zxid.0, f.event_type, &f.path);
                conn.stats.sent += 1;
                self.counters.sent += 1;
                conn.writer_bell.ring();
            }
        }
        self.fired = fired;
    }

    fn on_connected(&mut self, c: Connected) {
        let Some(conn) = self.conns.get_mut(&c.conn) else {
            return;
        };
        let head = conn.queue.pop_front();
        assert!(
            matches!(head, Some(Pending::Handshake)),
            "handshake reply without a handshake"
        );
        if c.zxid_ahead {
            tracing::info!(peer = %conn.peer, "refusing session: client has seen a newer zxid than this server");
            self.close(c.conn);
            return;
        }
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: c.timeout_ms as i32,
            session_id: c.session.0,
            passwd: c.password,
            read_only: conn.with_read_only.then_some(false),
        };
        let start = begin_frame(&mut conn.out);
        response.encode(&mut conn.out);
        end_frame(&mut conn.out, start);
        conn.writer_bell.ring();
        if c.timeout_ms == 0 {
            tracing::info!(peer = %conn.peer, "session expired or unknown: closing");
            self.close(c.conn);
            return;
        }
        conn.session = Some(c.session);
        conn.timeout_ms = c.timeout_ms;
        conn.phase = Phase::Established;
        self.drain(c.conn);
    }

    fn on_write_reply(&mut self, reply: WriteReply) {
        let now_ms = self.now_ms;
        let Some(conn) = self.conns.get_mut(&reply.conn) else {
            return;
        };
        let Some(Pending::Awaiting { xid, since_ms }) = conn.queue.pop_front() else {
            panic!("write reply for a connection with no write pending");
        };
        assert_eq!(
            xid, reply.xid,
            "write replies must come back in request order"
        );
        let latency = (now_ms - since_ms).max(0);
        conn.stats.latency_min_ms = conn.stats.latency_min_ms.min(latency);
        conn.stats.latency_max_ms = conn.stats.latency_max_ms.max(latency);
        conn.stats.latency_sum_ms += latency;
        conn.stats.latency_count += 1;
        let zxid = reply.zxid.0;
        match reply.outcome {
            WriteOutcome::Sync(path) => {
                self.reply_with(reply.conn, xid, zxid, |out| out.put_jute_str(&path));
            }
            WriteOutcome::Txn(result) => self.reply_txn(reply.conn, xid, zxid, &result),
        }
        self.drain(reply.conn);
    }

    fn reply_txn(&mut self, id: u64, xid: Xid, zxid: i64, result: &OpResult) {
        match result {
            OpResult::Error(code) => {
                self.reply_empty(id, xid, zxid, *code);
            }
            OpResult::Created { op, path, stat } => {
                let with_stat = *op != OpCode::Create;
                self.reply_with(id, xid, zxid, |out| {
                    out.put_jute_str(path);
                    if with_stat {
                        stat.encode(out);
                    }
                });
            }
            OpResult::DataSet { stat } | OpResult::AclSet { stat } => {
                self.reply_with(id, xid, zxid, |out| stat.encode(out));
            }
            OpResult::Multi(results) => {
                let results: Vec<MultiResult> = results.iter().map(multi_result).collect();
                self.reply_with(id, xid, zxid, |out| encode_multi_response(out, &results));
            }
            OpResult::Deleted
            | OpResult::Checked
            | OpResult::SessionCreated
            | OpResult::SessionClosed => {
                self.reply_empty(id, xid, zxid, ErrorCode::Ok);
            }
        }
    }

    /// Runs what became runnable at the front of a connection's queue.
    fn drain(&mut self, id: u64) {
        let mut index = 0;
        let mut blocked = false;
        let floor_reached = self.view_reached_floor();
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.phase != Phase::Established || index >= conn.queue.len() {
                break;
            }
            let (is_write, header) = match &conn.queue[index] {
                Pending::Handshake | Pending::Awaiting { .. } => {
                    blocked = true;
                    index += 1;
                    continue;
                }
                Pending::Deferred { header, .. } => {
                    let write = OpCode::from_code(header.op_code)
                        .is_some_and(|op| class_of(op) == Class::Write);
                    (write, *header)
                }
            };
            if !is_write && blocked {
                break;
            }
            if !is_write && !floor_reached {
                self.view_waiters.push(id);
                break;
            }
            let Some(Pending::Deferred { body, .. }) = conn.queue.remove(index) else {
                unreachable!()
            };
            if is_write {
                // `run` appends the write as Awaiting; put it back where it was.
                self.run(id, header, body);
                let conn = self.conns.get_mut(&id).expect("still here");
                let awaiting = conn.queue.pop_back().expect("run queued it");
                conn.queue.insert(index, awaiting);
                blocked = true;
                index += 1;
            } else if self.run(id, header, body) == Verdict::Close {
                return;
            }
        }
        if let Some(conn) = self.conns.get(&id) {
            if !conn.saturated() {
                conn.reader_bell.ring();
            }
        }
    }
}

/// Read access to one tree version on behalf of one connection.
struct Reads<'a> {
    view: &'a DataTree,
    auth: &'a [Id],
    skip_acl: bool,
}

impl<'a> Reads<'a> {
    fn allows(&self, node: &Node, perm: i32) -> bool {
        self.skip_acl || check_acl(&node.acl, perm, self.auth)
    }

    /// `FinalRequestProcessor`'s read checks: NONODE, then the permission.
    fn node(&self, path: &str, perm: i32) -> Result<&'a Node, ErrorCode> {
        let node = self.view.get(path).ok_or(ErrorCode::NoNode)?;
        if !self.allows(node, perm) {
            return Err(ErrorCode::NoAuth);
        }
        Ok(node)
    }

    /// One multiRead sub-op: each fails or succeeds on its own.
    fn multi_read_op(&self, op: &MultiReadOp<'_>) -> MultiResult {
        match op {
            MultiReadOp::GetChildren(path) => match self.node(path, perms::READ) {
                Ok(node) => MultiResult::GetChildren {
                    children: node.children.iter().map(|c| c.to_string()).collect(),
                },
                Err(code) => MultiResult::Error { err: code.code() },
            },
            MultiReadOp::GetData(path) => match self.node(path, perms::READ) {
                Ok(node) => MultiResult::GetData {
                    data: node.data.clone(),
                    stat: node.stat,
                },
                Err(code) => MultiResult::Error { err: code.code() },
            },
        }
    }
}

/// One reply frame being written into a connection's output buffer.
struct Reply<'a> {
    out: &'a mut BytesMut,
    stats: &'a mut ConnStats,
    sent: &'a mut u64,
    xid: Xid,
    zxid: i64,
}

impl Reply<'_> {
    fn with(&mut self, body: impl FnOnce(&mut BytesMut)) {
        let start = begin_frame(self.out);
        ReplyHeader {
            xid: self.xid,
            zxid: self.zxid,
            err: 0,
        }
        .encode(self.out);
        body(self.out);
        end_frame(self.out, start);
        self.count();
    }

    fn error(&mut self, code: ErrorCode) {
        let start = begin_frame(self.out);
        ReplyHeader {
            xid: self.xid,
            zxid: self.zxid,
            err: code.code(),
        }
        .encode(self.out);
        end_frame(self.out, start);
        self.count();
    }

    fn count(&mut self) {
        self.stats.sent += 1;
        self.stats.last_zxid = self.zxid;
        *self.sent += 1;
    }
}

/// How a request is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Ping,
    /// Through the sequencer.
    Write,
    /// On the shard.
    Local,
    /// ZooKeeper answers SASL with a failure when no SASL server is configured.
    Sasl,
    /// Not a valid request: UNIMPLEMENTED and close.
    Refuse,
}

fn class_of(op: OpCode) -> Class {
    use OpCode::*;
    match op {
        Ping => Class::Ping,
        Create | Create2 | CreateContainer | CreateTtl | Delete | SetData | SetAcl | Multi
        | Reconfig | DeleteContainer | CloseSession | Sync => Class::Write,
        Exists | GetData | GetAcl | GetChildren | GetChildren2 | MultiRead | CheckWatches
        | RemoveWatches | Auth | SetWatches | SetWatches2 | GetEphemerals
        | GetAllChildrenNumber | AddWatch | WhoAmI => Class::Local,
        Sasl => Class::Sasl,
        Check | Notification | CreateSession | Error => Class::Refuse,
    }
}

/// `AuthenticationProvider.getUserName`: the digest provider shows the user, not the hash.
fn user_name(id: &Id) -> &str {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or(""),
        _ => &id.id,
    }
}

fn encode_children(out: &mut BytesMut, node: &Node) {
    out.extend_from_slice(&(node.children.len() as i32).to_be_bytes());
    for child in node.children.iter() {
        out.put_jute_str(child);
    }
}

fn encode_acl_list(out: &mut BytesMut, acl: &[Acl], mask_digests: bool) {
    out.extend_from_slice(&(acl.len() as i32).to_be_bytes());
    for entry in acl {
        out.extend_from_slice(&entry.perms.to_be_bytes());
        out.put_jute_str(&entry.id.scheme);
        if mask_digests && entry.id.scheme == "digest" {
            let user = entry.id.id.split(':').next().unwrap_or("");
            out.put_jute_str(&format!("{user}:x"));
        } else {
            out.put_jute_str(&entry.id.id);
        }
    }
}

/// The reply shape of one multi sub-result (3.9: createTTL/createContainer report as create2).
fn multi_result(result: &OpResult) -> MultiResult {
    match result {
        OpResult::Created {
            op: OpCode::Create,
            path,
            ..
        } => MultiResult::Create {
            path: path.to_string(),
        },
        OpResult::Created { path, stat, .. } => MultiResult::Create2 {
            path: path.to_string(),
            stat: *stat,
        },
        OpResult::Deleted => MultiResult::Delete,
        OpResult::DataSet { stat } => MultiResult::SetData { stat: *stat },
        OpResult::Checked => MultiResult::Check,
        OpResult::Error(code) => MultiResult::Error { err: code.code() },
        other => panic!("not a multi sub-result: {other:?}"),
    }
}
