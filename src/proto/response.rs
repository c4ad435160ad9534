//! Server-to-client reply bodies (what follows the `ReplyHeader`).
//!
//! The server writes replies with the `encode_*` functions straight into the
//! connection's output buffer, from borrowed data and with no intermediate
//! collections:
//!
//! ```
//! # use bytes::BytesMut;
//! # use corekeeper::proto::{Stat, frame::end_frame, response::*};
//! let mut out = BytesMut::new();
//! let start = encode_reply_frame_header(&mut out, 7, 0x1_0000_0002, 0);
//! encode_get_data_response(&mut out, b"hello", &Stat::default());
//! end_frame(&mut out, start);
//! ```
//!
//! ZooKeeper sends only the header when `err != 0` (the client reads a body only
//! for `err == 0`). [`Response`] decodes and re-encodes whole bodies for tests and
//! the load generator.

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{begin_frame, end_frame};
use super::jute::{put_str_vec, wire_len, DecodeError, JuteWrite, Reader};
use super::opcode::{xid, EventType, OpCode};
use super::records::{Acl, ClientInfo, MultiHeader, ReplyHeader, Stat, WatcherEvent};

/// Starts a reply frame: reserves the length and writes `ReplyHeader { xid,
/// zxid, err }`. Write the body (if `err == 0`), then call
/// [`end_frame`](super::frame::end_frame) with the returned offset.
pub fn encode_reply_frame_header(out: &mut BytesMut, xid: i32, zxid: i64, err: i32) -> usize {
    let start = begin_frame(out);
    ReplyHeader { xid, zxid, err }.encode(out);
    start
}

/// Writes a whole reply frame that has no body (errors, delete, setWatches,
/// ping, auth, closeSession, ...).
pub fn encode_header_only_reply(out: &mut BytesMut, xid: i32, zxid: i64, err: i32) {
    let start = encode_reply_frame_header(out, xid, zxid, err);
    end_frame(out, start);
}

/// Writes a whole watch-notification frame: length, `ReplyHeader(-1, zxid, 0)`,
/// `WatcherEvent { event_type, SyncConnected, path }`. ZooKeeper 3.8 sends
/// `zxid = -1`; 3.9 the zxid of the txn that fired the watch (ZOOKEEPER-4655).
pub fn encode_notification(out: &mut BytesMut, zxid: i64, event_type: EventType, path: &str) {
    let start = encode_reply_frame_header(out, xid::NOTIFICATION, zxid, 0);
    WatcherEvent::node(event_type, path).encode(out);
    end_frame(out, start);
}

/// `CreateResponse { ustring path; }` (create, 1).
pub fn encode_create_response(out: &mut BytesMut, path: &str) {
    out.put_jute_str(path);
}

/// `Create2Response { ustring path; Stat stat; }` (create2, createContainer, createTTL).
pub fn encode_create2_response(out: &mut BytesMut, path: &str, stat: &Stat) {
    out.put_jute_str(path);
    stat.encode(out);
}

/// `ExistsResponse`, `SetDataResponse`, `SetACLResponse`: `{ Stat stat; }`.
pub fn encode_stat_response(out: &mut BytesMut, stat: &Stat) {
    stat.encode(out);
}

/// `GetDataResponse { buffer data; Stat stat; }` (getData; also the reconfig reply).
pub fn encode_get_data_response(out: &mut BytesMut, data: &[u8], stat: &Stat) {
    out.reserve(4 + data.len() + Stat::WIRE_LEN);
    out.put_jute_buf(data);
    stat.encode(out);
}

/// `GetDataResponse` for a node whose data may be null (created with null data:
/// ZooKeeper returns it as -1, which the Java client surfaces as `null`).
pub fn encode_get_data_response_nullable(out: &mut BytesMut, data: Option<&[u8]>, stat: &Stat) {
    match data {
        Some(data) => encode_get_data_response(out, data, stat),
        None => {
            out.put_jute_null();
            stat.encode(out);
        }
    }
}

/// `GetACLResponse { vector<ACL> acl; Stat stat; }`.
pub fn encode_get_acl_response(out: &mut BytesMut, acl: &[Acl], stat: &Stat) {
    Acl::encode_vec(acl, out);
    stat.encode(out);
}

/// `GetChildrenResponse { vector<ustring> children; }`, from any iterator.
pub fn encode_get_children_response<I, S>(out: &mut BytesMut, children: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    put_str_vec(out, children);
}

/// `GetChildren2Response { vector<ustring> children; Stat stat; }`.
pub fn encode_get_children2_response<I, S>(out: &mut BytesMut, children: I, stat: &Stat)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    put_str_vec(out, children);
    stat.encode(out);
}

/// `SyncResponse { ustring path; }`.
pub fn encode_sync_response(out: &mut BytesMut, path: &str) {
    out.put_jute_str(path);
}

/// `ErrorResponse { int err; }`: the addWatch reply body (`err = 0`) and the body
/// of a failed multi sub-result.
pub fn encode_error_response(out: &mut BytesMut, err: i32) {
    out.put_i32(err);
}

/// `GetEphemeralsResponse { vector<ustring> ephemerals; }`.
pub fn encode_get_ephemerals_response<I, S>(out: &mut BytesMut, paths: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    put_str_vec(out, paths);
}

/// `GetAllChildrenNumberResponse { int totalNumber; }`.
pub fn encode_get_all_children_number_response(out: &mut BytesMut, total: i32) {
    out.put_i32(total);
}

/// `WhoAmIResponse { vector<ClientInfo> clientInfo; }` from `(scheme, user)` pairs.
pub fn encode_who_am_i_response<'s, I>(out: &mut BytesMut, infos: I)
where
    I: IntoIterator<Item = (&'s str, &'s str)>,
{
    let at = out.len();
    out.put_i32(0);
    let mut count = 0usize;
    for (scheme, user) in infos {
        out.put_jute_str(scheme);
        out.put_jute_str(user);
        count += 1;
    }
    out[at..at + 4].copy_from_slice(&wire_len(count).to_be_bytes());
}

/// `SetSASLResponse { buffer token; }`.
pub fn encode_sasl_response(out: &mut BytesMut, token: &[u8]) {
    out.put_jute_buf(token);
}

/// Writes the `MultiHeader { type, false, err }` that precedes one multi
/// sub-result; for incremental encoding without a [`MultiResult`] list.
pub fn encode_multi_result_header(out: &mut BytesMut, op_type: i32, err: i32) {
    MultiHeader {
        op_type,
        done: false,
        err,
    }
    .encode(out);
}

/// Writes the terminator `MultiHeader { -1, true, -1 }`.
pub fn encode_multi_end(out: &mut BytesMut) {
    MultiHeader::END.encode(out);
}

/// One sub-result of a multi (14) or multiRead (22) reply (`OpResult`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultiResult {
    /// create (1): `CreateResponse`.
    Create {
        /// The created path.
        path: String,
    },
    /// create2 (15), also for createTTL/createContainer sub-ops: `Create2Response`.
    Create2 {
        /// The created path.
        path: String,
        /// The new node's stat.
        stat: Stat,
    },
    /// delete (2): no body.
    Delete,
    /// setData (5): `SetDataResponse`.
    SetData {
        /// The node's new stat.
        stat: Stat,
    },
    /// check (13): no body.
    Check,
    /// getChildren (8): `GetChildrenResponse`.
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// getData (4): `GetDataResponse`.
    GetData {
        /// The data.
        data: Bytes,
        /// The node's stat.
        stat: Stat,
    },
    /// error (-1): `ErrorResponse`; in a failed multi, 0 for ops before the failing
    /// one and -2 (RUNTIMEINCONSISTENCY) after it.
    Error {
        /// The error code.
        err: i32,
    },
}

impl MultiResult {
    /// The `MultiHeader.type` of this result.
    pub fn op_type(&self) -> i32 {
        match self {
            MultiResult::Create { .. } => OpCode::Create.code(),
            MultiResult::Create2 { .. } => OpCode::Create2.code(),
            MultiResult::Delete => OpCode::Delete.code(),
            MultiResult::SetData { .. } => OpCode::SetData.code(),
            MultiResult::Check => OpCode::Check.code(),
            MultiResult::GetChildren { .. } => OpCode::GetChildren.code(),
            MultiResult::GetData { .. } => OpCode::GetData.code(),
            MultiResult::Error { .. } => OpCode::Error.code(),
        }
    }

    /// The `MultiHeader.err` of this result: the code for errors, else 0.
    pub fn err(&self) -> i32 {
        match self {
            MultiResult::Error { err } => *err,
            _ => 0,
        }
    }

    /// Encodes the header and body of this sub-result.
    pub fn encode(&self, out: &mut BytesMut) {
        encode_multi_result_header(out, self.op_type(), self.err());
        match self {
            MultiResult::Create { path } => encode_create_response(out, path),
            MultiResult::Create2 { path, stat } => encode_create2_response(out, path, stat),
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData { stat } => encode_stat_response(out, stat),
            MultiResult::GetChildren { children } => encode_get_children_response(out, children),
            MultiResult::GetData { data, stat } => encode_get_data_response(out, data, stat),
            MultiResult::Error { err } => encode_error_response(out, *err),
        }
    }

    /// Decodes one sub-result given its header (`MultiResponse.deserialize`).
    fn decode(h: MultiHeader, r: &mut Reader<'_>) -> Result<MultiResult, DecodeError> {
        use OpCode as O;
        Ok(match OpCode::from_code(h.op_type) {
            Some(O::Create) => MultiResult::Create {
                path: r.read_str()?.to_owned(),
            },
            Some(O::Create2) => MultiResult::Create2 {
                path: r.read_str()?.to_owned(),
                stat: Stat::decode(r)?,
            },
            Some(O::Delete) => MultiResult::Delete,
            Some(O::SetData) => MultiResult::SetData {
                stat: Stat::decode(r)?,
            },
            Some(O::Check) => MultiResult::Check,
            Some(O::GetChildren) => MultiResult::GetChildren {
                children: r.read_string_vec()?,
            },
            Some(O::GetData) => MultiResult::GetData {
                data: r.read_data()?.0,
                stat: Stat::decode(r)?,
            },
            Some(O::Error) => MultiResult::Error { err: r.read_i32()? },
            _ => return Err(DecodeError::Invalid("Invalid type of op in multi response")),
        })
    }
}

/// `MultiResponse`: every sub-result, then the terminator.
pub fn encode_multi_response(out: &mut BytesMut, results: &[MultiResult]) {
    for result in results {
        result.encode(out);
    }
    encode_multi_end(out);
}

fn decode_multi_response(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(results);
        }
        results.push(MultiResult::decode(h, r)?);
    }
}

/// A decoded reply body (for `err == 0`), for tests and the load generator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    /// create (1).
    Create {
        /// The created path (with the sequence suffix).
        path: String,
    },
    /// create2 (15), createContainer (19), createTTL (21).
    Create2 {
        /// The created path.
        path: String,
        /// The new node's stat.
        stat: Stat,
    },
    /// exists (3).
    Exists {
        /// The node's stat.
        stat: Stat,
    },
    /// getData (4).
    GetData {
        /// The data (empty if null).
        data: Bytes,
        /// The node's stat.
        stat: Stat,
        /// The data was null (-1) on the wire: the node was created with null data.
        data_null: bool,
    },
    /// setData (5).
    SetData {
        /// The node's new stat.
        stat: Stat,
    },
    /// getACL (6).
    GetAcl {
        /// The node's ACL.
        acl: Vec<Acl>,
        /// The node's stat.
        stat: Stat,
    },
    /// setACL (7).
    SetAcl {
        /// The node's new stat.
        stat: Stat,
    },
    /// getChildren (8).
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// getChildren2 (12).
    GetChildren2 {
        /// Child names.
        children: Vec<String>,
        /// The parent's stat.
        stat: Stat,
    },
    /// sync (9).
    Sync {
        /// The synced path.
        path: String,
    },
    /// multi (14).
    Multi(Vec<MultiResult>),
    /// multiRead (22).
    MultiRead(Vec<MultiResult>),
    /// reconfig (16): a `GetDataResponse` with the new config text.
    Reconfig {
        /// The config text.
        data: Bytes,
        /// The config node's stat.
        stat: Stat,
    },
    /// addWatch (106): `ErrorResponse`.
    AddWatch {
        /// Always 0 on success.
        err: i32,
    },
    /// getEphemerals (103).
    GetEphemerals {
        /// The session's ephemeral paths.
        paths: Vec<String>,
    },
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber {
        /// Number of descendants.
        n: i32,
    },
    /// whoAmI (107).
    WhoAmI(Vec<ClientInfo>),
    /// sasl (102).
    Sasl {
        /// The server's SASL token.
        token: Bytes,
    },
    /// Replies with no body: delete, setWatches, ping, auth, checkWatches,
    /// removeWatches, closeSession, and every error reply.
    Empty,
}

impl Response {
    /// Decodes the body of a successful reply to a request of kind `op`.
    pub fn decode(op: OpCode, r: &mut Reader<'_>) -> Result<Response, DecodeError> {
        use OpCode as O;
        Ok(match op {
            O::Create => Response::Create {
                path: r.read_str()?.to_owned(),
            },
            O::Create2 | O::CreateContainer | O::CreateTtl => Response::Create2 {
                path: r.read_str()?.to_owned(),
                stat: Stat::decode(r)?,
            },
            O::Exists => Response::Exists {
                stat: Stat::decode(r)?,
            },
            O::GetData => {
                let (data, data_null) = r.read_data()?;
                Response::GetData {
                    data,
                    stat: Stat::decode(r)?,
                    data_null,
                }
            }
            O::SetData => Response::SetData {
                stat: Stat::decode(r)?,
            },
            O::GetAcl => Response::GetAcl {
                acl: Acl::decode_vec(r)?,
                stat: Stat::decode(r)?,
            },
            O::SetAcl => Response::SetAcl {
                stat: Stat::decode(r)?,
            },
            O::GetChildren => Response::GetChildren {
                children: r.read_string_vec()?,
            },
            O::GetChildren2 => Response::GetChildren2 {
                children: r.read_string_vec()?,
                stat: Stat::decode(r)?,
            },
            O::Sync => Response::Sync {
                path: r.read_str()?.to_owned(),
            },
            O::Multi => Response::Multi(decode_multi_response(r)?),
            O::MultiRead => Response::MultiRead(decode_multi_response(r)?),
            O::Reconfig => Response::Reconfig {
                data: r.read_data()?.0,
                stat: Stat::decode(r)?,
            },
            O::AddWatch => Response::AddWatch { err: r.read_i32()? },
            O::GetEphemerals => Response::GetEphemerals {
                paths: r.read_string_vec()?,
            },
            O::GetAllChildrenNumber => Response::GetAllChildrenNumber { n: r.read_i32()? },
            O::WhoAmI => {
                let count = r.read_vec_len_min(ClientInfo::WIRE_LEN_MIN)?.unwrap_or(0);
                let mut infos = Vec::with_capacity(count);
                for _ in 0..count {
                    infos.push(ClientInfo::decode(r)?);
                }
                Response::WhoAmI(infos)
            }
            O::Sasl => Response::Sasl {
                token: r.read_data()?.0,
            },
            O::Notification
            | O::Delete
            | O::Ping
            | O::Check
            | O::CheckWatches
            | O::RemoveWatches
            | O::DeleteContainer
            | O::Auth
            | O::SetWatches
            | O::SetWatches2
            | O::CreateSession
            | O::CloseSession
            | O::Error => Response::Empty,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Response::Create { path } => encode_create_response(out, path),
            Response::Create2 { path, stat } => encode_create2_response(out, path, stat),
            Response::Exists { stat } | Response::SetData { stat } | Response::SetAcl { stat } => {
                encode_stat_response(out, stat)
            }
            Response::GetData {
                data,
                stat,
                data_null,
            } => encode_get_data_response_nullable(out, (!data_null).then_some(&data[..]), stat),
            Response::GetAcl { acl, stat } => encode_get_acl_response(out, acl, stat),
            Response::GetChildren { children } => encode_get_children_response(out, children),
            Response::GetChildren2 { children, stat } => {
                encode_get_children2_response(out, children, stat)
            }
            Response::Sync { path } => encode_sync_response(out, path),
            Response::Multi(results) | Response::MultiRead(results) => {
                encode_multi_response(out, results)
            }
            Response::Reconfig { data, stat } => encode_get_data_response(out, data, stat),
            Response::AddWatch { err } => encode_error_response(out, *err),
            Response::GetEphemerals { paths } => encode_get_ephemerals_response(out, paths),
            Response::GetAllChildrenNumber { n } => {
                encode_get_all_children_number_response(out, *n)
            }
            Response::WhoAmI(infos) => encode_who_am_i_response(
                out,
                infos.iter().map(|i| (i.scheme.as_str(), i.user.as_str())),
            ),
            Response::Sasl { token } => encode_sasl_response(out, token),
            Response::Empty => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::super::testutil::{assert_every_truncation_fails, encoded, MAX};
    use super::*;

    fn stat(n: i64) -> Stat {
        Stat {
            czxid: n,
            mzxid: n + 1,
            pzxid: n + 2,
            version: 1,
            ..Stat::default()
        }
    }

    /// One reply body of every kind, with the opcode it answers.
    pub(crate) fn samples() -> Vec<(OpCode, Response)> {
        vec![
            (
                OpCode::Create,
                Response::Create {
                    path: "/a-0000000001".into(),
                },
            ),
            (
                OpCode::Create2,
                Response::Create2 {
                    path: "/a".into(),
                    stat: stat(1),
                },
            ),
            (
                OpCode::CreateTtl,
                Response::Create2 {
                    path: "/t".into(),
                    stat: stat(2),
                },
            ),
            (OpCode::Exists, Response::Exists { stat: stat(3) }),
            (
                OpCode::GetData,
                Response::GetData {
                    data: Bytes::from_static(b"hi"),
                    stat: stat(4),
                    data_null: false,
                },
            ),
            (
                OpCode::GetData,
                Response::GetData {
                    data: Bytes::new(),
                    stat: stat(4),
                    data_null: true,
                },
            ),
            (OpCode::SetData, Response::SetData { stat: stat(5) }),
            (
                OpCode::GetAcl,
                Response::GetAcl {
                    acl: Acl::open_unsafe(),
                    stat: stat(6),
                },
            ),
            (OpCode::SetAcl, Response::SetAcl { stat: stat(7) }),
            (
                OpCode::GetChildren,
                Response::GetChildren {
                    children: vec!["a".into(), "b".into()],
                },
            ),
            (
                OpCode::GetChildren2,
                Response::GetChildren2 {
                    children: vec![],
                    stat: stat(8),
                },
            ),
            (OpCode::Sync, Response::Sync { path: "/a".into() }),
            (
                OpCode::Multi,
                Response::Multi(vec![
                    MultiResult::Create { path: "/m1".into() },
                    MultiResult::Create2 {
                        path: "/m2".into(),
                        stat: stat(9),
                    },
                    MultiResult::Delete,
                    MultiResult::SetData { stat: stat(10) },
                    MultiResult::Check,
                ]),
            ),
            (
                OpCode::Multi,
                Response::Multi(vec![
                    MultiResult::Error { err: 0 },
                    MultiResult::Error { err: -103 },
                    MultiResult::Error { err: -2 },
                ]),
            ),
            (
                OpCode::MultiRead,
                Response::MultiRead(vec![
                    MultiResult::GetData {
                        data: Bytes::from_static(b"d"),
                        stat: stat(11),
                    },
                    MultiResult::GetChildren {
                        children: vec!["x".into()],
                    },
                    MultiResult::Error { err: -101 },
                ]),
            ),
            (
                OpCode::Reconfig,
                Response::Reconfig {
                    data: Bytes::from_static(b"version=1"),
                    stat: stat(12),
                },
            ),
            (OpCode::AddWatch, Response::AddWatch { err: 0 }),
            (
                OpCode::GetEphemerals,
                Response::GetEphemerals {
                    paths: vec!["/e".into()],
                },
            ),
            (
                OpCode::GetAllChildrenNumber,
                Response::GetAllChildrenNumber { n: 42 },
            ),
            (
                OpCode::WhoAmI,
                Response::WhoAmI(vec![
                    ClientInfo {
                        scheme: "ip".into(),
                        user: "127.0.0.1".into(),
                    },
                    ClientInfo {
                        scheme: "digest".into(),
                        user: "u".into(),
                    },
                ]),
            ),
            (
                OpCode::Sasl,
                Response::Sasl {
                    token: Bytes::from_static(b"t"),
                },
            ),
            (OpCode::Delete, Response::Empty),
        ]
    }

    #[test]
    fn every_response_round_trips() {
        for (op, rsp) in samples() {
            let b = encoded(|o| rsp.encode(o));
            let mut r = Reader::new(&b, MAX);
            assert_eq!(Response::decode(op, &mut r).as_ref(), Ok(&rsp));
            assert_eq!(r.remaining(), 0, "{rsp:?}");
        }
    }

    #[test]
    fn every_truncation_fails() {
        for (op, rsp) in samples() {
            let b = encoded(|o| rsp.encode(o));
            assert_every_truncation_fails(&b, |r| Response::decode(op, r).map(drop));
        }
    }

    #[test]
    fn notification_frame_is_exact() {
        let b = encoded(|o| encode_notification(o, -1, EventType::NodeCreated, "/j/w1"));
        let want: &[u8] =
            b"\x00\x00\x00\x21\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\
            \x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00\x05/j/w1";
        assert_eq!(&b[..], want);
    }

    #[test]
    fn reply_frame_header_and_end() {
        let b = encoded(|o| {
            let start = encode_reply_frame_header(o, 3, 7, 0);
            encode_get_data_response(o, &[0xab; 1024], &Stat::default());
            end_frame(o, start);
        });
        assert_eq!(b.len(), 4 + 16 + 4 + 1024 + 68);
        assert_eq!(&b[..4], &(16i32 + 4 + 1024 + 68).to_be_bytes());
        let err = encoded(|o| encode_header_only_reply(o, 3, 7, -101));
        assert_eq!(
            &err[..],
            b"\x00\x00\x00\x10\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x07\xff\xff\xff\x9b"
        );
    }

    #[test]
    fn children_encode_from_any_iterator() {
        let set: BTreeSet<String> = ["b", "a", "c"].iter().map(|s| s.to_string()).collect();
        let from_set = encoded(|o| encode_get_children_response(o, &set));
        let from_strs = encoded(|o| encode_get_children_response(o, ["a", "b", "c"]));
        let from_enum = encoded(|o| {
            Response::GetChildren {
                children: vec!["a".into(), "b".into(), "c".into()],
            }
            .encode(o)
        });
        assert_eq!(from_set, from_strs);
        assert_eq!(from_set, from_enum);
        let empty = encoded(|o| encode_get_children_response(o, std::iter::empty::<&str>()));
        assert_eq!(&empty[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn multi_result_headers_carry_type_and_err() {
        let b = encoded(|o| encode_multi_response(o, &[MultiResult::Error { err: -103 }]));
        // {type -1, done false, err -103} {err -103} {-1, true, -1}
        assert_eq!(
            &b[..],
            b"\xff\xff\xff\xff\x00\xff\xff\xff\x99\xff\xff\xff\x99\xff\xff\xff\xff\x01\xff\xff\xff\xff"
        );
        let unknown = encoded(|o| {
            encode_multi_result_header(o, 3, 0);
            encode_multi_end(o);
        });
        assert!(matches!(
            Response::decode(OpCode::Multi, &mut Reader::new(&unknown, MAX)),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn hostile_child_counts_are_rejected() {
        for (count, want) in [
            (
                i32::MAX,
                DecodeError::LengthOutOfRange {
                    len: i32::MAX.into(),
                    max: MAX,
                },
            ),
            (1000, DecodeError::Truncated),
        ] {
            let b = encoded(|o| o.put_i32(count));
            for op in [
                OpCode::GetChildren,
                OpCode::GetEphemerals,
                OpCode::WhoAmI,
                OpCode::GetAcl,
            ] {
                assert_eq!(
                    Response::decode(op, &mut Reader::new(&b, MAX)),
                    Err(want.clone())
                );
            }
        }
    }
}
