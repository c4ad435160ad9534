//! The ZooKeeper client wire protocol (3.9): frames, jute primitives, records,
//! requests and replies, opcodes and error codes.
//!
//! Pure: no I/O, no clock. Decoding borrows from the frame (`bytes::Bytes`) and
//! checks every length against `jute.maxbuffer` before it allocates anything.
//!
//! Server read path: [`split_frame`] -> first frame [`ConnectRequest::decode_frame`],
//! later frames [`RequestHeader::decode`] then [`Request::decode`]. Write path:
//! [`encode_reply_frame_header`], a `response::encode_*` body, [`end_frame`];
//! watch events with [`encode_notification`].

pub mod error;
pub mod frame;
pub mod jute;
pub mod opcode;
pub mod records;
pub mod request;
pub mod response;
#[cfg(test)]
mod testutil;

pub use error::ErrorCode;
pub use frame::{begin_frame, end_frame, split_frame, FrameError};
pub use jute::{DecodeError, JuteWrite, Reader};
pub use opcode::{
    perms, xid, AddWatchMode, CreateMode, EventType, KeeperState, OpCode, WatcherType,
};
pub use records::{
    Acl, AuthPacket, ClientInfo, ConnectRequest, ConnectResponse, Id, MultiHeader, ReplyHeader,
    RequestHeader, SetWatches, Stat, WatcherEvent,
};
pub use request::{
    AddWatchRequest, CheckVersionRequest, CreateRequest, DeleteRequest, MultiOp, MultiReadOp,
    PathOnly, PathWatch, ReconfigRequest, Request, SetAclRequest, SetDataRequest, WatchesRequest,
};
pub use response::{
    encode_header_only_reply, encode_multi_response, encode_notification,
    encode_reply_frame_header, MultiResult, Response,
};

/// Decoding arbitrary bytes never panics, whatever the opcode.
#[cfg(test)]
mod proptests {
    use bytes::{Bytes, BytesMut};
    use proptest::prelude::*;

    use super::*;

    fn every_opcode() -> Vec<i32> {
        (-12..=23)
            .chain(99..=108)
            .chain([999, i32::MIN, i32::MAX])
            .collect()
    }

    fn decode_everything(bytes: &Bytes, max: usize) {
        for code in every_opcode() {
            if let Some(op) = OpCode::from_code(code) {
                let _ = Request::decode(op, &mut Reader::new(bytes, max));
                let _ = Response::decode(op, &mut Reader::new(bytes, max));
            }
        }
        let _ = ConnectRequest::decode_frame(bytes, max);
        let _ = ConnectResponse::decode(&mut Reader::new(bytes, max));
        let _ = WatcherEvent::decode(&mut Reader::new(bytes, max));
        let _ = SetWatches::decode(&mut Reader::new(bytes, max), true);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = split_frame(&mut buf, max) {}
    }

    /// Valid encodings to mutate, so that mutations reach deep into records.
    fn seeds() -> Vec<Bytes> {
        let mut out = Vec::new();
        for req in request::tests::samples() {
            let mut b = BytesMut::new();
            req.encode(&mut b);
            out.push(b.freeze());
        }
        for (_, rsp) in response::tests::samples() {
            let mut b = BytesMut::new();
            rsp.encode(&mut b);
            out.push(b.freeze());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(v in proptest::collection::vec(any::<u8>(), 0..256), small in any::<bool>()) {
            let bytes = Bytes::from(v);
            decode_everything(&bytes, if small { 16 } else { 0xfffff });
        }

        #[test]
        fn mutated_valid_records_never_panic(
            seed in any::<prop::sample::Index>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let seeds = seeds();
            let mut v = seeds[seed.index(seeds.len())].to_vec();
            if !v.is_empty() {
                for (at, byte) in &edits {
                    let i = at.index(v.len());
                    v[i] = *byte;
                }
                v.truncate(cut.index(v.len() + 1));
            }
            decode_everything(&Bytes::from(v), 0xfffff);
        }

        #[test]
        fn create_requests_round_trip(
            path in "/[a-z0-9/]{0,20}",
            data in proptest::collection::vec(any::<u8>(), 0..64),
            data_null in any::<bool>(),
            flags in 0i32..7,
            ttl in any::<i64>(),
            perms in proptest::collection::vec(0i32..32, 0..4),
        ) {
            let data = if data_null { Bytes::new() } else { Bytes::from(data) };
            let acl = perms.iter().map(|p| Acl::new(*p, "world", "anyone")).collect();
            for op in [OpCode::Create, OpCode::Create2, OpCode::CreateContainer, OpCode::CreateTtl] {
                let ttl = if op == OpCode::CreateTtl { ttl } else { 0 };
                let req = Request::Create(CreateRequest {
                    op, path: &path, data: data.clone(), data_null, acl: Vec::clone(&acl), flags, ttl,
                });
                let mut b = BytesMut::new();
                req.encode(&mut b);
                let b = b.freeze();
                let mut r = Reader::new(&b, 0xfffff);
                prop_assert_eq!(Request::decode(op, &mut r), Ok(req.clone()));
                prop_assert_eq!(r.remaining(), 0);
            }
        }
    }
}
