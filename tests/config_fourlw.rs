//! Four-letter-word replies, compared byte for byte with what a real ZooKeeper
//! printed (Debian's zookeeper 3.8.0 on Java 17, `tests/fixtures/4lw/`; the 3.8
//! and 3.9.3 command sources are identical for these formats). Each test fills a
//! snapshot with the state the reference server had and sets `version` to the
//! reference server's version string.

use std::net::SocketAddr;
use std::path::Path;

use corekeeper::admin::{
    full_version, not_whitelisted, render, ConnectionInfo, FourLetterWord, LeaderStats,
    MetricValue, QuorumSnapshot, ServerSnapshot, SideEffect, ZK_NOT_SERVING,
};
use corekeeper::config::Config;

const REF_VERSION: &str = "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC";
const SESSION_A: i64 = 0x100000796720000;
const SESSION_B: i64 = 0x100000796720001;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/4lw")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The reference standalone server's zoo.cfg.
fn ref_config() -> Config {
    Config::parse(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zkref/data\n\
         clientPort=32181\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n\
         admin.enableServer=false\n",
        None,
    )
    .unwrap()
}

/// The connection that asks: not reading any more, one packet (the word) received.
fn asking(remote: &str) -> ConnectionInfo {
    ConnectionInfo {
        remote: addr(remote),
        interest_ops: 0,
        received: 1,
        ..ConnectionInfo::default()
    }
}

/// Two kazoo sessions with watches and ephemerals, as in the reference run.
fn busy() -> ServerSnapshot {
    ServerSnapshot {
        version: REF_VERSION.to_owned(),
        zxid: 7,
        node_count: 10,
        watch_count: 5,
        watched_paths: 3,
        ephemerals_count: 3,
        approximate_data_size: 94,
        global_sessions: 2,
        ..ServerSnapshot::default()
    }
}

fn session_b_connection() -> ConnectionInfo {
    ConnectionInfo {
        remote: addr("127.0.0.1:50286"),
        received: 5,
        sent: 5,
        session_id: SESSION_B,
        last_op: "EXIS",
        established_ms: 1795312236466,
        timeout_ms: 10000,
        last_cxid: 4,
        last_zxid: 7,
        last_response_ms: 527045,
        last_latency_ms: 1,
        min_latency_ms: 0,
        avg_latency_ms: 3,
        max_latency_ms: 10,
        ..ConnectionInfo::default()
    }
}

fn session_a_connection() -> ConnectionInfo {
    ConnectionInfo {
        remote: addr("127.0.0.1:50274"),
        received: 10,
        sent: 10,
        session_id: SESSION_A,
        last_op: "GETD",
        established_ms: 1795312236422,
        timeout_ms: 10000,
        last_cxid: 9,
        last_zxid: 7,
        last_response_ms: 527039,
        last_latency_ms: 0,
        min_latency_ms: 0,
        avg_latency_ms: 3,
        max_latency_ms: 14,
        ..ConnectionInfo::default()
    }
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

#[test]
fn ruok_isro_gtmk_crst_srst() {
    let snap = busy();
    let config = ref_config();
    for (word, file) in [
        (FourLetterWord::Ruok, "standalone-ruok.txt"),
        (FourLetterWord::Isro, "standalone-isro.txt"),
        (FourLetterWord::Gtmk, "standalone-gtmk.txt"),
        (FourLetterWord::Crst, "standalone-crst.txt"),
        (FourLetterWord::Srst, "standalone-srst.txt"),
    ] {
        assert_eq!(render(word, &snap, &config), fixture(file), "{word}");
    }
}

#[test]
fn srvr_matches_reference() {
    let mut snap = busy();
    snap.packets_received = 1;
    snap.packets_sent = 1;
    snap.connections = vec![
        session_b_connection(),
        session_a_connection(),
        asking("127.0.0.1:50400"),
    ];
    assert_eq!(
        render(FourLetterWord::Srvr, &snap, &ref_config()),
        fixture("standalone-srvr.txt")
    );
}

#[test]
fn srvr_layout_line_by_line() {
    let snap = ServerSnapshot {
        version: "V".to_owned(),
        latency_min_ms: 1,
        latency_avg_ms: 4.0 / 15.0,
        latency_max_ms: 9,
        packets_received: 20,
        packets_sent: 19,
        outstanding: 2,
        zxid: 0x1_0000_002a,
        node_count: 12,
        connections: vec![asking("127.0.0.1:1")],
        ..ServerSnapshot::default()
    };
    let text = render(FourLetterWord::Srvr, &snap, &ref_config());
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(
        lines,
        [
            "Zookeeper version: V",
            "Latency min/avg/max: 1/0.2667/9",
            "Received: 20",
            "Sent: 19",
            "Connections: 1",
            "Outstanding: 2",
            "Zxid: 0x10000002a",
            "Mode: standalone",
            "Node count: 12",
            "",
        ]
    );
}

#[test]
fn stat_matches_reference() {
    let mut snap = busy();
    snap.latency_avg_ms = 36.0 / 10.0;
    snap.latency_max_ms = 14;
    snap.packets_received = 20;
    snap.packets_sent = 19;
    snap.connections = vec![
        session_b_connection(),
        asking("127.0.0.1:50308"),
        session_a_connection(),
    ];
    assert_eq!(
        render(FourLetterWord::Stat, &snap, &ref_config()),
        fixture("standalone-stat.txt")
    );
}

#[test]
fn cons_matches_reference() {
    let mut snap = busy();
    snap.connections = vec![
        session_b_connection(),
        session_a_connection(),
        asking("127.0.0.1:50298"),
    ];
    assert_eq!(
        render(FourLetterWord::Cons, &snap, &ref_config()),
        fixture("standalone-cons.txt")
    );
}

#[test]
fn cons_after_crst_matches_reference() {
    let mut snap = busy();
    let reset = ConnectionInfo {
        remote: addr("127.0.0.1:55400"),
        session_id: 0x100000796720002,
        established_ms: 1795312282981,
        timeout_ms: 10000,
        ..ConnectionInfo::default()
    };
    snap.connections = vec![reset, asking("127.0.0.1:55426")];
    assert_eq!(
        render(FourLetterWord::Cons, &snap, &ref_config()),
        fixture("standalone-cons-after-crst.txt")
    );
}

#[test]
fn dump_matches_reference() {
    let mut snap = busy();
    let connections_expire = 1_795_312_249_000;
    snap.sessions_by_expiry = vec![(1_795_312_247_000, vec![SESSION_B, SESSION_A])];
    snap.ephemerals_by_session = vec![
        (SESSION_B, paths(&["/app/member"])),
        (SESSION_A, paths(&["/app/lock-2", "/app/lock-1"])),
    ];
    snap.connections = vec![
        ConnectionInfo {
            expires_at_ms: connections_expire,
            ..session_b_connection()
        },
        ConnectionInfo {
            expires_at_ms: connections_expire,
            ..asking("127.0.0.1:50324")
        },
        ConnectionInfo {
            expires_at_ms: connections_expire,
            ..session_a_connection()
        },
    ];
    assert_eq!(
        render(FourLetterWord::Dump, &snap, &ref_config()),
        fixture("standalone-dump.txt")
    );
}

#[test]
fn follower_dump_matches_reference() {
    let snap = ServerSnapshot {
        version: REF_VERSION.to_owned(),
        mode: "follower",
        connections: vec![ConnectionInfo {
            expires_at_ms: 1_795_313_119_000,
            ..asking("127.0.0.1:39200")
        }],
        ..ServerSnapshot::default()
    };
    assert_eq!(
        render(FourLetterWord::Dump, &snap, &ref_config()),
        fixture("follower-dump.txt")
    );
}

#[test]
fn follower_dump_lists_global_sessions_with_timeouts() {
    let snap = ServerSnapshot {
        mode: "follower",
        session_timeouts_ms: vec![(0x2a, 30000), (0x7, 4000)],
        ..ServerSnapshot::default()
    };
    let text = render(FourLetterWord::Dump, &snap, &ref_config());
    assert!(text.starts_with(
        "SessionTracker dump:\nGlobal Sessions(2):\n0x7\t4000ms\n0x2a\t30000ms\nephemeral nodes dump:\n"
    ));
}

#[test]
fn watch_words_match_reference() {
    let config = ref_config();
    let mut snap = busy();
    snap.watches_by_session = vec![
        (SESSION_B, paths(&["/app/config", "/nope"])),
        (SESSION_A, paths(&["/app", "/app/config"])),
    ];
    assert_eq!(
        render(FourLetterWord::Wchs, &snap, &config),
        fixture("standalone-wchs.txt")
    );
    assert_eq!(
        render(FourLetterWord::Wchc, &snap, &config),
        fixture("standalone-wchc.txt")
    );
    // wchp lists a path's sessions in `watches_by_session` order.
    snap.watches_by_session.reverse();
    assert_eq!(
        render(FourLetterWord::Wchp, &snap, &config),
        fixture("standalone-wchp.txt")
    );
}

#[test]
fn conf_matches_reference() {
    let snap = ServerSnapshot {
        data_dir_size: 67109337,
        log_dir_size: 67109337,
        ..busy()
    };
    assert_eq!(
        render(FourLetterWord::Conf, &snap, &ref_config()),
        fixture("standalone-conf.txt")
    );
}

#[test]
fn leader_conf_matches_reference() {
    let mut config = Config::parse(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zkq/3/data\nclientPort=32193\n\
         4lw.commands.whitelist=*\nadmin.enableServer=false\n\
         server.1=127.0.0.1:32281:32381\nserver.2=127.0.0.1:32282:32382\n\
         server.3=127.0.0.1:32283:32383;32193\n",
        None,
    )
    .unwrap();
    config.server_id = 3;
    let snap = ServerSnapshot {
        version: REF_VERSION.to_owned(),
        mode: "leader",
        data_dir_size: 611,
        log_dir_size: 611,
        quorum: Some(QuorumSnapshot {
            peer_state: "leading - broadcast".to_owned(),
            quorum_size: 3,
            config_version: 0,
            synced_observers: Some(0),
            leader: Some(LeaderStats::default()),
            observer_master_id: None,
        }),
        ..ServerSnapshot::default()
    };
    let text = render(FourLetterWord::Conf, &snap, &config);
    assert_eq!(text, fixture("leader-conf.txt"));
    // Solr splits conf on '=' and tolerates only the `membership:` line without one.
    for line in text.lines() {
        assert!(
            line.contains('=') || line.starts_with("membership:"),
            "{line}"
        );
    }
}

#[test]
fn envi_matches_reference() {
    let reference = fixture("standalone-envi.txt");
    let env: Vec<(String, String)> = reference
        .lines()
        .skip(2) // "Environment:" and zookeeper.version, which render adds
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let snap = ServerSnapshot { env, ..busy() };
    assert_eq!(
        render(FourLetterWord::Envi, &snap, &ref_config()),
        reference
    );
}

#[test]
fn dirs_matches_reference() {
    let snap = ServerSnapshot {
        data_dir_size: 67109337,
        log_dir_size: 67109337,
        ..busy()
    };
    assert_eq!(
        render(FourLetterWord::Dirs, &snap, &ref_config()),
        fixture("standalone-dirs.txt")
    );
}

#[test]
fn standalone_mntr_matches_reference() {
    let snap = ServerSnapshot {
        latency_avg_ms: 3.6,
        latency_max_ms: 14,
        packets_received: 25,
        packets_sent: 24,
        connections: vec![
            session_b_connection(),
            session_a_connection(),
            asking("127.0.0.1:1"),
        ],
        uptime_ms: 30607,
        open_fds: 41,
        max_fds: 20000,
        client_response_size_last: 16,
        client_response_size_min: 16,
        client_response_size_max: 88,
        ..busy()
    };
    // The reference continues with ServerMetrics counters we do not print yet.
    assert_eq!(
        render(FourLetterWord::Mntr, &snap, &ref_config()),
        fixture("standalone-mntr-head.txt")
    );
}

#[test]
fn leader_mntr_matches_reference() {
    let snap = ServerSnapshot {
        version: REF_VERSION.to_owned(),
        mode: "leader",
        packets_received: 4,
        packets_sent: 3,
        connections: vec![asking("127.0.0.1:1")],
        approximate_data_size: 196,
        open_fds: 44,
        max_fds: 20000,
        uptime_ms: 10452,
        quorum: Some(QuorumSnapshot {
            peer_state: "leading - broadcast".to_owned(),
            quorum_size: 3,
            config_version: 0x1_0000_0000,
            synced_observers: Some(0),
            leader: Some(LeaderStats {
                learners: 2,
                synced_followers: 2,
                synced_non_voting_followers: 0,
                pending_syncs: 0,
                leader_uptime_ms: 10284,
                proposal_size_last: -1,
                proposal_size_min: -1,
                proposal_size_max: -1,
            }),
            observer_master_id: None,
        }),
        ..ServerSnapshot::default()
    };
    assert_eq!(
        render(FourLetterWord::Mntr, &snap, &ref_config()),
        fixture("leader-mntr-head.txt")
    );
}

#[test]
fn leader_srvr_matches_reference() {
    let snap = ServerSnapshot {
        version: REF_VERSION.to_owned(),
        mode: "leader",
        zxid: 0x1_0000_0000,
        packets_received: 2,
        packets_sent: 1,
        connections: vec![asking("127.0.0.1:1")],
        quorum: Some(QuorumSnapshot {
            peer_state: "leading - broadcast".to_owned(),
            quorum_size: 3,
            config_version: 0,
            synced_observers: Some(0),
            leader: Some(LeaderStats {
                proposal_size_last: -1,
                proposal_size_min: -1,
                proposal_size_max: -1,
                ..LeaderStats::default()
            }),
            observer_master_id: None,
        }),
        ..ServerSnapshot::default()
    };
    assert_eq!(
        render(FourLetterWord::Srvr, &snap, &ref_config()),
        fixture("leader-srvr.txt")
    );
}

#[test]
fn follower_mntr_matches_reference() {
    let snap = ServerSnapshot {
        version: REF_VERSION.to_owned(),
        mode: "follower",
        packets_received: 4,
        packets_sent: 3,
        connections: vec![asking("127.0.0.1:1")],
        approximate_data_size: 196,
        open_fds: 42,
        max_fds: 20000,
        uptime_ms: 9097,
        quorum: Some(QuorumSnapshot {
            peer_state: "following - broadcast".to_owned(),
            quorum_size: 3,
            config_version: 0x1_0000_0000,
            synced_observers: None,
            leader: None,
            observer_master_id: None,
        }),
        ..ServerSnapshot::default()
    };
    assert_eq!(
        render(FourLetterWord::Mntr, &snap, &ref_config()),
        fixture("follower-mntr-head.txt")
    );
}

#[test]
fn mntr_observer_and_extra_metrics() {
    let snap = ServerSnapshot {
        version: "V".to_owned(),
        mode: "observer",
        quorum: Some(QuorumSnapshot {
            peer_state: "observing - broadcast".to_owned(),
            quorum_size: 3,
            config_version: 0,
            synced_observers: None,
            leader: None,
            observer_master_id: Some(2),
        }),
        extra_metrics: vec![
            ("fsynctime_avg".to_owned(), MetricValue::Double(2.5)),
            ("proposal_count".to_owned(), MetricValue::Int(7)),
            ("label".to_owned(), MetricValue::Text("x y".to_owned())),
        ],
        ..ServerSnapshot::default()
    };
    let text = render(FourLetterWord::Mntr, &snap, &ref_config());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..4],
        [
            "zk_version\tV",
            "zk_server_state\tobserver",
            "zk_peer_state\tobserving - broadcast",
            "zk_observer_master_id\t2"
        ]
    );
    assert_eq!(
        &lines[lines.len() - 3..],
        [
            "zk_fsynctime_avg\t2.5",
            "zk_proposal_count\t7",
            "zk_label\tx y"
        ]
    );
    assert!(lines.contains(&"zk_quorum_size\t3"));
    assert!(!text.contains("zk_learners"));
    // Solr splits every line on TAB and expects at least two fields.
    assert!(lines.iter().all(|l| l.split('\t').count() == 2));
}

#[test]
fn not_whitelisted_matches_reference() {
    assert_eq!(
        not_whitelisted(FourLetterWord::Ruok),
        fixture("not-whitelisted-ruok.txt")
    );
    assert_eq!(
        not_whitelisted(FourLetterWord::Mntr),
        "mntr is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn words_while_not_serving() {
    let snap = ServerSnapshot {
        serving: false,
        ..ServerSnapshot::default()
    };
    let config = ref_config();
    let line = format!("{ZK_NOT_SERVING}\n");
    for word in [
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Srst,
        FourLetterWord::Conf,
        FourLetterWord::Dump,
        FourLetterWord::Wchs,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Mntr,
        FourLetterWord::Dirs,
    ] {
        assert_eq!(render(word, &snap, &config), line, "{word}");
    }
    assert_eq!(render(FourLetterWord::Hash, &snap, &config), ZK_NOT_SERVING);
    assert_eq!(render(FourLetterWord::Ruok, &snap, &config), "imok");
    assert_eq!(render(FourLetterWord::Isro, &snap, &config), "null");
    assert_eq!(render(FourLetterWord::Gtmk, &snap, &config), "306");
    assert!(render(FourLetterWord::Envi, &snap, &config).starts_with("Environment:\n"));
}

#[test]
fn read_only_mode() {
    let snap = ServerSnapshot {
        version: "V".to_owned(),
        mode: "read-only",
        ..ServerSnapshot::default()
    };
    let config = ref_config();
    assert_eq!(render(FourLetterWord::Isro, &snap, &config), "ro");
    let srvr = render(FourLetterWord::Srvr, &snap, &config);
    assert!(srvr.starts_with(
        "Zookeeper version: V\nREAD-ONLY mode; serving only read-only clients\nLatency"
    ));
    assert!(srvr.contains("\nMode: read-only\n"));
}

#[test]
fn hash_and_trace_mask() {
    let snap = ServerSnapshot {
        digests: vec![(0x100000080, 123456789), (0x100000100, -5)],
        trace_mask: 0x1ff,
        ..ServerSnapshot::default()
    };
    let config = ref_config();
    assert_eq!(
        render(FourLetterWord::Hash, &snap, &config),
        "100000080: 123456789\n100000100: -5\n"
    );
    assert_eq!(render(FourLetterWord::Stmk, &snap, &config), "511");
    assert_eq!(
        FourLetterWord::Stmk.side_effect(),
        Some(SideEffect::SetTraceMask)
    );
    assert_eq!(
        FourLetterWord::Crst.side_effect(),
        Some(SideEffect::ResetConnectionStats)
    );
    assert_eq!(
        FourLetterWord::Srst.side_effect(),
        Some(SideEffect::ResetServerStats)
    );
    assert_eq!(FourLetterWord::Mntr.side_effect(), None);
}

#[test]
fn ipv6_connections_print_like_java() {
    let snap = ServerSnapshot {
        connections: vec![ConnectionInfo {
            remote: addr("[::1]:40000"),
            interest_ops: 5,
            ..ConnectionInfo::default()
        }],
        ..ServerSnapshot::default()
    };
    assert_eq!(
        render(FourLetterWord::Cons, &snap, &ref_config()),
        " /[0:0:0:0:0:0:0:1]:40000[5](queued=0,recved=0,sent=0)\n\n"
    );
}

#[test]
fn empty_server_words() {
    let snap = ServerSnapshot::default();
    let config = ref_config();
    assert_eq!(
        render(FourLetterWord::Wchs, &snap, &config),
        "0 connections watching 0 paths\nTotal watches:0\n"
    );
    assert_eq!(render(FourLetterWord::Wchc, &snap, &config), "\n");
    assert_eq!(render(FourLetterWord::Wchp, &snap, &config), "\n");
    assert_eq!(render(FourLetterWord::Cons, &snap, &config), "\n");
    assert_eq!(render(FourLetterWord::Hash, &snap, &config), "");
    assert_eq!(
        render(FourLetterWord::Dump, &snap, &config),
        "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\n\
         Sessions with Ephemerals (0):\nConnections dump:\nConnections Sets (0)/(0):\n"
    );
}

#[test]
fn words_from_bytes() {
    for word in FourLetterWord::ALL {
        let bytes: [u8; 4] = word.as_str().as_bytes().try_into().unwrap();
        assert_eq!(FourLetterWord::from_bytes(bytes), Some(word));
        assert_eq!(FourLetterWord::from_name(word.as_str()), Some(word));
        assert_eq!(word.code(), i32::from_be_bytes(bytes));
    }
    assert_eq!(FourLetterWord::Ruok.code(), 0x72756f6b);
    assert_eq!(FourLetterWord::from_bytes(*b"RUOK"), None);
    assert_eq!(FourLetterWord::from_bytes([0, 0, 0, 45]), None);
    assert_eq!(FourLetterWord::from_bytes([0xff, 0xf4, 0xff, 0xfd]), None);
}

#[test]
fn version_string_suits_parsers() {
    let version = full_version();
    assert!(version.starts_with("3.9.3-corekeeper-"), "{version}");
    assert!(version.contains(", built on "));
    assert!(!version.contains(['\t', '=', '\n']));
    // Datadog: `Zookeeper version: ([^.]+)\.([^.]+)\.([^-]+)` -> 3, 9, 3.
    let (major, rest) = version.split_once('.').unwrap();
    let (minor, rest) = rest.split_once('.').unwrap();
    let micro = rest.split('-').next().unwrap();
    assert_eq!((major, minor, micro), ("3", "9", "3"));
    // zkServer.sh status greps srvr for "Mode".
    let srvr = render(
        FourLetterWord::Srvr,
        &ServerSnapshot::default(),
        &ref_config(),
    );
    assert!(srvr.starts_with(&format!("Zookeeper version: {version}\n")));
    assert_eq!(
        srvr.lines()
            .filter(|l| l.contains("Mode"))
            .collect::<Vec<_>>(),
        ["Mode: standalone"]
    );
}
