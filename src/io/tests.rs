use std::path::PathBuf;

use bytes::Bytes;

use super::*;
use crate::log::{
    CommitConfig, FlushDone, FlushOutcome, GroupCommit, LogStatus, SessionTimeouts, SyncMode,
};
use crate::proto::{Acl, OpCode};
use crate::txn::{apply, CreateTxn, Txn, TxnOp, TxnRecord};
use crate::types::{SessionId, Zxid};

fn create(zxid: i64) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid: Zxid(zxid),
        time_ms: zxid,
        session: SessionId(7),
        cxid: zxid as i32,
        op: TxnOp::Create(CreateTxn {
            op: OpCode::Create as i32,
            path: format!("/n{zxid}"),
            data: Bytes::from(vec![zxid as u8; 100]),
            data_null: false,
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: zxid as i32,
        }),
    })
}

fn run<T>(work: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor")
        .run(work)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "corekeeper-io-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(pre_alloc_bytes: u64) -> CommitConfig {
    CommitConfig {
        segment_bytes_max: pre_alloc_bytes,
        sync: SyncMode::Fdatasync,
        ..CommitConfig::default()
    }
}

/// Appends `zxids` in batches of `per_batch`, writing each batch; returns the
/// zxid durable at the end, or the outcome that stopped it.
async fn write_log(
    commit: &mut GroupCommit<i64>,
    writer: &mut SegmentWriter,
    zxids: std::ops::RangeInclusive<i64>,
    per_batch: usize,
) -> Result<Zxid, FlushOutcome> {
    let zxids: Vec<i64> = zxids.collect();
    for batch in zxids.chunks(per_batch) {
        for zxid in batch {
            commit.append(&create(*zxid), *zxid).expect("room");
        }
        let flush = commit.begin_flush().expect("a batch");
        let (outcome, _) = writer.write(&flush).await;
        match commit.flush_done(flush.ticket, outcome.clone()) {
            Ok(FlushDone::Durable { released, .. }) => {
                assert_eq!(released.len(), batch.len());
            }
            Ok(FlushDone::Retry) => return Err(outcome),
            Err(_) => return Err(outcome),
        }
    }
    Ok(commit.durable_zxid())
}

fn expected_tree(last: i64) -> crate::tree::DataTree {
    let mut tree = crate::tree::DataTree::with_extended_types(true);
    let mut events = Vec::new();
    for zxid in 1..=last {
        apply(&mut tree, &create(zxid), &mut events);
    }
    tree
}

/// Every node's name, data and Stat, in pre-order.
fn image(tree: &crate::tree::DataTree) -> Vec<(String, Bytes, crate::proto::Stat)> {
    tree.preorder()
        .map(|(name, node)| (name.to_owned(), node.data.clone(), node.stat))
        .collect()
}

async fn write_then_recover(disk: Disk, dir: PathBuf, sync: WriteSync) {
    let recovered = recover(&disk, &dir, &dir, true).await.expect("fresh start");
    assert_eq!(recovered.last_zxid, Zxid::ZERO);
    let log_dir = data_subdir(&dir);
    // Small segments: several rolls.
    let mut commit = GroupCommit::new(config(16 << 10), Zxid::ZERO);
    let mut writer = SegmentWriter::new(disk.clone(), log_dir.clone(), 16 << 10, sync);
    let durable = write_log(&mut commit, &mut writer, 1..=300, 7)
        .await
        .expect("written");
    assert_eq!(durable, Zxid(300));
    writer.close().await;
    let segments = disk.list(&log_dir).await.expect("listed");
    assert!(segments.len() > 2, "rolled: {segments:?}");

    let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
    assert_eq!(recovered.last_zxid, Zxid(300));
    assert_eq!(recovered.replayed, 300);
    let tail: Vec<Zxid> = recovered
        .tail
        .iter()
        .map(|r| Zxid(r.txn().zxid.0.to_native()))
        .collect();
    assert_eq!(
        tail,
        (1..=300).map(Zxid).collect::<Vec<_>>(),
        "the whole log is the tail"
    );
    assert_eq!(recovered.tail_base, Zxid::ZERO);
    assert_eq!(image(&recovered.tree), image(&expected_tree(300)));

    // A snapshot at 300, then more log after it in a new segment.
    let sessions: SessionTimeouts = [(SessionId(7), 4000)].into_iter().collect();
    let written = write_snapshot(
        &disk,
        &data_subdir(&dir),
        &recovered.tree,
        &sessions,
        Zxid(300),
    )
    .await
    .expect("snapshot written");
    assert!(written.bytes > 0);
    let mut commit = GroupCommit::new(config(16 << 10), Zxid(300));
    let mut writer = SegmentWriter::new(disk.clone(), log_dir.clone(), 16 << 10, sync);
    write_log(&mut commit, &mut writer, 301..=320, 3)
        .await
        .expect("written");
    writer.close().await;
    let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
    assert_eq!(recovered.snapshot.map(|s| s.zxid), Some(Zxid(300)));
    assert_eq!(recovered.replayed, 20);
    assert_eq!(recovered.last_zxid, Zxid(320));
    assert_eq!(recovered.sessions, sessions);
    assert_eq!(image(&recovered.tree), image(&expected_tree(320)));
}

#[test]
fn real_disk_log_and_snapshot_recover() {
    let dir = temp_dir("real");
    run(write_then_recover(
        Disk::Real,
        dir.clone(),
        WriteSync::BlockingFdatasync,
    ));
    let _ = std::fs::remove_dir_all(&dir);
    run(write_then_recover(
        Disk::Real,
        dir.clone(),
        WriteSync::EveryWrite,
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sim_disk_log_and_snapshot_recover() {
    for sync in [
        WriteSync::OnFdatasync,
        WriteSync::BlockingFdatasync,
        WriteSync::EveryWrite,
    ] {
        run(write_then_recover(
            Disk::Sim(SimDisk::new()),
            PathBuf::from("/sim/data"),
            sync,
        ));
    }
}

#[test]
fn real_disk_torn_tail_is_cut_at_startup() {
    let dir = temp_dir("torn");
    run(async {
        let disk = Disk::Real;
        recover(&disk, &dir, &dir, true).await.expect("fresh");
        let log_dir = data_subdir(&dir);
        let mut commit = GroupCommit::new(config(1 << 20), Zxid::ZERO);
        let mut writer = SegmentWriter::new(
            disk.clone(),
            log_dir.clone(),
            1 << 20,
            WriteSync::OnFdatasync,
        );
        write_log(&mut commit, &mut writer, 1..=10, 5)
            .await
            .expect("written");
        writer.close().await;
        // A torn batch after the last synced one: garbage where the next
        // batch would go.
        let segment = log_dir.join("log.1");
        let image = std::fs::read(&segment).expect("segment");
        let end = image.iter().rposition(|&b| b != 0).expect("records") + 1;
        let torn_at = end.next_multiple_of(4096);
        {
            use std::os::unix::fs::FileExt;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&segment)
                .expect("open");
            file.write_at(&[0xab; 100], torn_at as u64)
                .expect("garbage");
        }
        let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
        assert_eq!(recovered.last_zxid, Zxid(10));
        assert_eq!(recovered.truncated.len(), 1);
        let cut = std::fs::metadata(&segment).expect("segment").len();
        assert!(cut <= torn_at as u64, "cut at {cut}");
        // And the next start finds a clean log.
        let again = recover(&disk, &dir, &dir, true).await.expect("recovers");
        assert!(again.truncated.is_empty());
        assert_eq!(again.last_zxid, Zxid(10));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn out_of_space_waits_and_retries_the_same_batch() {
    let sim = SimDisk::new();
    let disk = Disk::Sim(sim.clone());
    let dir = PathBuf::from("/sim/full");
    run(async {
        recover(&disk, &dir, &dir, true).await.expect("fresh");
        let log_dir = data_subdir(&dir);
        let mut commit = GroupCommit::new(config(8 << 10), Zxid::ZERO);
        let mut writer = SegmentWriter::new(
            disk.clone(),
            log_dir.clone(),
            8 << 10,
            WriteSync::EveryWrite,
        );
        write_log(&mut commit, &mut writer, 1..=20, 5)
            .await
            .expect("written");
        // Room for nothing more: the next segment cannot be preallocated, or
        // the next batch cannot be written.
        sim.set_faults(SimFaults {
            space_bytes: Some(sim.used_bytes()),
            ..SimFaults::default()
        });
        let mut outcomes = Vec::new();
        for zxid in 21..=200 {
            match commit.append(&create(zxid), zxid) {
                Ok(()) => {}
                Err(_) => break,
            }
            if let Some(flush) = commit.begin_flush() {
                let (outcome, _) = writer.write(&flush).await;
                outcomes.push(outcome.clone());
                let _ = commit.flush_done(flush.ticket, outcome).expect("not fatal");
            }
            if commit.status() == LogStatus::OutOfSpace {
                break;
            }
        }
        assert_eq!(commit.status(), LogStatus::OutOfSpace, "{outcomes:?}");
        // The zero-filled spare segment may have taken one more roll.
        assert!(commit.durable_zxid() >= Zxid(20));
        // Space returns: the same batch goes out and becomes durable.
        sim.set_faults(SimFaults::default());
        let flush = commit.begin_flush().expect("the retry");
        let (outcome, _) = writer.write(&flush).await;
        assert_eq!(outcome, FlushOutcome::Synced);
        let last = flush.last_zxid;
        commit.flush_done(flush.ticket, outcome).expect("durable");
        assert_eq!(commit.durable_zxid(), last);
        writer.close().await;
        let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
        assert_eq!(recovered.last_zxid, last);
    });
}

#[test]
fn the_spare_is_filled_only_once_a_segment_is_half_written() {
    let sim = SimDisk::new();
    let disk = Disk::Sim(sim.clone());
    let dir = PathBuf::from("/sim/spare");
    let segment_bytes = 1 << 20;
    run(async {
        recover(&disk, &dir, &dir, true).await.expect("fresh");
        let log_dir = data_subdir(&dir);
        let spare_exists = || async {
            let files = disk.list(&log_dir).await.expect("listed");
            files.iter().any(|(name, _)| name == segment::SPARE_NAME)
        };
        // A fresh writer's first batches (4 KiB each, far from half of 1 MiB):
        // no zeros are written, before or after them.
        let mut commit = GroupCommit::new(config(segment_bytes), Zxid::ZERO);
        let mut writer = SegmentWriter::new(
            disk.clone(),
            log_dir.clone(),
            segment_bytes,
            WriteSync::OnFdatasync,
        );
        write_log(&mut commit, &mut writer, 1..=10, 1)
            .await
            .expect("written");
        writer.close().await;
        assert!(!spare_exists().await);
        // Past half a segment, the spare is made (close waits for it).
        let mut commit = GroupCommit::new(config(segment_bytes), Zxid(10));
        let mut writer = SegmentWriter::new(
            disk.clone(),
            log_dir.clone(),
            segment_bytes,
            WriteSync::OnFdatasync,
        );
        write_log(&mut commit, &mut writer, 11..=200, 1)
            .await
            .expect("written");
        writer.close().await;
        assert!(spare_exists().await);
        let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
        assert_eq!(recovered.last_zxid, Zxid(200));
    });
}

#[test]
fn a_failed_fsync_is_fatal() {
    let sim = SimDisk::new();
    let disk = Disk::Sim(sim.clone());
    let dir = PathBuf::from("/sim/eio");
    run(async {
        recover(&disk, &dir, &dir, true).await.expect("fresh");
        let log_dir = data_subdir(&dir);
        let mut commit = GroupCommit::new(config(1 << 20), Zxid::ZERO);
        let mut writer = SegmentWriter::new(disk.clone(), log_dir, 1 << 20, WriteSync::EveryWrite);
        write_log(&mut commit, &mut writer, 1..=5, 5)
            .await
            .expect("written");
        sim.set_faults(SimFaults {
            syncs_before_failure: Some(sim.syncs()),
            ..SimFaults::default()
        });
        let outcome = write_log(&mut commit, &mut writer, 6..=6, 1)
            .await
            .expect_err("the sync fails");
        assert!(
            matches!(outcome, FlushOutcome::Failed { .. }),
            "{outcome:?}"
        );
        assert_eq!(commit.status(), LogStatus::Failed);
        assert_eq!(sim.failed_syncs(), 1);
    });
}

#[test]
fn purge_keeps_the_newest_snapshots_and_the_log_they_need() {
    let sim = SimDisk::new();
    let disk = Disk::Sim(sim.clone());
    let dir = PathBuf::from("/sim/purge");
    run(async {
        recover(&disk, &dir, &dir, true).await.expect("fresh");
        let sub = data_subdir(&dir);
        for zxid in [1i64, 100, 200, 300, 400] {
            sim.create(&sub.join(format!("log.{zxid:x}")), false)
                .expect("made");
        }
        for zxid in [150i64, 250, 350, 450] {
            let tree = {
                let mut tree = crate::tree::DataTree::with_extended_types(true);
                tree.set_last_zxid(zxid);
                tree
            };
            write_snapshot(&disk, &sub, &tree, &SessionTimeouts::new(), Zxid(zxid))
                .await
                .expect("snapshot");
        }
        let purged = purge(&disk, &dir, &dir, 3).await.expect("purged");
        assert_eq!(purged.snapshots.len(), 1);
        let left: Vec<String> = disk
            .list(&sub)
            .await
            .expect("listed")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            left,
            [
                "log.12c",
                "log.190",
                "log.c8",
                "snapshot.15e",
                "snapshot.1c2",
                "snapshot.fa"
            ]
        );
    });
}

#[test]
fn a_zookeeper_data_dir_is_named_and_left_untouched() {
    let sim = SimDisk::new();
    let disk = Disk::Sim(sim.clone());
    let dir = PathBuf::from("/sim/zk");
    sim.create_dir_all(&dir.join("version-2"));
    sim.create(&dir.join("version-2/snapshot.100"), false)
        .expect("made")
        .write_at(b"ZKSN", 0)
        .expect("written");
    run(async {
        let error = recover(&disk, &dir, &dir, true)
            .await
            .expect_err("not ours");
        let message = error.to_string();
        assert!(
            message.contains("Apache ZooKeeper data directory"),
            "{message}"
        );
        assert!(message.contains("/sim/zk"), "{message}");
    });
    let files: Vec<PathBuf> = sim.files().into_iter().map(|(path, _)| path).collect();
    assert_eq!(files, [dir.join("version-2/snapshot.100")]);
    assert!(disk_list_is_empty(&sim, &data_subdir(&dir)));
}

fn disk_list_is_empty(sim: &SimDisk, dir: &std::path::Path) -> bool {
    sim.list(dir).is_empty()
}

async fn truncate_then_recover(disk: Disk, dir: PathBuf) {
    recover(&disk, &dir, &dir, true).await.expect("fresh start");
    let log_dir = data_subdir(&dir);
    let mut commit = GroupCommit::new(config(16 << 10), Zxid::ZERO);
    let mut writer = SegmentWriter::new(
        disk.clone(),
        log_dir.clone(),
        16 << 10,
        WriteSync::OnFdatasync,
    );
    write_log(&mut commit, &mut writer, 1..=300, 7)
        .await
        .expect("written");
    writer.close().await;

    // Mid-segment, then at zero: recovery sees exactly the kept prefix.
    super::surgery::truncate_log(&disk, &log_dir, Zxid(250))
        .await
        .expect("truncated");
    let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
    assert_eq!(recovered.last_zxid, Zxid(250));
    assert_eq!(image(&recovered.tree), image(&expected_tree(250)));

    // The log goes on after the cut, in a new segment.
    let mut commit = GroupCommit::new(config(16 << 10), Zxid(250));
    let mut writer = SegmentWriter::new(
        disk.clone(),
        log_dir.clone(),
        16 << 10,
        WriteSync::OnFdatasync,
    );
    write_log(&mut commit, &mut writer, 251..=270, 4)
        .await
        .expect("written");
    writer.close().await;
    let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
    assert_eq!(recovered.last_zxid, Zxid(270));
    assert_eq!(image(&recovered.tree), image(&expected_tree(270)));

    super::surgery::truncate_log(&disk, &log_dir, Zxid::ZERO)
        .await
        .expect("emptied");
    let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
    assert_eq!(recovered.last_zxid, Zxid::ZERO);
}

#[test]
fn truncating_the_log_keeps_exactly_the_prefix_real_disk() {
    let dir = temp_dir("truncate");
    run(truncate_then_recover(Disk::Real, dir.clone()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn truncating_the_log_keeps_exactly_the_prefix_simulated_disk() {
    run(truncate_then_recover(
        Disk::Sim(SimDisk::new()),
        PathBuf::from("/data"),
    ));
}

#[test]
fn an_installed_snapshot_replaces_the_log() {
    let dir = temp_dir("install");
    run(async {
        let disk = Disk::Real;
        recover(&disk, &dir, &dir, true).await.expect("fresh start");
        let log_dir = data_subdir(&dir);
        let mut commit = GroupCommit::new(config(16 << 10), Zxid::ZERO);
        let mut writer = SegmentWriter::new(
            disk.clone(),
            log_dir.clone(),
            16 << 10,
            WriteSync::OnFdatasync,
        );
        write_log(&mut commit, &mut writer, 1..=300, 7)
            .await
            .expect("written");
        writer.close().await;

        // The leader's image at 100 (a different history than ours past it).
        let tree = expected_tree(100);
        let sessions: SessionTimeouts = [(SessionId(9), 6000)].into_iter().collect();
        let image_bytes: Vec<u8> = crate::log::encode_snapshot(&tree, &sessions, Zxid(100))
            .flatten()
            .collect();
        super::surgery::install_snapshot(&disk, &log_dir, &log_dir, &image_bytes, Zxid(100))
            .await
            .expect("installed");
        let recovered = recover(&disk, &dir, &dir, true).await.expect("recovers");
        assert_eq!(recovered.snapshot.map(|s| s.zxid), Some(Zxid(100)));
        assert_eq!(recovered.last_zxid, Zxid(100));
        assert_eq!(recovered.replayed, 0);
        assert_eq!(recovered.sessions, sessions);
        assert_eq!(image(&recovered.tree), image(&tree));
    });
    let _ = std::fs::remove_dir_all(dir);
}
