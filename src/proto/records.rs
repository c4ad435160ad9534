//! The jute records of `zookeeper.jute` (module `org.apache.zookeeper.data` and
//! `org.apache.zookeeper.proto`), field order exactly as declared there.
//!
//! This file holds the data records and the framing-level proto records (headers,
//! handshake, auth, watch replay, events). Request bodies are in
//! [`super::request`], reply bodies in [`super::response`].

use bytes::{BufMut, Bytes, BytesMut};

use super::jute::{put_str_vec, wire_len, DecodeError, JuteWrite, Reader};
use super::opcode::{EventType, KeeperState, OpCode};

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
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Id {
    /// `world`, `auth`, `digest`, `ip`, `super`, ...
    pub scheme: String,
    /// The identity within the scheme.
    pub id: String,
}

impl Id {
    /// Builds an id.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }
}

/// `org.apache.zookeeper.data.ACL`: permission bits for one id.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Acl {
    /// `perms::*` bits.
    pub perms: i32,
    /// Who gets them.
    pub id: Id,
}

impl Acl {
    /// Builds an ACL entry.
    pub fn new(perms: i32, scheme: impl Into<String>, id: impl Into<String>) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`: everything for `world:anyone`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(super::opcode::perms::ALL, "world", "anyone")]
    }
}

impl Stat {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 68;

    /// Decodes a `Stat`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }

    /// Encodes a `Stat` (68 bytes).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(Stat::WIRE_LEN);
        out.put_i64(self.czxid);
        out.put_i64(self.mzxid);
        out.put_i64(self.ctime);
        out.put_i64(self.mtime);
        out.put_i32(self.version);
        out.put_i32(self.cversion);
        out.put_i32(self.aversion);
        out.put_i64(self.ephemeral_owner);
        out.put_i32(self.data_length);
        out.put_i32(self.num_children);
        out.put_i64(self.pzxid);
    }
}

impl Id {
    /// Decodes an `Id`; null strings read as empty.
    pub fn decode(r: &mut Reader<'_>) -> Result<Id, DecodeError> {
        Ok(Id {
            scheme: r.read_str()?.to_owned(),
            id: r.read_str()?.to_owned(),
        })
    }

    /// Encodes an `Id`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(&self.scheme);
        out.put_jute_str(&self.id);
    }
}

impl Acl {
    /// Smallest encoding of an ACL entry: perms and two empty strings.
    pub const WIRE_LEN_MIN: usize = 12;

    /// Decodes an `ACL`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Acl, DecodeError> {
        Ok(Acl {
            perms: r.read_i32()?,
            id: Id::decode(r)?,
        })
    }

    /// Encodes an `ACL`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.perms);
        self.id.encode(out);
    }

    /// Decodes a `vector<ACL>`; a null vector reads as empty.
    pub fn decode_vec(r: &mut Reader<'_>) -> Result<Vec<Acl>, DecodeError> {
        let count = r.read_vec_len_min(Acl::WIRE_LEN_MIN)?.unwrap_or(0);
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(Acl::decode(r)?);
        }
        Ok(out)
    }

    /// Encodes a `vector<ACL>`.
    pub fn encode_vec(acl: &[Acl], out: &mut BytesMut) {
        out.put_i32(wire_len(acl.len()));
        for entry in acl {
            entry.encode(out);
        }
    }
}

/// `RequestHeader { int xid; int type; }`: precedes every request but the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestHeader {
    /// Client-chosen id echoed in the reply; negative values are special (`opcode::xid`).
    pub xid: i32,
    /// The raw opcode; see [`OpCode::from_code`].
    pub op_code: i32,
}

impl RequestHeader {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 8;

    /// A header for `op`.
    pub fn new(xid: i32, op: OpCode) -> RequestHeader {
        RequestHeader {
            xid,
            op_code: op.code(),
        }
    }

    /// The opcode, if ZooKeeper defines it.
    pub fn op(&self) -> Option<OpCode> {
        OpCode::from_code(self.op_code)
    }

    /// Decodes a `RequestHeader`.
    pub fn decode(r: &mut Reader<'_>) -> Result<RequestHeader, DecodeError> {
        Ok(RequestHeader {
            xid: r.read_i32()?,
            op_code: r.read_i32()?,
        })
    }

    /// Encodes a `RequestHeader`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.xid);
        out.put_i32(self.op_code);
    }
}

/// `ReplyHeader { int xid; long zxid; int err; }`: precedes every reply but the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplyHeader {
    /// The request's xid, or -1 for a notification.
    pub xid: i32,
    /// The server's last processed zxid (or -1 / 0 where ZooKeeper sends those).
    pub zxid: i64,
    /// An [`super::ErrorCode`] value; the body is present only when 0.
    pub err: i32,
}

impl ReplyHeader {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 16;

    /// Decodes a `ReplyHeader`.
    pub fn decode(r: &mut Reader<'_>) -> Result<ReplyHeader, DecodeError> {
        Ok(ReplyHeader {
            xid: r.read_i32()?,
            zxid: r.read_i64()?,
            err: r.read_i32()?,
        })
    }

    /// Encodes a `ReplyHeader`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.xid);
        out.put_i64(self.zxid);
        out.put_i32(self.err);
    }
}

/// `MultiHeader { int type; boolean done; int err; }`: precedes each multi sub-op
/// and sub-result; `{-1, true, -1}` ends the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiHeader {
    /// Sub-op opcode, or -1 for an error result / the terminator.
    pub op_type: i32,
    /// True only on the terminator.
    pub done: bool,
    /// -1 in requests; the sub-result's error code in responses.
    pub err: i32,
}

impl MultiHeader {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 9;

    /// The terminator `{-1, true, -1}`.
    pub const END: MultiHeader = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };

    /// Decodes a `MultiHeader`.
    pub fn decode(r: &mut Reader<'_>) -> Result<MultiHeader, DecodeError> {
        Ok(MultiHeader {
            op_type: r.read_i32()?,
            done: r.read_bool()?,
            err: r.read_i32()?,
        })
    }

    /// Encodes a `MultiHeader`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.op_type);
        out.put_jute_bool(self.done);
        out.put_i32(self.err);
    }
}

/// `WatcherEvent { int type; int state; ustring path; }`: the body of a
/// notification (xid -1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatcherEvent<'a> {
    /// An [`EventType`] value.
    pub event_type: i32,
    /// A [`KeeperState`] value; `SyncConnected` (3) for node events.
    pub state: i32,
    /// The node the event is about.
    pub path: &'a str,
}

impl<'a> WatcherEvent<'a> {
    /// A node event as the server sends it (state `SyncConnected`).
    pub fn node(event_type: EventType, path: &'a str) -> WatcherEvent<'a> {
        WatcherEvent {
            event_type: event_type as i32,
            state: KeeperState::SyncConnected as i32,
            path,
        }
    }

    /// Decodes a `WatcherEvent`.
    pub fn decode(r: &mut Reader<'a>) -> Result<WatcherEvent<'a>, DecodeError> {
        Ok(WatcherEvent {
            event_type: r.read_i32()?,
            state: r.read_i32()?,
            path: r.read_str()?,
        })
    }

    /// Encodes a `WatcherEvent`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.event_type);
        out.put_i32(self.state);
        out.put_jute_str(self.path);
    }
}

/// `ConnectRequest`: the client's first frame, with no `RequestHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnectRequest {
    /// 0 from every Apache client.
    pub protocol_version: i32,
    /// Highest zxid the client has seen; a server behind it must refuse.
    pub last_zxid_seen: i64,
    /// Requested session timeout.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to reattach.
    pub session_id: i64,
    /// The session password (16 bytes; zeros for a new session).
    pub passwd: Bytes,
    /// `canBeReadOnly`; `None` when the client (<= 3.3) omitted the byte, in which
    /// case the response must omit it too.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// Decodes the payload of the first client frame. Like ZooKeeper
    /// (`ProtocolManager.deserializeConnectRequest`), the trailing `readOnly` byte
    /// is optional and bytes after it are ignored.
    pub fn decode_frame(frame: &Bytes, max_len: usize) -> Result<ConnectRequest, DecodeError> {
        let mut r = Reader::new(frame, max_len);
        ConnectRequest::decode(&mut r)
    }

    /// Decodes a `ConnectRequest` from a reader positioned at its start.
    pub fn decode(r: &mut Reader<'_>) -> Result<ConnectRequest, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            timeout_ms: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_data()?.0,
            read_only: if r.remaining() > 0 {
                Some(r.read_bool()?)
            } else {
                None
            },
        })
    }

    /// Encodes the record (no frame length).
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.protocol_version);
        out.put_i64(self.last_zxid_seen);
        out.put_i32(self.timeout_ms);
        out.put_i64(self.session_id);
        out.put_jute_buf(&self.passwd);
        if let Some(ro) = self.read_only {
            out.put_jute_bool(ro);
        }
    }
}

/// `ConnectResponse`: the server's first frame, with no `ReplyHeader`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated timeout; 0 tells the client its session is invalid (expired).
    pub timeout_ms: i32,
    /// The session id (0 if invalid).
    pub session_id: i64,
    /// The session password (zeros if invalid).
    pub passwd: [u8; 16],
    /// Whether this is a read-only server; omitted on the wire when `None`
    /// (the client's request had no `readOnly` byte).
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The reply that tells a client its session is gone (timeout 0, id 0, zero
    /// password), as `ZooKeeperServer.finishSessionInit` sends it.
    pub fn invalid(read_only: Option<bool>) -> ConnectResponse {
        ConnectResponse {
            read_only,
            ..ConnectResponse::default()
        }
    }

    /// Decodes the payload of the first server frame.
    pub fn decode(r: &mut Reader<'_>) -> Result<ConnectResponse, DecodeError> {
        let protocol_version = r.read_i32()?;
        let timeout_ms = r.read_i32()?;
        let session_id = r.read_i64()?;
        let raw = r.read_buffer_slice()?.unwrap_or_default();
        let passwd: [u8; 16] = raw
            .try_into()
            .map_err(|_| DecodeError::Invalid("session password is not 16 bytes"))?;
        let read_only = if r.remaining() > 0 {
            Some(r.read_bool()?)
        } else {
            None
        };
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }

    /// Encodes the record (no frame length).
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.protocol_version);
        out.put_i32(self.timeout_ms);
        out.put_i64(self.session_id);
        out.put_jute_buf(&self.passwd);
        if let Some(ro) = self.read_only {
            out.put_jute_bool(ro);
        }
    }

    /// Encodes the whole frame (length + record).
    pub fn encode_frame(&self, out: &mut BytesMut) {
        let start = super::frame::begin_frame(out);
        self.encode(out);
        super::frame::end_frame(out, start);
    }
}

/// `AuthPacket { int type; ustring scheme; buffer auth; }` (opcode 100, xid -4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AuthPacket<'a> {
    /// 0 from the Java client; unused by the server.
    pub auth_type: i32,
    /// `digest`, `ip`, ...
    pub scheme: &'a str,
    /// Scheme-specific credentials (`user:password` for digest).
    pub auth: Bytes,
}

impl<'a> AuthPacket<'a> {
    /// Decodes an `AuthPacket`.
    pub fn decode(r: &mut Reader<'a>) -> Result<AuthPacket<'a>, DecodeError> {
        Ok(AuthPacket {
            auth_type: r.read_i32()?,
            scheme: r.read_str()?,
            auth: r.read_data()?.0,
        })
    }

    /// Encodes an `AuthPacket`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.auth_type);
        out.put_jute_str(self.scheme);
        out.put_jute_buf(&self.auth);
    }
}

/// `SetWatches` (opcode 101) and `SetWatches2` (105), sent with xid -8 on
/// reconnect to re-register watches relative to `relative_zxid`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetWatches<'a> {
    /// The client's last seen zxid.
    pub relative_zxid: i64,
    /// Paths with data watches (from getData).
    pub data: Vec<&'a str>,
    /// Paths with exist watches (from exists).
    pub exist: Vec<&'a str>,
    /// Paths with child watches.
    pub child: Vec<&'a str>,
    /// Paths with persistent watches (`SetWatches2` only).
    pub persistent: Vec<&'a str>,
    /// Paths with persistent recursive watches (`SetWatches2` only).
    pub persistent_recursive: Vec<&'a str>,
    /// True for `SetWatches2` (opcode 105).
    pub version2: bool,
}

impl<'a> SetWatches<'a> {
    /// Decodes a `SetWatches` (`version2` false) or `SetWatches2` body.
    pub fn decode(r: &mut Reader<'a>, version2: bool) -> Result<SetWatches<'a>, DecodeError> {
        let mut sw = SetWatches {
            relative_zxid: r.read_i64()?,
            data: r.read_str_vec()?,
            exist: r.read_str_vec()?,
            child: r.read_str_vec()?,
            version2,
            ..SetWatches::default()
        };
        if version2 {
            sw.persistent = r.read_str_vec()?;
            sw.persistent_recursive = r.read_str_vec()?;
        }
        Ok(sw)
    }

    /// The opcode this body goes with.
    pub fn op(&self) -> OpCode {
        if self.version2 {
            OpCode::SetWatches2
        } else {
            OpCode::SetWatches
        }
    }

    /// Encodes the body (five lists only when `version2`).
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i64(self.relative_zxid);
        put_str_vec(out, &self.data);
        put_str_vec(out, &self.exist);
        put_str_vec(out, &self.child);
        if self.version2 {
            put_str_vec(out, &self.persistent);
            put_str_vec(out, &self.persistent_recursive);
        }
    }
}

/// `ClientInfo { ustring authScheme; ustring user; }`, an entry of the whoAmI reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    /// The auth scheme (`ip`, `digest`, ...).
    pub scheme: String,
    /// The identity within the scheme.
    pub user: String,
}

impl ClientInfo {
    /// Smallest encoding: two empty strings.
    pub const WIRE_LEN_MIN: usize = 8;

    /// Decodes a `ClientInfo`.
    pub fn decode(r: &mut Reader<'_>) -> Result<ClientInfo, DecodeError> {
        Ok(ClientInfo {
            scheme: r.read_str()?.to_owned(),
            user: r.read_str()?.to_owned(),
        })
    }

    /// Encodes a `ClientInfo`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(&self.scheme);
        out.put_jute_str(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_every_truncation_fails, decode_all, encoded, MAX};
    use super::*;

    fn stat() -> Stat {
        Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 9,
            num_children: 10,
            pzxid: 11,
        }
    }

    #[test]
    fn stat_round_trips_in_68_bytes() {
        let b = encoded(|o| stat().encode(o));
        assert_eq!(b.len(), Stat::WIRE_LEN);
        assert_eq!(decode_all(&b, Stat::decode), stat());
        assert_eq!(&b[..8], &1i64.to_be_bytes());
        assert_eq!(&b[60..], &11i64.to_be_bytes());
        assert_every_truncation_fails(&b, |r| Stat::decode(r).map(drop));
    }

    #[test]
    fn acl_round_trips() {
        let acl = vec![
            Acl::new(super::super::perms::ALL, "world", "anyone"),
            Acl::new(1, "digest", "u:x="),
        ];
        let b = encoded(|o| Acl::encode_vec(&acl, o));
        assert_eq!(decode_all(&b, Acl::decode_vec), acl);
        assert_every_truncation_fails(&b, |r| Acl::decode_vec(r).map(drop));
        let one = encoded(|o| acl[0].encode(o));
        assert_eq!(decode_all(&one, Acl::decode), acl[0]);
        let id = encoded(|o| acl[1].id.encode(o));
        assert_eq!(decode_all(&id, Id::decode), acl[1].id);
    }

    #[test]
    fn acl_vector_count_is_bounded_by_the_frame() {
        // An ACL takes at least 12 bytes: 2 entries cannot fit in 20 bytes. And a
        // count of i32::MAX must fail before any allocation is sized from it.
        let mut b = BytesMut::new();
        b.put_i32(2);
        b.put_slice(&[0; 20]);
        let b = b.freeze();
        assert_eq!(
            Reader::new(&b, MAX).read_vec_len_min(12),
            Err(DecodeError::Truncated)
        );
        let huge = encoded(|o| o.put_i32(i32::MAX));
        assert_eq!(
            Acl::decode_vec(&mut Reader::new(&huge, usize::MAX >> 1)),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Acl::decode_vec(&mut Reader::new(&huge, MAX)),
            Err(DecodeError::LengthOutOfRange {
                len: i32::MAX.into(),
                max: MAX
            })
        );
        let neg = encoded(|o| o.put_i32(-2));
        assert!(matches!(
            Acl::decode_vec(&mut Reader::new(&neg, MAX)),
            Err(DecodeError::LengthOutOfRange { len: -2, .. })
        ));
    }

    #[test]
    fn headers_round_trip() {
        let rq = RequestHeader::new(-2, OpCode::Ping);
        let b = encoded(|o| rq.encode(o));
        assert_eq!(&b[..], b"\xff\xff\xff\xfe\x00\x00\x00\x0b");
        assert_eq!(decode_all(&b, RequestHeader::decode), rq);
        assert_eq!(rq.op(), Some(OpCode::Ping));
        assert_eq!(
            RequestHeader {
                xid: 1,
                op_code: 999
            }
            .op(),
            None
        );
        assert_every_truncation_fails(&b, |r| RequestHeader::decode(r).map(drop));

        let rp = ReplyHeader {
            xid: 7,
            zxid: 0x1_0000_0002,
            err: -101,
        };
        let b = encoded(|o| rp.encode(o));
        assert_eq!(b.len(), ReplyHeader::WIRE_LEN);
        assert_eq!(decode_all(&b, ReplyHeader::decode), rp);
        assert_every_truncation_fails(&b, |r| ReplyHeader::decode(r).map(drop));

        let b = encoded(|o| MultiHeader::END.encode(o));
        assert_eq!(&b[..], b"\xff\xff\xff\xff\x01\xff\xff\xff\xff");
        assert_eq!(decode_all(&b, MultiHeader::decode), MultiHeader::END);
        assert_every_truncation_fails(&b, |r| MultiHeader::decode(r).map(drop));
    }

    #[test]
    fn watcher_event_round_trips() {
        let ev = WatcherEvent::node(EventType::NodeDataChanged, "/a/b");
        assert_eq!(ev.state, 3);
        let b = encoded(|o| ev.encode(o));
        assert_eq!(decode_all(&b, WatcherEvent::decode), ev);
        assert_every_truncation_fails(&b, |r| WatcherEvent::decode(r).map(drop));
    }

    fn connect_request(read_only: Option<bool>) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x1_0000_0007,
            timeout_ms: 30_000,
            session_id: 0x0100_0000_0000_0001,
            passwd: Bytes::from_static(&[7; 16]),
            read_only,
        }
    }

    #[test]
    fn connect_request_with_and_without_read_only() {
        for (ro, len) in [(Some(true), 45), (Some(false), 45), (None, 44)] {
            let req = connect_request(ro);
            let b = encoded(|o| req.encode(o));
            assert_eq!(b.len(), len);
            assert_eq!(ConnectRequest::decode_frame(&b, MAX), Ok(req));
        }
        // Every prefix shorter than the 44-byte legacy form fails.
        let b = encoded(|o| connect_request(None).encode(o));
        assert_every_truncation_fails(&b, |r| ConnectRequest::decode(r).map(drop));
        // Trailing bytes after readOnly are ignored, as ZooKeeper does.
        let mut long = BytesMut::from(&encoded(|o| connect_request(Some(true)).encode(o))[..]);
        long.put_slice(b"xyz");
        let long = long.freeze();
        assert_eq!(
            ConnectRequest::decode_frame(&long, MAX),
            Ok(connect_request(Some(true)))
        );
        // A hostile password length.
        let mut bad = BytesMut::new();
        bad.put_slice(&b[..24]);
        bad.put_i32(i32::MAX);
        let bad = bad.freeze();
        assert!(matches!(
            ConnectRequest::decode_frame(&bad, MAX),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
    }

    #[test]
    fn connect_response_with_and_without_read_only() {
        let rsp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 4000,
            session_id: 0x0100_0000_0000_0001,
            passwd: [9; 16],
            read_only: Some(false),
        };
        let b = encoded(|o| rsp.encode(o));
        assert_eq!(b.len(), 37);
        assert_eq!(decode_all(&b, ConnectResponse::decode), rsp);
        let legacy = ConnectResponse {
            read_only: None,
            ..rsp
        };
        let b = encoded(|o| legacy.encode(o));
        assert_eq!(b.len(), 36);
        assert_eq!(decode_all(&b, ConnectResponse::decode), legacy);
        assert_every_truncation_fails(&b, |r| ConnectResponse::decode(r).map(drop));
        let framed = encoded(|o| rsp.encode_frame(o));
        assert_eq!(&framed[..4], &37i32.to_be_bytes());
        let invalid = encoded(|o| ConnectResponse::invalid(Some(false)).encode(o));
        assert_eq!(
            &invalid[..],
            &[&[0u8; 16][..], &[0, 0, 0, 16], &[0; 16], &[0]].concat()[..]
        );
        // A password that is not 16 bytes.
        let short = encoded(|o| {
            o.put_i32(0);
            o.put_i32(1);
            o.put_i64(1);
            o.put_jute_buf(b"abc");
        });
        assert!(matches!(
            ConnectResponse::decode(&mut Reader::new(&short, MAX)),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn auth_packet_round_trips() {
        let a = AuthPacket {
            auth_type: 0,
            scheme: "digest",
            auth: Bytes::from_static(b"u:p"),
        };
        let b = encoded(|o| a.encode(o));
        assert_eq!(decode_all(&b, AuthPacket::decode), a);
        assert_every_truncation_fails(&b, |r| AuthPacket::decode(r).map(drop));
    }

    #[test]
    fn set_watches_both_shapes() {
        let v1 = SetWatches {
            relative_zxid: 35,
            data: vec!["/j"],
            exist: vec!["/j/w1", "/x"],
            child: vec!["/j"],
            ..SetWatches::default()
        };
        let b = encoded(|o| v1.encode(o));
        assert_eq!(v1.op(), OpCode::SetWatches);
        assert_eq!(decode_all(&b, |r| SetWatches::decode(r, false)), v1);
        assert_every_truncation_fails(&b, |r| SetWatches::decode(r, false).map(drop));

        let v2 = SetWatches {
            persistent: vec!["/p"],
            persistent_recursive: vec!["/", "/q"],
            version2: true,
            ..v1
        };
        let b = encoded(|o| v2.encode(o));
        assert_eq!(v2.op(), OpCode::SetWatches2);
        assert_eq!(decode_all(&b, |r| SetWatches::decode(r, true)), v2);
        assert_every_truncation_fails(&b, |r| SetWatches::decode(r, true).map(drop));
    }

    #[test]
    fn client_info_round_trips() {
        let c = ClientInfo {
            scheme: "ip".into(),
            user: "127.0.0.1".into(),
        };
        let b = encoded(|o| c.encode(o));
        assert_eq!(decode_all(&b, ClientInfo::decode), c);
        assert_every_truncation_fails(&b, |r| ClientInfo::decode(r).map(drop));
    }
}
