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

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

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

/// The sequencer's state. Lives on the sequencer core.
pub struct Sequencer {
    config: Arc<Config>,
    tree: DataTree,
    sessions: SessionTable,
    /// Which connection currently holds each session.
    owners: HashMap<SessionId, ConnRef>,
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
                for id in ids {
                    self.sessions.touch(id, now_ms);
                }
            }
            SeqRequest::Report => self.report_requested = true,
            SeqRequest::Disconnected { conn, session } => {
                if let Some(session) = session {
                    if self.owners.get(&session) == Some(&conn) {
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
        if session_id.0 == 0 {
            let id = self.sessions.allocate_id();
            self.commit_txn(id, 0, TxnOp::CreateSession { timeout_ms }, wall_ms);
            self.sessions.add(id, timeout_ms, now_ms);
            self.owners.insert(id, conn);
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
                if let Some(previous) = self.owners.insert(session_id, conn) {
                    if previous != conn {
                        self.out[previous.shard].close.push(previous.conn);
                    }
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
        auth: &[crate::proto::Id],
        now_ms: i64,
        wall_ms: i64,
    ) {
        let live = self.sessions.touch(session, now_ms);
        if op == OpCode::Sync {
            let path = decode(op, body, self.config.jute_maxbuffer)
                .ok()
                .and_then(|r| {
                    if let Request::Sync(p) = r {
                        Some(p.path.to_owned())
                    } else {
                        None
                    }
                })
                .unwrap_or_default();
            let reply = WriteReply {
                conn: conn.conn,
                xid,
                zxid: self.zxid,
                outcome: WriteOutcome::Sync(path),
            };
            self.out[conn.shard].replies.push(reply);
            return;
        }
        let zxid = self.zxid.next();
        let moved = live && self.owners.get(&session) != Some(&conn);
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
        let reply = WriteReply {
            conn: conn.conn,
            xid,
            zxid: self.zxid,
            outcome: WriteOutcome::Txn(result),
        };
        self.out[conn.shard].replies.push(reply);
        if closing {
            self.out[conn.shard].close.push(conn.conn);
        }
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
        for id in self.sessions.take_expired(now_ms) {
            tracing::info!(session = %id, "session expired");
            self.commit_txn(id, 0, TxnOp::CloseSession, wall_ms);
            self.sessions.remove(id);
            self.counters.sessions_expired += 1;
            if let Some(owner) = self.owners.remove(&id) {
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
        if !self.dirty && !any_output && report_round.is_none() {
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

fn decode(
    op: OpCode,
    body: &Bytes,
    max: usize,
) -> Result<Request<'_>, crate::proto::jute::DecodeError> {
    let mut reader = Reader::new(body, max);
    Request::decode(op, &mut reader)
}
