//! What the runtime gathers for a four-letter-word reply.
//!
//! Plain data, filled by the runtime on the core that serves the word (from its
//! own counters plus whatever it collects from the other cores) and read by
//! [`super::render`]. Times are milliseconds; "wall" times are since the Unix
//! epoch, the rest are whatever clock the runtime counts in, printed as given.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{full_version, TRACE_MASK_DEFAULT};

/// The state of one server at the moment a word is served.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSnapshot {
    /// False while the server is not serving clients (election, sync, shutdown):
    /// most words then print [`super::ZK_NOT_SERVING`], as ZooKeeper does when its
    /// `zkServer` is absent or not running.
    pub serving: bool,
    /// The version line body; [`full_version`] unless testing.
    pub version: String,
    /// `standalone`, `leader`, `follower`, `observer` or `read-only`
    /// (`ZooKeeperServer.getState()` of the serving role).
    pub mode: &'static str,
    /// Last processed zxid.
    pub zxid: i64,
    /// Smallest request latency since the last `srst` (0 if none).
    pub latency_min_ms: u64,
    /// Mean request latency since the last `srst`, unrounded (0 if none); printed
    /// rounded half-up to 4 places, as `AvgMinMaxCounter.getAvg` does.
    pub latency_avg_ms: f64,
    /// Largest request latency since the last `srst` (0 if none).
    pub latency_max_ms: u64,
    /// Packets received from clients since the last `srst`.
    pub packets_received: u64,
    /// Packets sent to clients since the last `srst`.
    pub packets_sent: u64,
    /// Requests received and not yet answered.
    pub outstanding: u64,
    /// Nodes in the tree, as ZooKeeper counts them: its `nodes` map holds the
    /// root twice (`""` and `"/"`), so a fresh server reports 5, not 4.
    pub node_count: u64,
    /// Data plus child watches (`DataTree.getWatchCount`, `mntr zk_watch_count`).
    pub watch_count: u64,
    /// Distinct paths with a data watch (the `M` of `wchs`).
    pub watched_paths: u64,
    /// Ephemeral nodes.
    pub ephemerals_count: u64,
    /// Sum of path lengths plus data lengths (`DataTree.approximateDataSize`).
    pub approximate_data_size: u64,
    /// Global (replicated) sessions.
    pub global_sessions: u64,
    /// Local sessions (`localSessionsEnabled`).
    pub local_sessions: u64,
    /// Open file descriptors of the process.
    pub open_fds: u64,
    /// File descriptor limit of the process.
    pub max_fds: u64,
    /// Time since the server started serving.
    pub uptime_ms: u64,
    /// Size of the last reply to a client, -1 if none since the last `srst`.
    pub client_response_size_last: i64,
    /// Smallest reply to a client, -1 if none since the last `srst`.
    pub client_response_size_min: i64,
    /// Largest reply to a client, -1 if none since the last `srst`.
    pub client_response_size_max: i64,
    /// Probability that a new connection is dropped by the connection throttle.
    pub connection_drop_probability: f64,
    /// Failed authentications.
    pub auth_failed_count: u64,
    /// Every client connection, including the one asking (which shows
    /// `interest_ops` 0 and `received` 1, as the word itself counts as a packet).
    /// Their number is `Connections:` in `srvr`.
    pub connections: Vec<ConnectionInfo>,
    /// Session expiry buckets: (wall time the bucket expires, session ids),
    /// ascending (`ExpiryQueue`). Printed by `dump` on a standalone server/leader.
    pub sessions_by_expiry: Vec<(i64, Vec<i64>)>,
    /// (session id, timeout) of every global session: what a follower or an
    /// observer prints in `dump` (`LearnerSessionTracker.dumpSessions`).
    pub session_timeouts_ms: Vec<(i64, i64)>,
    /// Ephemeral paths by owning session (`dump`).
    pub ephemerals_by_session: Vec<(i64, Vec<String>)>,
    /// Data-watched paths by session, sessions with none left out. ZooKeeper's
    /// `wchs`/`wchc`/`wchp` list data watches (`getData`, `exists`, persistent)
    /// only, not child watches.
    pub watches_by_session: Vec<(i64, Vec<String>)>,
    /// Bytes in the snapshot directory (`dirs`, `conf dataDirSize`).
    pub data_dir_size: u64,
    /// Bytes in the transaction log directory (`dirs`, `conf dataLogSize`).
    pub log_dir_size: u64,
    /// `envi` entries after `zookeeper.version` (which [`super::render`] adds), in
    /// ZooKeeper's order where they apply: `host.name`, `os.name`, `os.arch`,
    /// `os.version`, `user.name`, `user.home`, `user.dir`, then anything else.
    pub env: Vec<(String, String)>,
    /// Current text trace mask (`gtmk`; `stmk` echoes it after the runtime set it).
    pub trace_mask: i64,
    /// Recorded tree digests, (zxid, digest), oldest first (`hash`).
    pub digests: Vec<(i64, i64)>,
    /// Ensemble state; `None` for a standalone server.
    pub quorum: Option<QuorumSnapshot>,
    /// Metrics printed by `mntr` after the gauges, in this order: the place for
    /// ZooKeeper's `ServerMetrics` counters and summaries as we implement them
    /// (`name` without the `zk_` prefix).
    pub extra_metrics: Vec<(String, MetricValue)>,
}

impl Default for ServerSnapshot {
    /// A freshly started, idle standalone server.
    fn default() -> Self {
        ServerSnapshot {
            serving: true,
            version: full_version(),
            mode: "standalone",
            zxid: 0,
            latency_min_ms: 0,
            latency_avg_ms: 0.0,
            latency_max_ms: 0,
            packets_received: 0,
            packets_sent: 0,
            outstanding: 0,
            node_count: 5,
            watch_count: 0,
            watched_paths: 0,
            ephemerals_count: 0,
            approximate_data_size: 0,
            global_sessions: 0,
            local_sessions: 0,
            open_fds: 0,
            max_fds: 0,
            uptime_ms: 0,
            client_response_size_last: -1,
            client_response_size_min: -1,
            client_response_size_max: -1,
            connection_drop_probability: 0.0,
            auth_failed_count: 0,
            connections: Vec::new(),
            sessions_by_expiry: Vec::new(),
            session_timeouts_ms: Vec::new(),
            ephemerals_by_session: Vec::new(),
            watches_by_session: Vec::new(),
            data_dir_size: 0,
            log_dir_size: 0,
            env: Vec::new(),
            trace_mask: TRACE_MASK_DEFAULT,
            digests: Vec::new(),
            quorum: None,
            extra_metrics: Vec::new(),
        }
    }
}

/// One client connection, as `ServerCnxn.dumpConnectionInfo` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    /// NIO interest set ZooKeeper prints in brackets: 1 reading, 0 not reading
    /// (throttled, or the connection serving this word), 5 reading and writing.
    pub interest_ops: u32,
    /// Requests received and not yet answered.
    pub queued: u64,
    /// Packets received since the last `crst`.
    pub received: u64,
    /// Packets sent since the last `crst`.
    pub sent: u64,
    /// Session id, 0 before the handshake (then `cons` prints the brief form).
    pub session_id: i64,
    /// ZooKeeper's short name of the last operation answered (`Request.op2String`:
    /// `GETD`, `SETD`, `EXIS`, `PING`, `SESS`, ...), `NA` after `crst`.
    pub last_op: &'static str,
    /// Wall time the connection was accepted.
    pub established_ms: i64,
    /// Negotiated session timeout.
    pub timeout_ms: i64,
    /// Last client xid answered, -1 if none (then not printed).
    pub last_cxid: i64,
    /// Last zxid answered, -1 if none.
    pub last_zxid: i64,
    /// Time of the last reply (ZooKeeper prints its monotonic clock here), 0 if none.
    pub last_response_ms: i64,
    /// Latency of the last request.
    pub last_latency_ms: i64,
    /// Smallest request latency, 0 if none.
    pub min_latency_ms: i64,
    /// Mean request latency, integer division as ZooKeeper's per-connection stats.
    pub avg_latency_ms: i64,
    /// Largest request latency.
    pub max_latency_ms: i64,
    /// Wall time at which the connection is closed if it stays idle: the bucket
    /// `dump` files it under (`NIOServerCnxnFactory.cnxnExpiryQueue`).
    pub expires_at_ms: i64,
}

impl Default for ConnectionInfo {
    /// A connection with reset statistics (`ServerCnxn.resetStats`).
    fn default() -> Self {
        ConnectionInfo {
            remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            interest_ops: 1,
            queued: 0,
            received: 0,
            sent: 0,
            session_id: 0,
            last_op: "NA",
            established_ms: 0,
            timeout_ms: 0,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: 0,
            avg_latency_ms: 0,
            max_latency_ms: 0,
            expires_at_ms: 0,
        }
    }
}

/// Ensemble state of a quorum member (`QuorumZooKeeperServer` and subclasses).
#[derive(Clone, Debug, PartialEq)]
pub struct QuorumSnapshot {
    /// `QuorumPeer.getDetailedPeerState`: `following - broadcast`, `leading -
    /// broadcast`, `observing - synchronization - diff`, ...
    pub peer_state: String,
    /// Voting members (`QuorumPeer.getQuorumSize`).
    pub quorum_size: u64,
    /// Version of the ensemble configuration (`version=` in `conf`, hex).
    pub config_version: i64,
    /// Observers synced to this server: always `Some` on a leader; on a follower
    /// only while it serves observers (`observerMasterPort`), else `None` and
    /// `mntr` leaves `zk_synced_observers` out, as ZooKeeper's null gauge does.
    pub synced_observers: Option<u64>,
    /// Leader-only statistics; `Some` exactly when `mode` is `leader`.
    pub leader: Option<LeaderStats>,
    /// The learner master an observer follows; `Some` exactly for an observer.
    pub observer_master_id: Option<i64>,
}

/// Statistics only a leader has (`LeaderZooKeeperServer.registerMetrics`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeaderStats {
    /// Connected learners (followers and observers).
    pub learners: u64,
    /// Followers in broadcast.
    pub synced_followers: u64,
    /// Non-voting followers in broadcast.
    pub synced_non_voting_followers: u64,
    /// Outstanding `sync` requests.
    pub pending_syncs: u64,
    /// Time since this server became leader.
    pub leader_uptime_ms: u64,
    /// Size of the last proposal, -1 if none since the last `srst`.
    pub proposal_size_last: i64,
    /// Smallest proposal, -1 if none since the last `srst`.
    pub proposal_size_min: i64,
    /// Largest proposal, -1 if none since the last `srst`.
    pub proposal_size_max: i64,
}

/// A value in `mntr`, printed as `MonitorCommand.print` does: integers plain,
/// other numbers as a Java `double`, text as is.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// A Java `Integer`/`Long`.
    Int(i64),
    /// Any other Java `Number`, printed by `Double.toString`.
    Double(f64),
    /// A string.
    Text(String),
}
