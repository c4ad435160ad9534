//! Process-wide reports for the four-letter words and connection admission.
//!
//! Shared by every core. Shards and the sequencer publish a summary here about
//! once a second (never per request); a four-letter word renders from the
//! latest summaries, so its numbers may be up to a second old.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::admin::{self, ConnectionInfo, FourLetterWord, MetricValue, ServerSnapshot};
use crate::config::Config;
use crate::proto::OpCode;
use crate::runtime::pipeline::{LogCounters, SYNC_HISTOGRAM_BUCKETS};
use crate::runtime::sequencer::Sequencer;
use crate::runtime::shard::{Phase, Shard};

#[derive(Clone, Debug, Default)]
struct ShardReport {
    round: u64,
    received: u64,
    sent: u64,
    outstanding: u64,
    watch_count: u64,
    watched_paths: u64,
    connections: Vec<ConnectionInfo>,
    watches_by_session: Vec<(i64, Vec<String>)>,
    latency_min_ms: i64,
    latency_max_ms: i64,
    latency_sum_ms: i64,
    latency_count: u64,
}

#[derive(Clone, Debug, Default)]
struct SequencerReport {
    round: u64,
    zxid: i64,
    node_count: u64,
    ephemerals_count: u64,
    approximate_data_size: u64,
    global_sessions: u64,
    sessions_by_expiry: Vec<(i64, Vec<i64>)>,
    ephemerals_by_session: Vec<(i64, Vec<String>)>,
    log: LogCounters,
}

/// Summaries from every core, plus the per-IP connection counts.
pub struct Reports {
    config: Arc<Config>,
    started: Instant,
    shards: Vec<Mutex<ShardReport>>,
    sequencer: Mutex<SequencerReport>,
    connections: Mutex<(u32, HashMap<IpAddr, u32>)>,
    acked_zxid: Arc<AtomicI64>,
    role: Mutex<RoleReport>,
}

/// This server's part in an ensemble, as the four-letter words show it.
#[derive(Clone, Debug)]
pub struct RoleReport {
    /// Whether it serves clients (an established leader, a synced learner, or standalone).
    pub serving: bool,
    /// `standalone`, `leader`, `follower` or `observer`.
    pub mode: &'static str,
    /// Ensemble facts; `None` standalone.
    pub quorum: Option<crate::admin::QuorumSnapshot>,
}

impl Default for RoleReport {
    fn default() -> Self {
        RoleReport {
            serving: true,
            mode: "standalone",
            quorum: None,
        }
    }
}

impl Reports {
    /// Empty reports for `shards` shards.
    pub fn new(config: Arc<Config>, shards: usize) -> Reports {
        Reports {
            config,
            started: Instant::now(),
            shards: (0..shards)
                .map(|_| Mutex::new(ShardReport::default()))
                .collect(),
            sequencer: Mutex::new(SequencerReport::default()),
            connections: Mutex::new((0, HashMap::new())),
            acked_zxid: Arc::new(AtomicI64::new(0)),
            role: Mutex::new(RoleReport::default()),
        }
    }

    /// Records this server's role (an ensemble member's sequencer does, on
    /// every change).
    pub fn set_role(&self, role: RoleReport) {
        *self.role.lock().expect("not poisoned") = role;
    }

    /// This server's role as last recorded.
    pub fn role(&self) -> RoleReport {
        self.role.lock().expect("not poisoned").clone()
    }

    /// The highest zxid acknowledged to any client, shared by every shard.
    pub fn acked_zxid(&self) -> Arc<AtomicI64> {
        self.acked_zxid.clone()
    }

    /// Admits a new connection from `ip` under `maxClientCnxns` (per IP) and
    /// `maxCnxns` (total); 0 means unlimited. Called once per accept.
    pub fn admit(&self, ip: IpAddr, per_ip_max: u32, total_max: u32) -> bool {
        let mut guard = self.connections.lock().expect("not poisoned");
        let (total, per_ip) = &mut *guard;
        let count = per_ip.entry(ip).or_default();
        if (per_ip_max != 0 && *count >= per_ip_max) || (total_max != 0 && *total >= total_max) {
            return false;
        }
        *count += 1;
        *total += 1;
        true
    }

    /// Releases an admitted connection.
    pub fn release(&self, ip: IpAddr) {
        let mut guard = self.connections.lock().expect("not poisoned");
        let (total, per_ip) = &mut *guard;
        if let Some(count) = per_ip.get_mut(&ip) {
            *count -= 1;
            *total -= 1;
            if *count == 0 {
                per_ip.remove(&ip);
            }
        }
    }

    /// The newest report round every core has published (0 before any).
    pub fn completed_round(&self) -> u64 {
        let sequencer = self.sequencer.lock().expect("not poisoned").round;
        self.shards
            .iter()
            .map(|s| s.lock().expect("not poisoned").round)
            .fold(sequencer, u64::min)
    }

    /// Publishes a shard's summary for report round `round` (0 = a periodic refresh).
    pub fn publish_shard(&self, shard: &Shard, round: u64) {
        let previous_round = self.shards[shard.id].lock().expect("not poisoned").round;
        let mut report = ShardReport {
            round: round.max(previous_round),
            received: shard.counters.received,
            sent: shard.counters.sent,
            watch_count: shard.watches.watch_count() as u64,
            watched_paths: shard.watches.data_path_count() as u64,
            latency_min_ms: i64::MAX,
            ..ShardReport::default()
        };
        let mut sessions: HashMap<u64, i64> = HashMap::new();
        for (id, conn) in &shard.conns {
            let session = conn.session.map_or(0, |s| s.0);
            sessions.insert(*id, session);
            report.outstanding += conn.queued() as u64;
            let s = &conn.stats;
            if s.latency_count > 0 {
                report.latency_min_ms = report.latency_min_ms.min(s.latency_min_ms);
                report.latency_max_ms = report.latency_max_ms.max(s.latency_max_ms);
                report.latency_sum_ms += s.latency_sum_ms;
                report.latency_count += s.latency_count;
            }
            report.connections.push(ConnectionInfo {
                remote: conn.peer,
                interest_ops: u32::from(!conn.serving_word && conn.phase != Phase::Closing),
                queued: conn.queued() as u64,
                received: s.received,
                sent: s.sent,
                session_id: session,
                last_op: s.last_op.map_or("NA", op_name),
                established_ms: s.established_ms,
                timeout_ms: i64::from(conn.timeout_ms),
                last_cxid: i64::from(s.last_cxid),
                last_zxid: s.last_zxid,
                min_latency_ms: if s.latency_count > 0 {
                    s.latency_min_ms
                } else {
                    0
                },
                avg_latency_ms: if s.latency_count > 0 {
                    s.latency_sum_ms / s.latency_count as i64
                } else {
                    0
                },
                max_latency_ms: s.latency_max_ms,
                ..ConnectionInfo::default()
            });
        }
        report.watches_by_session = shard
            .watches
            .data_by_watcher()
            .into_iter()
            .map(|(conn, paths)| (sessions.get(&conn).copied().unwrap_or(0), paths))
            .collect();
        *self.shards[shard.id].lock().expect("not poisoned") = report;
    }

    /// Publishes the sequencer's summary for report round `round` (0 = periodic).
    pub fn publish_sequencer(&self, seq: &Sequencer, log: &LogCounters, round: u64) {
        let previous_round = self.sequencer.lock().expect("not poisoned").round;
        let tree = seq.tree();
        let mut ephemerals_by_session: Vec<(i64, Vec<String>)> = tree
            .ephemeral_sessions()
            .map(|(session, _)| {
                let mut paths: Vec<String> =
                    tree.ephemerals(session).map(|p| p.to_string()).collect();
                paths.sort();
                (session, paths)
            })
            .collect();
        ephemerals_by_session.sort();
        let report = SequencerReport {
            round: round.max(previous_round),
            zxid: seq.zxid().0,
            node_count: tree.node_count() as u64,
            ephemerals_count: tree.ephemerals_count() as u64,
            approximate_data_size: tree.approximate_data_size(),
            global_sessions: seq.sessions().len() as u64,
            sessions_by_expiry: seq
                .sessions()
                .by_expiry()
                .into_iter()
                .map(|(at, ids)| (at, ids.into_iter().map(|id| id.0).collect()))
                .collect(),
            ephemerals_by_session,
            log: *log,
        };
        *self.sequencer.lock().expect("not poisoned") = report;
    }

    /// Renders a four-letter word from the latest reports (the caller first
    /// waits for a report round, so they are current).
    pub fn render_four_letter_word(&self, word: FourLetterWord) -> String {
        admin::render(word, &self.snapshot(), &self.config)
    }

    /// Whether the whitelist allows a word.
    pub fn allows(&self, word: FourLetterWord) -> bool {
        self.config.four_letter_words.allows(word)
    }

    fn snapshot(&self) -> ServerSnapshot {
        let seq = self.sequencer.lock().expect("not poisoned").clone();
        let mut snap = ServerSnapshot {
            zxid: seq.zxid,
            node_count: seq.node_count,
            ephemerals_count: seq.ephemerals_count,
            approximate_data_size: seq.approximate_data_size,
            global_sessions: seq.global_sessions,
            sessions_by_expiry: seq.sessions_by_expiry,
            ephemerals_by_session: seq.ephemerals_by_session,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            max_fds: max_fds(),
            open_fds: open_fds(),
            extra_metrics: log_metrics(&seq.log),
            ..ServerSnapshot::default()
        };
        let role = self.role();
        snap.serving = role.serving;
        snap.mode = role.mode;
        snap.quorum = role.quorum;
        let (mut min, mut max, mut sum, mut count) = (i64::MAX, 0, 0, 0u64);
        for shard in &self.shards {
            let report = shard.lock().expect("not poisoned").clone();
            snap.packets_received += report.received;
            snap.packets_sent += report.sent;
            snap.outstanding += report.outstanding;
            snap.watch_count += report.watch_count;
            snap.watched_paths += report.watched_paths;
            snap.connections.extend(report.connections);
            snap.watches_by_session.extend(report.watches_by_session);
            min = min.min(report.latency_min_ms);
            max = max.max(report.latency_max_ms);
            sum += report.latency_sum_ms;
            count += report.latency_count;
        }
        if count > 0 {
            snap.latency_min_ms = min.max(0) as u64;
            snap.latency_max_ms = max.max(0) as u64;
            snap.latency_avg_ms = sum as f64 / count as f64;
        }
        snap
    }
}

/// The transaction log's metrics, after ZooKeeper's own (`*_fsynctime`, in
/// ms) and corekeeper's (`ck_*`: txns and bytes per fsync, the fsync latency
/// histogram in µs buckets, snapshots).
fn log_metrics(log: &LogCounters) -> Vec<(String, MetricValue)> {
    let int = |v: u64| MetricValue::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let per_flush = |v: u64| match log.flushes {
        0 => MetricValue::Double(0.0),
        n => MetricValue::Double(v as f64 / n as f64),
    };
    let mut metrics = vec![
        // ZooKeeper's `fsynctime` summary (AvgMinMaxCounter names, ms).
        (
            "avg_fsynctime".to_owned(),
            per_flush(log.sync_us_sum / 1000),
        ),
        ("max_fsynctime".to_owned(), int(log.sync_us_max / 1000)),
        ("cnt_fsynctime".to_owned(), int(log.flushes)),
        ("sum_fsynctime".to_owned(), int(log.sync_us_sum / 1000)),
        ("ck_log_fsyncs".to_owned(), int(log.flushes)),
        ("ck_log_fsync_us_sum".to_owned(), int(log.sync_us_sum)),
        ("ck_log_fsync_us_max".to_owned(), int(log.sync_us_max)),
        ("ck_log_txns".to_owned(), int(log.txns)),
        ("ck_log_bytes".to_owned(), int(log.bytes)),
        ("ck_log_txns_per_fsync".to_owned(), per_flush(log.txns)),
        ("ck_log_bytes_per_fsync".to_owned(), per_flush(log.bytes)),
        ("ck_log_out_of_space".to_owned(), int(log.no_space)),
        ("ck_snapshots".to_owned(), int(log.snapshots)),
        (
            "ck_snapshot_last_bytes".to_owned(),
            int(log.snapshot_last_bytes),
        ),
        ("ck_snapshot_last_ms".to_owned(), int(log.snapshot_last_ms)),
    ];
    for (bucket, count) in log.sync_us_histogram.iter().enumerate() {
        let name = if bucket + 1 == SYNC_HISTOGRAM_BUCKETS {
            "ck_log_fsync_us_le_inf".to_owned()
        } else {
            format!("ck_log_fsync_us_le_{}", 16u64 << bucket)
        };
        metrics.push((name, int(*count)));
    }
    metrics
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64)
}

fn max_fds() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if ok {
        limit.rlim_cur
    } else {
        0
    }
}

/// ZooKeeper's short names for the last operation (`Request.op2String` as `cons` shows them).
fn op_name(op: OpCode) -> &'static str {
    use OpCode::*;
    match op {
        Create | Create2 | CreateContainer | CreateTtl => "CREA",
        Delete | DeleteContainer => "DELE",
        Exists => "EXIS",
        GetData => "GETD",
        SetData => "SETD",
        GetAcl => "GETA",
        SetAcl => "SETA",
        GetChildren | GetChildren2 => "GETC",
        Sync => "SYNC",
        Ping => "PING",
        Multi => "MULT",
        MultiRead => "MLTR",
        Reconfig => "RECO",
        CheckWatches => "CHKW",
        RemoveWatches => "REMW",
        SetWatches | SetWatches2 => "SETW",
        AddWatch => "ADDW",
        GetEphemerals => "GETE",
        GetAllChildrenNumber => "GETACN",
        WhoAmI => "HOMI",
        CloseSession => "CLOSE",
        _ => "NA",
    }
}
