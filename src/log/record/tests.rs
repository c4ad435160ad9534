//! The record format and how a scan classifies the end of a segment image.

use bytes::Bytes;

use super::*;
use crate::txn::{Txn, TxnOp};
use crate::types::SessionId;

/// A setData txn at `zxid` carrying `len` bytes of data.
pub(crate) fn txn_record(zxid: i64, len: usize) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid: Zxid(zxid),
        time_ms: 1_700_000_000_000 + zxid,
        session: SessionId(0x77),
        cxid: zxid as i32,
        op: TxnOp::SetData {
            path: format!("/node/{zxid}"),
            data: Bytes::from(vec![zxid as u8; len]),
            data_null: false,
            version: 1,
        },
    })
}

/// Builds segment images batch by batch, as the group-commit writer lays them out.
struct Segment {
    image: Vec<u8>,
    last: Zxid,
    align: usize,
}

impl Segment {
    fn new(first_zxid: i64, prev: i64, align: u32) -> Segment {
        let header = SegmentHeader {
            first_zxid: Zxid(first_zxid),
            batch_align: align,
        };
        Segment {
            image: header.encode().to_vec(),
            last: Zxid(prev),
            align: align as usize,
        }
    }

    /// Appends one batch of records and pads it; returns each record's offset.
    fn batch(&mut self, zxids: impl IntoIterator<Item = i64>) -> Vec<usize> {
        let start = self.image.len();
        let mut offsets = Vec::new();
        for zxid in zxids {
            offsets.push(self.image.len());
            let offset = (self.image.len() - start) as u32;
            encode_record(
                &txn_record(zxid, 40 + zxid as usize % 50),
                self.last,
                offset,
                &mut self.image,
            );
            self.last = Zxid(zxid);
        }
        self.image
            .resize(self.image.len().next_multiple_of(self.align), 0);
        offsets
    }

    /// The image with a zero-filled preallocated tail.
    fn preallocated(&self, len: usize) -> Vec<u8> {
        let mut image = self.image.clone();
        image.resize(len.max(image.len()), 0);
        image
    }
}

fn zxids(scan: &Scan) -> Vec<i64> {
    scan.records.iter().map(|r| r.zxid.0).collect()
}

/// A frame with correct checksums over whatever fields it is given.
fn raw_frame(payload: &[u8], zxid: i64, prev: i64, batch_offset: u32) -> Vec<u8> {
    let mut out = vec![0u8; RECORD_HEADER_LEN];
    out[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out[8..16].copy_from_slice(&zxid.to_le_bytes());
    out[16..24].copy_from_slice(&prev.to_le_bytes());
    out[24..28].copy_from_slice(&batch_offset.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[8..28]), payload);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[..28]);
    out[28..32].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(RECORD_ALIGN), 0);
    out
}

#[test]
fn a_record_is_framed_aligned_and_checksummed() {
    let record = txn_record(0x1_0000_0005, 3);
    let mut out = Vec::new();
    encode_record(&record, Zxid(0x1_0000_0004), 96, &mut out);
    let payload = record.bytes();
    assert_eq!(out.len(), framed_len(payload.len()));
    assert_eq!(out.len() % RECORD_ALIGN, 0);
    assert_eq!(le_u32(&out, 0) as usize, payload.len());
    assert_eq!(le_i64(&out, 8), 0x1_0000_0005);
    assert_eq!(le_i64(&out, 16), 0x1_0000_0004);
    assert_eq!(le_u32(&out, 24), 96);
    assert_eq!(le_u32(&out, 28), crc32c::crc32c(&out[..28]));
    assert_eq!(
        &out[32..32 + payload.len()],
        &payload[..],
        "the txn bytes as they are"
    );
    assert!(out[32 + payload.len()..].iter().all(|&b| b == 0));
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[8..28]), payload);
    assert_eq!(le_u32(&out, 4), crc);
}

#[test]
fn the_segment_header_round_trips_and_rejects_damage() {
    let header = SegmentHeader {
        first_zxid: Zxid(0x3_0000_0001),
        batch_align: 4096,
    };
    let bytes = header.encode();
    assert_eq!(&bytes[..4], b"CKLG");
    assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
    let mut flipped = bytes;
    flipped[9] ^= 1;
    assert_eq!(SegmentHeader::decode(&flipped), Err(Corruption::BadHeader));
    assert_eq!(
        SegmentHeader::decode(&bytes[..31]),
        Err(Corruption::BadHeader)
    );
    let mut newer = bytes;
    newer[4] = 2;
    let crc = crc32c::crc32c(&newer[..28]);
    newer[28..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        SegmentHeader::decode(&newer),
        Err(Corruption::UnsupportedVersion { version: 2 })
    );
}

#[test]
fn a_whole_segment_reads_back_clean_with_or_without_its_preallocated_tail() {
    let mut segment = Segment::new(10, 9, 64);
    segment.batch(10..13);
    segment.batch(13..14);
    segment.batch(14..20);
    let last_end = {
        let scan = decode_records(&segment.image);
        let last = scan.records.last().unwrap();
        last.offset as usize + framed_len(last.record.bytes().len())
    };
    for image in [segment.image.clone(), segment.preallocated(1 << 16)] {
        let scan = decode_records(&image);
        assert_eq!(zxids(&scan), (10..20).collect::<Vec<_>>());
        assert_eq!(
            scan.end,
            ScanEnd::Clean {
                offset: last_end as u64
            }
        );
        assert_eq!(scan.records[0].prev_zxid, Zxid(9));
        for record in &scan.records {
            assert_eq!(
                record.record.bytes(),
                txn_record(record.zxid.0, 40 + record.zxid.0 as usize % 50).bytes()
            );
        }
    }
}

#[test]
fn empty_and_header_only_segments() {
    assert_eq!(decode_records(&[]).end, ScanEnd::TornTail { offset: 0 });
    assert_eq!(
        decode_records(&[0; 4096]).end,
        ScanEnd::TornTail { offset: 0 }
    );
    let segment = Segment::new(1, 0, 64);
    let scan = decode_records(&segment.preallocated(4096));
    assert!(scan.records.is_empty());
    assert_eq!(scan.end, ScanEnd::Clean { offset: 32 });
}

#[test]
fn a_cut_off_last_record_is_a_torn_tail() {
    let mut segment = Segment::new(1, 0, 16);
    segment.batch(1..4);
    let offsets = segment.batch(4..6);
    for cut in [
        offsets[1] + 1,
        offsets[1] + 20,
        offsets[1] + 40,
        offsets[1] + 33,
    ] {
        let mut image = segment.image[..cut].to_vec();
        let scan = decode_records(&image);
        assert_eq!(zxids(&scan), vec![1, 2, 3, 4], "cut at {cut}");
        assert_eq!(
            scan.end,
            ScanEnd::TornTail {
                offset: offsets[1] as u64
            }
        );
        // The same with the zero tail of a preallocated file.
        image.resize(8192, 0);
        assert_eq!(
            decode_records(&image).end,
            ScanEnd::TornTail {
                offset: offsets[1] as u64
            }
        );
    }
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail() {
    let mut segment = Segment::new(1, 0, 16);
    segment.batch(1..4);
    let end = segment.image.len();
    let mut image = segment.preallocated(4096);
    for (i, byte) in image[end..end + 700].iter_mut().enumerate() {
        *byte = (i * 37 + 11) as u8;
    }
    let scan = decode_records(&image);
    assert_eq!(zxids(&scan), vec![1, 2, 3]);
    assert_eq!(scan.end, ScanEnd::TornTail { offset: end as u64 });
}

#[test]
fn a_hole_in_the_last_batch_is_torn_even_with_intact_records_after_it() {
    // The disk persisted the unsynced batch's sectors out of order.
    let mut segment = Segment::new(1, 0, 16);
    segment.batch(1..3);
    let offsets = segment.batch(3..7);
    for hole in [0, 1, 2] {
        let mut image = segment.preallocated(4096);
        let (start, end) = (offsets[hole], offsets[hole + 1]);
        image[start..end].fill(0);
        let scan = decode_records(&image);
        assert_eq!(zxids(&scan), (1..3 + hole as i64).collect::<Vec<_>>());
        assert_eq!(
            scan.end,
            ScanEnd::TornTail {
                offset: start as u64
            },
            "hole {hole}"
        );
    }
}

#[test]
fn a_hole_before_a_later_batch_is_corruption() {
    let mut segment = Segment::new(1, 0, 16);
    let first = segment.batch(1..4);
    segment.batch(4..6);
    for fill in [0u8, 0x5a] {
        let mut image = segment.preallocated(4096);
        image[first[1]..first[2]].fill(fill);
        let scan = decode_records(&image);
        assert_eq!(zxids(&scan), vec![1]);
        assert!(
            matches!(scan.end, ScanEnd::Corrupt { offset, .. } if offset == first[1] as u64),
            "{:?}",
            scan.end
        );
    }
    // One flipped bit in a synced record.
    let mut image = segment.image.clone();
    image[first[2] + 40] ^= 0x10;
    assert_eq!(
        decode_records(&image).end,
        ScanEnd::Corrupt {
            offset: first[2] as u64,
            reason: Corruption::BadChecksum
        }
    );
}

#[test]
fn batch_padding_is_skipped_but_a_lost_batch_before_a_later_one_is_not() {
    let mut segment = Segment::new(1, 0, 256);
    segment.batch(1..3);
    let second = segment.batch(3..5);
    let third = segment.batch(5..6);
    let scan = decode_records(&segment.preallocated(8192));
    assert_eq!(zxids(&scan), (1..6).collect::<Vec<_>>());
    assert!(matches!(scan.end, ScanEnd::Clean { .. }));
    // The whole second batch lost, the third intact: the second had been synced.
    let mut image = segment.preallocated(8192);
    image[second[0]..third[0]].fill(0);
    let scan = decode_records(&image);
    assert_eq!(zxids(&scan), vec![1, 2]);
    let second_end =
        scan.records[1].offset as usize + framed_len(scan.records[1].record.bytes().len());
    assert!(second_end < second[0], "the first batch is padded");
    assert_eq!(
        scan.end,
        ScanEnd::Corrupt {
            offset: second[0] as u64,
            reason: Corruption::NoRecord
        },
        "the damage is where the second batch should begin, not in the padding"
    );
    // The last batch lost entirely: a clean end after the second.
    let mut image = segment.preallocated(8192);
    image[third[0]..].fill(0);
    let scan = decode_records(&image);
    assert_eq!(zxids(&scan), (1..5).collect::<Vec<_>>());
    assert!(matches!(scan.end, ScanEnd::Clean { .. }));
}

#[test]
fn a_record_starting_on_a_boundary_inside_a_torn_batch_is_still_torn() {
    // Align 64: records 2 and 3 of the last batch, with 3 starting on a boundary.
    let mut segment = Segment::new(1, 0, 64);
    segment.batch(1..2);
    let batch = segment.batch(2..10);
    let on_boundary = batch
        .iter()
        .skip(1)
        .position(|o| o % 64 == 0)
        .map(|i| i + 1);
    let Some(index) = on_boundary else {
        panic!("some record starts on a 64-byte boundary: {batch:?}");
    };
    let mut image = segment.preallocated(8192);
    // Lose everything between the previous record's start and the boundary.
    image[batch[index - 1]..batch[index]].fill(0);
    let scan = decode_records(&image);
    assert_eq!(scan.records.len(), index);
    assert!(
        matches!(scan.end, ScanEnd::TornTail { .. }),
        "{:?}",
        scan.end
    );
}

#[test]
fn a_torn_header_is_a_torn_segment_unless_a_later_batch_survived() {
    let mut segment = Segment::new(1, 0, 64);
    segment.batch(1..3);
    let mut image = segment.preallocated(4096);
    image[..32].fill(0);
    let scan = decode_records(&image);
    assert!(scan.header.is_none());
    assert_eq!(scan.end, ScanEnd::TornTail { offset: 0 });
    segment.batch(3..4);
    let mut image = segment.preallocated(4096);
    image[5] ^= 1;
    assert_eq!(
        decode_records(&image).end,
        ScanEnd::Corrupt {
            offset: 0,
            reason: Corruption::BadHeader
        }
    );
}

#[test]
fn other_files_are_named_not_truncated() {
    for magic in [*b"ZKLG", *b"ZKSN", *b"CKSN"] {
        let mut image = vec![0u8; 64];
        image[..4].copy_from_slice(&magic);
        assert_eq!(
            decode_records(&image).end,
            ScanEnd::Corrupt {
                offset: 0,
                reason: Corruption::Foreign { magic }
            }
        );
    }
}

#[test]
fn intact_records_that_break_the_rules_are_corruption() {
    let header = |first| {
        SegmentHeader {
            first_zxid: Zxid(first),
            batch_align: 16,
        }
        .encode()
        .to_vec()
    };
    let good = txn_record(5, 8);
    let cases: Vec<(Vec<u8>, Corruption)> = vec![
        (
            raw_frame(good.bytes(), 5, 5, 0),
            Corruption::NotIncreasing {
                zxid: Zxid(5),
                prev_zxid: Zxid(5),
            },
        ),
        (
            raw_frame(good.bytes(), 5, 4, 16),
            Corruption::BadBatchOffset { batch_offset: 16 },
        ),
        (
            raw_frame(txn_record(6, 8).bytes(), 5, 4, 0),
            Corruption::ZxidMismatch {
                header: Zxid(5),
                txn: Zxid(6),
            },
        ),
    ];
    for (frame, reason) in cases {
        let mut image = header(5);
        image.extend_from_slice(&frame);
        image.resize(1024, 0);
        assert_eq!(
            decode_records(&image).end,
            ScanEnd::Corrupt { offset: 32, reason }
        );
    }
    let mut image = header(5);
    image.extend_from_slice(&raw_frame(&[0xee; 24], 5, 4, 0));
    assert!(matches!(
        decode_records(&image).end,
        ScanEnd::Corrupt {
            offset: 32,
            reason: Corruption::NotATxn(_)
        }
    ));
}

#[test]
fn an_unlinked_record_ends_the_history() {
    // A checksummed record that does not follow the one before it, followed by a
    // later batch: something between them is gone.
    let mut segment = Segment::new(1, 0, 16);
    segment.batch(1..3);
    let at = segment.image.len();
    segment.last = Zxid(7);
    segment.batch(8..9);
    segment.batch(9..10);
    let scan = decode_records(&segment.image);
    assert_eq!(zxids(&scan), vec![1, 2]);
    assert_eq!(
        scan.end,
        ScanEnd::Corrupt {
            offset: at as u64,
            reason: Corruption::Unlinked {
                zxid: Zxid(8),
                prev_zxid: Zxid(7),
                expected: Zxid(2)
            }
        }
    );
    // A first record other than the header names.
    let mut segment = Segment::new(1, 0, 16);
    segment.last = Zxid(1);
    segment.batch(2..3);
    segment.batch(3..4);
    assert!(matches!(
        decode_records(&segment.image).end,
        ScanEnd::Corrupt {
            offset: 32,
            reason: Corruption::FirstZxid { .. }
        }
    ));
}

#[test]
fn any_bytes_give_an_answer() {
    let mut state = 0x1234_5678_u32;
    for len in [0, 1, 31, 32, 33, 100, 1000, 5000] {
        let image: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let scan = decode_records(&image);
        assert!(scan.records.is_empty());
        let mut with_header = SegmentHeader {
            first_zxid: Zxid(1),
            batch_align: 16,
        }
        .encode()
        .to_vec();
        with_header.extend_from_slice(&image);
        let _ = decode_records(&with_header);
    }
}

#[test]
fn a_large_garbage_region_scans_in_linear_time() {
    // Random bytes hold plausible lengths at many offsets; the header checksum
    // rejects each after 28 bytes instead of checksumming megabytes.
    let mut segment = Segment::new(1, 0, 4096);
    segment.batch(1..3);
    let end = segment.image.len();
    let mut image = segment.preallocated(end + (8 << 20));
    let mut state = 0x9e37_79b9_u64;
    for byte in &mut image[end..] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let scan = decode_records(&image);
    assert_eq!(zxids(&scan), vec![1, 2]);
    let last = &scan.records[1];
    let end_of_last = last.offset + framed_len(last.record.bytes().len()) as u64;
    assert_eq!(
        scan.end,
        ScanEnd::TornTail {
            offset: end_of_last
        }
    );
}
