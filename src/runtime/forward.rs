//! What ensemble members say to the leader about their clients, and what the
//! leader answers, beside the ZAB protocol itself: ZooKeeper's `REQUEST`,
//! `REVALIDATE` and session-touch traffic from a learner, and its `SYNC` reply.
//!
//! A follower or observer never prepares a write: it forwards the request as
//! its client sent it (opcode, raw body, the connection's authenticated ids),
//! and learns the outcome by applying the committed txn like everyone else.
//! Only `sync` needs an answer of its own ([`FromLeader::SyncDone`]), which the
//! leader sends after every txn before it is committed.
//!
//! Messages travel on the quorum link, in order with the ZAB messages; the
//! encoding is jute-style big-endian, and decoding checks every length against
//! the configured `jute.maxbuffer` before allocating.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::proto::jute::{DecodeError, JuteWrite, Reader};
use crate::proto::{Id, OpCode};
use crate::types::{SessionId, Xid, Zxid};

/// A member -> its leader.
#[derive(Clone, Debug, PartialEq)]
pub enum ToLeader {
    /// A client's write (or `sync`), exactly as the client sent it.
    Write {
        /// The client's session.
        session: SessionId,
        /// The request xid.
        xid: Xid,
        /// The opcode.
        op: OpCode,
        /// The request body after its header.
        body: Bytes,
        /// The connection's authenticated ids when it sent the request.
        auth: Arc<[Id]>,
    },
    /// A new session this member allocated for a client (its id carries the
    /// member's id, so ids never collide across members).
    CreateSession {
        /// The new session's id.
        session: SessionId,
        /// The negotiated timeout.
        timeout_ms: u32,
    },
    /// A client reattached its session on this member (ZooKeeper's
    /// `REVALIDATE`): this member now owns it.
    Reattach {
        /// The session.
        session: SessionId,
    },
    /// Sessions of this member's clients that showed signs of life.
    Touch(Vec<SessionId>),
}

/// The leader -> one member, about that member's clients.
#[derive(Clone, Debug, PartialEq)]
pub enum FromLeader {
    /// Every txn before `zxid` is committed: the `sync` may be answered once
    /// the member has applied up to `zxid`.
    SyncDone {
        /// The session that asked.
        session: SessionId,
        /// Its request xid.
        xid: Xid,
        /// The leader's last zxid when the sync was ordered.
        zxid: Zxid,
    },
}

const WRITE: u8 = 1;
const CREATE_SESSION: u8 = 2;
const REATTACH: u8 = 3;
const TOUCH: u8 = 4;
const SYNC_DONE: u8 = 1;

impl ToLeader {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            ToLeader::Write {
                session,
                xid,
                op,
                body,
                auth,
            } => {
                out.put_u8(WRITE);
                out.put_i64(session.0);
                out.put_i32(*xid);
                out.put_i32(*op as i32);
                out.put_jute_buf(body);
                out.put_i32(auth.len() as i32);
                for id in auth.iter() {
                    out.put_jute_str(&id.scheme);
                    out.put_jute_str(&id.id);
                }
            }
            ToLeader::CreateSession {
                session,
                timeout_ms,
            } => {
                out.put_u8(CREATE_SESSION);
                out.put_i64(session.0);
                out.put_u32(*timeout_ms);
            }
            ToLeader::Reattach { session } => {
                out.put_u8(REATTACH);
                out.put_i64(session.0);
            }
            ToLeader::Touch(sessions) => {
                out.put_u8(TOUCH);
                out.put_i32(sessions.len() as i32);
                for session in sessions {
                    out.put_i64(session.0);
                }
            }
        }
    }

    /// Decodes one message; `max` bounds every length (`jute.maxbuffer`).
    pub fn decode(bytes: &Bytes, max: usize) -> Result<ToLeader, DecodeError> {
        let (tag, rest) = split_tag(bytes)?;
        let mut reader = Reader::new(&rest, max);
        let message = match tag {
            WRITE => {
                let session = SessionId(reader.read_i64()?);
                let xid = reader.read_i32()?;
                let code = reader.read_i32()?;
                let op = OpCode::from_code(code).ok_or(DecodeError::Invalid("opcode"))?;
                let body = reader.read_buffer()?.unwrap_or_default();
                // An id is at least two lengths.
                let count = reader.read_vec_len_min(8)?.unwrap_or(0);
                let mut auth = Vec::with_capacity(count);
                for _ in 0..count {
                    let scheme = reader.read_str()?.to_owned();
                    let id = reader.read_str()?.to_owned();
                    auth.push(Id { scheme, id });
                }
                ToLeader::Write {
                    session,
                    xid,
                    op,
                    body,
                    auth: auth.into(),
                }
            }
            CREATE_SESSION => ToLeader::CreateSession {
                session: SessionId(reader.read_i64()?),
                timeout_ms: reader.read_i32()? as u32,
            },
            REATTACH => ToLeader::Reattach {
                session: SessionId(reader.read_i64()?),
            },
            TOUCH => {
                let count = reader.read_vec_len_min(8)?.unwrap_or(0);
                let mut sessions = Vec::with_capacity(count);
                for _ in 0..count {
                    sessions.push(SessionId(reader.read_i64()?));
                }
                ToLeader::Touch(sessions)
            }
            _ => return Err(DecodeError::Invalid("forwarded message kind")),
        };
        finish(&reader)?;
        Ok(message)
    }
}

impl FromLeader {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            FromLeader::SyncDone { session, xid, zxid } => {
                out.put_u8(SYNC_DONE);
                out.put_i64(session.0);
                out.put_i32(*xid);
                out.put_i64(zxid.0);
            }
        }
    }

    /// Decodes one message; `max` bounds every length.
    pub fn decode(bytes: &Bytes, max: usize) -> Result<FromLeader, DecodeError> {
        let (tag, rest) = split_tag(bytes)?;
        let mut reader = Reader::new(&rest, max);
        let message = match tag {
            SYNC_DONE => FromLeader::SyncDone {
                session: SessionId(reader.read_i64()?),
                xid: reader.read_i32()?,
                zxid: Zxid(reader.read_i64()?),
            },
            _ => return Err(DecodeError::Invalid("leader message kind")),
        };
        finish(&reader)?;
        Ok(message)
    }
}

fn split_tag(bytes: &Bytes) -> Result<(u8, Bytes), DecodeError> {
    match bytes.first() {
        Some(tag) => Ok((*tag, bytes.slice(1..))),
        None => Err(DecodeError::Truncated),
    }
}

fn finish(reader: &Reader<'_>) -> Result<(), DecodeError> {
    match reader.remaining() {
        0 => Ok(()),
        _ => Err(DecodeError::Invalid("trailing bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: ToLeader) {
        let mut out = BytesMut::new();
        message.encode(&mut out);
        let bytes = out.freeze();
        assert_eq!(ToLeader::decode(&bytes, 1 << 20).expect("decodes"), message);
        // Every strict prefix is refused, never a panic.
        for cut in 0..bytes.len() {
            assert!(
                ToLeader::decode(&bytes.slice(..cut), 1 << 20).is_err(),
                "prefix {cut}"
            );
        }
    }

    #[test]
    fn to_leader_round_trips_and_refuses_truncation() {
        round_trip(ToLeader::Write {
            session: SessionId(0x0100_0000_0000_0007),
            xid: 42,
            op: OpCode::SetData,
            body: Bytes::from_static(b"\x00\x00\x00\x02/a\x00\x00\x00\x01x\xff\xff\xff\xff"),
            auth: vec![
                Id {
                    scheme: "digest".into(),
                    id: "u:hash".into(),
                },
                Id {
                    scheme: "ip".into(),
                    id: "127.0.0.1".into(),
                },
            ]
            .into(),
        });
        round_trip(ToLeader::CreateSession {
            session: SessionId(-5),
            timeout_ms: 30_000,
        });
        round_trip(ToLeader::Reattach {
            session: SessionId(9),
        });
        round_trip(ToLeader::Touch(vec![
            SessionId(1),
            SessionId(2),
            SessionId(3),
        ]));
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let mut out = BytesMut::new();
        out.put_u8(TOUCH);
        out.put_i32(i32::MAX);
        assert!(ToLeader::decode(&out.freeze(), 1 << 20).is_err());
        let mut out = BytesMut::new();
        out.put_u8(99);
        assert!(ToLeader::decode(&out.freeze(), 1 << 20).is_err());
        let mut out = BytesMut::new();
        FromLeader::SyncDone {
            session: SessionId(1),
            xid: 2,
            zxid: Zxid(3),
        }
        .encode(&mut out);
        out.put_u8(0);
        assert!(
            FromLeader::decode(&out.freeze(), 1 << 20).is_err(),
            "trailing bytes"
        );
    }
}
