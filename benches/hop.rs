//! The cross-core hop: a batch of writes from a shard core to the sequencer
//! core and its commit back, through the runtime's own bounded SPSC rings
//! (glommio `shared_channel`, `RING_CAPACITY`) between two glommio executors
//! pinned to different cores, with the server's spin-before-park. The
//! messages are the runtime's (`Vec<SeqRequest>` one way, `Commit` with one
//! `WriteReply` per request the other), so the cost includes building and
//! dropping them as the shard and the sequencer do.
//!
//! * `hop/round_trip/N`: one batch of N setData requests there, its commit back,
//!   then the next (N = 1: the latency of a single write's hop; N = 64 and
//!   `WRITE_BATCH_MAX`: what batching buys per request);
//! * `hop/one_way/N`: batches of N streamed to the sequencer without waiting
//!   for their commits, which are drained alongside (the rings' throughput).
//!
//! On a one-core host both executors share the core and the numbers measure
//! context switches, not the hop. Run: `cargo bench --bench hop`.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corekeeper::constants::{EXECUTOR_SPIN_BEFORE_PARK_US, RING_CAPACITY, WRITE_BATCH_MAX};
use corekeeper::proto::{Id, OpCode, Stat};
use corekeeper::runtime::msg::{Commit, ConnRef, SeqRequest, WriteOutcome, WriteReply};
use corekeeper::tree::DataTree;
use corekeeper::txn::OpResult;
use corekeeper::types::{SessionId, Zxid};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender};
use glommio::{LocalExecutorBuilder, Placement};

/// What the shard side is asked to measure.
#[derive(Clone, Copy)]
enum Pattern {
    /// Send a batch, wait for its commit, repeat.
    RoundTrip,
    /// Send every batch without waiting; receive the commits alongside.
    OneWay,
}

/// A job for the shard executor: `iters` batches of `batch` requests.
struct Job {
    pattern: Pattern,
    iters: u64,
    batch: usize,
}

/// Two executors joined by the runtime's rings, kept alive across samples.
struct Hop {
    jobs: Option<mpsc::Sender<Job>>,
    elapsed: mpsc::Receiver<Duration>,
    joins: Vec<glommio::ExecutorJoinHandle<()>>,
}

fn placement(core: usize) -> Placement {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        Placement::Fixed(core)
    } else {
        Placement::Unbound
    }
}

fn executor(name: &str, core: usize) -> LocalExecutorBuilder {
    LocalExecutorBuilder::new(placement(core))
        .name(name)
        .spin_before_park(Duration::from_micros(EXECUTOR_SPIN_BEFORE_PARK_US))
}

/// A shard's write as it reaches the sequencer: the body is a slice of the
/// received frame (here a shared buffer), the auth ids a shared list.
fn request(i: usize, body: &Bytes, auth: &Arc<[Id]>) -> SeqRequest {
    SeqRequest::Write {
        conn: ConnRef {
            shard: 0,
            conn: (i % 64) as u64,
        },
        session: SessionId(0x0100_0000_0000_0001 + (i % 64) as i64),
        xid: i as i32,
        op: OpCode::SetData,
        body: body.clone(),
        auth: auth.clone(),
    }
}

impl Hop {
    fn start() -> Hop {
        let (to_seq_tx, to_seq_rx) = shared_channel::new_bounded::<Vec<SeqRequest>>(RING_CAPACITY);
        let (to_shard_tx, to_shard_rx) = shared_channel::new_bounded::<Commit>(RING_CAPACITY);
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (elapsed_tx, elapsed_rx) = mpsc::channel();
        let sequencer = executor("hop-sequencer", 0)
            .spawn(move || async move {
                let rx = to_seq_rx.connect().await;
                let tx = to_shard_tx.connect().await;
                sequencer(rx, tx).await;
            })
            .expect("sequencer executor");
        let shard = executor("hop-shard", 1)
            .spawn(move || async move {
                let tx = to_seq_tx.connect().await;
                let rx = to_shard_rx.connect().await;
                // Blocking on the job list parks this executor between
                // samples; nothing else runs on it.
                while let Ok(job) = jobs_rx.recv() {
                    let elapsed = shard(&tx, &rx, &job).await;
                    if elapsed_tx.send(elapsed).is_err() {
                        break;
                    }
                }
            })
            .expect("shard executor");
        Hop {
            jobs: Some(jobs_tx),
            elapsed: elapsed_rx,
            joins: vec![sequencer, shard],
        }
    }

    fn measure(&self, pattern: Pattern, iters: u64, batch: usize) -> Duration {
        let job = Job {
            pattern,
            iters,
            batch,
        };
        self.jobs
            .as_ref()
            .expect("running")
            .send(job)
            .expect("shard executor alive");
        self.elapsed.recv().expect("shard executor answers")
    }
}

impl Drop for Hop {
    fn drop(&mut self) {
        // Closing the job list ends the shard, whose ring closing ends the sequencer.
        self.jobs.take();
        for join in self.joins.drain(..) {
            let _ = join.join();
        }
    }
}

/// The sequencer's side: each batch becomes one commit with a reply per write.
async fn sequencer(rx: ConnectedReceiver<Vec<SeqRequest>>, tx: ConnectedSender<Commit>) {
    let tree = Arc::new(DataTree::new());
    let events: Arc<[(Zxid, corekeeper::tree::TreeEvent)]> = Arc::from(Vec::new());
    let mut zxid = 0x1_0000_0000i64;
    while let Some(batch) = rx.recv().await {
        let replies: Vec<WriteReply> = batch
            .into_iter()
            .map(|request| {
                let SeqRequest::Write { conn, xid, .. } = request else {
                    unreachable!("the bench sends writes only")
                };
                zxid += 1;
                WriteReply {
                    conn: conn.conn,
                    xid,
                    zxid: Zxid(zxid),
                    outcome: WriteOutcome::Txn(OpResult::DataSet {
                        stat: Stat {
                            mzxid: zxid,
                            version: xid,
                            ..Stat::default()
                        },
                    }),
                }
            })
            .collect();
        let commit = Commit {
            tree: tree.clone(),
            events: events.clone(),
            connected: Vec::new(),
            replies,
            close: Vec::new(),
            report_round: None,
        };
        if tx.send(commit).await.is_err() {
            return;
        }
    }
}

/// The shard's side of one job; returns the time it took.
async fn shard(
    tx: &ConnectedSender<Vec<SeqRequest>>,
    rx: &ConnectedReceiver<Commit>,
    job: &Job,
) -> Duration {
    let body = Bytes::from(vec![0x5a; 1024 + 64]);
    let auth: Arc<[Id]> = Arc::from(Vec::new());
    let batch = |n: usize| (0..n).map(|i| request(i, &body, &auth)).collect::<Vec<_>>();
    let started = Instant::now();
    match job.pattern {
        Pattern::RoundTrip => {
            for _ in 0..job.iters {
                tx.send(batch(job.batch)).await.expect("ring open");
                let commit = rx.recv().await.expect("ring open");
                assert_eq!(commit.replies.len(), job.batch);
            }
        }
        Pattern::OneWay => {
            // Commits flow back while batches flow out: drain them alongside,
            // so that the return ring never fills and stalls the sequencer.
            let send_all = async {
                for _ in 0..job.iters {
                    tx.send(batch(job.batch)).await.expect("ring open");
                }
            };
            let receive_all = async {
                for _ in 0..job.iters {
                    let commit = rx.recv().await.expect("ring open");
                    assert_eq!(commit.replies.len(), job.batch);
                }
            };
            futures_lite::future::zip(send_all, receive_all).await;
        }
    }
    started.elapsed()
}

fn hop(c: &mut Criterion) {
    let hop = Hop::start();
    let mut group = c.benchmark_group("hop");
    for (pattern, name) in [
        (Pattern::RoundTrip, "round_trip"),
        (Pattern::OneWay, "one_way"),
    ] {
        for batch in [1, 64, WRITE_BATCH_MAX] {
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
                b.iter_custom(|iters| hop.measure(pattern, iters, batch))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, hop);
criterion_main!(benches);
