//! The ZAB core's cost per broadcast round on a 3-member ensemble: the
//! leader's `Propose` step, each follower's `PROPOSAL` and `LogDurable` steps
//! (durability proofs come from a real group commit, whose framing is
//! included), and the leader's `ACK` steps up to the commit.
//!
//! Run: `cargo bench --bench zab`.

use std::collections::VecDeque;
use std::hint::black_box;

use bytes::Bytes;
use corekeeper::config::PeerRole;
use corekeeper::log::{CommitConfig, FlushDone, FlushOutcome, GroupCommit};
use corekeeper::txn::{Txn, TxnOp, TxnRecord};
use corekeeper::types::{ServerId, SessionId, Zxid};
use corekeeper::zab::{
    Epochs, Input, LogState, Output, QuorumVerifier, Zab, ZabConfig, ZXID_COUNTER_MAX,
};
use criterion::{criterion_main, Criterion, Throughput};

const BATCH: usize = 64;

fn record(zxid: Zxid) -> TxnRecord {
    TxnRecord::encode(&Txn {
        zxid,
        time_ms: 1_700_000_000_000,
        session: SessionId(1),
        cxid: 1,
        op: TxnOp::SetData {
            path: "/app/config".into(),
            data: Bytes::from(vec![7u8; 100]),
            data_null: false,
            version: 1,
        },
    })
}

struct Member {
    zab: Zab,
    log: GroupCommit<()>,
}

struct Ensemble {
    members: Vec<Member>,
    inbox: VecDeque<(usize, Input)>,
    out: Vec<Output>,
}

impl Ensemble {
    fn new() -> Ensemble {
        let ids: Vec<ServerId> = vec![1, 2, 3];
        let members = ids
            .iter()
            .map(|&me| {
                let cfg = ZabConfig {
                    my_id: me,
                    members: ids.iter().map(|&id| (id, PeerRole::Participant)).collect(),
                    quorum: QuorumVerifier::majority(ids.clone()).unwrap(),
                    init_limit_ticks: 10,
                    sync_limit_ticks: 5,
                    ping_interval_ticks: 2,
                    finalize_wait_ticks: 1,
                    notify_interval_ticks_min: 2,
                    notify_interval_ticks_max: 8,
                    window_txns_max: 500,
                    window_bytes_max: 1 << 20,
                    zxid_counter_max: ZXID_COUNTER_MAX,
                };
                Member {
                    zab: Zab::new(cfg, Epochs::default(), LogState::default()),
                    log: GroupCommit::new(CommitConfig::default(), Zxid::ZERO),
                }
            })
            .collect();
        let mut e = Ensemble {
            members,
            inbox: VecDeque::new(),
            out: Vec::new(),
        };
        for (a, b, link) in [(0, 1, 1), (0, 2, 2), (1, 2, 3)] {
            e.inbox.push_back((
                a,
                Input::PeerUp {
                    peer: b as u64 + 1,
                    link,
                },
            ));
            e.inbox.push_back((
                b,
                Input::PeerUp {
                    peer: a as u64 + 1,
                    link,
                },
            ));
        }
        for _ in 0..5 {
            for i in 0..3 {
                e.inbox.push_back((i, Input::Tick));
            }
            e.run();
        }
        assert!(e.members[2].zab.next_zxid().is_some(), "member 3 leads");
        e
    }

    fn run(&mut self) {
        while let Some((i, input)) = self.inbox.pop_front() {
            let mut out = std::mem::take(&mut self.out);
            self.members[i].zab.step(input, &mut out);
            for output in out.drain(..) {
                self.perform(i, output);
            }
            self.out = out;
        }
    }

    fn perform(&mut self, i: usize, output: Output) {
        use corekeeper::zab::EpochKind;
        match output {
            Output::Notify { to, notification } => self.inbox.push_back((
                to as usize - 1,
                Input::Notification {
                    from: i as u64 + 1,
                    notification,
                },
            )),
            Output::Send { to, link, msg } => self.inbox.push_back((
                to as usize - 1,
                Input::Message {
                    from: i as u64 + 1,
                    link,
                    msg,
                },
            )),
            Output::AppendLog(records) => {
                let log = &mut self.members[i].log;
                for r in records.iter() {
                    log.append(r, ()).unwrap();
                }
                let flush = log.begin_flush().unwrap();
                if let Ok(FlushDone::Durable { zxid, .. }) =
                    log.flush_done(flush.ticket, FlushOutcome::Synced)
                {
                    self.inbox.push_back((i, Input::LogDurable(zxid)));
                }
            }
            Output::PersistEpoch { kind, epoch } => {
                let _: EpochKind = kind;
                self.inbox
                    .push_back((i, Input::EpochPersisted { kind, epoch }));
            }
            _ => {}
        }
    }
}

fn broadcast_round(c: &mut Criterion) {
    let mut e = Ensemble::new();
    let mut group = c.benchmark_group("zab");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("broadcast round, 3 members, 64-txn batch", |b| {
        b.iter(|| {
            let next = e.members[2].zab.next_zxid().unwrap();
            let records: Vec<TxnRecord> = (0..BATCH as i64)
                .map(|k| record(Zxid(next.0 + k)))
                .collect();
            e.inbox.push_back((2, Input::Propose(records)));
            e.run();
            black_box(e.members[2].zab.committed())
        })
    });
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    broadcast_round(&mut c);
}

criterion_main!(benches);
