//! The ZooKeeper client wire protocol (3.9): frames, jute primitives, records,
//! requests and replies, opcodes and error codes.
//!
//! Pure: no I/O, no clock. Decoding borrows from the frame (`bytes::Bytes`) and
//! checks every length against `jute.maxbuffer` before it allocates anything.

pub mod error;
pub mod opcode;
pub mod records;

pub use error::ErrorCode;
pub use opcode::{perms, AddWatchMode, CreateMode, EventType, KeeperState, OpCode, WatcherType};
pub use records::{Acl, Id, Stat};
