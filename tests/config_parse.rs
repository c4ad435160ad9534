//! `zoo.cfg` parsing: every rule and every error message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use corekeeper::admin::FourLetterWord;
use corekeeper::config::{
    Config, ConfigError, FourLetterWhitelist, PeerAddress, PeerRole, ServerMode, ServerSpec,
};
use corekeeper::constants;

/// A Debian-style `/etc/zookeeper/conf/zoo.cfg` for a three-node ensemble with
/// an observer, autopurge, a few system-property keys and two keys nobody knows.
const DEBIAN_ZOO_CFG: &str = "\
# Managed by the ops team; see zookeeperAdmin.html

# The number of milliseconds of each tick
tickTime=2000
# The number of ticks that the initial
# synchronization phase can take
initLimit=10
# The number of ticks that can pass between
# sending a request and getting an acknowledgement
syncLimit=5
# the directory where the snapshot is stored.
dataDir=/var/lib/zookeeper
# Place the dataLogDir to a separate physical disc for better performance
dataLogDir=/disk2/zookeeper

# the port at which the clients will connect
clientPort=2181
maxClientCnxns=100

# specify all zookeeper servers
# The fist port is used by followers to connect to the leader
# The second one is used for leader election
server.1=zookeeper1:2888:3888
server.2=zookeeper2:2888:3888
server.3=zookeeper3:2888:3888
server.4=zookeeper4:2888:3888:observer;2181

#preAllocSize=65536
#snapCount=1000
#leaderServes=yes

autopurge.snapRetainCount=5
autopurge.purgeInterval=24

4lw.commands.whitelist=srvr, mntr, ruok, conf
zookeeper.snapCount=50000
traceFile=/var/log/zookeeper/trace
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
metricsProvider.httpPort=7000
myCompanyTag=blue
zookeeper.someFutureKnob=1
";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Some(Path::new("zoo.cfg")))
}

fn ok(text: &str) -> Config {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const MIN: &str = "dataDir=/data\n";

#[test]
fn debian_zoo_cfg() {
    let c = ok(DEBIAN_ZOO_CFG);
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!((c.init_limit, c.sync_limit), (10, 5));
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/zookeeper"));
    assert_eq!(c.data_log_dir, PathBuf::from("/disk2/zookeeper"));
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.client_port_address, None);
    assert_eq!(c.max_client_cnxns, 100);
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (4000, 40000)
    );
    assert_eq!(c.autopurge_snap_retain_count, 5);
    assert_eq!(c.autopurge_purge_interval_hours, 24);
    assert_eq!(c.snap_count, 50000);
    assert_eq!(c.mode(), ServerMode::Quorum);
    assert_eq!(c.servers.len(), 4);
    assert_eq!(
        c.servers[0],
        ServerSpec {
            id: 1,
            host: "zookeeper1".to_owned(),
            quorum_port: 2888,
            election_port: 3888,
            alt_addresses: vec![],
            role: PeerRole::Participant,
            client_host: None,
            client_port: None,
        }
    );
    assert_eq!(c.servers[3].role, PeerRole::Observer);
    assert_eq!(c.servers[3].client_host.as_deref(), Some("0.0.0.0"));
    assert_eq!(c.servers[3].client_port, Some(2181));
    let wl = c.four_letter_words;
    for word in [
        FourLetterWord::Srvr,
        FourLetterWord::Mntr,
        FourLetterWord::Ruok,
        FourLetterWord::Conf,
    ] {
        assert!(wl.allows(word), "{word}");
    }
    assert!(!wl.allows(FourLetterWord::Dump));
    assert_eq!(
        c.unknown_keys,
        vec![
            (40, "myCompanyTag".to_owned(), "blue".to_owned()),
            (41, "zookeeper.someFutureKnob".to_owned(), "1".to_owned()),
        ]
    );
    let ignored: Vec<&str> = c.ignored_keys.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        ignored,
        [
            "traceFile",
            "metricsProvider.className",
            "metricsProvider.httpPort"
        ]
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.source.as_deref(), Some(Path::new("zoo.cfg")));
    assert_eq!(c.snap_dir(), PathBuf::from("/var/lib/zookeeper/version-2"));
    assert_eq!(c.txn_log_dir(), PathBuf::from("/disk2/zookeeper/version-2"));
}

#[test]
fn membership_is_written_like_zookeeper() {
    let c = ok(DEBIAN_ZOO_CFG);
    assert_eq!(
        c.membership(0x100000000),
        "server.1=zookeeper1:2888:3888:participant\n\
         server.2=zookeeper2:2888:3888:participant\n\
         server.3=zookeeper3:2888:3888:participant\n\
         server.4=zookeeper4:2888:3888:observer;0.0.0.0:2181\n\
         version=100000000"
    );
}

#[test]
fn defaults_embedded() {
    let c = Config::default();
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!((c.init_limit, c.sync_limit), (10, 5));
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.client_port_address, None);
    assert_eq!(c.client_port_listen_backlog, -1);
    assert_eq!((c.max_client_cnxns, c.max_cnxns), (60, 0));
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (4000, 40000)
    );
    assert_eq!(c.four_letter_words, FourLetterWhitelist::default());
    assert_eq!(c.jute_maxbuffer, 0xfffff);
    assert!(!c.extended_types_enabled && !c.skip_acl && c.super_digest.is_none());
    assert!(!c.reconfig_enabled && c.standalone_enabled && !c.local_sessions_enabled);
    assert!(!c.read_only_mode_enabled);
    assert_eq!(c.snap_count, 100_000);
    assert_eq!(c.snap_size_limit_kb, 4_194_304);
    assert_eq!(c.pre_alloc_size_kb, 65_536);
    assert!(c.force_sync);
    assert_eq!(c.global_outstanding_limit, 1000);
    assert_eq!(
        (
            c.autopurge_snap_retain_count,
            c.autopurge_purge_interval_hours
        ),
        (3, 0)
    );
    assert_eq!(c.container_check_interval_ms, 60_000);
    assert_eq!(c.container_max_per_minute, 10_000);
    assert!(c.admin_enable_server);
    assert_eq!(c.admin_server_port, 8080);
    assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(c.server_id, 0);
    assert!(c.servers.is_empty());
    assert_eq!(c.cores, None);
    assert_eq!(c.mode(), ServerMode::Standalone);
    assert!(c.source.is_none());
}

#[test]
fn parse_fills_gaps_with_zookeeper_code_defaults() {
    let c = ok(MIN);
    assert_eq!(c.tick_time_ms, constants::TICK_TIME_MS_DEFAULT);
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (6000, 60000)
    );
    assert_eq!((c.init_limit, c.sync_limit), (0, 0));
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.data_log_dir, PathBuf::from("/data"));
    assert_eq!(c.mode(), ServerMode::Standalone);
    assert!(c.unknown_keys.is_empty() && c.ignored_keys.is_empty());
}

#[test]
fn properties_syntax() {
    let c = ok("! bang comment\n   # indented comment\n\
         dataDir : /data\n\
         tickTime   1000\n\
         clientPort\t=\t2182  \r\n\
         maxClientCnxns=\\\n   7\\\n   0\n\
         4lw.commands.whitelist=ruok,\\\n    stat\n");
    assert_eq!(c.data_dir, PathBuf::from("/data"));
    assert_eq!(c.tick_time_ms, 1000);
    assert_eq!(c.client_port, 2182);
    assert_eq!(c.max_client_cnxns, 70);
    assert!(c.four_letter_words.allows(FourLetterWord::Stat));
    assert!(c.four_letter_words.allows(FourLetterWord::Ruok));
}

#[test]
fn escapes_in_keys_and_values() {
    let c = ok("data\\Dir=/d\\u00e4ta\nmy\\ key=a\\:b\n");
    assert_eq!(c.data_dir, PathBuf::from("/däta"));
    assert_eq!(
        c.unknown_keys,
        vec![(2, "my key".to_owned(), "a:b".to_owned())]
    );
    assert_eq!(
        err("dataDir=/d\nk=\\u12\n"),
        "zoo.cfg:2: malformed \\uxxxx escape"
    );
}

#[test]
fn later_keys_override_earlier_ones() {
    let c = ok("tickTime=abc\ndataDir=/a\ntickTime=1000\ndataDir=/b\n");
    assert_eq!(c.tick_time_ms, 1000);
    assert_eq!(c.data_dir, PathBuf::from("/b"));
    // Bare and prefixed spellings are one key: the later line wins.
    assert!(!ok("dataDir=/d\nskipACL=yes\nzookeeper.skipACL=no\n").skip_acl);
    assert!(ok("dataDir=/d\nzookeeper.skipACL=no\nskipACL=yes\n").skip_acl);
    let c = ok("dataDir=/d\nfoo=1\nfoo=2\n");
    assert_eq!(c.unknown_keys, vec![(3, "foo".to_owned(), "2".to_owned())]);
}

#[test]
fn error_messages_name_file_line_and_key() {
    assert_eq!(
        err("dataDir=/d\n\n\n\n\n\ntickTime=abc\n"),
        "zoo.cfg:7: tickTime: expected a positive integer, got \"abc\""
    );
    assert_eq!(
        err("dataDir=/d\ntickTime=0\n"),
        "zoo.cfg:2: tickTime: expected a positive integer, got \"0\""
    );
    assert_eq!(
        err("dataDir=/d\nclientPort=70000\n"),
        "zoo.cfg:2: clientPort: expected an integer from 0 to 65535, got \"70000\""
    );
    assert_eq!(
        err("dataDir=/d\nmaxClientCnxns=-1\n"),
        "zoo.cfg:2: maxClientCnxns: expected a non-negative integer, got \"-1\""
    );
    assert_eq!(
        err("dataDir=/d\ninitLimit=ten\n"),
        "zoo.cfg:2: initLimit: expected a non-negative integer, got \"ten\""
    );
    assert_eq!(
        err("dataDir=/d\nstandaloneEnabled=yes\n"),
        "zoo.cfg:2: standaloneEnabled: expected true or false, got \"yes\""
    );
    assert_eq!(
        err("dataDir=/d\nskipACL=maybe\n"),
        "zoo.cfg:2: skipACL: expected true, false, yes or no, got \"maybe\""
    );
    assert_eq!(err("tickTime=2000\n"), "zoo.cfg: dataDir: is not set");
    assert_eq!(
        err("dataDir=\n"),
        "zoo.cfg:1: dataDir: expected a directory, got an empty value"
    );
    let bare = Config::parse("x=1\n", None).unwrap_err();
    assert_eq!(bare.to_string(), "<config>: dataDir: is not set");
}

#[test]
fn config_error_accessors() {
    let e = parse("dataDir=/d\ntickTime=x\n").unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert_eq!(e.key(), Some("tickTime"));
    assert!(matches!(e, ConfigError::Invalid { .. }));
}

#[test]
fn session_timeouts() {
    let c = ok("dataDir=/d\ntickTime=1000\n");
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (2000, 20000)
    );
    let c = ok("dataDir=/d\ntickTime=1000\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (2000, 20000)
    );
    let c = ok("dataDir=/d\nminSessionTimeout=500\nmaxSessionTimeout=90000\n");
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (500, 90000)
    );
    assert_eq!(
        err("dataDir=/d\nminSessionTimeout=30000\nmaxSessionTimeout=10000\n"),
        "zoo.cfg:3: maxSessionTimeout: minSessionTimeout (30000 ms) must not be larger \
         than maxSessionTimeout (10000 ms)"
    );
    // Only the minimum is set, above the default maximum (20 ticks of 2000 ms).
    assert_eq!(
        err("dataDir=/d\ntickTime=2000\nminSessionTimeout=50000\n"),
        "zoo.cfg:3: minSessionTimeout: minSessionTimeout (50000 ms) must not be larger \
         than maxSessionTimeout (40000 ms)"
    );
    assert_eq!(
        err("dataDir=/d\nminSessionTimeout=-2\n"),
        "zoo.cfg:2: minSessionTimeout: expected an integer from -1 to 2147483647, got \"-2\""
    );
}

#[test]
fn client_port_address() {
    let c = ok("dataDir=/d\nclientPort=2181\nclientPortAddress=10.1.2.3\n");
    assert_eq!(
        c.client_port_address,
        Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))
    );
    let c = ok("dataDir=/d\nclientPort=2181\nclientPortAddress=[::1]\n");
    assert_eq!(c.client_port_address, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    let c = ok("dataDir=/d\nclientPort=2181\nclientPortAddress=localhost\n");
    assert_eq!(c.client_port_address, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(
        err("dataDir=/d\nclientPortAddress=10.1.2.3\n"),
        "zoo.cfg:2: clientPortAddress: is set but clientPort is not"
    );
    assert_eq!(
        err("dataDir=/d\nclientPort=1\nclientPortAddress=zk1.example.com\n"),
        "zoo.cfg:3: clientPortAddress: expected an IP address (host names are not \
         resolved), got \"zk1.example.com\""
    );
    let c = ok("dataDir=/d\nclientPortListenBacklog=128\n");
    assert_eq!(c.client_port_listen_backlog, 128);
}

#[test]
fn system_property_keys_work_bare_and_prefixed() {
    for prefix in ["", "zookeeper."] {
        let text = format!(
            "dataDir=/d\n\
             {prefix}extendedTypesEnabled=true\n\
             {prefix}DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
             {prefix}skipACL=yes\n\
             {prefix}maxCnxns=5000\n\
             {prefix}jute.maxbuffer=4194304\n\
             {prefix}snapCount=20000\n\
             {prefix}snapSizeLimitInKb=-1\n\
             {prefix}preAllocSize=16384\n\
             {prefix}forceSync=no\n\
             {prefix}globalOutstandingLimit=5000\n\
             {prefix}admin.enableServer=false\n\
             {prefix}admin.serverPort=9090\n\
             {prefix}admin.serverAddress=127.0.0.1\n\
             {prefix}readonlymode.enabled=true\n\
             {prefix}znode.container.checkIntervalMs=1000\n\
             {prefix}znode.container.maxPerMinute=100\n\
             {prefix}4lw.commands.whitelist=cons\n"
        );
        let c = ok(&text);
        assert!(c.extended_types_enabled, "{prefix}");
        assert_eq!(
            c.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert!(c.skip_acl);
        assert_eq!(c.max_cnxns, 5000);
        assert_eq!(c.jute_maxbuffer, 4 << 20);
        assert_eq!(c.snap_count, 20000);
        assert_eq!(c.snap_size_limit_kb, -1);
        assert_eq!(c.pre_alloc_size_kb, 16384);
        assert!(!c.force_sync);
        assert_eq!(c.global_outstanding_limit, 5000);
        assert!(!c.admin_enable_server);
        assert_eq!(c.admin_server_port, 9090);
        assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(c.read_only_mode_enabled);
        assert_eq!(c.container_check_interval_ms, 1000);
        assert_eq!(c.container_max_per_minute, 100);
        let wl = c.four_letter_words;
        assert!(wl.allows(FourLetterWord::Cons));
        assert!(wl.allows(FourLetterWord::Srvr));
        assert!(
            wl.allows(FourLetterWord::Isro),
            "read-only mode enables isro"
        );
        assert!(!wl.allows(FourLetterWord::Mntr));
        assert!(c.unknown_keys.is_empty(), "{:?}", c.unknown_keys);
    }
    // QuorumPeerConfig's own keys have no prefixed form.
    let c = ok("dataDir=/d\nzookeeper.tickTime=1000\n");
    assert_eq!(c.tick_time_ms, 3000);
    assert_eq!(c.unknown_keys[0].1, "zookeeper.tickTime");
}

#[test]
fn jute_maxbuffer_bounds() {
    let max = constants::JUTE_MAXBUFFER_MAX;
    assert_eq!(
        ok(&format!("{MIN}jute.maxbuffer={max}")).jute_maxbuffer,
        max
    );
    assert_eq!(
        err(&format!("{MIN}jute.maxbuffer={}", max + 1)),
        format!(
            "zoo.cfg:2: jute.maxbuffer: expected an integer from 1 to {max}, got \"{}\"",
            max + 1
        )
    );
    assert_eq!(
        err(&format!("{MIN}zookeeper.jute.maxbuffer=0")),
        format!(
            "zoo.cfg:2: zookeeper.jute.maxbuffer: expected an integer from 1 to {max}, got \"0\""
        )
    );
    assert!(err(&format!("{MIN}jute.maxbuffer=0xfffff")).contains("got \"0xfffff\""));
}

#[test]
fn switches_accept_java_spellings() {
    for (value, expected) in [
        ("yes", true),
        ("no", false),
        ("true", true),
        ("FALSE", false),
    ] {
        assert_eq!(ok(&format!("{MIN}skipACL={value}")).skip_acl, expected);
        assert_eq!(ok(&format!("{MIN}forceSync={value}")).force_sync, expected);
    }
    assert!(ok(&format!("{MIN}reconfigEnabled=TRUE")).reconfig_enabled);
    assert!(ok(&format!("{MIN}localSessionsEnabled=true")).local_sessions_enabled);
    assert!(
        ok(&format!("{MIN}localSessionsUpgradingEnabled=true")).local_sessions_upgrading_enabled
    );
    assert_eq!(
        err(&format!(
            "{MIN}DigestAuthenticationProvider.superDigest=nocolon"
        )),
        "zoo.cfg:2: DigestAuthenticationProvider.superDigest: expected \
         super:<base64 sha1 digest>, got \"nocolon\""
    );
}

#[test]
fn four_letter_whitelist() {
    let wl = FourLetterWhitelist::parse("stat, ruok , conf,,isro");
    for word in FourLetterWord::ALL {
        let expected = matches!(
            word,
            FourLetterWord::Stat
                | FourLetterWord::Ruok
                | FourLetterWord::Conf
                | FourLetterWord::Isro
                | FourLetterWord::Srvr
        );
        assert_eq!(wl.allows(word), expected, "{word}");
    }
    let all = FourLetterWhitelist::parse("*");
    assert!(FourLetterWord::ALL.iter().all(|w| all.allows(*w)));
    assert_eq!(FourLetterWhitelist::parse("ruok, *"), all);
    let none = FourLetterWhitelist::parse("");
    assert_eq!(none, FourLetterWhitelist::default());
    assert!(none.allows(FourLetterWord::Srvr));
    assert!(!none.allows(FourLetterWord::Ruok));
    // Unknown names and wrong case are ignored, as in ZooKeeper.
    assert_eq!(
        FourLetterWhitelist::parse("RUOK,kill,reqs"),
        FourLetterWhitelist::default()
    );
    assert_eq!(
        FourLetterWhitelist::parse("mntr,ruok").to_string(),
        "ruok,srvr,mntr"
    );
    assert_eq!(ok(MIN).four_letter_words, FourLetterWhitelist::default());
    assert_eq!(
        ok(&format!("{MIN}4lw.commands.whitelist=*")).four_letter_words,
        all
    );
}

#[test]
fn server_lines() {
    let c = ok("dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
         server.3=[fe80::1]:2888:3888;[::1]:2181\n\
         server.1=10.0.0.1:2888:3888:participant;10.0.0.1:2181\n\
         server.2=zk2:2888:3888:OBSERVER\n\
         server.4=zk4:2888:3888\n");
    let ids: Vec<u64> = c.servers.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(c.servers[0].client_host.as_deref(), Some("10.0.0.1"));
    assert_eq!(c.servers[0].client_port, Some(2181));
    assert_eq!(c.servers[1].role, PeerRole::Observer);
    assert_eq!(c.servers[2].host, "fe80::1");
    assert_eq!(c.servers[2].client_host.as_deref(), Some("::1"));
    assert_eq!(
        c.servers[2].to_string(),
        "[fe80::1]:2888:3888:participant;[::1]:2181"
    );
    assert_eq!(c.servers[1].to_string(), "zk2:2888:3888:observer");
    assert_eq!(c.mode(), ServerMode::Quorum);
    assert_eq!(c.own_server(), None, "parse reads no myid");
}

#[test]
fn server_line_errors() {
    let q = "dataDir=/d\ninitLimit=5\nsyncLimit=2\n";
    assert_eq!(
        err(&format!("{q}server.1=zk1:2888\n")),
        "zoo.cfg:4: server.1: expected host:quorumPort:electionPort\
         [:participant|:observer][;[clientHost:]clientPort], got \"zk1:2888\""
    );
    assert_eq!(
        err(&format!("{q}server.x=zk1:2888:3888\n")),
        "zoo.cfg:4: server.x: expected a number after server., got \"x\""
    );
    assert_eq!(
        err(&format!("{q}server.1=zk1:2888:2888\n")),
        "zoo.cfg:4: server.1: quorum and election ports must differ"
    );
    assert_eq!(
        err(&format!("{q}server.1=zk1:2888:3888:voter\n")),
        "zoo.cfg:4: server.1: expected participant or observer, got \"voter\""
    );
    assert!(err(&format!("{q}server.1=zk1:2888:99999\n"))
        .starts_with("zoo.cfg:4: server.1: expected host:"));
    assert!(err(&format!("{q}server.1=zk1:2888:3888;a:b:2181\n"))
        .starts_with("zoo.cfg:4: server.1: expected host:"));
    assert!(err(&format!("{q}server.1=zk1:1:2;2;3\n"))
        .starts_with("zoo.cfg:4: server.1: expected host:"));
    assert_eq!(
        err(&format!("{q}server.1=a:1:2|b:1:2\nserver.2=c:1:2\n")),
        "zoo.cfg:4: server.1: several addresses need multiAddress.enabled=true"
    );
    assert_eq!(
        err(&format!("{q}server.1=a:1:2\nserver.01=b:1:2\n")),
        "zoo.cfg:5: server.01: is given twice"
    );
}

#[test]
fn multi_address_servers() {
    // The flag may come after the lines that need it, as in ZooKeeper.
    let c = ok("dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
         server.1=b:2888:3888|a:2889:3889\nserver.2=c:2888:3888\nserver.3=d:2888:3888\n\
         multiAddress.enabled=true\n");
    let s = &c.servers[0];
    assert_eq!(
        s.addresses(),
        vec![
            PeerAddress {
                host: "b".into(),
                quorum_port: 2888,
                election_port: 3888
            },
            PeerAddress {
                host: "a".into(),
                quorum_port: 2889,
                election_port: 3889
            },
        ]
    );
    assert_eq!(s.to_string(), "a:2889:3889|b:2888:3888:participant");
    assert!(err(
        "dataDir=/d\nmultiAddress.enabled=true\nserver.1=a:1:2:observer|b:1:2:participant\n"
    )
    .ends_with("every address must have the same role"));
}

#[test]
fn standalone_and_quorum_modes() {
    let one = ok(&format!("{MIN}server.1=zk1:2888:3888\n"));
    assert_eq!(one.mode(), ServerMode::Standalone);
    assert_eq!(one.warnings.len(), 1);
    assert!(one.warnings[0].contains("only one server"));
    let forced = ok(&format!(
        "{MIN}initLimit=5\nsyncLimit=2\nstandaloneEnabled=false\nserver.1=zk1:2888:3888\n"
    ));
    assert_eq!(forced.mode(), ServerMode::Quorum);
    assert_eq!(
        err(&format!("{MIN}standaloneEnabled=false\n")),
        "zoo.cfg: standaloneEnabled: standaloneEnabled=false needs at least one participant"
    );
    assert_eq!(
        err(&format!("{MIN}server.1=zk1:2888:3888:observer\n")),
        "zoo.cfg:2: server.1: observers without participants are not an ensemble"
    );
    assert_eq!(
        err(&format!(
            "{MIN}server.1=zk1:2888:3888\nserver.2=zk2:2888:3888:observer\n"
        )),
        "zoo.cfg:2: server.1: observers without a quorum are not an ensemble"
    );
    assert_eq!(
        err(&format!(
            "{MIN}syncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n"
        )),
        "zoo.cfg: initLimit: is not set (an ensemble needs it)"
    );
    let two = ok(&format!(
        "{MIN}initLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n"
    ));
    assert!(two.warnings[0].contains("no server failure will be tolerated"));
    let four = ok(&format!(
        "{MIN}initLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2\n"
    ));
    assert!(four.warnings[0].contains("even number"));
}

#[test]
fn extended_types_limit_server_ids() {
    let q = "dataDir=/d\ninitLimit=5\nsyncLimit=2\nextendedTypesEnabled=true\n";
    assert_eq!(
        err(&format!(
            "{q}server.1=a:1:2\nserver.2=b:1:2\nserver.300=c:1:2\n"
        )),
        "zoo.cfg:7: server.300: extendedTypesEnabled allows server ids up to 254"
    );
    ok(&format!(
        "{q}server.1=a:1:2\nserver.2=b:1:2\nserver.254=c:1:2\n"
    ));
    // Without extended types ZooKeeper does not limit ids.
    ok("dataDir=/d\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.300=c:1:2\n");
}

#[test]
fn hierarchical_quorums() {
    let q = "dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
             server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2\n\
             server.5=e:1:2:observer\n";
    let c = ok(&format!("{q}group.1=1:2\ngroup.2=4:3\nweight.3=2\n"));
    assert_eq!(c.quorum_groups, vec![(1, vec![1, 2]), (2, vec![3, 4])]);
    assert_eq!(c.quorum_weights, vec![(1, 1), (2, 1), (3, 2), (4, 1)]);
    assert!(c.membership(0).ends_with(
        "server.5=e:1:2:observer\ngroup.1=1:2\ngroup.2=3:4\n\
         weight.1=1\nweight.2=1\nweight.3=2\nweight.4=1\nversion=0"
    ));
    assert_eq!(
        err(&format!("{q}group.1=1:2\ngroup.2=2:3:4\n")),
        "zoo.cfg:10: group.2: server 2 is in more than one group"
    );
    assert_eq!(
        err(&format!("{q}group.1=1:2:3\n")),
        "zoo.cfg:7: server.4: is not in any group.G line"
    );
    assert_eq!(
        err(&format!("{q}group.1=1:x\n")),
        "zoo.cfg:9: group.1: expected server ids separated by ':', got \"1:x\""
    );
    assert_eq!(
        err(&format!("{q}weight.1=3\n")),
        "zoo.cfg:9: weight.1: weights need group.G lines (hierarchical quorums)"
    );
}

#[test]
fn autopurge_snap_count_and_cores() {
    let c = ok(&format!(
        "{MIN}autopurge.snapRetainCount=1\nautopurge.purgeInterval=-1\nsnapCount=1\ncores=4\n"
    ));
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert_eq!(c.autopurge_purge_interval_hours, 0);
    assert_eq!(c.snap_count, 2);
    assert_eq!(c.cores, Some(4));
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert_eq!(c.warnings[0], "zoo.cfg:4: snapCount: 1 is below 2; using 2");
    assert_eq!(
        c.warnings[1],
        "autopurge.snapRetainCount 1 is below 3; using 3"
    );
    assert_eq!(
        err(&format!("{MIN}cores=0\n")),
        format!(
            "zoo.cfg:2: cores: expected an integer from 1 to {}, got \"0\"",
            constants::CORES_MAX
        )
    );
}

#[test]
fn election_alg_peer_type_and_ignored_keys() {
    let c = ok(&format!(
        "{MIN}electionAlg=3\nsecureClientPort=2281\nssl.keyStore.location=/k\n\
         zookeeper.ssl.trustStore.location=/t\nquorum.auth.enableSasl=false\n\
         jvm.pause.monitor=true\npeerType=observer\n"
    ));
    let ignored: Vec<&str> = c.ignored_keys.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        ignored,
        [
            "secureClientPort",
            "ssl.keyStore.location",
            "zookeeper.ssl.trustStore.location",
            "quorum.auth.enableSasl",
            "jvm.pause.monitor"
        ]
    );
    assert!(c.warnings[0].contains("TLS client connections are not supported"));
    assert_eq!(
        err(&format!("{MIN}electionAlg=1\n")),
        "zoo.cfg:2: electionAlg: only 3 is supported, got \"1\""
    );
    assert_eq!(
        err(&format!("{MIN}peerType=leader\n")),
        "zoo.cfg:2: peerType: expected participant or observer, got \"leader\""
    );
}

#[test]
fn relative_data_dir_warns() {
    let c = ok("dataDir=data\ndataLogDir=./log\n");
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(
        c.warnings[0],
        "zoo.cfg:1: dataDir: \"data\" is relative; prepend ./ to show it is meant"
    );
}

#[test]
fn static_server_lines_conflict_with_dynamic_file() {
    assert_eq!(
        err("dataDir=/d\ndynamicConfigFile=/etc/zk/zoo.cfg.dynamic\nserver.1=a:1:2\n"),
        "zoo.cfg:3: server.1: belongs in the dynamicConfigFile when one is set"
    );
}

// ---------------------------------------------------------------------------
// Config::load: files, myid, dynamic config
// ---------------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("corekeeper-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ensemble(dir: &TempDir, extra: &str) -> String {
    format!(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort=2181\n{extra}\
         server.1=zk1:2888:3888\nserver.2=zk2:2888:3888;2182\nserver.3=zk3:2888:3888\n",
        dir.0.join("data").display()
    )
}

#[test]
fn load_reads_myid() {
    let dir = TempDir::new("myid");
    dir.write("data/myid", "3\n");
    let cfg = dir.write("zoo.cfg", &ensemble(&dir, "clientPortAddress=127.0.0.1\n"));
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.server_id, 3);
    assert_eq!(c.own_server().unwrap().host, "zk3");
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.mode(), ServerMode::Quorum);
    assert_eq!(c.source.as_deref(), Some(cfg.as_path()));
    assert!(c.data_dir.is_absolute());
    assert_eq!(c.data_dir, dir.0.join("data"));
    assert_eq!(c.client_port_address, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
}

#[test]
fn load_takes_client_port_from_own_server_line() {
    let dir = TempDir::new("ownport");
    dir.write("data/myid", "2");
    let text = ensemble(&dir, "").replace("clientPort=2181\n", "");
    let cfg = dir.write("zoo.cfg", &text);
    assert_eq!(Config::load(&cfg).unwrap().client_port, 2182);
    let cfg = dir.write("zoo.cfg", &ensemble(&dir, ""));
    let e = Config::load(&cfg).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:5: clientPort: 2181 differs from server.2's client port 2182",
            cfg.display()
        )
    );
}

#[test]
fn load_myid_errors() {
    let dir = TempDir::new("myiderr");
    let cfg = dir.write("zoo.cfg", &ensemble(&dir, ""));
    let myid = dir.0.join("data/myid");
    let missing = Config::load(&cfg).unwrap_err().to_string();
    assert_eq!(
        missing,
        format!(
            "{}: myid: {} is missing; an ensemble member needs its id there",
            cfg.display(),
            myid.display()
        )
    );
    // Debian ships a placeholder myid.
    dir.write(
        "data/myid",
        "replace this text with the cluster-unique zookeeper's instance id (1-255)\n",
    );
    let bad = Config::load(&cfg).unwrap_err();
    assert_eq!(
        bad.to_string(),
        format!(
            "{}:1: myid: expected this server's id (an integer), got \"replace this text \
             with the cluster-unique zookeeper's instance id (1-255)\"",
            myid.display()
        )
    );
    dir.write("data/myid", "9\n");
    assert_eq!(
        Config::load(&cfg).unwrap_err().to_string(),
        format!(
            "{}: myid: server id 9 (from {}) has no server.9 line",
            cfg.display(),
            myid.display()
        )
    );
    let cfg = dir.write("zoo.cfg", &ensemble(&dir, "extendedTypesEnabled=true\n"));
    dir.write("data/myid", "300\n");
    let text = ensemble(&dir, "extendedTypesEnabled=true\n").replace("server.3=", "server.300=");
    let cfg2 = dir.write("zoo2.cfg", &text);
    assert!(Config::load(&cfg2)
        .unwrap_err()
        .to_string()
        .contains("server.300: extendedTypesEnabled allows server ids up to 254"));
    let standalone = dir.write(
        "standalone.cfg",
        &format!(
            "dataDir={}\nextendedTypesEnabled=true\n",
            dir.0.join("data").display()
        ),
    );
    assert_eq!(
        Config::load(&standalone).unwrap_err().to_string(),
        format!(
            "{}:2: extendedTypesEnabled: server id 300 (from {}) is above 254, the largest \
             extended types allow",
            standalone.display(),
            myid.display()
        )
    );
    drop(cfg);
}

#[test]
fn load_standalone_without_myid() {
    let dir = TempDir::new("standalone");
    let cfg = dir.write(
        "zoo.cfg",
        &format!("dataDir={}\n", dir.0.join("data").display()),
    );
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.server_id, 0);
    assert_eq!(c.mode(), ServerMode::Standalone);
}

#[test]
fn load_dynamic_config_file() {
    let dir = TempDir::new("dynamic");
    dir.write("data/myid", "1\n");
    let dynamic = dir.write(
        "zoo.cfg.dynamic.100000000",
        "server.1=zk1:2888:3888:participant;0.0.0.0:2181\n\
         server.2=zk2:2888:3888:participant;0.0.0.0:2181\n\
         server.3=zk3:2888:3888:participant;0.0.0.0:2181\n",
    );
    let cfg = dir.write(
        "zoo.cfg",
        &format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nreconfigEnabled=true\n\
             dynamicConfigFile={}\n",
            dir.0.join("data").display(),
            dynamic.display()
        ),
    );
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.quorum_config_version, 0x1_0000_0000);
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.dynamic_config_file.as_deref(), Some(dynamic.as_path()));
    assert!(c.reconfig_enabled);

    dir.write(
        "zoo.cfg.dynamic.100000000",
        "server.1=zk1:2888:3888\ntickTime=1\n",
    );
    assert_eq!(
        Config::load(&cfg).unwrap_err().to_string(),
        format!(
            "{}:2: tickTime: only server.N, group.G and weight.N belong in a dynamic config file",
            dynamic.display()
        )
    );
    dir.write("zoo.cfg.dynamic.100000000", "server.1=zk1:2888\n");
    assert!(Config::load(&cfg)
        .unwrap_err()
        .to_string()
        .starts_with(&format!(
            "{}:1: server.1: expected host:",
            dynamic.display()
        )));
}

#[test]
fn load_errors_and_encodings() {
    let dir = TempDir::new("read");
    let missing = dir.0.join("absent.cfg");
    let e = Config::load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e
        .to_string()
        .starts_with(&format!("cannot read {}: ", missing.display())));
    // ISO-8859-1 bytes, as java.util.Properties reads a file.
    let path = dir.0.join("latin1.cfg");
    std::fs::write(&path, b"dataDir=/d\xe4ta\n").unwrap();
    assert_eq!(
        Config::load(&path).unwrap().data_dir,
        PathBuf::from("/d\u{e4}ta")
    );
    // A UTF-8 byte-order mark is not part of the first key.
    let path = dir.write("bom.cfg", "\u{feff}tickTime=1000\ndataDir=/d\n");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.tick_time_ms, 1000);
    assert!(c.unknown_keys.is_empty());
}
