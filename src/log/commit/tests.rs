//! Every transition of the group-commit policy.

use super::*;
use crate::log::record::tests::txn_record;
use crate::log::record::{decode_records, ScanEnd};

fn config() -> CommitConfig {
    CommitConfig {
        batch_txns_max: 4,
        batch_bytes_max: 1 << 20,
        sync: SyncMode::Fdatasync,
        batch_align: 256,
        segment_bytes_max: 1 << 20,
    }
}

/// Appends records `zxids` with their zxid as the waiter.
fn append_all(log: &mut GroupCommit<i64>, zxids: impl IntoIterator<Item = i64>) {
    for zxid in zxids {
        log.append(&txn_record(zxid, 20), zxid)
            .expect("room in the batch");
    }
}

fn released(done: FlushDone<i64>) -> (Zxid, Vec<(Zxid, i64)>) {
    match done {
        FlushDone::Durable { zxid, released } => (
            zxid.into_value(),
            released
                .into_iter()
                .map(|d| (d.zxid(), d.into_value()))
                .collect(),
        ),
        FlushDone::Retry => panic!("expected durable"),
    }
}

#[test]
fn a_fresh_policy_waits_for_records() {
    let mut log: GroupCommit<i64> = GroupCommit::new(config(), Zxid(7));
    assert_eq!(log.status(), LogStatus::Ready);
    assert_eq!(log.durable_zxid(), Zxid(7));
    assert_eq!(log.appended_zxid(), Zxid(7));
    assert!(!log.has_unflushed());
    assert!(log.begin_flush().is_none(), "nothing to flush");
}

#[test]
fn the_first_batch_creates_a_segment_and_releases_its_waiters_when_synced() {
    let mut log = GroupCommit::new(config(), Zxid(7));
    append_all(&mut log, 8..11);
    assert!(log.has_unflushed());
    assert_eq!(log.appended_zxid(), Zxid(10));
    assert_eq!(log.durable_zxid(), Zxid(7), "appended is not durable");
    let flush = log.begin_flush().expect("a batch");
    assert_eq!(
        flush.segment,
        SegmentName {
            first_zxid: Zxid(8)
        }
    );
    assert_eq!(flush.op, SegmentOp::Create);
    assert_eq!(flush.offset, 0);
    assert_eq!(flush.sync, FlushSync::DataAndDirectory);
    assert_eq!(
        (flush.first_zxid, flush.last_zxid, flush.txns),
        (Zxid(8), Zxid(10), 3)
    );
    assert_eq!(flush.bytes.len() % 256, 0, "padded to the batch alignment");
    assert!(log.flush_in_flight());
    assert!(!log.has_unflushed());
    assert!(log.begin_flush().is_none(), "one flush at a time");

    let scan = decode_records(&flush.bytes);
    assert_eq!(
        scan.records.iter().map(|r| r.zxid.0).collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
    assert_eq!(
        scan.records[0].prev_zxid,
        Zxid(7),
        "the chain continues the recovered log"
    );
    assert!(matches!(scan.end, ScanEnd::Clean { .. }));

    let (durable, waiters) = released(log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap());
    assert_eq!(durable, Zxid(10));
    assert_eq!(waiters, vec![(Zxid(8), 8), (Zxid(9), 9), (Zxid(10), 10)]);
    assert_eq!(log.durable_zxid(), Zxid(10));
    assert!(!log.flush_in_flight());
    assert!(log.begin_flush().is_none());
}

#[test]
fn records_gather_while_a_sync_is_in_flight_and_append_after_it() {
    let mut log = GroupCommit::new(config(), Zxid::ZERO);
    append_all(&mut log, 1..3);
    let first = log.begin_flush().unwrap();
    append_all(&mut log, 3..5);
    assert!(log.begin_flush().is_none());
    let (durable, waiters) = released(log.flush_done(first.ticket, FlushOutcome::Synced).unwrap());
    assert_eq!(durable, Zxid(2));
    assert_eq!(waiters.len(), 2, "only the synced batch's waiters");
    let second = log.begin_flush().unwrap();
    assert_eq!(second.op, SegmentOp::Append);
    assert_eq!(second.segment, first.segment);
    assert_eq!(second.offset, first.bytes.len() as u64);
    assert_eq!(second.sync, FlushSync::Data);
    assert_eq!((second.first_zxid, second.last_zxid), (Zxid(3), Zxid(4)));
    // The two writes make one segment that reads back whole.
    let mut file = first.bytes.to_vec();
    file.extend_from_slice(&second.bytes);
    file.resize(8192, 0);
    let scan = decode_records(&file);
    assert_eq!(scan.records.len(), 4);
    assert!(matches!(scan.end, ScanEnd::Clean { .. }));
    let (durable, _) = released(log.flush_done(second.ticket, FlushOutcome::Synced).unwrap());
    assert_eq!(durable, Zxid(4));
}

#[test]
fn a_full_batch_refuses_appends_until_it_leaves() {
    let mut log = GroupCommit::new(config(), Zxid::ZERO);
    append_all(&mut log, 1..5);
    let refused = log.append(&txn_record(5, 20), 5).unwrap_err();
    assert_eq!(refused.refusal, Refusal::BatchFull);
    assert_eq!(refused.waiter, 5, "the waiter comes back");
    assert_eq!(log.appended_zxid(), Zxid(4), "nothing half-appended");
    let flush = log.begin_flush().unwrap();
    append_all(&mut log, 5..6);
    let _ = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
}

#[test]
fn a_batch_is_also_bounded_in_bytes_but_takes_one_large_record() {
    let mut log = GroupCommit::new(
        CommitConfig {
            batch_bytes_max: 200,
            ..config()
        },
        Zxid::ZERO,
    );
    log.append(&txn_record(1, 1000), 1)
        .expect("an empty batch takes any record");
    let refused = log.append(&txn_record(2, 10), 2).unwrap_err();
    assert_eq!(refused.refusal, Refusal::BatchFull);
    let flush = log.begin_flush().unwrap();
    assert_eq!(flush.txns, 1);
    let _ = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
}

#[test]
fn out_of_space_retries_the_same_batch() {
    let mut log = GroupCommit::new(config(), Zxid::ZERO);
    append_all(&mut log, 1..3);
    let flush = log.begin_flush().unwrap();
    let (bytes, offset, segment) = (flush.bytes.clone(), flush.offset, flush.segment);
    assert!(matches!(
        log.flush_done(flush.ticket, FlushOutcome::NoSpace),
        Ok(FlushDone::Retry)
    ));
    assert_eq!(log.status(), LogStatus::OutOfSpace);
    assert_eq!(log.durable_zxid(), Zxid::ZERO);
    assert!(!log.flush_in_flight());
    // Appends still gather (bounded by the batch limits) behind the stalled batch.
    append_all(&mut log, 3..7);
    assert_eq!(
        log.append(&txn_record(7, 20), 7).unwrap_err().refusal,
        Refusal::BatchFull
    );
    let retry = log.begin_flush().unwrap();
    assert_eq!(
        (retry.bytes.clone(), retry.offset, retry.segment),
        (bytes, offset, segment)
    );
    assert_eq!(retry.op, SegmentOp::Create);
    assert_eq!(log.status(), LogStatus::Ready);
    assert!(log.begin_flush().is_none());
    let (durable, waiters) = released(log.flush_done(retry.ticket, FlushOutcome::Synced).unwrap());
    assert_eq!(durable, Zxid(2));
    assert_eq!(waiters.len(), 2);
    let next = log.begin_flush().unwrap();
    assert_eq!((next.first_zxid, next.last_zxid), (Zxid(3), Zxid(6)));
}

#[test]
fn a_failed_write_or_sync_stops_the_log_for_good() {
    let mut log = GroupCommit::new(config(), Zxid::ZERO);
    append_all(&mut log, 1..3);
    let first = log.begin_flush().unwrap();
    let _ = log.flush_done(first.ticket, FlushOutcome::Synced).unwrap();
    append_all(&mut log, 3..5);
    let second = log.begin_flush().unwrap();
    append_all(&mut log, 5..6);
    let failed = log
        .flush_done(
            second.ticket,
            FlushOutcome::Failed {
                reason: "EIO".into(),
            },
        )
        .unwrap_err();
    assert_eq!(failed.durable, Zxid(2));
    assert!(failed.to_string().contains("EIO"));
    assert_eq!(log.status(), LogStatus::Failed);
    assert_eq!(log.durable_zxid(), Zxid(2), "nothing more became durable");
    assert!(
        log.begin_flush().is_none(),
        "the open batch is never written"
    );
    assert!(!log.has_unflushed());
    let refused = log.append(&txn_record(6, 20), 6).unwrap_err();
    assert_eq!(refused.refusal, Refusal::Failed(failed));
}

#[test]
fn a_roll_request_opens_a_new_segment_at_the_next_batch() {
    let mut log = GroupCommit::new(config(), Zxid::ZERO);
    append_all(&mut log, 1..3);
    let first = log.begin_flush().unwrap();
    let _ = log.flush_done(first.ticket, FlushOutcome::Synced).unwrap();
    log.request_roll();
    append_all(&mut log, 3..4);
    let rolled = log.begin_flush().unwrap();
    assert_eq!(rolled.op, SegmentOp::Create);
    assert_eq!(
        rolled.segment,
        SegmentName {
            first_zxid: Zxid(3)
        }
    );
    assert_eq!(rolled.offset, 0);
    let scan = decode_records(&rolled.bytes);
    assert_eq!(
        scan.records[0].prev_zxid,
        Zxid(2),
        "the chain crosses segments"
    );
    let _ = log.flush_done(rolled.ticket, FlushOutcome::Synced).unwrap();
    append_all(&mut log, 4..5);
    let after = log.begin_flush().unwrap();
    assert_eq!(after.op, SegmentOp::Append, "one roll per request");
}

#[test]
fn a_segment_rolls_before_a_batch_would_overflow_it() {
    let mut log = GroupCommit::new(
        CommitConfig {
            segment_bytes_max: 512,
            ..config()
        },
        Zxid::ZERO,
    );
    let mut segments = Vec::new();
    for zxid in 1..8 {
        append_all(&mut log, [zxid]);
        let flush = log.begin_flush().unwrap();
        assert!(flush.offset + flush.bytes.len() as u64 <= 512);
        segments.push((flush.segment, flush.offset));
        let _ = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
    }
    assert_eq!(
        segments[0],
        (
            SegmentName {
                first_zxid: Zxid(1)
            },
            0
        )
    );
    assert_eq!(
        segments[1],
        (
            SegmentName {
                first_zxid: Zxid(1)
            },
            256
        )
    );
    assert_eq!(
        segments[2],
        (
            SegmentName {
                first_zxid: Zxid(3)
            },
            0
        )
    );
}

#[test]
fn force_sync_off_writes_without_syncing() {
    let mut log = GroupCommit::new(
        CommitConfig {
            sync: SyncMode::NoSync,
            ..config()
        },
        Zxid::ZERO,
    );
    append_all(&mut log, 1..2);
    let flush = log.begin_flush().unwrap();
    assert_eq!(flush.sync, FlushSync::None);
    let _ = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
    append_all(&mut log, 2..3);
    assert_eq!(log.begin_flush().unwrap().sync, FlushSync::None);
}

#[test]
fn durable_values_keep_their_proof_through_map() {
    let mut log = GroupCommit::new(config(), Zxid::ZERO);
    append_all(&mut log, 1..2);
    let flush = log.begin_flush().unwrap();
    let FlushDone::Durable { released, .. } =
        log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap()
    else {
        panic!("durable")
    };
    let reply = released
        .into_iter()
        .next()
        .unwrap()
        .map(|zxid| format!("reply {zxid}"));
    assert_eq!(reply.zxid(), Zxid(1));
    assert_eq!(reply.value(), "reply 1");
}

#[test]
#[should_panic(expected = "zxid order")]
fn records_out_of_order_are_a_bug() {
    let mut log = GroupCommit::new(config(), Zxid(5));
    let _ = log.append(&txn_record(5, 20), 5);
}
