//! The data tree: znodes, their `Stat` rules, paths, ACLs and ephemeral kinds, with
//! ZooKeeper 3.9's exact semantics (`DataTree`, `DataNode`, `PathUtils`,
//! `EphemeralType`, the ACL parts of `PrepRequestProcessor` and `ZooKeeperServer`).
//!
//! Pure: no I/O, no clock, no threads. Times and zxids come in with each mutation.
//!
//! Ownership and lifecycle: the sequencer core owns the one writable [`DataTree`]; it
//! applies committed txns to it (mutating in place, copy-on-write where an older
//! version still shares a node) and publishes clones. A clone is O(1) and immutable
//! in effect: shard cores read their clone with no lock while the sequencer moves on.
//!
//! * [`data_tree`]: [`DataTree`], [`Node`], [`TreeEvent`]: the tree and its mutations.
//! * [`path`]: `validatePath`, parent/name, sequential names, the system paths.
//! * [`acl`]: `fixupACL`, `checkACL`, digest ids, `getACL` masking.
//! * [`ephemeral`]: what `ephemeralOwner` encodes (session, container, TTL).
//! * [`restore`]: [`TreeBuilder`]: a tree rebuilt from a snapshot's nodes.

pub mod acl;
pub mod data_tree;
pub mod ephemeral;
pub mod path;
pub mod restore;

pub use acl::{check_acl, digest, fixup_acl, mask_digests_for_read};
pub use data_tree::{AclList, DataTree, Node, TreeEvent};
pub use ephemeral::{
    ephemeral_type, ttl_to_ephemeral_owner, EphemeralType, CONTAINER_EPHEMERAL_OWNER,
};
pub use path::{name, parent, sequential_name, validate_path, PathError};
pub use restore::{NodeImage, Preorder, RestoreError, TreeBuilder};

#[cfg(test)]
mod tests;
