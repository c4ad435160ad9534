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
    AclList, DataTree, EphemeralType, Node, NodeImage, Preorder, RestoreError, TreeBuilder,
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

/// Reads a snapshot back from its whole image (see [`SnapshotDecoder`], which
/// takes it in pieces as they are read).
pub fn decode_snapshot(
    bytes: &[u8],
    extended_types_enabled: bool,
) -> Result<Snapshot, SnapshotError> {
    let mut decoder = SnapshotDecoder::new(bytes.len() as u64, extended_types_enabled);
    decoder.feed(bytes);
    decoder.finish()
}

/// Reads a snapshot of a known length fed in pieces, in order, as they come
/// off the disk: the tree is built while the file is still being read, and
/// memory holds the tree plus one piece, never the whole image.
///
/// The verdict is the same as for the whole image at once: a file that is not
/// a snapshot, or of a format version this build does not read, says so; else
/// a checksum that does not match is reported before anything the damaged
/// bytes made the parser see; else the first malformed item. Node data is
/// copied out of the pieces. The tree is built with
/// `zookeeper.extendedTypesEnabled` as configured.
pub struct SnapshotDecoder {
    /// The file's length.
    len: u64,
    /// Where the trailer starts.
    body_len: u64,
    /// Bytes fed so far.
    fed: u64,
    crc: u32,
    trailer: [u8; TRAILER_LEN],
    /// The start of an item cut by the end of a piece.
    carry: Vec<u8>,
    part: Part,
    /// Counts from the header.
    nodes_announced: usize,
    sessions_announced: usize,
    /// Not a snapshot, or not one this build reads: the verdict, whatever
    /// the checksum.
    refused: Option<SnapshotError>,
    /// The first malformed item (reported if the checksum matches).
    malformed: Option<SnapshotError>,
    builder: TreeBuilder,
    acls: Vec<AclList>,
    sessions: SessionTimeouts,
    zxid: Zxid,
}

/// Where a [`SnapshotDecoder`] is in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Header,
    Acls {
        left: usize,
    },
    Nodes {
        left: usize,
    },
    Sessions {
        left: usize,
    },
    /// Every item read: only the trailer may follow.
    End,
}

/// Why an item could not be taken from the bytes at hand.
enum Stop {
    /// It continues in the next piece.
    More,
    /// It is malformed (or the file is not a snapshot this build reads).
    Bad(SnapshotError),
}

impl From<SnapshotError> for Stop {
    fn from(error: SnapshotError) -> Stop {
        Stop::Bad(error)
    }
}

impl SnapshotDecoder {
    /// A decoder for a file of `len` bytes.
    pub fn new(len: u64, extended_types_enabled: bool) -> SnapshotDecoder {
        let refused = (len < (HEADER_LEN + TRAILER_LEN) as u64)
            .then_some(SnapshotError::TooShort { len: len as usize });
        SnapshotDecoder {
            len,
            body_len: len.saturating_sub(TRAILER_LEN as u64),
            fed: 0,
            crc: 0,
            trailer: [0; TRAILER_LEN],
            carry: Vec::new(),
            part: Part::Header,
            nodes_announced: 0,
            sessions_announced: 0,
            refused,
            malformed: None,
            builder: TreeBuilder::new(extended_types_enabled),
            acls: Vec::new(),
            sessions: SessionTimeouts::new(),
            zxid: Zxid::ZERO,
        }
    }

    /// Takes the next piece of the file (pieces may be of any size).
    pub fn feed(&mut self, piece: &[u8]) {
        let piece = &piece[..piece.len().min((self.len - self.fed) as usize)];
        let body_left = self.body_len.saturating_sub(self.fed) as usize;
        let (body, trailer) = piece.split_at(piece.len().min(body_left));
        if !trailer.is_empty() {
            let at = (self.fed + body.len() as u64 - self.body_len) as usize;
            self.trailer[at..at + trailer.len()].copy_from_slice(trailer);
        }
        let base = self.fed;
        self.fed += piece.len() as u64;
        if self.refused.is_some() || body.is_empty() {
            return;
        }
        self.crc = crc32c::crc32c_append(self.crc, body);
        if self.malformed.is_none() {
            let at_end = base + body.len() as u64 == self.body_len;
            self.parse_piece(body, base, at_end);
        }
    }

    /// Parses what `body` (file offset `base`) completes, keeping an item it
    /// cuts for the next piece. An item begun in an earlier piece grows from
    /// this one by doubling steps, so the bytes copied stay a small multiple
    /// of the item, not of the piece.
    fn parse_piece(&mut self, body: &[u8], base: u64, at_end: bool) {
        let mut used = 0;
        if !self.carry.is_empty() {
            let carry_at = base - self.carry.len() as u64;
            let mut step = self.carry.len().max(256);
            loop {
                let take = step.min(body.len() - used);
                self.carry.extend_from_slice(&body[used..used + take]);
                used += take;
                let carry = std::mem::take(&mut self.carry);
                let consumed = self.parse_items(&carry, carry_at, at_end && used == body.len());
                self.carry = carry;
                if self.malformed.is_some() {
                    return;
                }
                if consumed > 0 {
                    // The carried item is done; what follows it came from `body`.
                    used -= self.carry.len() - consumed;
                    self.carry.clear();
                    break;
                }
                if used == body.len() {
                    return;
                }
                step *= 2;
            }
        }
        let rest = &body[used..];
        let consumed = self.parse_items(rest, base + used as u64, at_end);
        if self.malformed.is_none() {
            self.carry.extend_from_slice(&rest[consumed..]);
        }
    }

    /// Parses whole items from `bytes` (file offset `base`; `at_end`: the
    /// body ends with them). Returns the bytes consumed; records the first
    /// malformed item.
    fn parse_items(&mut self, bytes: &[u8], base: u64, at_end: bool) -> usize {
        let mut reader = Reader {
            bytes,
            at: 0,
            base: base as usize,
            body_len: self.body_len as usize,
            at_end,
        };
        loop {
            let start = reader.at;
            match self.parse_item(&mut reader) {
                Ok(true) => {}
                Ok(false) => return reader.at,
                Err(Stop::More) => return start,
                Err(Stop::Bad(error)) => {
                    match error {
                        SnapshotError::ZooKeeper
                        | SnapshotError::BadMagic { .. }
                        | SnapshotError::UnsupportedVersion { .. } => self.refused = Some(error),
                        error => self.malformed = Some(error),
                    }
                    return start;
                }
            }
        }
    }

    /// Parses one item of the current stage; false when nothing is left to parse.
    fn parse_item(&mut self, reader: &mut Reader<'_>) -> Result<bool, Stop> {
        match self.part {
            Part::Header => {
                let magic: [u8; 4] = reader.array()?;
                match &magic {
                    b"ZKSN" => return Err(Stop::Bad(SnapshotError::ZooKeeper)),
                    m if *m != MAGIC => return Err(Stop::Bad(SnapshotError::BadMagic { magic })),
                    _ => {}
                }
                let version = reader.u32()?;
                if version != VERSION {
                    return Err(Stop::Bad(SnapshotError::UnsupportedVersion { version }));
                }
                let zxid = Zxid(reader.i64()?);
                let nodes = reader.u64()?;
                let acls = reader.u32()?;
                let sessions = reader.u32()?;
                let nodes = reader.count(nodes, NODE_LEN_MIN)?;
                let acls = reader.count(acls.into(), ACL_LIST_LEN_MIN)?;
                let sessions = reader.count(sessions.into(), SESSION_LEN)?;
                self.zxid = zxid;
                self.acls.reserve_exact(acls);
                self.builder.reserve(nodes);
                self.nodes_announced = nodes;
                self.sessions_announced = sessions;
                self.part = Part::Acls { left: acls };
            }
            Part::Acls { left: 0 } => {
                self.part = Part::Nodes {
                    left: self.nodes_announced,
                }
            }
            Part::Acls { left } => {
                let acl = reader.acl_list()?;
                self.acls.push(self.builder.intern_acl(acl));
                self.part = Part::Acls { left: left - 1 };
            }
            Part::Nodes { left: 0 } => {
                if !self.builder.is_complete() {
                    return Err(Stop::Bad(SnapshotError::Malformed {
                        offset: reader.offset(),
                        what: "the nodes end before the children they announce",
                    }));
                }
                self.part = Part::Sessions {
                    left: self.sessions_announced,
                };
            }
            Part::Nodes { left } => {
                let offset = reader.offset();
                let (name, children, image) = reader.node(&self.acls)?;
                self.builder
                    .add(name, children, image)
                    .map_err(|source| SnapshotError::Node { offset, source })?;
                self.part = Part::Nodes { left: left - 1 };
            }
            Part::Sessions { left: 0 } => self.part = Part::End,
            Part::Sessions { left } => {
                let offset = reader.offset();
                let id = SessionId(reader.i64()?);
                let timeout_ms = reader.u32()?;
                if self.sessions.insert(id, timeout_ms).is_some() {
                    return Err(Stop::Bad(SnapshotError::Malformed {
                        offset,
                        what: "a session appears twice",
                    }));
                }
                self.part = Part::Sessions { left: left - 1 };
            }
            Part::End if reader.is_empty() => return Ok(false),
            Part::End => {
                return Err(Stop::Bad(SnapshotError::Malformed {
                    offset: reader.offset(),
                    what: "bytes after the last session",
                }))
            }
        }
        Ok(true)
    }

    /// The snapshot, once every byte of the file was fed.
    pub fn finish(self) -> Result<Snapshot, SnapshotError> {
        if let Some(refused) = self.refused {
            return Err(refused);
        }
        if self.fed < self.len {
            return Err(SnapshotError::Malformed {
                offset: self.fed as usize,
                what: "the file ended before its announced length",
            });
        }
        let stored = u32::from_le_bytes(self.trailer);
        if stored != self.crc {
            return Err(SnapshotError::Checksum {
                offset: self.body_len as usize,
                stored,
                computed: self.crc,
            });
        }
        if let Some(malformed) = self.malformed {
            return Err(malformed);
        }
        assert_eq!(self.part, Part::End, "a whole body parses to its end");
        let tree = self.builder.finish(self.zxid.0)?;
        Ok(Snapshot {
            tree,
            sessions: self.sessions,
            zxid: self.zxid,
        })
    }
}

/// Reads items from the bytes at hand; every read is bounds-checked. Running
/// out of bytes is [`Stop::More`], unless the body ends here (then the item is
/// malformed).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The file offset of `bytes[0]`.
    base: usize,
    body_len: usize,
    at_end: bool,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        self.base + self.at
    }

    fn is_empty(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Stop> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            // A length past the body is malformed even before the body ends.
            let past_body = self.offset().saturating_add(len) > self.body_len;
            return Err(match self.at_end || past_body {
                true => Stop::Bad(SnapshotError::Malformed {
                    offset: self.offset(),
                    what,
                }),
                false => Stop::More,
            });
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        Ok(self
            .take(N, "ends inside a field")?
            .try_into()
            .expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8, Stop> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, Stop> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, Stop> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Stop> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, Stop> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Stop> {
        let len = self.u32()? as usize;
        self.take(len, "a length runs past the end")
    }

    fn str(&mut self) -> Result<&'a str, Stop> {
        let at = self.offset();
        std::str::from_utf8(self.bytes()?).map_err(|_| {
            Stop::Bad(SnapshotError::Malformed {
                offset: at,
                what: "a string is not UTF-8",
            })
        })
    }

    /// A count read from the file, checked against the body left (each item
    /// takes at least `len_min`), so a bad count cannot make us allocate.
    fn count(&self, count: u64, len_min: usize) -> Result<usize, Stop> {
        let left = self.body_len.saturating_sub(self.offset()) as u64;
        if count > left / len_min as u64 {
            return Err(Stop::Bad(SnapshotError::Malformed {
                offset: self.offset(),
                what: "a count exceeds what the file can hold",
            }));
        }
        Ok(count as usize)
    }

    fn acl_list(&mut self) -> Result<Vec<Acl>, Stop> {
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

    fn node(&mut self, acls: &[AclList]) -> Result<(&'a str, u32, NodeImage), Stop> {
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
        let kind_at = self.offset();
        let kind = self.u8()?;
        let flags = self.u8()?;
        let value = self.i64()?;
        let acl_at = self.offset();
        let acl_index = self.u32()?;
        let data = self.bytes()?;
        // Whole: from here on, errors are about the node, not about more bytes.
        let ephemeral_type = match kind {
            KIND_PERSISTENT => EphemeralType::Void,
            KIND_EPHEMERAL => EphemeralType::Normal(value),
            KIND_CONTAINER => EphemeralType::Container,
            KIND_TTL => EphemeralType::Ttl(value),
            _ => {
                return Err(Stop::Bad(SnapshotError::Malformed {
                    offset: kind_at,
                    what: "unknown node kind",
                }))
            }
        };
        if flags & !FLAG_DATA_NULL != 0 {
            return Err(Stop::Bad(SnapshotError::Malformed {
                offset: kind_at + 1,
                what: "unknown node flags",
            }));
        }
        let acl = acls
            .get(acl_index as usize)
            .ok_or(Stop::Bad(SnapshotError::Malformed {
                offset: acl_at,
                what: "ACL index out of range",
            }))?
            .clone();
        Ok((
            name,
            children,
            NodeImage {
                data: Bytes::copy_from_slice(data),
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
