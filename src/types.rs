//! Small value types shared by every module: zxids, session ids, xids.

use std::fmt;

/// A ZooKeeper transaction id: `epoch << 32 | counter` (ZooKeeper's `ZxidUtils`).
///
/// Kept as the signed 64-bit value the wire carries, so encode/decode is a copy.
#[derive(
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Zxid(pub i64);

impl Zxid {
    /// The zxid before any transaction.
    pub const ZERO: Zxid = Zxid(0);

    /// Builds a zxid from its epoch and counter halves.
    pub const fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as i64) << 32) | counter as i64)
    }

    /// The leader epoch that issued this zxid.
    pub const fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The position within the epoch.
    pub const fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid in the same epoch.
    pub const fn next(self) -> Zxid {
        Zxid(self.0 + 1)
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A client session id as ZooKeeper allocates it (byte 7 is the server id).
#[derive(
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct SessionId(pub i64);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// The client-chosen request id echoed in the reply header.
pub type Xid = i32;

/// Index of a core (and of its executor) within this process.
pub type CoreId = usize;

/// The `myid` of an ensemble member; 0 in standalone mode is fine.
pub type ServerId = u64;
