//! Planning from a listing, checking the chain of segments, and replay.

use bytes::Bytes;

use super::*;
use crate::log::commit::{CommitConfig, FlushOutcome, GroupCommit};
use crate::log::record::tests::txn_record;
use crate::log::record::{decode_records, Corruption};
use crate::proto::Acl;
use crate::txn::{CreateTxn, Txn, TxnOp};

fn entry(path: &str, size: u64) -> DirEntry {
    DirEntry {
        path: path.into(),
        size,
        magic: None,
    }
}

fn seg(zxid: i64) -> SegmentName {
    SegmentName {
        first_zxid: Zxid(zxid),
    }
}

#[test]
fn the_plan_takes_the_newest_snapshot_and_the_segments_after_it() {
    let snap_dir = [
        entry("corekeeper/snapshot.10", 500),
        entry("corekeeper/snapshot.30", 900),
        entry("corekeeper/snapshot.40.tmp", 100),
        entry("myid", 2),
    ];
    let log_dir = [
        entry("corekeeper/log.1", 64 << 20),
        entry("corekeeper/log.25", 64 << 20),
        entry("corekeeper/log.31", 64 << 20),
        entry("corekeeper/log.2a", 64 << 20),
        entry("corekeeper/notes.txt", 1),
    ];
    let plan = plan_recovery(&snap_dir, &log_dir).unwrap();
    assert_eq!(plan.snapshot, Some(SnapshotName { zxid: Zxid(0x30) }));
    assert_eq!(plan.snapshot_zxid(), Zxid(0x30));
    // 0x2a starts before 0x30, so it may hold 0x31.
    assert_eq!(plan.segments, vec![seg(0x2a), seg(0x31)]);
    assert_eq!(
        plan.leftovers,
        vec!["corekeeper/snapshot.40.tmp".to_string()]
    );
    assert_eq!(plan.zookeeper_files_ignored, 0);
}

#[test]
fn without_a_snapshot_every_segment_is_replayed() {
    let log_dir = [entry("corekeeper/log.5", 10), entry("corekeeper/log.1", 10)];
    let plan = plan_recovery(&[], &log_dir).unwrap();
    assert_eq!(plan.snapshot, None);
    assert_eq!(plan.segments, vec![seg(1), seg(5)]);
    let empty = plan_recovery(&[], &[]).unwrap();
    assert_eq!(empty.snapshot, None);
    assert!(empty.segments.is_empty());
}

#[test]
fn a_zookeeper_data_directory_is_recognised_and_explained() {
    let snap_dir = [
        DirEntry {
            path: "version-2/snapshot.100000000".into(),
            size: 4096,
            magic: Some(*b"ZKSN"),
        },
        entry("version-2/acceptedEpoch", 1),
        entry("myid", 1),
    ];
    let log_dir = [DirEntry {
        path: "version-2/log.100000001".into(),
        size: 64 << 20,
        magic: Some(*b"ZKLG"),
    }];
    let error = plan_recovery(&snap_dir, &log_dir).unwrap_err();
    assert!(matches!(
        error,
        RecoveryError::ZooKeeperDataDir {
            snapshots: 1,
            logs: 1,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("Apache ZooKeeper data directory"),
        "{message}"
    );
    assert!(message.contains("import"), "{message}");
    assert!(message.contains("0x100000000"), "{message}");
    // Beside corekeeper's own data, it is only counted.
    let mut with_ours = log_dir.to_vec();
    with_ours.push(entry("corekeeper/log.1", 10));
    let plan = plan_recovery(&snap_dir, &with_ours).unwrap();
    assert_eq!(plan.zookeeper_files_ignored, 2);
    // Files under version-2 whose magic says they are not ZooKeeper's do not count.
    let odd = [DirEntry {
        path: "version-2/log.1".into(),
        size: 10,
        magic: Some(*b"XXXX"),
    }];
    assert!(plan_recovery(&[], &odd).is_ok());
}

#[test]
fn a_too_short_snapshot_is_an_error_naming_it() {
    let error = plan_recovery(&[entry("corekeeper/snapshot.7", 12)], &[]).unwrap_err();
    assert_eq!(
        error,
        RecoveryError::SnapshotTooShort {
            file: SnapshotName { zxid: Zxid(7) },
            size: 12
        }
    );
    assert!(error.to_string().contains("snapshot.7"));
}

/// Writes `batches` through the group-commit policy (rolling a segment before
/// each batch listed in `rolls`) and returns the segment images.
fn write_log(
    start: i64,
    batches: &[std::ops::Range<i64>],
    rolls: &[usize],
) -> Vec<(SegmentName, Vec<u8>)> {
    let config = CommitConfig {
        batch_align: 64,
        ..CommitConfig::default()
    };
    let mut log: GroupCommit<()> = GroupCommit::new(config, Zxid(start));
    let mut files: Vec<(SegmentName, Vec<u8>)> = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        if rolls.contains(&index) {
            log.request_roll();
        }
        for zxid in batch.clone() {
            log.append(&txn_record(zxid, 16), ()).unwrap();
        }
        let flush = log.begin_flush().unwrap();
        if files.last().is_none_or(|(name, _)| *name != flush.segment) {
            files.push((flush.segment, Vec::new()));
        }
        let file = &mut files.last_mut().unwrap().1;
        assert_eq!(file.len() as u64, flush.offset);
        file.extend_from_slice(&flush.bytes);
        let _ = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
    }
    for (_, file) in &mut files {
        file.resize(file.len() + 4096, 0);
    }
    files
}

fn check_all(
    snapshot: i64,
    files: &[(SegmentName, Vec<u8>)],
) -> Result<(Vec<i64>, Vec<Repair>, Zxid), RecoveryError> {
    let mut chain = LogChain::new(Zxid(snapshot));
    let mut replayed = Vec::new();
    let mut repairs = Vec::new();
    for (name, image) in files {
        let scan = decode_records(image);
        let verdict = chain.check(*name, &scan)?;
        replayed.extend(scan.records[verdict.replay_from..].iter().map(|r| r.zxid.0));
        repairs.push(verdict.repair);
    }
    Ok((replayed, repairs, chain.last_zxid()))
}

#[test]
fn segments_link_up_after_the_snapshot() {
    let files = write_log(0, &[1..4, 4..6, 6..9, 9..10], &[2]);
    assert_eq!(files.len(), 2);
    let (replayed, repairs, last) = check_all(0, &files).unwrap();
    assert_eq!(replayed, (1..10).collect::<Vec<_>>());
    assert_eq!(repairs, vec![Repair::Keep, Repair::Keep]);
    assert_eq!(last, Zxid(9));
    // From a snapshot at 4: only what follows it.
    let (replayed, _, last) = check_all(4, &files).unwrap();
    assert_eq!(replayed, (5..10).collect::<Vec<_>>());
    assert_eq!(last, Zxid(9));
    // A snapshot ahead of the whole log replays nothing and resumes after itself.
    let (replayed, _, last) = check_all(20, &files).unwrap();
    assert!(replayed.is_empty());
    assert_eq!(last, Zxid(20));
}

#[test]
fn a_missing_segment_is_named() {
    let files = write_log(0, &[1..4, 4..6, 6..9], &[1, 2]);
    assert_eq!(files.len(), 3);
    let without_middle = [files[0].clone(), files[2].clone()];
    let error = check_all(0, &without_middle).unwrap_err();
    assert_eq!(
        error,
        RecoveryError::Gap {
            file: seg(6),
            zxid: Zxid(6),
            prev_zxid: Zxid(5),
            expected: Zxid(3),
            after: "the last record of log.1".into(),
        }
    );
    assert!(error.to_string().contains("log.6"), "{error}");
    // The segment right after the snapshot is missing.
    let error = check_all(3, &files[2..]).unwrap_err();
    assert!(
        matches!(&error, RecoveryError::Gap { expected, after, .. } if *expected == Zxid(3) && after == "snapshot.3"),
        "{error:?}"
    );
    // Without a snapshot the log must start from the beginning.
    assert!(check_all(0, &files[1..]).is_err());
}

#[test]
fn torn_and_empty_segments_are_repaired_and_the_chain_still_decides() {
    let mut files = write_log(0, &[1..3, 3..5, 5..7], &[2]);
    // A torn tail in the first segment, whose next segment continues from its
    // last intact record: fine, cut it.
    let segment = &mut files[0].1;
    let scan = decode_records(segment);
    let last = scan.records.last().unwrap();
    let torn_at = last.offset as usize + crate::log::framed_len(last.record.bytes().len());
    segment[torn_at..torn_at + 40].fill(0xab);
    let (replayed, repairs, _) = check_all(0, &files).unwrap();
    assert_eq!(replayed, (1..7).collect::<Vec<_>>());
    assert!(matches!(repairs[0], Repair::Truncate { .. }));
    // An extra segment whose header never became durable is removed.
    files.push((seg(7), vec![0; 4096]));
    let (_, repairs, last) = check_all(0, &files).unwrap();
    assert_eq!(repairs[2], Repair::Remove);
    assert_eq!(last, Zxid(6));
}

#[test]
fn corruption_and_misnamed_files_are_errors() {
    let mut files = write_log(0, &[1..3, 3..5], &[]);
    let corrupt_at = {
        let scan = decode_records(&files[0].1);
        scan.records[1].offset as usize
    };
    files[0].1[corrupt_at + 40] ^= 1;
    let error = check_all(0, &files).unwrap_err();
    assert!(
        matches!(
            &error,
            RecoveryError::Corrupt { file, offset, reason: Corruption::BadChecksum }
                if *file == seg(1) && *offset == corrupt_at as u64
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("will not truncate"), "{error}");

    let files = write_log(0, &[1..2, 2..3], &[]);
    let renamed = [(seg(2), files[0].1.clone())];
    assert_eq!(
        check_all(0, &renamed).unwrap_err(),
        RecoveryError::Misnamed {
            file: seg(2),
            header_zxid: Zxid(1)
        }
    );
}

fn session_txn(zxid: i64, session: i64, op: TxnOp) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid: Zxid(zxid),
        time_ms: zxid,
        session: SessionId(session),
        cxid: 0,
        op,
    })
}

#[test]
fn replay_applies_txns_and_tracks_sessions() {
    let records = [
        session_txn(1, 0x10, TxnOp::CreateSession { timeout_ms: 5000 }),
        session_txn(2, 0x20, TxnOp::CreateSession { timeout_ms: 9000 }),
        session_txn(
            3,
            0x10,
            TxnOp::Create(CreateTxn {
                op: 1,
                path: "/e".into(),
                data: Bytes::from_static(b"x"),
                data_null: false,
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0x10,
                parent_cversion: 1,
            }),
        ),
        session_txn(4, 0x10, TxnOp::CloseSession),
    ];
    let mut tree = DataTree::new();
    let mut sessions = SessionTimeouts::new();
    assert_eq!(replay(&mut tree, &mut sessions, &records[..3]), 3);
    assert!(tree.get("/e").is_some());
    assert_eq!(sessions.len(), 2);
    assert_eq!(replay(&mut tree, &mut sessions, &records[3..]), 1);
    assert!(
        tree.get("/e").is_none(),
        "closing the session deleted its ephemeral"
    );
    assert_eq!(sessions, [(SessionId(0x20), 9000)].into_iter().collect());
    assert_eq!(tree.last_zxid(), 4);
}

#[test]
#[should_panic(expected = "after the tree")]
fn replaying_what_the_tree_holds_is_a_bug() {
    let mut tree = DataTree::new();
    tree.set_last_zxid(5);
    replay(&mut tree, &mut SessionTimeouts::new(), [&txn_record(5, 1)]);
}

#[test]
fn a_snapshot_must_hold_the_zxid_its_name_says() {
    let name = SnapshotName { zxid: Zxid(0x30) };
    assert_eq!(check_snapshot_name(name, Zxid(0x30)), Ok(()));
    let error = check_snapshot_name(name, Zxid(0x31)).unwrap_err();
    assert!(error.to_string().contains("snapshot.30"), "{error}");
}
