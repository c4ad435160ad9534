//! Sessions through the `zookeeper-client` crate: ephemeral cleanup on close and
//! on expiry, resuming a session on a new connection, expired/closed sessions,
//! timeout negotiation, auth failure, and the container/TTL reaper.
//!
//! Deletions are awaited through exist watches of an observer session, so the
//! waits end as soon as the server acts (bounded by `WAIT`).
//!
//! Against an external server (`COREKEEPER_TEST_TARGET`) all tests of a file share it
//! and run in parallel: give ZooKeeper `maxClientCnxns=0` (its default of 60 per IP
//! is too few).

mod common;

use std::time::Duration;

use common::{bounded, connect, mode, persistent, unique_root, TestServer, TICK_MS, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zookeeper_client::{
    Acls, Client, CreateMode, Error, EventType, OneshotWatcher, SessionId, SessionState,
};

fn ms(n: u32) -> Duration {
    Duration::from_millis(n as u64)
}

/// An exist watch on `path`, which must exist now.
async fn watch_existing(observer: &Client, path: &str) -> OneshotWatcher {
    let (stat, watcher) = observer.check_and_watch_stat(path).await.unwrap();
    assert!(stat.is_some(), "{path} exists");
    watcher
}

async fn assert_deleted(watcher: OneshotWatcher, path: &str) {
    let event = tokio::time::timeout(WAIT, watcher.changed())
        .await
        .unwrap_or_else(|_| panic!("{path} deleted within {WAIT:?}"));
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (EventType::NodeDeleted, path)
    );
}

async fn four_letter(addr: &str, cmd: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(cmd.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut out))
        .await
        .expect("four-letter word answered")
        .unwrap();
    out
}

/// Waits until `cons` no longer lists a connection of `session`, i.e. the server
/// has noticed that the client went away.
async fn wait_connection_gone(addr: &str, session: SessionId) {
    let needle = format!("sid=0x{:x},", session.0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while four_letter(addr, "cons").await.contains(&needle) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection of {session} still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_vanish_when_the_session_closes() {
    let server = TestServer::start();
    bounded(async {
        let observer = connect(&server).await;
        let owner = connect(&server).await;
        let root = unique_root("close");
        observer.create(&root, b"", &persistent()).await.unwrap();
        let eph = format!("{root}/e");
        owner
            .create(&eph, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        let (_, seq) = owner
            .create(
                &format!("{root}/s-"),
                b"",
                &mode(CreateMode::EphemeralSequential),
            )
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), 1);
        let session = owner.session().clone();

        let deleted = watch_existing(&observer, &eph).await;
        let (_, children) = observer.list_and_watch_children(&root).await.unwrap();
        drop(owner); // last handle: the crate sends closeSession
        assert_deleted(deleted, &eph).await;
        let event = tokio::time::timeout(WAIT, children.changed())
            .await
            .unwrap();
        assert_eq!(
            (event.event_type, event.path.as_str()),
            (EventType::NodeChildrenChanged, root.as_str())
        );

        // Both ephemerals went in the same closeSession transaction.
        assert!(observer.list_children(&root).await.unwrap().is_empty());
        let stat = observer.check_stat(&root).await.unwrap().unwrap();
        assert_eq!((stat.num_children, stat.cversion), (0, 4));

        // A closed session cannot be resumed.
        let err = Client::connector()
            .with_session(session)
            .connect(&server.addr)
            .await
            .unwrap_err();
        assert_eq!(err, Error::SessionExpired);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_vanish_when_the_session_expires() {
    let server = TestServer::start();
    bounded(async {
        let observer = connect(&server).await;
        let owner = Client::connector()
            .with_detached()
            .with_session_timeout(ms(4 * TICK_MS))
            .connect(&server.addr)
            .await
            .unwrap();
        assert_eq!(owner.session_timeout(), ms(4 * TICK_MS));
        let root = unique_root("expire");
        observer.create(&root, b"", &persistent()).await.unwrap();
        let eph = format!("{root}/e");
        owner
            .create(&eph, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        let session = owner.session().clone();
        let deleted = watch_existing(&observer, &eph).await;

        // Detached: the connection goes away without closeSession.
        drop(owner);
        wait_connection_gone(&server.addr, session.id()).await;
        // A lost connection is not a closed session.
        let stat = observer
            .check_stat(&eph)
            .await
            .unwrap()
            .expect("ephemeral outlives the connection");
        assert_eq!(stat.ephemeral_owner, session.id().0);

        assert_deleted(deleted, &eph).await;
        assert!(observer.list_children(&root).await.unwrap().is_empty());
        let err = Client::connector()
            .with_session(session)
            .connect(&server.addr)
            .await
            .unwrap_err();
        assert_eq!(err, Error::SessionExpired);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_session_keeps_its_ephemerals() {
    let server = TestServer::start();
    bounded(async {
        let observer = connect(&server).await;
        let owner = Client::connector()
            .with_detached()
            .with_session_timeout(ms(20 * TICK_MS))
            .connect(&server.addr)
            .await
            .unwrap();
        let id = owner.session_id();
        let root = unique_root("resume");
        observer.create(&root, b"", &persistent()).await.unwrap();
        let eph = format!("{root}/e");
        owner
            .create(&eph, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();

        let session = owner.into_session(); // detached: no closeSession
        wait_connection_gone(&server.addr, id).await;
        let resume = Client::connector()
            .with_session(session)
            .with_session_timeout(ms(6 * TICK_MS));
        let resumed = tokio::time::timeout(WAIT, resume.connect(&server.addr))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resumed.session_id(), id);
        // The reconnect response carries the timeout negotiated from *this* request.
        assert_eq!(resumed.session_timeout(), ms(6 * TICK_MS));
        assert_eq!(resumed.state(), SessionState::SyncConnected);
        assert_eq!(
            observer
                .check_stat(&eph)
                .await
                .unwrap()
                .unwrap()
                .ephemeral_owner,
            id.0
        );
        assert_eq!(
            resumed.list_ephemerals("/").await.unwrap(),
            std::slice::from_ref(&eph)
        );

        let eph2 = format!("{root}/e2");
        let (stat, _) = resumed
            .create(&eph2, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        assert_eq!(stat.ephemeral_owner, id.0);

        // Closing the resumed session removes what both connections created.
        let first = watch_existing(&observer, &eph).await;
        let second = watch_existing(&observer, &eph2).await;
        drop(resumed);
        assert_deleted(first, &eph).await;
        assert_deleted(second, &eph2).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_cannot_be_resumed() {
    let server = TestServer::start();
    bounded(async {
        let observer = connect(&server).await;
        let owner = Client::connector()
            .with_detached()
            .with_session_timeout(ms(2 * TICK_MS))
            .connect(&server.addr)
            .await
            .unwrap();
        assert_eq!(
            owner.session_timeout(),
            ms(2 * TICK_MS),
            "minimum session timeout is 2 ticks"
        );
        let root = unique_root("expired");
        observer.create(&root, b"", &persistent()).await.unwrap();
        let eph = format!("{root}/e");
        owner
            .create(&eph, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        let deleted = watch_existing(&observer, &eph).await;
        let session = owner.into_session();
        assert_deleted(deleted, &eph).await;

        let err = Client::connector()
            .with_session(session)
            .connect(&server.addr)
            .await
            .unwrap_err();
        assert_eq!(err, Error::SessionExpired);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeout_is_negotiated_into_bounds() {
    let server = TestServer::start();
    bounded(async {
        let cases = [
            (Duration::from_millis(100), ms(2 * TICK_MS)),
            (ms(6 * TICK_MS), ms(6 * TICK_MS)),
            (Duration::from_millis(2_345), Duration::from_millis(2_345)),
            (Duration::from_secs(60), ms(20 * TICK_MS)),
        ];
        for (asked, negotiated) in cases {
            let zk = Client::connector()
                .with_session_timeout(asked)
                .connect(&server.addr)
                .await
                .unwrap();
            assert_eq!(zk.session_timeout(), negotiated, "asked for {asked:?}");
        }
        // Sessions get distinct ids.
        let a = connect(&server).await;
        let b = connect(&server).await;
        assert_ne!(a.session_id(), b.session_id());
        assert_ne!(a.session_id().0, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failure_ends_the_session() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        zk.get_data("/").await.unwrap();
        assert_eq!(
            zk.auth("nosuchscheme", b"whatever").await.unwrap_err(),
            Error::AuthFailed
        );
        assert_eq!(zk.state(), SessionState::AuthFailed);
        assert_eq!(zk.get_data("/").await.unwrap_err(), Error::AuthFailed);

        let err = Client::connector()
            .with_auth("nosuchscheme", b"x")
            .connect(&server.addr)
            .await
            .unwrap_err();
        assert_eq!(err, Error::AuthFailed);

        // Digest accepts any "user:password" (it only fails to match ACLs later).
        let ok = connect(&server).await;
        ok.auth("digest", b"someone:anything").await.unwrap();
        assert_eq!(ok.state(), SessionState::SyncConnected);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_is_reaped_after_its_last_child_goes() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("containers");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let container = CreateMode::Container.with_acls(Acls::anyone_all());
        let never_used = format!("{root}/never-used");
        zk.create(&never_used, b"", &container).await.unwrap();
        let busy = format!("{root}/busy");
        zk.create(&busy, b"", &container).await.unwrap();
        zk.create(&format!("{busy}/child"), b"", &persistent())
            .await
            .unwrap();

        let emptied = format!("{root}/emptied");
        zk.create(&emptied, b"", &container).await.unwrap();
        zk.create(&format!("{emptied}/a"), b"", &persistent())
            .await
            .unwrap();
        zk.create(&format!("{emptied}/b"), b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        let deleted = watch_existing(&zk, &emptied).await;
        zk.delete(&format!("{emptied}/a"), None).await.unwrap();
        zk.delete(&format!("{emptied}/b"), None).await.unwrap();
        assert_deleted(deleted, &emptied).await;

        // A container that never had children, or still has one, stays.
        assert!(zk.check_stat(&never_used).await.unwrap().is_some());
        assert_eq!(zk.list_children(&busy).await.unwrap(), ["child"]);

        let deleted = watch_existing(&zk, &busy).await;
        zk.delete(&format!("{busy}/child"), None).await.unwrap();
        assert_deleted(deleted, &busy).await;
        assert_eq!(zk.list_children(&root).await.unwrap(), ["never-used"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_node_is_reaped_after_its_ttl() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("ttl");
        zk.create(&root, b"", &persistent()).await.unwrap();

        // Short TTL but a child: must survive while the child exists.
        let busy = format!("{root}/busy");
        zk.create(
            &busy,
            b"",
            &persistent().with_ttl(Duration::from_millis(200)),
        )
        .await
        .unwrap();
        zk.create(&format!("{busy}/child"), b"", &persistent())
            .await
            .unwrap();

        let idle = format!("{root}/idle");
        zk.create(
            &idle,
            b"",
            &persistent().with_ttl(Duration::from_millis(600)),
        )
        .await
        .unwrap();
        let ttl_seq = CreateMode::PersistentSequential
            .with_acls(Acls::anyone_all())
            .with_ttl(Duration::from_millis(600));
        let (_, seq) = zk
            .create(&format!("{root}/seq-"), b"", &ttl_seq)
            .await
            .unwrap();
        let seq_path = format!("{root}/seq-{seq}");
        let idle_deleted = watch_existing(&zk, &idle).await;
        let seq_deleted = watch_existing(&zk, &seq_path).await;
        assert_deleted(idle_deleted, &idle).await;
        assert_deleted(seq_deleted, &seq_path).await;

        // By now busy's TTL is long past; only its child keeps it.
        assert_eq!(zk.list_children(&busy).await.unwrap(), ["child"]);
        let deleted = watch_existing(&zk, &busy).await;
        zk.delete(&format!("{busy}/child"), None).await.unwrap();
        assert_deleted(deleted, &busy).await;
        assert!(zk.list_children(&root).await.unwrap().is_empty());
    })
    .await
}
