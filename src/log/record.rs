//! The bytes of a log segment, and the scan that reads a segment image back.
//!
//! # Layout (all integers little-endian)
//!
//! A segment starts with a 32-byte header:
//!
//! | offset | field                                          |
//! |--------|------------------------------------------------|
//! | 0      | magic `CKLG`                                   |
//! | 4      | u32 format version (1)                         |
//! | 8      | i64 zxid of the first record (also in the name) |
//! | 16     | u32 batch alignment in bytes (see below)        |
//! | 20     | 8 bytes, zero                                  |
//! | 28     | u32 CRC32C of bytes 0..28                       |
//!
//! Records follow, each at a 16-byte aligned offset, so the rkyv payload (which
//! starts 32 bytes in) is 16-byte aligned in the file and in any aligned read
//! buffer:
//!
//! | offset | field                                                              |
//! |--------|--------------------------------------------------------------------|
//! | 0      | u32 payload length (exact rkyv length, padding excluded)           |
//! | 4      | u32 CRC32C of bytes 8..28 and the payload (zxid, links, txn)       |
//! | 8      | i64 zxid                                                           |
//! | 16     | i64 prev zxid: the record before this one in the log (the chain)   |
//! | 24     | u32 batch offset: bytes from the start of this record's batch      |
//! | 28     | u32 CRC32C of bytes 0..28 (the header itself)                      |
//! | 32     | payload: the archived `Txn`, exactly as the sequencer serialized it |
//! | ..     | zero padding to a multiple of 16                                   |
//!
//! The header's own checksum is checked first: it rejects garbage after 28
//! bytes, so a scan through a damaged region stays linear instead of reading a
//! random length's worth of payload at every offset, and a damaged length is
//! never trusted.
//!
//! The group-commit writer ([`super::GroupCommit`]) writes one batch per write +
//! fdatasync, and pads each batch with zeros so the next one starts on a multiple
//! of the segment's batch alignment; it writes batch N+1 only after batch N's
//! fdatasync completed.
//!
//! # Why a 32-byte record header
//!
//! The two fields beyond `{length, crc, zxid}` let recovery tell a torn write from
//! corruption, which a length and a checksum alone cannot:
//!
//! * `prev_zxid` chains each record to the one before it, across segments too.
//!   Zxids are not contiguous (a new epoch restarts the counter), so "the next
//!   zxid" cannot show a missing record or segment; the chain can.
//! * `batch_offset` says where the record's batch began. A disk may persist the
//!   sectors of an unsynced write in any order, so after a crash the last batch
//!   can show a hole followed by intact records. Those records belong to the
//!   batch that holds the hole: nothing from the hole on was ever acknowledged,
//!   and it is a torn tail. An intact record of a *later* batch after a hole
//!   proves the hole's batch had been synced (batches are written strictly one
//!   after another): that is corruption of acknowledged data, never truncated.
//!
//! The one case no format can decide is damage to the last batch after its
//! fdatasync completed (bit rot in the final sectors): it reads as a torn tail.

use bytes::Bytes;
use rkyv::util::AlignedVec;

use super::RECORD_PAYLOAD_BYTES_MAX;
use crate::txn::TxnRecord;
use crate::types::Zxid;

/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 32;
/// Records start, and payloads start, at multiples of this.
pub const RECORD_ALIGN: usize = 16;

const SEGMENT_MAGIC: [u8; 4] = *b"CKLG";
const SEGMENT_VERSION: u32 = 1;
/// Magics of files that are not log segments, named when one turns up instead.
const FOREIGN_MAGICS: [[u8; 4]; 3] = [*b"ZKLG", *b"ZKSN", *b"CKSN"];

const _: () = assert!(SEGMENT_HEADER_LEN % RECORD_ALIGN == 0);
const _: () = assert!(RECORD_HEADER_LEN % RECORD_ALIGN == 0);

/// A segment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The zxid of the first record.
    pub first_zxid: Zxid,
    /// Each batch ends on a multiple of this many bytes (zero padded).
    pub batch_align: u32,
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        assert!(self.batch_align.is_power_of_two());
        assert!(self.batch_align as usize >= RECORD_ALIGN);
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..4].copy_from_slice(&SEGMENT_MAGIC);
        out[4..8].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        out[8..16].copy_from_slice(&self.first_zxid.0.to_le_bytes());
        out[16..20].copy_from_slice(&self.batch_align.to_le_bytes());
        let crc = crc32c::crc32c(&out[..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(image: &[u8]) -> Result<SegmentHeader, Corruption> {
        let Some(bytes) = image.get(..SEGMENT_HEADER_LEN) else {
            return Err(Corruption::BadHeader);
        };
        let magic: [u8; 4] = bytes[0..4].try_into().expect("4 bytes");
        if FOREIGN_MAGICS.contains(&magic) {
            return Err(Corruption::Foreign { magic });
        }
        if magic != SEGMENT_MAGIC || le_u32(bytes, 28) != crc32c::crc32c(&bytes[..28]) {
            return Err(Corruption::BadHeader);
        }
        let version = le_u32(bytes, 4);
        if version != SEGMENT_VERSION {
            return Err(Corruption::UnsupportedVersion { version });
        }
        let batch_align = le_u32(bytes, 16);
        if !batch_align.is_power_of_two()
            || (batch_align as usize) < RECORD_ALIGN
            || batch_align > super::BATCH_ALIGN_MAX
        {
            return Err(Corruption::BadHeader);
        }
        Ok(SegmentHeader {
            first_zxid: Zxid(le_i64(bytes, 8)),
            batch_align,
        })
    }
}

/// Bytes a record with a payload of `payload_len` bytes takes in a segment.
pub const fn framed_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len.next_multiple_of(RECORD_ALIGN)
}

/// Appends one framed record to `out`, whose length must be a multiple of
/// [`RECORD_ALIGN`] (the buffer maps to an aligned file offset). The txn bytes
/// are copied as they are: never re-serialized. `prev_zxid` is the zxid of the
/// record before it in the log; `batch_offset` is where this record starts
/// relative to the first record of its batch.
pub fn encode_record(record: &TxnRecord, prev_zxid: Zxid, batch_offset: u32, out: &mut Vec<u8>) {
    let payload = record.bytes();
    let zxid = record.txn().zxid.0.to_native();
    assert!(out.len() % RECORD_ALIGN == 0, "records start aligned");
    assert!(zxid > prev_zxid.0, "zxids increase along the log");
    assert!(
        !payload.is_empty() && payload.len() <= RECORD_PAYLOAD_BYTES_MAX,
        "prep bounds a txn's size"
    );
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&zxid.to_le_bytes());
    header[16..24].copy_from_slice(&prev_zxid.0.to_le_bytes());
    header[24..28].copy_from_slice(&batch_offset.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[8..28]), payload);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&header[..28]);
    header[28..32].copy_from_slice(&header_crc.to_le_bytes());
    out.reserve(framed_len(payload.len()));
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(RECORD_ALIGN), 0);
}

/// One record read back from a segment.
#[derive(Clone, Debug)]
pub struct LogRecord {
    /// Where the record starts in the segment file.
    pub offset: u64,
    /// Its zxid.
    pub zxid: Zxid,
    /// The zxid of the record before it in the log.
    pub prev_zxid: Zxid,
    /// The txn, checked, in its own aligned buffer (so the tree's data slices
    /// keep only their own record alive, not the whole segment image).
    pub record: TxnRecord,
}

/// What reading a segment image found.
#[derive(Clone, Debug)]
pub struct Scan {
    /// The header, if it is intact.
    pub header: Option<SegmentHeader>,
    /// The valid, chained records before `end`.
    pub records: Vec<LogRecord>,
    /// How the image ends.
    pub end: ScanEnd,
}

/// How a segment image ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// After the last record there are only zeros (the preallocated tail) or
    /// nothing. `offset` is the end of the last record.
    Clean {
        /// End of the last record (the header's end if there is none).
        offset: u64,
    },
    /// From `offset` on the image holds a partial or damaged write that was
    /// never acknowledged: the last batch, torn by a crash. Cut the segment
    /// there (zero or truncate everything from `offset`) before reusing it.
    /// `offset` 0 means the header itself never became durable.
    TornTail {
        /// Where the torn write begins.
        offset: u64,
    },
    /// The image is damaged at `offset` in a way a crash cannot explain:
    /// acknowledged data is lost or altered. A startup error.
    Corrupt {
        /// Where the damage begins.
        offset: u64,
        /// What is wrong there.
        reason: Corruption,
    },
}

/// What is wrong with a segment at some offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The header is damaged or missing.
    #[error("the segment header is damaged")]
    BadHeader,
    /// The file is some other kind of file.
    #[error("the file starts with {:?}, not a corekeeper log segment", String::from_utf8_lossy(.magic))]
    Foreign {
        /// Its first four bytes.
        magic: [u8; 4],
    },
    /// A format version this build does not read.
    #[error("segment format version {version} is not supported by this build")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// Zeros, or too few bytes for a record header, where a record must be.
    #[error("no record where one must be")]
    NoRecord,
    /// A record whose length field cannot be right.
    #[error("a record length of {len} bytes is impossible here")]
    BadLength {
        /// The length field.
        len: u32,
    },
    /// A record header whose own checksum does not match.
    #[error("record header checksum mismatch")]
    BadHeaderChecksum,
    /// A record whose payload checksum does not match.
    #[error("record checksum mismatch")]
    BadChecksum,
    /// A record whose zxid does not exceed its predecessor's.
    #[error("record zxid {zxid} does not follow its predecessor {prev_zxid}")]
    NotIncreasing {
        /// Its zxid.
        zxid: Zxid,
        /// Its predecessor's zxid as it records it.
        prev_zxid: Zxid,
    },
    /// A record that does not follow the one before it.
    #[error("record {zxid} follows {prev_zxid}, but the record before it is {expected}")]
    Unlinked {
        /// Its zxid.
        zxid: Zxid,
        /// Its predecessor's zxid as it records it.
        prev_zxid: Zxid,
        /// The zxid of the record actually before it.
        expected: Zxid,
    },
    /// The first record is not the one the header names.
    #[error("the header says the segment starts at {header}, its first record is {record}")]
    FirstZxid {
        /// The header's first zxid.
        header: Zxid,
        /// The first record's zxid.
        record: Zxid,
    },
    /// A record whose batch offset points before the segment's first record.
    #[error("record batch offset {batch_offset} points before the first record")]
    BadBatchOffset {
        /// The field.
        batch_offset: u32,
    },
    /// An intact record whose payload is not a txn.
    #[error("record payload is not a txn: {0}")]
    NotATxn(String),
    /// An intact record whose payload has another zxid than its header.
    #[error("record header says zxid {header}, its txn says {txn}")]
    ZxidMismatch {
        /// The header's zxid.
        header: Zxid,
        /// The txn's zxid.
        txn: Zxid,
    },
}

/// Reads a segment image (the file's bytes, preallocated tail included) and
/// says how it ends. Pure and total: any bytes give an answer.
pub fn decode_records(image: &[u8]) -> Scan {
    let end_nonzero = end_of_nonzero(image);
    let header = match SegmentHeader::decode(image) {
        Ok(header) => header,
        Err(reason @ (Corruption::Foreign { .. } | Corruption::UnsupportedVersion { .. })) => {
            return Scan {
                header: None,
                records: Vec::new(),
                end: ScanEnd::Corrupt { offset: 0, reason },
            }
        }
        Err(reason) => {
            // The header is written with the first batch: if no intact record of a
            // later batch follows, the segment simply never became durable.
            return Scan {
                header: None,
                records: Vec::new(),
                end: classify_hole(
                    image,
                    end_nonzero,
                    Hole {
                        end_of_last: 0,
                        damage_at: 0,
                        batch_start_max: SEGMENT_HEADER_LEN,
                        reason,
                    },
                ),
            };
        }
    };
    let mut scanner = Scanner {
        image,
        header,
        end_nonzero,
        records: Vec::new(),
    };
    let end = scanner.run();
    Scan {
        header: Some(header),
        records: scanner.records,
        end,
    }
}

struct Scanner<'a> {
    image: &'a [u8],
    header: SegmentHeader,
    end_nonzero: usize,
    records: Vec<LogRecord>,
}

impl Scanner<'_> {
    fn run(&mut self) -> ScanEnd {
        let align = self.header.batch_align as usize;
        let mut at = SEGMENT_HEADER_LEN;
        // Where the zeros began when we skipped a batch's padding, until the next
        // record shows the zeros really were padding (it links up).
        let mut skipped_from: Option<usize> = None;
        loop {
            let end_of_last = skipped_from.unwrap_or(at);
            if at >= self.end_nonzero {
                return ScanEnd::Clean {
                    offset: end_of_last as u64,
                };
            }
            // A batch ends with zeros up to the next multiple of the alignment (a
            // record never starts with 16 zero bytes: its length is not 0).
            if skipped_from.is_none() && at % align != 0 {
                let boundary = at.next_multiple_of(align).min(self.image.len());
                if self.image[at..boundary].iter().all(|&b| b == 0) {
                    skipped_from = Some(at);
                    at = boundary;
                    continue;
                }
            }
            // No batch starts between the last record and `at`, so damage at `at`
            // lies in a batch that began at `at` at the latest.
            let bad_frame = |reason| Hole {
                end_of_last,
                damage_at: at,
                batch_start_max: at,
                reason,
            };
            match read_frame(self.image, at) {
                Frame::Zero => return self.classify(bad_frame(Corruption::NoRecord)),
                Frame::Bad(reason) => return self.classify(bad_frame(reason)),
                Frame::Valid(frame) => {
                    if let Err(reason) = self.check_link(&frame) {
                        // The missing records lie between the last record and this
                        // one: in a batch that began at `end_of_last` at the latest.
                        return self.classify(Hole {
                            end_of_last,
                            damage_at: end_of_last,
                            batch_start_max: end_of_last,
                            reason,
                        });
                    }
                    if let Err(reason) = self.accept(at, &frame) {
                        return ScanEnd::Corrupt {
                            offset: at as u64,
                            reason,
                        };
                    }
                    skipped_from = None;
                    at += framed_len(frame.payload_len);
                }
            }
        }
    }

    fn classify(&self, hole: Hole) -> ScanEnd {
        classify_hole(self.image, self.end_nonzero, hole)
    }

    /// Whether an intact record follows the last one accepted. A record that does
    /// not is explained like a hole: it may sit after lost sectors of a torn batch.
    fn check_link(&self, frame: &FrameHeader) -> Result<(), Corruption> {
        match self.records.last() {
            Some(last) if frame.prev_zxid != last.zxid => Err(Corruption::Unlinked {
                zxid: frame.zxid,
                prev_zxid: frame.prev_zxid,
                expected: last.zxid,
            }),
            None if frame.zxid != self.header.first_zxid => Err(Corruption::FirstZxid {
                header: self.header.first_zxid,
                record: frame.zxid,
            }),
            _ => Ok(()),
        }
    }

    /// Takes an intact, linked record. What can fail here is not a crash's doing.
    fn accept(&mut self, at: usize, frame: &FrameHeader) -> Result<(), Corruption> {
        if frame.zxid <= frame.prev_zxid {
            return Err(Corruption::NotIncreasing {
                zxid: frame.zxid,
                prev_zxid: frame.prev_zxid,
            });
        }
        if frame.batch_offset as usize > at - SEGMENT_HEADER_LEN {
            return Err(Corruption::BadBatchOffset {
                batch_offset: frame.batch_offset,
            });
        }
        let start = at + RECORD_HEADER_LEN;
        let payload = &self.image[start..start + frame.payload_len];
        let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        let record = TxnRecord::from_bytes(Bytes::from_owner(aligned))
            .map_err(|e| Corruption::NotATxn(e.to_string()))?;
        let txn_zxid = Zxid(record.txn().zxid.0.to_native());
        if txn_zxid != frame.zxid {
            return Err(Corruption::ZxidMismatch {
                header: frame.zxid,
                txn: txn_zxid,
            });
        }
        self.records.push(LogRecord {
            offset: at as u64,
            zxid: frame.zxid,
            prev_zxid: frame.prev_zxid,
            record,
        });
        Ok(())
    }
}

/// Where the log stops making sense.
struct Hole {
    /// End of the last good record: where a torn segment is cut.
    end_of_last: usize,
    /// Where the damage is, reported if it is corruption.
    damage_at: usize,
    /// The latest offset at which the batch holding the damage can have begun.
    batch_start_max: usize,
    /// What is wrong there.
    reason: Corruption,
}

/// The log stops making sense at `hole`. That is a torn tail if nothing after it
/// proves the damaged batch had been synced; corruption if an intact record of a
/// batch that began after the damaged one follows (the writer starts a batch only
/// after the one before it was synced).
fn classify_hole(image: &[u8], end_nonzero: usize, hole: Hole) -> ScanEnd {
    // The first batch of a segment begins right after the header it shares a write with.
    let floor = hole.batch_start_max.max(SEGMENT_HEADER_LEN);
    let mut at = (hole.end_of_last + 1)
        .next_multiple_of(RECORD_ALIGN)
        .max(SEGMENT_HEADER_LEN);
    while at + RECORD_HEADER_LEN <= end_nonzero {
        match read_frame(image, at) {
            Frame::Valid(frame) => {
                let batch_start = at.saturating_sub(frame.batch_offset as usize);
                if batch_start > floor {
                    return ScanEnd::Corrupt {
                        offset: hole.damage_at as u64,
                        reason: hole.reason,
                    };
                }
                at += framed_len(frame.payload_len);
            }
            Frame::Zero | Frame::Bad(_) => at += RECORD_ALIGN,
        }
    }
    ScanEnd::TornTail {
        offset: hole.end_of_last as u64,
    }
}

struct FrameHeader {
    payload_len: usize,
    zxid: Zxid,
    prev_zxid: Zxid,
    batch_offset: u32,
}

enum Frame {
    /// An all-zero record header.
    Zero,
    /// Not an intact record.
    Bad(Corruption),
    /// A record whose length fits and whose checksum matches.
    Valid(FrameHeader),
}

fn read_frame(image: &[u8], at: usize) -> Frame {
    let Some(header) = image.get(at..at + RECORD_HEADER_LEN) else {
        return Frame::Bad(Corruption::NoRecord);
    };
    if header.iter().all(|&b| b == 0) {
        return Frame::Zero;
    }
    if crc32c::crc32c(&header[..28]) != le_u32(header, 28) {
        return Frame::Bad(Corruption::BadHeaderChecksum);
    }
    let len = le_u32(header, 0);
    let payload_len = len as usize;
    let fits = payload_len > 0
        && payload_len <= RECORD_PAYLOAD_BYTES_MAX
        && at + RECORD_HEADER_LEN + payload_len <= image.len();
    if !fits {
        return Frame::Bad(Corruption::BadLength { len });
    }
    let payload = &image[at + RECORD_HEADER_LEN..at + RECORD_HEADER_LEN + payload_len];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[8..28]), payload);
    if crc != le_u32(header, 4) {
        return Frame::Bad(Corruption::BadChecksum);
    }
    Frame::Valid(FrameHeader {
        payload_len,
        zxid: Zxid(le_i64(header, 8)),
        prev_zxid: Zxid(le_i64(header, 16)),
        batch_offset: le_u32(header, 24),
    })
}

/// One past the last non-zero byte (0 for an all-zero image). Checks 64 bytes
/// at a time from the end, which the compiler turns into wide compares.
fn end_of_nonzero(image: &[u8]) -> usize {
    let mut end = image.len();
    while end >= 64 {
        let chunk = &image[end - 64..end];
        if chunk.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            break;
        }
        end -= 64;
    }
    while end > 0 && image[end - 1] == 0 {
        end -= 1;
    }
    end
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn le_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
pub(crate) mod tests;
