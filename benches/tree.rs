//! Data tree costs: building a tree, reading by path, and setData on a large tree,
//! both in place and on a fresh clone (what publishing a version per txn costs).
//!
//! Run: `cargo bench --bench tree`.

use std::hint::black_box;

use bytes::Bytes;
use corekeeper::proto::Acl;
use corekeeper::tree::DataTree;
use criterion::{criterion_main, BatchSize, Criterion, Throughput};

/// Children per parent: a wide but realistic fan-out.
const FANOUT: usize = 1000;

fn path_of(i: usize) -> String {
    format!("/p{:04}/n{:06}", i / FANOUT, i % FANOUT)
}

/// A tree with `count` leaves under `count / FANOUT` parents, 32 bytes of data each.
fn build(count: usize) -> DataTree {
    let mut tree = DataTree::new();
    let acl = tree.intern_acl(&Acl::open_unsafe());
    let data = Bytes::from_static(&[7u8; 32]);
    let mut events = Vec::new();
    let mut zxid = 1;
    for parent in 0..count.div_ceil(FANOUT) {
        let path = format!("/p{parent:04}");
        tree.create_node(
            &path,
            data.clone(),
            acl.clone(),
            0,
            -1,
            zxid,
            0,
            &mut events,
        )
        .unwrap();
        zxid += 1;
    }
    for i in 0..count {
        tree.create_node(
            &path_of(i),
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
        zxid += 1;
    }
    tree
}

fn create_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("create_100k", |b| b.iter(|| black_box(build(100_000))));
    group.finish();
}

fn reads_and_writes_on_1m(c: &mut Criterion) {
    const NODES: usize = 1_000_000;
    let tree = build(NODES);
    let paths: Vec<String> = (0..4096)
        .map(|i| path_of((i * 7919 * 31) % NODES))
        .collect();
    let mut group = c.benchmark_group("tree_1m");
    group.throughput(Throughput::Elements(1));

    let mut next = 0usize;
    group.bench_function("get", |b| {
        b.iter(|| {
            next = (next + 1) % paths.len();
            black_box(tree.get(&paths[next]).map(|node| node.stat.mzxid))
        })
    });

    let mut writable = tree.clone();
    let mut zxid = 10_000_000;
    let data = Bytes::from_static(&[9u8; 32]);
    let mut events = Vec::new();
    // Warm: the first writes unshare the paths they touch from `tree`.
    for path in &paths {
        writable
            .set_data(path, data.clone(), 1, zxid, 0, &mut events)
            .unwrap();
    }
    group.bench_function("set_data_in_place", |b| {
        b.iter(|| {
            next = (next + 1) % paths.len();
            zxid += 1;
            events.clear();
            black_box(
                writable
                    .set_data(&paths[next], data.clone(), 2, zxid, 0, &mut events)
                    .unwrap(),
            )
        })
    });

    group.bench_function("clone_then_set_data", |b| {
        b.iter_batched_ref(
            || writable.clone(),
            |version| {
                next = (next + 1) % paths.len();
                zxid += 1;
                events.clear();
                black_box(
                    version
                        .set_data(&paths[next], data.clone(), 3, zxid, 0, &mut events)
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });

    group.bench_function("clone_then_create_and_delete", |b| {
        b.iter_batched_ref(
            || writable.clone(),
            |version| {
                next = (next + 1) % paths.len();
                zxid += 1;
                events.clear();
                let acl = version.get("/").unwrap().acl.clone();
                let path = format!("{}/x", paths[next]);
                version
                    .create_node(&path, data.clone(), acl, 0, -1, zxid, 0, &mut events)
                    .unwrap();
                version.delete_node(&path, zxid + 1, &mut events).unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    drop(tree);
}

/// Kept in a private module: `criterion_group!` makes an undocumented `pub fn`.
mod group {
    use super::{create_100k, reads_and_writes_on_1m};
    criterion::criterion_group!(benches, create_100k, reads_and_writes_on_1m);
}
criterion_main!(group::benches);
