//! Snapshots of random trees, built the way the server builds them (prep, one
//! rkyv record per txn, apply): a snapshot decodes to the same tree (every
//! node's data, Stat, ACL, kind, persisted cversion) and the same sessions; and a
//! snapshot taken midway plus a replay of the log after it gives the final tree.

use bytes::Bytes;
use corekeeper::log::{decode_snapshot, encode_snapshot, replay, SessionTimeouts};
use corekeeper::proto::request::{CreateRequest, DeleteRequest, SetAclRequest, SetDataRequest};
use corekeeper::proto::{perms, Acl, Id, OpCode, Request};
use corekeeper::tree::{digest, DataTree};
use corekeeper::txn::{apply, prep, PrepContext, Txn, TxnOp, TxnRecord};
use corekeeper::types::{SessionId, Zxid};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Create {
        parent: usize,
        name: u8,
        data: Vec<u8>,
        data_null: bool,
        mode: usize,
        acl: usize,
        session: usize,
    },
    Delete {
        node: usize,
    },
    SetData {
        node: usize,
        data: Vec<u8>,
        data_null: bool,
    },
    SetAcl {
        node: usize,
        acl: usize,
    },
    OpenSession {
        timeout_ms: u32,
    },
    CloseSession {
        session: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let data = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        10 => (any::<usize>(), 0u8..12, data.clone(), any::<bool>(), 0usize..7, 0usize..8, any::<usize>())
            .prop_map(|(parent, name, data, data_null, mode, acl, session)| Op::Create {
                parent, name, data, data_null, mode, acl, session
            }),
        1 => any::<usize>().prop_map(|node| Op::Delete { node }),
        2 => (any::<usize>(), data, any::<bool>())
            .prop_map(|(node, data, data_null)| Op::SetData { node, data, data_null }),
        1 => (any::<usize>(), 0usize..8).prop_map(|(node, acl)| Op::SetAcl { node, acl }),
        1 => (2_000u32..40_000).prop_map(|timeout_ms| Op::OpenSession { timeout_ms }),
        1 => any::<usize>().prop_map(|session| Op::CloseSession { session }),
    ]
}

/// CreateMode flags and the opcode each needs.
const MODES: [(i32, OpCode); 7] = [
    (0, OpCode::Create2),
    (1, OpCode::Create2),
    (2, OpCode::Create2),
    (3, OpCode::Create2),
    (4, OpCode::CreateContainer),
    (5, OpCode::CreateTtl),
    (6, OpCode::CreateTtl),
];

/// Mostly open (so children can be made), sometimes read-only, creator-only
/// (`auth`, expanded by prep) or a digest + ip list.
fn acl(choice: usize) -> Vec<Acl> {
    match choice {
        0..=4 => Acl::open_unsafe(),
        5 => vec![Acl::new(perms::READ, "world", "anyone")],
        6 => vec![Acl::new(perms::ALL, "auth", "")],
        _ => vec![
            Acl::new(perms::ALL, "digest", digest("u:p")),
            Acl::new(perms::READ, "ip", "10.0.0.0/8"),
        ],
    }
}

/// The sequencer, reduced: prep, serialize once, apply, keep the log.
struct Server {
    tree: DataTree,
    sessions: SessionTimeouts,
    zxid: i64,
    next_session: i64,
    log: Vec<TxnRecord>,
}

impl Server {
    fn new() -> Server {
        Server {
            tree: DataTree::with_extended_types(true),
            sessions: SessionTimeouts::new(),
            zxid: 0,
            next_session: 0x0100_0000_0000_0001,
            log: Vec::new(),
        }
    }

    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.tree.iter().map(|(p, _)| p.to_string()).collect();
        paths.sort();
        paths
    }

    fn session(&self, pick: usize) -> SessionId {
        let live: Vec<SessionId> = self.sessions.keys().copied().collect();
        match live.len() {
            0 => SessionId(0x42),
            n => live[pick % n],
        }
    }

    fn commit(&mut self, session: SessionId, op: TxnOp) {
        self.zxid += 1;
        let record = TxnRecord::encode(&Txn {
            zxid: Zxid(self.zxid),
            time_ms: 1_700_000_000_000 + self.zxid * 3,
            session,
            cxid: self.zxid as i32,
            op,
        });
        // Sessions change as replay changes them, from the txn itself.
        match &record.txn().op {
            corekeeper::txn::ArchivedTxnOp::CreateSession { timeout_ms } => {
                self.sessions.insert(session, timeout_ms.to_native());
            }
            corekeeper::txn::ArchivedTxnOp::CloseSession => {
                self.sessions.remove(&session);
            }
            _ => {}
        }
        apply(&mut self.tree, &record, &mut Vec::new());
        self.log.push(record);
    }

    fn write(&mut self, session: SessionId, request: &Request<'_>) {
        let auth = [Id::new("digest", digest("u:p"))];
        let ctx = PrepContext {
            session,
            session_live: self.sessions.contains_key(&session),
            auth: &auth,
            skip_acl: false,
            extended_types: true,
            reconfig_enabled: false,
            zxid: Zxid(self.zxid + 1),
            time_ms: 1_700_000_000_000 + (self.zxid + 1) * 3,
        };
        let op = prep(request, &ctx, &self.tree);
        self.commit(session, op);
    }

    fn run(&mut self, op: &Op) {
        let paths = self.paths();
        let pick = |i: usize| paths[i % paths.len()].clone();
        match op {
            Op::Create {
                parent,
                name,
                data,
                data_null,
                mode,
                acl: choice,
                session,
            } => {
                let parent = pick(*parent);
                let path = match parent.as_str() {
                    "/" => format!("/n{name}"),
                    parent => format!("{parent}/n{name}"),
                };
                let (flags, op) = MODES[*mode];
                let session = self.session(*session);
                let request = Request::Create(CreateRequest {
                    op,
                    path: &path,
                    data: if *data_null {
                        Bytes::new()
                    } else {
                        Bytes::from(data.clone())
                    },
                    data_null: *data_null,
                    acl: acl(*choice),
                    flags,
                    ttl: if op == OpCode::CreateTtl { 60_000 } else { 0 },
                });
                self.write(session, &request);
            }
            Op::Delete { node } => {
                let path = pick(*node);
                let session = self.session(0);
                self.write(
                    session,
                    &Request::Delete(DeleteRequest {
                        path: &path,
                        version: -1,
                    }),
                );
            }
            Op::SetData {
                node,
                data,
                data_null,
            } => {
                let path = pick(*node);
                let session = self.session(0);
                let request = Request::SetData(SetDataRequest {
                    path: &path,
                    data: if *data_null {
                        Bytes::new()
                    } else {
                        Bytes::from(data.clone())
                    },
                    data_null: *data_null,
                    version: -1,
                });
                self.write(session, &request);
            }
            Op::SetAcl { node, acl: choice } => {
                let path = pick(*node);
                let session = self.session(0);
                let request = Request::SetAcl(SetAclRequest {
                    path: &path,
                    acl: acl(*choice),
                    version: -1,
                });
                self.write(session, &request);
            }
            Op::OpenSession { timeout_ms } => {
                let id = SessionId(self.next_session);
                self.next_session += 1;
                self.commit(
                    id,
                    TxnOp::CreateSession {
                        timeout_ms: *timeout_ms,
                    },
                );
            }
            Op::CloseSession { session } => {
                if !self.sessions.is_empty() {
                    let session = self.session(*session);
                    self.write(session, &Request::CloseSession);
                }
            }
        }
    }
}

fn snapshot_bytes(tree: &DataTree, sessions: &SessionTimeouts) -> Vec<u8> {
    encode_snapshot(tree, sessions, Zxid(tree.last_zxid()))
        .flatten()
        .collect()
}

fn assert_same(a: &DataTree, b: &DataTree) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.nodes_len(), b.nodes_len());
    for (path, node) in a.iter() {
        let other = b.get(path);
        prop_assert!(other.is_some(), "{} missing", path);
        let other = other.unwrap();
        prop_assert_eq!(&node.data, &other.data, "{} data", path);
        prop_assert_eq!(node.data_null, other.data_null, "{} null", path);
        prop_assert_eq!(node.stat, other.stat, "{} stat", path);
        prop_assert_eq!(&node.acl, &other.acl, "{} acl", path);
        prop_assert_eq!(&node.children, &other.children, "{} children", path);
        prop_assert_eq!(
            node.persisted_cversion,
            other.persisted_cversion,
            "{} cversion",
            path
        );
        prop_assert_eq!(node.ephemeral_type, other.ephemeral_type, "{} kind", path);
    }
    prop_assert_eq!(a.last_zxid(), b.last_zxid());
    prop_assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    prop_assert_eq!(a.acl_list_count(), b.acl_list_count());
    prop_assert_eq!(a.ephemerals_count(), b.ephemerals_count());
    prop_assert!(a.containers().eq(b.containers()));
    prop_assert!(a.ttl_nodes().eq(b.ttl_nodes()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn snapshots_round_trip_and_replay_from_them_reaches_the_same_tree(
        ops in proptest::collection::vec(op(), 1..300),
        midpoint in any::<prop::sample::Index>(),
    ) {
        let mut server = Server::new();
        let middle = midpoint.index(ops.len());
        let mut held = None;
        for (index, op) in ops.iter().enumerate() {
            if index == middle {
                held = Some((server.tree.clone(), server.sessions.clone(), server.log.len()));
            }
            server.run(op);
        }

        // The final tree round trips.
        let bytes = snapshot_bytes(&server.tree, &server.sessions);
        let snapshot = decode_snapshot(&bytes, true).unwrap();
        prop_assert_eq!(snapshot.zxid, Zxid(server.zxid));
        prop_assert_eq!(&snapshot.sessions, &server.sessions);
        assert_same(&server.tree, &snapshot.tree)?;

        // A version held midway (while the server moved on) plus the log after it.
        let (tree, sessions, logged) = held.unwrap();
        let bytes = snapshot_bytes(&tree, &sessions);
        let mut snapshot = decode_snapshot(&bytes, true).unwrap();
        let replayed = replay(&mut snapshot.tree, &mut snapshot.sessions, &server.log[logged..]);
        prop_assert_eq!(replayed as usize, server.log.len() - logged);
        prop_assert_eq!(&snapshot.sessions, &server.sessions);
        assert_same(&server.tree, &snapshot.tree)?;
    }
}
