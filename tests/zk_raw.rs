//! Wire-level checks the `zookeeper-client` crate cannot express (it validates
//! paths and versions client-side, hides multi sub-results and never sends some
//! requests): a minimal jute client over a raw TCP socket.
//!
//! Against an external server (`COREKEEPER_TEST_TARGET`) all tests of a file share it
//! and run in parallel: give ZooKeeper `maxClientCnxns=0` (its default of 60 per IP
//! is too few).

mod common;

use std::time::Duration;

use common::{unique_root, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);
const TEST_LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test finished in time")
}

// Opcodes and error codes (ZooDefs.OpCode, KeeperException.Code).
const OP_CREATE: i32 = 1;
const OP_DELETE: i32 = 2;
const OP_EXISTS: i32 = 3;
const OP_GET_DATA: i32 = 4;
const OP_SET_DATA: i32 = 5;
const OP_GET_CHILDREN: i32 = 8;
const OP_CHECK: i32 = 13;
const OP_MULTI: i32 = 14;
const OP_CHECK_WATCHES: i32 = 17;
const OP_REMOVE_WATCHES: i32 = 18;
const OP_AUTH: i32 = 100;
const OP_ADD_WATCH: i32 = 106;

const OK: i32 = 0;
const RUNTIME_INCONSISTENCY: i32 = -2;
const UNIMPLEMENTED: i32 = -6;
const BAD_ARGUMENTS: i32 = -8;
const NO_NODE: i32 = -101;
const AUTH_FAILED: i32 = -115;
const NO_WATCHER: i32 = -121;

#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bool(mut self, v: bool) -> Self {
        self.0.push(v as u8);
        self
    }
    fn buf(self, v: Option<&[u8]>) -> Self {
        match v {
            None => self.i32(-1),
            Some(b) => {
                let mut s = self.i32(b.len() as i32);
                s.0.extend_from_slice(b);
                s
            }
        }
    }
    fn str(self, v: &str) -> Self {
        self.buf(Some(v.as_bytes()))
    }
    /// `[ALL world:anyone]`
    fn open_acl(self) -> Self {
        self.i32(1).i32(31).str("world").str("anyone")
    }
    fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

struct Dec<'a>(&'a [u8]);

impl Dec<'_> {
    fn i32(&mut self) -> i32 {
        let (head, rest) = self.0.split_at(4);
        self.0 = rest;
        i32::from_be_bytes(head.try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        let (head, rest) = self.0.split_at(8);
        self.0 = rest;
        i64::from_be_bytes(head.try_into().unwrap())
    }
    fn bool(&mut self) -> bool {
        let (head, rest) = self.0.split_at(1);
        self.0 = rest;
        head[0] != 0
    }
    fn buf(&mut self) -> Option<Vec<u8>> {
        let len = self.i32();
        if len < 0 {
            return None;
        }
        let (head, rest) = self.0.split_at(len as usize);
        self.0 = rest;
        Some(head.to_vec())
    }
    fn str(&mut self) -> String {
        String::from_utf8(self.buf().expect("non-null string")).unwrap()
    }
    /// Stat: returns (czxid, mzxid, version).
    fn stat(&mut self) -> (i64, i64, i32) {
        let czxid = self.i64();
        let mzxid = self.i64();
        let _ctime = self.i64();
        let _mtime = self.i64();
        let version = self.i32();
        let _cversion = self.i32();
        let _aversion = self.i32();
        let _owner = self.i64();
        let _len = self.i32();
        let _num = self.i32();
        let _pzxid = self.i64();
        (czxid, mzxid, version)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug)]
struct Handshake {
    timeout: i32,
    session_id: i64,
    passwd: Vec<u8>,
}

#[derive(Debug)]
struct Reply {
    xid: i32,
    zxid: i64,
    err: i32,
    body: Vec<u8>,
}

struct Raw {
    stream: TcpStream,
    next_xid: i32,
    /// Notifications (xid -1) received while waiting for replies.
    events: Vec<Reply>,
}

impl Raw {
    /// A new session.
    async fn open(addr: &str) -> (Raw, Handshake) {
        Self::connect(addr, 0, &[0; 16])
            .await
            .expect("server answers the handshake")
    }

    /// Sends a ConnectRequest (with the readOnly byte) and reads the ConnectResponse;
    /// `None` if the server closed the connection without answering.
    async fn connect(addr: &str, session_id: i64, passwd: &[u8]) -> Option<(Raw, Handshake)> {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).unwrap();
        let mut raw = Raw {
            stream,
            next_xid: 1,
            events: Vec::new(),
        };
        let req = Enc::default()
            .i32(0)
            .i64(0)
            .i32(10_000)
            .i64(session_id)
            .buf(Some(passwd))
            .bool(false);
        raw.send_frame(&req.0).await;
        let frame = raw.read_frame().await?;
        let mut d = Dec(&frame);
        assert_eq!(d.i32(), 0, "protocolVersion");
        let timeout = d.i32();
        let session_id = d.i64();
        let passwd = d.buf().expect("password buffer");
        assert!(!d.bool(), "readOnly must be false on a read-write server");
        assert!(d.is_empty(), "ConnectResponse has no trailing bytes");
        Some((
            raw,
            Handshake {
                timeout,
                session_id,
                passwd,
            },
        ))
    }

    async fn send_frame(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await.expect("write frame");
    }

    /// Next frame, or `None` on EOF / reset.
    async fn read_frame(&mut self) -> Option<Vec<u8>> {
        let read = async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut frame).await.ok()?;
            Some(frame)
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("server answers in time")
    }

    async fn read_reply(&mut self) -> Option<Reply> {
        let frame = self.read_frame().await?;
        let mut d = Dec(&frame);
        let xid = d.i32();
        let zxid = d.i64();
        let err = d.i32();
        Some(Reply {
            xid,
            zxid,
            err,
            body: d.0.to_vec(),
        })
    }

    /// Sends one request and returns its reply, keeping notifications aside.
    async fn call(&mut self, op: i32, body: Enc) -> Reply {
        self.try_call(op, body)
            .await
            .expect("connection stays open")
    }

    async fn try_call(&mut self, op: i32, body: Enc) -> Option<Reply> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let req = Enc::default().i32(xid).i32(op).raw(&body.0);
        self.send_frame(&req.0).await;
        loop {
            let reply = self.read_reply().await?;
            if reply.xid == -1 {
                self.events.push(reply);
                continue;
            }
            assert_eq!(reply.xid, xid, "replies come back in request order");
            return Some(reply);
        }
    }

    /// True if the server closes the connection (EOF) within `within`; false
    /// if the connection stays open and silent that long.
    async fn closes_within(&mut self, within: Duration) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(within, self.stream.read(&mut byte)).await {
            Err(_) => false,
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => panic!("unexpected data from server"),
        }
    }
}

fn create_req(path: &str, data: Option<&[u8]>, flags: i32) -> Enc {
    Enc::default().str(path).buf(data).open_acl().i32(flags)
}

fn path_req(path: &str, watch: bool) -> Enc {
    Enc::default().str(path).bool(watch)
}

async fn create_ok(raw: &mut Raw, path: &str) {
    let r = raw.call(OP_CREATE, create_req(path, Some(b""), 0)).await;
    assert_eq!(r.err, OK, "create {path}");
}

/// `(type, state, path)` of the notifications received so far, draining them.
fn take_events(raw: &mut Raw) -> Vec<(i32, i32, String)> {
    raw.events
        .drain(..)
        .map(|reply| {
            assert_eq!(reply.err, 0, "notification header err");
            let mut d = Dec(&reply.body);
            let event = (d.i32(), d.i32(), d.str());
            assert!(d.is_empty());
            event
        })
        .collect()
}

const NODE_CREATED: i32 = 1;
const NODE_DELETED: i32 = 2;
const NODE_DATA_CHANGED: i32 = 3;
const NODE_CHILDREN_CHANGED: i32 = 4;
const SYNC_CONNECTED: i32 = 3;

/// Parses a multi response body into `(type, err)` pairs (bodies of successful
/// sub-results are skipped for the kinds used here) and checks the terminator.
fn multi_results(body: &[u8]) -> Vec<(i32, i32)> {
    let mut d = Dec(body);
    let mut out = Vec::new();
    loop {
        let ty = d.i32();
        let done = d.bool();
        let err = d.i32();
        if done {
            assert_eq!((ty, err), (-1, -1), "multi terminator is {{-1, true, -1}}");
            assert!(d.is_empty());
            return out;
        }
        match ty {
            -1 => {
                let inner = d.i32();
                assert_eq!(inner, err, "ErrorResponse.err repeats MultiHeader.err");
                out.push((ty, err));
            }
            OP_CREATE => {
                d.str();
                out.push((ty, err));
            }
            OP_SET_DATA => {
                d.stat();
                out.push((ty, err));
            }
            OP_CHECK | OP_DELETE => out.push((ty, err)),
            other => panic!("unexpected sub-result type {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, hs) = Raw::open(&server.addr).await;
        assert_eq!(hs.timeout, 10_000);
        assert_ne!(hs.session_id, 0);
        assert_eq!(hs.passwd.len(), 16);
        assert_eq!(raw.call(OP_EXISTS, path_req("/", false)).await.err, OK);

        let mut wrong = hs.passwd.clone();
        wrong[3] ^= 0x5a;
        let (mut refused, answer) = Raw::connect(&server.addr, hs.session_id, &wrong)
            .await
            .expect("an answer, then close");
        // Refusal looks like expiry: timeout 0, session 0, 16 zero bytes.
        assert_eq!((answer.timeout, answer.session_id), (0, 0));
        assert_eq!(answer.passwd, [0u8; 16]);
        assert!(
            refused.closes_within(WAIT).await,
            "server closes a refused connection"
        );

        // The right password resumes the same session (and password).
        let (mut resumed, again) = Raw::connect(&server.addr, hs.session_id, &hs.passwd)
            .await
            .unwrap();
        assert_eq!((again.timeout, again.session_id), (10_000, hs.session_id));
        assert_eq!(again.passwd, hs.passwd);
        assert_eq!(resumed.call(OP_EXISTS, path_req("/", false)).await.err, OK);

        // An unknown session id is refused the same way.
        let (mut unknown, answer) = Raw::connect(&server.addr, hs.session_id ^ 0x7fff, &hs.passwd)
            .await
            .unwrap();
        assert_eq!(
            (answer.timeout, answer.session_id, answer.passwd),
            (0, 0, vec![0u8; 16])
        );
        assert!(unknown.closes_within(WAIT).await);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_reports_every_sub_result() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let root = unique_root("raw-multi");
        create_ok(&mut raw, &root).await;
        let sub = |ty: i32, body: Enc| Enc::default().i32(ty).bool(false).i32(-1).raw(&body.0);
        let multi = Enc::default()
            .raw(&sub(OP_CREATE, create_req(&format!("{root}/m1"), Some(b""), 0)).0)
            .raw(&sub(OP_CHECK, Enc::default().str(&root).i32(0)).0)
            .raw(
                &sub(
                    OP_SET_DATA,
                    Enc::default()
                        .str(&format!("{root}/missing"))
                        .buf(Some(b"x"))
                        .i32(-1),
                )
                .0,
            )
            .raw(&sub(OP_CREATE, create_req(&format!("{root}/m2"), Some(b""), 0)).0)
            .raw(&sub(OP_DELETE, Enc::default().str(&root).i32(-1)).0)
            .i32(-1)
            .bool(true)
            .i32(-1);
        let reply = raw.call(OP_MULTI, multi).await;
        // The request itself succeeds; the failure is inside the body.
        assert_eq!(reply.err, OK);
        assert_eq!(
            multi_results(&reply.body),
            [
                (-1, OK),
                (-1, OK),
                (-1, NO_NODE),
                (-1, RUNTIME_INCONSISTENCY),
                (-1, RUNTIME_INCONSISTENCY)
            ],
            "ops before the failure: 0, the failing op: its code, ops after: -2"
        );
        let r = raw
            .call(OP_EXISTS, path_req(&format!("{root}/m1"), false))
            .await;
        assert_eq!(r.err, NO_NODE, "nothing applied");

        // And a successful one, for the result types.
        let multi = Enc::default()
            .raw(&sub(OP_CREATE, create_req(&format!("{root}/m1"), Some(b""), 0)).0)
            .raw(&sub(OP_CHECK, Enc::default().str(&format!("{root}/m1")).i32(0)).0)
            .raw(
                &sub(
                    OP_SET_DATA,
                    Enc::default()
                        .str(&format!("{root}/m1"))
                        .buf(Some(b"x"))
                        .i32(0),
                )
                .0,
            )
            .raw(&sub(OP_DELETE, Enc::default().str(&format!("{root}/m1")).i32(1)).0)
            .i32(-1)
            .bool(true)
            .i32(-1);
        let reply = raw.call(OP_MULTI, multi).await;
        assert_eq!(reply.err, OK);
        assert_eq!(
            multi_results(&reply.body),
            [
                (OP_CREATE, 0),
                (OP_CHECK, 0),
                (OP_SET_DATA, 0),
                (OP_DELETE, 0)
            ],
            "success: each sub-result typed by its op, err 0"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_remove_watches_by_type() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let root = unique_root("raw-watches");
        create_ok(&mut raw, &root).await;
        let watch_req = |path: &str, ty: i32| Enc::default().str(path).i32(ty);
        let (children, data, any) = (1, 2, 3);

        let missing = format!("{root}/missing");
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&missing, any))
                .await
                .err,
            NO_WATCHER
        );
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&missing, any))
                .await
                .err,
            NO_WATCHER
        );

        // exists on a missing node still registers a (data) watch.
        assert_eq!(
            raw.call(OP_EXISTS, path_req(&missing, true)).await.err,
            NO_NODE
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&missing, data))
                .await
                .err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&missing, any))
                .await
                .err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&missing, children))
                .await
                .err,
            NO_WATCHER
        );
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&missing, children))
                .await
                .err,
            NO_WATCHER
        );
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&missing, data))
                .await
                .err,
            OK
        );
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&missing, data))
                .await
                .err,
            NO_WATCHER
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&missing, any))
                .await
                .err,
            NO_WATCHER
        );
        // Removed means removed: creating the node notifies nobody.
        create_ok(&mut raw, &missing).await;
        assert_eq!(take_events(&mut raw), []);

        // getData on a missing node does not register anything.
        let missing2 = format!("{root}/missing2");
        assert_eq!(
            raw.call(OP_GET_DATA, path_req(&missing2, true)).await.err,
            NO_NODE
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&missing2, any))
                .await
                .err,
            NO_WATCHER
        );

        // Child watch, removed with Any; data watch on the same node is separate.
        assert_eq!(
            raw.call(OP_GET_CHILDREN, path_req(&root, true)).await.err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, children))
                .await
                .err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, data)).await.err,
            NO_WATCHER
        );
        assert_eq!(raw.call(OP_GET_DATA, path_req(&root, true)).await.err, OK);
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&root, children))
                .await
                .err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, children))
                .await
                .err,
            NO_WATCHER
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, data)).await.err,
            OK
        );
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&root, any)).await.err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, any)).await.err,
            NO_WATCHER
        );
        create_ok(&mut raw, &format!("{root}/child")).await;
        assert_eq!(
            raw.call(
                OP_SET_DATA,
                Enc::default().str(&root).buf(Some(b"x")).i32(-1)
            )
            .await
            .err,
            OK
        );
        assert_eq!(take_events(&mut raw), [], "no notification after removal");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_removal() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let root = unique_root("raw-persistent");
        create_ok(&mut raw, &root).await;
        let watch_req = |path: &str, ty: i32| Enc::default().str(path).i32(ty);

        // addWatch replies with an ErrorResponse{err = 0} body.
        let reply = raw.call(OP_ADD_WATCH, watch_req(&root, 0)).await;
        assert_eq!(reply.err, OK);
        assert_eq!(reply.body, 0i32.to_be_bytes());
        // Any(3) covers every mode. Children(1)/Data(2) mean standard watches only in
        // 3.9 (ZOOKEEPER-4472); 3.8 also counted the persistent watch for them.
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, 3)).await.err,
            OK
        );
        for ty in [1, 2] {
            let err = raw.call(OP_CHECK_WATCHES, watch_req(&root, ty)).await.err;
            if server.is_local() {
                assert_eq!(
                    err, NO_WATCHER,
                    "checkWatches type {ty} on a persistent watch"
                );
            } else {
                assert!(
                    err == OK || err == NO_WATCHER,
                    "checkWatches type {ty}: {err}"
                );
            }
        }
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, watch_req(&root, 3)).await.err,
            OK
        );
        assert_eq!(
            raw.call(OP_CHECK_WATCHES, watch_req(&root, 3)).await.err,
            NO_WATCHER
        );
        create_ok(&mut raw, &format!("{root}/c")).await;
        assert_eq!(take_events(&mut raw), []);

        // WatcherType Persistent(4) / PersistentRecursive(5) exist since 3.9
        // (ZOOKEEPER-4472); 3.8 answers MARSHALLINGERROR (-5) and keeps the connection.
        for (mode, ty, other) in [(0, 4, 5), (1, 5, 4)] {
            assert_eq!(raw.call(OP_ADD_WATCH, watch_req(&root, mode)).await.err, OK);
            if server.is_local() {
                assert_eq!(
                    raw.call(OP_CHECK_WATCHES, watch_req(&root, ty)).await.err,
                    OK,
                    "check type {ty}"
                );
                assert_eq!(
                    raw.call(OP_CHECK_WATCHES, watch_req(&root, other))
                        .await
                        .err,
                    NO_WATCHER
                );
                assert_eq!(
                    raw.call(OP_REMOVE_WATCHES, watch_req(&root, other))
                        .await
                        .err,
                    NO_WATCHER
                );
                assert_eq!(
                    raw.call(OP_REMOVE_WATCHES, watch_req(&root, 2)).await.err,
                    NO_WATCHER
                );
                assert_eq!(
                    raw.call(OP_REMOVE_WATCHES, watch_req(&root, ty)).await.err,
                    OK,
                    "remove type {ty}"
                );
                assert_eq!(
                    raw.call(OP_REMOVE_WATCHES, watch_req(&root, ty)).await.err,
                    NO_WATCHER
                );
            } else {
                let err = raw.call(OP_REMOVE_WATCHES, watch_req(&root, ty)).await.err;
                assert!(err == OK || err == -5, "removeWatches type {ty}: {err}");
                if err != OK {
                    assert_eq!(
                        raw.call(OP_REMOVE_WATCHES, watch_req(&root, 3)).await.err,
                        OK
                    );
                }
            }
            assert_eq!(
                raw.call(OP_CHECK_WATCHES, watch_req(&root, 3)).await.err,
                NO_WATCHER
            );
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_on_the_wire() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let root = unique_root("raw-events");
        create_ok(&mut raw, &root).await;
        let a = format!("{root}/a");
        let b = format!("{a}/b");

        // An exist watch fired by this connection's own create: the notification
        // (xid -1, err 0, state SyncConnected) comes before the create reply.
        assert_eq!(raw.call(OP_EXISTS, path_req(&a, true)).await.err, NO_NODE);
        create_ok(&mut raw, &a).await;
        let notification = raw
            .events
            .first()
            .expect("notification before the create reply");
        assert_eq!(notification.xid, -1);
        let zxid = notification.zxid;
        let reply = raw.call(OP_EXISTS, path_req(&a, false)).await;
        let (czxid, _, _) = Dec(&reply.body).stat();
        // 3.9 carries the txn zxid (ZOOKEEPER-4655); 3.8 sends -1.
        if server.is_local() {
            assert_eq!(zxid, czxid);
        } else {
            assert!(zxid == -1 || zxid == czxid, "{zxid} vs {czxid}");
        }
        assert_eq!(
            take_events(&mut raw),
            [(NODE_CREATED, SYNC_CONNECTED, a.clone())]
        );

        // Recursive watch: node events for the whole subtree, never NodeChildrenChanged.
        assert_eq!(
            raw.call(OP_ADD_WATCH, Enc::default().str(&root).i32(1))
                .await
                .err,
            OK
        );
        create_ok(&mut raw, &b).await;
        assert_eq!(
            take_events(&mut raw),
            [(NODE_CREATED, SYNC_CONNECTED, b.clone())]
        );
        assert_eq!(
            raw.call(OP_SET_DATA, Enc::default().str(&a).buf(Some(b"x")).i32(-1))
                .await
                .err,
            OK
        );
        assert_eq!(
            take_events(&mut raw),
            [(NODE_DATA_CHANGED, SYNC_CONNECTED, a.clone())]
        );
        assert_eq!(
            raw.call(OP_DELETE, Enc::default().str(&b).i32(-1))
                .await
                .err,
            OK
        );
        assert_eq!(
            take_events(&mut raw),
            [(NODE_DELETED, SYNC_CONNECTED, b.clone())]
        );
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, Enc::default().str(&root).i32(3))
                .await
                .err,
            OK
        );

        // Plain persistent watch: its own node plus NodeChildrenChanged.
        assert_eq!(
            raw.call(OP_ADD_WATCH, Enc::default().str(&a).i32(0))
                .await
                .err,
            OK
        );
        create_ok(&mut raw, &b).await;
        assert_eq!(
            take_events(&mut raw),
            [(NODE_CHILDREN_CHANGED, SYNC_CONNECTED, a.clone())]
        );
        assert_eq!(
            raw.call(OP_SET_DATA, Enc::default().str(&b).buf(Some(b"x")).i32(-1))
                .await
                .err,
            OK
        );
        assert_eq!(take_events(&mut raw), []);

        // A one-shot child watch and a data watch on the same node fire on delete:
        // one notification per watch type that was set, children first.
        assert_eq!(
            raw.call(OP_REMOVE_WATCHES, Enc::default().str(&a).i32(3))
                .await
                .err,
            OK
        );
        assert_eq!(raw.call(OP_GET_DATA, path_req(&b, true)).await.err, OK);
        assert_eq!(raw.call(OP_GET_CHILDREN, path_req(&b, true)).await.err, OK);
        assert_eq!(
            raw.call(OP_DELETE, Enc::default().str(&b).i32(-1))
                .await
                .err,
            OK
        );
        let events = take_events(&mut raw);
        assert_eq!(
            events,
            [(NODE_DELETED, SYNC_CONNECTED, b.clone())],
            "one watcher object per connection"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_paths_and_flags_are_bad_arguments() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let root = unique_root("raw-paths");
        create_ok(&mut raw, &root).await;
        let bad = [
            format!("{root}/x\u{0}y"),
            format!("{root}/x\u{1}"),
            format!("{root}/x\u{7f}"),
            format!("{root}/\u{9f}"),
            format!("{root}/\u{e000}"),
            format!("{root}/\u{fff0}"),
            "relative".to_string(),
            String::new(),
        ];
        for path in &bad {
            for flags in [0, 1, 2, 3] {
                let err = raw
                    .call(OP_CREATE, create_req(path, Some(b""), flags))
                    .await
                    .err;
                assert_eq!(err, BAD_ARGUMENTS, "create {path:?} flags {flags}");
            }
        }
        // Empty, "." and ".." last segments are invalid, but the path is validated
        // after the sequential suffix is appended, so sequential creates succeed.
        for (i, name) in ["", ".", ".."].into_iter().enumerate() {
            let path = format!("{root}/{name}");
            for flags in [0, 1] {
                let err = raw
                    .call(OP_CREATE, create_req(&path, Some(b""), flags))
                    .await
                    .err;
                assert_eq!(err, BAD_ARGUMENTS, "create {path:?} flags {flags}");
            }
            let reply = raw.call(OP_CREATE, create_req(&path, Some(b""), 2)).await;
            assert_eq!(reply.err, OK, "sequential {path:?}");
            assert_eq!(Dec(&reply.body).str(), format!("{path}{i:010}"));
        }
        // Names that merely look odd are fine.
        for name in ["a.b", "...", ".x", "x.", "zookeeper", "\u{e9}t\u{e9}"] {
            create_ok(&mut raw, &format!("{root}/{name}")).await;
        }
        for flags in [7, 99, -1] {
            let err = raw
                .call(
                    OP_CREATE,
                    create_req(&format!("{root}/f"), Some(b""), flags),
                )
                .await
                .err;
            assert_eq!(err, BAD_ARGUMENTS, "flags {flags}");
        }
        // delete validates too (and refuses the root).
        for path in ["relative", "", "/"] {
            let err = raw
                .call(OP_DELETE, Enc::default().str(path).i32(-1))
                .await
                .err;
            assert_eq!(err, BAD_ARGUMENTS, "delete {path:?}");
        }
        assert_eq!(
            raw.call(OP_EXISTS, path_req(&format!("{root}/f"), false))
                .await
                .err,
            NO_NODE
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_data_stays_null() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let root = unique_root("raw-null");
        // kazoo and Kafka send empty/absent data as a -1 length.
        let reply = raw.call(OP_CREATE, create_req(&root, None, 0)).await;
        assert_eq!(reply.err, OK);
        assert_eq!(Dec(&reply.body).str(), root, "CreateResponse {{path}}");
        let reply = raw.call(OP_GET_DATA, path_req(&root, false)).await;
        assert_eq!(reply.err, OK);
        let mut d = Dec(&reply.body);
        assert_eq!(d.buf(), None, "null data is returned as length -1");
        let (czxid, mzxid, version) = d.stat();
        assert_eq!((mzxid, version), (czxid, 0));
        assert!(d.is_empty());
        // Empty (not null) data comes back as length 0.
        let reply = raw
            .call(OP_SET_DATA, Enc::default().str(&root).buf(Some(b"")).i32(0))
            .await;
        assert_eq!(reply.err, OK);
        let reply = raw.call(OP_GET_DATA, path_req(&root, false)).await;
        assert_eq!(Dec(&reply.body).buf(), Some(Vec::new()));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_is_unimplemented_and_closes() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let reply = raw
            .try_call(999, Enc::default())
            .await
            .expect("an error reply before closing");
        assert_eq!(reply.err, UNIMPLEMENTED);
        assert!(
            raw.closes_within(WAIT).await,
            "connection closed after UNIMPLEMENTED"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_reply_echoes_the_request_xid() {
    let server = TestServer::start();
    bounded(async {
        let (mut raw, _) = Raw::open(&server.addr).await;
        let auth = |xid: i32, scheme: &str, credentials: &[u8]| {
            Enc::default()
                .i32(xid)
                .i32(OP_AUTH)
                .i32(0)
                .str(scheme)
                .buf(Some(credentials))
        };
        // The Java client sends auth with xid -4, the zookeeper-client crate with an
        // ordinary xid: ZooKeeper answers with whatever xid the request had, zxid 0.
        for xid in [-4, 7] {
            raw.send_frame(&auth(xid, "digest", b"user:pass").0).await;
            let reply = raw.read_reply().await.expect("auth reply");
            assert_eq!((reply.xid, reply.zxid, reply.err), (xid, 0, OK));
            assert!(reply.body.is_empty());
        }
        raw.next_xid = 8;
        assert_eq!(raw.call(OP_EXISTS, path_req("/", false)).await.err, OK);

        // A failed auth answers AUTHFAILED with the request's xid, then closes.
        for xid in [-4, 9] {
            let (mut raw, _) = Raw::open(&server.addr).await;
            raw.send_frame(&auth(xid, "nosuchscheme", b"x").0).await;
            let reply = raw.read_reply().await.expect("auth reply");
            assert_eq!((reply.xid, reply.zxid, reply.err), (xid, 0, AUTH_FAILED));
            assert!(
                raw.closes_within(WAIT).await,
                "connection closed after AUTHFAILED"
            );
        }
    })
    .await
}
