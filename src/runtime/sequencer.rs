//! The sequencer: the one core that orders writes.
//!
//! Lives on the sequencer core for the life of the process. It owns the newest
//! tree, the session table and the zxid counter; it turns each batch of shard
//! requests into txns (prep), applies them to its newest tree (speculatively:
//! the txns are not durable yet) and cuts the batch's output into a
//! [`Publication`]: the tree version at the batch end, the batch's watch
//! events, the replies for each shard's connections and the txn records for the
//! log. The [`super::pipeline::Pipeline`] holds each publication until the log
//! is durable up to it. Expiry and the container/TTL reaper run on its ticks.
//!
//! While the log cannot write (out of disk space), new writes and new sessions
//! are refused at once ([`Sequencer::handle_refusing`]) instead of waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::forward::{FromLeader, ToLeader};
use super::msg::{ConnRef, Connected, SeqRequest, WriteOutcome, WriteReply};
use super::pipeline::{Publication, ShardOut};
use crate::config::Config;
use crate::log::SessionTimeouts;
use crate::proto::jute::Reader;
use crate::proto::request::PathOnly;
use crate::proto::ErrorCode;
use crate::proto::{OpCode, Request};
use crate::session::{session_password, SessionTable};
use crate::tree::ephemeral::EphemeralType;
use crate::tree::{DataTree, TreeEvent};
use crate::txn::{apply, prep, OpResult, PrepContext, Txn, TxnOp, TxnRecord};
use crate::types::{SessionId, Xid, Zxid};

/// Counters the four-letter words report.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequencerCounters {
    /// Txns applied.
    pub txns: u64,
    /// Sessions expired by the server.
    pub sessions_expired: u64,
    /// Containers and TTL nodes reaped.
    pub nodes_reaped: u64,
}

/// How this member handles its clients' writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Standalone, or leading an ensemble: writes are prepared, sequenced and
    /// applied here.
    Leading,
    /// Following or observing: writes are forwarded to the leader and their
    /// outcomes learnt by applying the committed txns.
    Following,
}

/// Who holds a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// A connection on this member.
    Conn(ConnRef),
    /// Another member (known on the leader only).
    Member(u64),
}

/// A forwarded request waiting for its outcome on a following member.
#[derive(Debug)]
enum Awaiting {
    /// A new session: answered when its `createSession` txn commits.
    Connect { conn: ConnRef, timeout_ms: u32 },
    /// A write: answered when the txn with this session and xid commits.
    Write { conn: ConnRef, xid: Xid },
    /// A sync: answered when the leader's [`FromLeader::SyncDone`] arrives.
    Sync {
        conn: ConnRef,
        xid: Xid,
        path: String,
    },
}

impl Awaiting {
    fn conn(&self) -> ConnRef {
        match self {
            Awaiting::Connect { conn, .. } | Awaiting::Write { conn, .. } => *conn,
            Awaiting::Sync { conn, .. } => *conn,
        }
    }
}

/// The sequencer's state. Lives on the sequencer core.
pub struct Sequencer {
    config: Arc<Config>,
    tree: DataTree,
    sessions: SessionTable,
    /// Who currently holds each session: a connection here or, on the
    /// leader, another member.
    owners: HashMap<SessionId, Owner>,
    mode: Mode,
    /// Following: what each session's forwarded requests wait for, in order.
    forwarded: HashMap<SessionId, VecDeque<Awaiting>>,
    /// Following: what goes to the leader with the next batch.
    to_leader: Vec<ToLeader>,
    /// Leading: answers for other members, released with the batch.
    to_members: Vec<(u64, FromLeader)>,
    zxid: Zxid,
    shards: usize,
    out: Vec<ShardOut>,
    /// Output that waits for nothing in the log (refusals while it cannot write).
    unlogged: Vec<ShardOut>,
    records: Vec<TxnRecord>,
    session_changes: Vec<(SessionId, Option<u32>)>,
    events: Vec<(Zxid, TreeEvent)>,
    scratch_events: Vec<TreeEvent>,
    dirty: bool,
    last_reap_ms: i64,
    report_round: u64,
    report_requested: bool,
    /// Reported by `mntr`/`srvr`.
    pub counters: SequencerCounters,
}

impl Sequencer {
    /// A sequencer resuming from recovered state: `tree` after the txn
    /// `last_zxid`, and the sessions live then (each gets a full timeout from
    /// `now_ms`, as ZooKeeper's session tracker does on load).
    pub fn new(
        config: Arc<Config>,
        tree: DataTree,
        sessions: &SessionTimeouts,
        shards: usize,
        now_ms: i64,
        wall_ms: i64,
    ) -> Sequencer {
        let mut table = SessionTable::new(config.tick_time_ms, config.server_id, wall_ms);
        table.restore(sessions.iter().map(|(id, t)| (*id, *t)), now_ms);
        Sequencer {
            zxid: Zxid(tree.last_zxid()),
            tree,
            sessions: table,
            owners: HashMap::new(),
            mode: Mode::Leading,
            forwarded: HashMap::new(),
            to_leader: Vec::new(),
            to_members: Vec::new(),
            shards,
            out: (0..shards).map(|_| ShardOut::default()).collect(),
            unlogged: (0..shards).map(|_| ShardOut::default()).collect(),
            records: Vec::new(),
            session_changes: Vec::new(),
            events: Vec::new(),
            scratch_events: Vec::new(),
            dirty: false,
            last_reap_ms: now_ms,
            report_round: 0,
            report_requested: false,
            config,
            counters: SequencerCounters::default(),
        }
    }

    /// The newest tree (what the next publication will carry).
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The live sessions.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The last assigned zxid.
    pub fn zxid(&self) -> Zxid {
        self.zxid
    }

    /// Handles one request from a shard.
    pub fn handle(&mut self, request: SeqRequest, now_ms: i64, wall_ms: i64) {
        match request {
            SeqRequest::Connect {
                conn,
                session_id,
                password,
                timeout_ms,
                last_zxid_seen,
            } => self.connect(
                conn,
                session_id,
                password,
                timeout_ms,
                last_zxid_seen,
                now_ms,
                wall_ms,
            ),
            SeqRequest::Write {
                conn,
                session,
                xid,
                op,
                body,
                auth,
            } => self.write(conn, session, xid, op, &body, &auth, now_ms, wall_ms),
            SeqRequest::Touch(ids) => {
                for id in &ids {
                    self.sessions.touch(*id, now_ms);
                }
                if self.mode == Mode::Following {
                    self.to_leader.push(ToLeader::Touch(ids));
                }
            }
            SeqRequest::Report => self.report_requested = true,
            SeqRequest::Disconnected { conn, session } => {
                if let Some(session) = session {
                    if self.owners.get(&session) == Some(&Owner::Conn(conn)) {
                        self.owners.remove(&session);
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        conn: ConnRef,
        session_id: SessionId,
        password: [u8; 16],
        timeout_ms: u32,
        last_zxid_seen: Zxid,
        now_ms: i64,
        wall_ms: i64,
    ) {
        let refused = Connected {
            conn: conn.conn,
            session: SessionId(0),
            timeout_ms: 0,
            password: [0; 16],
            zxid_ahead: false,
        };
        if last_zxid_seen > self.zxid {
            // ZooKeeper: "Refusing session request for client as it has seen zxid
            // ... our last zxid is ...": the client must try another server.
            self.out[conn.shard].connected.push(Connected {
                zxid_ahead: true,
                ..refused
            });
            return;
        }
        if session_id.0 == 0 && self.mode == Mode::Following {
            // The id carries this member's id, so it is unique in the ensemble;
            // the session exists once the leader commits its creation.
            let id = self.sessions.allocate_id();
            self.forwarded
                .entry(id)
                .or_default()
                .push_back(Awaiting::Connect { conn, timeout_ms });
            self.to_leader.push(ToLeader::CreateSession {
                session: id,
                timeout_ms,
            });
            return;
        }
        if session_id.0 == 0 {
            let id = self.sessions.allocate_id();
            self.commit_txn(id, 0, TxnOp::CreateSession { timeout_ms }, wall_ms);
            self.sessions.add(id, timeout_ms, now_ms);
            self.owners.insert(id, Owner::Conn(conn));
            let connected = Connected {
                conn: conn.conn,
                session: id,
                timeout_ms,
                password: session_password(id),
                zxid_ahead: false,
            };
            self.out[conn.shard].connected.push(connected);
            return;
        }
        match self.sessions.check_reattach(session_id, &password) {
            Ok(session) => {
                debug_assert_eq!(session.id, session_id);
                // ZooKeeper answers a reattach with the newly negotiated timeout.
                self.sessions.touch(session_id, now_ms);
                self.take_ownership(session_id, Owner::Conn(conn));
                if self.mode == Mode::Following {
                    self.to_leader.push(ToLeader::Reattach {
                        session: session_id,
                    });
                }
                let connected = Connected {
                    conn: conn.conn,
                    session: session_id,
                    timeout_ms,
                    password,
                    zxid_ahead: false,
                };
                self.out[conn.shard].connected.push(connected);
            }
            Err(_) => self.out[conn.shard].connected.push(refused),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        conn: ConnRef,
        session: SessionId,
        xid: Xid,
        op: OpCode,
        body: &Bytes,
        auth: &Arc<[crate::proto::Id]>,
        now_ms: i64,
        wall_ms: i64,
    ) {
        let live = self.sessions.touch(session, now_ms);
        if self.mode == Mode::Following {
            self.forward_write(conn, session, xid, op, body, auth);
            return;
        }
        if op == OpCode::Sync {
            let path = sync_path(body, self.config.jute_maxbuffer);
            let reply = WriteReply {
                conn: conn.conn,
                xid,
                zxid: self.zxid,
                outcome: WriteOutcome::Sync(path),
            };
            self.out[conn.shard].replies.push(reply);
            return;
        }
        let moved = live && self.owners.get(&session) != Some(&Owner::Conn(conn));
        let (result, closed) =
            self.sequence_write(session, xid, op, body, auth, live, moved, wall_ms);
        let reply = WriteReply {
            conn: conn.conn,
            xid,
            zxid: self.zxid,
            outcome: WriteOutcome::Txn(result),
        };
        self.out[conn.shard].replies.push(reply);
        if closed {
            self.out[conn.shard].close.push(conn.conn);
        }
    }

    /// Prepares, sequences and applies one write (here or forwarded by
    /// another member); `moved` if another holder owns the session. Says
    /// whether the write closed its session.
    #[allow(clippy::too_many_arguments)]
    fn sequence_write(
        &mut self,
        session: SessionId,
        xid: Xid,
        op: OpCode,
        body: &Bytes,
        auth: &[crate::proto::Id],
        live: bool,
        moved: bool,
        wall_ms: i64,
    ) -> (OpResult, bool) {
        let zxid = self.zxid.next();
        let txn_op = match decode(op, body, self.config.jute_maxbuffer) {
            Err(_) => TxnOp::error(crate::proto::ErrorCode::MarshallingError),
            Ok(_) if moved => TxnOp::error(crate::proto::ErrorCode::SessionMoved),
            Ok(request) => {
                let ctx = PrepContext {
                    session,
                    session_live: live,
                    auth,
                    skip_acl: self.config.skip_acl,
                    extended_types: self.config.extended_types_enabled,
                    reconfig_enabled: self.config.reconfig_enabled,
                    zxid,
                    time_ms: wall_ms,
                };
                prep(&request, &ctx, &self.tree)
            }
        };
        let closing = matches!(txn_op, TxnOp::CloseSession);
        let result = self.commit_txn(session, xid, txn_op, wall_ms);
        if closing {
            self.sessions.remove(session);
            self.owners.remove(&session);
        }
        (result, closing)
    }

    /// Following: sends a client's write (or sync) to the leader and
    /// remembers who waits for it.
    fn forward_write(
        &mut self,
        conn: ConnRef,
        session: SessionId,
        xid: Xid,
        op: OpCode,
        body: &Bytes,
        auth: &Arc<[crate::proto::Id]>,
    ) {
        let awaiting = match op {
            OpCode::Sync => Awaiting::Sync {
                conn,
                xid,
                path: sync_path(body, self.config.jute_maxbuffer),
            },
            _ => Awaiting::Write { conn, xid },
        };
        self.forwarded
            .entry(session)
            .or_default()
            .push_back(awaiting);
        self.to_leader.push(ToLeader::Write {
            session,
            xid,
            op,
            body: body.clone(),
            auth: auth.clone(),
        });
    }

    /// Makes `owner` the holder of `session`; a different connection here
    /// that held it is closed (ZooKeeper's session moved).
    fn take_ownership(&mut self, session: SessionId, owner: Owner) {
        if let Some(Owner::Conn(previous)) = self.owners.insert(session, owner) {
            if Owner::Conn(previous) != owner {
                self.out[previous.shard].close.push(previous.conn);
            }
        }
    }

    /// Leading: handles what another member sent on behalf of its clients.
    /// Outcomes reach that member as committed txns (and `sync` answers).
    pub fn handle_forwarded(&mut self, from: u64, message: ToLeader, now_ms: i64, wall_ms: i64) {
        debug_assert_eq!(self.mode, Mode::Leading);
        match message {
            ToLeader::Write {
                session,
                xid,
                op: OpCode::Sync,
                ..
            } => {
                self.sessions.touch(session, now_ms);
                let done = FromLeader::SyncDone {
                    session,
                    xid,
                    zxid: self.zxid,
                };
                self.to_members.push((from, done));
                self.dirty = true;
            }
            ToLeader::Write {
                session,
                xid,
                op,
                body,
                auth,
            } => {
                let live = self.sessions.touch(session, now_ms);
                let moved = live && self.owners.get(&session) != Some(&Owner::Member(from));
                self.sequence_write(session, xid, op, &body, &auth, live, moved, wall_ms);
            }
            ToLeader::CreateSession {
                session,
                timeout_ms,
            } => {
                if self.sessions.get(session).is_some() {
                    return;
                }
                self.commit_txn(session, 0, TxnOp::CreateSession { timeout_ms }, wall_ms);
                self.sessions.add(session, timeout_ms, now_ms);
                self.owners.insert(session, Owner::Member(from));
            }
            ToLeader::Reattach { session } => {
                if self.sessions.touch(session, now_ms) {
                    self.take_ownership(session, Owner::Member(from));
                }
            }
            ToLeader::Touch(ids) => {
                for id in ids {
                    self.sessions.touch(id, now_ms);
                }
            }
        }
    }

    /// Applies a txn the ensemble committed that this sequencer did not
    /// sequence itself (a follower's commits, a new leader's inherited
    /// history), answering the client here that waits for it, if any.
    pub fn apply_committed(&mut self, record: TxnRecord, now_ms: i64) {
        let txn = record.txn();
        let session = SessionId(txn.session.0.to_native());
        let cxid = txn.cxid.to_native();
        let zxid = Zxid(txn.zxid.0.to_native());
        let created = match &txn.op {
            crate::txn::ArchivedTxnOp::CreateSession { timeout_ms } => Some(timeout_ms.to_native()),
            _ => None,
        };
        let closed = matches!(txn.op, crate::txn::ArchivedTxnOp::CloseSession);
        self.zxid = zxid;
        self.scratch_events.clear();
        let result = apply(&mut self.tree, &record, &mut self.scratch_events);
        self.events
            .extend(self.scratch_events.drain(..).map(|e| (zxid, e)));
        self.counters.txns += 1;
        self.dirty = true;
        if let Some(timeout_ms) = created {
            self.sessions.add(session, timeout_ms, now_ms);
            self.session_changes.push((session, Some(timeout_ms)));
        }
        let queue = self.forwarded.get_mut(&session);
        let answered = match queue.as_ref().and_then(|q| q.front()) {
            Some(Awaiting::Connect { .. }) => created.is_some(),
            Some(Awaiting::Write { xid, .. }) => created.is_none() && *xid == cxid,
            _ => false,
        };
        if answered {
            let queue = queue.expect("checked");
            let awaiting = queue.pop_front().expect("checked");
            if queue.is_empty() {
                self.forwarded.remove(&session);
            }
            match awaiting {
                Awaiting::Connect { conn, timeout_ms } => {
                    self.owners.insert(session, Owner::Conn(conn));
                    self.out[conn.shard].connected.push(Connected {
                        conn: conn.conn,
                        session,
                        timeout_ms,
                        password: session_password(session),
                        zxid_ahead: false,
                    });
                }
                Awaiting::Write { conn, xid } => {
                    self.out[conn.shard].replies.push(WriteReply {
                        conn: conn.conn,
                        xid,
                        zxid,
                        outcome: WriteOutcome::Txn(result),
                    });
                }
                Awaiting::Sync { .. } => unreachable!("only connects and writes match a txn"),
            }
        }
        if closed {
            self.sessions.remove(session);
            self.session_changes.push((session, None));
            if let Some(Owner::Conn(owner)) = self.owners.remove(&session) {
                self.out[owner.shard].close.push(owner.conn);
            }
        }
    }

    /// Following: the leader ordered a `sync`; answer it (everything before
    /// it has been applied, since the leader's messages arrive in order).
    pub fn sync_done(&mut self, session: SessionId, xid: Xid) {
        let Some(queue) = self.forwarded.get_mut(&session) else {
            return;
        };
        if !matches!(queue.front(), Some(Awaiting::Sync { xid: x, .. }) if *x == xid) {
            return;
        }
        let Some(Awaiting::Sync { conn, xid, path }) = queue.pop_front() else {
            unreachable!("checked");
        };
        if queue.is_empty() {
            self.forwarded.remove(&session);
        }
        self.out[conn.shard].replies.push(WriteReply {
            conn: conn.conn,
            xid,
            zxid: self.zxid,
            outcome: WriteOutcome::Sync(path),
        });
    }

    /// Messages for the leader gathered since the last call.
    pub fn take_to_leader(&mut self) -> Vec<ToLeader> {
        std::mem::take(&mut self.to_leader)
    }

    /// How this member handles writes now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts leading an established epoch: the tree holds every committed
    /// txn, the next zxid assigned is `next_zxid`, and every known session
    /// gets a full timeout from `now_ms` (as ZooKeeper's new leader does).
    /// Clients of this member were closed when it stopped serving.
    pub fn lead(&mut self, next_zxid: Zxid, now_ms: i64) {
        assert!(
            next_zxid.0 > self.tree.last_zxid(),
            "a new epoch numbers after the history"
        );
        self.mode = Mode::Leading;
        self.zxid = Zxid(next_zxid.0 - 1);
        let timeouts = self.sessions.timeouts();
        self.sessions.restore(timeouts, now_ms);
        self.owners
            .retain(|_, owner| matches!(owner, Owner::Conn(_)));
    }

    /// Stops serving (election, sync, or leadership lost): the tree goes back
    /// to the committed `tree` (a leader drops what it sequenced but never
    /// committed) and every client connection here is closed; sessions live
    /// on and their clients reconnect, here or elsewhere.
    pub fn stop_serving(&mut self, tree: DataTree) {
        self.mode = Mode::Following;
        self.zxid = Zxid(tree.last_zxid());
        self.tree = tree;
        self.records.clear();
        self.events.clear();
        self.session_changes.clear();
        self.close_clients();
    }

    /// Replaces tree and sessions wholesale while not serving (a leader's
    /// snapshot, or the log rebuilt after a truncation); each session gets a
    /// full timeout from `now_ms`.
    pub fn install(&mut self, tree: DataTree, sessions: &SessionTimeouts, now_ms: i64) {
        for id in self.sessions.timeouts().into_keys() {
            self.sessions.remove(id);
        }
        self.sessions
            .restore(sessions.iter().map(|(id, t)| (*id, *t)), now_ms);
        self.zxid = Zxid(tree.last_zxid());
        self.tree = tree;
        self.dirty = true;
    }

    /// While not serving: turns a client away as ZooKeeper does when its
    /// server is not running (the connection closes without an answer, and
    /// the client tries another member).
    pub fn refuse_not_serving(&mut self, request: SeqRequest, now_ms: i64, wall_ms: i64) {
        match request {
            SeqRequest::Connect { conn, .. } | SeqRequest::Write { conn, .. } => {
                self.out[conn.shard].close.push(conn.conn);
            }
            other @ (SeqRequest::Report | SeqRequest::Disconnected { .. }) => {
                self.handle(other, now_ms, wall_ms)
            }
            SeqRequest::Touch(_) => {}
        }
    }

    /// Closes every client connection this sequencer knows of and forgets
    /// what they waited for.
    fn close_clients(&mut self) {
        let waiting = self
            .forwarded
            .drain()
            .flat_map(|(_, q)| q.into_iter().map(|a| a.conn()));
        let owning = self.owners.drain().filter_map(|(_, owner)| match owner {
            Owner::Conn(conn) => Some(conn),
            Owner::Member(_) => None,
        });
        let conns: std::collections::BTreeSet<(usize, u64)> =
            waiting.chain(owning).map(|c| (c.shard, c.conn)).collect();
        for (shard, conn) in conns {
            self.out[shard].close.push(conn);
        }
        self.to_leader.clear();
        self.to_members.clear();
        self.dirty = true;
    }

    /// Assigns the next zxid, applies the txn and records its events; its
    /// record goes to the log with the batch's publication.
    fn commit_txn(&mut self, session: SessionId, cxid: Xid, op: TxnOp, wall_ms: i64) -> OpResult {
        self.zxid = self.zxid.next();
        match &op {
            TxnOp::CreateSession { timeout_ms } => {
                self.session_changes.push((session, Some(*timeout_ms)));
            }
            TxnOp::CloseSession => self.session_changes.push((session, None)),
            _ => {}
        }
        let txn = Txn {
            zxid: self.zxid,
            time_ms: wall_ms,
            session,
            cxid,
            op,
        };
        self.scratch_events.clear();
        // The one serialization of this txn: apply reads it in place, and the
        // log and the followers will take the same bytes.
        let record = TxnRecord::encode(&txn);
        let result = apply(&mut self.tree, &record, &mut self.scratch_events);
        let zxid = self.zxid;
        self.events
            .extend(self.scratch_events.drain(..).map(|e| (zxid, e)));
        self.records.push(record);
        self.counters.txns += 1;
        self.dirty = true;
        result
    }

    /// Periodic work: expire sessions, reap empty containers and expired TTL nodes.
    pub fn tick(&mut self, now_ms: i64, wall_ms: i64) {
        if self.mode == Mode::Following {
            // The leader owns expiry and reaping.
            return;
        }
        for id in self.sessions.take_expired(now_ms) {
            tracing::info!(session = %id, "session expired");
            self.commit_txn(id, 0, TxnOp::CloseSession, wall_ms);
            self.sessions.remove(id);
            self.counters.sessions_expired += 1;
            if let Some(Owner::Conn(owner)) = self.owners.remove(&id) {
                self.out[owner.shard].close.push(owner.conn);
            }
        }
        let interval = self.config.container_check_interval_ms as i64;
        if now_ms - self.last_reap_ms >= interval {
            self.last_reap_ms = now_ms;
            self.reap(wall_ms);
        }
    }

    /// `ContainerManager`: deletes empty containers that once had a child and
    /// childless TTL nodes whose TTL passed since their last change, through the
    /// same prep as a client's deleteContainer.
    fn reap(&mut self, wall_ms: i64) {
        let max = self.config.container_max_per_minute as usize;
        let candidates: Vec<String> = self
            .tree
            .containers()
            .chain(self.tree.ttl_nodes())
            .filter(|path| self.is_reapable(path, wall_ms))
            .take(max)
            .map(|p| p.to_string())
            .collect();
        for path in candidates {
            let request = Request::DeleteContainer(PathOnly { path: &path });
            let ctx = PrepContext {
                session: SessionId(0),
                session_live: true,
                auth: &[],
                skip_acl: true,
                extended_types: self.config.extended_types_enabled,
                reconfig_enabled: false,
                zxid: self.zxid.next(),
                time_ms: wall_ms,
            };
            let op = prep(&request, &ctx, &self.tree);
            if !op.is_error() {
                self.commit_txn(SessionId(0), 0, op, wall_ms);
                self.counters.nodes_reaped += 1;
            }
        }
    }

    fn is_reapable(&self, path: &str, wall_ms: i64) -> bool {
        let Some(node) = self.tree.get(path) else {
            return false;
        };
        if node.stat.num_children > 0 {
            return false;
        }
        match node.ephemeral_type {
            EphemeralType::Container => node.persisted_cversion > 0,
            EphemeralType::Ttl(ttl_ms) => wall_ms - node.stat.mtime > ttl_ms,
            _ => false,
        }
    }

    /// The report round to publish now, if a four-letter word asked for one.
    pub fn take_report_round(&mut self) -> Option<u64> {
        if !std::mem::take(&mut self.report_requested) {
            return None;
        }
        self.report_round += 1;
        Some(self.report_round)
    }

    /// Cuts what the handled requests produced into a publication, or None if
    /// nothing happened since the last one.
    pub fn publish(&mut self, report_round: Option<u64>) -> Option<Publication> {
        let any_output = self
            .out
            .iter()
            .any(|o| !o.connected.is_empty() || !o.replies.is_empty() || !o.close.is_empty());
        if !self.dirty && !any_output && report_round.is_none() && self.to_members.is_empty() {
            return None;
        }
        self.dirty = false;
        debug_assert_eq!(self.out.len(), self.shards);
        let outs = self.out.iter_mut().map(std::mem::take).collect();
        Some(Publication {
            last_zxid: self.zxid,
            tree: Arc::new(self.tree.clone()),
            events: std::mem::take(&mut self.events),
            outs,
            report_round,
            session_changes: std::mem::take(&mut self.session_changes),
            records: std::mem::take(&mut self.records),
            to_members: std::mem::take(&mut self.to_members),
        })
    }

    /// Handles one request while the log cannot write (out of disk space):
    /// new sessions are turned away (the connection closes without an answer,
    /// so the client retries), writes and syncs fail with `SYSTEMERROR` without
    /// becoming txns. A refusal leaves at once unless an earlier answer to the
    /// same connection still waits for the log (`unreleased`), behind which it
    /// queues to keep the session's order.
    pub fn handle_refusing(
        &mut self,
        request: SeqRequest,
        now_ms: i64,
        wall_ms: i64,
        published_zxid: Zxid,
        unreleased: impl Fn(ConnRef) -> bool,
    ) {
        match request {
            SeqRequest::Connect {
                conn, session_id, ..
            } if session_id.0 == 0 => {
                self.unlogged[conn.shard].connected.push(Connected {
                    conn: conn.conn,
                    session: SessionId(0),
                    timeout_ms: 0,
                    password: [0; 16],
                    zxid_ahead: true,
                });
            }
            request @ SeqRequest::Connect { .. } => {
                // A reattach writes nothing: answer it now.
                let out = std::mem::take(&mut self.out);
                self.out = std::mem::replace(&mut self.unlogged, out);
                self.handle(request, now_ms, wall_ms);
                let unlogged = std::mem::take(&mut self.out);
                self.out = std::mem::replace(&mut self.unlogged, unlogged);
            }
            SeqRequest::Write {
                conn, session, xid, ..
            } => {
                self.sessions.touch(session, now_ms);
                let reply = WriteReply {
                    conn: conn.conn,
                    xid,
                    zxid: self.zxid,
                    outcome: WriteOutcome::Txn(OpResult::Error(ErrorCode::SystemError)),
                };
                let queued = unreleased(conn)
                    || self.out[conn.shard]
                        .replies
                        .iter()
                        .any(|r| r.conn == conn.conn);
                if queued {
                    self.out[conn.shard].replies.push(reply);
                } else {
                    // Only a durable zxid may reach a client without waiting.
                    self.unlogged[conn.shard].replies.push(WriteReply {
                        zxid: published_zxid,
                        ..reply
                    });
                }
            }
            other => self.handle(other, now_ms, wall_ms),
        }
    }

    /// Output that waits for nothing in the log, one per shard.
    pub fn take_unlogged(&mut self) -> Vec<ShardOut> {
        self.unlogged.iter_mut().map(std::mem::take).collect()
    }
}

/// The path a `sync` echoes back (empty if its body does not decode).
fn sync_path(body: &Bytes, max: usize) -> String {
    match decode(OpCode::Sync, body, max) {
        Ok(Request::Sync(p)) => p.path.to_owned(),
        _ => String::new(),
    }
}

fn decode(
    op: OpCode,
    body: &Bytes,
    max: usize,
) -> Result<Request<'_>, crate::proto::jute::DecodeError> {
    let mut reader = Reader::new(body, max);
    Request::decode(op, &mut reader)
}

#[cfg(test)]
mod tests {
    //! A leader and a follower sequencer wired by hand: the follower's
    //! forwarded requests go to the leader, the leader's records come back
    //! as commits, and the follower answers its own clients.

    use super::*;
    use crate::proto::request::{CreateRequest, SetDataRequest};
    use crate::proto::Acl;
    use bytes::BytesMut;

    const NOW: i64 = 1_000;

    fn sequencer(server_id: u64) -> Sequencer {
        let config = Config {
            server_id,
            ..Config::default()
        };
        let tree = DataTree::new();
        Sequencer::new(Arc::new(config), tree, &SessionTimeouts::new(), 1, NOW, NOW)
    }

    fn follower_starts(follower: &mut Sequencer) {
        follower.stop_serving(DataTree::new());
        let first = follower.publish(None).expect("the new tree is published");
        assert!(first.outs[0].close.is_empty());
    }

    fn conn(n: u64) -> ConnRef {
        ConnRef { shard: 0, conn: n }
    }

    /// Runs what the follower forwarded through the leader and commits the
    /// leader's records (and answers) on the follower; returns the
    /// follower's output.
    fn round(leader: &mut Sequencer, follower: &mut Sequencer) -> Publication {
        for message in follower.take_to_leader() {
            leader.handle_forwarded(2, message, NOW, NOW);
        }
        let published = leader.publish(None).expect("the leader did something");
        for record in &published.records {
            follower.apply_committed(record.clone(), NOW);
        }
        for (member, answer) in published.to_members {
            assert_eq!(member, 2);
            let FromLeader::SyncDone { session, xid, .. } = answer;
            follower.sync_done(session, xid);
        }
        follower.publish(None).expect("the follower answered")
    }

    fn connect(leader: &mut Sequencer, follower: &mut Sequencer, c: ConnRef) -> SessionId {
        follower.handle(
            SeqRequest::Connect {
                conn: c,
                session_id: SessionId(0),
                password: [0; 16],
                timeout_ms: 10_000,
                last_zxid_seen: Zxid::ZERO,
            },
            NOW,
            NOW,
        );
        assert!(
            follower.publish(None).is_none(),
            "no answer before the commit"
        );
        let out = round(leader, follower);
        let connected = out.outs[0].connected[0];
        assert_eq!(connected.conn, c.conn);
        assert_eq!(
            connected.session.0 >> 56,
            2,
            "the follower's id is in the session id"
        );
        assert_eq!(connected.password, session_password(connected.session));
        assert!(leader.sessions().get(connected.session).is_some());
        connected.session
    }

    fn body(encode: impl FnOnce(&mut BytesMut)) -> Bytes {
        let mut out = BytesMut::new();
        encode(&mut out);
        out.freeze()
    }

    fn write(
        follower: &mut Sequencer,
        c: ConnRef,
        session: SessionId,
        xid: Xid,
        op: OpCode,
        b: Bytes,
    ) {
        follower.handle(
            SeqRequest::Write {
                conn: c,
                session,
                xid,
                op,
                body: b,
                auth: Arc::from(Vec::new()),
            },
            NOW,
            NOW,
        );
    }

    #[test]
    fn a_follower_forwards_writes_and_answers_from_commits() {
        let mut leader = sequencer(1);
        let mut follower = sequencer(2);
        follower_starts(&mut follower);
        let c = conn(7);
        let session = connect(&mut leader, &mut follower, c);

        let create = body(|out| {
            CreateRequest {
                path: "/a",
                data: Bytes::from_static(b"v1"),
                acl: Acl::open_unsafe(),
                ..CreateRequest::default()
            }
            .encode(out)
        });
        let set = body(|out| {
            SetDataRequest {
                path: "/a",
                data: Bytes::from_static(b"v2"),
                data_null: false,
                version: 7,
            }
            .encode(out)
        });
        write(&mut follower, c, session, 1, OpCode::Create, create);
        write(&mut follower, c, session, 2, OpCode::SetData, set);
        let sync = body(|out| crate::proto::request::PathOnly { path: "/a" }.encode(out));
        write(&mut follower, c, session, 3, OpCode::Sync, sync);
        let out = round(&mut leader, &mut follower);
        let replies = &out.outs[0].replies;
        assert_eq!(replies.len(), 3);
        assert_eq!(replies[0].xid, 1);
        assert!(matches!(
            replies[0].outcome,
            WriteOutcome::Txn(OpResult::Created { .. })
        ));
        assert_eq!(replies[1].xid, 2);
        assert!(
            matches!(
                replies[1].outcome,
                WriteOutcome::Txn(OpResult::Error(ErrorCode::BadVersion))
            ),
            "the leader's prep decided: {:?}",
            replies[1].outcome
        );
        assert!(matches!(&replies[2].outcome, WriteOutcome::Sync(p) if p == "/a"));
        // Both trees agree, txn for txn.
        assert_eq!(
            follower.tree().get("/a").expect("created").data.as_ref(),
            b"v1"
        );
        assert_eq!(follower.zxid(), leader.zxid());
    }

    #[test]
    fn the_leader_expires_sessions_and_the_follower_closes_their_connections() {
        let mut leader = sequencer(1);
        let mut follower = sequencer(2);
        follower_starts(&mut follower);
        let c = conn(3);
        let session = connect(&mut leader, &mut follower, c);
        follower.tick(NOW + 60_000, NOW + 60_000);
        assert!(
            follower.publish(None).is_none(),
            "a follower never expires sessions"
        );
        leader.tick(NOW + 60_000, NOW + 60_000);
        let published = leader.publish(None).expect("expiry is a txn");
        assert_eq!(published.records.len(), 1);
        follower.apply_committed(published.records[0].clone(), NOW);
        let out = follower.publish(None).expect("closes");
        assert_eq!(out.outs[0].close, vec![c.conn]);
        assert!(follower.sessions().get(session).is_none());
    }

    #[test]
    fn a_session_taken_over_by_the_leaders_own_client_is_moved_for_the_follower() {
        let mut leader = sequencer(1);
        let mut follower = sequencer(2);
        follower_starts(&mut follower);
        let c = conn(3);
        let session = connect(&mut leader, &mut follower, c);
        // The client reattaches directly on the leader...
        leader.handle(
            SeqRequest::Connect {
                conn: conn(99),
                session_id: session,
                password: session_password(session),
                timeout_ms: 10_000,
                last_zxid_seen: Zxid::ZERO,
            },
            NOW,
            NOW,
        );
        let _ = leader.publish(None);
        // ...so a write still arriving through the follower is refused.
        let create = body(|out| {
            CreateRequest {
                path: "/b",
                acl: Acl::open_unsafe(),
                ..CreateRequest::default()
            }
            .encode(out)
        });
        write(&mut follower, c, session, 5, OpCode::Create, create);
        let out = round(&mut leader, &mut follower);
        assert!(matches!(
            out.outs[0].replies[0].outcome,
            WriteOutcome::Txn(OpResult::Error(ErrorCode::SessionMoved))
        ));
    }

    #[test]
    fn losing_the_leader_closes_every_client_and_forgets_their_requests() {
        let mut leader = sequencer(1);
        let mut follower = sequencer(2);
        follower_starts(&mut follower);
        let c = conn(3);
        let session = connect(&mut leader, &mut follower, c);
        let sync = body(|out| crate::proto::request::PathOnly { path: "/" }.encode(out));
        write(&mut follower, c, session, 9, OpCode::Sync, sync);
        follower.stop_serving(follower.tree().clone());
        assert!(follower.take_to_leader().is_empty());
        let out = follower.publish(None).expect("closes");
        assert_eq!(out.outs[0].close, vec![c.conn]);
        assert!(
            follower.sessions().get(session).is_some(),
            "the session lives on"
        );
    }
}
