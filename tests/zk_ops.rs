//! Single-node operations through the `zookeeper-client` crate: every create
//! mode, reads, writes, versions, exact `Stat` bookkeeping, the helper reads
//! (getAllChildrenNumber, getEphemerals, whoAmI, getConfig, sync) and the
//! reserved `/zookeeper` subtree.
//!
//! Every expectation here was checked against Apache ZooKeeper 3.8
//! (`COREKEEPER_TEST_TARGET`); 3.9-only behaviour is asserted only when
//! `server.is_local()`.
//!
//! Against an external server (`COREKEEPER_TEST_TARGET`) all tests of a file share it
//! and run in parallel: give ZooKeeper `maxClientCnxns=0` (its default of 60 per IP
//! is too few).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{bounded, connect, mode, persistent, unique_root, TestServer, WAIT};
use zookeeper_client::{
    Acls, AuthUser, Client, CreateMode, EnsembleUpdate, Error, SessionState, Stat,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Stat of a node that was just created and never touched since.
fn assert_fresh(stat: &Stat, data_len: usize, owner: i64) {
    assert!(stat.czxid > 0, "czxid > 0: {stat:?}");
    assert_eq!(stat.mzxid, stat.czxid, "mzxid == czxid on create: {stat:?}");
    assert_eq!(stat.pzxid, stat.czxid, "pzxid == czxid on create: {stat:?}");
    assert_eq!(stat.mtime, stat.ctime, "mtime == ctime on create: {stat:?}");
    assert!(
        (stat.ctime - now_ms()).abs() < 60_000,
        "ctime is wall-clock ms: {stat:?}"
    );
    assert_eq!(
        (stat.version, stat.cversion, stat.aversion),
        (0, 0, 0),
        "{stat:?}"
    );
    assert_eq!(stat.ephemeral_owner, owner, "{stat:?}");
    assert_eq!(stat.data_length, data_len as i32, "{stat:?}");
    assert_eq!(stat.num_children, 0, "{stat:?}");
}

async fn stat_of(client: &Client, path: &str) -> Stat {
    client
        .check_stat(path)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{path} exists"))
}

async fn sorted_children(client: &Client, path: &str) -> Vec<String> {
    let mut children = client.list_children(path).await.unwrap();
    children.sort();
    children
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_persistent_returns_create2_stat() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("create-persistent");
        let (stat, seq) = zk.create(&root, b"hello", &persistent()).await.unwrap();
        assert_eq!(seq.into_i64(), -1, "no sequence for a plain create");
        assert_fresh(&stat, 5, 0);
        assert_eq!(
            stat_of(&zk, &root).await,
            stat,
            "create2 stat == exists stat"
        );
        let (data, stat2) = zk.get_data(&root).await.unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(stat2, stat);

        // Empty data is stored as zero bytes.
        let empty = format!("{root}/empty");
        let (stat, _) = zk.create(&empty, b"", &persistent()).await.unwrap();
        assert_fresh(&stat, 0, 0);
        assert_eq!(zk.get_data(&empty).await.unwrap().0, Vec::<u8>::new());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_delete_update_parent_stat() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("parent-stat");
        let (parent, _) = zk.create(&root, b"p", &persistent()).await.unwrap();

        let child = format!("{root}/child");
        let (child_stat, _) = zk.create(&child, b"", &persistent()).await.unwrap();
        assert!(child_stat.czxid > parent.czxid);
        let after_create = stat_of(&zk, &root).await;
        assert_eq!(after_create.cversion, 1);
        assert_eq!(after_create.num_children, 1);
        assert_eq!(
            after_create.pzxid, child_stat.czxid,
            "parent pzxid = child's create zxid"
        );
        // Data and ACL bookkeeping of the parent is untouched.
        assert_eq!(after_create.mzxid, parent.mzxid);
        assert_eq!(after_create.czxid, parent.czxid);
        assert_eq!(after_create.mtime, parent.mtime);
        assert_eq!((after_create.version, after_create.aversion), (0, 0));
        assert_eq!(after_create.data_length, 1);

        zk.delete(&child, None).await.unwrap();
        let after_delete = stat_of(&zk, &root).await;
        assert_eq!(after_delete.cversion, 2, "delete bumps parent cversion");
        assert_eq!(after_delete.num_children, 0);
        assert!(
            after_delete.pzxid > child_stat.czxid,
            "delete moves parent pzxid to its zxid"
        );
        assert_eq!(after_delete.mzxid, parent.mzxid);
        assert_eq!(after_delete.version, 0);

        // A data change of the child does not touch the parent.
        zk.create(&child, b"", &persistent()).await.unwrap();
        let before = stat_of(&zk, &root).await;
        zk.set_data(&child, b"x", None).await.unwrap();
        assert_eq!(stat_of(&zk, &root).await, before);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_error_paths() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("create-errors");
        zk.create(&root, b"", &persistent()).await.unwrap();
        assert_eq!(
            zk.create(&root, b"", &persistent()).await.unwrap_err(),
            Error::NodeExists
        );
        assert_eq!(
            zk.create(&root, b"", &mode(CreateMode::Ephemeral))
                .await
                .unwrap_err(),
            Error::NodeExists,
            "NodeExists for any mode"
        );
        let orphan = format!("{root}/missing/child");
        assert_eq!(
            zk.create(&orphan, b"", &persistent()).await.unwrap_err(),
            Error::NoNode
        );
        assert_eq!(
            zk.create(&orphan, b"", &mode(CreateMode::PersistentSequential))
                .await
                .unwrap_err(),
            Error::NoNode
        );
        assert_eq!(
            zk.create(&orphan, b"", &mode(CreateMode::Container))
                .await
                .unwrap_err(),
            Error::NoNode
        );
        let ttl = persistent().with_ttl(Duration::from_secs(60));
        assert_eq!(
            zk.create(&orphan, b"", &ttl).await.unwrap_err(),
            Error::NoNode
        );
        // Failed creates leave the parent untouched.
        let stat = stat_of(&zk, &root).await;
        assert_eq!((stat.cversion, stat.num_children), (0, 0));
        assert_eq!(stat.pzxid, stat.czxid);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_nodes_belong_to_the_session_and_have_no_children() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("ephemeral");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let eph = format!("{root}/eph");
        let (stat, _) = zk
            .create(&eph, b"e", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        assert_fresh(&stat, 1, zk.session_id().0);
        assert_ne!(zk.session_id().0, 0);

        let child = format!("{eph}/child");
        for m in [
            CreateMode::Persistent,
            CreateMode::Ephemeral,
            CreateMode::PersistentSequential,
            CreateMode::EphemeralSequential,
            CreateMode::Container,
        ] {
            assert_eq!(
                zk.create(&child, b"", &mode(m)).await.unwrap_err(),
                Error::NoChildrenForEphemerals,
                "{m:?} child of an ephemeral"
            );
        }
        let ttl = persistent().with_ttl(Duration::from_secs(60));
        assert_eq!(
            zk.create(&child, b"", &ttl).await.unwrap_err(),
            Error::NoChildrenForEphemerals
        );
        // Nothing changed on the ephemeral.
        assert_eq!(stat_of(&zk, &eph).await, stat);

        // Another session sees the same owner.
        let other = connect(&server).await;
        assert_eq!(
            stat_of(&other, &eph).await.ephemeral_owner,
            zk.session_id().0
        );
        assert_ne!(other.session_id(), zk.session_id());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_suffix_counts_child_creations() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("sequential");
        zk.create(&root, b"", &persistent()).await.unwrap();

        let (stat, seq) = zk
            .create(
                &format!("{root}/s-"),
                b"",
                &mode(CreateMode::PersistentSequential),
            )
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), 0);
        assert_eq!(seq.to_string(), "0000000000");
        assert_fresh(&stat, 0, 0);

        // The suffix is NOT the client-visible cversion: ZooKeeper stores the number of
        // child *creations* and reports cversion as 2*creations - numChildren
        // (DataNode.copyStat), while the sequential suffix is the stored creation count
        // (PrepRequestProcessor). Deletes bump the visible cversion but not the suffix.
        zk.create(&format!("{root}/plain"), b"", &persistent())
            .await
            .unwrap();
        zk.delete(&format!("{root}/plain"), None).await.unwrap();
        assert_eq!(
            stat_of(&zk, &root).await.cversion,
            3,
            "two creates and one delete"
        );

        let (stat, seq) = zk
            .create(
                &format!("{root}/e-"),
                b"x",
                &mode(CreateMode::EphemeralSequential),
            )
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), 2, "third child creation under the parent");
        assert_fresh(&stat, 1, zk.session_id().0);

        // Deleting sequential nodes does not reuse numbers.
        zk.delete(&format!("{root}/s-0000000000"), None)
            .await
            .unwrap();
        let (_, seq) = zk
            .create(
                &format!("{root}/s-"),
                b"",
                &mode(CreateMode::PersistentSequential),
            )
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), 3);

        // Failed creates do not consume a number.
        assert_eq!(
            zk.create(&format!("{root}/e-0000000002/x"), b"", &persistent())
                .await
                .unwrap_err(),
            Error::NoChildrenForEphemerals
        );
        assert_eq!(
            zk.create(&format!("{root}/e-0000000002"), b"", &persistent())
                .await
                .unwrap_err(),
            Error::NodeExists
        );

        // A prefix ending in '/' makes the name just the counter.
        let (_, seq) = zk
            .create(
                &format!("{root}/"),
                b"",
                &mode(CreateMode::PersistentSequential),
            )
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), 4);

        // Same numbering for the sequential TTL mode.
        let ttl_seq = CreateMode::PersistentSequential
            .with_acls(Acls::anyone_all())
            .with_ttl(Duration::from_secs(60));
        let (_, seq) = zk
            .create(&format!("{root}/t-"), b"", &ttl_seq)
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), 5);

        assert_eq!(
            sorted_children(&zk, &root).await,
            ["0000000004", "e-0000000002", "s-0000000003", "t-0000000005"]
        );
        let stat = stat_of(&zk, &root).await;
        // 6 creations, 2 deletions.
        assert_eq!((stat.cversion, stat.num_children), (8, 4));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_and_ttl_nodes_report_plain_stats() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("special-modes");
        zk.create(&root, b"", &persistent()).await.unwrap();

        // ZooKeeper keeps the container/TTL markers in ephemeralOwner internally but
        // reports 0 to clients (DataNode.getClientEphemeralOwner).
        let container = format!("{root}/container");
        let (stat, seq) = zk
            .create(&container, b"c", &mode(CreateMode::Container))
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), -1);
        assert_fresh(&stat, 1, 0);
        assert_eq!(stat_of(&zk, &container).await, stat);
        // Containers take any kind of child.
        zk.create(&format!("{container}/p"), b"", &persistent())
            .await
            .unwrap();
        zk.create(&format!("{container}/e"), b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        assert_eq!(stat_of(&zk, &container).await.num_children, 2);

        let ttl = format!("{root}/ttl");
        let (stat, _) = zk
            .create(
                &ttl,
                b"tt",
                &persistent().with_ttl(Duration::from_secs(120)),
            )
            .await
            .unwrap();
        assert_fresh(&stat, 2, 0);
        assert_eq!(stat_of(&zk, &ttl).await, stat);
        zk.create(&format!("{ttl}/child"), b"", &persistent())
            .await
            .unwrap();
        assert_eq!(stat_of(&zk, &ttl).await.num_children, 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_without_extended_types_is_unimplemented() {
    let server = TestServer::start_with(|cfg| cfg.extended_types_enabled = false);
    if !server.is_local() {
        // An external target is configured with extendedTypesEnabled=true.
        return;
    }
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("ttl-disabled");
        let err = zk
            .create(&root, b"", &persistent().with_ttl(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(err, Error::Unimplemented);
        assert_eq!(zk.check_stat(&root).await.unwrap(), None);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_checks_version_and_existence() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("delete");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let node = format!("{root}/n");
        zk.create(&node, b"", &persistent()).await.unwrap();
        zk.set_data(&node, b"1", None).await.unwrap();
        zk.set_data(&node, b"2", None).await.unwrap();
        assert_eq!(
            zk.delete(&node, Some(1)).await.unwrap_err(),
            Error::BadVersion
        );
        assert_eq!(
            zk.delete(&node, Some(3)).await.unwrap_err(),
            Error::BadVersion
        );
        assert!(
            zk.check_stat(&node).await.unwrap().is_some(),
            "BadVersion deletes nothing"
        );
        zk.delete(&node, Some(2)).await.unwrap();
        assert_eq!(zk.check_stat(&node).await.unwrap(), None);
        assert_eq!(zk.delete(&node, None).await.unwrap_err(), Error::NoNode);
        assert_eq!(zk.delete(&node, Some(0)).await.unwrap_err(), Error::NoNode);

        // -1 matches any version.
        let other = format!("{root}/m");
        zk.create(&other, b"", &persistent()).await.unwrap();
        zk.set_data(&other, b"1", None).await.unwrap();
        zk.delete(&other, None).await.unwrap();

        // NotEmpty until the children are gone; version is irrelevant then.
        let child = format!("{root}/c");
        zk.create(&child, b"", &persistent()).await.unwrap();
        assert_eq!(zk.delete(&root, None).await.unwrap_err(), Error::NotEmpty);
        assert_eq!(
            zk.delete(&root, Some(0)).await.unwrap_err(),
            Error::NotEmpty
        );
        zk.delete(&child, Some(0)).await.unwrap();
        zk.delete(&root, Some(0)).await.unwrap();
        assert_eq!(zk.check_stat(&root).await.unwrap(), None);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_data_bumps_version_and_mzxid() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("set-data");
        let (created, _) = zk.create(&root, b"abc", &persistent()).await.unwrap();
        zk.create(&format!("{root}/child"), b"", &persistent())
            .await
            .unwrap();
        let before = stat_of(&zk, &root).await;

        let stat = zk.set_data(&root, b"hello world", Some(0)).await.unwrap();
        assert_eq!(stat.version, 1);
        assert!(stat.mzxid > before.pzxid, "new zxid for the write");
        assert!(stat.mtime >= stat.ctime);
        assert_eq!(stat.data_length, 11);
        assert_eq!(stat.czxid, created.czxid);
        assert_eq!(stat.ctime, created.ctime);
        assert_eq!(
            (stat.cversion, stat.num_children, stat.pzxid),
            (before.cversion, 1, before.pzxid)
        );
        assert_eq!(stat.aversion, 0);
        assert_eq!(
            zk.get_data(&root).await.unwrap(),
            (b"hello world".to_vec(), stat)
        );

        assert_eq!(
            zk.set_data(&root, b"x", Some(0)).await.unwrap_err(),
            Error::BadVersion
        );
        assert_eq!(
            zk.set_data(&root, b"x", Some(2)).await.unwrap_err(),
            Error::BadVersion
        );
        assert_eq!(
            zk.get_data(&root).await.unwrap(),
            (b"hello world".to_vec(), stat),
            "BadVersion writes nothing"
        );

        let stat2 = zk.set_data(&root, b"", Some(1)).await.unwrap();
        assert_eq!((stat2.version, stat2.data_length), (2, 0));
        assert!(stat2.mzxid > stat.mzxid);
        // Same data still counts as a change.
        let stat3 = zk.set_data(&root, b"", None).await.unwrap();
        assert_eq!(stat3.version, 3);
        assert!(stat3.mzxid > stat2.mzxid);
        assert_eq!(zk.get_data(&root).await.unwrap(), (Vec::new(), stat3));

        assert_eq!(
            zk.set_data(&format!("{root}/missing"), b"", None)
                .await
                .unwrap_err(),
            Error::NoNode
        );
        assert_eq!(
            zk.set_data(&format!("{root}/missing"), b"", Some(0))
                .await
                .unwrap_err(),
            Error::NoNode
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_missing_nodes() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let missing = format!("{}/missing", unique_root("missing"));
        assert_eq!(zk.check_stat(&missing).await.unwrap(), None);
        assert_eq!(zk.get_data(&missing).await.unwrap_err(), Error::NoNode);
        assert_eq!(zk.list_children(&missing).await.unwrap_err(), Error::NoNode);
        assert_eq!(zk.get_children(&missing).await.unwrap_err(), Error::NoNode);
        assert_eq!(zk.get_acl(&missing).await.unwrap_err(), Error::NoNode);
        assert_eq!(
            zk.count_descendants_number(&missing).await.unwrap_err(),
            Error::NoNode
        );
        // getEphemerals is a prefix scan: no NoNode.
        assert_eq!(
            zk.list_ephemerals(&missing).await.unwrap(),
            Vec::<String>::new()
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_listing_with_and_without_stat() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("children");
        zk.create(&root, b"data", &persistent()).await.unwrap();
        let (children, stat) = zk.get_children(&root).await.unwrap();
        assert!(children.is_empty());
        assert_eq!(stat, stat_of(&zk, &root).await);

        for name in ["b", "a", "c"] {
            zk.create(&format!("{root}/{name}"), b"", &persistent())
                .await
                .unwrap();
        }
        zk.create(&format!("{root}/a/nested"), b"", &persistent())
            .await
            .unwrap();
        assert_eq!(
            sorted_children(&zk, &root).await,
            ["a", "b", "c"],
            "only direct children, as names"
        );
        let (mut children, stat) = zk.get_children(&root).await.unwrap();
        children.sort();
        assert_eq!(children, ["a", "b", "c"]);
        assert_eq!(stat, stat_of(&zk, &root).await);
        assert_eq!(
            (stat.num_children, stat.cversion, stat.data_length),
            (3, 3, 4)
        );
        assert_eq!(sorted_children(&zk, &format!("{root}/a")).await, ["nested"]);
        assert!(sorted_children(&zk, &format!("{root}/b")).await.is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_descendants_is_recursive() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("descendants");
        zk.create(&root, b"", &persistent()).await.unwrap();
        assert_eq!(zk.count_descendants_number(&root).await.unwrap(), 0);
        for path in ["a", "a/b", "a/c", "a/b/d", "e"] {
            zk.create(&format!("{root}/{path}"), b"", &persistent())
                .await
                .unwrap();
        }
        zk.create(&format!("{root}/e/eph"), b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        assert_eq!(zk.count_descendants_number(&root).await.unwrap(), 6);
        assert_eq!(
            zk.count_descendants_number(&format!("{root}/a"))
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            zk.count_descendants_number(&format!("{root}/a/b"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            zk.count_descendants_number(&format!("{root}/a/c"))
                .await
                .unwrap(),
            0
        );
        zk.delete(&format!("{root}/a/b/d"), None).await.unwrap();
        assert_eq!(zk.count_descendants_number(&root).await.unwrap(), 5);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_ephemerals_is_per_session_string_prefix() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let other = connect(&server).await;
        let root = unique_root("ephemerals");
        zk.create(&root, b"", &persistent()).await.unwrap();
        assert_eq!(zk.list_ephemerals("/").await.unwrap(), Vec::<String>::new());

        zk.create(&format!("{root}/e1"), b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        zk.create(&format!("{root}/ep"), b"", &persistent())
            .await
            .unwrap();
        zk.create(&format!("{root}/ep/x"), b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
        // Third creation directly under root ("ep/x" is under "ep").
        zk.create(
            &format!("{root}/f"),
            b"",
            &mode(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
        other
            .create(
                &format!("{root}/e-other"),
                b"",
                &mode(CreateMode::Ephemeral),
            )
            .await
            .unwrap();

        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let mine = [
            format!("{root}/e1"),
            format!("{root}/ep/x"),
            format!("{root}/f0000000002"),
        ];
        assert_eq!(sorted(zk.list_ephemerals("/").await.unwrap()), mine);
        assert_eq!(sorted(zk.list_ephemerals(&root).await.unwrap()), mine);
        // A plain string prefix, not a path prefix: "{root}/e" matches "e1" and "ep/x".
        assert_eq!(
            sorted(zk.list_ephemerals(&format!("{root}/e")).await.unwrap()),
            mine[..2]
        );
        // The node itself is included when it is ephemeral.
        assert_eq!(
            zk.list_ephemerals(&format!("{root}/e1")).await.unwrap(),
            [format!("{root}/e1")]
        );
        assert_eq!(
            other.list_ephemerals("/").await.unwrap(),
            [format!("{root}/e-other")]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_succeeds_for_any_path() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("sync");
        zk.create(&root, b"", &persistent()).await.unwrap();
        zk.sync(&root).await.unwrap();
        zk.sync("/").await.unwrap();
        // sync does not look the path up.
        zk.sync(&format!("{root}/missing")).await.unwrap();
        // Requests after a sync see everything before it.
        zk.set_data(&root, b"v", None).await.unwrap();
        zk.sync(&root).await.unwrap();
        assert_eq!(zk.get_data(&root).await.unwrap().0, b"v");
    })
    .await
}

fn sorted_users(mut users: Vec<AuthUser>) -> Vec<AuthUser> {
    users.sort_by(|a, b| (a.scheme(), a.user()).cmp(&(b.scheme(), b.user())));
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_lists_ip_and_digest_identities() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        // Every connection carries its ip identity.
        assert_eq!(
            zk.list_auth_users().await.unwrap(),
            [AuthUser::new("ip", "127.0.0.1")]
        );
        zk.auth("digest", b"user:pass").await.unwrap();
        // ZooKeeper keeps auth ids in a hash set: the order is unspecified.
        assert_eq!(
            sorted_users(zk.list_auth_users().await.unwrap()),
            [
                AuthUser::new("digest", "user"),
                AuthUser::new("ip", "127.0.0.1")
            ],
            "digest identity is reported by user name, not by digest"
        );
        let authed = tokio::time::timeout(
            WAIT,
            Client::connector()
                .with_auth("digest", b"other:secret")
                .connect(&server.addr),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            sorted_users(authed.list_auth_users().await.unwrap()),
            [
                AuthUser::new("digest", "other"),
                AuthUser::new("ip", "127.0.0.1")
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mkdir_creates_missing_ancestors() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("mkdir");
        let deep = format!("{root}/a/b/c");
        zk.mkdir(&deep, &persistent()).await.unwrap();
        for path in [
            root.clone(),
            format!("{root}/a"),
            format!("{root}/a/b"),
            deep.clone(),
        ] {
            let stat = stat_of(&zk, &path).await;
            assert_eq!(stat.ephemeral_owner, 0);
        }
        assert_eq!(zk.count_descendants_number(&root).await.unwrap(), 3);
        // Idempotent: existing directories are fine.
        zk.mkdir(&deep, &persistent()).await.unwrap();
        zk.mkdir(&format!("{root}/a/x"), &mode(CreateMode::Container))
            .await
            .unwrap();
        assert_eq!(sorted_children(&zk, &format!("{root}/a")).await, ["b", "x"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_nodes_exist_and_cannot_be_deleted() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        assert!(zk.check_stat("/").await.unwrap().is_some());
        let zookeeper = stat_of(&zk, "/zookeeper").await;
        assert_eq!(zookeeper.ephemeral_owner, 0);
        assert_eq!(zookeeper.num_children, 2);
        assert_eq!(
            sorted_children(&zk, "/zookeeper").await,
            ["config", "quota"]
        );
        assert!(zk.check_stat("/zookeeper/quota").await.unwrap().is_some());
        assert!(zk.check_stat("/zookeeper/config").await.unwrap().is_some());

        for path in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            let err = zk.delete(path, None).await.unwrap_err();
            assert!(
                matches!(err, Error::BadArguments(_)),
                "delete {path}: {err:?}"
            );
            assert!(
                zk.check_stat(path).await.unwrap().is_some(),
                "{path} survives"
            );
        }
        // /zookeeper/config is read-only for everyone.
        assert_eq!(
            zk.set_data("/zookeeper/config", b"x", None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        let (acl, _) = zk.get_acl("/zookeeper/config").await.unwrap();
        assert_eq!(acl, &Acls::anyone_read() as &[_]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_config_reads_the_config_node() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let (data, stat) = zk.get_config().await.unwrap();
        let (plain_data, plain_stat) = zk.get_data("/zookeeper/config").await.unwrap();
        assert_eq!(data, plain_data);
        assert_eq!(stat, plain_stat);
        // A standalone server without dynamic reconfiguration has no membership text.
        assert_eq!(data, Vec::<u8>::new());
        assert_eq!(stat.data_length, 0);

        // getConfig ignores the chroot.
        let root = unique_root("config-chroot");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let chrooted = zk.clone().chroot(root.as_str()).unwrap();
        assert_eq!(chrooted.get_config().await.unwrap(), (data, stat));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_is_disabled() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let joining = EnsembleUpdate::Incremental {
            joinings: ["server.2=127.0.0.1:2888:3888;2182"].into_iter(),
            leavings: [""].into_iter(),
        };
        assert_eq!(
            zk.update_ensemble(joining, None).await.unwrap_err(),
            Error::ReconfigDisabled
        );
        let replacing = EnsembleUpdate::New {
            ensemble: ["server.1=127.0.0.1:2888:3888;2181"].into_iter(),
        };
        assert_eq!(
            zk.update_ensemble(replacing, Some(0)).await.unwrap_err(),
            Error::ReconfigDisabled
        );
        // Just an error reply: the session goes on.
        assert_eq!(zk.state(), SessionState::SyncConnected);
        zk.get_data("/zookeeper/config").await.unwrap();
    })
    .await
}
