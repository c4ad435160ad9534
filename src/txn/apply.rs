//! Txn -> new tree + result + watch events: ZooKeeper's `DataTree.processTxn`.

use std::sync::Arc;

use rkyv::vec::ArchivedVec;

use super::{ArchivedTxnOp, TxnRecord};
use crate::proto::records::ArchivedAcl;
use crate::proto::{Acl, ErrorCode, Id, OpCode, Stat};
use crate::tree::{DataTree, TreeEvent};

/// What applying one txn (or one multi sub-op) produced: the reply's content.
#[derive(Clone, Debug, PartialEq)]
pub enum OpResult {
    /// A node was created (`op` says whether the reply carries the Stat).
    Created {
        /// The request opcode of the create.
        op: OpCode,
        /// The created path (with its sequential suffix).
        path: Arc<str>,
        /// Its Stat.
        stat: Stat,
    },
    /// A node was deleted.
    Deleted,
    /// Data was set.
    DataSet {
        /// The node's new Stat.
        stat: Stat,
    },
    /// An ACL was set.
    AclSet {
        /// The node's new Stat.
        stat: Stat,
    },
    /// A version check passed.
    Checked,
    /// A session was created.
    SessionCreated,
    /// A session was closed and its ephemerals deleted.
    SessionClosed,
    /// The write was rejected with this code (or, inside a failed multi, `Ok` for
    /// the ops before the failing one).
    Error(ErrorCode),
    /// Per-op results of a multi.
    Multi(Vec<OpResult>),
}

/// Applies a txn record to the tree, appending the watch events it causes. The
/// txn is read in place; node data becomes slices of the record. A multi is
/// applied all or nothing.
pub fn apply(tree: &mut DataTree, record: &TxnRecord, events: &mut Vec<TreeEvent>) -> OpResult {
    let txn = record.txn();
    let at = At {
        record,
        session: txn.session.0.to_native(),
        zxid: txn.zxid.0.to_native(),
        time_ms: txn.time_ms.to_native(),
    };
    let result = at.apply_op(tree, &txn.op, events);
    tree.set_last_zxid(at.zxid);
    result
}

/// The header fields every sub-op of one txn shares.
struct At<'r> {
    record: &'r TxnRecord,
    session: i64,
    zxid: i64,
    time_ms: i64,
}

impl At<'_> {
    fn apply_op(
        &self,
        tree: &mut DataTree,
        op: &ArchivedTxnOp,
        events: &mut Vec<TreeEvent>,
    ) -> OpResult {
        let (zxid, time_ms) = (self.zxid, self.time_ms);
        match op {
            ArchivedTxnOp::Create(create) => {
                let acl = tree.intern_acl(&native_acl(&create.acl));
                let data = self.record.slice_ref(create.data.as_slice());
                let path = create.path.as_str();
                let owner = create.ephemeral_owner.to_native();
                match tree.create_node(
                    path,
                    data,
                    acl,
                    owner,
                    create.parent_cversion.to_native(),
                    zxid,
                    time_ms,
                    events,
                ) {
                    Ok(stat) => {
                        if create.data_null {
                            tree.mark_data_null(path).expect("just created");
                        }
                        let op = OpCode::from_code(create.op.to_native())
                            .expect("prep stores valid opcodes");
                        OpResult::Created {
                            op,
                            path: Arc::from(path),
                            stat,
                        }
                    }
                    Err(code) => OpResult::Error(code),
                }
            }
            ArchivedTxnOp::Delete { path } => match tree.delete_node(path.as_str(), zxid, events) {
                Ok(()) => OpResult::Deleted,
                Err(code) => OpResult::Error(code),
            },
            ArchivedTxnOp::SetData {
                path,
                data,
                data_null,
                version,
            } => {
                let data = self.record.slice_ref(data.as_slice());
                match tree.set_data(
                    path.as_str(),
                    data,
                    version.to_native(),
                    zxid,
                    time_ms,
                    events,
                ) {
                    Ok(stat) => {
                        if *data_null {
                            tree.mark_data_null(path.as_str()).expect("just set");
                        }
                        OpResult::DataSet { stat }
                    }
                    Err(code) => OpResult::Error(code),
                }
            }
            ArchivedTxnOp::SetAcl { path, acl, version } => {
                let acl = tree.intern_acl(&native_acl(acl));
                match tree.set_acl(path.as_str(), acl, version.to_native()) {
                    Ok(stat) => OpResult::AclSet { stat },
                    Err(code) => OpResult::Error(code),
                }
            }
            ArchivedTxnOp::Check { .. } => OpResult::Checked,
            ArchivedTxnOp::CreateSession { .. } => OpResult::SessionCreated,
            ArchivedTxnOp::CloseSession => {
                tree.kill_session::<&str>(self.session, &[], zxid, events);
                OpResult::SessionClosed
            }
            ArchivedTxnOp::Error(code) => OpResult::Error(error_code(code.to_native())),
            ArchivedTxnOp::Multi(ops) => self.apply_multi(tree, ops.as_slice(), events),
        }
    }

    fn apply_multi(
        &self,
        tree: &mut DataTree,
        ops: &[ArchivedTxnOp],
        events: &mut Vec<TreeEvent>,
    ) -> OpResult {
        // A failed multi arrives as errors only; a good one applies to a scratch
        // version that replaces the tree only if every sub-op succeeds.
        let mut scratch = tree.clone();
        let mut scratch_events = Vec::new();
        let results: Vec<OpResult> = ops
            .iter()
            .map(|op| self.apply_op(&mut scratch, op, &mut scratch_events))
            .collect();
        let failure = results
            .iter()
            .enumerate()
            .find_map(|(index, result)| match result {
                OpResult::Error(code) if *code != ErrorCode::Ok => Some((index, *code)),
                _ => None,
            });
        match failure {
            None => {
                *tree = scratch;
                events.append(&mut scratch_events);
                OpResult::Multi(results)
            }
            Some((failed, code)) => OpResult::Multi(
                super::failed_multi_codes(ops.len(), failed, code)
                    .map(OpResult::Error)
                    .collect(),
            ),
        }
    }
}

fn native_acl(acl: &ArchivedVec<ArchivedAcl>) -> Vec<Acl> {
    acl.iter()
        .map(|entry| Acl {
            perms: entry.perms.to_native(),
            id: Id {
                scheme: entry.id.scheme.as_str().to_owned(),
                id: entry.id.id.as_str().to_owned(),
            },
        })
        .collect()
}

fn error_code(code: i32) -> ErrorCode {
    ErrorCode::from_code(code).expect("error txns carry ZooKeeper codes")
}
