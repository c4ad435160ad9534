//! Crash images of the transaction log.
//!
//! A seeded workload drives the real group-commit policy and records what the
//! writer does to the disk: create a segment, write a batch (sometimes only part
//! of it, out of space, then the whole batch again on retry), fdatasync it, fsync
//! the directory. Then, for every prefix of those operations, we build the disk
//! as a crash at that point could leave it: unsynced writes dropped, fully
//! persisted, torn in their last sector, persisted up to a point and zero after
//! it, replaced by garbage, or persisted sector by sector in any order (with
//! zeros or garbage in the sectors that did not make it); a segment whose name
//! was never synced is either gone or still there. Recovery (plan, scan, chain)
//! must return exactly the longest prefix of records that is intact on that disk,
//! which always includes every acknowledged record, with no error.
//!
//! And corruption of an acknowledged record is reported, not truncated, whenever
//! a later batch shows it had been synced; in the last batch on disk (where a
//! torn write looks the same) it is cut like a torn tail.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use corekeeper::log::{
    decode_records, framed_len, plan_recovery, CommitConfig, DirEntry, FlushDone, FlushOutcome,
    FlushSync, GroupCommit, LogChain, LogStatus, RecoveryError, SegmentName, SegmentOp, SyncMode,
    DATA_SUBDIR,
};
use corekeeper::txn::{Txn, TxnOp, TxnRecord};
use corekeeper::types::{SessionId, Zxid};

const SECTOR: usize = 512;
const PREALLOC: usize = 4096;

/// xorshift64*: the test's only source of randomness, seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Debug)]
enum DiskOp {
    Create {
        file: String,
    },
    Write {
        file: String,
        offset: usize,
        bytes: Bytes,
    },
    SyncData {
        file: String,
    },
    SyncDir,
}

/// Where each record landed, and which batch carried it.
#[derive(Clone, Debug)]
struct Placed {
    zxid: i64,
    file: String,
    offset: usize,
    len: usize,
    batch: usize,
}

struct Recorded {
    ops: Vec<DiskOp>,
    /// After `ops[..i]`, how many records had been acknowledged.
    acked_after: Vec<usize>,
    records: Vec<Placed>,
}

fn txn(zxid: i64, len: usize) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid: Zxid(zxid),
        time_ms: zxid,
        session: SessionId(1),
        cxid: zxid as i32,
        op: TxnOp::SetData {
            path: format!("/k{}", zxid % 7),
            data: Bytes::from(vec![(zxid as u8) | 1; len]),
            data_null: false,
            version: zxid as i32,
        },
    })
}

/// Runs the workload: random appends, flushes begun and completed at random
/// moments, now and then a roll; every disk effect recorded in order.
fn record_workload(seed: u64, records: i64) -> Recorded {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let config = CommitConfig {
        batch_txns_max: 4,
        batch_bytes_max: 1500,
        sync: SyncMode::Fdatasync,
        batch_align: SECTOR as u32,
        segment_bytes_max: 2048,
    };
    let mut log: GroupCommit<i64> = GroupCommit::new(config, Zxid::ZERO);
    let mut ops = Vec::new();
    let mut acked_after = vec![0];
    let mut acked = 0;
    let mut placed = Vec::new();
    let mut batches = 0;
    let mut next = 1;
    let mut in_flight = None;
    let waiting =
        |log: &GroupCommit<i64>| log.has_unflushed() || log.status() == LogStatus::OutOfSpace;
    while next <= records || waiting(&log) || in_flight.is_some() {
        match rng.below(4) {
            0 | 1 if next <= records => {
                let record = txn(next, 8 + rng.below(300) as usize);
                if log.append(&record, next).is_ok() {
                    next += 1;
                }
            }
            2 if in_flight.is_none() => {
                if rng.below(6) == 0 {
                    log.request_roll();
                }
                if let Some(flush) = log.begin_flush() {
                    let file = flush.segment.to_string();
                    let retry = placed
                        .last()
                        .is_some_and(|p: &Placed| p.zxid >= flush.first_zxid.0);
                    if flush.op == SegmentOp::Create && !retry {
                        ops.push(DiskOp::Create { file: file.clone() });
                        acked_after.push(acked);
                    }
                    if !retry {
                        for zxid in flush.first_zxid.0..=flush.last_zxid.0 {
                            placed.push(Placed {
                                zxid,
                                file: file.clone(),
                                offset: 0,
                                len: 0,
                                batch: batches,
                            });
                        }
                        batches += 1;
                    }
                    if rng.below(5) == 0 {
                        // Out of space part way: some bytes written, then the retry
                        // writes the same batch again at the same place.
                        let written = rng.below(flush.bytes.len() as u64) as usize;
                        ops.push(DiskOp::Write {
                            file,
                            offset: flush.offset as usize,
                            bytes: flush.bytes.slice(..written),
                        });
                        acked_after.push(acked);
                        let done = log.flush_done(flush.ticket, FlushOutcome::NoSpace).unwrap();
                        assert!(matches!(done, FlushDone::Retry));
                        continue;
                    }
                    ops.push(DiskOp::Write {
                        file: file.clone(),
                        offset: flush.offset as usize,
                        bytes: flush.bytes.clone(),
                    });
                    acked_after.push(acked);
                    in_flight = Some(flush);
                }
            }
            _ => {
                if let Some(flush) = in_flight.take() {
                    let file = flush.segment.to_string();
                    ops.push(DiskOp::SyncData { file });
                    acked_after.push(acked);
                    if flush.sync == FlushSync::DataAndDirectory {
                        ops.push(DiskOp::SyncDir);
                        acked_after.push(acked);
                    }
                    let done = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
                    let FlushDone::Durable { released, .. } = done else {
                        panic!("synced")
                    };
                    for durable in released {
                        assert_eq!(durable.into_value(), acked as i64 + 1, "released in order");
                        acked += 1;
                    }
                    *acked_after.last_mut().unwrap() = acked;
                }
            }
        }
    }
    locate(&ops, &mut placed);
    Recorded {
        ops,
        acked_after,
        records: placed,
    }
}

/// Finds each record's offset and length by scanning the fully written files.
fn locate(ops: &[DiskOp], placed: &mut [Placed]) {
    let disk = Disk::replay(ops, ops.len(), Variant::AllPersisted, false, &mut Rng(1));
    let mut found = BTreeMap::new();
    for (file, image) in &disk.files {
        for record in decode_records(image).records {
            found.insert(
                record.zxid.0,
                (
                    file.clone(),
                    record.offset as usize,
                    framed_len(record.record.bytes().len()),
                ),
            );
        }
    }
    for p in placed.iter_mut() {
        let (file, offset, len) = found[&p.zxid].clone();
        assert_eq!(file, p.file);
        p.offset = offset;
        p.len = len;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Dropped,
    AllPersisted,
    TornLastSector,
    ZerosAfterCut,
    Garbage,
    SectorsInAnyOrder,
    SectorsOrGarbage,
}

const VARIANTS: [Variant; 7] = [
    Variant::Dropped,
    Variant::AllPersisted,
    Variant::TornLastSector,
    Variant::ZerosAfterCut,
    Variant::Garbage,
    Variant::SectorsInAnyOrder,
    Variant::SectorsOrGarbage,
];

/// What a crash left on disk.
struct Disk {
    files: BTreeMap<String, Vec<u8>>,
}

impl Disk {
    /// The disk after `ops[..prefix]` and a crash: synced data is there;
    /// unsynced writes are treated per `variant`; a file whose name was never
    /// synced is gone unless `names_kept`.
    fn replay(
        ops: &[DiskOp],
        prefix: usize,
        variant: Variant,
        names_kept: bool,
        rng: &mut Rng,
    ) -> Disk {
        let mut durable: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut pending: BTreeMap<String, Vec<(usize, Bytes)>> = BTreeMap::new();
        let mut created = Vec::new();
        let mut named = BTreeSet::new();
        for op in &ops[..prefix] {
            match op {
                DiskOp::Create { file } => {
                    durable.insert(file.clone(), vec![0; PREALLOC]);
                    created.push(file.clone());
                }
                DiskOp::Write {
                    file,
                    offset,
                    bytes,
                } => {
                    pending
                        .entry(file.clone())
                        .or_default()
                        .push((*offset, bytes.clone()));
                }
                DiskOp::SyncData { file } => {
                    let image = durable.get_mut(file).unwrap();
                    for (offset, bytes) in pending.remove(file).unwrap_or_default() {
                        write_at(image, offset, &bytes);
                    }
                }
                DiskOp::SyncDir => named.extend(created.iter().cloned()),
            }
        }
        for (file, writes) in pending {
            let image = durable.get_mut(&file).unwrap();
            let count = writes.len();
            for (index, (offset, bytes)) in writes.into_iter().enumerate() {
                persist(image, offset, &bytes, variant, index + 1 == count, rng);
            }
        }
        durable.retain(|file, _| named.contains(file) || names_kept);
        Disk { files: durable }
    }

    fn intact(&self, written: &Disk, file: &str, offset: usize, len: usize) -> bool {
        match (self.files.get(file), written.files.get(file)) {
            (Some(image), Some(full)) => {
                image[..32] == full[..32]
                    && image[offset..offset + len] == full[offset..offset + len]
            }
            _ => false,
        }
    }
}

fn write_at(image: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    if image.len() < offset + bytes.len() {
        image.resize(offset + bytes.len(), 0);
    }
    image[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// What of an unsynced write reached the disk.
fn persist(
    image: &mut Vec<u8>,
    offset: usize,
    bytes: &[u8],
    variant: Variant,
    last: bool,
    rng: &mut Rng,
) {
    if bytes.is_empty() {
        return;
    }
    let garbage =
        |rng: &mut Rng, len: usize| (0..len).map(|_| rng.next() as u8).collect::<Vec<u8>>();
    match variant {
        Variant::Dropped => {}
        Variant::AllPersisted => write_at(image, offset, bytes),
        Variant::TornLastSector => {
            write_at(image, offset, bytes);
            if last {
                let end = offset + bytes.len();
                let sector = (end - 1) / SECTOR * SECTOR;
                let torn = (sector + SECTOR / 2).max(offset);
                let noise = garbage(rng, (sector + SECTOR).saturating_sub(torn));
                write_at(image, torn, &noise);
            }
        }
        Variant::ZerosAfterCut => {
            let cut = rng.below(bytes.len() as u64) as usize;
            write_at(image, offset, &bytes[..cut]);
        }
        Variant::Garbage => {
            let noise = garbage(rng, bytes.len());
            write_at(image, offset, &noise);
        }
        Variant::SectorsInAnyOrder | Variant::SectorsOrGarbage => {
            for (index, sector) in bytes.chunks(SECTOR).enumerate() {
                let at = offset + index * SECTOR;
                match rng.below(3) {
                    0 => write_at(image, at, sector),
                    1 if variant == Variant::SectorsOrGarbage => {
                        let noise = garbage(rng, sector.len());
                        write_at(image, at, &noise);
                    }
                    1 => write_at(image, at, sector),
                    _ => {}
                }
            }
        }
    }
}

/// Recovery as the server runs it, on the crash disk: plan, scan, chain.
fn recover(disk: &Disk) -> Result<Vec<i64>, RecoveryError> {
    let listing: Vec<DirEntry> = disk
        .files
        .iter()
        .map(|(file, image)| DirEntry {
            path: format!("{DATA_SUBDIR}/{file}"),
            size: image.len() as u64,
            magic: None,
        })
        .collect();
    let plan = plan_recovery(&[], &listing)?;
    let mut chain = LogChain::new(plan.snapshot_zxid());
    let mut replayed = Vec::new();
    for segment in plan.segments {
        let scan = decode_records(&disk.files[&segment.to_string()]);
        let verdict = chain.check(segment, &scan)?;
        replayed.extend(scan.records[verdict.replay_from..].iter().map(|r| r.zxid.0));
    }
    assert_eq!(replayed.last().copied().unwrap_or(0), chain.last_zxid().0);
    Ok(replayed)
}

/// The longest prefix of records intact on `disk`.
fn intact_prefix(run: &Recorded, disk: &Disk, written: &Disk) -> usize {
    run.records
        .iter()
        .take_while(|r| disk.intact(written, &r.file, r.offset, r.len))
        .count()
}

#[test]
fn recovery_returns_exactly_the_longest_intact_prefix_after_any_crash() {
    let mut images = 0;
    for seed in 0..16 {
        let run = record_workload(seed, 40);
        let written = Disk::replay(
            &run.ops,
            run.ops.len(),
            Variant::AllPersisted,
            true,
            &mut Rng(1),
        );
        for prefix in 0..=run.ops.len() {
            let acked = run.acked_after[prefix];
            for variant in VARIANTS {
                for names_kept in [false, true] {
                    let mut rng = Rng(seed ^ (prefix as u64) << 20 | 1);
                    let disk = Disk::replay(&run.ops, prefix, variant, names_kept, &mut rng);
                    let expected = intact_prefix(&run, &disk, &written);
                    let context =
                        format!("seed {seed} prefix {prefix} {variant:?} names kept {names_kept}");
                    let recovered = recover(&disk).unwrap_or_else(|e| panic!("{context}: {e}"));
                    assert_eq!(
                        recovered,
                        (1..=expected as i64).collect::<Vec<_>>(),
                        "{context}"
                    );
                    assert!(
                        recovered.len() >= acked,
                        "{context}: lost an acknowledged record"
                    );
                    images += 1;
                }
            }
        }
    }
    eprintln!("{images} crash images recovered to their longest intact prefix");
    assert!(images > 5_000, "{images} crash images");
}

#[test]
fn corruption_of_acknowledged_records_is_reported_not_truncated() {
    let mut reported = 0;
    let mut cut_as_torn = 0;
    for seed in 100..108 {
        let run = record_workload(seed, 30);
        let written = Disk::replay(
            &run.ops,
            run.ops.len(),
            Variant::AllPersisted,
            true,
            &mut Rng(1),
        );
        for prefix in 0..=run.ops.len() {
            let acked = run.acked_after[prefix];
            for variant in [Variant::Dropped, Variant::AllPersisted] {
                let base = Disk::replay(&run.ops, prefix, variant, false, &mut Rng(7));
                for damaged in &run.records[..acked] {
                    let mut disk = Disk {
                        files: base.files.clone(),
                    };
                    disk.files.get_mut(&damaged.file).unwrap()[damaged.offset + 40] ^= 0x20;
                    let context = format!(
                        "seed {seed} prefix {prefix} {variant:?} damaged {}",
                        damaged.zxid
                    );
                    let later_batch_in_segment = run.records.iter().any(|r| {
                        r.file == damaged.file
                            && r.batch > damaged.batch
                            && disk.intact(&written, &r.file, r.offset, r.len)
                    });
                    let next_segment_starts_intact = run
                        .records
                        .iter()
                        .filter(|r| r.file != damaged.file && r.zxid > damaged.zxid)
                        .min_by_key(|r| r.zxid)
                        .is_some_and(|first| {
                            first_of_segment(&run, first)
                                && disk.intact(&written, &first.file, first.offset, first.len)
                        });
                    match recover(&disk) {
                        Err(RecoveryError::Corrupt { file, offset, .. }) => {
                            assert!(later_batch_in_segment, "{context}");
                            assert_eq!(file.to_string(), damaged.file, "{context}");
                            assert_eq!(offset, damaged.offset as u64, "{context}");
                            reported += 1;
                        }
                        Err(RecoveryError::Gap { .. }) => {
                            assert!(
                                !later_batch_in_segment && next_segment_starts_intact,
                                "{context}"
                            );
                            reported += 1;
                        }
                        Err(other) => panic!("{context}: {other}"),
                        Ok(recovered) => {
                            assert!(
                                !later_batch_in_segment && !next_segment_starts_intact,
                                "{context}: truncated acknowledged data"
                            );
                            // The damaged record is in the last batch on disk: cut like a torn write.
                            assert_eq!(
                                recovered,
                                (1..damaged.zxid).collect::<Vec<_>>(),
                                "{context}"
                            );
                            cut_as_torn += 1;
                        }
                    }
                }
            }
        }
    }
    eprintln!("{reported} corruptions reported, {cut_as_torn} in the last batch cut as torn");
    assert!(reported > 1_000, "{reported} reported");
    assert!(cut_as_torn > 0);
}

fn first_of_segment(run: &Recorded, record: &Placed) -> bool {
    run.records
        .iter()
        .filter(|r| r.file == record.file)
        .all(|r| r.zxid >= record.zxid)
}

#[test]
fn segment_names_are_the_first_zxid() {
    let run = record_workload(3, 20);
    for op in &run.ops {
        if let DiskOp::Create { file } = op {
            let name = SegmentName::parse(file).unwrap();
            let first = run.records.iter().find(|r| &r.file == file).unwrap();
            assert_eq!(name.first_zxid, Zxid(first.zxid));
        }
    }
}
