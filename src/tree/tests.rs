//! Unit tests of the `DataTree` rules, each checked against DataTree.java behaviour.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::proto::{perms, Acl, ErrorCode, Stat};

const SESSION: i64 = 0x0100_0000_0000_0001;

fn open(tree: &DataTree) -> AclList {
    tree.intern_acl(&Acl::open_unsafe())
}

/// Creates `path` with the parent's next cversion, as prep would.
fn create(tree: &mut DataTree, path: &str, owner: i64, zxid: i64) -> Result<Stat, ErrorCode> {
    let acl = open(tree);
    let cversion = tree
        .get(parent(path))
        .map_or(0, |p| p.persisted_cversion + 1);
    tree.create_node(
        path,
        Bytes::from(path.to_string()),
        acl,
        owner,
        cversion,
        zxid,
        zxid * 10,
        &mut Vec::new(),
    )
}

fn created(path: &str) -> TreeEvent {
    TreeEvent::Created(Arc::from(path))
}

fn children_changed(path: &str) -> TreeEvent {
    TreeEvent::ChildrenChanged(Arc::from(path))
}

#[test]
fn fresh_tree_matches_zookeeper() {
    let tree = DataTree::new();
    let open_acl: &[Acl] = &Acl::open_unsafe();
    let root = tree.get("/").unwrap();
    assert_eq!(
        root.stat,
        Stat {
            cversion: -1,
            num_children: 1,
            ..Stat::default()
        }
    );
    assert_eq!(&*root.acl, open_acl);
    assert_eq!(
        root.children.iter().map(|c| &**c).collect::<Vec<_>>(),
        ["zookeeper"]
    );
    let zookeeper = tree.get("/zookeeper").unwrap();
    assert_eq!(
        zookeeper.stat,
        Stat {
            cversion: -2,
            num_children: 2,
            ..Stat::default()
        }
    );
    assert_eq!(
        zookeeper.children.iter().map(|c| &**c).collect::<Vec<_>>(),
        ["config", "quota"]
    );
    assert_eq!(&*zookeeper.acl, open_acl);
    let quota = tree.get("/zookeeper/quota").unwrap();
    assert_eq!(quota.stat, Stat::default());
    assert_eq!(&*quota.acl, open_acl);
    let config = tree.get("/zookeeper/config").unwrap();
    assert_eq!(
        config.stat,
        Stat {
            aversion: -1,
            ..Stat::default()
        }
    );
    assert_eq!(&*config.acl, &[Acl::new(perms::READ, "world", "anyone")]);
    assert!(acl::check_acl(&config.acl, perms::READ, &[]));
    assert!(!acl::check_acl(&config.acl, perms::WRITE, &[]));
    // The three open lists are one allocation.
    assert!(Arc::ptr_eq(&root.acl, &quota.acl));
    assert_eq!(tree.acl_list_count(), 2);

    assert_eq!(
        tree.node_count(),
        5,
        "ZooKeeper counts the root under \"\" and \"/\""
    );
    assert_eq!(tree.approximate_data_size(), 1 + 10 + 16 + 17);
    assert_eq!(tree.all_children_number("/"), Some(3));
    assert_eq!(tree.all_children_number("/zookeeper"), Some(2));
    assert_eq!(tree.all_children_number("/zookeeper/quota"), Some(0));
    assert_eq!(tree.all_children_number("/nope"), None);
    assert_eq!(
        tree.get("").map(|n| n.stat),
        Some(root.stat),
        "\"\" is the root alias"
    );
    assert!(tree.get("/zookeeper/").is_none());
    assert_eq!(tree.last_zxid(), 0);
    assert_eq!(tree.ephemerals_count(), 0);
    assert!(!tree.extended_types_enabled());
}

#[test]
fn create_sets_the_new_stat_and_the_parent() {
    let mut tree = DataTree::new();
    let mut events = Vec::new();
    let acl = open(&tree);
    let stat = tree
        .create_node(
            "/a",
            Bytes::from_static(b"hello"),
            acl,
            0,
            1,
            100,
            5000,
            &mut events,
        )
        .unwrap();
    let expected = Stat {
        czxid: 100,
        mzxid: 100,
        pzxid: 100,
        ctime: 5000,
        mtime: 5000,
        data_length: 5,
        ..Stat::default()
    };
    assert_eq!(stat, expected);
    let node = tree.get("/a").unwrap();
    assert_eq!(node.stat, expected);
    assert_eq!(node.data, Bytes::from_static(b"hello"));
    assert_eq!(events, vec![created("/a"), children_changed("/")]);

    // Root: persisted cversion 0 -> 1, two children: client cversion 2*1-2 = 0.
    let root = tree.get("/").unwrap();
    assert_eq!(root.persisted_cversion, 1);
    assert_eq!(root.stat.cversion, 0);
    assert_eq!(root.stat.num_children, 2);
    assert_eq!(root.stat.pzxid, 100);
    assert_eq!(tree.node_count(), 6);
    assert_eq!(tree.approximate_data_size(), 44 + 2 + 5);

    let mut events = Vec::new();
    let acl = open(&tree);
    tree.create_node("/a/b", Bytes::new(), acl, 0, -1, 101, 5001, &mut events)
        .unwrap();
    assert_eq!(events, vec![created("/a/b"), children_changed("/a")]);
    let a = tree.get("/a").unwrap();
    assert_eq!(
        (
            a.persisted_cversion,
            a.stat.cversion,
            a.stat.num_children,
            a.stat.pzxid
        ),
        (1, 1, 1, 101)
    );
    assert_eq!(a.stat.mzxid, 100, "a child create is not a data change");
    assert_eq!(tree.all_children_number("/a"), Some(1));
    assert_eq!(tree.all_children_number("/"), Some(5));
}

#[test]
fn parent_cversion_is_raised_only_when_larger() {
    let mut tree = DataTree::new();
    create(&mut tree, "/p", 0, 10).unwrap();
    let acl = open(&tree);
    tree.create_node(
        "/p/x",
        Bytes::new(),
        acl.clone(),
        0,
        5,
        11,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    let p = tree.get("/p").unwrap();
    assert_eq!((p.persisted_cversion, p.stat.pzxid), (5, 11));
    // A replayed txn carrying an older cversion adds the child but leaves both alone.
    tree.create_node(
        "/p/y",
        Bytes::new(),
        acl.clone(),
        0,
        3,
        12,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    let p = tree.get("/p").unwrap();
    assert_eq!(
        (p.persisted_cversion, p.stat.pzxid, p.stat.num_children),
        (5, 11, 2)
    );
    assert_eq!(p.stat.cversion, 2 * 5 - 2);
    // Equal is not larger either.
    tree.create_node(
        "/p/z",
        Bytes::new(),
        acl.clone(),
        0,
        5,
        13,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(tree.get("/p").unwrap().stat.pzxid, 11);
    // -1 means current + 1.
    tree.create_node("/p/w", Bytes::new(), acl, 0, -1, 14, 0, &mut Vec::new())
        .unwrap();
    let p = tree.get("/p").unwrap();
    assert_eq!((p.persisted_cversion, p.stat.pzxid), (6, 14));
}

#[test]
fn delete_raises_pzxid_only_and_counts_in_the_client_cversion() {
    let mut tree = DataTree::new();
    create(&mut tree, "/p", 0, 10).unwrap();
    create(&mut tree, "/p/a", 0, 11).unwrap();
    create(&mut tree, "/p/b", 0, 12).unwrap();
    let before = tree.get("/p").unwrap().clone();
    assert_eq!(
        (
            before.persisted_cversion,
            before.stat.cversion,
            before.stat.pzxid
        ),
        (2, 2, 12)
    );

    let mut events = Vec::new();
    tree.delete_node("/p/a", 20, &mut events).unwrap();
    assert_eq!(
        events,
        vec![
            TreeEvent::Deleted(Arc::from("/p/a")),
            children_changed("/p")
        ]
    );
    let p = tree.get("/p").unwrap();
    assert_eq!(
        p.persisted_cversion, 2,
        "delete does not touch the persisted cversion"
    );
    assert_eq!(
        p.stat.cversion, 3,
        "but the client sees one more child change"
    );
    assert_eq!(p.stat.num_children, 1);
    assert_eq!(p.stat.pzxid, 20);
    assert_eq!(p.stat.mzxid, 10);
    assert!(tree.get("/p/a").is_none());

    // A delete with a smaller zxid than the parent's pzxid leaves pzxid alone.
    let acl = open(&tree);
    tree.create_node("/p/c", Bytes::new(), acl, 0, 3, 30, 0, &mut Vec::new())
        .unwrap();
    tree.delete_node("/p/b", 25, &mut Vec::new()).unwrap();
    let p = tree.get("/p").unwrap();
    assert_eq!(
        (p.stat.pzxid, p.stat.cversion, p.stat.num_children),
        (30, 5, 1)
    );
    // Creating again after deletes: sequence numbers keep counting creates only.
    assert_eq!(
        sequential_name("/p/s-", p.persisted_cversion),
        "/p/s-0000000003"
    );
}

#[test]
fn failed_mutations_change_nothing() {
    let mut tree = DataTree::new();
    create(&mut tree, "/a", 0, 1).unwrap();
    create(&mut tree, "/a/b", 0, 2).unwrap();
    let before = tree.clone();
    let acl = open(&tree);
    let mut events = Vec::new();
    let mut try_create = |tree: &mut DataTree, path: &str, owner: i64| {
        tree.create_node(
            path,
            Bytes::new(),
            acl.clone(),
            owner,
            99,
            50,
            0,
            &mut events,
        )
    };
    assert_eq!(try_create(&mut tree, "/a", 0), Err(ErrorCode::NodeExists));
    assert_eq!(try_create(&mut tree, "/", 0), Err(ErrorCode::NodeExists));
    assert_eq!(try_create(&mut tree, "/x/y", 0), Err(ErrorCode::NoNode));
    assert_eq!(
        try_create(&mut tree, "/a/", 0),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(try_create(&mut tree, "a", 0), Err(ErrorCode::BadArguments));
    assert_eq!(
        try_create(&mut tree, "/a//b", 0),
        Err(ErrorCode::BadArguments)
    );
    let mut extended = DataTree::with_extended_types(true);
    let unknown_extended_owner = 0xff00_0100_0000_0001_u64 as i64;
    let extended_before = extended.clone();
    assert_eq!(
        try_create(&mut extended, "/t", unknown_extended_owner),
        Err(ErrorCode::BadArguments)
    );
    assert_same(&extended, &extended_before);

    assert_eq!(
        tree.delete_node("/a", 50, &mut events),
        Err(ErrorCode::NotEmpty)
    );
    assert_eq!(
        tree.delete_node("/nope", 50, &mut events),
        Err(ErrorCode::NoNode)
    );
    assert_eq!(
        tree.delete_node("/a/nope", 50, &mut events),
        Err(ErrorCode::NoNode)
    );
    for special in [
        "/",
        "",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
    ] {
        assert_eq!(
            tree.delete_node(special, 50, &mut events),
            Err(ErrorCode::BadArguments),
            "{special}"
        );
    }
    assert_eq!(
        tree.set_data("/nope", Bytes::new(), 1, 50, 0, &mut events),
        Err(ErrorCode::NoNode)
    );
    assert_eq!(
        tree.set_acl("/nope", acl.clone(), 1),
        Err(ErrorCode::NoNode)
    );
    assert!(events.is_empty());
    assert_same(&tree, &before);
}

/// Every node, stat and index of two trees agree.
fn assert_same(a: &DataTree, b: &DataTree) {
    assert_eq!(a.node_count(), b.node_count());
    for (path, node) in a.iter() {
        assert_eq!(Some(node), b.get(path), "{path}");
    }
    assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    assert_eq!(
        a.ephemeral_sessions().collect::<Vec<_>>(),
        b.ephemeral_sessions().collect::<Vec<_>>()
    );
    assert_eq!(
        a.containers().collect::<Vec<_>>(),
        b.containers().collect::<Vec<_>>()
    );
    assert_eq!(
        a.ttl_nodes().collect::<Vec<_>>(),
        b.ttl_nodes().collect::<Vec<_>>()
    );
    assert_eq!(a.acl_list_count(), b.acl_list_count());
}

#[test]
fn set_data_and_set_acl() {
    let mut tree = DataTree::new();
    create(&mut tree, "/a", 0, 1).unwrap();
    let mut events = Vec::new();
    let stat = tree
        .set_data(
            "/a",
            Bytes::from_static(b"0123456789"),
            7,
            9,
            900,
            &mut events,
        )
        .unwrap();
    assert_eq!(events, vec![TreeEvent::DataChanged(Arc::from("/a"))]);
    assert_eq!(
        stat,
        Stat {
            czxid: 1,
            mzxid: 9,
            pzxid: 1,
            ctime: 10,
            mtime: 900,
            version: 7,
            data_length: 10,
            ..Stat::default()
        }
    );
    assert_eq!(tree.approximate_data_size(), 44 + 2 + 10);
    assert_eq!(
        tree.get("/a").unwrap().data,
        Bytes::from_static(b"0123456789")
    );

    let digest_acl = tree.intern_acl(&[Acl::new(perms::ALL, "digest", acl::digest("u:p"))]);
    let stat_after_acl = tree.set_acl("/a", digest_acl.clone(), 3).unwrap();
    assert_eq!(
        stat_after_acl,
        Stat {
            aversion: 3,
            ..stat
        },
        "setACL changes aversion only"
    );
    assert_eq!(tree.get("/a").unwrap().acl, digest_acl);
    assert_eq!(tree.acl_list_count(), 3);
    // Setting the root's data counts once, as ZooKeeper's cached size does.
    tree.set_data("/", Bytes::from_static(b"xy"), 1, 10, 0, &mut Vec::new())
        .unwrap();
    assert_eq!(tree.approximate_data_size(), 44 + 2 + 10 + 2);
}

#[test]
fn acl_lists_are_interned_and_released() {
    let mut tree = DataTree::new();
    let list = vec![Acl::new(perms::READ, "ip", "10.0.0.0/8")];
    // A fresh Arc handed to create is replaced by the interned one.
    tree.create_node(
        "/a",
        Bytes::new(),
        Arc::from(list.clone()),
        0,
        1,
        1,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    tree.create_node(
        "/b",
        Bytes::new(),
        Arc::from(list.clone()),
        0,
        2,
        2,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    assert!(Arc::ptr_eq(
        &tree.get("/a").unwrap().acl,
        &tree.get("/b").unwrap().acl
    ));
    assert!(Arc::ptr_eq(
        &tree.intern_acl(&list),
        &tree.get("/a").unwrap().acl
    ));
    assert_eq!(tree.acl_list_count(), 3);
    tree.delete_node("/a", 3, &mut Vec::new()).unwrap();
    assert_eq!(tree.acl_list_count(), 3);
    let open_acl = open(&tree);
    tree.set_acl("/b", open_acl, 1).unwrap();
    assert_eq!(tree.acl_list_count(), 2, "an unused list is forgotten");
    assert!(Arc::ptr_eq(
        &tree.get("/b").unwrap().acl,
        &tree.get("/").unwrap().acl
    ));
}

#[test]
fn ephemeral_container_and_ttl_indexes() {
    let mut tree = DataTree::with_extended_types(true);
    let ttl_owner = ttl_to_ephemeral_owner(60_000).unwrap();
    create(&mut tree, "/e1", SESSION, 1).unwrap();
    create(&mut tree, "/e2", SESSION, 2).unwrap();
    create(&mut tree, "/o", SESSION + 1, 3).unwrap();
    let container_stat = create(&mut tree, "/c", CONTAINER_EPHEMERAL_OWNER, 4).unwrap();
    let ttl_stat = create(&mut tree, "/t", ttl_owner, 5).unwrap();
    assert_eq!(
        container_stat.ephemeral_owner, 0,
        "clients see 0 for containers"
    );
    assert_eq!(ttl_stat.ephemeral_owner, 0, "clients see 0 for TTL nodes");
    assert_eq!(tree.get("/e1").unwrap().stat.ephemeral_owner, SESSION);
    assert_eq!(
        tree.get("/t").unwrap().ephemeral_type,
        EphemeralType::Ttl(60_000)
    );
    assert_eq!(
        tree.get("/t").unwrap().persisted_ephemeral_owner(),
        ttl_owner
    );
    assert_eq!(
        tree.get("/c").unwrap().persisted_ephemeral_owner(),
        CONTAINER_EPHEMERAL_OWNER
    );

    let paths =
        |it: &mut dyn Iterator<Item = &Arc<str>>| it.map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(paths(&mut tree.ephemerals(SESSION)), ["/e1", "/e2"]);
    assert_eq!(paths(&mut tree.ephemerals(SESSION + 1)), ["/o"]);
    assert!(paths(&mut tree.ephemerals(42)).is_empty());
    assert_eq!(paths(&mut tree.containers()), ["/c"]);
    assert_eq!(paths(&mut tree.ttl_nodes()), ["/t"]);
    assert_eq!(tree.ephemerals_count(), 3);
    assert_eq!(
        tree.ephemeral_sessions().collect::<Vec<_>>(),
        [(SESSION, 2), (SESSION + 1, 1)]
    );

    tree.delete_node("/c", 6, &mut Vec::new()).unwrap();
    tree.delete_node("/t", 7, &mut Vec::new()).unwrap();
    tree.delete_node("/o", 8, &mut Vec::new()).unwrap();
    assert_eq!(tree.containers().count() + tree.ttl_nodes().count(), 0);
    assert_eq!(tree.ephemerals_count(), 2);
    // As in ZooKeeper's dump, the session keeps an empty entry until it is closed.
    assert_eq!(
        tree.ephemeral_sessions().collect::<Vec<_>>(),
        [(SESSION, 2), (SESSION + 1, 0)]
    );
    assert_eq!(
        tree.kill_session(SESSION + 1, &[] as &[&str], 9, &mut Vec::new()),
        0
    );
    assert_eq!(
        tree.ephemeral_sessions().collect::<Vec<_>>(),
        [(SESSION, 2)]
    );

    // Without extended types the same owner is a session of server 255.
    let mut plain = DataTree::new();
    create(&mut plain, "/t", ttl_owner, 1).unwrap();
    assert_eq!(plain.ttl_nodes().count(), 0);
    assert_eq!(paths(&mut plain.ephemerals(ttl_owner)), ["/t"]);
    assert_eq!(plain.get("/t").unwrap().stat.ephemeral_owner, ttl_owner);
    // Containers are containers either way.
    create(&mut plain, "/c", CONTAINER_EPHEMERAL_OWNER, 2).unwrap();
    assert_eq!(plain.containers().count(), 1);
}

#[test]
fn kill_session_deletes_listed_then_remaining_ephemerals() {
    let mut tree = DataTree::new();
    create(&mut tree, "/p", 0, 1).unwrap();
    create(&mut tree, "/p/e1", SESSION, 2).unwrap();
    create(&mut tree, "/p/e2", SESSION, 3).unwrap();
    create(&mut tree, "/p/e3", SESSION, 4).unwrap();
    create(&mut tree, "/other", SESSION + 1, 5).unwrap();
    let mut events = Vec::new();
    let deleted = tree.kill_session(SESSION, &["/p/e2", "/p/gone"], 10, &mut events);
    assert_eq!(deleted, 3);
    assert_eq!(
        events,
        vec![
            TreeEvent::Deleted(Arc::from("/p/e2")),
            children_changed("/p"),
            TreeEvent::Deleted(Arc::from("/p/e1")),
            children_changed("/p"),
            TreeEvent::Deleted(Arc::from("/p/e3")),
            children_changed("/p"),
        ]
    );
    assert_eq!(tree.ephemerals(SESSION).count(), 0);
    assert_eq!(
        tree.ephemeral_sessions().collect::<Vec<_>>(),
        [(SESSION + 1, 1)]
    );
    assert_eq!(tree.ephemerals_count(), 1);
    let p = tree.get("/p").unwrap();
    assert_eq!(
        (p.stat.num_children, p.stat.pzxid, p.stat.cversion),
        (0, 10, 6)
    );
}

#[test]
fn sequential_names_at_the_cversion_wrap() {
    let mut tree = DataTree::new();
    create(&mut tree, "/q", 0, 1).unwrap();
    let acl = open(&tree);
    tree.create_node(
        "/q/x",
        Bytes::new(),
        acl.clone(),
        0,
        i32::MAX,
        2,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    let q = tree.get("/q").unwrap();
    assert_eq!(q.persisted_cversion, i32::MAX);
    assert_eq!(
        q.stat.cversion,
        i32::MAX.wrapping_mul(2).wrapping_sub(1),
        "Java int arithmetic"
    );
    assert_eq!(
        sequential_name("/q/n-", q.persisted_cversion),
        "/q/n-2147483647"
    );
    let name = sequential_name("/q/n-", q.persisted_cversion);
    tree.create_node(
        &name,
        Bytes::new(),
        acl.clone(),
        0,
        i32::MAX.wrapping_add(1),
        3,
        0,
        &mut Vec::new(),
    )
    .unwrap();
    // The wrapped parentCVersion (-2147483648) is not larger: ZooKeeper leaves the
    // parent's cversion and pzxid as they were.
    let q = tree.get("/q").unwrap();
    assert_eq!(
        (q.persisted_cversion, q.stat.pzxid, q.stat.num_children),
        (i32::MAX, 2, 2)
    );
    assert_eq!(
        sequential_name("/q/n-", i32::MAX.wrapping_add(1)),
        "/q/n--2147483648"
    );
}

#[test]
fn a_clone_is_an_unchanging_version() {
    let mut tree = DataTree::with_extended_types(true);
    create(&mut tree, "/a", 0, 1).unwrap();
    create(&mut tree, "/a/e", SESSION, 2).unwrap();
    create(&mut tree, "/c", CONTAINER_EPHEMERAL_OWNER, 3).unwrap();
    let old = tree.clone();
    let old_copy_of_a = old.get("/a").unwrap().clone();
    let old_root = old.get("/").unwrap().clone();

    tree.set_data("/a", Bytes::from_static(b"new"), 1, 4, 0, &mut Vec::new())
        .unwrap();
    tree.delete_node("/a/e", 5, &mut Vec::new()).unwrap();
    tree.delete_node("/c", 6, &mut Vec::new()).unwrap();
    create(&mut tree, "/b", SESSION, 7).unwrap();
    let read_only = tree.intern_acl(&[Acl::new(perms::READ, "world", "anyone")]);
    tree.set_acl("/a", read_only, 1).unwrap();
    tree.set_last_zxid(7);

    assert_eq!(old.get("/a").unwrap(), &old_copy_of_a);
    assert_eq!(old.get("/").unwrap(), &old_root);
    assert!(old.get("/a/e").is_some());
    assert!(old.get("/b").is_none());
    assert_eq!(old.node_count(), 8);
    assert_eq!(
        old.ephemerals(SESSION)
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["/a/e"]
    );
    assert_eq!(old.containers().count(), 1);
    assert_eq!(old.last_zxid(), 0);
    assert_eq!(tree.get("/a").unwrap().stat.version, 1);
    assert_eq!(
        tree.ephemerals(SESSION)
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["/b"]
    );
}

#[test]
fn sizes_count_utf16_units() {
    let mut tree = DataTree::new();
    create(&mut tree, "/caf\u{e9}", 0, 1).unwrap();
    // Path "/café" is 5 UTF-16 units; its data (the path's UTF-8) is 6 bytes.
    assert_eq!(tree.approximate_data_size(), 44 + 5 + 6);
    tree.delete_node("/caf\u{e9}", 2, &mut Vec::new()).unwrap();
    assert_eq!(tree.approximate_data_size(), 44);
}

#[test]
fn the_tree_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DataTree>();
    assert_send_sync::<Node>();
    assert_send_sync::<TreeEvent>();
}
