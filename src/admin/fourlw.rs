//! The text of each four-letter word, byte for byte as ZooKeeper 3.9 prints it.
//!
//! Java's `PrintWriter.println` ends lines with `\n` on Linux; `print` adds
//! nothing. Each function below names the Java method whose output it mirrors.

use std::fmt::Write as _;

use super::java::{
    concurrent_hash_map_order, date_to_string_utc, double_to_string, round_half_up_4,
    socket_address,
};
use super::snapshot::{ConnectionInfo, MetricValue, ServerSnapshot};
use super::FourLetterWord;
use crate::config::{Config, PeerAddress, PeerRole};

/// `AbstractFourLetterCommand.ZK_NOT_SERVING`: the reply of most words while the
/// server is not serving (Solr looks for "not currently serving requests").
pub const ZK_NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The reply to a word that `4lw.commands.whitelist` does not enable
/// (`NIOServerCnxn.checkFourLetterWord` through `NopCommand`).
pub fn not_whitelisted(word: FourLetterWord) -> String {
    format!("{word} is not executed because it is not in the whitelist.\n")
}

/// The full reply to `word`. The runtime writes it and closes the connection.
pub fn render(word: FourLetterWord, snap: &ServerSnapshot, config: &Config) -> String {
    use FourLetterWord as W;
    match word {
        W::Ruok => "imok".to_owned(),
        W::Isro => isro(snap).to_owned(),
        W::Envi => envi(snap),
        W::Gtmk | W::Stmk => snap.trace_mask.to_string(),
        W::Hash if !snap.serving => ZK_NOT_SERVING.to_owned(),
        _ if !snap.serving => format!("{ZK_NOT_SERVING}\n"),
        W::Srvr => stat(snap, false),
        W::Stat => stat(snap, true),
        W::Cons => cons(snap),
        W::Crst => "Connection stats reset.\n".to_owned(),
        W::Srst => "Server stats reset.\n".to_owned(),
        W::Conf => conf(snap, config),
        W::Dump => dump(snap),
        W::Wchs => wchs(snap),
        W::Wchc => wchc(snap),
        W::Wchp => wchp(snap),
        W::Mntr => mntr(snap),
        W::Dirs => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            snap.data_dir_size, snap.log_dir_size
        ),
        W::Hash => hash(snap),
    }
}

/// `IsroCommand`: no newline; `null` when not serving.
fn isro(snap: &ServerSnapshot) -> &'static str {
    if !snap.serving {
        "null"
    } else if snap.mode == "read-only" {
        "ro"
    } else {
        "rw"
    }
}

/// `StatCommand` for `srvr` (`with_clients` false) and `stat`.
fn stat(snap: &ServerSnapshot, with_clients: bool) -> String {
    let mut out = format!("Zookeeper version: {}\n", snap.version);
    if snap.mode == "read-only" {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        for cnxn in &snap.connections {
            connection_info(&mut out, cnxn, true);
            out.push('\n');
        }
        out.push('\n');
    }
    server_stats(&mut out, snap);
    let _ = writeln!(out, "Node count: {}", snap.node_count);
    if let Some(leader) = snap.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
        if snap.mode == "leader" {
            let _ = writeln!(
                out,
                "Proposal sizes last/min/max: {}/{}/{}",
                leader.proposal_size_last, leader.proposal_size_min, leader.proposal_size_max
            );
        }
    }
    out
}

/// `ServerStats.toString`.
fn server_stats(out: &mut String, snap: &ServerSnapshot) {
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\n\
         Received: {}\n\
         Sent: {}\n\
         Connections: {}\n\
         Outstanding: {}\n\
         Zxid: 0x{:x}\n\
         Mode: {}\n",
        snap.latency_min_ms,
        double_to_string(round_half_up_4(snap.latency_avg_ms)),
        snap.latency_max_ms,
        snap.packets_received,
        snap.packets_sent,
        snap.connections.len(),
        snap.outstanding,
        snap.zxid,
        snap.mode,
    );
}

/// `ServerCnxn.dumpConnectionInfo(pw, brief)`, without a line end.
fn connection_info(out: &mut String, cnxn: &ConnectionInfo, brief: bool) {
    let _ = write!(out, " {}[", socket_address(&cnxn.remote));
    if cnxn.interest_ops == 0 {
        out.push('0');
    } else {
        let _ = write!(out, "{:x}", cnxn.interest_ops);
    }
    let _ = write!(
        out,
        "](queued={},recved={},sent={}",
        cnxn.queued, cnxn.received, cnxn.sent
    );
    if !brief && cnxn.session_id != 0 {
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            cnxn.session_id, cnxn.last_op, cnxn.established_ms, cnxn.timeout_ms
        );
        if cnxn.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", cnxn.last_cxid);
        }
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            cnxn.last_zxid,
            cnxn.last_response_ms,
            cnxn.last_latency_ms,
            cnxn.min_latency_ms,
            cnxn.avg_latency_ms,
            cnxn.max_latency_ms
        );
    }
    out.push(')');
}

/// `ConsCommand`.
fn cons(snap: &ServerSnapshot) -> String {
    let mut out = String::new();
    for cnxn in &snap.connections {
        connection_info(&mut out, cnxn, false);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `ZooKeeperServer.dumpConf`, plus `QuorumZooKeeperServer.dumpConf` in an
/// ensemble. The quorum form ends without a newline after `version=`, as
/// ZooKeeper's `QuorumVerifier.toString` does.
fn conf(snap: &ServerSnapshot, config: &Config) -> String {
    let quorum = snap.quorum.as_ref();
    let server_id = if quorum.is_some() {
        config.server_id
    } else {
        0
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "clientPort={}\n\
         secureClientPort=-1\n\
         dataDir={}\n\
         dataDirSize={}\n\
         dataLogDir={}\n\
         dataLogSize={}\n\
         tickTime={}\n\
         maxClientCnxns={}\n\
         minSessionTimeout={}\n\
         maxSessionTimeout={}\n\
         clientPortListenBacklog={}\n\
         serverId={}\n",
        config.client_port,
        config.snap_dir().display(),
        snap.data_dir_size,
        config.txn_log_dir().display(),
        snap.log_dir_size,
        config.tick_time_ms,
        config.max_client_cnxns,
        config.min_session_timeout_ms,
        config.max_session_timeout_ms,
        config.client_port_listen_backlog,
        server_id,
    );
    if let Some(quorum) = quorum {
        let me = config.servers.iter().find(|s| s.id == config.server_id);
        let ports = |port: fn(&PeerAddress) -> u16| {
            let addresses = me.map(|s| s.addresses()).unwrap_or_default();
            let ports: Vec<String> = addresses.iter().map(|a| port(a).to_string()).collect();
            ports.join("|")
        };
        let peer_type = match me.map(|s| s.role) {
            Some(PeerRole::Observer) => 1,
            _ => 0,
        };
        let _ = write!(
            out,
            "initLimit={}\n\
             syncLimit={}\n\
             electionAlg=3\n\
             electionPort={}\n\
             quorumPort={}\n\
             peerType={}\n\
             membership: \n{}",
            config.init_limit,
            config.sync_limit,
            ports(|a| a.election_port),
            ports(|a| a.quorum_port),
            peer_type,
            config.membership(quorum.config_version),
        );
    }
    out
}

/// `EnvCommand` / `Environment.list`.
fn envi(snap: &ServerSnapshot) -> String {
    let mut out = format!("Environment:\nzookeeper.version={}\n", snap.version);
    for (key, value) in &snap.env {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

/// `DumpCommand`: session tracker, ephemerals, connections.
fn dump(snap: &ServerSnapshot) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    if matches!(snap.mode, "follower" | "observer") {
        // LearnerSessionTracker.dumpSessions
        let mut sessions = snap.session_timeouts_ms.clone();
        sessions.sort_unstable();
        let _ = writeln!(out, "Global Sessions({}):", sessions.len());
        for (session, timeout) in sessions {
            let _ = writeln!(out, "0x{session:x}\t{timeout}ms");
        }
    } else {
        // SessionTrackerImpl.dumpSessions -> ExpiryQueue.dump
        out.push_str("Session ");
        let buckets: Vec<(i64, Vec<String>)> = snap
            .sessions_by_expiry
            .iter()
            .map(|(at, ids)| (*at, ids.iter().map(|id| format!("0x{id:x}")).collect()))
            .collect();
        expiry_queue(&mut out, buckets);
    }
    out.push_str("ephemeral nodes dump:\n");
    // DataTree.dumpEphemerals
    let _ = writeln!(
        out,
        "Sessions with Ephemerals ({}):",
        snap.ephemerals_by_session.len()
    );
    for (session, paths) in &snap.ephemerals_by_session {
        let _ = writeln!(out, "0x{session:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    // NIOServerCnxnFactory.dumpConnections; elements print as NIOServerCnxn.toString.
    out.push_str("Connections ");
    let mut buckets: Vec<(i64, Vec<String>)> = Vec::new();
    let mut cnxns: Vec<&ConnectionInfo> = snap.connections.iter().collect();
    cnxns.sort_by_key(|c| c.expires_at_ms);
    for cnxn in cnxns {
        let line = format!(
            "ip: {} sessionId: 0x{:x}",
            socket_address(&cnxn.remote),
            cnxn.session_id
        );
        match buckets.last_mut() {
            Some((at, lines)) if *at == cnxn.expires_at_ms => lines.push(line),
            _ => buckets.push((cnxn.expires_at_ms, vec![line])),
        }
    }
    expiry_queue(&mut out, buckets);
    out
}

/// `ExpiryQueue.dump`: `Sets (<buckets>)/(<elements>):`, then each bucket by time.
fn expiry_queue(out: &mut String, mut buckets: Vec<(i64, Vec<String>)>) {
    buckets.sort_by_key(|(at, _)| *at);
    let elements: usize = buckets.iter().map(|(_, e)| e.len()).sum();
    let _ = writeln!(out, "Sets ({})/({}):", buckets.len(), elements);
    for (at, elements) in buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            elements.len(),
            date_to_string_utc(at)
        );
        for element in elements {
            let _ = writeln!(out, "\t{element}");
        }
    }
}

/// `WatchManager.toString` of the data watches, then `WatchCommand`'s newline.
fn wchs(snap: &ServerSnapshot) -> String {
    let total: usize = snap.watches_by_session.iter().map(|(_, p)| p.len()).sum();
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        snap.watches_by_session.len(),
        snap.watched_paths,
        total
    )
}

/// `WatchManager.dumpWatches(pw, false)` then a newline.
fn wchc(snap: &ServerSnapshot) -> String {
    let mut out = String::new();
    for (session, paths) in &snap.watches_by_session {
        let _ = writeln!(out, "0x{session:x}");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
    out
}

/// `WatchManager.dumpWatches(pw, true)` then a newline. Paths ascending, sessions
/// in the order `watches_by_session` lists them (ZooKeeper's order is a hash
/// map's; no tool depends on it).
fn wchp(snap: &ServerSnapshot) -> String {
    let mut by_path: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    for (session, paths) in &snap.watches_by_session {
        for path in paths {
            by_path.entry(path).or_default().push(*session);
        }
    }
    let mut out = String::new();
    for (path, sessions) in by_path {
        let _ = writeln!(out, "{path}");
        for session in sessions {
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
    out.push('\n');
    out
}

/// `DigestCommand`: `<zxid hex>: <digest>` per recorded digest.
fn hash(snap: &ServerSnapshot) -> String {
    let mut out = String::new();
    for (zxid, digest) in &snap.digests {
        let _ = writeln!(out, "{zxid:x}: {digest}");
    }
    out
}

/// `MonitorCommand`: `dumpMonitorValues` (version, state, peer state, observer
/// master), then the gauges in the order ZooKeeper's default metrics provider
/// iterates them (a `ConcurrentHashMap` filled in `registerMetrics` order),
/// then [`ServerSnapshot::extra_metrics`].
///
/// Not printed (we have no such state yet; the runtime can add any of them
/// through `extra_metrics`): the per-namespace quota gauge sets
/// (`quota_count_limit_per_namespace` ...), which ZooKeeper prints only for
/// namespaces with a quota, and the ~110 `ServerMetrics` counters and
/// summaries (`proposal_count`, `fsynctime`, `readlatency`, `updatelatency`, ...).
/// `outstanding_tls_handshake`, `non_mtls_remote_conn_count` and
/// `non_mtls_local_conn_count` print 0: we serve no TLS.
fn mntr(snap: &ServerSnapshot) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &MetricValue| {
        let value = match value {
            MetricValue::Int(v) => v.to_string(),
            MetricValue::Double(v) => double_to_string(*v),
            MetricValue::Text(v) => v.clone(),
        };
        let _ = writeln!(out, "zk_{key}\t{value}");
    };
    line("version", &MetricValue::Text(snap.version.clone()));
    line("server_state", &MetricValue::Text(snap.mode.to_owned()));
    if let Some(quorum) = &snap.quorum {
        line("peer_state", &MetricValue::Text(quorum.peer_state.clone()));
        if let Some(id) = quorum.observer_master_id {
            line("observer_master_id", &MetricValue::Int(id));
        }
    }
    let gauges = gauges(snap);
    let names: Vec<&str> = gauges.iter().map(|(name, _)| *name).collect();
    for index in concurrent_hash_map_order(&names) {
        if let (name, Some(value)) = &gauges[index] {
            line(name, value);
        }
    }
    for (key, value) in &snap.extra_metrics {
        line(key, value);
    }
    out
}

/// The gauges in `registerMetrics` order: `ZooKeeperServer`, then
/// `QuorumZooKeeperServer`, then `LeaderZooKeeperServer` or
/// `FollowerZooKeeperServer`. A gauge whose value is null (`None`) is not
/// printed but is still in the map, where it shapes the iteration order.
fn gauges(snap: &ServerSnapshot) -> Vec<(&'static str, Option<MetricValue>)> {
    let int = |v: u64| Some(MetricValue::Int(i64::try_from(v).unwrap_or(i64::MAX)));
    let signed = |v: i64| Some(MetricValue::Int(v));
    let double = |v: f64| Some(MetricValue::Double(v));
    let mut gauges = vec![
        ("avg_latency", double(round_half_up_4(snap.latency_avg_ms))),
        ("max_latency", int(snap.latency_max_ms)),
        ("min_latency", int(snap.latency_min_ms)),
        ("packets_received", int(snap.packets_received)),
        ("packets_sent", int(snap.packets_sent)),
        ("num_alive_connections", int(snap.connections.len() as u64)),
        ("outstanding_requests", int(snap.outstanding)),
        ("uptime", int(snap.uptime_ms)),
        ("znode_count", int(snap.node_count)),
        ("watch_count", int(snap.watch_count)),
        ("ephemerals_count", int(snap.ephemerals_count)),
        ("approximate_data_size", int(snap.approximate_data_size)),
        ("global_sessions", int(snap.global_sessions)),
        ("local_sessions", int(snap.local_sessions)),
        ("open_file_descriptor_count", int(snap.open_fds)),
        ("max_file_descriptor_count", int(snap.max_fds)),
        (
            "connection_drop_probability",
            double(snap.connection_drop_probability),
        ),
        (
            "last_client_response_size",
            signed(snap.client_response_size_last),
        ),
        (
            "max_client_response_size",
            signed(snap.client_response_size_max),
        ),
        (
            "min_client_response_size",
            signed(snap.client_response_size_min),
        ),
        ("outstanding_tls_handshake", int(0)),
        ("auth_failed_count", int(snap.auth_failed_count)),
        ("non_mtls_remote_conn_count", int(0)),
        ("non_mtls_local_conn_count", int(0)),
    ];
    let Some(quorum) = &snap.quorum else {
        return gauges;
    };
    gauges.push(("quorum_size", int(quorum.quorum_size)));
    let observers = quorum.synced_observers.and_then(int);
    match (snap.mode, &quorum.leader) {
        ("leader", Some(leader)) => gauges.extend([
            ("learners", int(leader.learners)),
            ("synced_followers", int(leader.synced_followers)),
            (
                "synced_non_voting_followers",
                int(leader.synced_non_voting_followers),
            ),
            ("synced_observers", observers),
            ("pending_syncs", int(leader.pending_syncs)),
            ("leader_uptime", int(leader.leader_uptime_ms)),
            ("last_proposal_size", signed(leader.proposal_size_last)),
            ("max_proposal_size", signed(leader.proposal_size_max)),
            ("min_proposal_size", signed(leader.proposal_size_min)),
        ]),
        ("follower", _) => gauges.push(("synced_observers", observers)),
        _ => {}
    }
    gauges
}
