//! Rebuilding a tree from the nodes of a snapshot: the inverse of [`DataTree::iter`].
//!
//! A snapshot stores, per node, what a client can see plus what the tree keeps
//! beside it (the persisted cversion, the ephemeral kind, null data), in no
//! particular order. [`TreeBuilder`] takes those [`NodeImage`]s, links children
//! to parents, recomputes the derived `Stat` fields and rebuilds the indexes, so
//! the result equals, node for node, the tree that was written.
//!
//! Not restored, as in ZooKeeper (`DataTree.deserialize` rebuilds its
//! `ephemerals` map from the nodes): the empty ephemerals entry of a live session
//! whose ephemerals were all deleted (only `dump` shows it).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use imbl::OrdSet;

use super::data_tree::{AclList, DataTree, Node, PathMap};
use super::ephemeral::{try_ephemeral_type, EphemeralType};
use super::path::{self, CONFIG_PATH, QUOTA_PATH, ZOOKEEPER_PATH};
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
    /// A path `validatePath` rejects.
    #[error("invalid path {path:?}")]
    InvalidPath {
        /// The path.
        path: String,
    },
    /// The same path twice.
    #[error("node {path} appears twice")]
    Duplicate {
        /// The path.
        path: String,
    },
    /// A node whose parent is missing.
    #[error("node {path} has no parent node")]
    Orphan {
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
    /// Null data with bytes in it.
    #[error("node {path} has null data of non-zero length")]
    NullData {
        /// The path.
        path: String,
    },
}

/// Builds a [`DataTree`] from node images in any order.
#[derive(Debug)]
pub struct TreeBuilder {
    extended_types_enabled: bool,
    /// Interned lists by content (consulted once per list, not per node).
    acls: HashSet<AclList>,
    /// Interned lists by address, with how many nodes use each.
    acl_uses: HashMap<*const [Acl], (AclList, u64), FastHash>,
    /// Node index by path.
    index: HashMap<Arc<str>, u32, FastHash>,
    paths: Vec<Arc<str>>,
    nodes: Vec<Node>,
}

impl TreeBuilder {
    /// An empty builder for a tree with `zookeeper.extendedTypesEnabled` as given,
    /// with room for `nodes` nodes.
    pub fn new(extended_types_enabled: bool, nodes: usize) -> TreeBuilder {
        TreeBuilder {
            extended_types_enabled,
            acls: HashSet::new(),
            acl_uses: HashMap::default(),
            index: HashMap::with_capacity_and_hasher(nodes, FastHash::default()),
            paths: Vec::with_capacity(nodes),
            nodes: Vec::with_capacity(nodes),
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

    /// Adds a node. Its ACL must come from [`TreeBuilder::intern_acl`].
    pub fn insert(&mut self, path: &str, image: NodeImage) -> Result<(), RestoreError> {
        if !is_well_formed(path) {
            return Err(RestoreError::InvalidPath { path: path.into() });
        }
        let kind = image.ephemeral_type;
        if try_ephemeral_type(kind.ephemeral_owner(), self.extended_types_enabled) != Some(kind) {
            return Err(RestoreError::Kind {
                path: path.into(),
                kind,
            });
        }
        if image.data_null && !image.data.is_empty() {
            return Err(RestoreError::NullData { path: path.into() });
        }
        let position = u32::try_from(self.nodes.len()).expect("a tree's nodes fit a u32");
        let path: Arc<str> = match self.index.entry(Arc::from(path)) {
            Entry::Occupied(_) => return Err(RestoreError::Duplicate { path: path.into() }),
            Entry::Vacant(slot) => {
                let path = slot.key().clone();
                slot.insert(position);
                path
            }
        };
        self.acl_uses
            .get_mut(&Arc::as_ptr(&image.acl))
            .expect("node ACLs come from intern_acl")
            .1 += 1;
        self.paths.push(path);
        self.nodes.push(Node {
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
        });
        Ok(())
    }

    /// Links every node to its parent and returns the tree, whose last applied
    /// zxid is `last_zxid`.
    pub fn finish(self, last_zxid: i64) -> Result<DataTree, RestoreError> {
        let TreeBuilder {
            extended_types_enabled,
            acl_uses,
            index,
            paths,
            mut nodes,
            ..
        } = self;
        for system in ["/", ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH] {
            if !index.contains_key(system) {
                return Err(RestoreError::MissingSystemNode { path: system });
            }
        }
        let mut children: Vec<Vec<Arc<str>>> = vec![Vec::new(); nodes.len()];
        for path in paths.iter().filter(|path| &***path != "/") {
            let parent = match path::parent(path) {
                "" => "/",
                parent => parent,
            };
            let Some(&parent) = index.get(parent) else {
                return Err(RestoreError::Orphan {
                    path: path.to_string(),
                });
            };
            children[parent as usize].push(Arc::from(path::name(path)));
        }
        drop(index);
        for (node, names) in nodes.iter_mut().zip(children) {
            node.children = names.into_iter().collect();
            node.refresh_stat();
        }
        let tree: PathMap<Arc<Node>> = paths
            .into_iter()
            .zip(nodes.into_iter().map(Arc::new))
            .collect();
        let acl_refs = acl_uses.into_values().filter(|(_, uses)| *uses > 0);
        Ok(DataTree::assemble(
            extended_types_enabled,
            last_zxid,
            tree,
            acl_refs,
        ))
    }
}

/// Whether `path` has the shape the tree relies on: `/`, or `/`-separated
/// components that are not empty, `.` or `..` and hold no NUL. The snapshot is
/// checksummed and was written from a tree whose paths passed `validatePath`, so
/// this guards the structure against a writer bug without paying for the full
/// character rules on every node at startup.
fn is_well_formed(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    !path.contains('\0')
        && rest
            .split('/')
            .all(|component| !matches!(component, "" | "." | ".."))
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

    /// Rebuilds `tree` from its own node images.
    fn rebuild(tree: &DataTree) -> DataTree {
        let mut builder = TreeBuilder::new(tree.extended_types_enabled(), 0);
        for (path, node) in tree.iter() {
            let mut image = NodeImage::of(node);
            image.acl = builder.intern_acl(node.acl.to_vec());
            builder.insert(path, image).unwrap();
        }
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
        copy.create_node(
            "/n0/e",
            Bytes::new(),
            copy.intern_acl(&Acl::open_unsafe()),
            0,
            -1,
            12,
            12,
            &mut events,
        )
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
        let mut builder = TreeBuilder::new(false, 0);
        let ttl = image(&mut builder, EphemeralType::Ttl(5));
        assert!(matches!(
            builder.insert("/t", ttl),
            Err(RestoreError::Kind { .. })
        ));
        let zero = image(&mut builder, EphemeralType::Normal(0));
        assert!(matches!(
            builder.insert("/z", zero),
            Err(RestoreError::Kind { .. })
        ));
        let good = image(&mut builder, EphemeralType::Void);
        assert!(matches!(
            builder.insert("/bad/", good.clone()),
            Err(RestoreError::InvalidPath { .. })
        ));
        builder.insert("/a/b", good.clone()).unwrap();
        assert!(matches!(
            builder.insert("/a/b", good.clone()),
            Err(RestoreError::Duplicate { .. })
        ));
        let mut null = good.clone();
        null.data_null = true;
        null.data = Bytes::from_static(b"x");
        assert!(matches!(
            builder.insert("/n", null),
            Err(RestoreError::NullData { .. })
        ));
        assert_eq!(
            builder.finish(0).unwrap_err(),
            RestoreError::MissingSystemNode { path: "/" }
        );

        let mut builder = TreeBuilder::new(false, 0);
        for (path, node) in tree.iter() {
            let mut image = NodeImage::of(node);
            image.acl = builder.intern_acl(node.acl.to_vec());
            builder.insert(path, image).unwrap();
        }
        let orphan = image(&mut builder, EphemeralType::Void);
        builder.insert("/a/b", orphan).unwrap();
        assert!(matches!(
            builder.finish(0),
            Err(RestoreError::Orphan { .. })
        ));
    }
}
