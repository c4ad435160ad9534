//! Log and snapshot costs: framing records into a batch, the group-commit cycle,
//! scanning a segment image back (what recovery pays per segment), and a
//! snapshot of a 100k-node tree encoded and decoded.
//!
//! Run: `cargo bench --bench log`.

use std::hint::black_box;

use bytes::Bytes;
use corekeeper::log::{
    decode_records, decode_snapshot, encode_record, encode_snapshot, CommitConfig, FlushDone,
    FlushOutcome, GroupCommit, SessionTimeouts,
};
use corekeeper::proto::{Acl, OpCode};
use corekeeper::tree::DataTree;
use corekeeper::txn::{CreateTxn, Txn, TxnOp, TxnRecord};
use corekeeper::types::{SessionId, Zxid};
use criterion::{criterion_main, Criterion, Throughput};

/// The server's allocator, so allocation-heavy paths (snapshot decode) cost what
/// they cost in the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 10_000;

/// A create of a 100-byte node under a realistic path, serialized once.
fn create_record(zxid: i64) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid: Zxid(zxid),
        time_ms: 1_700_000_000_000,
        session: SessionId(0x0100_0000_0000_0001),
        cxid: zxid as i32,
        op: TxnOp::Create(CreateTxn {
            op: OpCode::Create2.code(),
            path: format!("/app/locks/lock-{zxid:010}"),
            data: Bytes::from(vec![7u8; 100]),
            data_null: false,
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: zxid as i32,
        }),
    })
}

fn records() -> Vec<TxnRecord> {
    (1..=RECORDS as i64).map(create_record).collect()
}

fn encode(c: &mut Criterion) {
    let records = records();
    let bytes: usize = records.iter().map(|r| r.bytes().len()).sum();
    let mut group = c.benchmark_group("log_record");
    group.throughput(Throughput::Bytes(bytes as u64));
    let mut out = Vec::with_capacity(bytes * 2);
    group.bench_function("encode_10k", |b| {
        b.iter(|| {
            out.clear();
            let mut prev = Zxid::ZERO;
            for record in &records {
                encode_record(record, prev, out.len() as u32, &mut out);
                prev = Zxid(record.txn().zxid.0.to_native());
            }
            black_box(out.len())
        })
    });
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("group_commit_10k_in_batches_of_1000", |b| {
        b.iter(|| {
            let mut log: GroupCommit<u32> = GroupCommit::new(CommitConfig::default(), Zxid::ZERO);
            let mut released = 0;
            for chunk in records.chunks(1000) {
                for (i, record) in chunk.iter().enumerate() {
                    log.append(record, i as u32).unwrap();
                }
                let flush = log.begin_flush().unwrap();
                black_box(flush.bytes.len());
                if let Ok(FlushDone::Durable { released: r, .. }) =
                    log.flush_done(flush.ticket, FlushOutcome::Synced)
                {
                    released += r.len();
                }
            }
            black_box(released)
        })
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let records = records();
    let config = CommitConfig::default();
    let mut log: GroupCommit<()> = GroupCommit::new(config, Zxid::ZERO);
    let mut image = Vec::new();
    for chunk in records.chunks(100) {
        for record in chunk {
            log.append(record, ()).unwrap();
        }
        let flush = log.begin_flush().unwrap();
        image.extend_from_slice(&flush.bytes);
        let _ = log.flush_done(flush.ticket, FlushOutcome::Synced).unwrap();
    }
    let written = image.len();
    image.resize(written + (1 << 20), 0); // some preallocated tail
    let mut group = c.benchmark_group("log_scan");
    group.throughput(Throughput::Bytes(written as u64));
    group.bench_function("decode_10k_records", |b| {
        b.iter(|| {
            let scan = decode_records(black_box(&image));
            assert_eq!(scan.records.len(), RECORDS);
            black_box(scan.records.len())
        })
    });
    group.finish();
}

/// 100k nodes of 100 bytes under 100 parents, and 1000 sessions.
fn tree_100k() -> (DataTree, SessionTimeouts) {
    let mut tree = DataTree::new();
    let acl = tree.intern_acl(&Acl::open_unsafe());
    let data = Bytes::from(vec![7u8; 100]);
    let mut zxid = 0;
    let mut events = Vec::new();
    for parent in 0..100 {
        zxid += 1;
        tree.create_node(
            &format!("/p{parent:03}"),
            data.clone(),
            acl.clone(),
            0,
            -1,
            zxid,
            0,
            &mut events,
        )
        .unwrap();
        for child in 0..1000 {
            zxid += 1;
            tree.create_node(
                &format!("/p{parent:03}/n{child:06}"),
                data.clone(),
                acl.clone(),
                0,
                -1,
                zxid,
                0,
                &mut events,
            )
            .unwrap();
            events.clear();
        }
    }
    tree.set_last_zxid(zxid);
    let sessions = (0..1000)
        .map(|i| (SessionId(0x0100_0000_0000_0000 + i), 30_000))
        .collect();
    (tree, sessions)
}

fn snapshot(c: &mut Criterion) {
    let (tree, sessions) = tree_100k();
    let zxid = Zxid(tree.last_zxid());
    let bytes: Vec<u8> = encode_snapshot(&tree, &sessions, zxid).flatten().collect();
    let mut group = c.benchmark_group("snapshot_100k");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let total: usize = encode_snapshot(&tree, &sessions, zxid)
                .map(|chunk| chunk.len())
                .sum();
            black_box(total)
        })
    });
    // The decoded tree is dropped outside the timing: a restart keeps it.
    group.bench_function("decode", |b| {
        b.iter_with_large_drop(|| decode_snapshot(&bytes, false).unwrap())
    });
    group.finish();
}

/// Kept in a private module: `criterion_group!` makes an undocumented `pub fn`.
mod group {
    use super::{encode, scan, snapshot};
    criterion::criterion_group!(benches, encode, scan, snapshot);
}
criterion_main!(group::benches);
