//! Request -> txn: ZooKeeper's `PrepRequestProcessor`, check for check, in its order,
//! so that a request with several faults reports the same error ZooKeeper would.

use super::{apply, CreateTxn, OpResult, Txn, TxnOp, TxnRecord};
use crate::proto::request::{
    CheckVersionRequest, CreateRequest, DeleteRequest, MultiOp, SetAclRequest, SetDataRequest,
};
use crate::proto::{perms, Acl, CreateMode, ErrorCode, Id, OpCode, Request};
use crate::tree::acl::{check_acl, fixup_acl};
use crate::tree::ephemeral::{ttl_to_ephemeral_owner, EphemeralType, CONTAINER_EPHEMERAL_OWNER};
use crate::tree::path::{is_special_path, sequential_name, validate_path};
use crate::tree::{DataTree, Node};
use crate::types::{SessionId, Zxid};

/// Who is asking and under which server settings.
#[derive(Clone, Copy, Debug)]
pub struct PrepContext<'a> {
    /// The issuing session.
    pub session: SessionId,
    /// Whether that session is live (else writes fail with `SESSIONEXPIRED`).
    pub session_live: bool,
    /// The connection's authenticated ids (ip, digest, super).
    pub auth: &'a [Id],
    /// `skipACL`.
    pub skip_acl: bool,
    /// `extendedTypesEnabled` (TTL nodes).
    pub extended_types: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// The zxid the txn will get (multi prep applies sub-ops to a scratch tree with it).
    pub zxid: Zxid,
    /// The txn time.
    pub time_ms: i64,
}

type Prepped = Result<TxnOp, ErrorCode>;

/// Validates a write against the newest tree and resolves it into a txn. Never
/// fails: a rejected write is an `Error` txn, as in ZooKeeper.
pub fn prep(request: &Request<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> TxnOp {
    let prepped = match request {
        Request::Multi(ops) => return prep_multi(ops, ctx, tree),
        _ if !ctx.session_live => Err(ErrorCode::SessionExpired),
        Request::Create(create) => prep_create(create, ctx, tree),
        Request::Delete(delete) => prep_delete(delete, ctx, tree),
        Request::SetData(set) => prep_set_data(set, ctx, tree),
        Request::SetAcl(set) => prep_set_acl(set, ctx, tree),
        Request::DeleteContainer(req) => prep_delete_container(req.path, tree),
        Request::Reconfig(_) if !ctx.reconfig_enabled => Err(ErrorCode::ReconfigDisabled),
        Request::Reconfig(_) => Err(ErrorCode::Unimplemented),
        Request::CloseSession => Ok(TxnOp::CloseSession),
        _ => Err(ErrorCode::Unimplemented),
    };
    prepped.unwrap_or_else(TxnOp::error)
}

fn prep_multi(ops: &[MultiOp<'_>], ctx: &PrepContext<'_>, tree: &DataTree) -> TxnOp {
    // Later sub-ops must see earlier ones: prep each against a scratch version
    // (an O(1) clone) with the earlier sub-ops applied.
    let mut scratch = tree.clone();
    let mut txns = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let prepped = if ctx.session_live {
            prep_multi_op(op, ctx, &scratch)
        } else {
            Err(ErrorCode::SessionExpired)
        };
        match prepped {
            Ok(op) => {
                let txn = Txn {
                    zxid: ctx.zxid,
                    time_ms: ctx.time_ms,
                    session: ctx.session,
                    cxid: 0,
                    op,
                };
                let record = TxnRecord::encode(&txn);
                let result = apply(&mut scratch, &record, &mut Vec::new());
                assert!(
                    !matches!(result, OpResult::Error(_)),
                    "prep accepted what apply rejects: {txn:?}"
                );
                txns.push(txn.op);
            }
            Err(code) => return failed_multi(ops.len(), index, code),
        }
    }
    TxnOp::Multi(txns)
}

/// A multi that failed at op `failed`, as error txns.
fn failed_multi(len: usize, failed: usize, code: ErrorCode) -> TxnOp {
    TxnOp::Multi(
        super::failed_multi_codes(len, failed, code)
            .map(TxnOp::error)
            .collect(),
    )
}

fn prep_multi_op(op: &MultiOp<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> Prepped {
    match op {
        MultiOp::Create(create) => prep_create(create, ctx, tree),
        MultiOp::Delete(delete) => prep_delete(delete, ctx, tree),
        MultiOp::SetData(set) => prep_set_data(set, ctx, tree),
        MultiOp::Check(check) => prep_check(check, ctx, tree),
    }
}

fn check_perm(node_acl: &[Acl], perm: i32, ctx: &PrepContext<'_>) -> Result<(), ErrorCode> {
    if ctx.skip_acl || check_acl(node_acl, perm, ctx.auth) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// `getRecordForPath`: ZooKeeper keys the root as "" when it is a parent.
fn record<'t>(tree: &'t DataTree, path: &str) -> Result<&'t Node, ErrorCode> {
    let path = if path.is_empty() { "/" } else { path };
    tree.get(path).ok_or(ErrorCode::NoNode)
}

/// `checkAndIncVersion`: -1 matches anything.
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn validate(path: &str, sequential: bool) -> Result<(), ErrorCode> {
    validate_path(path, sequential).map_err(|_| ErrorCode::BadArguments)
}

/// `getParentPathAndValidate`.
fn parent_of_deletable(path: &str) -> Result<&str, ErrorCode> {
    match path.rfind('/') {
        Some(slash) if !path.contains('\0') && !is_special_path(path) => Ok(&path[..slash]),
        _ => Err(ErrorCode::BadArguments),
    }
}

fn prep_create(req: &CreateRequest<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> Prepped {
    let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
    // validateCreateRequest
    if mode.is_ttl() && !(ctx.extended_types && tree.extended_types_enabled()) {
        return Err(ErrorCode::Unimplemented);
    }
    let ttl = if req.op == OpCode::CreateTtl {
        req.ttl
    } else {
        -1
    };
    let ttl_owner = if mode.is_ttl() {
        Some(ttl_to_ephemeral_owner(ttl).map_err(|_| ErrorCode::BadArguments)?)
    } else if ttl >= 0 {
        return Err(ErrorCode::BadArguments);
    } else {
        None
    };
    if req.op == OpCode::CreateContainer && !mode.is_container()
        || req.op != OpCode::CreateContainer && mode.is_container()
    {
        // ZooKeeper's client always pairs opcode 19 with flags 4; anything else is malformed.
        return Err(ErrorCode::BadArguments);
    }
    // validatePathForCreate
    let slash = req.path.rfind('/').ok_or(ErrorCode::BadArguments)?;
    if req.path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let parent_path = &req.path[..slash];
    let acl = fixup_acl(&req.acl, ctx.auth)?;
    let parent = record(tree, parent_path)?;
    check_perm(&parent.acl, perms::CREATE, ctx)?;
    // Sequential names and the txn's parentCVersion use the stored child-create
    // count, not the cversion clients see (DataNode.copyStat derives that one).
    let parent_cversion = parent.persisted_cversion;
    let path = if mode.is_sequential() {
        sequential_name(req.path, parent_cversion)
    } else {
        req.path.to_owned()
    };
    validate(&path, false)?;
    if tree.get(&path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(parent.ephemeral_type, EphemeralType::Normal(_)) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let ephemeral_owner = if mode.is_container() {
        CONTAINER_EPHEMERAL_OWNER
    } else if let Some(owner) = ttl_owner {
        owner
    } else if mode.is_ephemeral() {
        ctx.session.0
    } else {
        0
    };
    Ok(TxnOp::Create(CreateTxn {
        op: req.op.code(),
        path,
        data: req.data.clone(),
        data_null: req.data_null,
        acl,
        ephemeral_owner,
        parent_cversion: parent_cversion.wrapping_add(1),
    }))
}

fn prep_delete(req: &DeleteRequest<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> Prepped {
    let parent_path = parent_of_deletable(req.path)?;
    let parent = record(tree, parent_path)?;
    check_perm(&parent.acl, perms::DELETE, ctx)?;
    let node = record(tree, req.path)?;
    check_and_inc_version(node.stat.version, req.version)?;
    if node.stat.num_children > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(TxnOp::Delete {
        path: req.path.to_owned(),
    })
}

fn prep_delete_container(path: &str, tree: &DataTree) -> Prepped {
    parent_of_deletable(path)?;
    let node = record(tree, path)?;
    if node.stat.num_children > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    if matches!(node.ephemeral_type, EphemeralType::Normal(_)) {
        return Err(ErrorCode::BadVersion);
    }
    Ok(TxnOp::Delete {
        path: path.to_owned(),
    })
}

fn prep_set_data(req: &SetDataRequest<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> Prepped {
    validate(req.path, false)?;
    let node = record(tree, req.path)?;
    check_perm(&node.acl, perms::WRITE, ctx)?;
    let version = check_and_inc_version(node.stat.version, req.version)?;
    Ok(TxnOp::SetData {
        path: req.path.to_owned(),
        data: req.data.clone(),
        data_null: req.data_null,
        version,
    })
}

fn prep_set_acl(req: &SetAclRequest<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> Prepped {
    validate(req.path, false)?;
    let acl = fixup_acl(&req.acl, ctx.auth)?;
    let node = record(tree, req.path)?;
    check_perm(&node.acl, perms::ADMIN, ctx)?;
    let version = check_and_inc_version(node.stat.aversion, req.version)?;
    Ok(TxnOp::SetAcl {
        path: req.path.to_owned(),
        acl,
        version,
    })
}

fn prep_check(req: &CheckVersionRequest<'_>, ctx: &PrepContext<'_>, tree: &DataTree) -> Prepped {
    validate(req.path, false)?;
    let node = record(tree, req.path)?;
    check_perm(&node.acl, perms::READ, ctx)?;
    check_and_inc_version(node.stat.version, req.version)?;
    Ok(TxnOp::Check {
        path: req.path.to_owned(),
    })
}
