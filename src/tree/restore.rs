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

use std::collections::{HashMap, HashSet};
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
    acls: HashSet<AclList>,
    nodes: HashMap<Arc<str>, Node>,
}

impl TreeBuilder {
    /// An empty builder for a tree with `zookeeper.extendedTypesEnabled` as given,
    /// with room for `nodes` nodes.
    pub fn new(extended_types_enabled: bool, nodes: usize) -> TreeBuilder {
        TreeBuilder {
            extended_types_enabled,
            acls: HashSet::new(),
            nodes: HashMap::with_capacity(nodes),
        }
    }

    /// The one shared list equal to `acl` (equal lists in a tree share one `Arc`).
    pub fn intern_acl(&mut self, acl: Vec<Acl>) -> AclList {
        let acl: AclList = Arc::from(acl);
        if let Some(interned) = self.acls.get(&acl) {
            return interned.clone();
        }
        self.acls.insert(acl.clone());
        acl
    }

    /// Adds a node. Its ACL must come from [`TreeBuilder::intern_acl`].
    pub fn insert(&mut self, path: &str, image: NodeImage) -> Result<(), RestoreError> {
        if path != "/" && path::validate_path(path, false).is_err() {
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
        assert!(
            self.acls
                .get(&image.acl)
                .is_some_and(|a| Arc::ptr_eq(a, &image.acl)),
            "node ACLs come from intern_acl"
        );
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
        match self.nodes.entry(Arc::from(path)) {
            std::collections::hash_map::Entry::Occupied(_) => {
                Err(RestoreError::Duplicate { path: path.into() })
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(node);
                Ok(())
            }
        }
    }

    /// Links every node to its parent and returns the tree, whose last applied
    /// zxid is `last_zxid`.
    pub fn finish(mut self, last_zxid: i64) -> Result<DataTree, RestoreError> {
        for system in ["/", ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH] {
            if !self.nodes.contains_key(system) {
                return Err(RestoreError::MissingSystemNode { path: system });
            }
        }
        let links: Vec<(Arc<str>, Arc<str>)> = self
            .nodes
            .keys()
            .filter(|path| &***path != "/")
            .map(|path| (path.clone(), Arc::from(path::name(path))))
            .collect();
        for (path, name) in links {
            let parent = match path::parent(&path) {
                "" => "/",
                parent => parent,
            };
            let Some(parent) = self.nodes.get_mut(parent) else {
                return Err(RestoreError::Orphan {
                    path: path.to_string(),
                });
            };
            let fresh = parent.children.insert(name).is_none();
            assert!(fresh, "distinct paths have distinct names under one parent");
        }
        let nodes: PathMap<Arc<Node>> = self
            .nodes
            .into_iter()
            .map(|(path, mut node)| {
                node.refresh_stat();
                (path, Arc::new(node))
            })
            .collect();
        Ok(DataTree::assemble(
            self.extended_types_enabled,
            last_zxid,
            nodes,
        ))
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
