//! Snapshots: a tree version and the live sessions, streamed to bytes and read
//! back; and when to take the next one.
//!
//! The encoder reads a held tree version (an O(1) clone the sequencer no longer
//! mutates), so a snapshot is an exact point-in-time image, taken in the
//! background with no pause of the request path, unlike ZooKeeper's fuzzy one.
//!
//! # Layout (little-endian, like the log)
//!
//! ```text
//! header   magic "CKSN", u32 version (1), i64 zxid, u64 node count,
//!          u32 ACL list count, u32 session count                     (32 bytes)
//! ACLs     per list: u32 entries, per entry: i32 perms, str scheme, str id
//! nodes    in pre-order (each node before its children, siblings in name
//!          order), per node: str name (empty for the root), u32 child count,
//!          i64 czxid, mzxid, pzxid, ctime, mtime, i32 version, aversion,
//!          persisted cversion, u8 kind, u8 flags, i64 kind value (session id,
//!          TTL ms or 0), u32 ACL list index, bytes data
//! sessions per session: i64 id, u32 timeout ms
//! trailer  u32 CRC32C of everything before it
//! ```
//!
//! `str` and `bytes` are a u32 length and the bytes. Kinds: 0 persistent, 1
//! ephemeral (value: the session), 2 container, 3 TTL (value: the TTL); flag
//! bit 0 is null data. Derived Stat fields are not stored: the tree recomputes
//! them. Pre-order with child counts carries the structure: the reader knows
//! each node's parent without looking paths up, and stores names, not paths.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{SessionTimeouts, SNAPSHOT_CHUNK_BYTES};
use crate::proto::{Acl, Id};
use crate::tree::{
    DataTree, EphemeralType, Node, NodeId, NodeImage, Preorder, RestoreError, TreeBuilder,
};
use crate::types::{SessionId, Zxid};

const MAGIC: [u8; 4] = *b"CKSN";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const TRAILER_LEN: usize = 4;
/// Smallest encoding of one node (empty path and data), to bound counts read
/// from a file before allocating for them.
const NODE_LEN_MIN: usize = 4 + 4 + 5 * 8 + 3 * 4 + 2 + 8 + 4 + 4;
const ACL_LIST_LEN_MIN: usize = 4;
const ACL_ENTRY_LEN_MIN: usize = 4 + 4 + 4;
const SESSION_LEN: usize = 8 + 4;

const KIND_PERSISTENT: u8 = 0;
const KIND_EPHEMERAL: u8 = 1;
const KIND_CONTAINER: u8 = 2;
const KIND_TTL: u8 = 3;
const FLAG_DATA_NULL: u8 = 1;

/// A snapshot read back.
#[derive(Debug)]
pub struct Snapshot {
    /// The tree, its last zxid set to `zxid`.
    pub tree: DataTree,
    /// The sessions live at `zxid`.
    pub sessions: SessionTimeouts,
    /// The zxid of the last txn the tree holds.
    pub zxid: Zxid,
}

/// A snapshot file that cannot be used. Offsets are from the start of the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Too short to hold a header and a trailer.
    #[error("{len} bytes is too short for a snapshot")]
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// An Apache ZooKeeper snapshot.
    #[error("this is an Apache ZooKeeper snapshot (magic ZKSN), not a corekeeper one")]
    ZooKeeper,
    /// Not a snapshot.
    #[error("the file starts with {:?}, not a corekeeper snapshot", String::from_utf8_lossy(.magic))]
    BadMagic {
        /// Its first four bytes.
        magic: [u8; 4],
    },
    /// A format version this build does not read.
    #[error("snapshot format version {version} is not supported by this build")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The checksum does not match: the file is damaged or incomplete.
    #[error(
        "checksum mismatch: the trailer at offset {offset} says {stored:#010x}, \
         the bytes before it give {computed:#010x}"
    )]
    Checksum {
        /// Where the trailer is.
        offset: usize,
        /// The trailer's value.
        stored: u32,
        /// The checksum of the bytes before it.
        computed: u32,
    },
    /// The checksum matches but the content does not parse (a writer bug).
    #[error("malformed at offset {offset}: {what}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// A node the tree cannot take.
    #[error("node at offset {offset}: {source}")]
    Node {
        /// Where the node's record starts.
        offset: usize,
        /// What is wrong with it.
        #[source]
        source: RestoreError,
    },
    /// The nodes do not form a tree this server can hold.
    #[error("{0}")]
    Tree(#[from] RestoreError),
}

/// A snapshot's bytes, in chunks of about [`SNAPSHOT_CHUNK_BYTES`]: iterate and
/// write each chunk in order. Borrows the held tree version it reads.
pub struct SnapshotChunks<'t> {
    nodes: Preorder<'t>,
    acl_index: HashMap<*const [Acl], u32>,
    sessions: std::collections::btree_map::Iter<'t, SessionId, u32>,
    /// The header and ACL table, made up front, to lead the first chunk.
    pending: Option<Vec<u8>>,
    stage: Stage,
    crc: u32,
    /// Nodes still to encode, checked against the header's count.
    nodes_left: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Nodes,
    Sessions,
    Done,
}

/// Starts encoding `tree` (held at `zxid`) and `sessions` (live at the same
/// zxid). O(distinct ACL lists) up front; the nodes are encoded as the chunks
/// are pulled.
pub fn encode_snapshot<'t>(
    tree: &'t DataTree,
    sessions: &'t SessionTimeouts,
    zxid: Zxid,
) -> SnapshotChunks<'t> {
    assert_eq!(
        tree.last_zxid(),
        zxid.0,
        "a snapshot is of the version at its zxid"
    );
    let nodes = tree.nodes_len() as u64;
    let mut acl_index = HashMap::new();
    let mut first = Vec::with_capacity(SNAPSHOT_CHUNK_BYTES);
    first.extend_from_slice(&MAGIC);
    put_u32(&mut first, VERSION);
    put_i64(&mut first, zxid.0);
    put_u64(&mut first, nodes);
    let acl_lists: Vec<&Arc<[Acl]>> = tree.acl_lists().collect();
    put_u32(
        &mut first,
        u32::try_from(acl_lists.len()).expect("ACL lists fit a u32"),
    );
    put_u32(
        &mut first,
        u32::try_from(sessions.len()).expect("sessions fit a u32"),
    );
    debug_assert_eq!(first.len(), HEADER_LEN);
    for (index, acl) in acl_lists.into_iter().enumerate() {
        acl_index.insert(Arc::as_ptr(acl), index as u32);
        put_u32(
            &mut first,
            u32::try_from(acl.len()).expect("ACL entries fit a u32"),
        );
        for entry in acl.iter() {
            put_i32(&mut first, entry.perms);
            put_bytes(&mut first, entry.id.scheme.as_bytes());
            put_bytes(&mut first, entry.id.id.as_bytes());
        }
    }
    SnapshotChunks {
        nodes: tree.preorder(),
        acl_index,
        sessions: sessions.iter(),
        crc: crc32c::crc32c(&first),
        pending: Some(first),
        stage: Stage::Nodes,
        nodes_left: nodes,
    }
}

impl SnapshotChunks<'_> {
    fn encode_node(&self, out: &mut Vec<u8>, name: &str, node: &Node) {
        put_bytes(out, name.as_bytes());
        put_u32(
            out,
            u32::try_from(node.children.len()).expect("children fit a u32"),
        );
        put_i64(out, node.stat.czxid);
        put_i64(out, node.stat.mzxid);
        put_i64(out, node.stat.pzxid);
        put_i64(out, node.stat.ctime);
        put_i64(out, node.stat.mtime);
        put_i32(out, node.stat.version);
        put_i32(out, node.stat.aversion);
        put_i32(out, node.persisted_cversion);
        let (kind, value) = match node.ephemeral_type {
            EphemeralType::Void => (KIND_PERSISTENT, 0),
            EphemeralType::Normal(session) => (KIND_EPHEMERAL, session),
            EphemeralType::Container => (KIND_CONTAINER, 0),
            EphemeralType::Ttl(ttl_ms) => (KIND_TTL, ttl_ms),
        };
        out.push(kind);
        out.push(if node.data_null { FLAG_DATA_NULL } else { 0 });
        put_i64(out, value);
        let acl = self
            .acl_index
            .get(&Arc::as_ptr(&node.acl))
            .expect("a node's ACL is one of the tree's interned lists");
        put_u32(out, *acl);
        put_bytes(out, &node.data);
    }
}

impl Iterator for SnapshotChunks<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut out = match self.pending.take() {
            Some(first) => first,
            None if self.stage == Stage::Done => return None,
            None => Vec::with_capacity(SNAPSHOT_CHUNK_BYTES),
        };
        let start = out.len();
        while out.len() < SNAPSHOT_CHUNK_BYTES && self.stage == Stage::Nodes {
            match self.nodes.next() {
                Some((name, node)) => {
                    self.encode_node(&mut out, name, node);
                    self.nodes_left -= 1;
                }
                None => {
                    assert_eq!(self.nodes_left, 0, "the tree held still");
                    self.stage = Stage::Sessions;
                }
            }
        }
        while out.len() < SNAPSHOT_CHUNK_BYTES && self.stage == Stage::Sessions {
            match self.sessions.next() {
                Some((id, timeout_ms)) => {
                    put_i64(&mut out, id.0);
                    put_u32(&mut out, *timeout_ms);
                }
                None => {
                    self.crc = crc32c::crc32c_append(self.crc, &out[start..]);
                    put_u32(&mut out, self.crc);
                    self.stage = Stage::Done;
                    return Some(out);
                }
            }
        }
        self.crc = crc32c::crc32c_append(self.crc, &out[start..]);
        Some(out)
    }
}

/// Reads a snapshot back. The checksum is checked before anything else; node
/// data is copied out of `bytes` (so the image can be freed). The tree is built
/// with `zookeeper.extendedTypesEnabled` as configured.
pub fn decode_snapshot(
    bytes: &[u8],
    extended_types_enabled: bool,
) -> Result<Snapshot, SnapshotError> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err(SnapshotError::TooShort { len: bytes.len() });
    }
    let magic: [u8; 4] = bytes[0..4].try_into().expect("4 bytes");
    match &magic {
        b"ZKSN" => return Err(SnapshotError::ZooKeeper),
        m if *m != MAGIC => return Err(SnapshotError::BadMagic { magic }),
        _ => {}
    }
    let body_len = bytes.len() - TRAILER_LEN;
    let stored = u32::from_le_bytes(bytes[body_len..].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[..body_len]);
    let mut reader = Reader {
        bytes: &bytes[..body_len],
        at: 4,
    };
    let version = reader.u32()?;
    if version != VERSION {
        return Err(SnapshotError::UnsupportedVersion { version });
    }
    if stored != computed {
        return Err(SnapshotError::Checksum {
            offset: body_len,
            stored,
            computed,
        });
    }
    let zxid = Zxid(reader.i64()?);
    let node_count = reader.u64()?;
    let acl_count = reader.u32()?;
    let session_count = reader.u32()?;
    let node_count = reader.count(node_count, NODE_LEN_MIN)?;
    let acl_count = reader.count(acl_count.into(), ACL_LIST_LEN_MIN)?;
    let session_count = reader.count(session_count.into(), SESSION_LEN)?;

    let mut builder = TreeBuilder::new(extended_types_enabled, node_count);
    let mut acls = Vec::with_capacity(acl_count);
    for _ in 0..acl_count {
        let acl = reader.acl_list()?;
        acls.push(builder.intern_acl(acl));
    }
    // Nodes whose children are still to come, with how many.
    let mut open: Vec<(NodeId, u32)> = Vec::new();
    for _ in 0..node_count {
        let offset = reader.at;
        let (name, children, image) = reader.node(&acls)?;
        let parent = open.last_mut().map(|(id, left)| {
            *left -= 1;
            *id
        });
        let id = builder
            .add(parent, name, image)
            .map_err(|source| SnapshotError::Node { offset, source })?;
        open.push((id, children));
        while open.last().is_some_and(|(_, left)| *left == 0) {
            open.pop();
        }
    }
    if !open.is_empty() {
        return Err(SnapshotError::Malformed {
            offset: reader.at,
            what: "the nodes end before the children they announce",
        });
    }
    let mut sessions = SessionTimeouts::new();
    for _ in 0..session_count {
        let at = reader.at;
        let id = SessionId(reader.i64()?);
        let timeout_ms = reader.u32()?;
        if sessions.insert(id, timeout_ms).is_some() {
            return Err(SnapshotError::Malformed {
                offset: at,
                what: "a session appears twice",
            });
        }
    }
    if reader.at != body_len {
        return Err(SnapshotError::Malformed {
            offset: reader.at,
            what: "bytes after the last session",
        });
    }
    let tree = builder.finish(zxid.0)?;
    Ok(Snapshot {
        tree,
        sessions,
        zxid,
    })
}

/// Reads the body of a checksummed snapshot; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(SnapshotError::Malformed {
                offset: self.at,
                what,
            });
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        Ok(self
            .take(N, "ends inside a field")?
            .try_into()
            .expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = self.u32()? as usize;
        self.take(len, "a length runs past the end")
    }

    fn str(&mut self) -> Result<&'a str, SnapshotError> {
        let at = self.at;
        std::str::from_utf8(self.bytes()?).map_err(|_| SnapshotError::Malformed {
            offset: at,
            what: "a string is not UTF-8",
        })
    }

    /// A count read from the file, checked against the bytes left (each item
    /// takes at least `len_min`), so a bad count cannot make us allocate.
    fn count(&self, count: u64, len_min: usize) -> Result<usize, SnapshotError> {
        let left = (self.bytes.len() - self.at) as u64;
        if count > left / len_min as u64 {
            return Err(SnapshotError::Malformed {
                offset: self.at,
                what: "a count exceeds what the file can hold",
            });
        }
        Ok(count as usize)
    }

    fn acl_list(&mut self) -> Result<Vec<Acl>, SnapshotError> {
        let entries = self.u32()?;
        let entries = self.count(entries.into(), ACL_ENTRY_LEN_MIN)?;
        let mut acl = Vec::with_capacity(entries);
        for _ in 0..entries {
            let perms = self.i32()?;
            let scheme = self.str()?.to_owned();
            let id = self.str()?.to_owned();
            acl.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        Ok(acl)
    }

    fn node(&mut self, acls: &[Arc<[Acl]>]) -> Result<(&'a str, u32, NodeImage), SnapshotError> {
        let name = self.str()?;
        let children = self.u32()?;
        let czxid = self.i64()?;
        let mzxid = self.i64()?;
        let pzxid = self.i64()?;
        let ctime = self.i64()?;
        let mtime = self.i64()?;
        let version = self.i32()?;
        let aversion = self.i32()?;
        let persisted_cversion = self.i32()?;
        let kind_at = self.at;
        let kind = self.u8()?;
        let flags = self.u8()?;
        let value = self.i64()?;
        let ephemeral_type = match kind {
            KIND_PERSISTENT => EphemeralType::Void,
            KIND_EPHEMERAL => EphemeralType::Normal(value),
            KIND_CONTAINER => EphemeralType::Container,
            KIND_TTL => EphemeralType::Ttl(value),
            _ => {
                return Err(SnapshotError::Malformed {
                    offset: kind_at,
                    what: "unknown node kind",
                })
            }
        };
        if flags & !FLAG_DATA_NULL != 0 {
            return Err(SnapshotError::Malformed {
                offset: kind_at + 1,
                what: "unknown node flags",
            });
        }
        let acl_at = self.at;
        let acl = acls
            .get(self.u32()? as usize)
            .ok_or(SnapshotError::Malformed {
                offset: acl_at,
                what: "ACL index out of range",
            })?
            .clone();
        let data = Bytes::copy_from_slice(self.bytes()?);
        Ok((
            name,
            children,
            NodeImage {
                data,
                data_null: flags & FLAG_DATA_NULL != 0,
                czxid,
                mzxid,
                pzxid,
                ctime,
                mtime,
                version,
                aversion,
                persisted_cversion,
                ephemeral_type,
                acl,
            },
        ))
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_i32(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(
        out,
        u32::try_from(bytes.len()).expect("paths and data fit a u32 length"),
    );
    out.extend_from_slice(bytes);
}

/// When to take the next snapshot: ZooKeeper's `SyncRequestProcessor.shouldSnapshot`.
///
/// After each snapshot the thresholds are drawn again: a snapshot is due once
/// more than `snapCount / 2 + roll` txns were logged (roll uniform in
/// `[0, snapCount / 2)`, i.e. at a random count in `[snapCount/2 + 1, snapCount]`),
/// or more than `snapSizeLimit / 2 + roll'` bytes. The randomness keeps the
/// members of an ensemble from snapshotting together. Pure: the caller draws the
/// random value from its seeded PRNG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotTrigger {
    snap_count: u64,
    snap_size_bytes: u64,
    txns_due: u64,
    bytes_due: Option<u64>,
    txns: u64,
    bytes: u64,
}

impl SnapshotTrigger {
    /// `snap_count` is `snapCount` (at least 2, as ZooKeeper enforces);
    /// `snap_size_bytes` is `snapSizeLimitInKb` in bytes, 0 for no size limit.
    pub fn new(snap_count: u64, snap_size_bytes: u64, random: u64) -> SnapshotTrigger {
        assert!(snap_count >= 2, "config clamps snapCount to at least 2");
        let mut trigger = SnapshotTrigger {
            snap_count,
            snap_size_bytes,
            txns_due: 0,
            bytes_due: None,
            txns: 0,
            bytes: 0,
        };
        trigger.reset(random);
        trigger
    }

    /// Counts one logged txn of `bytes` bytes; true when a snapshot is due. The
    /// caller then calls [`SnapshotTrigger::reset`] (also when a snapshot is
    /// still running and it skips this one, as ZooKeeper does).
    pub fn logged(&mut self, bytes: u64) -> bool {
        self.txns += 1;
        self.bytes += bytes;
        self.txns > self.txns_due || self.bytes_due.is_some_and(|due| self.bytes > due)
    }

    /// Starts counting again toward the next snapshot, drawing new thresholds from `random`.
    pub fn reset(&mut self, random: u64) {
        let half = self.snap_count / 2;
        self.txns_due = half + random % half;
        self.bytes_due = (self.snap_size_bytes >= 2).then(|| {
            let half = self.snap_size_bytes / 2;
            half + splitmix64(random) % half
        });
        self.txns = 0;
        self.bytes = 0;
    }

    /// Txns logged since the last reset.
    pub fn txns_since_reset(&self) -> u64 {
        self.txns
    }
}

/// A second, independent-looking value from one random input (SplitMix64's finalizer).
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
