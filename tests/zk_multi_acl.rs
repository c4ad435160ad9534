//! Transactions (multi, multiRead, check) and ACLs/authentication through the
//! `zookeeper-client` crate.
//!
//! Digest ids: `user:pass` is `user:smGaoVKd/cQkjm7b88GyorAUz20=` and
//! `other:secret` is `other:8q+cqA9FicvypK1WV0YuCD5XdXU=`
//! (`base64(sha1("user:password"))`, as ZooKeeper's DigestAuthenticationProvider).
//!
//! Against an external server (`COREKEEPER_TEST_TARGET`) all tests of a file share it
//! and run in parallel: give ZooKeeper `maxClientCnxns=0` (its default of 60 per IP
//! is too few).

mod common;

use std::time::Duration;

use common::{bounded, connect, persistent, unique_root, TestServer, WAIT};
use zookeeper_client::{
    Acl, Acls, AuthId, CheckWriteError, Client, CreateMode, Error, MultiReadResult,
    MultiWriteError, MultiWriteResult, MultiWriter, Permission, Stat,
};

const USER_DIGEST: &str = "user:smGaoVKd/cQkjm7b88GyorAUz20=";
const OTHER_DIGEST: &str = "other:8q+cqA9FicvypK1WV0YuCD5XdXU=";

async fn connect_as(server: &TestServer, credentials: &[u8]) -> Client {
    tokio::time::timeout(
        WAIT,
        Client::connector()
            .with_auth("digest", credentials)
            .connect(&server.addr),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

async fn stat_of(client: &Client, path: &str) -> Stat {
    client
        .check_stat(path)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{path} exists"))
}

async fn exists(client: &Client, path: &str) -> bool {
    client.check_stat(path).await.unwrap().is_some()
}

/// Create results inside a multi: 3.9 reports create2 sub-ops with their Stat
/// (ZOOKEEPER-4026); 3.8 reports them as plain creates, without Stat.
fn assert_multi_create_stat(server: &TestServer, stat: &Stat, expected: &Stat) {
    if stat.is_invalid() {
        assert!(
            !server.is_local(),
            "create2 inside multi must carry its Stat (3.9)"
        );
    } else {
        assert_eq!(stat, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_write_applies_all_ops_at_one_zxid() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("multi-ok");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let (a, seq_prefix, container, ttl) = (
            format!("{root}/a"),
            format!("{root}/s-"),
            format!("{root}/c"),
            format!("{root}/t"),
        );

        let mut writer = zk.new_multi_writer();
        writer.add_create(&a, b"1", &persistent()).unwrap();
        writer
            .add_create(
                &seq_prefix,
                b"s",
                &CreateMode::PersistentSequential.with_acls(Acls::anyone_all()),
            )
            .unwrap();
        writer.add_set_data(&a, b"22", Some(0)).unwrap();
        writer.add_check_version(&a, 1).unwrap();
        writer
            .add_create(
                &container,
                b"",
                &CreateMode::Container.with_acls(Acls::anyone_all()),
            )
            .unwrap();
        writer
            .add_create(&ttl, b"", &persistent().with_ttl(Duration::from_secs(60)))
            .unwrap();
        writer.add_delete(&a, Some(1)).unwrap();
        let results = writer.commit().await.unwrap();
        assert_eq!(results.len(), 7);

        // Sequential name: "a" was the first child creation, so the counter is 1.
        let seq_path = format!("{root}/s-0000000001");
        let seq_stat = stat_of(&zk, &seq_path).await;
        let zxid = seq_stat.czxid;
        assert!(zxid > 0);

        let MultiWriteResult::Create { path, stat } = &results[0] else {
            panic!("{:?}", results[0])
        };
        assert_eq!(path, &a);
        if !stat.is_invalid() {
            assert_eq!((stat.czxid, stat.version, stat.data_length), (zxid, 0, 1));
        } else {
            assert!(
                !server.is_local(),
                "create2 inside multi must carry its Stat (3.9)"
            );
        }
        let MultiWriteResult::Create { path, stat } = &results[1] else {
            panic!("{:?}", results[1])
        };
        assert_eq!(path, &seq_path);
        assert_multi_create_stat(&server, stat, &seq_stat);
        let MultiWriteResult::SetData { stat } = &results[2] else {
            panic!("{:?}", results[2])
        };
        // Created and changed in the same transaction.
        assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (zxid, zxid, zxid));
        assert_eq!(
            (stat.version, stat.data_length, stat.ephemeral_owner),
            (1, 2, 0)
        );
        assert!(
            matches!(results[3], MultiWriteResult::Check),
            "{:?}",
            results[3]
        );
        // Container and TTL creates come back as create2 with their Stat (also in 3.8).
        let MultiWriteResult::Create { path, stat } = &results[4] else {
            panic!("{:?}", results[4])
        };
        assert_eq!(path, &container);
        assert_eq!(stat, &stat_of(&zk, &container).await);
        assert_eq!((stat.czxid, stat.ephemeral_owner), (zxid, 0));
        let MultiWriteResult::Create { path, stat } = &results[5] else {
            panic!("{:?}", results[5])
        };
        assert_eq!(path, &ttl);
        assert_eq!(stat, &stat_of(&zk, &ttl).await);
        assert_eq!((stat.czxid, stat.ephemeral_owner), (zxid, 0));
        assert!(
            matches!(results[6], MultiWriteResult::Delete),
            "{:?}",
            results[6]
        );

        assert!(!exists(&zk, &a).await);
        let mut children = zk.list_children(&root).await.unwrap();
        children.sort();
        assert_eq!(children, ["c", "s-0000000001", "t"]);
        let parent = stat_of(&zk, &root).await;
        // 4 creates + 1 delete, all at the multi's zxid.
        assert_eq!(
            (parent.cversion, parent.num_children, parent.pzxid),
            (5, 3, zxid)
        );
        assert_eq!(stat_of(&zk, &seq_path).await.data_length, 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_write_sequential_creates_in_one_transaction() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("multi-seq");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
        let eseq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
        let mut writer = zk.new_multi_writer();
        writer.add_create(&format!("{root}/n-"), b"", &seq).unwrap();
        writer.add_create(&format!("{root}/n-"), b"", &seq).unwrap();
        writer
            .add_create(&format!("{root}/e-"), b"", &eseq)
            .unwrap();
        let results = writer.commit().await.unwrap();
        let paths: Vec<_> = results
            .iter()
            .map(|r| match r {
                MultiWriteResult::Create { path, .. } => path.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            paths,
            [
                format!("{root}/n-0000000000"),
                format!("{root}/n-0000000001"),
                format!("{root}/e-0000000002")
            ]
        );
        let eph = stat_of(&zk, &paths[2]).await;
        assert_eq!(eph.ephemeral_owner, zk.session_id().0);
        assert_eq!(stat_of(&zk, &paths[0]).await.czxid, eph.czxid);
        if let MultiWriteResult::Create { stat, .. } = &results[2] {
            assert_multi_create_stat(&server, stat, &eph);
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_write_applies_nothing() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("multi-fail");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let x = format!("{root}/x");
        zk.create(&x, b"orig", &persistent()).await.unwrap();
        let parent_before = stat_of(&zk, &root).await;
        let x_before = stat_of(&zk, &x).await;

        let mut writer = zk.new_multi_writer();
        writer
            .add_create(&format!("{root}/y"), b"", &persistent())
            .unwrap();
        writer.add_set_data(&x, b"changed", Some(0)).unwrap();
        writer
            .add_create(
                &format!("{root}/z-"),
                b"",
                &CreateMode::PersistentSequential.with_acls(Acls::anyone_all()),
            )
            .unwrap();
        writer.add_check_version(&x, 0).unwrap(); // fails: the set_data above made it 1
        writer
            .add_create(&format!("{root}/w"), b"", &persistent())
            .unwrap();
        writer.add_delete(&x, None).unwrap();
        assert_eq!(
            writer.commit().await.unwrap_err(),
            MultiWriteError::OperationFailed {
                index: 3,
                source: Error::BadVersion
            }
        );

        assert_eq!(zk.list_children(&root).await.unwrap(), ["x"]);
        assert_eq!(stat_of(&zk, &root).await, parent_before);
        assert_eq!(zk.get_data(&x).await.unwrap(), (b"orig".to_vec(), x_before));

        // The first op failing: each error kind is reported at index 0.
        type AddOp = fn(&mut MultiWriter<'_>, &str);
        let cases: [(AddOp, Error); 4] = [
            (
                |w, r| w.add_delete(&format!("{r}/missing"), None).unwrap(),
                Error::NoNode,
            ),
            (
                |w, r| w.add_create(&format!("{r}/x"), b"", &persistent()).unwrap(),
                Error::NodeExists,
            ),
            (|w, r| w.add_delete(r, None).unwrap(), Error::NotEmpty),
            (
                |w, r| w.add_set_data(&format!("{r}/x"), b"", Some(7)).unwrap(),
                Error::BadVersion,
            ),
        ];
        for (add, error) in cases {
            let mut writer = zk.new_multi_writer();
            add(&mut writer, &root);
            writer
                .add_create(&format!("{root}/after"), b"", &persistent())
                .unwrap();
            assert_eq!(
                writer.commit().await.unwrap_err(),
                MultiWriteError::OperationFailed {
                    index: 0,
                    source: error
                }
            );
        }
        // A failure after successful ops: the later op's error is reported.
        let mut writer = zk.new_multi_writer();
        writer
            .add_create(
                &format!("{root}/e"),
                b"",
                &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
            )
            .unwrap();
        writer
            .add_create(&format!("{root}/e/child"), b"", &persistent())
            .unwrap();
        assert_eq!(
            writer.commit().await.unwrap_err(),
            MultiWriteError::OperationFailed {
                index: 1,
                source: Error::NoChildrenForEphemerals
            }
        );
        assert_eq!(zk.list_children(&root).await.unwrap(), ["x"]);
        assert_eq!(stat_of(&zk, &root).await, parent_before);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_write_ops_see_earlier_ops() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("multi-chain");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let before = stat_of(&zk, &root).await;
        let (p, c) = (format!("{root}/p"), format!("{root}/p/c"));
        let mut writer = zk.new_multi_writer();
        writer.add_create(&p, b"", &persistent()).unwrap();
        writer.add_create(&c, b"", &persistent()).unwrap();
        writer.add_set_data(&c, b"1", Some(0)).unwrap();
        writer.add_set_data(&c, b"2", Some(1)).unwrap();
        writer.add_check_version(&c, 2).unwrap();
        writer.add_delete(&c, Some(2)).unwrap();
        writer.add_check_version(&p, 0).unwrap();
        writer.add_delete(&p, Some(0)).unwrap();
        let results = writer.commit().await.unwrap();
        assert_eq!(results.len(), 8);
        let MultiWriteResult::SetData { stat } = &results[3] else {
            panic!("{:?}", results[3])
        };
        assert_eq!((stat.version, stat.data_length), (2, 1));
        assert!(!exists(&zk, &p).await);
        let after = stat_of(&zk, &root).await;
        assert_eq!(
            (after.cversion, after.num_children),
            (before.cversion + 2, 0)
        );
        assert!(after.pzxid > before.pzxid);

        // Empty transactions do not reach the server and succeed trivially.
        assert!(zk.new_multi_writer().commit().await.unwrap().is_empty());
        assert!(zk.new_multi_reader().commit().await.unwrap().is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_writer_guards_writes_with_a_version_check() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("check-writer");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let (guard, target) = (format!("{root}/guard"), format!("{root}/target"));
        zk.create(&guard, b"", &persistent()).await.unwrap();
        zk.create(&target, b"", &persistent()).await.unwrap();
        zk.set_data(&guard, b"g", None).await.unwrap();

        let mut writer = zk.new_check_writer(&guard, Some(1)).unwrap();
        writer.add_set_data(&target, b"ok", None).unwrap();
        let results = writer.commit().await.unwrap();
        let [MultiWriteResult::SetData { stat }] = results.as_slice() else {
            panic!("{results:?}")
        };
        assert_eq!(stat.version, 1);

        let mut writer = zk.new_check_writer(&guard, Some(0)).unwrap();
        writer.add_set_data(&target, b"no", None).unwrap();
        assert_eq!(
            writer.commit().await.unwrap_err(),
            CheckWriteError::CheckFailed {
                source: Error::BadVersion
            }
        );

        let mut writer = zk
            .new_check_writer(&format!("{root}/missing"), None)
            .unwrap();
        writer.add_set_data(&target, b"no", None).unwrap();
        assert_eq!(
            writer.commit().await.unwrap_err(),
            CheckWriteError::CheckFailed {
                source: Error::NoNode
            }
        );

        // -1 only checks existence.
        let mut writer = zk.new_check_writer(&guard, None).unwrap();
        writer.add_delete(&target, Some(0)).unwrap();
        assert_eq!(
            writer.commit().await.unwrap_err(),
            CheckWriteError::OperationFailed {
                index: 0,
                source: Error::BadVersion
            }
        );
        assert_eq!(zk.get_data(&target).await.unwrap().0, b"ok");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_reports_each_result_independently() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("multi-read");
        zk.create(&root, b"root-data", &persistent()).await.unwrap();
        zk.create(&format!("{root}/a"), b"a", &persistent())
            .await
            .unwrap();
        zk.create(&format!("{root}/b"), b"", &persistent())
            .await
            .unwrap();

        let mut reader = zk.new_multi_reader();
        reader.add_get_data(&root).unwrap();
        reader.add_get_children(&root).unwrap();
        reader.add_get_data(&format!("{root}/missing")).unwrap();
        reader.add_get_children(&format!("{root}/missing")).unwrap();
        reader.add_get_data(&format!("{root}/a")).unwrap();
        reader.add_get_children(&format!("{root}/a")).unwrap();
        let results = reader.commit().await.unwrap();
        assert_eq!(results.len(), 6);

        let MultiReadResult::Data { data, stat } = &results[0] else {
            panic!("{:?}", results[0])
        };
        assert_eq!(data, b"root-data");
        assert_eq!(stat, &stat_of(&zk, &root).await);
        let MultiReadResult::Children { children } = &results[1] else {
            panic!("{:?}", results[1])
        };
        let mut children = children.clone();
        children.sort();
        assert_eq!(children, ["a", "b"]);
        assert!(
            matches!(&results[2], MultiReadResult::Error { err: Error::NoNode }),
            "{:?}",
            results[2]
        );
        assert!(
            matches!(&results[3], MultiReadResult::Error { err: Error::NoNode }),
            "{:?}",
            results[3]
        );
        let MultiReadResult::Data { data, stat } = &results[4] else {
            panic!("{:?}", results[4])
        };
        assert_eq!(data, b"a");
        assert_eq!(stat, &stat_of(&zk, &format!("{root}/a")).await);
        let MultiReadResult::Children { children } = &results[5] else {
            panic!("{:?}", results[5])
        };
        assert!(children.is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_reports_no_auth_per_op() {
    let server = TestServer::start();
    bounded(async {
        let owner = connect_as(&server, b"user:pass").await;
        let stranger = connect(&server).await;
        let root = unique_root("multi-read-acl");
        owner.create(&root, b"", &persistent()).await.unwrap();
        let secret = format!("{root}/secret");
        owner
            .create(
                &secret,
                b"s",
                &CreateMode::Persistent.with_acls(Acls::creator_all()),
            )
            .await
            .unwrap();

        let mut reader = stranger.new_multi_reader();
        reader.add_get_data(&secret).unwrap();
        reader.add_get_children(&root).unwrap();
        let results = reader.commit().await.unwrap();
        assert!(
            matches!(&results[0], MultiReadResult::Error { err: Error::NoAuth }),
            "{:?}",
            results[0]
        );
        assert!(
            matches!(&results[1], MultiReadResult::Children { children } if children == &["secret"])
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_acl_bumps_aversion_only() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("set-acl");
        zk.create(&root, b"d", &persistent()).await.unwrap();
        let before = stat_of(&zk, &root).await;
        let (acl, stat) = zk.get_acl(&root).await.unwrap();
        assert_eq!(acl, &Acls::anyone_all() as &[Acl]);
        assert_eq!(stat, before);

        let read_write = [Acl::new(
            Permission::READ | Permission::WRITE | Permission::ADMIN,
            AuthId::anyone(),
        )];
        let stat = zk.set_acl(&root, &read_write, Some(0)).await.unwrap();
        assert_eq!(stat.aversion, 1);
        // Nothing else moves: not even mzxid.
        assert_eq!(
            Stat {
                aversion: 0,
                ..stat
            },
            before
        );
        assert_eq!(
            zk.get_acl(&root).await.unwrap(),
            (read_write.to_vec(), stat)
        );

        assert_eq!(
            zk.set_acl(&root, &read_write, Some(0)).await.unwrap_err(),
            Error::BadVersion
        );
        assert_eq!(
            zk.set_acl(&root, &read_write, Some(5)).await.unwrap_err(),
            Error::BadVersion
        );
        let stat = zk.set_acl(&root, &Acls::anyone_all(), None).await.unwrap();
        assert_eq!(stat.aversion, 2);
        // The data version is independent of the ACL version.
        assert_eq!(zk.set_data(&root, b"x", Some(0)).await.unwrap().aversion, 2);

        let missing = format!("{root}/missing");
        assert_eq!(
            zk.set_acl(&missing, &Acls::anyone_all(), None)
                .await
                .unwrap_err(),
            Error::NoNode
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_requires_matching_credentials() {
    let server = TestServer::start();
    bounded(async {
        let owner = connect(&server).await;
        let root = unique_root("digest");
        owner.create(&root, b"", &persistent()).await.unwrap();
        let node = format!("{root}/n");
        let acl = [Acl::new(
            Permission::ALL,
            AuthId::new("digest", USER_DIGEST),
        )];
        // No need to be authenticated to create a node with someone's digest ACL.
        owner
            .create(
                &node,
                b"secret",
                &CreateMode::Persistent.with_acls(Acls::new(&acl)),
            )
            .await
            .unwrap();

        let stranger = connect(&server).await;
        assert_eq!(stranger.get_data(&node).await.unwrap_err(), Error::NoAuth);
        assert_eq!(
            stranger.set_data(&node, b"x", None).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            stranger.list_children(&node).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            stranger.get_children(&node).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(stranger.get_acl(&node).await.unwrap_err(), Error::NoAuth);
        assert_eq!(
            stranger
                .set_acl(&node, &Acls::anyone_all(), None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            stranger
                .create(&format!("{node}/c"), b"", &persistent())
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        // A missing parent is NoNode whatever the ACLs above it.
        assert_eq!(
            stranger
                .create(&format!("{node}/c/d"), b"", &persistent())
                .await
                .unwrap_err(),
            Error::NoNode
        );
        // Deleting a node needs DELETE on its parent, not on the node itself.
        stranger
            .create(&format!("{root}/free"), b"", &persistent())
            .await
            .unwrap();
        stranger
            .delete(&format!("{root}/free"), None)
            .await
            .unwrap();

        let wrong = connect_as(&server, b"user:wrong").await;
        assert_eq!(wrong.get_data(&node).await.unwrap_err(), Error::NoAuth);

        let user = connect_as(&server, b"user:pass").await;
        assert_eq!(user.get_data(&node).await.unwrap().0, b"secret");
        user.create(&format!("{node}/c"), b"", &persistent())
            .await
            .unwrap();
        // Auth added later on an open session counts from then on.
        stranger.auth("digest", b"user:pass").await.unwrap();
        assert_eq!(stranger.get_data(&node).await.unwrap().0, b"secret");
        stranger.delete(&format!("{node}/c"), None).await.unwrap();
        let stat = stranger.set_data(&node, b"mine", None).await.unwrap();
        assert_eq!(stat.version, 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_checked_bit_by_bit() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("perms");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let with = |perms: Permission| [Acl::new(perms, AuthId::anyone())];

        let read = format!("{root}/read");
        zk.create(
            &read,
            b"r",
            &CreateMode::Persistent.with_acls(Acls::new(&with(Permission::READ))),
        )
        .await
        .unwrap();
        assert_eq!(zk.get_data(&read).await.unwrap().0, b"r");
        assert!(zk.list_children(&read).await.unwrap().is_empty());
        assert_eq!(
            zk.set_data(&read, b"x", None).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            zk.create(&format!("{read}/c"), b"", &persistent())
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            zk.set_acl(&read, &Acls::anyone_all(), None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        // READ is enough for getACL.
        assert_eq!(zk.get_acl(&read).await.unwrap().0, with(Permission::READ));

        let create_only = format!("{root}/create");
        let acl = with(Permission::CREATE);
        zk.create(
            &create_only,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&acl)),
        )
        .await
        .unwrap();
        zk.create(&format!("{create_only}/c"), b"", &persistent())
            .await
            .unwrap();
        assert_eq!(
            zk.list_children(&create_only).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(zk.get_data(&create_only).await.unwrap_err(), Error::NoAuth);
        assert_eq!(
            zk.delete(&format!("{create_only}/c"), None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );

        let write_delete = format!("{root}/write-delete");
        let acl = with(Permission::WRITE | Permission::DELETE | Permission::CREATE);
        zk.create(
            &write_delete,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&acl)),
        )
        .await
        .unwrap();
        assert_eq!(
            zk.set_data(&write_delete, b"w", None)
                .await
                .unwrap()
                .version,
            1
        );
        zk.create(&format!("{write_delete}/c"), b"", &persistent())
            .await
            .unwrap();
        zk.delete(&format!("{write_delete}/c"), None).await.unwrap();
        // ADMIN is not READ: getACL needs one of READ or ADMIN.
        let admin = format!("{root}/admin");
        zk.create(
            &admin,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&with(Permission::ADMIN))),
        )
        .await
        .unwrap();
        assert_eq!(zk.get_data(&admin).await.unwrap_err(), Error::NoAuth);
        assert_eq!(zk.get_acl(&admin).await.unwrap().0, with(Permission::ADMIN));
        assert_eq!(zk.get_acl(&write_delete).await.unwrap_err(), Error::NoAuth);
        let stat = zk
            .set_acl(&admin, &Acls::anyone_all(), Some(0))
            .await
            .unwrap();
        assert_eq!(stat.aversion, 1);
        assert!(zk.get_data(&admin).await.is_ok());

        // An empty permission set locks everyone out, even of getACL.
        let none = format!("{root}/none");
        zk.create(
            &none,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&with(Permission::NONE))),
        )
        .await
        .unwrap();
        assert_eq!(zk.get_data(&none).await.unwrap_err(), Error::NoAuth);
        assert_eq!(zk.get_acl(&none).await.unwrap_err(), Error::NoAuth);
        zk.delete(&none, None).await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_all_uses_the_authenticated_identity() {
    let server = TestServer::start();
    bounded(async {
        let anonymous = connect(&server).await;
        let root = unique_root("creator-all");
        anonymous.create(&root, b"", &persistent()).await.unwrap();
        let node = format!("{root}/n");
        let creator_all = CreateMode::Persistent.with_acls(Acls::creator_all());
        // "auth" ids need at least one authenticated identity (ip does not count).
        assert_eq!(
            anonymous
                .create(&node, b"", &creator_all)
                .await
                .unwrap_err(),
            Error::InvalidAcl
        );
        assert!(!exists(&anonymous, &node).await);

        let user = connect_as(&server, b"user:pass").await;
        user.create(&node, b"x", &creator_all).await.unwrap();
        let expected = [Acl::new(
            Permission::ALL,
            AuthId::new("digest", USER_DIGEST),
        )];
        assert_eq!(user.get_acl(&node).await.unwrap().0, expected);

        // Same through an explicit `auth:` id with other permissions.
        let explicit = [Acl::new(
            Permission::READ | Permission::ADMIN,
            AuthId::authed(),
        )];
        let node2 = format!("{root}/n2");
        user.create(
            &node2,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&explicit)),
        )
        .await
        .unwrap();
        assert_eq!(
            user.get_acl(&node2).await.unwrap().0,
            [Acl::new(
                Permission::READ | Permission::ADMIN,
                AuthId::new("digest", USER_DIGEST)
            )]
        );
        assert_eq!(
            user.set_data(&node2, b"x", None).await.unwrap_err(),
            Error::NoAuth
        );

        // setACL with an auth id resolves the same way.
        let stat = user
            .set_acl(&node2, &Acls::creator_all(), None)
            .await
            .unwrap();
        assert_eq!(stat.aversion, 1);
        assert_eq!(user.get_acl(&node2).await.unwrap().0, expected);

        let other = connect_as(&server, b"other:secret").await;
        assert_eq!(other.get_data(&node).await.unwrap_err(), Error::NoAuth);
        assert_eq!(anonymous.get_data(&node).await.unwrap_err(), Error::NoAuth);
        let mixed = [
            Acl::new(Permission::ALL, AuthId::new("digest", USER_DIGEST)),
            Acl::new(Permission::READ, AuthId::new("digest", OTHER_DIGEST)),
        ];
        user.set_acl(&node, &mixed, Some(0)).await.unwrap();
        assert_eq!(other.get_data(&node).await.unwrap().0, b"x");
        assert_eq!(
            other.set_data(&node, b"y", None).await.unwrap_err(),
            Error::NoAuth
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_acl_masks_digests_without_admin() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("acl-mask");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let node = format!("{root}/n");
        let acl = [
            Acl::new(Permission::READ, AuthId::anyone()),
            Acl::new(Permission::ALL, AuthId::new("digest", USER_DIGEST)),
        ];
        zk.create(
            &node,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&acl)),
        )
        .await
        .unwrap();
        // READ without ADMIN: digest passwords are replaced by "x".
        assert_eq!(
            zk.get_acl(&node).await.unwrap().0,
            [
                Acl::new(Permission::READ, AuthId::anyone()),
                Acl::new(Permission::ALL, AuthId::new("digest", "user:x"))
            ]
        );
        let user = connect_as(&server, b"user:pass").await;
        assert_eq!(user.get_acl(&node).await.unwrap().0, acl);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_acls_are_rejected() {
    let server = TestServer::start();
    bounded(async {
        let zk = connect(&server).await;
        let root = unique_root("invalid-acl");
        zk.create(&root, b"", &persistent()).await.unwrap();
        let node = format!("{root}/n");
        let invalid = [
            Acl::new(Permission::ALL, AuthId::new("nosuchscheme", "x")),
            Acl::new(Permission::ALL, AuthId::new("digest", "no-colon")),
            Acl::new(Permission::ALL, AuthId::new("ip", "not-an-address")),
            Acl::new(Permission::ALL, AuthId::new("world", "someone")),
        ];
        for acl in &invalid {
            let acls = [acl.clone()];
            let err = zk
                .create(
                    &node,
                    b"",
                    &CreateMode::Persistent.with_acls(Acls::new(&acls)),
                )
                .await
                .unwrap_err();
            assert_eq!(err, Error::InvalidAcl, "{acl:?}");
            assert_eq!(
                zk.set_acl(&root, &acls, None).await.unwrap_err(),
                Error::InvalidAcl,
                "{acl:?}"
            );
        }
        // One bad entry spoils the list.
        let mixed = [
            Acl::new(Permission::ALL, AuthId::anyone()),
            invalid[0].clone(),
        ];
        let err = zk
            .create(
                &node,
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&mixed)),
            )
            .await
            .unwrap_err();
        assert_eq!(err, Error::InvalidAcl);
        // The crate rejects an empty list for create itself; setACL sends it.
        assert_eq!(
            zk.set_acl(&root, &[], None).await.unwrap_err(),
            Error::InvalidAcl
        );
        assert!(!exists(&zk, &node).await);
        assert_eq!(stat_of(&zk, &root).await.aversion, 0);

        // Valid ip ACLs: a matching address and a non-matching network.
        let local = [Acl::new(Permission::ALL, AuthId::new("ip", "127.0.0.1"))];
        zk.create(
            &node,
            b"ip",
            &CreateMode::Persistent.with_acls(Acls::new(&local)),
        )
        .await
        .unwrap();
        assert_eq!(zk.get_data(&node).await.unwrap().0, b"ip");
        let remote = [Acl::new(Permission::ALL, AuthId::new("ip", "10.0.0.0/8"))];
        let far = format!("{root}/far");
        zk.create(
            &far,
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&remote)),
        )
        .await
        .unwrap();
        assert_eq!(zk.get_data(&far).await.unwrap_err(), Error::NoAuth);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_checks_read_permission_since_3_9() {
    let server = TestServer::start();
    bounded(async {
        let owner = connect_as(&server, b"user:pass").await;
        let root = unique_root("exists-acl");
        owner.create(&root, b"", &persistent()).await.unwrap();
        let node = format!("{root}/n");
        owner
            .create(
                &node,
                b"",
                &CreateMode::Persistent.with_acls(Acls::creator_all()),
            )
            .await
            .unwrap();
        assert!(owner.check_stat(&node).await.unwrap().is_some());

        let stranger = connect(&server).await;
        let result = stranger.check_stat(&node).await;
        if server.is_local() {
            // 3.9.2+ (and 3.8.4+): exists needs READ on an existing node.
            assert_eq!(result.unwrap_err(), Error::NoAuth);
        } else {
            // 3.8.0 answers with the Stat.
            assert!(
                matches!(result, Ok(Some(_)) | Err(Error::NoAuth)),
                "{result:?}"
            );
        }
        // A missing node is just missing.
        assert_eq!(
            stranger
                .check_stat(&format!("{root}/missing"))
                .await
                .unwrap(),
            None
        );
    })
    .await
}
