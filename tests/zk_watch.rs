//! Watches through the `zookeeper-client` crate: one-shot data/exist/child
//! watches, persistent and persistent-recursive watches, watch removal, and the
//! ordering rule that a notification reaches the client before the reply to any
//! later request that observes the change.
//!
//! Server-side watch registrations are observed with the `wchc` four-letter word
//! (the harness enables all four-letter words); like ZooKeeper's, it lists data,
//! exist and persistent watches but not child watches.
//!
//! Against an external server (`COREKEEPER_TEST_TARGET`) all tests of a file share it
//! and run in parallel: give ZooKeeper `maxClientCnxns=0` (its default of 60 per IP
//! is too few).

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use common::{bounded, connect, persistent, unique_root, TestServer, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use zookeeper_client::{
    Acls, AddWatchMode, Client, CreateMode, Error, EventType, OneshotWatcher, PersistentWatcher,
    SessionId, SessionState, WatchedEvent,
};

async fn fired(watcher: OneshotWatcher) -> WatchedEvent {
    tokio::time::timeout(WAIT, watcher.changed())
        .await
        .expect("watch fires in time")
}

async fn next(watcher: &mut PersistentWatcher) -> WatchedEvent {
    tokio::time::timeout(WAIT, watcher.changed())
        .await
        .expect("persistent watch event in time")
}

/// The event if it has already been delivered, without waiting.
async fn already_fired(watcher: OneshotWatcher) -> Option<WatchedEvent> {
    tokio::time::timeout(Duration::ZERO, watcher.changed())
        .await
        .ok()
}

/// Asserts nothing is queued on a persistent watcher. Only meaningful right after
/// a round trip on the watching client, which flushes earlier notifications.
async fn assert_quiet(watcher: &mut PersistentWatcher) {
    if let Ok(event) = tokio::time::timeout(Duration::ZERO, watcher.changed()).await {
        panic!("unexpected event {event:?}");
    }
}

fn node_event(event_type: EventType, path: &str) -> (EventType, SessionState, String) {
    (event_type, SessionState::SyncConnected, path.to_string())
}

fn parts(event: &WatchedEvent) -> (EventType, SessionState, String) {
    (event.event_type, event.session_state, event.path.clone())
}

/// 3.9 stamps notifications with the zxid of the triggering txn (ZOOKEEPER-4655);
/// 3.8 sends -1.
fn assert_event_zxid(server: &TestServer, event: &WatchedEvent, zxid: i64) {
    if server.is_local() {
        assert_eq!(
            event.zxid, zxid,
            "notification zxid = txn zxid (3.9): {event:?}"
        );
    } else {
        assert!(
            event.zxid == WatchedEvent::NO_ZXID || event.zxid == zxid,
            "{event:?} vs zxid {zxid}"
        );
    }
}

/// Paths the server holds watches on for `session`, parsed from `wchc`
/// (`0x<session>` lines followed by tab-indented paths).
async fn watched_paths(addr: &str, session: SessionId) -> BTreeSet<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"wchc").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut out))
        .await
        .expect("wchc in time")
        .unwrap();
    let header = format!("0x{:x}", session.0);
    let mut paths = BTreeSet::new();
    let mut mine = false;
    for line in out.lines() {
        if let Some(path) = line.strip_prefix('\t') {
            if mine {
                paths.insert(path.to_string());
            }
        } else {
            mine = line.trim() == header;
        }
    }
    paths
}

fn set_of(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_once_on_data_change() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let path = unique_root("data-watch");
        zk.create(&path, b"a", &persistent()).await.unwrap();

        let (data, _, watcher) = zk.get_and_watch_data(&path).await.unwrap();
        assert_eq!(data, b"a");

        let stat = other.set_data(&path, b"b", None).await.unwrap();
        let event = fired(watcher).await;
        assert_eq!(parts(&event), node_event(EventType::NodeDataChanged, &path));
        assert_event_zxid(&server, &event, stat.mzxid);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_on_delete() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let root = unique_root("data-watch-delete");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let path = format!("{root}/n");
        zk.create(&path, b"", &persistent()).await.unwrap();

        let (_, _, watcher) = zk.get_and_watch_data(&path).await.unwrap();
        other.delete(&path, None).await.unwrap();
        let event = fired(watcher).await;
        assert_eq!(parts(&event), node_event(EventType::NodeDeleted, &path));
        let parent = zk.check_stat(&root).await.unwrap().unwrap();
        assert_event_zxid(&server, &event, parent.pzxid);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exist_watch_fires_on_create_change_and_delete() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let path = unique_root("exist-watch");

        // Watch on a missing node: registered even though exists says "no node".
        let (stat, watcher) = zk.check_and_watch_stat(&path).await.unwrap();
        assert_eq!(stat, None);
        let (created, _) = other.create(&path, b"", &persistent()).await.unwrap();
        let event = fired(watcher).await;
        assert_eq!(parts(&event), node_event(EventType::NodeCreated, &path));
        assert_event_zxid(&server, &event, created.czxid);

        // On an existing node: children do not matter, data does.
        let (stat, watcher) = zk.check_and_watch_stat(&path).await.unwrap();
        assert_eq!(stat, Some(created));
        other
            .create(&format!("{path}/child"), b"", &persistent())
            .await
            .unwrap();
        other.delete(&format!("{path}/child"), None).await.unwrap();
        zk.get_data(&path).await.unwrap();
        let watcher = match tokio::time::timeout(Duration::ZERO, watcher.changed()).await {
            Ok(event) => panic!("exist watch fired for a child change: {event:?}"),
            Err(_) => zk.check_and_watch_stat(&path).await.unwrap().1,
        };
        let changed = other.set_data(&path, b"x", None).await.unwrap();
        let event = fired(watcher).await;
        assert_eq!(parts(&event), node_event(EventType::NodeDataChanged, &path));
        assert_event_zxid(&server, &event, changed.mzxid);

        let (_, watcher) = zk.check_and_watch_stat(&path).await.unwrap();
        other.delete(&path, None).await.unwrap();
        assert_eq!(
            parts(&fired(watcher).await),
            node_event(EventType::NodeDeleted, &path)
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_on_membership_changes_only() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let root = unique_root("child-watch");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let kept = format!("{root}/kept");
        zk.create(&kept, b"", &persistent()).await.unwrap();

        // Data changes of the parent or of a child do not fire a child watch.
        let (children, watcher) = zk.list_and_watch_children(&root).await.unwrap();
        assert_eq!(children, ["kept"]);
        other.set_data(&root, b"x", None).await.unwrap();
        other.set_data(&kept, b"x", None).await.unwrap();
        other
            .create(&format!("{kept}/grandchild"), b"", &persistent())
            .await
            .unwrap();
        zk.get_data(&root).await.unwrap();
        let watcher = match tokio::time::timeout(Duration::ZERO, watcher.changed()).await {
            Ok(event) => panic!("child watch fired without a membership change: {event:?}"),
            Err(_) => zk.list_and_watch_children(&root).await.unwrap().1,
        };

        let (created, _) = other
            .create(&format!("{root}/new"), b"", &persistent())
            .await
            .unwrap();
        let event = fired(watcher).await;
        assert_eq!(
            parts(&event),
            node_event(EventType::NodeChildrenChanged, &root)
        );
        assert_event_zxid(&server, &event, created.czxid);

        // getChildren2 sets the same kind of watch; a child delete fires it.
        let (_, _, watcher) = zk.get_and_watch_children(&root).await.unwrap();
        other.delete(&format!("{root}/new"), None).await.unwrap();
        assert_eq!(
            parts(&fired(watcher).await),
            node_event(EventType::NodeChildrenChanged, &root)
        );

        // Deleting the watched node itself fires NodeDeleted.
        let (_, watcher) = zk.list_and_watch_children(&kept).await.unwrap();
        other
            .delete(&format!("{kept}/grandchild"), None)
            .await
            .unwrap();
        assert_eq!(
            parts(&fired(watcher).await),
            node_event(EventType::NodeChildrenChanged, &kept)
        );
        let (_, watcher) = zk.list_and_watch_children(&kept).await.unwrap();
        other.delete(&kept, None).await.unwrap();
        assert_eq!(
            parts(&fired(watcher).await),
            node_event(EventType::NodeDeleted, &kept)
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_fires_every_matching_watcher() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let second = connect(&server).await;
        let other = connect(&server).await;
        let path = unique_root("fan-out");
        zk.create(&path, b"", &persistent()).await.unwrap();

        let (_, _, data) = zk.get_and_watch_data(&path).await.unwrap();
        let (_, exist) = zk.check_and_watch_stat(&path).await.unwrap();
        let (_, child) = zk.list_and_watch_children(&path).await.unwrap();
        let (_, _, remote) = second.get_and_watch_data(&path).await.unwrap();

        other.set_data(&path, b"1", None).await.unwrap();
        let changed = node_event(EventType::NodeDataChanged, &path);
        assert_eq!(parts(&fired(data).await), changed);
        assert_eq!(parts(&fired(exist).await), changed);
        assert_eq!(parts(&fired(remote).await), changed);

        // The child watch is still armed and fires for the delete.
        other.delete(&path, None).await.unwrap();
        assert_eq!(
            parts(&fired(child).await),
            node_event(EventType::NodeDeleted, &path)
        );
    })
    .await
}

/// Repeats `read` until its result satisfies `seen`: stops at the first reply
/// that observes a change made by another session.
async fn read_until<T, Fut: Future<Output = Result<T, Error>>>(
    mut read: impl FnMut() -> Fut,
    seen: impl Fn(&T) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen(&read().await.unwrap()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "change never became visible"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_precedes_reply_of_a_later_read() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let root = unique_root("ordering");
        zk.create(&root, b"v0", &persistent()).await.unwrap();

        // In each case: once a reply on the watching session shows the change, the
        // notification for it has already been delivered on that session.
        for round in 1..=3 {
            let value = format!("v{round}");
            let (_, _, watcher) = zk.get_and_watch_data(&root).await.unwrap();
            other.set_data(&root, value.as_bytes(), None).await.unwrap();
            read_until(|| zk.get_data(&root), |(data, _)| data == value.as_bytes()).await;
            let event = already_fired(watcher)
                .await
                .expect("data event delivered before the getData reply");
            assert_eq!(parts(&event), node_event(EventType::NodeDataChanged, &root));
        }

        let (_, watcher) = zk.list_and_watch_children(&root).await.unwrap();
        other
            .create(&format!("{root}/c"), b"", &persistent())
            .await
            .unwrap();
        read_until(|| zk.list_children(&root), |children| !children.is_empty()).await;
        let event = already_fired(watcher)
            .await
            .expect("child event delivered before the getChildren reply");
        assert_eq!(
            parts(&event),
            node_event(EventType::NodeChildrenChanged, &root)
        );

        let path = format!("{root}/later");
        let (_, watcher) = zk.check_and_watch_stat(&path).await.unwrap();
        other.create(&path, b"", &persistent()).await.unwrap();
        read_until(|| zk.check_stat(&path), |stat| stat.is_some()).await;
        let event = already_fired(watcher)
            .await
            .expect("created event delivered before the exists reply");
        assert_eq!(parts(&event), node_event(EventType::NodeCreated, &path));

        // The same holds for a persistent watch.
        let mut watcher = zk.watch(&path, AddWatchMode::Persistent).await.unwrap();
        other.set_data(&path, b"x", None).await.unwrap();
        read_until(|| zk.get_data(&path), |(data, _)| data == b"x").await;
        let event = tokio::time::timeout(Duration::ZERO, watcher.changed())
            .await
            .expect("persistent event delivered");
        assert_eq!(parts(&event), node_event(EventType::NodeDataChanged, &path));
    })
    .await
}

/// A standalone ZooKeeper serves every session from one tree, so a write that has
/// been acknowledged to one session is visible to the next read of any other
/// session, without `sync` (only ensemble followers may lag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_are_visible_to_other_sessions() {
    let server = TestServer::start();
    bounded(async {
        let writer = connect(&server).await;
        let readers = [
            connect(&server).await,
            connect(&server).await,
            connect(&server).await,
        ];
        let root = unique_root("visibility");
        writer.create(&root, b"", &persistent()).await.unwrap();
        for round in 0..20 {
            let path = format!("{root}/n{round}");
            writer.create(&path, b"", &persistent()).await.unwrap();
            let value = format!("v{round}");
            writer
                .set_data(&root, value.as_bytes(), None)
                .await
                .unwrap();
            for reader in &readers {
                assert!(
                    reader.check_stat(&path).await.unwrap().is_some(),
                    "{path} visible"
                );
                assert_eq!(reader.get_data(&root).await.unwrap().0, value.as_bytes());
                assert_eq!(reader.list_children(&root).await.unwrap().len(), round + 1);
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_reports_every_change_of_one_node() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let path = unique_root("persistent");

        // Can be set on a missing node.
        let mut watcher = zk.watch(&path, AddWatchMode::Persistent).await.unwrap();

        let (created, _) = other.create(&path, b"", &persistent()).await.unwrap();
        let event = next(&mut watcher).await;
        assert_eq!(parts(&event), node_event(EventType::NodeCreated, &path));
        assert_event_zxid(&server, &event, created.czxid);

        let child = format!("{path}/c");
        other.create(&child, b"", &persistent()).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeChildrenChanged, &path)
        );

        // Changes below the children are invisible to a non-recursive watch.
        other.set_data(&child, b"x", None).await.unwrap();
        other
            .create(&format!("{child}/d"), b"", &persistent())
            .await
            .unwrap();
        other.delete(&format!("{child}/d"), None).await.unwrap();

        for _ in 0..2 {
            other.set_data(&path, b"y", None).await.unwrap();
            assert_eq!(
                parts(&next(&mut watcher).await),
                node_event(EventType::NodeDataChanged, &path)
            );
        }
        other.delete(&child, None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeChildrenChanged, &path)
        );
        other.delete(&path, None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeDeleted, &path)
        );

        // Still armed after the node is gone.
        other.create(&path, b"", &persistent()).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeCreated, &path)
        );

        zk.sync(&path).await.unwrap();
        zk.get_data(&path).await.unwrap();
        assert_quiet(&mut watcher).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch_reports_the_subtree() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let root = unique_root("recursive");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let mut watcher = zk
            .watch(&root, AddWatchMode::PersistentRecursive)
            .await
            .unwrap();

        let a = format!("{root}/a");
        let b = format!("{a}/b");
        let (created, _) = other.create(&a, b"", &persistent()).await.unwrap();
        let event = next(&mut watcher).await;
        assert_eq!(parts(&event), node_event(EventType::NodeCreated, &a));
        assert_event_zxid(&server, &event, created.czxid);
        other.create(&b, b"", &persistent()).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeCreated, &b)
        );
        other.set_data(&b, b"x", None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeDataChanged, &b)
        );
        other.set_data(&root, b"x", None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeDataChanged, &root)
        );
        other.delete(&b, None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeDeleted, &b)
        );

        // A sibling sharing the name prefix is not in the subtree.
        other
            .create(&format!("{root}x"), b"", &persistent())
            .await
            .unwrap();
        other
            .set_data(&format!("{root}x"), b"x", None)
            .await
            .unwrap();
        other.delete(&format!("{root}x"), None).await.unwrap();

        other.delete(&a, None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeDeleted, &a)
        );
        other.delete(&root, None).await.unwrap();
        assert_eq!(
            parts(&next(&mut watcher).await),
            node_event(EventType::NodeDeleted, &root)
        );

        // Never NodeChildrenChanged, and nothing else queued.
        zk.sync("/").await.unwrap();
        zk.check_stat(&root).await.unwrap();
        assert_quiet(&mut watcher).await;
    })
    .await
}

/// `wchc` lists a session's data, exist and persistent watches (ZooKeeper dumps
/// only its data-watch table, so child watches never appear) and a one-shot watch
/// disappears once it has fired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wchc_lists_registered_watches_until_they_fire() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let root = unique_root("wchc");
        let (data, child, missing, pers, rec) = (
            format!("{root}/data"),
            format!("{root}/child"),
            format!("{root}/missing"),
            format!("{root}/persistent"),
            format!("{root}/recursive"),
        );
        zk.create(&root, b"", &persistent()).await.unwrap();
        for path in [&data, &child] {
            zk.create(path, b"", &persistent()).await.unwrap();
        }
        let session = zk.session_id();
        assert!(watched_paths(&server.addr, session).await.is_empty());

        let (_, _, on_data) = zk.get_and_watch_data(&data).await.unwrap();
        let (_, _on_child) = zk.list_and_watch_children(&child).await.unwrap();
        let (_, on_missing) = zk.check_and_watch_stat(&missing).await.unwrap();
        let _pers = zk.watch(&pers, AddWatchMode::Persistent).await.unwrap();
        let _rec = zk
            .watch(&rec, AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        assert_eq!(
            watched_paths(&server.addr, session).await,
            set_of(&[&data, &missing, &pers, &rec])
        );
        // Another session's view is its own.
        assert!(watched_paths(&server.addr, other.session_id())
            .await
            .is_empty());

        other.set_data(&data, b"x", None).await.unwrap();
        other.create(&missing, b"", &persistent()).await.unwrap();
        fired(on_data).await;
        fired(on_missing).await;
        assert_eq!(
            watched_paths(&server.addr, session).await,
            set_of(&[&pers, &rec])
        );
        // Persistent watches stay registered after they fire.
        other.create(&pers, b"", &persistent()).await.unwrap();
        other.create(&rec, b"", &persistent()).await.unwrap();
        zk.sync(&root).await.unwrap();
        assert_eq!(
            watched_paths(&server.addr, session).await,
            set_of(&[&pers, &rec])
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_watches_are_unregistered_on_the_server() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("remove-watches");
        let (data_path, child_path, missing, pers_path, rec_path) = (
            format!("{root}/data"),
            format!("{root}/child"),
            format!("{root}/missing"),
            format!("{root}/persistent"),
            format!("{root}/recursive"),
        );
        zk.create(&root, b"", &persistent()).await.unwrap();
        for path in [&data_path, &child_path, &pers_path, &rec_path] {
            zk.create(path, b"", &persistent()).await.unwrap();
        }

        let (_, _, data) = zk.get_and_watch_data(&data_path).await.unwrap();
        let (_, child) = zk.list_and_watch_children(&child_path).await.unwrap();
        let (_, exist) = zk.check_and_watch_stat(&missing).await.unwrap();
        let pers = zk
            .watch(&pers_path, AddWatchMode::Persistent)
            .await
            .unwrap();
        let rec = zk
            .watch(&rec_path, AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        let session = zk.session_id();
        // wchc lists data, exist and persistent watches, not child watches.
        assert_eq!(
            watched_paths(&server.addr, session).await,
            set_of(&[&data_path, &missing, &pers_path, &rec_path])
        );

        #[allow(deprecated)]
        data.remove().await.unwrap();
        assert_eq!(
            watched_paths(&server.addr, session).await,
            set_of(&[&missing, &pers_path, &rec_path])
        );
        #[allow(deprecated)]
        exist.remove().await.unwrap();
        #[allow(deprecated)]
        pers.remove().await.unwrap();
        assert_eq!(
            watched_paths(&server.addr, session).await,
            set_of(&[&rec_path])
        );

        // Dropping a watcher removes it in the background.
        drop(child);
        drop(rec);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let paths = watched_paths(&server.addr, session).await;
            if paths.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "watches still registered: {paths:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A TCP relay in front of the server whose connection can be cut, and whose
/// new connections can be held back, to make a client reconnect at a chosen time.
struct Relay {
    addr: String,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    current: std::sync::Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let gate = open.clone();
        let current = std::sync::Arc::new(std::sync::Mutex::new(None::<JoinHandle<()>>));
        let slot = current.clone();
        let target = target.to_string();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let gate = gate.clone();
                let target = target.clone();
                let pair = tokio::spawn(async move {
                    // Hold the connection until the relay is open.
                    while !gate.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                if let Some(previous) = slot.lock().unwrap().replace(pair) {
                    previous.abort();
                }
            }
        });
        Relay {
            addr,
            open,
            current,
            acceptor,
        }
    }

    /// Drops the live connection and holds back new ones.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Some(pair) = self.current.lock().unwrap().take() {
            pair.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.acceptor.abort();
        if let Some(pair) = self.current.lock().unwrap().take() {
            pair.abort();
        }
    }
}

/// After a reconnect the client re-registers its one-shot watches (setWatches,
/// opcode 101) with the last zxid it saw; the server fires at once those whose
/// node changed meanwhile and keeps the others. The session and its ephemerals
/// survive the lost connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_restored_after_reconnect() {
    let server = TestServer::start();
    bounded(async {
        let relay = Relay::start(&server.addr).await;
        let zk = Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&relay.addr)
            .await
            .unwrap();
        let other = connect(&server).await;
        let root = unique_root("set-watches");
        let (changed, deleted, children, created, quiet, eph) = (
            format!("{root}/changed"),
            format!("{root}/deleted"),
            format!("{root}/children"),
            format!("{root}/created"),
            format!("{root}/quiet"),
            format!("{root}/eph"),
        );
        zk.create(&root, b"", &persistent()).await.unwrap();
        for path in [&changed, &deleted, &children, &quiet] {
            zk.create(path, b"", &persistent()).await.unwrap();
        }
        zk.create(
            &eph,
            b"",
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
        let session = zk.session_id();

        let (_, _, on_changed) = zk.get_and_watch_data(&changed).await.unwrap();
        let (_, on_deleted) = zk.check_and_watch_stat(&deleted).await.unwrap();
        let (_, on_children) = zk.list_and_watch_children(&children).await.unwrap();
        let (_, on_created) = zk.check_and_watch_stat(&created).await.unwrap();
        let (_, _, on_quiet) = zk.get_and_watch_data(&quiet).await.unwrap();
        let mut state = zk.state_watcher();

        relay.cut();
        let disconnected = tokio::time::timeout(WAIT, state.changed()).await.unwrap();
        assert_eq!(disconnected, SessionState::Disconnected);
        // Changes the client misses while it is away.
        other.set_data(&changed, b"x", None).await.unwrap();
        other.delete(&deleted, None).await.unwrap();
        other
            .create(&format!("{children}/c"), b"", &persistent())
            .await
            .unwrap();
        other.create(&created, b"", &persistent()).await.unwrap();
        relay.restore();
        let reconnected = tokio::time::timeout(WAIT, state.changed()).await.unwrap();
        assert_eq!(reconnected, SessionState::SyncConnected);
        assert_eq!(zk.session_id(), session);

        assert_eq!(
            parts(&fired(on_changed).await),
            node_event(EventType::NodeDataChanged, &changed)
        );
        assert_eq!(
            parts(&fired(on_deleted).await),
            node_event(EventType::NodeDeleted, &deleted)
        );
        assert_eq!(
            parts(&fired(on_children).await),
            node_event(EventType::NodeChildrenChanged, &children)
        );
        assert_eq!(
            parts(&fired(on_created).await),
            node_event(EventType::NodeCreated, &created)
        );

        // The unchanged node's watch was re-armed silently and still works.
        zk.get_data(&quiet).await.unwrap();
        let on_quiet = match tokio::time::timeout(Duration::ZERO, on_quiet.changed()).await {
            Ok(event) => panic!("watch on an unchanged node fired: {event:?}"),
            Err(_) => zk.get_and_watch_data(&quiet).await.unwrap().2,
        };
        other.set_data(&quiet, b"now", None).await.unwrap();
        assert_eq!(
            parts(&fired(on_quiet).await),
            node_event(EventType::NodeDataChanged, &quiet)
        );
        let stat = other
            .check_stat(&eph)
            .await
            .unwrap()
            .expect("ephemeral survives");
        assert_eq!(stat.ephemeral_owner, session.0);
    })
    .await
}
