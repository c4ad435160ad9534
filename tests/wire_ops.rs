//! Opcodes no client library here sends on its own, driven frame by frame:
//! deleteContainer (20), sasl (102), setWatches (101) and setWatches2 (105).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{unique_root, TestServer};
use corekeeper::proto::frame::{begin_frame, end_frame};
use corekeeper::proto::records::{
    ConnectRequest, ConnectResponse, ReplyHeader, SetWatches, WatcherEvent,
};
use corekeeper::proto::request::{CreateRequest, PathOnly, PathWatch};
use corekeeper::proto::{Acl, OpCode, Reader, Request};

struct Raw {
    stream: TcpStream,
    xid: i32,
}

impl Raw {
    fn connect(server: &TestServer) -> Raw {
        let mut stream = TcpStream::connect(&server.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        let mut out = BytesMut::new();
        let start = begin_frame(&mut out);
        request.encode(&mut out);
        end_frame(&mut out, start);
        stream.write_all(&out).unwrap();
        let mut raw = Raw { stream, xid: 0 };
        let frame = raw.frame().expect("ConnectResponse");
        let response = ConnectResponse::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
        assert!(response.timeout_ms > 0);
        raw
    }

    fn frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    fn send(&mut self, request: &Request<'_>) -> i32 {
        self.xid += 1;
        let mut out = BytesMut::new();
        request.encode_frame(self.xid, &mut out);
        self.stream.write_all(&out).unwrap();
        self.xid
    }

    /// Sends a request and returns (header, body) of its reply, collecting any
    /// notifications that arrive first.
    fn call(
        &mut self,
        request: &Request<'_>,
        events: &mut Vec<(i64, i32, String)>,
    ) -> (ReplyHeader, Bytes) {
        let xid = self.send(request);
        loop {
            let frame = self.frame().expect("reply");
            let mut reader = Reader::new(&frame, 1 << 20);
            let header = ReplyHeader::decode(&mut reader).unwrap();
            let body = frame.slice(frame.len() - reader.remaining()..);
            if header.xid == -1 {
                let event = WatcherEvent::decode(&mut Reader::new(&body, 1 << 20)).unwrap();
                events.push((header.zxid, event.event_type, event.path.to_owned()));
                continue;
            }
            assert_eq!(header.xid, xid, "replies in order");
            return (header, body);
        }
    }
}

fn create<'a>(path: &'a str, flags: i32, op: OpCode) -> Request<'a> {
    Request::Create(CreateRequest {
        op,
        path,
        acl: Acl::open_unsafe(),
        flags,
        ..CreateRequest::default()
    })
}

#[test]
fn delete_container_follows_prep_rules() {
    let server = TestServer::start();
    let mut raw = Raw::connect(&server);
    let mut events = Vec::new();
    let root = unique_root("dc");
    let child = format!("{root}/c");
    let eph = format!("{root}-eph");
    assert_eq!(
        raw.call(&create(&root, 4, OpCode::CreateContainer), &mut events)
            .0
            .err,
        0
    );
    assert_eq!(
        raw.call(&create(&child, 0, OpCode::Create), &mut events)
            .0
            .err,
        0
    );
    let delete_container = |path| Request::DeleteContainer(PathOnly { path });
    assert_eq!(
        raw.call(&delete_container(&root), &mut events).0.err,
        -111,
        "NOTEMPTY"
    );
    assert_eq!(
        raw.call(
            &Request::Delete(corekeeper::proto::request::DeleteRequest {
                path: &child,
                version: -1
            }),
            &mut events
        )
        .0
        .err,
        0
    );
    assert_eq!(raw.call(&delete_container(&root), &mut events).0.err, 0);
    assert_eq!(
        raw.call(&delete_container(&root), &mut events).0.err,
        -101,
        "NONODE"
    );
    assert_eq!(
        raw.call(&create(&eph, 1, OpCode::Create), &mut events)
            .0
            .err,
        0
    );
    assert_eq!(
        raw.call(&delete_container(&eph), &mut events).0.err,
        -103,
        "a session's ephemeral: BADVERSION"
    );
    assert_eq!(
        raw.call(&delete_container("/zookeeper"), &mut events).0.err,
        -8,
        "system node"
    );
}

#[test]
fn sasl_is_refused_with_auth_failed_and_a_close() {
    let server = TestServer::start();
    let mut raw = Raw::connect(&server);
    let xid = raw.send(&Request::Sasl(Bytes::from_static(b"token")));
    let frame = raw.frame().expect("a reply before the close");
    let header = ReplyHeader::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
    assert_eq!((header.xid, header.err), (xid, -115));
    assert!(raw.frame().is_none(), "then the connection closes");
}

#[test]
fn set_watches_replays_what_the_client_missed() {
    let server = TestServer::start();
    let mut writer = Raw::connect(&server);
    let mut events = Vec::new();
    let root = unique_root("sw");
    let (changed, kept, gone, missing) = (
        format!("{root}/changed"),
        format!("{root}/kept"),
        format!("{root}/gone"),
        format!("{root}/missing"),
    );
    for path in [&root, &changed, &kept] {
        assert_eq!(
            writer
                .call(&create(path, 0, OpCode::Create), &mut events)
                .0
                .err,
            0
        );
    }
    let (header, _) = writer.call(
        &Request::Exists(PathWatch {
            path: &kept,
            watch: false,
        }),
        &mut events,
    );
    let seen = header.zxid;
    writer.call(
        &Request::SetData(corekeeper::proto::request::SetDataRequest {
            path: &changed,
            data: Bytes::from_static(b"new"),
            data_null: false,
            version: -1,
        }),
        &mut events,
    );

    let mut client = Raw::connect(&server);
    let mut replayed = Vec::new();
    let watches = SetWatches {
        relative_zxid: seen,
        data: vec![&changed, &kept, &gone],
        exist: vec![&missing],
        child: vec![&root],
        persistent: vec![],
        persistent_recursive: vec![],
        version2: false,
    };
    let (header, _) = client.call(&Request::SetWatches(watches), &mut replayed);
    assert_eq!(header.err, 0);
    replayed.sort();
    assert_eq!(
        replayed,
        vec![(-1, 2, gone.clone()), (-1, 3, changed.clone())],
        "missed changes fire at once (zxid -1): data changed, node gone"
    );
    // The kept data watch, the exist watch and the child watch are armed.
    writer.call(&create(&missing, 0, OpCode::Create), &mut events);
    let mut live = Vec::new();
    client.call(
        &Request::Exists(PathWatch {
            path: "/",
            watch: false,
        }),
        &mut live,
    );
    let kinds: Vec<(i32, &str)> = live.iter().map(|(_, t, p)| (*t, p.as_str())).collect();
    assert_eq!(kinds, vec![(1, missing.as_str()), (4, root.as_str())]);
    assert!(
        live.iter().all(|(zxid, _, _)| *zxid > seen),
        "live events carry their txn zxid"
    );
}

#[test]
fn set_watches2_rearms_persistent_and_recursive_watches() {
    let server = TestServer::start();
    let mut writer = Raw::connect(&server);
    let mut events = Vec::new();
    let root = unique_root("sw2");
    let deep = format!("{root}/a");
    let deeper = format!("{root}/a/b");
    writer.call(&create(&root, 0, OpCode::Create), &mut events);
    let mut client = Raw::connect(&server);
    let mut got = Vec::new();
    let watches = SetWatches {
        relative_zxid: 0,
        data: vec![],
        exist: vec![],
        child: vec![],
        persistent: vec![&root],
        persistent_recursive: vec![&root],
        version2: true,
    };
    assert_eq!(
        client.call(&Request::SetWatches(watches), &mut got).0.err,
        0
    );
    assert!(got.is_empty(), "persistent watches never replay");
    writer.call(&create(&deep, 0, OpCode::Create), &mut events);
    writer.call(&create(&deeper, 0, OpCode::Create), &mut events);
    client.call(
        &Request::Exists(PathWatch {
            path: "/",
            watch: false,
        }),
        &mut got,
    );
    let kinds: Vec<(i32, &str)> = got.iter().map(|(_, t, p)| (*t, p.as_str())).collect();
    // /root/a: NodeCreated (recursive) + NodeChildrenChanged on root (persistent);
    // /root/a/b: NodeCreated (recursive) only.
    assert_eq!(
        kinds,
        vec![(1, deep.as_str()), (4, root.as_str()), (1, deeper.as_str())]
    );
}
