//! The persistent data tree: ZooKeeper's `DataTree` as an immutable, structurally
//! shared value.
//!
//! Nodes live in a HAMT keyed by full path (`imbl::GenericHashMap`), each behind an
//! `Arc`, so cloning a tree is O(1) and a mutation copies only the HAMT path to the
//! touched entries plus the touched nodes (copy-on-write: in place when unshared).
//! The indexes (`ephemerals`, `containers`, `ttls`) and the interned ACL table are
//! persistent too, so an old clone is a complete, consistent version.
//!
//! # ZooKeeper rules kept here (DataTree.java, DataNode.java, 3.9.5)
//!
//! * A node persists `cversion` as the number of children ever created under it
//!   ([`Node::persisted_cversion`]); the client sees `2 * cversion - numChildren`,
//!   i.e. creates plus deletes (`DataNode.copyStat`). Sequential suffixes and
//!   `CreateTxn.parentCVersion` count the persisted value.
//! * Create: the new node's `czxid = mzxid = pzxid = zxid` and `ctime = mtime = time`.
//!   The parent takes the txn's `parentCVersion` (`-1` means "current + 1") only if it
//!   is larger than its persisted cversion, and then also `pzxid = zxid`.
//! * Delete: the parent's persisted cversion is unchanged; its `pzxid` becomes
//!   `zxid` only if larger. Its client cversion still rises by one (one child fewer).
//! * setData stores the txn's version, `mzxid`, `mtime`; setACL stores the txn's
//!   aversion and nothing else.
//! * Clients see `ephemeralOwner = 0` on containers and TTL nodes.
//!
//! Deliberate differences, all on inputs a correct prep never produces: a failed
//! create leaves the existing node's ACL alone and a failed delete leaves the parent's
//! pzxid alone (ZooKeeper mutates both, for fuzzy-snapshot replay, which we do not
//! have); deleting a node with children or a system node is refused instead of
//! corrupting the tree. Quota accounting (`/zookeeper/quota/**/zookeeper_stats`) is
//! not kept.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use bytes::Bytes;
use imbl::shared_ptr::DefaultSharedPtr;
use imbl::{GenericHashMap, OrdMap, OrdSet};

use super::ephemeral::{try_ephemeral_type, EphemeralType};
use super::path::{self, CONFIG_PATH, QUOTA_PATH, ZOOKEEPER_PATH};
use crate::proto::{perms, Acl, ErrorCode, Stat};

/// An interned ACL list: equal lists in one tree share one allocation, so a node
/// carries a pointer, not a copy (ZooKeeper's `ReferenceCountedACLCache`).
pub type AclList = Arc<[Acl]>;

/// Deterministic SipHash (fixed keys): iteration order never depends on process
/// randomness, and crafting full 64-bit collisions stays expensive.
pub(super) type FixedHasher = BuildHasherDefault<DefaultHasher>;
pub(super) type PathMap<V> = GenericHashMap<Arc<str>, V, FixedHasher, DefaultSharedPtr>;
type AclRefs = GenericHashMap<AclList, u64, FixedHasher, DefaultSharedPtr>;

/// One znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The data, stored as given.
    pub data: Bytes,
    /// The client wrote null data (length -1): ZooKeeper stores null and returns
    /// it as length -1, which clients tell apart from empty data.
    pub data_null: bool,
    /// The `Stat` a client sees (`DataNode.copyStat`), kept exact on every change:
    /// `cversion` counts child creates plus deletes, `ephemeralOwner` is 0 for
    /// containers and TTL nodes, `dataLength` and `numChildren` are current.
    pub stat: Stat,
    /// The node's ACL, interned in its tree.
    pub acl: AclList,
    /// Names (last path component) of the children.
    pub children: OrdSet<Arc<str>>,
    /// `StatPersisted.cversion`: children ever created under this node (raised only
    /// by creates). Sequential names use it, `CreateTxn.parentCVersion` is it plus
    /// one, and the container reaper's "was ever used" test is `> 0`.
    pub persisted_cversion: i32,
    /// What the persisted `ephemeralOwner` means (session, container, TTL).
    pub ephemeral_type: EphemeralType,
}

impl Node {
    fn new(
        data: Bytes,
        acl: AclList,
        ephemeral_type: EphemeralType,
        zxid: i64,
        time_ms: i64,
    ) -> Node {
        let mut node = Node {
            data,
            data_null: false,
            stat: Stat {
                czxid: zxid,
                mzxid: zxid,
                pzxid: zxid,
                ctime: time_ms,
                mtime: time_ms,
                ephemeral_owner: ephemeral_type.client_ephemeral_owner(),
                ..Stat::default()
            },
            acl,
            children: OrdSet::new(),
            persisted_cversion: 0,
            ephemeral_type,
        };
        node.refresh_stat();
        node
    }

    /// The `ephemeralOwner` ZooKeeper persists (with the container/TTL markers).
    pub const fn persisted_ephemeral_owner(&self) -> i64 {
        self.ephemeral_type.ephemeral_owner()
    }

    /// Recomputes the derived `Stat` fields after data or children changed.
    pub(super) fn refresh_stat(&mut self) {
        let num_children = i32::try_from(self.children.len()).expect("children fit an i32");
        self.stat.num_children = num_children;
        // Java int arithmetic, so a wrapped persisted cversion wraps here too.
        self.stat.cversion = self
            .persisted_cversion
            .wrapping_mul(2)
            .wrapping_sub(num_children);
        self.stat.data_length = i32::try_from(self.data.len()).expect("data fits an i32");
    }
}

/// A watch trigger caused by a mutation (`DataTree.createNode`/`deleteNode`/`setData`
/// call `triggerWatch` with these); the watch module decides whom it reaches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TreeEvent {
    /// `NodeCreated` on this path.
    Created(Arc<str>),
    /// `NodeDeleted` on this path (data and child watches).
    Deleted(Arc<str>),
    /// `NodeDataChanged` on this path.
    DataChanged(Arc<str>),
    /// `NodeChildrenChanged` on this path: the parent of a created or deleted node.
    ChildrenChanged(Arc<str>),
}

impl TreeEvent {
    /// The path the event is about.
    pub fn path(&self) -> &Arc<str> {
        match self {
            TreeEvent::Created(path)
            | TreeEvent::Deleted(path)
            | TreeEvent::DataChanged(path)
            | TreeEvent::ChildrenChanged(path) => path,
        }
    }
}

/// The data tree. `Clone` is O(1) and a clone is an immutable version: later
/// mutations of either copy are invisible to the other.
#[derive(Clone)]
pub struct DataTree {
    /// Every node by full path; the root is `"/"`.
    nodes: PathMap<Arc<Node>>,
    /// Ephemeral paths by owning session. A session keeps its (possibly empty) entry
    /// until `kill_session`, as ZooKeeper's `ephemerals` map does.
    ephemerals: OrdMap<i64, OrdSet<Arc<str>>>,
    /// Sum of the sizes of the `ephemerals` sets.
    ephemerals_count: usize,
    containers: OrdSet<Arc<str>>,
    ttls: OrdSet<Arc<str>>,
    /// Interned ACL lists and how many nodes use each; unused lists are dropped.
    acl_refs: AclRefs,
    /// `nodeDataSize`: UTF-16 length of each path plus its data length.
    approximate_data_size: u64,
    last_zxid: i64,
    /// `zookeeper.extendedTypesEnabled`: whether `0xff..` owners are TTL nodes.
    extended_types_enabled: bool,
}

impl Default for DataTree {
    fn default() -> DataTree {
        DataTree::new()
    }
}

impl fmt::Debug for DataTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataTree")
            .field("nodes", &self.nodes.len())
            .field("ephemerals", &self.ephemerals_count)
            .field("containers", &self.containers.len())
            .field("ttls", &self.ttls.len())
            .field("last_zxid", &self.last_zxid)
            .finish_non_exhaustive()
    }
}

impl DataTree {
    /// A fresh tree as ZooKeeper's `DataTree()` builds it, with extended types
    /// (TTL nodes) disabled, ZooKeeper's default.
    pub fn new() -> DataTree {
        DataTree::with_extended_types(false)
    }

    /// A fresh tree: `/`, `/zookeeper` and `/zookeeper/quota` with all-zero stats and
    /// `OPEN_ACL_UNSAFE`, and `/zookeeper/config` with `READ_ACL_UNSAFE` and
    /// `aversion = -1` (ZooKeeper sets its ACL with version -1, ZOOKEEPER-2014).
    /// `extended_types_enabled` is `zookeeper.extendedTypesEnabled`: prep must reject
    /// TTL creates (`Unimplemented`) when it is off, since the tree then reads a TTL
    /// owner as a session id.
    pub fn with_extended_types(extended_types_enabled: bool) -> DataTree {
        let mut tree = DataTree {
            nodes: PathMap::default(),
            ephemerals: OrdMap::new(),
            ephemerals_count: 0,
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            acl_refs: AclRefs::default(),
            approximate_data_size: 0,
            last_zxid: 0,
            extended_types_enabled,
        };
        let open = tree.intern_acl(&Acl::open_unsafe());
        let read = tree.intern_acl(&[Acl::new(perms::READ, "world", "anyone")]);
        let system_node = |tree: &mut DataTree, acl: &AclList, children: &[&str]| {
            let mut node = Node::new(
                Bytes::new(),
                tree.adopt_acl(acl.clone()),
                EphemeralType::Void,
                0,
                0,
            );
            node.children = children.iter().map(|name| Arc::from(*name)).collect();
            node.refresh_stat();
            node
        };
        let root = system_node(&mut tree, &open, &["zookeeper"]);
        let zookeeper = system_node(&mut tree, &open, &["quota", "config"]);
        let quota = system_node(&mut tree, &open, &[]);
        let mut config = system_node(&mut tree, &read, &[]);
        config.stat.aversion = -1;
        for (path, node) in [
            ("/", root),
            (ZOOKEEPER_PATH, zookeeper),
            (QUOTA_PATH, quota),
            (CONFIG_PATH, config),
        ] {
            tree.approximate_data_size += node_size(path, &node.data);
            tree.nodes.insert(Arc::from(path), Arc::new(node));
        }
        tree
    }

    /// The node at `path`. `""` is the root, as in ZooKeeper (which maps `""` to the
    /// root node); any other string is looked up exactly. Allocation-free.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let key = if path.is_empty() { "/" } else { path };
        self.nodes.get(key).map(|node| &**node)
    }

    /// Every node with its path, in no particular (but deterministic) order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Node)> {
        self.nodes.iter().map(|(path, node)| (path, &**node))
    }

    /// Whether TTL owners are recognised (`zookeeper.extendedTypesEnabled`).
    pub fn extended_types_enabled(&self) -> bool {
        self.extended_types_enabled
    }

    /// The zxid of the last transaction applied (`lastProcessedZxid`).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Records the zxid of the last transaction applied; apply calls it once per txn.
    pub fn set_last_zxid(&mut self, zxid: i64) {
        self.last_zxid = zxid;
    }

    /// An order-independent digest of every node (path, data, stat, ACL): equal
    /// trees have equal digests, so replicas at one zxid can be compared cheaply.
    /// O(nodes); for checks and the simulator, not the serving path.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        self.nodes
            .iter()
            .fold(self.nodes.len() as u64, |sum, (path, node)| {
                let mut h = DefaultHasher::new();
                path.hash(&mut h);
                node.data.hash(&mut h);
                node.data_null.hash(&mut h);
                node.stat.hash(&mut h);
                node.persisted_cversion.hash(&mut h);
                node.acl.hash(&mut h);
                sum.wrapping_add(h.finish())
            })
    }

    /// `DataTree.getNodeCount`: ZooKeeper's map holds the root twice (under `""` and
    /// `"/"`), so a fresh tree counts 5; we report the same.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// How many nodes the tree holds, each counted once (the root included).
    pub fn nodes_len(&self) -> usize {
        self.nodes.len()
    }

    /// `DataTree.cachedApproximateDataSize` (`mntr`'s `zk_approximate_data_size`):
    /// the sum over nodes of the path's UTF-16 length plus the data length.
    pub fn approximate_data_size(&self) -> u64 {
        self.approximate_data_size
    }

    /// The ephemeral paths `session_id` owns, sorted.
    pub fn ephemerals(&self, session_id: i64) -> impl Iterator<Item = &Arc<str>> {
        self.ephemerals
            .get(&session_id)
            .into_iter()
            .flat_map(|paths| paths.iter())
    }

    /// Sessions with an ephemerals entry and how many paths each holds, by session id.
    /// As in ZooKeeper's `dump`, a session whose ephemerals were all deleted keeps a
    /// zero entry until its session is closed.
    pub fn ephemeral_sessions(&self) -> impl Iterator<Item = (i64, usize)> + '_ {
        self.ephemerals
            .iter()
            .map(|(session_id, paths)| (*session_id, paths.len()))
    }

    /// `DataTree.getEphemeralsCount`: ephemeral nodes over all sessions.
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals_count
    }

    /// Container paths, sorted, for the container reaper.
    pub fn containers(&self) -> impl Iterator<Item = &Arc<str>> {
        self.containers.iter()
    }

    /// TTL node paths, sorted, for the container reaper.
    pub fn ttl_nodes(&self) -> impl Iterator<Item = &Arc<str>> {
        self.ttls.iter()
    }

    /// `DataTree.getAllChildrenNumber`: how many nodes lie below `path` (for `/`, every
    /// node but the root, system nodes included); `None` if `path` does not exist.
    pub fn all_children_number(&self, path: &str) -> Option<usize> {
        let node = self.get(path)?;
        if path == "/" {
            return Some(self.nodes.len() - 1);
        }
        if path.is_empty() {
            // ZooKeeper counts keys starting with "" + "/": every node, root included.
            return Some(self.nodes.len());
        }
        let mut count = 0;
        let mut pending: Vec<String> = node
            .children
            .iter()
            .map(|name| format!("{path}/{name}"))
            .collect();
        while let Some(child_path) = pending.pop() {
            count += 1;
            let child = self
                .nodes
                .get(child_path.as_str())
                .expect("a child's node exists");
            pending.extend(
                child
                    .children
                    .iter()
                    .map(|name| format!("{child_path}/{name}")),
            );
        }
        Some(count)
    }

    /// The interned list equal to `acl` if this tree holds one, else a new list (which
    /// a create or setACL then interns). Equal lists in one tree share one `Arc`.
    pub fn intern_acl(&self, acl: &[Acl]) -> AclList {
        match self.acl_refs.get_key_value(acl) {
            Some((interned, _)) => interned.clone(),
            None => Arc::from(acl),
        }
    }

    /// Every distinct ACL list the tree's nodes use, each once, in no particular
    /// order (a snapshot writes this table and refers to it by index).
    pub fn acl_lists(&self) -> impl Iterator<Item = &AclList> {
        self.acl_refs.keys()
    }

    /// A tree made of complete nodes (children linked, derived Stat fields
    /// current): the last step of [`super::TreeBuilder`]. `acl_refs` is every
    /// ACL list the nodes use, once, with how many use it;
    /// `approximate_data_size` is the nodes' `nodeDataSize`; `indexed` is
    /// every node whose kind the tree indexes (ephemeral, container, TTL).
    pub(super) fn assemble(
        extended_types_enabled: bool,
        last_zxid: i64,
        nodes: PathMap<Arc<Node>>,
        acl_refs: impl IntoIterator<Item = (AclList, u64)>,
        approximate_data_size: u64,
        indexed: Vec<(EphemeralType, Arc<str>)>,
    ) -> DataTree {
        let mut tree = DataTree {
            nodes,
            ephemerals: OrdMap::new(),
            ephemerals_count: 0,
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            acl_refs: acl_refs.into_iter().collect(),
            approximate_data_size,
            last_zxid,
            extended_types_enabled,
        };
        for (kind, path) in indexed {
            tree.index_insert(kind, &path);
        }
        tree
    }

    /// How many distinct ACL lists the tree's nodes use (`aclCacheSize`).
    pub fn acl_list_count(&self) -> usize {
        self.acl_refs.len()
    }

    /// `DataTree.createNode`: adds `path` under its existing parent. `ephemeral_owner`
    /// is the persisted owner (0, a session, `CONTAINER_EPHEMERAL_OWNER` or a TTL
    /// owner); `parent_cversion` is `CreateTxn.parentCVersion` (the parent's persisted
    /// cversion + 1, or -1 for "current + 1"). Pushes `Created(path)` then
    /// `ChildrenChanged(parent)` and returns the new node's `Stat`.
    ///
    /// Errors, with the tree unchanged: `BadArguments` for an invalid path or an
    /// extended owner of unknown type, `NoNode` without the parent, `NodeExists`.
    #[allow(clippy::too_many_arguments)] // The fields of a CreateTxn plus its header.
    pub fn create_node(
        &mut self,
        path: &str,
        data: Bytes,
        acl: AclList,
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time_ms: i64,
        events: &mut Vec<TreeEvent>,
    ) -> Result<Stat, ErrorCode> {
        path::validate_path(path, false)?;
        let kind = try_ephemeral_type(ephemeral_owner, self.extended_types_enabled)
            .ok_or(ErrorCode::BadArguments)?;
        let parent_path = path::parent(path);
        let parent_key = match self.nodes.get_key_value(if parent_path.is_empty() {
            "/"
        } else {
            parent_path
        }) {
            Some((key, _)) => key.clone(),
            None => return Err(ErrorCode::NoNode),
        };
        if self.nodes.contains_key(path) {
            return Err(ErrorCode::NodeExists);
        }

        let parent = self.node_mut(&parent_key);
        let new_cversion = match parent_cversion {
            -1 => parent.persisted_cversion.wrapping_add(1),
            given => given,
        };
        // Replay may carry a cversion the parent already passed: only raise it.
        if new_cversion > parent.persisted_cversion {
            parent.persisted_cversion = new_cversion;
            parent.stat.pzxid = zxid;
        }
        let inserted = parent.children.insert(Arc::from(path::name(path)));
        assert!(inserted.is_none(), "a child name implies a node");
        parent.refresh_stat();

        let path: Arc<str> = Arc::from(path);
        let acl = self.adopt_acl(acl);
        self.approximate_data_size += node_size(&path, &data);
        let node = Node::new(data, acl, kind, zxid, time_ms);
        let stat = node.stat;
        self.nodes.insert(path.clone(), Arc::new(node));
        self.index_insert(kind, &path);
        events.push(TreeEvent::Created(path));
        events.push(TreeEvent::ChildrenChanged(parent_key));
        Ok(stat)
    }

    /// `DataTree.deleteNode`: removes a childless node. The parent's pzxid becomes
    /// `zxid` if larger; its persisted cversion is unchanged. Pushes `Deleted(path)`
    /// then `ChildrenChanged(parent)`.
    ///
    /// Errors, with the tree unchanged: `NoNode`, `NotEmpty` if it has children
    /// (prep's rule; ZooKeeper's DataTree would orphan them), `BadArguments` for the
    /// root and the system nodes (prep's `isSpecialPath` rule).
    pub fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        events: &mut Vec<TreeEvent>,
    ) -> Result<(), ErrorCode> {
        if path.is_empty() || path::is_special_path(path) {
            return Err(ErrorCode::BadArguments);
        }
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        let (path, node) = self.nodes.remove_with_key(path).expect("looked up above");
        let parent_key = self
            .nodes
            .get_key_value(path::parent(&path))
            .expect("a node's parent exists")
            .0
            .clone();
        let parent = self.node_mut(&parent_key);
        let removed = parent.children.remove(path::name(&path));
        assert!(removed.is_some(), "a node is its parent's child");
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        parent.refresh_stat();

        self.release_acl(&node.acl);
        self.shrink_data_size(node_size(&path, &node.data));
        self.index_remove(node.ephemeral_type, &path);
        events.push(TreeEvent::Deleted(path));
        events.push(TreeEvent::ChildrenChanged(parent_key));
        Ok(())
    }

    /// `DataTree.setData`: replaces the data and sets `version` (the new version, as
    /// `SetDataTxn` carries it), `mzxid` and `mtime`. Pushes `DataChanged(path)`.
    /// `NoNode` if absent.
    pub fn set_data(
        &mut self,
        path: &str,
        data: Bytes,
        version: i32,
        zxid: i64,
        time_ms: i64,
        events: &mut Vec<TreeEvent>,
    ) -> Result<Stat, ErrorCode> {
        let key = self.key_of(path).ok_or(ErrorCode::NoNode)?;
        let node = self.node_mut(&key);
        let old_len = node.data.len() as u64;
        let new_len = data.len() as u64;
        node.data = data;
        node.data_null = false;
        node.stat.version = version;
        node.stat.mzxid = zxid;
        node.stat.mtime = time_ms;
        node.refresh_stat();
        let stat = node.stat;
        self.shrink_data_size(old_len);
        self.approximate_data_size += new_len;
        events.push(TreeEvent::DataChanged(key));
        Ok(stat)
    }

    /// Marks a node's (empty) data as null, right after the create or setData that
    /// wrote it (`CreateTxn`/`SetDataTxn` with null data).
    pub fn mark_data_null(&mut self, path: &str) -> Result<(), ErrorCode> {
        let key = self.key_of(path).ok_or(ErrorCode::NoNode)?;
        let node = self.node_mut(&key);
        assert!(node.data.is_empty(), "only empty data can be null");
        node.data_null = true;
        Ok(())
    }

    /// `DataTree.setACL`: replaces the ACL and sets `aversion` (the new version, as
    /// `SetACLTxn` carries it); nothing else changes and no watch fires. `NoNode` if
    /// absent.
    pub fn set_acl(&mut self, path: &str, acl: AclList, version: i32) -> Result<Stat, ErrorCode> {
        let key = self.key_of(path).ok_or(ErrorCode::NoNode)?;
        let acl = self.adopt_acl(acl);
        let node = self.node_mut(&key);
        let old_acl = std::mem::replace(&mut node.acl, acl);
        node.stat.aversion = version;
        let stat = node.stat;
        self.release_acl(&old_acl);
        Ok(stat)
    }

    /// `DataTree.killSession` (closeSession): deletes `paths_in_txn`
    /// (`CloseSessionTxn.paths2Delete`), then any ephemerals of the session the txn
    /// did not list, in path order, and drops the session's ephemerals entry. Paths
    /// already gone are skipped, as ZooKeeper does. Returns how many nodes were
    /// deleted.
    pub fn kill_session<P: AsRef<str>>(
        &mut self,
        session_id: i64,
        paths_in_txn: &[P],
        zxid: i64,
        events: &mut Vec<TreeEvent>,
    ) -> usize {
        let mut deleted = 0;
        for path in paths_in_txn {
            deleted += usize::from(self.delete_node(path.as_ref(), zxid, events).is_ok());
        }
        let unlisted: Vec<Arc<str>> = self.ephemerals(session_id).cloned().collect();
        for path in &unlisted {
            deleted += usize::from(self.delete_node(path, zxid, events).is_ok());
        }
        // Only a node that could not be deleted (one with children, which prep never
        // allows under an ephemeral) keeps the entry alive, so the index stays exact.
        if self
            .ephemerals
            .get(&session_id)
            .is_some_and(|paths| paths.is_empty())
        {
            self.ephemerals.remove(&session_id);
        }
        deleted
    }

    fn shrink_data_size(&mut self, removed: u64) {
        self.approximate_data_size = self
            .approximate_data_size
            .checked_sub(removed)
            .expect("the size counts every node");
    }

    /// The stored key for `path` (`""` meaning the root), to share in events.
    fn key_of(&self, path: &str) -> Option<Arc<str>> {
        let key = if path.is_empty() { "/" } else { path };
        self.nodes.get_key_value(key).map(|(key, _)| key.clone())
    }

    /// A node to change, copied first if an older version still shares it.
    fn node_mut(&mut self, key: &str) -> &mut Node {
        Arc::make_mut(
            self.nodes
                .get_mut(key)
                .expect("the caller checked the node exists"),
        )
    }

    /// Takes one more reference to the interned list equal to `acl`, interning it
    /// if it is new, and returns the interned `Arc`.
    fn adopt_acl(&mut self, acl: AclList) -> AclList {
        if let Some((interned, refs)) = self.acl_refs.get_key_value_mut(&*acl) {
            *refs += 1;
            return interned.clone();
        }
        self.acl_refs.insert(acl.clone(), 1);
        acl
    }

    /// Drops one reference to an interned list, forgetting it at zero.
    fn release_acl(&mut self, acl: &AclList) {
        let refs = self
            .acl_refs
            .get_mut(&**acl)
            .expect("a node's ACL is interned");
        assert!(*refs > 0);
        *refs -= 1;
        if *refs == 0 {
            self.acl_refs.remove(&**acl);
        }
    }

    fn index_insert(&mut self, kind: EphemeralType, path: &Arc<str>) {
        match kind {
            EphemeralType::Void => {}
            EphemeralType::Container => {
                self.containers.insert(path.clone());
            }
            EphemeralType::Ttl(_) => {
                self.ttls.insert(path.clone());
            }
            EphemeralType::Normal(session_id) => {
                let fresh = self
                    .ephemerals
                    .entry(session_id)
                    .or_default()
                    .insert(path.clone())
                    .is_none();
                assert!(fresh, "a new node is in no ephemerals set");
                self.ephemerals_count += 1;
            }
        }
    }

    fn index_remove(&mut self, kind: EphemeralType, path: &Arc<str>) {
        match kind {
            EphemeralType::Void => {}
            EphemeralType::Container => {
                assert!(
                    self.containers.remove(path).is_some(),
                    "containers index out of date"
                );
            }
            EphemeralType::Ttl(_) => {
                assert!(self.ttls.remove(path).is_some(), "ttl index out of date");
            }
            EphemeralType::Normal(session_id) => {
                // kill_session drops the session's entry before deleting its nodes.
                if let Some(paths) = self.ephemerals.get_mut(&session_id) {
                    if paths.remove(path).is_some() {
                        self.ephemerals_count -= 1;
                    }
                }
            }
        }
    }
}

/// `DataTree.getNodeSize`: Java's `path.length()` (UTF-16 units) plus the data length.
pub(super) fn node_size(path: &str, data: &Bytes) -> u64 {
    let utf16_len = match path.is_ascii() {
        true => path.len(),
        false => path.encode_utf16().count(),
    };
    (utf16_len + data.len()) as u64
}
