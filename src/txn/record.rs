//! A txn's one serialized form: rkyv bytes, aligned, shared by reference.

use bytes::Bytes;

use super::{ArchivedTxn, Txn};

/// A serialized [`Txn`]. Invariant: `bytes` always hold a valid, aligned
/// archived `Txn` (made by [`TxnRecord::encode`] or checked by
/// [`TxnRecord::from_bytes`]), so reading it needs no further validation.
#[derive(Clone, Debug)]
pub struct TxnRecord {
    bytes: Bytes,
}

/// Bytes that are not a valid txn record.
#[derive(Debug, thiserror::Error)]
#[error("invalid txn record: {0}")]
pub struct RecordError(String);

impl TxnRecord {
    /// Serializes a txn (the one copy of its data the server makes).
    pub fn encode(txn: &Txn) -> TxnRecord {
        let aligned =
            rkyv::to_bytes::<rkyv::rancor::Error>(txn).expect("serializing to memory cannot fail");
        TxnRecord {
            bytes: Bytes::from_owner(aligned),
        }
    }

    /// Checks bytes from outside (a log file, a peer) and wraps them.
    pub fn from_bytes(bytes: Bytes) -> Result<TxnRecord, RecordError> {
        rkyv::access::<ArchivedTxn, rkyv::rancor::Error>(&bytes)
            .map_err(|e| RecordError(e.to_string()))?;
        Ok(TxnRecord { bytes })
    }

    /// The archived txn, read in place.
    pub fn txn(&self) -> &ArchivedTxn {
        // SAFETY: by the type's invariant the bytes are a valid archived `Txn`
        // at an alignment rkyv accepts (an `AlignedVec`'s start, or bytes that
        // `rkyv::access` checked, alignment included).
        unsafe { rkyv::access_unchecked::<ArchivedTxn>(&self.bytes) }
    }

    /// The serialized bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// A zero-copy `Bytes` for a slice of this record (node data lives in records).
    pub fn slice_ref(&self, part: &[u8]) -> Bytes {
        if part.is_empty() {
            return Bytes::new();
        }
        self.bytes.slice_ref(part)
    }
}
