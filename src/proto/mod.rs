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
