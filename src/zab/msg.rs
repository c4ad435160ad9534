//! What members say to each other: election notifications (election port) and
//! the ZAB messages of discovery, synchronization and broadcast (quorum port),
//! with a compact hand-rolled wire encoding.
//!
//! Encoding: one tag byte, then fixed-width little-endian fields; a record list
//! is a `u32` count and, per record, a `u32` length and the txn's rkyv bytes,
//! unchanged. Decoding takes untrusted bytes: it checks every length against the
//! bytes that remain and against the named maxima before allocating, copies each
//! txn into an aligned buffer and validates it ([`TxnRecord::from_bytes`]), and
//! never panics. The runtime frames one encoded message per frame.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use rkyv::util::AlignedVec;

use crate::log::RECORD_PAYLOAD_BYTES_MAX;
use crate::txn::TxnRecord;
use crate::types::{ServerId, Zxid};

/// A leader epoch: the high 32 bits of the zxids it issues.
pub type Epoch = u32;

/// Records in one [`PeerMsg::Proposal`] or [`PeerMsg::Inform`] at most.
pub const MSG_RECORDS_MAX: usize = 1024;

/// Bytes of record payloads in one message before the sender starts another
/// (a single record larger than this still travels alone).
pub const MSG_RECORD_BYTES_MAX: usize = 4 << 20;

/// Largest encoded message a decoder accepts: a full batch of records, each
/// with its length prefix, plus the largest single record.
pub const MSG_BYTES_MAX: usize =
    MSG_RECORD_BYTES_MAX + RECORD_PAYLOAD_BYTES_MAX + 8 * MSG_RECORDS_MAX + 64;

const _: () = assert!(MSG_BYTES_MAX < u32::MAX as usize);

/// A vote in fast leader election: who should lead, and why (its history).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The proposed leader.
    pub leader: ServerId,
    /// Its last logged zxid.
    pub zxid: Zxid,
    /// Its `currentEpoch` (`peerEpoch` in ZooKeeper).
    pub peer_epoch: Epoch,
}

impl Vote {
    /// ZooKeeper's `FastLeaderElection.totalOrderPredicate`: `self` beats
    /// `other` when its epoch is higher, or equal with a higher zxid, or both
    /// equal with a higher server id.
    pub fn beats(&self, other: &Vote) -> bool {
        (self.peer_epoch, self.zxid, self.leader) > (other.peer_epoch, other.zxid, other.leader)
    }
}

/// A member's state as its notifications report it (`QuorumPeer.ServerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Electing.
    Looking,
    /// Following an elected leader.
    Following,
    /// Leading.
    Leading,
    /// Observing an elected leader.
    Observing,
}

/// An election notification (`FastLeaderElection.Notification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The sender's vote.
    pub vote: Vote,
    /// The sender's logical clock (`electionEpoch`) for that vote.
    pub election_epoch: u64,
    /// The sender's state.
    pub state: ServerState,
}

/// A quorum-port message (ZooKeeper's `QuorumPacket` types, ZAB 1.0).
#[derive(Clone, Debug)]
pub enum PeerMsg {
    /// Learner -> leader, first message on a link: `FOLLOWERINFO`/`OBSERVERINFO`.
    FollowerInfo {
        /// The learner's `acceptedEpoch`.
        accepted_epoch: Epoch,
    },
    /// Leader -> learner: `LEADERINFO`, the proposed new epoch.
    LeaderInfo {
        /// The new epoch.
        epoch: Epoch,
    },
    /// Learner -> leader: `ACKEPOCH`, sent once `acceptedEpoch` is durable.
    AckEpoch {
        /// The learner's last logged zxid.
        last_zxid: Zxid,
        /// Its `currentEpoch`; `None` when it had accepted this epoch already
        /// (ZooKeeper sends -1): the ack then does not count for the quorum.
        current_epoch: Option<Epoch>,
    },
    /// Leader -> learner: `DIFF`, the learner's log is a prefix of the leader's.
    Diff {
        /// The leader's last zxid when the sync began.
        last_zxid: Zxid,
    },
    /// Leader -> learner: `TRUNC`, cut your log back to `zxid`.
    Trunc {
        /// The last zxid to keep.
        zxid: Zxid,
    },
    /// Leader -> learner: `SNAP`; the runtime carries the snapshot image itself.
    Snap {
        /// The snapshot's zxid.
        zxid: Zxid,
    },
    /// `PROPOSAL`: records to log, in zxid order.
    Proposal {
        /// The records, bytes unchanged from the leader's sequencer.
        records: Arc<[TxnRecord]>,
    },
    /// `COMMIT`: everything up to `zxid` is committed.
    Commit {
        /// The last committed zxid.
        zxid: Zxid,
    },
    /// `INFORM` (observers): committed records, to log and apply.
    Inform {
        /// The records.
        records: Arc<[TxnRecord]>,
    },
    /// `NEWLEADER`: the leader's history was sent; ack once it is durable.
    NewLeader {
        /// The new epoch.
        epoch: Epoch,
    },
    /// Learner -> leader: ack of `NEWLEADER`, history durable through `zxid`
    /// and `currentEpoch` = `epoch` durable.
    AckNewLeader {
        /// The epoch.
        epoch: Epoch,
        /// The learner's durable history end.
        zxid: Zxid,
    },
    /// Follower -> leader: `ACK`, the log is durable through `zxid`.
    Ack {
        /// The durable zxid.
        zxid: Zxid,
    },
    /// Leader -> learner: `UPTODATE`, start serving.
    UpToDate {
        /// The leader's committed zxid.
        committed: Zxid,
    },
    /// `PING`, both ways.
    Ping,
}

/// Bytes that are not a valid message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the message needs.
    #[error("message truncated")]
    Truncated,
    /// Bytes left over after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// An unknown tag.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// A field value out of range.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
    /// More than a named maximum.
    #[error("{what} of {got} exceeds the maximum {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        got: usize,
        /// The maximum.
        max: usize,
    },
    /// A record that is not a valid txn.
    #[error("invalid txn record: {0}")]
    Record(String),
}

mod tag {
    pub const NOTIFICATION: u8 = 1;
    pub const FOLLOWER_INFO: u8 = 11;
    pub const LEADER_INFO: u8 = 12;
    pub const ACK_EPOCH: u8 = 13;
    pub const DIFF: u8 = 14;
    pub const TRUNC: u8 = 15;
    pub const SNAP: u8 = 16;
    pub const PROPOSAL: u8 = 17;
    pub const COMMIT: u8 = 18;
    pub const INFORM: u8 = 19;
    pub const NEW_LEADER: u8 = 20;
    pub const ACK_NEW_LEADER: u8 = 21;
    pub const ACK: u8 = 22;
    pub const UP_TO_DATE: u8 = 23;
    pub const PING: u8 = 24;
}

impl ServerState {
    fn code(self) -> u8 {
        match self {
            ServerState::Looking => 0,
            ServerState::Following => 1,
            ServerState::Leading => 2,
            ServerState::Observing => 3,
        }
    }

    fn from_code(code: u8) -> Result<ServerState, DecodeError> {
        Ok(match code {
            0 => ServerState::Looking,
            1 => ServerState::Following,
            2 => ServerState::Leading,
            3 => ServerState::Observing,
            _ => return Err(DecodeError::Invalid("server state")),
        })
    }
}

impl Notification {
    /// Encoded size.
    pub const ENCODED_LEN: usize = 1 + 8 + 8 + 4 + 8 + 1;

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(tag::NOTIFICATION);
        out.put_u64_le(self.vote.leader);
        out.put_i64_le(self.vote.zxid.0);
        out.put_u32_le(self.vote.peer_epoch);
        out.put_u64_le(self.election_epoch);
        out.put_u8(self.state.code());
    }

    /// Decodes one notification (the whole of `bytes`).
    pub fn decode(bytes: &[u8]) -> Result<Notification, DecodeError> {
        let mut r = Reader { bytes };
        if r.u8()? != tag::NOTIFICATION {
            return Err(DecodeError::Invalid("not a notification"));
        }
        let n = Notification {
            vote: Vote {
                leader: r.u64()?,
                zxid: Zxid(r.i64()?),
                peer_epoch: r.u32()?,
            },
            election_epoch: r.u64()?,
            state: ServerState::from_code(r.u8()?)?,
        };
        r.finish()?;
        Ok(n)
    }
}

impl PeerMsg {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            PeerMsg::FollowerInfo { accepted_epoch } => {
                out.put_u8(tag::FOLLOWER_INFO);
                out.put_u32_le(*accepted_epoch);
            }
            PeerMsg::LeaderInfo { epoch } => {
                out.put_u8(tag::LEADER_INFO);
                out.put_u32_le(*epoch);
            }
            PeerMsg::AckEpoch {
                last_zxid,
                current_epoch,
            } => {
                out.put_u8(tag::ACK_EPOCH);
                out.put_i64_le(last_zxid.0);
                out.put_u8(u8::from(current_epoch.is_some()));
                out.put_u32_le(current_epoch.unwrap_or(0));
            }
            PeerMsg::Diff { last_zxid } => zxid_msg(out, tag::DIFF, *last_zxid),
            PeerMsg::Trunc { zxid } => zxid_msg(out, tag::TRUNC, *zxid),
            PeerMsg::Snap { zxid } => zxid_msg(out, tag::SNAP, *zxid),
            PeerMsg::Proposal { records } => records_msg(out, tag::PROPOSAL, records),
            PeerMsg::Commit { zxid } => zxid_msg(out, tag::COMMIT, *zxid),
            PeerMsg::Inform { records } => records_msg(out, tag::INFORM, records),
            PeerMsg::NewLeader { epoch } => {
                out.put_u8(tag::NEW_LEADER);
                out.put_u32_le(*epoch);
            }
            PeerMsg::AckNewLeader { epoch, zxid } => {
                out.put_u8(tag::ACK_NEW_LEADER);
                out.put_u32_le(*epoch);
                out.put_i64_le(zxid.0);
            }
            PeerMsg::Ack { zxid } => zxid_msg(out, tag::ACK, *zxid),
            PeerMsg::UpToDate { committed } => zxid_msg(out, tag::UP_TO_DATE, *committed),
            PeerMsg::Ping => out.put_u8(tag::PING),
        }
    }

    /// Decodes one message (the whole of `bytes`). Never panics; allocates at
    /// most what the bytes themselves hold, and no more than [`MSG_BYTES_MAX`].
    pub fn decode(bytes: &[u8]) -> Result<PeerMsg, DecodeError> {
        if bytes.len() > MSG_BYTES_MAX {
            return Err(DecodeError::TooLarge {
                what: "message",
                got: bytes.len(),
                max: MSG_BYTES_MAX,
            });
        }
        let mut r = Reader { bytes };
        let msg = match r.u8()? {
            tag::FOLLOWER_INFO => PeerMsg::FollowerInfo {
                accepted_epoch: r.u32()?,
            },
            tag::LEADER_INFO => PeerMsg::LeaderInfo { epoch: r.u32()? },
            tag::ACK_EPOCH => {
                let last_zxid = Zxid(r.i64()?);
                let present = r.u8()?;
                let epoch = r.u32()?;
                let current_epoch = match present {
                    0 => None,
                    1 => Some(epoch),
                    _ => return Err(DecodeError::Invalid("epoch flag")),
                };
                PeerMsg::AckEpoch {
                    last_zxid,
                    current_epoch,
                }
            }
            tag::DIFF => PeerMsg::Diff {
                last_zxid: Zxid(r.i64()?),
            },
            tag::TRUNC => PeerMsg::Trunc {
                zxid: Zxid(r.i64()?),
            },
            tag::SNAP => PeerMsg::Snap {
                zxid: Zxid(r.i64()?),
            },
            tag::PROPOSAL => PeerMsg::Proposal {
                records: r.records()?,
            },
            tag::COMMIT => PeerMsg::Commit {
                zxid: Zxid(r.i64()?),
            },
            tag::INFORM => PeerMsg::Inform {
                records: r.records()?,
            },
            tag::NEW_LEADER => PeerMsg::NewLeader { epoch: r.u32()? },
            tag::ACK_NEW_LEADER => PeerMsg::AckNewLeader {
                epoch: r.u32()?,
                zxid: Zxid(r.i64()?),
            },
            tag::ACK => PeerMsg::Ack {
                zxid: Zxid(r.i64()?),
            },
            tag::UP_TO_DATE => PeerMsg::UpToDate {
                committed: Zxid(r.i64()?),
            },
            tag::PING => PeerMsg::Ping,
            other => return Err(DecodeError::UnknownTag(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            PeerMsg::FollowerInfo { .. } => "FOLLOWERINFO",
            PeerMsg::LeaderInfo { .. } => "LEADERINFO",
            PeerMsg::AckEpoch { .. } => "ACKEPOCH",
            PeerMsg::Diff { .. } => "DIFF",
            PeerMsg::Trunc { .. } => "TRUNC",
            PeerMsg::Snap { .. } => "SNAP",
            PeerMsg::Proposal { .. } => "PROPOSAL",
            PeerMsg::Commit { .. } => "COMMIT",
            PeerMsg::Inform { .. } => "INFORM",
            PeerMsg::NewLeader { .. } => "NEWLEADER",
            PeerMsg::AckNewLeader { .. } => "ACK(NEWLEADER)",
            PeerMsg::Ack { .. } => "ACK",
            PeerMsg::UpToDate { .. } => "UPTODATE",
            PeerMsg::Ping => "PING",
        }
    }
}

fn zxid_msg(out: &mut Vec<u8>, tag: u8, zxid: Zxid) {
    out.put_u8(tag);
    out.put_i64_le(zxid.0);
}

fn records_msg(out: &mut Vec<u8>, tag: u8, records: &[TxnRecord]) {
    assert!(records.len() <= MSG_RECORDS_MAX, "senders split batches");
    out.put_u8(tag);
    out.put_u32_le(records.len() as u32);
    for record in records {
        let bytes = record.bytes();
        out.put_u32_le(bytes.len() as u32);
        out.put_slice(bytes);
    }
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    fn records(&mut self) -> Result<Arc<[TxnRecord]>, DecodeError> {
        let count = self.u32()? as usize;
        if count > MSG_RECORDS_MAX {
            return Err(DecodeError::TooLarge {
                what: "record count",
                got: count,
                max: MSG_RECORDS_MAX,
            });
        }
        // Each record takes at least its 4-byte length: a count the bytes cannot
        // hold is refused before anything is allocated for it.
        if count.saturating_mul(4) > self.bytes.len() {
            return Err(DecodeError::Truncated);
        }
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let len = self.u32()? as usize;
            if len > RECORD_PAYLOAD_BYTES_MAX {
                return Err(DecodeError::TooLarge {
                    what: "record",
                    got: len,
                    max: RECORD_PAYLOAD_BYTES_MAX,
                });
            }
            let payload = self.take(len)?;
            let mut aligned = AlignedVec::<16>::with_capacity(len);
            aligned.extend_from_slice(payload);
            let record = TxnRecord::from_bytes(Bytes::from_owner(aligned))
                .map_err(|e| DecodeError::Record(e.to_string()))?;
            records.push(record);
        }
        Ok(records.into())
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.bytes.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnOp};
    use crate::types::SessionId;

    fn record(counter: u32) -> TxnRecord {
        TxnRecord::encode(&Txn {
            zxid: Zxid::new(3, counter),
            time_ms: 7,
            session: SessionId(9),
            cxid: 1,
            op: TxnOp::SetData {
                path: "/a".into(),
                data: Bytes::from_static(b"xyz"),
                data_null: false,
                version: 2,
            },
        })
    }

    fn every_message() -> Vec<PeerMsg> {
        let records: Arc<[TxnRecord]> = vec![record(1), record(2)].into();
        vec![
            PeerMsg::FollowerInfo { accepted_epoch: 4 },
            PeerMsg::LeaderInfo { epoch: 5 },
            PeerMsg::AckEpoch {
                last_zxid: Zxid::new(4, 9),
                current_epoch: Some(4),
            },
            PeerMsg::AckEpoch {
                last_zxid: Zxid::new(4, 9),
                current_epoch: None,
            },
            PeerMsg::Diff {
                last_zxid: Zxid::new(4, 9),
            },
            PeerMsg::Trunc {
                zxid: Zxid::new(4, 2),
            },
            PeerMsg::Snap {
                zxid: Zxid::new(4, 1),
            },
            PeerMsg::Proposal {
                records: records.clone(),
            },
            PeerMsg::Commit {
                zxid: Zxid::new(5, 1),
            },
            PeerMsg::Inform { records },
            PeerMsg::NewLeader { epoch: 5 },
            PeerMsg::AckNewLeader {
                epoch: 5,
                zxid: Zxid::new(4, 9),
            },
            PeerMsg::Ack {
                zxid: Zxid::new(5, 3),
            },
            PeerMsg::UpToDate {
                committed: Zxid::new(5, 0),
            },
            PeerMsg::Ping,
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for msg in every_message() {
            let mut bytes = Vec::new();
            msg.encode(&mut bytes);
            let decoded = PeerMsg::decode(&bytes).unwrap();
            let mut again = Vec::new();
            decoded.encode(&mut again);
            assert_eq!(bytes, again, "{}", msg.name());
        }
        let n = Notification {
            vote: Vote {
                leader: 3,
                zxid: Zxid::new(2, 7),
                peer_epoch: 2,
            },
            election_epoch: 11,
            state: ServerState::Following,
        };
        let mut bytes = Vec::new();
        n.encode(&mut bytes);
        assert_eq!(bytes.len(), Notification::ENCODED_LEN);
        assert_eq!(Notification::decode(&bytes).unwrap(), n);
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        for msg in every_message() {
            let mut bytes = Vec::new();
            msg.encode(&mut bytes);
            for cut in 0..bytes.len() {
                assert!(
                    PeerMsg::decode(&bytes[..cut]).is_err(),
                    "{} cut at {cut}",
                    msg.name()
                );
            }
            bytes.push(0);
            assert_eq!(
                PeerMsg::decode(&bytes).unwrap_err(),
                DecodeError::Trailing(1)
            );
        }
        assert_eq!(
            PeerMsg::decode(&[0xee]).unwrap_err(),
            DecodeError::UnknownTag(0xee)
        );
        // A huge record count is refused before anything is allocated for it.
        let mut bytes = vec![17];
        bytes.extend_from_slice(&(MSG_RECORDS_MAX as u32).to_le_bytes());
        assert_eq!(PeerMsg::decode(&bytes).unwrap_err(), DecodeError::Truncated);
        let mut bytes = vec![17];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            PeerMsg::decode(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        // A record that is not a txn.
        let mut bytes = vec![17, 1, 0, 0, 0, 4, 0, 0, 0];
        bytes.extend_from_slice(b"junk");
        assert!(matches!(
            PeerMsg::decode(&bytes),
            Err(DecodeError::Record(_))
        ));
        assert!(Notification::decode(&[1, 2, 3]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = PeerMsg::decode(&bytes);
            let _ = Notification::decode(&bytes);
        }
    }
}
