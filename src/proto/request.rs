//! Client-to-server request bodies (what follows the `RequestHeader`), decoded
//! zero-copy: paths borrow from the frame, data is a slice of it.
//!
//! Null strings (-1) read as `""` and null buffers as empty (kazoo writes empty
//! values that way); where ZooKeeper keeps the difference (a node created with
//! null data reads back as null) the record carries a `*_null` flag, which also
//! lets a decoded request re-encode byte for byte.

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{begin_frame, end_frame};
use super::jute::{DecodeError, JuteWrite, Reader};
use super::opcode::OpCode;
use super::records::{Acl, AuthPacket, MultiHeader, RequestHeader, SetWatches};

/// `CreateRequest` (opcodes 1, 15, 19) and `CreateTTLRequest` (21).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CreateRequest<'a> {
    /// Which create: `Create`, `Create2`, `CreateContainer` or `CreateTtl`.
    pub op: OpCode,
    /// The node to create (without the sequence suffix).
    pub path: &'a str,
    /// Initial data; empty if the client sent null.
    pub data: Bytes,
    /// The client sent null data (-1): ZooKeeper stores and returns it as null.
    pub data_null: bool,
    /// The node's ACL.
    pub acl: Vec<Acl>,
    /// `CreateMode` flags.
    pub flags: i32,
    /// TTL in ms; on the wire only for `CreateTtl`, else 0.
    pub ttl: i64,
}

impl Default for CreateRequest<'_> {
    fn default() -> Self {
        CreateRequest {
            op: OpCode::Create,
            path: "",
            data: Bytes::new(),
            data_null: false,
            acl: Vec::new(),
            flags: 0,
            ttl: 0,
        }
    }
}

impl<'a> CreateRequest<'a> {
    /// Decodes the body of a create of kind `op`.
    pub fn decode(op: OpCode, r: &mut Reader<'a>) -> Result<CreateRequest<'a>, DecodeError> {
        let path = r.read_str()?;
        let (data, data_null) = r.read_data()?;
        let acl = Acl::decode_vec(r)?;
        let flags = r.read_i32()?;
        let ttl = if op == OpCode::CreateTtl {
            r.read_i64()?
        } else {
            0
        };
        Ok(CreateRequest {
            op,
            path,
            data,
            data_null,
            acl,
            flags,
            ttl,
        })
    }

    /// Encodes the body (with `ttl` only for `CreateTtl`).
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_jute_data(&self.data, self.data_null);
        Acl::encode_vec(&self.acl, out);
        out.put_i32(self.flags);
        if self.op == OpCode::CreateTtl {
            out.put_i64(self.ttl);
        }
    }
}

/// `DeleteRequest { ustring path; int version; }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeleteRequest<'a> {
    /// The node.
    pub path: &'a str,
    /// Expected version, -1 for any.
    pub version: i32,
}

impl<'a> DeleteRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<DeleteRequest<'a>, DecodeError> {
        Ok(DeleteRequest {
            path: r.read_str()?,
            version: r.read_i32()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_i32(self.version);
    }
}

/// `{ ustring path; boolean watch; }`: exists, getData, getChildren, getChildren2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathWatch<'a> {
    /// The node.
    pub path: &'a str,
    /// Leave a one-shot watch.
    pub watch: bool,
}

impl<'a> PathWatch<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<PathWatch<'a>, DecodeError> {
        Ok(PathWatch {
            path: r.read_str()?,
            watch: r.read_bool()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_jute_bool(self.watch);
    }
}

/// `SetDataRequest { ustring path; buffer data; int version; }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetDataRequest<'a> {
    /// The node.
    pub path: &'a str,
    /// New data; empty if the client sent null.
    pub data: Bytes,
    /// The client sent null data (-1).
    pub data_null: bool,
    /// Expected version, -1 for any.
    pub version: i32,
}

impl<'a> SetDataRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<SetDataRequest<'a>, DecodeError> {
        let path = r.read_str()?;
        let (data, data_null) = r.read_data()?;
        Ok(SetDataRequest {
            path,
            data,
            data_null,
            version: r.read_i32()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_jute_data(&self.data, self.data_null);
        out.put_i32(self.version);
    }
}

/// `{ ustring path; }`: getACL, sync, getEphemerals (`prefixPath`),
/// getAllChildrenNumber; and deleteContainer, whose body is a `buffer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathOnly<'a> {
    /// The node (or prefix).
    pub path: &'a str,
}

impl<'a> PathOnly<'a> {
    /// Decodes a `{ ustring path; }` body.
    pub fn decode(r: &mut Reader<'a>) -> Result<PathOnly<'a>, DecodeError> {
        Ok(PathOnly {
            path: r.read_str()?,
        })
    }

    /// Encodes a `{ ustring path; }` body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
    }
}

/// `SetACLRequest { ustring path; vector<ACL> acl; int version; }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetAclRequest<'a> {
    /// The node.
    pub path: &'a str,
    /// The new ACL.
    pub acl: Vec<Acl>,
    /// Expected ACL version (`aversion`), -1 for any.
    pub version: i32,
}

impl<'a> SetAclRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<SetAclRequest<'a>, DecodeError> {
        Ok(SetAclRequest {
            path: r.read_str()?,
            acl: Acl::decode_vec(r)?,
            version: r.read_i32()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        Acl::encode_vec(&self.acl, out);
        out.put_i32(self.version);
    }
}

/// `CheckVersionRequest { ustring path; int version; }` (multi sub-op 13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CheckVersionRequest<'a> {
    /// The node.
    pub path: &'a str,
    /// Expected version, -1 for any.
    pub version: i32,
}

impl<'a> CheckVersionRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<CheckVersionRequest<'a>, DecodeError> {
        Ok(CheckVersionRequest {
            path: r.read_str()?,
            version: r.read_i32()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_i32(self.version);
    }
}

/// `ReconfigRequest { ustring joiningServers; ustring leavingServers; ustring
/// newMembers; long curConfigId; }`; unused strings are null on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReconfigRequest<'a> {
    /// Servers to add (incremental).
    pub joining_servers: Option<&'a str>,
    /// Server ids to remove (incremental).
    pub leaving_servers: Option<&'a str>,
    /// The whole new membership (non-incremental).
    pub new_members: Option<&'a str>,
    /// Expected current config version, -1 for any.
    pub cur_config_id: i64,
}

impl<'a> ReconfigRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<ReconfigRequest<'a>, DecodeError> {
        Ok(ReconfigRequest {
            joining_servers: r.read_ustring()?,
            leaving_servers: r.read_ustring()?,
            new_members: r.read_ustring()?,
            cur_config_id: r.read_i64()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_opt_str(self.joining_servers);
        out.put_jute_opt_str(self.leaving_servers);
        out.put_jute_opt_str(self.new_members);
        out.put_i64(self.cur_config_id);
    }
}

/// `CheckWatchesRequest` / `RemoveWatchesRequest { ustring path; int type; }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatchesRequest<'a> {
    /// The node.
    pub path: &'a str,
    /// A [`super::WatcherType`] value.
    pub watcher_type: i32,
}

impl<'a> WatchesRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<WatchesRequest<'a>, DecodeError> {
        Ok(WatchesRequest {
            path: r.read_str()?,
            watcher_type: r.read_i32()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_i32(self.watcher_type);
    }
}

/// `AddWatchRequest { ustring path; int mode; }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddWatchRequest<'a> {
    /// The node.
    pub path: &'a str,
    /// An [`super::AddWatchMode`] value.
    pub mode: i32,
}

impl<'a> AddWatchRequest<'a> {
    /// Decodes the body.
    pub fn decode(r: &mut Reader<'a>) -> Result<AddWatchRequest<'a>, DecodeError> {
        Ok(AddWatchRequest {
            path: r.read_str()?,
            mode: r.read_i32()?,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_jute_str(self.path);
        out.put_i32(self.mode);
    }
}

/// A write sub-op of multi (14).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultiOp<'a> {
    /// create (1), create2 (15), createContainer (19), createTTL (21).
    Create(CreateRequest<'a>),
    /// delete (2).
    Delete(DeleteRequest<'a>),
    /// setData (5).
    SetData(SetDataRequest<'a>),
    /// check (13).
    Check(CheckVersionRequest<'a>),
}

impl MultiOp<'_> {
    /// The sub-op's opcode (its `MultiHeader.type`).
    pub fn op(&self) -> OpCode {
        match self {
            MultiOp::Create(c) => c.op,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            MultiOp::Create(c) => c.encode(out),
            MultiOp::Delete(d) => d.encode(out),
            MultiOp::SetData(s) => s.encode(out),
            MultiOp::Check(c) => c.encode(out),
        }
    }
}

/// A read sub-op of multiRead (22). ZooKeeper ignores the sub-op's watch flag;
/// it is encoded as false, as the Java client's `Op.getData`/`Op.getChildren` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MultiReadOp<'a> {
    /// getChildren (8) of a path.
    GetChildren(&'a str),
    /// getData (4) of a path.
    GetData(&'a str),
}

impl MultiReadOp<'_> {
    /// The sub-op's opcode.
    pub fn op(&self) -> OpCode {
        match self {
            MultiReadOp::GetChildren(_) => OpCode::GetChildren,
            MultiReadOp::GetData(_) => OpCode::GetData,
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        let (MultiReadOp::GetChildren(path) | MultiReadOp::GetData(path)) = *self;
        PathWatch { path, watch: false }.encode(out);
    }
}

/// A decoded request body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request<'a> {
    /// create (1), create2 (15), createContainer (19), createTTL (21).
    Create(CreateRequest<'a>),
    /// delete (2).
    Delete(DeleteRequest<'a>),
    /// exists (3).
    Exists(PathWatch<'a>),
    /// getData (4).
    GetData(PathWatch<'a>),
    /// getChildren (8).
    GetChildren(PathWatch<'a>),
    /// getChildren2 (12).
    GetChildren2(PathWatch<'a>),
    /// setData (5).
    SetData(SetDataRequest<'a>),
    /// getACL (6).
    GetAcl(PathOnly<'a>),
    /// setACL (7).
    SetAcl(SetAclRequest<'a>),
    /// sync (9).
    Sync(PathOnly<'a>),
    /// ping (11), no body.
    Ping,
    /// check (13) outside a multi: decodable, but ZooKeeper does not serve it.
    Check(CheckVersionRequest<'a>),
    /// multi (14).
    Multi(Vec<MultiOp<'a>>),
    /// multiRead (22).
    MultiRead(Vec<MultiReadOp<'a>>),
    /// reconfig (16).
    Reconfig(ReconfigRequest<'a>),
    /// checkWatches (17).
    CheckWatches(WatchesRequest<'a>),
    /// removeWatches (18).
    RemoveWatches(WatchesRequest<'a>),
    /// deleteContainer (20); the body is a bare `buffer` holding the UTF-8 path.
    DeleteContainer(PathOnly<'a>),
    /// auth (100).
    Auth(AuthPacket<'a>),
    /// setWatches (101) and setWatches2 (105).
    SetWatches(SetWatches<'a>),
    /// sasl (102): the SASL token.
    Sasl(Bytes),
    /// getEphemerals (103) under a prefix.
    GetEphemerals(PathOnly<'a>),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(PathOnly<'a>),
    /// addWatch (106).
    AddWatch(AddWatchRequest<'a>),
    /// whoAmI (107), no body.
    WhoAmI,
    /// closeSession (-11), no body.
    CloseSession,
}

impl<'a> Request<'a> {
    /// Decodes the body of a request whose header said `op`. Opcodes that are
    /// never client requests (notification 0, error -1, createSession -10) are
    /// `Invalid`; unknown opcodes are the caller's business (it gets `OpCode`
    /// from `OpCode::from_code`). Bytes after the body are left in `r`
    /// (ZooKeeper ignores them).
    pub fn decode(op: OpCode, r: &mut Reader<'a>) -> Result<Request<'a>, DecodeError> {
        use OpCode as O;
        Ok(match op {
            O::Create | O::Create2 | O::CreateContainer | O::CreateTtl => {
                Request::Create(CreateRequest::decode(op, r)?)
            }
            O::Delete => Request::Delete(DeleteRequest::decode(r)?),
            O::Exists => Request::Exists(PathWatch::decode(r)?),
            O::GetData => Request::GetData(PathWatch::decode(r)?),
            O::GetChildren => Request::GetChildren(PathWatch::decode(r)?),
            O::GetChildren2 => Request::GetChildren2(PathWatch::decode(r)?),
            O::SetData => Request::SetData(SetDataRequest::decode(r)?),
            O::GetAcl => Request::GetAcl(PathOnly::decode(r)?),
            O::SetAcl => Request::SetAcl(SetAclRequest::decode(r)?),
            O::Sync => Request::Sync(PathOnly::decode(r)?),
            O::Ping => Request::Ping,
            O::Check => Request::Check(CheckVersionRequest::decode(r)?),
            O::Multi => Request::Multi(decode_multi(r)?),
            O::MultiRead => Request::MultiRead(decode_multi_read(r)?),
            O::Reconfig => Request::Reconfig(ReconfigRequest::decode(r)?),
            O::CheckWatches => Request::CheckWatches(WatchesRequest::decode(r)?),
            O::RemoveWatches => Request::RemoveWatches(WatchesRequest::decode(r)?),
            O::DeleteContainer => {
                let raw = r.read_buffer_slice()?.unwrap_or_default();
                let path = std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?;
                Request::DeleteContainer(PathOnly { path })
            }
            O::Auth => Request::Auth(AuthPacket::decode(r)?),
            O::SetWatches => Request::SetWatches(SetWatches::decode(r, false)?),
            O::SetWatches2 => Request::SetWatches(SetWatches::decode(r, true)?),
            O::Sasl => Request::Sasl(r.read_data()?.0),
            O::GetEphemerals => Request::GetEphemerals(PathOnly::decode(r)?),
            O::GetAllChildrenNumber => Request::GetAllChildrenNumber(PathOnly::decode(r)?),
            O::AddWatch => Request::AddWatch(AddWatchRequest::decode(r)?),
            O::WhoAmI => Request::WhoAmI,
            O::CloseSession => Request::CloseSession,
            O::Notification | O::CreateSession | O::Error => {
                return Err(DecodeError::Invalid("not a client request opcode"))
            }
        })
    }

    /// The opcode this request goes with.
    pub fn op(&self) -> OpCode {
        use OpCode as O;
        match self {
            Request::Create(c) => c.op,
            Request::Delete(_) => O::Delete,
            Request::Exists(_) => O::Exists,
            Request::GetData(_) => O::GetData,
            Request::GetChildren(_) => O::GetChildren,
            Request::GetChildren2(_) => O::GetChildren2,
            Request::SetData(_) => O::SetData,
            Request::GetAcl(_) => O::GetAcl,
            Request::SetAcl(_) => O::SetAcl,
            Request::Sync(_) => O::Sync,
            Request::Ping => O::Ping,
            Request::Check(_) => O::Check,
            Request::Multi(_) => O::Multi,
            Request::MultiRead(_) => O::MultiRead,
            Request::Reconfig(_) => O::Reconfig,
            Request::CheckWatches(_) => O::CheckWatches,
            Request::RemoveWatches(_) => O::RemoveWatches,
            Request::DeleteContainer(_) => O::DeleteContainer,
            Request::Auth(_) => O::Auth,
            Request::SetWatches(s) => s.op(),
            Request::Sasl(_) => O::Sasl,
            Request::GetEphemerals(_) => O::GetEphemerals,
            Request::GetAllChildrenNumber(_) => O::GetAllChildrenNumber,
            Request::AddWatch(_) => O::AddWatch,
            Request::WhoAmI => O::WhoAmI,
            Request::CloseSession => O::CloseSession,
        }
    }

    /// Encodes the body only (the client side: tests and the load generator).
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Request::Create(c) => c.encode(out),
            Request::Delete(d) => d.encode(out),
            Request::Exists(p)
            | Request::GetData(p)
            | Request::GetChildren(p)
            | Request::GetChildren2(p) => p.encode(out),
            Request::SetData(s) => s.encode(out),
            Request::GetAcl(p)
            | Request::Sync(p)
            | Request::GetEphemerals(p)
            | Request::GetAllChildrenNumber(p) => p.encode(out),
            Request::SetAcl(s) => s.encode(out),
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
            Request::Check(c) => c.encode(out),
            Request::Multi(ops) => {
                for op in ops {
                    MultiHeader {
                        op_type: op.op().code(),
                        done: false,
                        err: -1,
                    }
                    .encode(out);
                    op.encode(out);
                }
                MultiHeader::END.encode(out);
            }
            Request::MultiRead(ops) => {
                for op in ops {
                    MultiHeader {
                        op_type: op.op().code(),
                        done: false,
                        err: -1,
                    }
                    .encode(out);
                    op.encode(out);
                }
                MultiHeader::END.encode(out);
            }
            Request::Reconfig(rc) => rc.encode(out),
            Request::CheckWatches(w) | Request::RemoveWatches(w) => w.encode(out),
            Request::DeleteContainer(p) => out.put_jute_buf(p.path.as_bytes()),
            Request::Auth(a) => a.encode(out),
            Request::SetWatches(s) => s.encode(out),
            Request::Sasl(token) => out.put_jute_buf(token),
            Request::AddWatch(a) => a.encode(out),
        }
    }

    /// Encodes a whole frame: length, `RequestHeader { xid, op }`, body.
    pub fn encode_frame(&self, xid: i32, out: &mut BytesMut) {
        let start = begin_frame(out);
        RequestHeader::new(xid, self.op()).encode(out);
        self.encode(out);
        end_frame(out, start);
    }
}

/// A sub-op of either kind, before the multi checks its kinds agree.
enum AnyOp<'a> {
    Write(MultiOp<'a>),
    Read(MultiReadOp<'a>),
}

/// Reads `[MultiHeader][op]...` up to the `done` header
/// (`MultiOperationRecord.deserialize`). Each header takes 9 bytes, so the loop is
/// bounded by the frame.
fn decode_multi_ops<'a>(r: &mut Reader<'a>) -> Result<Vec<AnyOp<'a>>, DecodeError> {
    use OpCode as O;
    let mut ops = Vec::new();
    let mut first_is_read = None;
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(ops);
        }
        let op = match OpCode::from_code(h.op_type) {
            Some(op @ (O::Create | O::Create2 | O::CreateContainer | O::CreateTtl)) => {
                AnyOp::Write(MultiOp::Create(CreateRequest::decode(op, r)?))
            }
            Some(O::Delete) => AnyOp::Write(MultiOp::Delete(DeleteRequest::decode(r)?)),
            Some(O::SetData) => AnyOp::Write(MultiOp::SetData(SetDataRequest::decode(r)?)),
            Some(O::Check) => AnyOp::Write(MultiOp::Check(CheckVersionRequest::decode(r)?)),
            Some(O::GetChildren) => {
                AnyOp::Read(MultiReadOp::GetChildren(PathWatch::decode(r)?.path))
            }
            Some(O::GetData) => AnyOp::Read(MultiReadOp::GetData(PathWatch::decode(r)?.path)),
            _ => return Err(DecodeError::Invalid("Invalid type of op")),
        };
        let is_read = matches!(op, AnyOp::Read(_));
        if *first_is_read.get_or_insert(is_read) != is_read {
            return Err(DecodeError::Invalid("Mixing different kind of ops"));
        }
        ops.push(op);
    }
}

fn decode_multi<'a>(r: &mut Reader<'a>) -> Result<Vec<MultiOp<'a>>, DecodeError> {
    decode_multi_ops(r)?
        .into_iter()
        .map(|op| match op {
            AnyOp::Write(w) => Ok(w),
            AnyOp::Read(_) => Err(DecodeError::Invalid("read op in a multi (14)")),
        })
        .collect()
}

fn decode_multi_read<'a>(r: &mut Reader<'a>) -> Result<Vec<MultiReadOp<'a>>, DecodeError> {
    decode_multi_ops(r)?
        .into_iter()
        .map(|op| match op {
            AnyOp::Read(rd) => Ok(rd),
            AnyOp::Write(_) => Err(DecodeError::Invalid("write op in a multiRead (22)")),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testutil::{assert_every_truncation_fails, encoded, MAX};
    use super::*;

    fn create(op: OpCode, ttl: i64) -> CreateRequest<'static> {
        CreateRequest {
            op,
            path: "/a/b-",
            data: Bytes::from_static(b"data"),
            data_null: false,
            acl: Acl::open_unsafe(),
            flags: 2,
            ttl,
        }
    }

    /// One request of every kind, covering null data and null strings.
    pub(crate) fn samples() -> Vec<Request<'static>> {
        vec![
            Request::Create(create(OpCode::Create, 0)),
            Request::Create(create(OpCode::Create2, 0)),
            Request::Create(CreateRequest {
                flags: 4,
                ..create(OpCode::CreateContainer, 0)
            }),
            Request::Create(CreateRequest {
                flags: 5,
                ..create(OpCode::CreateTtl, 60_000)
            }),
            Request::Create(CreateRequest {
                data: Bytes::new(),
                data_null: true,
                ..create(OpCode::Create, 0)
            }),
            Request::Delete(DeleteRequest {
                path: "/a",
                version: -1,
            }),
            Request::Exists(PathWatch {
                path: "/a",
                watch: true,
            }),
            Request::GetData(PathWatch {
                path: "/a",
                watch: false,
            }),
            Request::GetChildren(PathWatch {
                path: "/",
                watch: true,
            }),
            Request::GetChildren2(PathWatch {
                path: "/a",
                watch: false,
            }),
            Request::SetData(SetDataRequest {
                path: "/a",
                data: Bytes::from_static(b"x"),
                data_null: false,
                version: 3,
            }),
            Request::SetData(SetDataRequest {
                path: "/a",
                data_null: true,
                ..Default::default()
            }),
            Request::GetAcl(PathOnly { path: "/a" }),
            Request::SetAcl(SetAclRequest {
                path: "/a",
                acl: vec![
                    Acl::new(1, "ip", "10.0.0.0/8"),
                    Acl::new(31, "digest", "u:h="),
                ],
                version: 0,
            }),
            Request::Sync(PathOnly { path: "/" }),
            Request::Ping,
            Request::Check(CheckVersionRequest {
                path: "/a",
                version: 1,
            }),
            Request::Multi(vec![
                MultiOp::Create(create(OpCode::Create, 0)),
                MultiOp::Create(create(OpCode::CreateTtl, 5)),
                MultiOp::Delete(DeleteRequest {
                    path: "/a",
                    version: 2,
                }),
                MultiOp::SetData(SetDataRequest {
                    path: "/b",
                    ..Default::default()
                }),
                MultiOp::Check(CheckVersionRequest {
                    path: "/c",
                    version: -1,
                }),
            ]),
            Request::Multi(vec![]),
            Request::MultiRead(vec![
                MultiReadOp::GetData("/a"),
                MultiReadOp::GetChildren("/"),
            ]),
            Request::Reconfig(ReconfigRequest {
                joining_servers: Some("server.4=h:1:2;2181"),
                leaving_servers: None,
                new_members: None,
                cur_config_id: -1,
            }),
            Request::CheckWatches(WatchesRequest {
                path: "/a",
                watcher_type: 2,
            }),
            Request::RemoveWatches(WatchesRequest {
                path: "/a",
                watcher_type: 3,
            }),
            Request::DeleteContainer(PathOnly { path: "/container" }),
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest",
                auth: Bytes::from_static(b"u:p"),
            }),
            Request::SetWatches(SetWatches {
                relative_zxid: 9,
                data: vec!["/a"],
                exist: vec![],
                child: vec!["/", "/b"],
                ..SetWatches::default()
            }),
            Request::SetWatches(SetWatches {
                relative_zxid: 9,
                persistent: vec!["/p"],
                persistent_recursive: vec!["/"],
                version2: true,
                ..SetWatches::default()
            }),
            Request::Sasl(Bytes::from_static(b"token")),
            Request::GetEphemerals(PathOnly { path: "/" }),
            Request::GetAllChildrenNumber(PathOnly { path: "/a" }),
            Request::AddWatch(AddWatchRequest {
                path: "/a",
                mode: 1,
            }),
            Request::WhoAmI,
            Request::CloseSession,
        ]
    }

    #[test]
    fn every_request_round_trips() {
        for req in samples() {
            let b = encoded(|o| req.encode(o));
            let mut r = Reader::new(&b, MAX);
            assert_eq!(Request::decode(req.op(), &mut r).as_ref(), Ok(&req));
            assert_eq!(r.remaining(), 0, "{req:?}");
        }
    }

    #[test]
    fn every_truncation_fails() {
        for req in samples() {
            let b = encoded(|o| req.encode(o));
            assert_every_truncation_fails(&b, |r| Request::decode(req.op(), r).map(drop));
        }
    }

    #[test]
    fn frames_carry_the_header() {
        let req = Request::GetData(PathWatch {
            path: "/a",
            watch: true,
        });
        let b = encoded(|o| req.encode_frame(5, o));
        assert_eq!(
            &b[..],
            b"\x00\x00\x00\x0f\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00\x02/a\x01"
        );
    }

    #[test]
    fn create_ttl_is_the_only_create_with_a_ttl() {
        let plain = encoded(|o| create(OpCode::Create2, 0).encode(o));
        let ttl = encoded(|o| create(OpCode::CreateTtl, 7).encode(o));
        assert_eq!(ttl.len(), plain.len() + 8);
        assert_eq!(&ttl[ttl.len() - 8..], &7i64.to_be_bytes());
    }

    #[test]
    fn null_strings_and_buffers_read_as_empty() {
        // kazoo: empty path string as -1, None data as -1.
        let b = encoded(|o| {
            o.put_jute_null();
            o.put_jute_null();
            o.put_jute_null();
            o.put_i32(0);
        });
        let mut r = Reader::new(&b, MAX);
        let Ok(Request::Create(c)) = Request::decode(OpCode::Create, &mut r) else {
            panic!()
        };
        assert_eq!(
            (c.path, c.data.len(), c.data_null, c.acl.len()),
            ("", 0, true, 0)
        );
    }

    type BodyWriter<'f> = &'f dyn Fn(&mut BytesMut);

    fn multi_bytes(ops: &[(i32, BodyWriter<'_>)]) -> Bytes {
        encoded(|o| {
            for (t, body) in ops {
                MultiHeader {
                    op_type: *t,
                    done: false,
                    err: -1,
                }
                .encode(o);
                body(o);
            }
            MultiHeader::END.encode(o);
        })
    }

    #[test]
    fn multi_rejects_mixed_and_foreign_ops() {
        let get = |o: &mut BytesMut| {
            PathWatch {
                path: "/a",
                watch: false,
            }
            .encode(o)
        };
        let del = |o: &mut BytesMut| {
            DeleteRequest {
                path: "/a",
                version: -1,
            }
            .encode(o)
        };
        let decode = |op, b: &Bytes| Request::decode(op, &mut Reader::new(b, MAX)).map(drop);
        let mixed = multi_bytes(&[(2, &del), (4, &get)]);
        for op in [OpCode::Multi, OpCode::MultiRead] {
            assert_eq!(
                decode(op, &mixed),
                Err(DecodeError::Invalid("Mixing different kind of ops"))
            );
        }
        assert!(matches!(
            decode(OpCode::Multi, &multi_bytes(&[(4, &get)])),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(OpCode::MultiRead, &multi_bytes(&[(2, &del)])),
            Err(DecodeError::Invalid(_))
        ));
        // Ops never allowed inside a multi: exists, sync, multi itself, unknown.
        for t in [3, 9, 14, 22, 999, -1] {
            assert_eq!(
                decode(OpCode::Multi, &multi_bytes(&[(t, &get)])),
                Err(DecodeError::Invalid("Invalid type of op"))
            );
        }
        // A missing terminator is a truncation.
        let b = multi_bytes(&[(2, &del)]);
        assert_eq!(
            decode(OpCode::Multi, &b.slice(..b.len() - 9)),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn non_request_opcodes_are_invalid() {
        let b = Bytes::new();
        for op in [OpCode::Notification, OpCode::CreateSession, OpCode::Error] {
            assert!(matches!(
                Request::decode(op, &mut Reader::new(&b, MAX)),
                Err(DecodeError::Invalid(_))
            ));
        }
    }

    #[test]
    fn hostile_lengths_are_rejected() {
        type IsExpected = fn(&DecodeError) -> bool;
        let cases: [(i32, IsExpected); 3] = [
            (i32::MAX, |e| {
                matches!(e, DecodeError::LengthOutOfRange { .. })
            }),
            (-2, |e| {
                matches!(e, DecodeError::LengthOutOfRange { len: -2, .. })
            }),
            (1000, |e| *e == DecodeError::Truncated),
        ];
        for (len, ok) in cases {
            // As a path length, a data length and an ACL count.
            let as_path = encoded(|o| o.put_i32(len));
            let as_data = encoded(|o| {
                o.put_jute_str("/a");
                o.put_i32(len);
            });
            let as_acl_count = encoded(|o| {
                o.put_jute_str("/a");
                o.put_jute_buf(b"");
                o.put_i32(len);
            });
            for b in [as_path, as_data, as_acl_count] {
                let err = Request::decode(OpCode::Create, &mut Reader::new(&b, MAX)).unwrap_err();
                assert!(ok(&err), "{len}: {err:?}");
            }
            // As a SetWatches list count.
            let sw = encoded(|o| {
                o.put_i64(0);
                o.put_i32(len);
            });
            let err = Request::decode(OpCode::SetWatches, &mut Reader::new(&sw, MAX)).unwrap_err();
            assert!(ok(&err), "{len}: {err:?}");
        }
    }

    #[test]
    fn delete_container_path_must_be_utf8() {
        let b = encoded(|o| o.put_jute_buf(&[0xff, 0xfe]));
        assert_eq!(
            Request::decode(OpCode::DeleteContainer, &mut Reader::new(&b, MAX)),
            Err(DecodeError::BadUtf8)
        );
    }
}
