//! Transactions: what a write becomes once validated, and how it changes the tree.
//!
//! `prep` runs on the sequencer core against the newest tree (which already holds
//! every earlier txn, so it plays the role of ZooKeeper's outstanding-changes
//! list) and turns a request into a [`Txn`]: the exact effect, with every value
//! that depends on the tree resolved (sequential name, new versions, parent
//! cversion, ephemeral owner). `apply` is deterministic: the same txn on the same
//! tree gives the same tree, result and watch events on every replica.
//!
//! Like ZooKeeper, a write that fails validation still becomes a txn (an
//! `Error` txn) and consumes a zxid; a failed multi is a multi of errors laid out
//! as `PrepRequestProcessor` does.
//!
//! A txn is serialized once, with rkyv, into a [`TxnRecord`] on the sequencer;
//! that one buffer is what apply reads (in place, no deserialization), what the
//! log will append and what followers will receive. The tree keeps node data as
//! slices of the record, so the data a client sent is copied exactly once, into
//! the record.
//!
//! Pure: time comes in on the txn.

mod apply;
mod prep;
mod record;
#[cfg(test)]
mod tests;

pub use apply::{apply, OpResult};
pub use prep::{prep, PrepContext};
pub use record::{RecordError, TxnRecord};

use bytes::Bytes;

use crate::proto::{Acl, ErrorCode, OpCode};
use crate::types::{SessionId, Xid, Zxid};

mod types {
    // rkyv's derive generates archived twins of these types whose fields carry
    // no docs; the originals below are documented.
    #![allow(missing_docs)]

    use super::*;

    /// One transaction: a header (`TxnHeader`) and its effect.
    #[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct Txn {
        /// The zxid the sequencer assigned.
        pub zxid: Zxid,
        /// Wall-clock time of the sequencer when it assigned the zxid (ms since the epoch).
        pub time_ms: i64,
        /// The session that issued it (the expiring session for an expiry close).
        pub session: SessionId,
        /// The client xid (`cxid`), 0 for server-internal txns.
        pub cxid: Xid,
        /// What it does.
        pub op: TxnOp,
    }

    /// The effect of a txn (ZooKeeper's txn record types). Codes and opcodes are
    /// ZooKeeper's numbers, as its own txn records carry them.
    #[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    #[rkyv(
        serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source),
        deserialize_bounds(__D::Error: rkyv::rancor::Source),
        bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)),
        attr(allow(missing_docs)),
    )]
    pub enum TxnOp {
        /// `CreateTxn`, `CreateContainerTxn`, `CreateTTLTxn`.
        Create(CreateTxn),
        /// `DeleteTxn` (also for deleteContainer).
        Delete {
            /// The node.
            path: String,
        },
        /// `SetDataTxn`.
        SetData {
            /// The node.
            path: String,
            /// The new data.
            data: Bytes,
            /// The client sent null data (length -1).
            data_null: bool,
            /// The version after the change.
            version: i32,
        },
        /// `SetACLTxn`.
        SetAcl {
            /// The node.
            path: String,
            /// The new ACL, fixed up (auth ids substituted, duplicates removed).
            acl: Vec<Acl>,
            /// The aversion after the change.
            version: i32,
        },
        /// `CheckVersionTxn` (only inside a multi): no effect.
        Check {
            /// The node.
            path: String,
        },
        /// `CreateSessionTxn`.
        CreateSession {
            /// The negotiated timeout.
            timeout_ms: u32,
        },
        /// `CloseSessionTxn`: deletes the session's ephemerals.
        CloseSession,
        /// `ErrorTxn`: a rejected write (an `ErrorCode` value); no effect but its zxid.
        Error(i32),
        /// `MultiTxn`: all sub-ops or (as a list of `Error`s) none.
        Multi(#[rkyv(omit_bounds)] Vec<TxnOp>),
    }

    /// The create family: everything the tree needs, already resolved.
    #[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct CreateTxn {
        /// The request opcode (create, create2, createContainer, createTTL, an
        /// `OpCode` value): it decides the reply shape.
        pub op: i32,
        /// The full path, with the sequential suffix if any.
        pub path: String,
        /// The data.
        pub data: Bytes,
        /// The client sent null data (length -1).
        pub data_null: bool,
        /// The ACL, fixed up.
        pub acl: Vec<Acl>,
        /// Session id, container marker, TTL encoding or 0.
        pub ephemeral_owner: i64,
        /// The parent's cversion after this create.
        pub parent_cversion: i32,
    }
}

pub use types::{ArchivedCreateTxn, ArchivedTxn, ArchivedTxnOp, CreateTxn, Txn, TxnOp};

/// ZooKeeper's failed-multi layout for `len` ops whose op `failed` failed with
/// `code`: OK before it, its code, then `RUNTIMEINCONSISTENCY` (`PrepRequestProcessor`).
fn failed_multi_codes(
    len: usize,
    failed: usize,
    code: ErrorCode,
) -> impl Iterator<Item = ErrorCode> {
    (0..len).map(move |i| match i.cmp(&failed) {
        std::cmp::Ordering::Less => ErrorCode::Ok,
        std::cmp::Ordering::Equal => code,
        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
    })
}

impl TxnOp {
    /// An error txn.
    pub fn error(code: ErrorCode) -> TxnOp {
        TxnOp::Error(code.code())
    }

    /// Whether this is a failed write (an error txn or a multi that failed).
    pub fn is_error(&self) -> bool {
        match self {
            TxnOp::Error(_) => true,
            TxnOp::Multi(ops) => ops
                .iter()
                .any(|op| matches!(op, TxnOp::Error(code) if *code != 0)),
            _ => false,
        }
    }
}

impl CreateTxn {
    /// The request opcode.
    pub fn op_code(&self) -> OpCode {
        OpCode::from_code(self.op).expect("prep stores valid opcodes")
    }
}
