//! Rebuilding a tree from the nodes of a snapshot: the inverse of walking one.
//!
//! A snapshot stores, per node, what a client can see plus what the tree keeps
//! beside it (the persisted cversion, the ephemeral kind, null data). The
//! reader hands the nodes to [`TreeBuilder::add`] in pre-order, each with its
//! name and child count, so the structure comes with the nodes: no path
//! index, no parent lookups. The builder recomputes the derived `Stat` fields
//! and the indexes as it goes, so the result equals, node for node, the tree
//! that was written.
//!
//! Not restored, as in ZooKeeper (`DataTree.deserialize` rebuilds its
//! `ephemerals` map from the nodes): the empty ephemerals entry of a live session
//! whose ephemerals were all deleted (only `dump` shows it).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use imbl::shared_ptr::DefaultSharedPtr;
use imbl::OrdSet;

use super::data_tree::{AclList, DataTree, FixedHasher, Node, PathMap};
use super::ephemeral::{try_ephemeral_type, EphemeralType};
use super::path::{CONFIG_PATH, QUOTA_PATH, ZOOKEEPER_PATH};
use crate::proto::{Acl, Stat};

/// One node as a snapshot keeps it. Derived `Stat` fields (`cversion`,
/// `dataLength`, `numChildren`, the client's `ephemeralOwner`) are not part of
/// it: the builder recomputes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeImage {
    /// The data.
    pub data: Bytes,
    /// Null data (length -1 on the wire); only with empty `data`.
    pub data_null: bool,
    /// `czxid`.
    pub czxid: i64,
    /// `mzxid`.
    pub mzxid: i64,
    /// `pzxid`.
    pub pzxid: i64,
    /// `ctime`, ms since the epoch.
    pub ctime: i64,
    /// `mtime`, ms since the epoch.
    pub mtime: i64,
    /// `version`.
    pub version: i32,
    /// `aversion`.
    pub aversion: i32,
    /// `StatPersisted.cversion`: children ever created.
    pub persisted_cversion: i32,
    /// What the node is (persistent, ephemeral of a session, container, TTL).
    pub ephemeral_type: EphemeralType,
    /// The ACL, interned through [`TreeBuilder::intern_acl`].
    pub acl: AclList,
}

impl NodeImage {
    /// The image of a node of a live tree.
    pub fn of(node: &Node) -> NodeImage {
        NodeImage {
            data: node.data.clone(),
            data_null: node.data_null,
            czxid: node.stat.czxid,
            mzxid: node.stat.mzxid,
            pzxid: node.stat.pzxid,
            ctime: node.stat.ctime,
            mtime: node.stat.mtime,
            version: node.stat.version,
            aversion: node.stat.aversion,
            persisted_cversion: node.persisted_cversion,
            ephemeral_type: node.ephemeral_type,
            acl: node.acl.clone(),
        }
    }
}

/// Nodes that do not form a tree the server could have written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// A node name that cannot be a path component (empty, `.`, `..`, or with
    /// `/` or NUL in it), or a root with a name.
    #[error("invalid node name {name:?} under {parent:?}")]
    InvalidName {
        /// The parent's path (empty for the root).
        parent: String,
        /// The name.
        name: String,
    },
    /// Two roots.
    #[error("a second root node")]
    SecondRoot,
    /// The same name twice under one parent.
    #[error("node {path} appears twice")]
    Duplicate {
        /// The path.
        path: String,
    },
    /// The root or a system node (`/zookeeper`, its quota and config nodes) is missing.
    #[error("system node {path} is missing")]
    MissingSystemNode {
        /// The path.
        path: &'static str,
    },
    /// An ephemeral kind this tree cannot hold: a TTL node while
    /// `zookeeper.extendedTypesEnabled` is off, or an owner that means something else.
    #[error(
        "node {path} is {kind:?}, which this server cannot hold (TTL nodes need \
         zookeeper.extendedTypesEnabled=true)"
    )]
    Kind {
        /// The path.
        path: String,
        /// The stored kind.
        kind: EphemeralType,
    },
    /// A node announced more children than came.
    #[error("node {path} announced {missing} more children than came")]
    MissingChildren {
        /// The path.
        path: String,
        /// How many did not come.
        missing: u32,
    },
    /// Null data with bytes in it.
    #[error("node {path} has null data of non-zero length")]
    NullData {
        /// The path.
        path: String,
    },
}

/// Builds a [`DataTree`] from node images given in pre-order (each node
/// before its children, with how many children it has), as a snapshot stores
/// them.
///
/// A node is finished (its children linked, its derived `Stat` fields set)
/// as soon as its last child is, and goes into the tree's path map then, once:
/// only the nodes on the path from the root to the newest one are held open,
/// so memory stays at the tree being built.
#[derive(Debug)]
pub struct TreeBuilder {
    extended_types_enabled: bool,
    /// Interned lists by content (consulted once per list, not per node).
    acls: HashSet<AclList>,
    /// Interned lists by address, with how many nodes use each.
    acl_uses: HashMap<*const [Acl], (AclList, u64), FastHash>,
    /// The nodes whose children are still to come, the root first.
    open: Vec<OpenNode>,
    /// Finished nodes, with the hash the path map files each under.
    finished: Vec<(u32, Arc<str>, Arc<Node>)>,
    /// Finished nodes that the tree indexes (ephemerals, containers, TTLs).
    indexed: Vec<(EphemeralType, Arc<str>)>,
    /// `nodeDataSize` of the finished nodes.
    approximate_data_size: u64,
    root_added: bool,
    /// Reused to build each path.
    scratch: String,
}

/// A node whose children are still being added.
#[derive(Debug)]
struct OpenNode {
    path: Arc<str>,
    node: Node,
    children_left: u32,
    /// The name of the child added last: a name after it cannot be a
    /// duplicate, so children in name order (as snapshots store them) need
    /// no lookup.
    last_child: Option<Arc<str>>,
}

impl TreeBuilder {
    /// An empty builder for a tree with `zookeeper.extendedTypesEnabled` as given.
    pub fn new(extended_types_enabled: bool) -> TreeBuilder {
        TreeBuilder {
            extended_types_enabled,
            acls: HashSet::new(),
            acl_uses: HashMap::default(),
            open: Vec::new(),
            finished: Vec::new(),
            indexed: Vec::new(),
            approximate_data_size: 0,
            root_added: false,
            scratch: String::new(),
        }
    }

    /// The one shared list equal to `acl` (equal lists in a tree share one `Arc`).
    pub fn intern_acl(&mut self, acl: Vec<Acl>) -> AclList {
        let acl: AclList = Arc::from(acl);
        if let Some(interned) = self.acls.get(&acl) {
            return interned.clone();
        }
        self.acls.insert(acl.clone());
        self.acl_uses.insert(Arc::as_ptr(&acl), (acl.clone(), 0));
        acl
    }

    /// Makes room for `nodes` more nodes.
    pub fn reserve(&mut self, nodes: usize) {
        self.finished.reserve_exact(nodes);
    }

    /// Whether every node announced so far has come: the root was added and
    /// no node still waits for children.
    pub fn is_complete(&self) -> bool {
        self.root_added && self.open.is_empty()
    }

    /// Adds the next node in pre-order: first the root (`name` empty), then
    /// the `children` children of each node, each followed by its own
    /// subtree. Its ACL must come from [`TreeBuilder::intern_acl`]. On an
    /// error the builder is unchanged.
    pub fn add(&mut self, name: &str, children: u32, image: NodeImage) -> Result<(), RestoreError> {
        self.scratch.clear();
        match self.open.last() {
            None if !name.is_empty() => {
                return Err(RestoreError::InvalidName {
                    parent: String::new(),
                    name: name.into(),
                })
            }
            None if self.root_added => return Err(RestoreError::SecondRoot),
            None => self.scratch.push('/'),
            Some(parent) => {
                if !is_component(name) {
                    return Err(RestoreError::InvalidName {
                        parent: parent.path.to_string(),
                        name: name.into(),
                    });
                }
                if &*parent.path != "/" {
                    self.scratch.push_str(&parent.path);
                }
                self.scratch.push('/');
                self.scratch.push_str(name);
                let after_last = parent.last_child.as_deref().is_some_and(|last| name > last);
                if !after_last && parent.node.children.contains(name) {
                    return Err(RestoreError::Duplicate {
                        path: self.scratch.clone(),
                    });
                }
            }
        }
        let kind = image.ephemeral_type;
        if try_ephemeral_type(kind.ephemeral_owner(), self.extended_types_enabled) != Some(kind) {
            return Err(RestoreError::Kind {
                path: self.scratch.clone(),
                kind,
            });
        }
        if image.data_null && !image.data.is_empty() {
            return Err(RestoreError::NullData {
                path: self.scratch.clone(),
            });
        }
        self.acl_uses
            .get_mut(&Arc::as_ptr(&image.acl))
            .expect("node ACLs come from intern_acl")
            .1 += 1;
        if let Some(parent) = self.open.last_mut() {
            let name: Arc<str> = Arc::from(name);
            parent.node.children.insert(name.clone());
            parent.last_child = Some(name);
            parent.children_left -= 1;
        }
        self.root_added = true;
        let node = Node {
            data: image.data,
            data_null: image.data_null,
            stat: Stat {
                czxid: image.czxid,
                mzxid: image.mzxid,
                ctime: image.ctime,
                mtime: image.mtime,
                version: image.version,
                aversion: image.aversion,
                ephemeral_owner: kind.client_ephemeral_owner(),
                pzxid: image.pzxid,
                ..Stat::default()
            },
            acl: image.acl,
            children: OrdSet::new(),
            persisted_cversion: image.persisted_cversion,
            ephemeral_type: kind,
        };
        let path: Arc<str> = Arc::from(self.scratch.as_str());
        if children > 0 {
            self.open.push(OpenNode {
                path,
                node,
                children_left: children,
                last_child: None,
            });
            return Ok(());
        }
        self.finish_node(path, node);
        while self.open.last().is_some_and(|open| open.children_left == 0) {
            let done = self.open.pop().expect("checked");
            self.finish_node(done.path, done.node);
        }
        Ok(())
    }

    /// A node all of whose children are linked: its derived fields, its
    /// share of the data size and indexes, its place in the path map.
    fn finish_node(&mut self, path: Arc<str>, mut node: Node) {
        node.refresh_stat();
        self.approximate_data_size += super::data_tree::node_size(&path, &node.data);
        if node.ephemeral_type != EphemeralType::Void {
            self.indexed.push((node.ephemeral_type, path.clone()));
        }
        let hash = FixedHasher::default().hash_one(&*path) as u32;
        self.finished.push((hash, path, Arc::new(node)));
    }

    /// The tree, whose last applied zxid is `last_zxid`. Every announced
    /// child must have come, and the system nodes must be there.
    pub fn finish(self, last_zxid: i64) -> Result<DataTree, RestoreError> {
        if let Some(open) = self.open.last() {
            return Err(RestoreError::MissingChildren {
                path: open.path.to_string(),
                missing: open.children_left,
            });
        }
        let nodes = path_map(self.finished);
        for system in ["/", ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH] {
            if !nodes.contains_key(system) {
                return Err(RestoreError::MissingSystemNode { path: system });
            }
        }
        let acl_refs = self.acl_uses.into_values().filter(|(_, uses)| *uses > 0);
        Ok(DataTree::assemble(
            self.extended_types_enabled,
            last_zxid,
            nodes,
            acl_refs,
            self.approximate_data_size,
            self.indexed,
        ))
    }
}

/// The path map of `nodes`, each with the (truncated) hash the map files it
/// under. The map's trie takes the hash five bits at a time from the lowest,
/// so inserting in the order of the bit-reversed hash makes each insert walk
/// the trie path the previous one just walked, in cache, instead of a random
/// one; the paths, which the map hashes again and which now come in no
/// particular memory order, are fetched a few inserts ahead. For a million
/// nodes that took the inserts from ~600 to ~300 ms here.
fn path_map(mut nodes: Vec<(u32, Arc<str>, Arc<Node>)>) -> PathMap<Arc<Node>> {
    nodes.sort_unstable_by_key(|(hash, _, _)| hash.reverse_bits());
    let mut map = PathMap::default();
    let mut nodes = nodes.into_iter();
    loop {
        if let Some((_, path, _)) = nodes.as_slice().get(PREFETCH_DISTANCE) {
            prefetch(path.as_ptr());
        }
        let Some((_, path, node)) = nodes.next() else {
            break;
        };
        map.insert(path, node);
    }
    map
}

/// How many inserts ahead [`path_map`] fetches a path into the cache.
const PREFETCH_DISTANCE: usize = 16;

/// Asks the CPU to bring the cache line at `at` in (a hint: no effect on
/// what the program computes, on any address).
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing the program sees,
    // whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// A pre-order walk of a tree: each node after its parent, siblings in name
/// order. Yields each node's name (empty for the root) and the node; a node's
/// children are the next `node.children.len()` subtrees. This is the order a
/// snapshot stores, so [`TreeBuilder::add`] can take nodes as they come.
pub struct Preorder<'t> {
    tree: &'t DataTree,
    /// The path of each node on the way down, with its children still to visit.
    stack: Vec<(String, imbl::ordset::Iter<'t, Arc<str>, DefaultSharedPtr>)>,
    root_done: bool,
}

impl DataTree {
    /// Walks every node, parents before children (see [`Preorder`]).
    pub fn preorder(&self) -> Preorder<'_> {
        Preorder {
            tree: self,
            stack: Vec::new(),
            root_done: false,
        }
    }
}

impl<'t> Iterator for Preorder<'t> {
    type Item = (&'t str, &'t Node);

    fn next(&mut self) -> Option<(&'t str, &'t Node)> {
        if !self.root_done {
            self.root_done = true;
            let root = self.tree.get("/").expect("a tree has a root");
            self.stack.push(("/".to_owned(), root.children.iter()));
            return Some(("", root));
        }
        loop {
            let (path, children) = self.stack.last_mut()?;
            let Some(name) = children.next() else {
                self.stack.pop();
                continue;
            };
            let mut child_path = String::with_capacity(path.len() + 1 + name.len());
            if path != "/" {
                child_path.push_str(path);
            }
            child_path.push('/');
            child_path.push_str(name);
            let node = self.tree.get(&child_path).expect("a child's node exists");
            self.stack.push((child_path, node.children.iter()));
            return Some((name, node));
        }
    }
}

/// Whether `name` can be one component of a path: not empty, `.` or `..`, and
/// without `/` or NUL. The snapshot is checksummed and was written from a tree
/// whose paths passed `validatePath`, so this guards the structure against a
/// writer bug without paying for the full character rules on every node.
fn is_component(name: &str) -> bool {
    !matches!(name, "" | "." | "..") && !name.bytes().any(|b| b == b'/' || b == 0)
}

/// FxHash (rustc's hasher): fast on short keys. The builder's maps only hold
/// paths from a checksummed snapshot we wrote and ACL addresses, so they need
/// no protection against crafted collisions; the tree's own maps keep SipHash.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FxHasher {
    hash: u64,
}

/// A `BuildHasher` for [`FxHasher`].
pub(super) type FastHash = BuildHasherDefault<FxHasher>;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.hash = (self.hash.rotate_left(5) ^ u64::from(byte)).wrapping_mul(SEED);
        }
    }

    fn write_usize(&mut self, value: usize) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        self.hash = (self.hash.rotate_left(5) ^ value as u64).wrapping_mul(SEED);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeEvent;

    /// Rebuilds `tree` from its own node images, in pre-order.
    fn rebuild(tree: &DataTree) -> DataTree {
        let mut builder = TreeBuilder::new(tree.extended_types_enabled());
        for (name, node) in tree.preorder() {
            let mut image = NodeImage::of(node);
            image.acl = builder.intern_acl(node.acl.to_vec());
            builder
                .add(name, node.children.len() as u32, image)
                .unwrap();
        }
        assert!(builder.is_complete());
        builder.finish(tree.last_zxid()).unwrap()
    }

    fn assert_same(a: &DataTree, b: &DataTree) {
        assert_eq!(a.node_count(), b.node_count());
        for (path, node) in a.iter() {
            assert_eq!(b.get(path), Some(node), "{path}");
        }
        assert_eq!(a.last_zxid(), b.last_zxid());
        assert_eq!(a.approximate_data_size(), b.approximate_data_size());
        assert_eq!(a.acl_list_count(), b.acl_list_count());
        assert_eq!(a.ephemerals_count(), b.ephemerals_count());
        assert!(a.containers().eq(b.containers()));
        assert!(a.ttl_nodes().eq(b.ttl_nodes()));
        assert!(a.ephemeral_sessions().eq(b.ephemeral_sessions()));
    }

    #[test]
    fn preorder_visits_parents_first_and_siblings_in_order() {
        let mut tree = DataTree::new();
        let acl = tree.intern_acl(&Acl::open_unsafe());
        for path in ["/b", "/a", "/a/y", "/a/x", "/c"] {
            tree.create_node(
                path,
                Bytes::new(),
                acl.clone(),
                0,
                -1,
                1,
                1,
                &mut Vec::new(),
            )
            .unwrap();
        }
        let names: Vec<&str> = tree.preorder().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            ["", "a", "x", "y", "b", "c", "zookeeper", "config", "quota"]
        );
        assert_eq!(tree.preorder().count(), tree.nodes_len());
    }

    #[test]
    fn a_fresh_tree_rebuilds_exactly() {
        let tree = DataTree::new();
        assert_same(&tree, &rebuild(&tree));
    }

    #[test]
    fn every_kind_rebuilds_exactly_and_stays_usable() {
        let mut tree = DataTree::with_extended_types(true);
        let acl = tree.intern_acl(&Acl::open_unsafe());
        let mut events: Vec<TreeEvent> = Vec::new();
        let owners = [0, 0x55, crate::tree::CONTAINER_EPHEMERAL_OWNER, {
            crate::tree::ttl_to_ephemeral_owner(5000).unwrap()
        }];
        for (i, owner) in owners.into_iter().enumerate() {
            let path = format!("/n{i}");
            tree.create_node(
                &path,
                Bytes::from(path.clone()),
                acl.clone(),
                owner,
                -1,
                1 + i as i64,
                7,
                &mut events,
            )
            .unwrap();
        }
        tree.create_node("/n0/c", Bytes::new(), acl.clone(), 0, -1, 9, 9, &mut events)
            .unwrap();
        tree.mark_data_null("/n0/c").unwrap();
        tree.create_node("/n0/d", Bytes::new(), acl, 0, -1, 10, 9, &mut events)
            .unwrap();
        tree.delete_node("/n0/d", 11, &mut events).unwrap();
        tree.set_last_zxid(11);
        let mut copy = rebuild(&tree);
        assert_same(&tree, &copy);
        // The rebuilt tree keeps working like the original.
        let open = copy.intern_acl(&Acl::open_unsafe());
        copy.create_node("/n0/e", Bytes::new(), open, 0, -1, 12, 12, &mut events)
            .unwrap();
        assert_eq!(copy.get("/n0").unwrap().persisted_cversion, 3);
        assert_eq!(copy.kill_session::<&str>(0x55, &[], 13, &mut events), 1);
    }

    #[test]
    fn refuses_what_a_tree_cannot_hold() {
        let tree = DataTree::new();
        let image = |builder: &mut TreeBuilder, kind| {
            let mut image = NodeImage::of(tree.get("/zookeeper/quota").unwrap());
            image.acl = builder.intern_acl(Acl::open_unsafe());
            image.ephemeral_type = kind;
            image
        };
        let mut builder = TreeBuilder::new(false);
        let good = image(&mut builder, EphemeralType::Void);
        assert!(matches!(
            builder.add("x", 0, good.clone()),
            Err(RestoreError::InvalidName { .. })
        ));
        builder.add("", 3, good.clone()).unwrap();
        let ttl = image(&mut builder, EphemeralType::Ttl(5));
        assert!(matches!(
            builder.add("t", 0, ttl),
            Err(RestoreError::Kind { .. })
        ));
        let zero = image(&mut builder, EphemeralType::Normal(0));
        assert!(matches!(
            builder.add("z", 0, zero),
            Err(RestoreError::Kind { .. })
        ));
        for bad in ["", ".", "..", "a/b", "nul\0"] {
            assert!(
                matches!(
                    builder.add(bad, 0, good.clone()),
                    Err(RestoreError::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
        let mut null = good.clone();
        null.data_null = true;
        null.data = Bytes::from_static(b"x");
        assert!(matches!(
            builder.add("n", 0, null),
            Err(RestoreError::NullData { .. })
        ));
        // A refused node leaves the builder as it was: still 3 children to come.
        builder.add("b", 1, good.clone()).unwrap();
        builder.add("c", 0, good.clone()).unwrap();
        assert_eq!(
            builder.add("b", 0, good.clone()),
            Err(RestoreError::Duplicate { path: "/b".into() })
        );
        // Out of name order, a duplicate is still found.
        builder.add("a", 0, good.clone()).unwrap();
        assert_eq!(
            builder.add("a", 0, good.clone()),
            Err(RestoreError::Duplicate { path: "/a".into() })
        );
        assert!(!builder.is_complete());
        assert_eq!(
            builder.finish(0).unwrap_err(),
            RestoreError::MissingChildren {
                path: "/".into(),
                missing: 1
            }
        );

        let mut builder = TreeBuilder::new(false);
        let root = image(&mut builder, EphemeralType::Void);
        builder.add("", 0, root.clone()).unwrap();
        assert!(builder.is_complete());
        assert_eq!(builder.add("", 0, root), Err(RestoreError::SecondRoot));
        assert_eq!(
            builder.finish(0).unwrap_err(),
            RestoreError::MissingSystemNode { path: "/zookeeper" }
        );
    }
}
