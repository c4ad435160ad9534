//! Model-based test of `tree::DataTree`: random sequences of creates (every kind),
//! deletes, setData, setACL and session closes, applied both to the tree and to a
//! plain `BTreeMap` model that spells ZooKeeper's DataTree rules out longhand. After
//! every step the two must agree on every node (data, full Stat, ACL, children), the
//! counts and the indexes, and an older clone of the tree must still equal the model
//! as it was when the clone was taken.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use corekeeper::proto::{perms, Acl, ErrorCode, Stat};
use corekeeper::tree::{self, DataTree, TreeEvent};
use proptest::prelude::*;

/// One znode as ZooKeeper persists it (`DataNode` + `StatPersisted`).
#[derive(Clone, Debug, PartialEq)]
struct ModelNode {
    data: Vec<u8>,
    acl: Vec<Acl>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    /// StatPersisted.cversion: children ever created here.
    creates: i32,
    aversion: i32,
    /// StatPersisted.ephemeralOwner.
    owner: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl,
}

#[derive(Clone, Debug)]
struct Model {
    extended: bool,
    nodes: BTreeMap<String, ModelNode>,
    /// Session -> its ephemeral paths. A session keeps its entry (even empty) until
    /// it is killed, like ZooKeeper's `ephemerals` map.
    ephemerals: BTreeMap<i64, BTreeSet<String>>,
}

fn parent_of(path: &str) -> String {
    let slash = path.rfind('/').unwrap();
    if slash == 0 {
        "/".to_string()
    } else {
        path[..slash].to_string()
    }
}

fn name_of(path: &str) -> &str {
    &path[path.rfind('/').unwrap() + 1..]
}

impl Model {
    fn new(extended: bool) -> Model {
        let system = |acl: Vec<Acl>, aversion: i32| ModelNode {
            data: Vec::new(),
            acl,
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            creates: 0,
            aversion,
            owner: 0,
        };
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), system(Acl::open_unsafe(), 0));
        nodes.insert("/zookeeper".to_string(), system(Acl::open_unsafe(), 0));
        nodes.insert(
            "/zookeeper/quota".to_string(),
            system(Acl::open_unsafe(), 0),
        );
        let read = vec![Acl::new(perms::READ, "world", "anyone")];
        nodes.insert("/zookeeper/config".to_string(), system(read, -1));
        Model {
            extended,
            nodes,
            ephemerals: BTreeMap::new(),
        }
    }

    /// What a persisted owner means (EphemeralType.get).
    fn kind(&self, owner: i64) -> Kind {
        let high_byte_ff = (owner as u64) >> 56 == 0xff;
        if self.extended && high_byte_ff {
            Kind::Ttl
        } else if owner == i64::MIN {
            Kind::Container
        } else if owner == 0 {
            Kind::Persistent
        } else {
            Kind::Ephemeral(owner)
        }
    }

    fn children(&self, path: &str) -> BTreeSet<String> {
        self.nodes
            .keys()
            .filter(|p| *p != "/" && parent_of(p) == path)
            .map(|p| name_of(p).to_string())
            .collect()
    }

    /// The Stat a client sees (DataNode.copyStat).
    fn stat(&self, path: &str) -> Stat {
        let n = &self.nodes[path];
        let num_children = self.children(path).len() as i32;
        Stat {
            czxid: n.czxid,
            mzxid: n.mzxid,
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: n.creates.wrapping_mul(2).wrapping_sub(num_children),
            aversion: n.aversion,
            ephemeral_owner: match self.kind(n.owner) {
                Kind::Ephemeral(session) => session,
                _ => 0,
            },
            data_length: n.data.len() as i32,
            num_children,
            pzxid: n.pzxid,
        }
    }

    fn is_special(path: &str) -> bool {
        ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"].contains(&path)
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<TreeEvent>,
    ) -> Result<Stat, ErrorCode> {
        if tree::validate_path(path, false).is_err() {
            return Err(ErrorCode::BadArguments);
        }
        let parent = parent_of(path);
        if !self.nodes.contains_key(&parent) {
            return Err(ErrorCode::NoNode);
        }
        if self.nodes.contains_key(path) {
            return Err(ErrorCode::NodeExists);
        }
        let p = self.nodes.get_mut(&parent).unwrap();
        let new_cversion = if parent_cversion == -1 {
            p.creates.wrapping_add(1)
        } else {
            parent_cversion
        };
        if new_cversion > p.creates {
            p.creates = new_cversion;
            p.pzxid = zxid;
        }
        let node = ModelNode {
            data: data.to_vec(),
            acl: acl.to_vec(),
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            creates: 0,
            aversion: 0,
            owner,
        };
        self.nodes.insert(path.to_string(), node);
        if let Kind::Ephemeral(session) = self.kind(owner) {
            self.ephemerals
                .entry(session)
                .or_default()
                .insert(path.to_string());
        }
        events.push(TreeEvent::Created(Arc::from(path)));
        events.push(TreeEvent::ChildrenChanged(Arc::from(parent.as_str())));
        Ok(self.stat(path))
    }

    fn delete(
        &mut self,
        path: &str,
        zxid: i64,
        events: &mut Vec<TreeEvent>,
    ) -> Result<(), ErrorCode> {
        if path.is_empty() || Model::is_special(path) {
            return Err(ErrorCode::BadArguments);
        }
        if !self.nodes.contains_key(path) {
            return Err(ErrorCode::NoNode);
        }
        if !self.children(path).is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        let node = self.nodes.remove(path).unwrap();
        let parent = parent_of(path);
        let p = self.nodes.get_mut(&parent).unwrap();
        if zxid > p.pzxid {
            p.pzxid = zxid;
        }
        if let Kind::Ephemeral(session) = self.kind(node.owner) {
            if let Some(paths) = self.ephemerals.get_mut(&session) {
                paths.remove(path);
            }
        }
        events.push(TreeEvent::Deleted(Arc::from(path)));
        events.push(TreeEvent::ChildrenChanged(Arc::from(parent.as_str())));
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &[u8],
        version: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<TreeEvent>,
    ) -> Result<Stat, ErrorCode> {
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        n.data = data.to_vec();
        n.version = version;
        n.mzxid = zxid;
        n.mtime = time;
        events.push(TreeEvent::DataChanged(Arc::from(path)));
        Ok(self.stat(path))
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        n.acl = acl.to_vec();
        n.aversion = version;
        Ok(self.stat(path))
    }

    fn kill_session(
        &mut self,
        session: i64,
        listed: &[String],
        zxid: i64,
        events: &mut Vec<TreeEvent>,
    ) -> usize {
        let mut deleted = 0;
        for path in listed {
            deleted += usize::from(self.delete(path, zxid, events).is_ok());
        }
        let remaining: Vec<String> = self
            .ephemerals
            .get(&session)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for path in &remaining {
            deleted += usize::from(self.delete(path, zxid, events).is_ok());
        }
        if self
            .ephemerals
            .get(&session)
            .is_some_and(|paths| paths.is_empty())
        {
            self.ephemerals.remove(&session);
        }
        deleted
    }

    fn approximate_data_size(&self) -> u64 {
        self.nodes
            .iter()
            .map(|(p, n)| (p.encode_utf16().count() + n.data.len()) as u64)
            .sum()
    }

    fn descendants(&self, path: &str) -> usize {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        self.nodes
            .keys()
            .filter(|p| *p != "/" && p.starts_with(&prefix))
            .count()
    }
}

/// Asserts the tree and the model agree everywhere.
fn check(tree: &DataTree, model: &Model) {
    assert_eq!(tree.node_count(), model.nodes.len() + 1);
    for (path, node) in tree.iter() {
        assert!(model.nodes.contains_key(&**path), "extra node {path}");
        assert_eq!(tree.get(path), Some(node));
    }
    for (path, m) in &model.nodes {
        let node = tree
            .get(path)
            .unwrap_or_else(|| panic!("missing node {path}"));
        assert_eq!(node.data.as_ref(), m.data.as_slice(), "data of {path}");
        assert_eq!(node.stat, model.stat(path), "stat of {path}");
        assert_eq!(&*node.acl, m.acl.as_slice(), "acl of {path}");
        assert_eq!(
            node.persisted_cversion, m.creates,
            "persisted cversion of {path}"
        );
        assert_eq!(node.persisted_ephemeral_owner(), m.owner, "owner of {path}");
        let children: BTreeSet<String> = node.children.iter().map(|c| c.to_string()).collect();
        assert_eq!(children, model.children(path), "children of {path}");
        assert_eq!(
            tree.all_children_number(path),
            Some(model.descendants(path)),
            "descendants of {path}"
        );
    }
    assert_eq!(
        tree.all_children_number("/x/y/z"),
        model.nodes.get("/x/y/z").map(|_| 0)
    );
    let sessions: Vec<(i64, usize)> = model
        .ephemerals
        .iter()
        .map(|(s, p)| (*s, p.len()))
        .collect();
    assert_eq!(tree.ephemeral_sessions().collect::<Vec<_>>(), sessions);
    for (session, paths) in &model.ephemerals {
        let got: Vec<String> = tree.ephemerals(*session).map(|p| p.to_string()).collect();
        assert_eq!(
            got,
            paths.iter().cloned().collect::<Vec<_>>(),
            "ephemerals of {session:#x}"
        );
    }
    assert_eq!(
        tree.ephemerals_count(),
        model.ephemerals.values().map(BTreeSet::len).sum::<usize>()
    );
    let of_kind = |kind: Kind| -> Vec<String> {
        model
            .nodes
            .iter()
            .filter(|(_, n)| model.kind(n.owner) == kind)
            .map(|(p, _)| p.clone())
            .collect()
    };
    assert_eq!(
        tree.containers().map(|p| p.to_string()).collect::<Vec<_>>(),
        of_kind(Kind::Container)
    );
    assert_eq!(
        tree.ttl_nodes().map(|p| p.to_string()).collect::<Vec<_>>(),
        of_kind(Kind::Ttl)
    );
    assert_eq!(tree.approximate_data_size(), model.approximate_data_size());
    let distinct_acls: BTreeSet<&Vec<Acl>> = model.nodes.values().map(|n| &n.acl).collect();
    assert_eq!(tree.acl_list_count(), distinct_acls.len());
}

#[derive(Clone, Debug)]
enum CreateKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

#[derive(Clone, Debug)]
enum ParentCversion {
    /// What prep sends: persisted + 1.
    Next,
    /// "current + 1" marker.
    MinusOne,
    /// A replayed, older or newer value.
    Offset(i32),
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        path: String,
        sequential: bool,
        kind: CreateKind,
        data: Vec<u8>,
        acl: usize,
        cversion: ParentCversion,
    },
    /// `zxid_back` > 0 replays the delete with an older zxid.
    Delete {
        path: String,
        zxid_back: i64,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: usize,
        version: i32,
    },
    KillSession {
        session: i64,
        list_some: bool,
    },
    /// Take a clone of the tree (and the model) to check against later.
    Snapshot,
}

const SESSIONS: [i64; 3] = [0x1_0000_0001, 0x1_0000_0002, 0x0200_0000_0000_0003];

fn acl_lists() -> Vec<Vec<Acl>> {
    vec![
        Acl::open_unsafe(),
        vec![Acl::new(perms::READ, "world", "anyone")],
        vec![
            Acl::new(perms::ALL, "digest", tree::digest("u:p")),
            Acl::new(perms::READ, "ip", "10.0.0.0/8"),
        ],
    ]
}

fn path_strategy() -> impl Strategy<Value = String> {
    let valid = prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
        .prop_map(|names| format!("/{}", names.join("/")));
    let odd = prop::sample::select(vec![
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
        "/zookeeper/a",
        "/a/",
        "a",
        "/a//b",
        "/a/.",
    ])
    .prop_map(str::to_string);
    prop_oneof![8 => valid, 1 => odd]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let data = prop::collection::vec(any::<u8>(), 0..6);
    let kind = prop_oneof![
        3 => Just(CreateKind::Persistent),
        2 => prop::sample::select(SESSIONS.to_vec()).prop_map(CreateKind::Ephemeral),
        1 => Just(CreateKind::Container),
        1 => (1i64..100_000).prop_map(CreateKind::Ttl),
    ];
    let cversion = prop_oneof![
        6 => Just(ParentCversion::Next),
        1 => Just(ParentCversion::MinusOne),
        1 => (-3i32..=3).prop_map(ParentCversion::Offset),
    ];
    prop_oneof![
        6 => (path_strategy(), any::<bool>(), kind, data.clone(), 0..3usize, cversion).prop_map(
            |(path, sequential, kind, data, acl, cversion)| Op::Create { path, sequential, kind, data, acl, cversion }
        ),
        3 => (path_strategy(), prop_oneof![3 => Just(0i64), 1 => 1i64..40])
            .prop_map(|(path, zxid_back)| Op::Delete { path, zxid_back }),
        2 => (path_strategy(), data, -1i32..5).prop_map(|(path, data, version)| Op::SetData { path, data, version }),
        1 => (path_strategy(), 0..3usize, -1i32..5).prop_map(|(path, acl, version)| Op::SetAcl { path, acl, version }),
        1 => (prop::sample::select(SESSIONS.to_vec()), any::<bool>())
            .prop_map(|(session, list_some)| Op::KillSession { session, list_some }),
        1 => Just(Op::Snapshot),
    ]
}

fn run(extended: bool, ops: Vec<Op>) {
    let mut tree = DataTree::with_extended_types(extended);
    let mut model = Model::new(extended);
    let acls = acl_lists();
    let mut snapshot: Option<(DataTree, Model)> = None;
    check(&tree, &model);
    for (step, op) in ops.into_iter().enumerate() {
        let zxid = 100 + step as i64;
        let time = 1_000_000 + 7 * step as i64;
        let mut tree_events = Vec::new();
        let mut model_events = Vec::new();
        match op {
            Op::Create {
                path,
                sequential,
                kind,
                data,
                acl,
                cversion,
            } => {
                let parent_creates = path
                    .rfind('/')
                    .and_then(|slash| {
                        model
                            .nodes
                            .get(if slash == 0 { "/" } else { &path[..slash] })
                    })
                    .map_or(0, |p| p.creates);
                let path = if sequential {
                    tree::sequential_name(&path, parent_creates)
                } else {
                    path
                };
                let parent_cversion = match cversion {
                    ParentCversion::Next => parent_creates.wrapping_add(1),
                    ParentCversion::MinusOne => -1,
                    ParentCversion::Offset(delta) => parent_creates.wrapping_add(delta),
                };
                let owner = match kind {
                    CreateKind::Persistent => 0,
                    CreateKind::Ephemeral(session) => session,
                    CreateKind::Container => tree::CONTAINER_EPHEMERAL_OWNER,
                    CreateKind::Ttl(ms) => tree::ttl_to_ephemeral_owner(ms).unwrap(),
                };
                let interned = tree.intern_acl(&acls[acl]);
                let got = tree.create_node(
                    &path,
                    Bytes::from(data.clone()),
                    interned,
                    owner,
                    parent_cversion,
                    zxid,
                    time,
                    &mut tree_events,
                );
                let want = model.create(
                    &path,
                    &data,
                    &acls[acl],
                    owner,
                    parent_cversion,
                    zxid,
                    time,
                    &mut model_events,
                );
                assert_eq!(got, want, "create {path}");
            }
            Op::Delete { path, zxid_back } => {
                let got = tree.delete_node(&path, zxid - zxid_back, &mut tree_events);
                let want = model.delete(&path, zxid - zxid_back, &mut model_events);
                assert_eq!(got, want, "delete {path}");
            }
            Op::SetData {
                path,
                data,
                version,
            } => {
                let got = tree.set_data(
                    &path,
                    Bytes::from(data.clone()),
                    version,
                    zxid,
                    time,
                    &mut tree_events,
                );
                let want = model.set_data(&path, &data, version, zxid, time, &mut model_events);
                assert_eq!(got, want, "setData {path}");
            }
            Op::SetAcl { path, acl, version } => {
                let got = tree.set_acl(&path, tree.intern_acl(&acls[acl]), version);
                let want = model.set_acl(&path, &acls[acl], version);
                assert_eq!(got, want, "setACL {path}");
            }
            Op::KillSession { session, list_some } => {
                // The txn lists the session's ephemerals as prep saw them (some of
                // them, to exercise both halves) plus one path that is already gone.
                let mut listed: Vec<String> =
                    tree.ephemerals(session).map(|p| p.to_string()).collect();
                if list_some {
                    listed.truncate(1);
                }
                listed.push("/gone".to_string());
                let got = tree.kill_session(session, &listed, zxid, &mut tree_events);
                let want = model.kill_session(session, &listed, zxid, &mut model_events);
                assert_eq!(got, want, "killSession {session:#x}");
            }
            Op::Snapshot => snapshot = Some((tree.clone(), model.clone())),
        }
        assert_eq!(tree_events, model_events, "events at step {step}");
        tree.set_last_zxid(zxid);
        check(&tree, &model);
        if let Some((old_tree, old_model)) = &snapshot {
            check(old_tree, old_model);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn tree_agrees_with_the_model(extended in any::<bool>(), ops in prop::collection::vec(op_strategy(), 1..80)) {
        run(extended, ops);
    }
}

/// A fixed sequence covering the sequential wrap and a stale replayed cversion.
#[test]
fn model_regression_sequential_and_replay() {
    let ops = vec![
        Op::Create {
            path: "/a".into(),
            sequential: false,
            kind: CreateKind::Persistent,
            data: vec![1],
            acl: 0,
            cversion: ParentCversion::Next,
        },
        Op::Snapshot,
        Op::Create {
            path: "/a/".into(),
            sequential: true,
            kind: CreateKind::Ephemeral(SESSIONS[0]),
            data: vec![],
            acl: 1,
            cversion: ParentCversion::Next,
        },
        Op::Create {
            path: "/a/b".into(),
            sequential: true,
            kind: CreateKind::Container,
            data: vec![],
            acl: 2,
            cversion: ParentCversion::Offset(-1),
        },
        Op::Delete {
            path: "/a/0000000000".into(),
            zxid_back: 0,
        },
        Op::KillSession {
            session: SESSIONS[0],
            list_some: false,
        },
        Op::SetData {
            path: "/a".into(),
            data: vec![9, 9],
            version: 1,
        },
        Op::SetAcl {
            path: "/a".into(),
            acl: 2,
            version: 1,
        },
    ];
    run(true, ops);
}
