//! The jute records of `zookeeper.jute` (module `org.apache.zookeeper.data` and
//! `org.apache.zookeeper.proto`), field order exactly as declared there.

/// `org.apache.zookeeper.data.Stat`: 68 bytes on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// Create time, ms since the epoch.
    pub ctime: i64,
    /// Last data change time, ms since the epoch.
    pub mtime: i64,
    /// Number of data changes.
    pub version: i32,
    /// Number of child changes.
    pub cversion: i32,
    /// Number of ACL changes.
    pub aversion: i32,
    /// Owning session for ephemerals; container/TTL markers; else 0.
    pub ephemeral_owner: i64,
    /// Length of the data.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the last child change.
    pub pzxid: i64,
}

/// `org.apache.zookeeper.data.Id`: an authentication scheme and identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    /// `world`, `auth`, `digest`, `ip`, `super`, ...
    pub scheme: String,
    /// The identity within the scheme.
    pub id: String,
}

impl Id {
    /// Builds an id.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Id {
        Id { scheme: scheme.into(), id: id.into() }
    }
}

/// `org.apache.zookeeper.data.ACL`: permission bits for one id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    /// `perms::*` bits.
    pub perms: i32,
    /// Who gets them.
    pub id: Id,
}

impl Acl {
    /// Builds an ACL entry.
    pub fn new(perms: i32, scheme: impl Into<String>, id: impl Into<String>) -> Acl {
        Acl { perms, id: Id::new(scheme, id) }
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`: everything for `world:anyone`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(super::opcode::perms::ALL, "world", "anyone")]
    }
}
