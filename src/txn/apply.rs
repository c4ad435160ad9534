//! Txn -> new tree + result + watch events: ZooKeeper's `DataTree.processTxn`.

use std::sync::Arc;

use super::{Txn, TxnOp};
use crate::proto::{ErrorCode, OpCode, Stat};
use crate::tree::{DataTree, TreeEvent};
use crate::types::{SessionId, Zxid};

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

/// Applies a txn to the tree, appending the watch events it causes. A multi is
/// applied all or nothing.
pub fn apply(tree: &mut DataTree, txn: &Txn, events: &mut Vec<TreeEvent>) -> OpResult {
    let result = apply_op(tree, &txn.op, txn.session, txn.zxid, txn.time_ms, events);
    tree.set_last_zxid(txn.zxid.0);
    result
}

pub(super) fn apply_op(
    tree: &mut DataTree,
    op: &TxnOp,
    session: SessionId,
    zxid: Zxid,
    time_ms: i64,
    events: &mut Vec<TreeEvent>,
) -> OpResult {
    let zxid = zxid.0;
    match op {
        TxnOp::Create(create) => {
            let acl = tree.intern_acl(&create.acl);
            match tree.create_node(
                &create.path,
                create.data.clone(),
                acl,
                create.ephemeral_owner,
                create.parent_cversion,
                zxid,
                time_ms,
                events,
            ) {
                Ok(stat) => OpResult::Created {
                    op: create.op,
                    path: Arc::from(create.path.as_str()),
                    stat,
                },
                Err(code) => OpResult::Error(code),
            }
        }
        TxnOp::Delete { path } => match tree.delete_node(path, zxid, events) {
            Ok(()) => OpResult::Deleted,
            Err(code) => OpResult::Error(code),
        },
        TxnOp::SetData {
            path,
            data,
            version,
        } => match tree.set_data(path, data.clone(), *version, zxid, time_ms, events) {
            Ok(stat) => OpResult::DataSet { stat },
            Err(code) => OpResult::Error(code),
        },
        TxnOp::SetAcl { path, acl, version } => {
            let acl = tree.intern_acl(acl);
            match tree.set_acl(path, acl, *version) {
                Ok(stat) => OpResult::AclSet { stat },
                Err(code) => OpResult::Error(code),
            }
        }
        TxnOp::Check { .. } => OpResult::Checked,
        TxnOp::CreateSession { .. } => OpResult::SessionCreated,
        TxnOp::CloseSession => {
            tree.kill_session::<&str>(session.0, &[], zxid, events);
            OpResult::SessionClosed
        }
        TxnOp::Error(code) => OpResult::Error(*code),
        TxnOp::Multi(ops) => apply_multi(tree, ops, session, zxid, time_ms, events),
    }
}

fn apply_multi(
    tree: &mut DataTree,
    ops: &[TxnOp],
    session: SessionId,
    zxid: i64,
    time_ms: i64,
    events: &mut Vec<TreeEvent>,
) -> OpResult {
    // A failed multi arrives as errors only; a good one applies to a scratch
    // version that replaces the tree only if every sub-op succeeds.
    let mut scratch = tree.clone();
    let mut scratch_events = Vec::new();
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = apply_op(
            &mut scratch,
            op,
            session,
            Zxid(zxid),
            time_ms,
            &mut scratch_events,
        );
        results.push(result);
    }
    let failed = results
        .iter()
        .position(|r| matches!(r, OpResult::Error(code) if *code != ErrorCode::Ok));
    match failed {
        None if results.iter().all(|r| !matches!(r, OpResult::Error(_))) => {
            *tree = scratch;
            events.append(&mut scratch_events);
            OpResult::Multi(results)
        }
        None => OpResult::Multi(results), // all Error(Ok): an empty failure cannot happen, keep as is
        Some(index) => {
            let code = match results[index] {
                OpResult::Error(code) => code,
                _ => unreachable!(),
            };
            OpResult::Multi(
                (0..ops.len())
                    .map(|i| {
                        OpResult::Error(match i.cmp(&index) {
                            std::cmp::Ordering::Less => ErrorCode::Ok,
                            std::cmp::Ordering::Equal => code,
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                        })
                    })
                    .collect(),
            )
        }
    }
}
