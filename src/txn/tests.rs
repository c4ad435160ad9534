//! Prep and apply against ZooKeeper's rules, through the serialized record.

use bytes::Bytes;

use super::*;
use crate::proto::request::{
    CheckVersionRequest, CreateRequest, DeleteRequest, MultiOp, SetDataRequest,
};
use crate::proto::{Acl, Id, Request};
use crate::tree::{DataTree, TreeEvent};
use crate::types::SessionId;

const SESSION: SessionId = SessionId(0x42);

struct Server {
    tree: DataTree,
    zxid: i64,
}

impl Server {
    fn new() -> Server {
        Server {
            tree: DataTree::with_extended_types(true),
            zxid: 0,
        }
    }

    fn ctx<'a>(&self, auth: &'a [Id]) -> PrepContext<'a> {
        PrepContext {
            session: SESSION,
            session_live: true,
            auth,
            skip_acl: false,
            extended_types: true,
            reconfig_enabled: false,
            zxid: Zxid(self.zxid + 1),
            time_ms: 1000 + self.zxid,
        }
    }

    /// prep + serialize + apply, as the sequencer does.
    fn write(&mut self, request: &Request<'_>) -> (OpResult, Vec<TreeEvent>) {
        let op = prep(request, &self.ctx(&[]), &self.tree);
        self.zxid += 1;
        let txn = Txn {
            zxid: Zxid(self.zxid),
            time_ms: 1000 + self.zxid,
            session: SESSION,
            cxid: 1,
            op,
        };
        let record = TxnRecord::encode(&txn);
        let mut events = Vec::new();
        let result = apply(&mut self.tree, &record, &mut events);
        assert_eq!(self.tree.last_zxid(), self.zxid);
        (result, events)
    }
}

fn create(path: &str, flags: i32) -> Request<'_> {
    Request::Create(CreateRequest {
        op: OpCode::Create2,
        path,
        data: Bytes::from_static(b"data"),
        acl: Acl::open_unsafe(),
        flags,
        ..CreateRequest::default()
    })
}

fn created_path(result: &OpResult) -> String {
    match result {
        OpResult::Created { path, .. } => path.to_string(),
        other => panic!("not a create: {other:?}"),
    }
}

#[test]
fn sequential_names_follow_the_parent_child_count() {
    let mut server = Server::new();
    server.write(&create("/q", 0));
    let first = created_path(&server.write(&create("/q/n-", 2)).0);
    let second = created_path(&server.write(&create("/q/n-", 2)).0);
    assert_eq!(first, "/q/n-0000000000");
    assert_eq!(second, "/q/n-0000000001");
    server.write(&Request::Delete(DeleteRequest {
        path: "/q/n-0000000000",
        version: -1,
    }));
    // ZooKeeper names from the stored create count, which deletes do not lower.
    assert_eq!(
        created_path(&server.write(&create("/q/n-", 2)).0),
        "/q/n-0000000002"
    );
}

#[test]
fn failed_writes_consume_a_zxid_and_change_nothing() {
    let mut server = Server::new();
    server.write(&create("/a", 0));
    let before = server.tree.get("/a").unwrap().stat;
    let (result, events) = server.write(&create("/a", 0));
    assert_eq!(result, OpResult::Error(ErrorCode::NodeExists));
    assert!(events.is_empty());
    assert_eq!(server.zxid, 2);
    assert_eq!(server.tree.get("/a").unwrap().stat, before);
    let (result, _) = server.write(&create("/missing/child", 0));
    assert_eq!(result, OpResult::Error(ErrorCode::NoNode));
    let (result, _) = server.write(&Request::SetData(SetDataRequest {
        path: "/a",
        data: Bytes::new(),
        data_null: false,
        version: 7,
    }));
    assert_eq!(result, OpResult::Error(ErrorCode::BadVersion));
    let (result, _) = server.write(&create("/a/", 0));
    assert_eq!(result, OpResult::Error(ErrorCode::BadArguments));
    let (result, _) = server.write(&Request::Delete(DeleteRequest {
        path: "/zookeeper",
        version: -1,
    }));
    assert_eq!(result, OpResult::Error(ErrorCode::BadArguments));
}

#[test]
fn ephemerals_cannot_have_children_and_die_with_their_session() {
    let mut server = Server::new();
    server.write(&create("/e", 1));
    assert_eq!(
        server.tree.get("/e").unwrap().stat.ephemeral_owner,
        SESSION.0
    );
    assert_eq!(
        server.write(&create("/e/c", 0)).0,
        OpResult::Error(ErrorCode::NoChildrenForEphemerals)
    );
    let (result, events) = server.write(&Request::CloseSession);
    assert_eq!(result, OpResult::SessionClosed);
    assert!(server.tree.get("/e").is_none());
    assert!(events
        .iter()
        .any(|e| matches!(e, TreeEvent::Deleted(p) if &**p == "/e")));
}

#[test]
fn ttl_creates_need_extended_types_and_a_valid_ttl() {
    let mut server = Server::new();
    let ttl = |ttl: i64| {
        Request::Create(CreateRequest {
            op: OpCode::CreateTtl,
            path: "/ttl",
            acl: Acl::open_unsafe(),
            flags: 5,
            ttl,
            ..CreateRequest::default()
        })
    };
    assert_eq!(
        server.write(&ttl(0)).0,
        OpResult::Error(ErrorCode::BadArguments)
    );
    assert!(matches!(
        server.write(&ttl(1000)).0,
        OpResult::Created { .. }
    ));
    let op = prep(
        &ttl(1000),
        &PrepContext {
            extended_types: false,
            ..server.ctx(&[])
        },
        &server.tree,
    );
    assert_eq!(op, TxnOp::error(ErrorCode::Unimplemented));
}

#[test]
fn multi_is_all_or_nothing_with_zookeepers_error_layout() {
    let mut server = Server::new();
    server.write(&create("/m", 0));
    let ok = Request::Multi(vec![
        MultiOp::Create(CreateRequest {
            path: "/m/a",
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        }),
        MultiOp::Check(CheckVersionRequest {
            path: "/m/a",
            version: 0,
        }),
        MultiOp::SetData(SetDataRequest {
            path: "/m/a",
            data: Bytes::from_static(b"x"),
            data_null: false,
            version: 0,
        }),
    ]);
    let (result, events) = server.write(&ok);
    let OpResult::Multi(results) = result else {
        panic!("multi result")
    };
    assert!(matches!(results[0], OpResult::Created { .. }));
    assert_eq!(results[1], OpResult::Checked);
    assert!(matches!(results[2], OpResult::DataSet { stat } if stat.version == 1));
    assert!(!events.is_empty());
    assert_eq!(&server.tree.get("/m/a").unwrap().data[..], b"x");

    let failing = Request::Multi(vec![
        MultiOp::Create(CreateRequest {
            path: "/m/b",
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        }),
        MultiOp::Check(CheckVersionRequest {
            path: "/m/a",
            version: 0,
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/m/a",
            version: -1,
        }),
    ]);
    let (result, events) = server.write(&failing);
    assert_eq!(
        result,
        OpResult::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(events.is_empty());
    assert!(
        server.tree.get("/m/b").is_none(),
        "nothing of a failed multi is applied"
    );
    assert!(server.tree.get("/m/a").is_some());
}

#[test]
fn later_multi_ops_see_earlier_ones() {
    let mut server = Server::new();
    let request = Request::Multi(vec![
        MultiOp::Create(CreateRequest {
            path: "/p",
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        }),
        MultiOp::Create(CreateRequest {
            path: "/p/c",
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/p/c",
            version: 0,
        }),
    ]);
    let (result, _) = server.write(&request);
    let OpResult::Multi(results) = result else {
        panic!("multi result")
    };
    assert_eq!(results.len(), 3);
    assert_eq!(results[2], OpResult::Deleted);
    assert_eq!(server.tree.get("/p").unwrap().stat.num_children, 0);
}

#[test]
fn acl_checks_use_the_callers_ids() {
    let mut server = Server::new();
    let digest = crate::tree::acl::digest("bob:secret");
    let locked = Request::Create(CreateRequest {
        path: "/locked",
        acl: vec![Acl::new(crate::proto::perms::ALL, "digest", digest.clone())],
        ..CreateRequest::default()
    });
    assert!(matches!(server.write(&locked).0, OpResult::Created { .. }));
    let anonymous = prep(&create("/locked/c", 0), &server.ctx(&[]), &server.tree);
    assert_eq!(anonymous, TxnOp::error(ErrorCode::NoAuth));
    let bob = [Id::new("digest", digest)];
    let op = prep(&create("/locked/c", 0), &server.ctx(&bob), &server.tree);
    assert!(matches!(op, TxnOp::Create(_)), "{op:?}");
}

#[test]
fn records_reject_bytes_that_are_not_a_txn() {
    assert!(TxnRecord::from_bytes(Bytes::from_static(&[0xff; 7])).is_err());
    let txn = Txn {
        zxid: Zxid(9),
        time_ms: 5,
        session: SESSION,
        cxid: 3,
        op: TxnOp::Delete { path: "/x".into() },
    };
    let record = TxnRecord::encode(&txn);
    let copy = TxnRecord::from_bytes(record.bytes().clone()).expect("valid record");
    assert_eq!(copy.txn().zxid.0.to_native(), 9);
    assert_eq!(copy.txn().cxid.to_native(), 3);
}

#[test]
fn node_data_is_a_slice_of_the_record() {
    let mut server = Server::new();
    let request = create("/slice", 0);
    let op = prep(&request, &server.ctx(&[]), &server.tree);
    let txn = Txn {
        zxid: Zxid(1),
        time_ms: 1,
        session: SESSION,
        cxid: 1,
        op,
    };
    let record = TxnRecord::encode(&txn);
    apply(&mut server.tree, &record, &mut Vec::new());
    let data = &server.tree.get("/slice").unwrap().data;
    let range = record.bytes().as_ptr_range();
    assert!(
        range.contains(&data.as_ptr()),
        "no copy between record and tree"
    );
}
