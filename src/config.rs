//! `zoo.cfg`: the configuration operators already have, read as ZooKeeper reads it.
//!
//! ZooKeeper loads the file with `java.util.Properties` and hands it to
//! `QuorumPeerConfig.parseProperties`: a fixed set of keys configures the server
//! directly, every other key becomes the system property `zookeeper.<key>`, which
//! the rest of the server reads (`zookeeper.snapCount`, `zookeeper.skipACL`, ...).
//! We accept those pass-through keys both bare and with their `zookeeper.` prefix,
//! so a setting works wherever an operator learnt to put it. Keys we do not know
//! are collected, not fatal, as in ZooKeeper; values we cannot use are errors that
//! name the file, the line and the key.
//!
//! Pure except [`Config::load`], which reads the file itself, `dataDir/myid` and
//! a `dynamicConfigFile` if the file names one. Built once at startup on the main
//! thread; every core gets a clone.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::admin::FourLetterWord;
use crate::constants;

/// The server configuration: `zoo.cfg` resolved against ZooKeeper's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// `tickTime`: the unit of every ZooKeeper timeout.
    pub tick_time_ms: u32,
    /// `initLimit`: ticks a follower may take to connect and sync to the leader.
    pub init_limit: u32,
    /// `syncLimit`: ticks a follower may lag behind the leader.
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit`: ticks to connect to the leader after an
    /// election; 0 means `initLimit` (ZooKeeper's default).
    pub connect_to_learner_master_limit: u32,
    /// `dataDir`: snapshots, and `myid`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the transaction log; defaults to `data_dir`.
    pub data_log_dir: PathBuf,
    /// `clientPort`, or this server's `server.N=...;port` client port.
    pub client_port: u16,
    /// `clientPortAddress`; `None` listens on every address.
    pub client_port_address: Option<IpAddr>,
    /// `clientPortListenBacklog`; -1 uses the system default.
    pub client_port_listen_backlog: i32,
    /// `maxClientCnxns`: connections per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,
    /// `maxCnxns`: connections in total; 0 = unlimited.
    pub max_cnxns: u32,
    /// `minSessionTimeout`, resolved: 2 ticks unless set.
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout`, resolved: 20 ticks unless set.
    pub max_session_timeout_ms: u32,
    /// `4lw.commands.whitelist`: `srvr` only unless set (`isro` too in read-only mode).
    pub four_letter_words: FourLetterWhitelist,
    /// `jute.maxbuffer`: the largest frame or field a peer may send.
    pub jute_maxbuffer: usize,
    /// `extendedTypesEnabled`: TTL nodes; limits server ids to 254.
    pub extended_types_enabled: bool,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `skipACL`: no ACL checks at all.
    pub skip_acl: bool,
    /// `reconfigEnabled`: the `reconfig` operation.
    pub reconfig_enabled: bool,
    /// `standaloneEnabled`: a single-server configuration runs standalone.
    pub standalone_enabled: bool,
    /// `localSessionsEnabled`.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled`.
    pub local_sessions_upgrading_enabled: bool,
    /// `readonlymode.enabled`: serve reads when cut off from the quorum.
    pub read_only_mode_enabled: bool,
    /// `snapCount`: transactions between snapshots (ZooKeeper picks a random point
    /// in the upper half); at least 2.
    pub snap_count: u64,
    /// `snapSizeLimitInKb`: log bytes between snapshots; <= 0 disables the limit.
    pub snap_size_limit_kb: i64,
    /// `preAllocSize`: transaction log preallocation step, in KiB.
    pub pre_alloc_size_kb: u64,
    /// `forceSync`: fsync the log before acknowledging.
    pub force_sync: bool,
    /// `globalOutstandingLimit`: requests in flight before the server throttles.
    pub global_outstanding_limit: u32,
    /// `autopurge.snapRetainCount`: snapshots (and their logs) kept; at least 3.
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval`: hours between purges; 0 disables purging.
    pub autopurge_purge_interval_hours: u32,
    /// `znode.container.checkIntervalMs`: container/TTL reaper period.
    pub container_check_interval_ms: u64,
    /// `znode.container.maxPerMinute`: container/TTL deletions per minute at most.
    pub container_max_per_minute: u32,
    /// `admin.enableServer`: the HTTP admin server.
    pub admin_enable_server: bool,
    /// `admin.serverPort`.
    pub admin_server_port: u16,
    /// `admin.serverAddress`.
    pub admin_server_address: IpAddr,
    /// This server's id, from `dataDir/myid` (read by [`Config::load`]); 0 if absent.
    pub server_id: u64,
    /// `server.N` lines (from `dynamicConfigFile` if set), ascending by id.
    pub servers: Vec<ServerSpec>,
    /// `group.G=sid:sid:...` lines (hierarchical quorums), ascending by group id.
    pub quorum_groups: Vec<(u64, Vec<u64>)>,
    /// `weight.N=w` lines, ascending by server id; participants in a group
    /// without a line weigh 1. Empty without groups.
    pub quorum_weights: Vec<(u64, u64)>,
    /// `version=` of the ensemble configuration (hex), or the suffix of the
    /// dynamic file's name; 0 if neither. A zxid once an ensemble has formed.
    pub quorum_config_version: i64,
    /// `multiAddress.enabled`: `|`-separated addresses in `server.N` lines.
    pub multi_address_enabled: bool,
    /// `quorumListenOnAllIPs`: bind quorum and election ports on every address.
    pub quorum_listen_on_all_ips: bool,
    /// `syncEnabled`: observers log and snapshot transactions like followers.
    pub sync_enabled: bool,
    /// `dynamicConfigFile`, as written.
    pub dynamic_config_file: Option<PathBuf>,
    /// `cores`: corekeeper's own key (also a CLI flag); `None` uses every core.
    pub cores: Option<usize>,
    /// Keys neither we nor ZooKeeper know: (line, key, value). The caller logs them.
    pub unknown_keys: Vec<(usize, String, String)>,
    /// ZooKeeper keys corekeeper accepts and ignores (TLS, SASL, JVM and metrics
    /// tuning, ...): (line, key, value). The caller logs them.
    pub ignored_keys: Vec<(usize, String, String)>,
    /// Things ZooKeeper warns about and then corrects or tolerates (a relative
    /// `dataDir`, `autopurge.snapRetainCount` below 3, an even ensemble, ...).
    pub warnings: Vec<String>,
    /// The file this came from; `None` for [`Config::default`] and bare text.
    pub source: Option<PathBuf>,
}

/// Whether this server runs alone or as an ensemble member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMode {
    /// One server, no ZAB (`ZooKeeperServerMain`).
    Standalone,
    /// An ensemble member (`QuorumPeerMain` with a quorum).
    Quorum,
}

/// `participant` (votes) or `observer` (follows, does not vote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    /// Votes in elections and in the commit quorum.
    Participant,
    /// Receives commits, does not vote.
    Observer,
}

/// One `host:quorumPort:electionPort` of a `server.N` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddress {
    /// Host name or IP literal, as written (IPv6 without brackets). Not resolved here.
    pub host: String,
    /// Port followers connect to the leader on (2888 by convention).
    pub quorum_port: u16,
    /// Port for leader election (3888 by convention).
    pub election_port: u16,
}

/// A `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// N.
    pub id: u64,
    /// Host of the first address, as written.
    pub host: String,
    /// Quorum port of the first address.
    pub quorum_port: u16,
    /// Election port of the first address.
    pub election_port: u16,
    /// Further `|`-separated addresses (`multiAddress.enabled`).
    pub alt_addresses: Vec<PeerAddress>,
    /// Participant unless `:observer`.
    pub role: PeerRole,
    /// Client host after `;` if given with a port (`0.0.0.0` when only a port).
    pub client_host: Option<String>,
    /// Client port after `;`, if any.
    pub client_port: Option<u16>,
}

impl ServerSpec {
    /// Every address, the first one first.
    pub fn addresses(&self) -> Vec<PeerAddress> {
        let first = PeerAddress {
            host: self.host.clone(),
            quorum_port: self.quorum_port,
            election_port: self.election_port,
        };
        std::iter::once(first)
            .chain(self.alt_addresses.iter().cloned())
            .collect()
    }
}

impl fmt::Display for ServerSpec {
    /// `QuorumServer.toString`: the value of the `server.N` line as ZooKeeper
    /// writes it back (`/zookeeper/config`, `conf`): addresses sorted by host,
    /// the role always spelled out, the client part only if the line had one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut quorum = self.addresses();
        let mut election = quorum.clone();
        quorum.sort_by(|a, b| a.host.cmp(&b.host));
        election.sort_by(|a, b| a.host.cmp(&b.host));
        for (i, (q, e)) in quorum.iter().zip(&election).enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            write!(
                f,
                "{}:{}:{}",
                bracket_ipv6(&q.host),
                q.quorum_port,
                e.election_port
            )?;
        }
        match self.role {
            PeerRole::Participant => f.write_str(":participant")?,
            PeerRole::Observer => f.write_str(":observer")?,
        }
        if let Some(port) = self.client_port {
            let host = self.client_host.as_deref().unwrap_or("0.0.0.0");
            write!(f, ";{}:{}", bracket_ipv6(host), port)?;
        }
        Ok(())
    }
}

/// `QuorumServer.delimitedHostString`.
fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Which four-letter words may run (`FourLetterCommands.isEnabled`).
///
/// `srvr` is always allowed (`zkServer.sh status` depends on it); `*` allows all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FourLetterWhitelist {
    bits: u32,
}

impl FourLetterWhitelist {
    /// Parses `4lw.commands.whitelist`: comma-separated words, blanks ignored,
    /// `*` for all. Names that are not four-letter words are ignored, as in
    /// ZooKeeper. `srvr` is always added.
    pub fn parse(s: &str) -> Self {
        let mut list = Self::default();
        for name in s.split(',').map(str::trim) {
            if name == "*" {
                return Self::all();
            }
            if let Some(word) = FourLetterWord::from_name(name) {
                list.insert(word);
            }
        }
        list
    }

    /// Every word.
    pub fn all() -> Self {
        let mut list = Self::default();
        for word in FourLetterWord::ALL {
            list.insert(word);
        }
        list
    }

    /// Allows `word` too.
    pub fn insert(&mut self, word: FourLetterWord) {
        self.bits |= Self::bit(word);
    }

    /// Whether `word` may run.
    pub fn allows(&self, w: FourLetterWord) -> bool {
        self.bits & Self::bit(w) != 0
    }

    fn bit(word: FourLetterWord) -> u32 {
        let index = FourLetterWord::ALL
            .iter()
            .position(|w| *w == word)
            .expect("ALL lists every word");
        1 << index
    }
}

impl Default for FourLetterWhitelist {
    /// ZooKeeper's default: `srvr` only.
    fn default() -> Self {
        FourLetterWhitelist {
            bits: Self::bit(FourLetterWord::Srvr),
        }
    }
}

impl fmt::Display for FourLetterWhitelist {
    /// The allowed words, comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = FourLetterWord::ALL
            .iter()
            .filter(|w| self.allows(**w))
            .map(|w| w.as_str())
            .collect();
        f.write_str(&words.join(","))
    }
}

/// A configuration that cannot be used. Messages name the file, the line (when
/// one line is to blame) and the key:
/// `zoo.cfg:7: tickTime: expected a positive integer, got "abc"`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid `java.util.Properties` syntax.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file, as given (`<config>` for bare text).
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is wrong, or values contradict each other.
    #[error("{}: {key}: {message}", location(.file, *.line))]
    Invalid {
        /// The file, as given (`<config>` for bare text).
        file: String,
        /// 1-based line of the offending key, if one line is to blame.
        line: Option<usize>,
        /// The key (`myid` for the myid file).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The offending line, if the error has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Invalid { line, .. } => *line,
        }
    }

    /// The offending key, if the error has one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn location(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

impl Default for Config {
    /// What corekeeper runs with when given no file: ZooKeeper's sample
    /// `conf/zoo_sample.cfg` (tickTime 2000, initLimit 10, syncLimit 5,
    /// clientPort 2181) with `dataDir` `./data`.
    ///
    /// ZooKeeper's *code* default for `tickTime` is 3000
    /// ([`constants::TICK_TIME_MS_DEFAULT`], `ZooKeeperServer.DEFAULT_TICK_TIME`),
    /// but almost every deployment starts from the sample file, whose 2000 is
    /// what operators, clients' timeouts (4 s .. 40 s sessions) and tutorials
    /// assume, so a config-less corekeeper behaves like a fresh ZooKeeper install.
    /// A `zoo.cfg` that leaves `tickTime` out still gets 3000 from
    /// [`Config::parse`]: the same file must mean the same thing to both servers.
    fn default() -> Self {
        let tick_time_ms = 2000;
        let data_dir = PathBuf::from("./data");
        Config {
            tick_time_ms,
            init_limit: 10,
            sync_limit: 5,
            connect_to_learner_master_limit: 0,
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port: constants::CLIENT_PORT_DEFAULT,
            client_port_address: None,
            client_port_listen_backlog: -1,
            max_client_cnxns: constants::MAX_CLIENT_CNXNS_DEFAULT,
            max_cnxns: 0,
            min_session_timeout_ms: 2 * tick_time_ms,
            max_session_timeout_ms: 20 * tick_time_ms,
            four_letter_words: FourLetterWhitelist::default(),
            jute_maxbuffer: constants::JUTE_MAXBUFFER_DEFAULT,
            extended_types_enabled: false,
            super_digest: None,
            skip_acl: false,
            reconfig_enabled: false,
            standalone_enabled: true,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            read_only_mode_enabled: false,
            snap_count: constants::SNAP_COUNT_DEFAULT,
            snap_size_limit_kb: constants::SNAP_SIZE_LIMIT_KB_DEFAULT,
            pre_alloc_size_kb: constants::PRE_ALLOC_SIZE_KB_DEFAULT,
            force_sync: true,
            global_outstanding_limit: constants::GLOBAL_OUTSTANDING_LIMIT_DEFAULT,
            autopurge_snap_retain_count: constants::SNAP_RETAIN_COUNT_MIN,
            autopurge_purge_interval_hours: 0,
            container_check_interval_ms: constants::CONTAINER_CHECK_INTERVAL_MS_DEFAULT,
            container_max_per_minute: constants::CONTAINER_MAX_PER_MINUTE_DEFAULT,
            admin_enable_server: true,
            admin_server_port: constants::ADMIN_SERVER_PORT_DEFAULT,
            admin_server_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            server_id: 0,
            servers: Vec::new(),
            quorum_groups: Vec::new(),
            quorum_weights: Vec::new(),
            quorum_config_version: 0,
            multi_address_enabled: false,
            quorum_listen_on_all_ips: false,
            sync_enabled: true,
            dynamic_config_file: None,
            cores: None,
            unknown_keys: Vec::new(),
            ignored_keys: Vec::new(),
            warnings: Vec::new(),
            source: None,
        }
    }
}

impl Config {
    /// Parses `zoo.cfg` text (`java.util.Properties` syntax: `#`/`!` comments,
    /// `key=value`, `key: value` or `key value`, backslash escapes and line
    /// continuations; keys and values trimmed; a later key overrides an earlier
    /// one). Keys the text leaves out take ZooKeeper's code defaults (`tickTime`
    /// 3000). `dataDir` is required, as in ZooKeeper.
    ///
    /// Reads nothing: `myid` and a `dynamicConfigFile` are [`Config::load`]'s, so
    /// `server_id` stays 0 here and the checks that need it are skipped.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Config, ConfigError> {
        let file = file_label(source);
        let mut builder = Builder::new(file.clone(), source);
        builder.apply_all(properties(text, &file)?)?;
        builder.finish(MyId::NotRead)
    }

    /// Reads and parses `path`, then `dynamicConfigFile` if it names one, then
    /// `dataDir/myid` if present (ZooKeeper's `setupMyId`), and makes `dataDir`
    /// and `dataLogDir` absolute against the working directory, as Java's `File`
    /// resolves them. Non-UTF-8 text is read as ISO-8859-1, as `Properties` does.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_text(path)?;
        let file = file_label(Some(path));
        let mut builder = Builder::new(file.clone(), Some(path));
        builder.apply_all(properties(&text, &file)?)?;
        if let Some(dynamic) = builder.config.dynamic_config_file.clone() {
            builder.read_dynamic_file(&dynamic)?;
        }
        let myid = match &builder.data_dir {
            Some(dir) => read_myid(&dir.join("myid"))?,
            None => MyId::Missing,
        };
        let mut config = builder.finish(myid)?;
        config.data_dir = absolute(&config.data_dir);
        config.data_log_dir = absolute(&config.data_log_dir);
        Ok(config)
    }

    /// Standalone when at most one participant is configured and
    /// `standaloneEnabled` (ZooKeeper's `QuorumPeerConfig.isDistributed`).
    pub fn mode(&self) -> ServerMode {
        if self.standalone_enabled && self.participants() <= 1 {
            ServerMode::Standalone
        } else {
            ServerMode::Quorum
        }
    }

    /// Where snapshots live: `dataDir/version-2`, ZooKeeper's `FileTxnSnapLog`
    /// layout (and what `conf` prints as `dataDir`).
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join(VERSION_DIR)
    }

    /// Where the transaction log lives: `dataLogDir/version-2` (`conf`'s `dataLogDir`).
    pub fn txn_log_dir(&self) -> PathBuf {
        self.data_log_dir.join(VERSION_DIR)
    }

    /// This server's own `server.N` line, if any.
    pub fn own_server(&self) -> Option<&ServerSpec> {
        self.servers.iter().find(|s| s.id == self.server_id)
    }

    /// The ensemble configuration as ZooKeeper writes it (`QuorumMaj` /
    /// `QuorumHierarchical.toString`, the content of `/zookeeper/config` and the
    /// tail of `conf`): `server.N=...` lines by id, then `group.G` and `weight.N`
    /// lines for hierarchical quorums, then `version=<hex>` with no newline.
    pub fn membership(&self, version: i64) -> String {
        let mut out = String::new();
        for server in &self.servers {
            out.push_str(&format!("server.{}={server}\n", server.id));
        }
        for (group, members) in &self.quorum_groups {
            let members: Vec<String> = members.iter().map(u64::to_string).collect();
            out.push_str(&format!("group.{group}={}\n", members.join(":")));
        }
        for (server, weight) in &self.quorum_weights {
            out.push_str(&format!("weight.{server}={weight}\n"));
        }
        out.push_str(&format!("version={version:x}"));
        out
    }

    fn participants(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.role == PeerRole::Participant)
            .count()
    }
}

/// ZooKeeper's `FileTxnSnapLog.version` directory.
const VERSION_DIR: &str = "version-2";

fn file_label(source: Option<&Path>) -> String {
    source.map_or_else(|| "<config>".to_owned(), |p| p.display().to_string())
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect());
    // Editors on other systems may start the file with a byte-order mark; it is
    // not part of the first key.
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// What [`Config::load`] found in `dataDir/myid`.
enum MyId {
    /// [`Config::parse`]: not looked for.
    NotRead,
    /// No such file.
    Missing,
    /// The id, and the file it came from.
    Present(u64, PathBuf),
}

fn read_myid(path: &Path) -> Result<MyId, ConfigError> {
    if !path.is_file() {
        return Ok(MyId::Missing);
    }
    let text = read_text(path)?;
    let first = text.lines().next().unwrap_or("").trim();
    match first.parse::<u64>() {
        Ok(id) if id <= i64::MAX as u64 => Ok(MyId::Present(id, path.to_owned())),
        _ => Err(ConfigError::Invalid {
            file: path.display().to_string(),
            line: Some(1),
            key: "myid".to_owned(),
            message: format!("expected this server's id (an integer), got {first:?}"),
        }),
    }
}

// ---------------------------------------------------------------------------
// java.util.Properties syntax
// ---------------------------------------------------------------------------

/// One key/value pair with the line it starts on, key and value trimmed as
/// `QuorumPeerConfig.parseProperties` trims them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    line: usize,
    key: String,
    value: String,
}

/// `Properties.load`: logical lines (a line ending in an odd number of
/// backslashes continues on the next, whose leading blanks are dropped),
/// comments, the key/value split and escapes, then `String.trim` of both.
fn properties(text: &str, file: &str) -> Result<Vec<Entry>, ConfigError> {
    let natural: Vec<&str> = split_lines(text);
    let mut entries = Vec::new();
    let mut index = 0;
    while index < natural.len() {
        let line = index + 1;
        let first = natural[index].trim_start_matches([' ', '\t', '\x0c']);
        index += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match natural.get(index) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches([' ', '\t', '\x0c']));
                    index += 1;
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let syntax = |message: String| ConfigError::Syntax {
            file: file.to_owned(),
            line,
            message,
        };
        let key = unescape(key).map_err(syntax)?;
        let value = unescape(value).map_err(syntax)?;
        entries.push(Entry {
            line,
            key: java_trim(&key).to_owned(),
            value: java_trim(&value).to_owned(),
        });
    }
    Ok(entries)
}

/// Natural lines, ended by `\n`, `\r` or `\r\n`.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(end) => {
                lines.push(&rest[..end]);
                let skip = if rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// The key ends at the first unescaped `=`, `:` or blank; then blanks, at most
/// one `=`/`:` and more blanks separate it from the value.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut key_end = bytes.len();
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if matches!(b, b'=' | b':' | b' ' | b'\t' | b'\x0c') {
            key_end = i;
            break;
        }
    }
    let mut value_start = key_end;
    let mut has_separator = false;
    while value_start < bytes.len() {
        let b = bytes[value_start];
        if matches!(b, b' ' | b'\t' | b'\x0c') {
            value_start += 1;
        } else if !has_separator && matches!(b, b'=' | b':') {
            has_separator = true;
            value_start += 1;
        } else {
            break;
        }
    }
    (&line[..key_end], &line[value_start..])
}

/// `Properties.loadConvert`: `\t \n \r \f`, `\uXXXX`, and `\x` for any other `x`.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut units: Vec<u16> = Vec::new();
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_utf16(&mut units, &mut out);
            out.push(c);
            continue;
        }
        let Some(escaped) = chars.next() else {
            break; // a lone trailing backslash is dropped
        };
        if escaped == 'u' {
            let hex: String = chars.by_ref().take(4).collect();
            let unit = (hex.len() == 4)
                .then(|| u16::from_str_radix(&hex, 16).ok())
                .flatten()
                .ok_or_else(|| "malformed \\uxxxx escape".to_owned())?;
            units.push(unit);
            continue;
        }
        flush_utf16(&mut units, &mut out);
        out.push(match escaped {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            other => other,
        });
    }
    flush_utf16(&mut units, &mut out);
    Ok(out)
}

/// `\u` escapes are UTF-16 code units; a surrogate pair spans two escapes.
fn flush_utf16(units: &mut Vec<u16>, out: &mut String) {
    if !units.is_empty() {
        out.extend(char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or('\u{fffd}')));
    }
}

/// `String.trim`: strips every char up to U+0020 at both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// Keys ZooKeeper passes through as `zookeeper.<key>` system properties (or
/// reads as un-prefixed system properties: `jute.maxbuffer`,
/// `readonlymode.enabled`, `znode.container.*`) and that we act on. Accepted
/// bare and `zookeeper.`-prefixed.
const SYSTEM_PROPERTY_KEYS: &[&str] = &[
    "4lw.commands.whitelist",
    "extendedTypesEnabled",
    "DigestAuthenticationProvider.superDigest",
    "skipACL",
    "maxCnxns",
    "jute.maxbuffer",
    "snapCount",
    "snapSizeLimitInKb",
    "preAllocSize",
    "forceSync",
    "globalOutstandingLimit",
    "admin.enableServer",
    "admin.serverPort",
    "admin.serverAddress",
    "readonlymode.enabled",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
];

/// ZooKeeper keys that configure what corekeeper does not have (TLS, SASL,
/// Kerberos, JVM, metrics providers, audit, tuning of Java internals). Accepted
/// bare and `zookeeper.`-prefixed, recorded in [`Config::ignored_keys`].
const IGNORED_KEYS: &[&str] = &[
    "secureClientPort",
    "secureClientPortAddress",
    "observerMasterPort",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "client.portUnification",
    "serverCnxnFactory",
    "clientCnxnSocket",
    "quorum.cnxn.threads.size",
    "oraclePath",
    "electionPortBindRetry",
    "tcpKeepAlive",
    "clientTcpKeepAlive",
    "commitLogCount",
    "fsync.warningthresholdms",
    "txnLogSizeLimitInKb",
    "leaderServes",
    "traceFile",
    "connection_throttle_tokens",
    "connection_throttle_fill_time",
    "connection_throttle_fill_count",
    "connection_throttle_freeze_time",
    "connection_throttle_drop_increase",
    "connection_throttle_drop_decrease",
    "connection_throttle_decrease_ratio",
    "connection_throttle_weight_enabled",
    "requestThrottleLimit",
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    "request_throttler.shutdownTimeout",
    "learner.asyncSending",
    "learner.closeSocketAsync",
    "leader.closeSocketAsync",
    "forward_learner_requests_to_commit_processor_disabled",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "digest.enabled",
    "audit.enable",
    "audit.impl.class",
    "enforce.auth.enabled",
    "enforce.auth.schemes",
    "sessionRequireClientSASLAuth",
    "snapshot.compression.method",
    "snapshot.trust.empty",
    "snapshot.updateFrequency",
    "watchManagerName",
    "watcherCleanThreshold",
    "watcherCleanIntervalInSeconds",
    "watcherCleanThreadsNum",
    "maxInProcessingDeadWatchers",
    "fips-mode",
    "kerberos.removeHostFromPrincipal",
    "kerberos.removeRealmFromPrincipal",
    "kerberos.canonicalizeHostNames",
    "X509AuthenticationProvider.superUser",
    "ensembleAuthName",
    "admin.portUnification",
    "admin.commandURL",
    "admin.idleTimeout",
    "admin.forceHttps",
    "admin.needClientAuth",
    "admin.rateLimiterIntervalInMS",
    "admin.snapshot.enabled",
    "admin.restore.enabled",
    "netty.server.outboundBuffer.maxSize",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "closeSessionTxn.enabled",
    "serializeLastProcessedZxid.enabled",
    "jute.maxbuffer.extrasize",
    "maxConcurrentSnapSyncs",
    "maxConcurrentDiffSyncs",
    "messageTracker.BufferSize",
    "messageTracker.Enabled",
    "jvm.pause.monitor",
    "jvm.pause.info-threshold.ms",
    "jvm.pause.warn-threshold.ms",
    "jvm.pause.sleep.time.ms",
];

/// Prefixes of ignored key families (`ssl.*`, SASL, auth providers, metrics).
const IGNORED_PREFIXES: &[&str] = &[
    "ssl.",
    "ssl.quorum.",
    "quorum.auth.",
    "authProvider.",
    "metricsProvider.",
    "superUser",
    "sasl.",
    "java.security.",
    "admin.ssl.",
];

/// `skipACL` -> `skipACL`; `zookeeper.skipACL` -> `skipACL`; other keys unchanged.
fn canonical_key(key: &str) -> &str {
    match key.strip_prefix("zookeeper.") {
        Some(rest) if SYSTEM_PROPERTY_KEYS.contains(&rest) || is_ignored(rest) => rest,
        _ => key,
    }
}

/// Keeps the last entry of each key (`Properties` is a map: a later line
/// replaces an earlier one), in the order of those last entries.
fn last_wins(entries: Vec<Entry>) -> Vec<Entry> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        last.insert(canonical_key(&e.key).to_owned(), i);
    }
    entries
        .into_iter()
        .enumerate()
        .filter(|(i, e)| last[canonical_key(&e.key)] == *i)
        .map(|(_, e)| e)
        .collect()
}

/// Collects values, remembering the lines that later checks blame.
struct Builder {
    file: String,
    config: Config,
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
    client_port: Option<(usize, u16)>,
    client_port_address: Option<(usize, IpAddr)>,
    tick_time_line: Option<usize>,
    min_session_timeout: Option<(usize, i64)>,
    max_session_timeout: Option<(usize, i64)>,
    extended_types_line: Option<usize>,
    peer_type: Option<(usize, PeerRole)>,
    /// `server.N`, `group.G`, `weight.N` entries of the static file, parsed once
    /// every other key is known (`multiAddress.enabled` may come after them).
    quorum_entries: Vec<Entry>,
    /// The same from `dynamicConfigFile`: (file label, entries).
    dynamic_entries: Option<(String, Vec<Entry>)>,
    /// Parsed `server.N` lines: (line, key as written, spec).
    servers: Vec<(usize, String, ServerSpec)>,
    groups: Vec<(usize, u64, Vec<u64>)>,
    weights: Vec<(usize, u64, u64)>,
}

impl Builder {
    fn new(file: String, source: Option<&Path>) -> Self {
        let config = Config {
            // ZooKeeper's code defaults for keys a zoo.cfg leaves out.
            tick_time_ms: constants::TICK_TIME_MS_DEFAULT,
            init_limit: 0,
            sync_limit: 0,
            source: source.map(Path::to_owned),
            ..Config::default()
        };
        Builder {
            file,
            config,
            data_dir: None,
            data_log_dir: None,
            client_port: None,
            client_port_address: None,
            tick_time_line: None,
            min_session_timeout: None,
            max_session_timeout: None,
            extended_types_line: None,
            peer_type: None,
            quorum_entries: Vec::new(),
            dynamic_entries: None,
            servers: Vec::new(),
            groups: Vec::new(),
            weights: Vec::new(),
        }
    }

    fn invalid(&self, line: Option<usize>, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            line,
            key: key.to_owned(),
            message,
        }
    }

    fn bad(&self, e: &Entry, message: String) -> ConfigError {
        self.invalid(Some(e.line), &e.key, message)
    }

    fn warn(&mut self, e: &Entry, message: String) {
        let warning = format!("{}:{}: {}: {message}", self.file, e.line, e.key);
        self.config.warnings.push(warning);
    }

    /// An integer in `min..=max` (Java's `Integer.parseInt` syntax: optional
    /// sign, decimal digits).
    fn int(&self, e: &Entry, min: i64, max: i64) -> Result<i64, ConfigError> {
        match e.value.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => {
                let what = match (min, max) {
                    (1, JAVA_INT_MAX | i64::MAX) => "a positive integer".to_owned(),
                    (0, JAVA_INT_MAX | i64::MAX) => "a non-negative integer".to_owned(),
                    (JAVA_INT_MIN, JAVA_INT_MAX) | (i64::MIN, i64::MAX) => "an integer".to_owned(),
                    _ => format!("an integer from {min} to {max}"),
                };
                Err(self.bad(e, format!("expected {what}, got {:?}", e.value)))
            }
        }
    }

    /// A Java `int` in `min..=i32::MAX`, `min >= 0`.
    fn u32(&self, e: &Entry, min: i64) -> Result<u32, ConfigError> {
        debug_assert!(min >= 0);
        Ok(self.int(e, min, JAVA_INT_MAX)? as u32)
    }

    fn port(&self, e: &Entry) -> Result<u16, ConfigError> {
        Ok(self.int(e, 0, 65_535)? as u16)
    }

    /// `QuorumPeerConfig.parseBoolean`: `true` or `false`, any case.
    fn strict_bool(&self, e: &Entry) -> Result<bool, ConfigError> {
        match e.value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(e, format!("expected true or false, got {:?}", e.value))),
        }
    }

    /// System-property switches: ZooKeeper reads some as `Boolean.parseBoolean`
    /// and some (`skipACL`, `forceSync`) as `yes`/`no`; we take either spelling
    /// and refuse anything else rather than guess.
    fn switch(&self, e: &Entry) -> Result<bool, ConfigError> {
        match e.value.to_ascii_lowercase().as_str() {
            "true" | "yes" => Ok(true),
            "false" | "no" => Ok(false),
            _ => Err(self.bad(
                e,
                format!("expected true, false, yes or no, got {:?}", e.value),
            )),
        }
    }

    fn ip(&self, e: &Entry) -> Result<IpAddr, ConfigError> {
        parse_ip(&e.value).ok_or_else(|| {
            self.bad(
                e,
                format!(
                    "expected an IP address (host names are not resolved), got {:?}",
                    e.value
                ),
            )
        })
    }

    fn path(&mut self, e: &Entry) -> Result<PathBuf, ConfigError> {
        if e.value.is_empty() {
            return Err(self.bad(e, "expected a directory, got an empty value".to_owned()));
        }
        let path = PathBuf::from(&e.value);
        // VerifyingFileFactory.warnForRelativePath
        if path.is_relative() && !e.value.starts_with("./") {
            self.warn(
                e,
                format!("{:?} is relative; prepend ./ to show it is meant", e.value),
            );
        }
        Ok(path)
    }

    fn role(&self, e: &Entry, s: &str) -> Result<PeerRole, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Ok(PeerRole::Participant),
            "observer" => Ok(PeerRole::Observer),
            _ => Err(self.bad(
                e,
                format!("expected participant or observer, got {:?}", s.trim()),
            )),
        }
    }

    fn ignore(&mut self, e: &Entry) {
        self.config
            .ignored_keys
            .push((e.line, e.key.clone(), e.value.clone()));
    }

    fn apply_all(&mut self, entries: Vec<Entry>) -> Result<(), ConfigError> {
        for e in last_wins(entries) {
            let key = canonical_key(&e.key).to_owned();
            self.set(&key, &e)?;
        }
        Ok(())
    }

    /// Keys `QuorumPeerConfig.parseProperties` reads itself, and ours.
    fn set(&mut self, key: &str, e: &Entry) -> Result<(), ConfigError> {
        match key {
            "dataDir" => self.data_dir = Some(self.path(e)?),
            "dataLogDir" => self.data_log_dir = Some(self.path(e)?),
            "clientPort" => self.client_port = Some((e.line, self.port(e)?)),
            "clientPortAddress" => self.client_port_address = Some((e.line, self.ip(e)?)),
            "clientPortListenBacklog" => {
                self.config.client_port_listen_backlog =
                    self.int(e, JAVA_INT_MIN, JAVA_INT_MAX)? as i32
            }
            "tickTime" => {
                self.config.tick_time_ms = self.u32(e, 1)?;
                self.tick_time_line = Some(e.line);
            }
            "initLimit" => self.config.init_limit = self.u32(e, 0)?,
            "syncLimit" => self.config.sync_limit = self.u32(e, 0)?,
            "connectToLearnerMasterLimit" => {
                self.config.connect_to_learner_master_limit = self.u32(e, 0)?
            }
            "maxClientCnxns" => self.config.max_client_cnxns = self.u32(e, 0)?,
            "minSessionTimeout" => {
                self.min_session_timeout = Some((e.line, self.int(e, -1, JAVA_INT_MAX)?))
            }
            "maxSessionTimeout" => {
                self.max_session_timeout = Some((e.line, self.int(e, -1, JAVA_INT_MAX)?))
            }
            "localSessionsEnabled" => self.config.local_sessions_enabled = self.strict_bool(e)?,
            "localSessionsUpgradingEnabled" => {
                self.config.local_sessions_upgrading_enabled = self.strict_bool(e)?
            }
            "standaloneEnabled" => self.config.standalone_enabled = self.strict_bool(e)?,
            "reconfigEnabled" => self.config.reconfig_enabled = self.strict_bool(e)?,
            "quorumListenOnAllIPs" => self.config.quorum_listen_on_all_ips = self.strict_bool(e)?,
            "syncEnabled" => self.config.sync_enabled = self.strict_bool(e)?,
            "multiAddress.enabled" => self.config.multi_address_enabled = self.strict_bool(e)?,
            "multiAddress.reachabilityCheckEnabled" | "multiAddress.reachabilityCheckTimeoutMs" => {
                self.ignore(e)
            }
            "autopurge.snapRetainCount" => {
                // Below 3 is corrected (with a warning) once everything is read.
                let count = self.int(e, JAVA_INT_MIN, JAVA_INT_MAX)?;
                self.config.autopurge_snap_retain_count = count.max(0) as u32;
            }
            "autopurge.purgeInterval" => {
                // ZooKeeper schedules no purge for an interval <= 0.
                let hours = self.int(e, JAVA_INT_MIN, JAVA_INT_MAX)?;
                self.config.autopurge_purge_interval_hours = hours.max(0) as u32;
            }
            "electionAlg" => {
                if e.value != "3" {
                    // QuorumPeerConfig: "Only 3 is supported."
                    return Err(self.bad(e, format!("only 3 is supported, got {:?}", e.value)));
                }
            }
            "peerType" => self.peer_type = Some((e.line, self.role(e, &e.value)?)),
            "dynamicConfigFile" => {
                if e.value.is_empty() {
                    return Err(self.bad(e, "expected a file name, got an empty value".into()));
                }
                self.config.dynamic_config_file = Some(PathBuf::from(&e.value));
            }
            "version" => {
                self.config.quorum_config_version =
                    i64::from_str_radix(&e.value, 16).map_err(|_| {
                        self.bad(
                            e,
                            format!("expected a hexadecimal version, got {:?}", e.value),
                        )
                    })?;
            }
            "cores" => {
                let cores = self.int(e, 1, constants::CORES_MAX as i64)?;
                self.config.cores = Some(cores as usize);
            }
            _ if is_quorum_key(key) => self.quorum_entries.push(e.clone()),
            _ => self.set_system_property(key, e)?,
        }
        Ok(())
    }

    /// Keys ZooKeeper reads as system properties.
    fn set_system_property(&mut self, key: &str, e: &Entry) -> Result<(), ConfigError> {
        match key {
            "4lw.commands.whitelist" => {
                self.config.four_letter_words = FourLetterWhitelist::parse(&e.value)
            }
            "extendedTypesEnabled" => {
                self.config.extended_types_enabled = self.switch(e)?;
                self.extended_types_line = Some(e.line);
            }
            "DigestAuthenticationProvider.superDigest" => {
                if !e.value.contains(':') {
                    return Err(self.bad(
                        e,
                        format!("expected super:<base64 sha1 digest>, got {:?}", e.value),
                    ));
                }
                self.config.super_digest = Some(e.value.clone());
            }
            "skipACL" => self.config.skip_acl = self.switch(e)?,
            "maxCnxns" => self.config.max_cnxns = self.u32(e, 0)?,
            "jute.maxbuffer" => {
                let max = constants::JUTE_MAXBUFFER_MAX as i64;
                self.config.jute_maxbuffer = self.int(e, 1, max)? as usize;
            }
            "snapCount" => {
                let count = self.int(e, JAVA_INT_MIN, JAVA_INT_MAX)?;
                if count < 2 {
                    // ZooKeeperServer: "snapCount should be greater than 1".
                    self.warn(e, format!("{count} is below 2; using 2"));
                }
                self.config.snap_count = count.max(2) as u64;
            }
            "snapSizeLimitInKb" => {
                self.config.snap_size_limit_kb = self.int(e, i64::MIN, i64::MAX)?
            }
            "preAllocSize" => self.config.pre_alloc_size_kb = self.int(e, 1, i64::MAX)? as u64,
            "forceSync" => self.config.force_sync = self.switch(e)?,
            "globalOutstandingLimit" => self.config.global_outstanding_limit = self.u32(e, 1)?,
            "admin.enableServer" => self.config.admin_enable_server = self.switch(e)?,
            "admin.serverPort" => self.config.admin_server_port = self.port(e)?,
            "admin.serverAddress" => self.config.admin_server_address = self.ip(e)?,
            "readonlymode.enabled" => self.config.read_only_mode_enabled = self.switch(e)?,
            "znode.container.checkIntervalMs" => {
                self.config.container_check_interval_ms = self.int(e, 1, JAVA_INT_MAX)? as u64
            }
            "znode.container.maxPerMinute" => {
                self.config.container_max_per_minute = self.u32(e, 1)?
            }
            _ if is_ignored(key) => {
                if key.starts_with("secureClientPort") {
                    self.warn(
                        e,
                        "TLS client connections are not supported; only clientPort is served"
                            .to_owned(),
                    );
                }
                self.ignore(e)
            }
            _ => self
                .config
                .unknown_keys
                .push((e.line, e.key.clone(), e.value.clone())),
        }
        Ok(())
    }

    /// `dynamicConfigFile`: `server.N`, `group.G` and `weight.N` only; the version
    /// comes from the file name's hex suffix (`zoo.cfg.dynamic.100000000`).
    fn read_dynamic_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = read_text(path)?;
        let file = path.display().to_string();
        let entries = last_wins(properties(&text, &file)?);
        for e in &entries {
            let message = if e.key == "version" {
                "the dynamic file must not hold a version; its name carries it"
            } else if !is_quorum_key(&e.key) {
                "only server.N, group.G and weight.N belong in a dynamic config file"
            } else {
                continue;
            };
            return Err(ConfigError::Invalid {
                file,
                line: Some(e.line),
                key: e.key.clone(),
                message: message.to_owned(),
            });
        }
        let version = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, v)| i64::from_str_radix(v, 16).ok());
        if let Some(version) = version {
            self.config.quorum_config_version = version;
        }
        self.dynamic_entries = Some((file, entries));
        Ok(())
    }

    /// Resolves defaults and checks what depends on several keys.
    fn finish(mut self, myid: MyId) -> Result<Config, ConfigError> {
        let Some(data_dir) = self.data_dir.take() else {
            return Err(self.invalid(None, "dataDir", "is not set".to_owned()));
        };
        self.config.data_log_dir = self.data_log_dir.take().unwrap_or_else(|| data_dir.clone());
        self.config.data_dir = data_dir;
        self.resolve_client_port()?;
        self.resolve_session_timeouts()?;
        if self.config.autopurge_snap_retain_count < constants::SNAP_RETAIN_COUNT_MIN {
            self.config.warnings.push(format!(
                "autopurge.snapRetainCount {} is below {}; using {}",
                self.config.autopurge_snap_retain_count,
                constants::SNAP_RETAIN_COUNT_MIN,
                constants::SNAP_RETAIN_COUNT_MIN
            ));
            self.config.autopurge_snap_retain_count = constants::SNAP_RETAIN_COUNT_MIN;
        }
        if self.config.read_only_mode_enabled {
            self.config.four_letter_words.insert(FourLetterWord::Isro);
        }
        self.parse_quorum_entries()?;
        self.resolve_quorum()?;
        self.resolve_myid(myid)?;
        Ok(self.config)
    }

    fn resolve_client_port(&mut self) -> Result<(), ConfigError> {
        if let (None, Some((line, _))) = (self.client_port, self.client_port_address) {
            return Err(self.invalid(
                Some(line),
                "clientPortAddress",
                "is set but clientPort is not".to_owned(),
            ));
        }
        if let Some((_, port)) = self.client_port {
            self.config.client_port = port;
        }
        self.config.client_port_address = self.client_port_address.map(|(_, a)| a);
        Ok(())
    }

    fn resolve_session_timeouts(&mut self) -> Result<(), ConfigError> {
        let tick = i64::from(self.config.tick_time_ms);
        let resolve = |set: Option<(usize, i64)>, ticks: i64| match set {
            Some((_, v)) if v != -1 => v,
            _ => ticks * tick,
        };
        let min = resolve(self.min_session_timeout, 2);
        let max = resolve(self.max_session_timeout, 20);
        if min > max {
            let (line, key) = match (self.min_session_timeout, self.max_session_timeout) {
                (_, Some((line, _))) => (Some(line), "maxSessionTimeout"),
                (Some((line, _)), None) => (Some(line), "minSessionTimeout"),
                _ => (self.tick_time_line, "tickTime"),
            };
            return Err(self.invalid(
                line,
                key,
                format!(
                    "minSessionTimeout ({min} ms) must not be larger than \
                     maxSessionTimeout ({max} ms)"
                ),
            ));
        }
        self.config.min_session_timeout_ms = u32::try_from(min).unwrap_or(u32::MAX);
        self.config.max_session_timeout_ms = u32::try_from(max).unwrap_or(u32::MAX);
        Ok(())
    }

    /// Parses the `server.N`/`group.G`/`weight.N` entries of the dynamic file
    /// if there is one, else of the static file.
    fn parse_quorum_entries(&mut self) -> Result<(), ConfigError> {
        if self.config.dynamic_config_file.is_some() {
            if let Some(e) = self.quorum_entries.first() {
                // QuorumPeerConfig: "must be in a separate dynamic config file".
                return Err(self.bad(
                    e,
                    "belongs in the dynamicConfigFile when one is set".to_owned(),
                ));
            }
        }
        let (file, entries) = match self.dynamic_entries.take() {
            Some((file, entries)) => (file, entries),
            None => (self.file.clone(), std::mem::take(&mut self.quorum_entries)),
        };
        let static_file = std::mem::replace(&mut self.file, file);
        let result = entries.iter().try_for_each(|e| self.quorum_entry(e));
        self.file = static_file;
        result
    }

    /// `server.N`, `group.G`, `weight.N` (`QuorumMaj` / `QuorumHierarchical`).
    fn quorum_entry(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let (kind, id) = e
            .key
            .split_once('.')
            .expect("is_quorum_key checked the dot");
        let id: u64 = id
            .parse()
            .ok()
            .filter(|id| *id <= i64::MAX as u64)
            .ok_or_else(|| self.bad(e, format!("expected a number after {kind}., got {id:?}")))?;
        match kind {
            "server" => {
                let spec = self.server_spec(e, id)?;
                self.servers.push((e.line, e.key.clone(), spec));
            }
            "group" => {
                let members = e
                    .value
                    .split(':')
                    .map(|sid| sid.trim().parse::<u64>())
                    .collect::<Result<Vec<u64>, _>>()
                    .map_err(|_| {
                        self.bad(
                            e,
                            format!("expected server ids separated by ':', got {:?}", e.value),
                        )
                    })?;
                self.groups.push((e.line, id, members));
            }
            _ => {
                let weight = self.int(e, 0, i64::MAX)? as u64;
                self.weights.push((e.line, id, weight));
            }
        }
        Ok(())
    }

    /// `QuorumServer.initializeWithAddressString`.
    fn server_spec(&self, e: &Entry, id: u64) -> Result<ServerSpec, ConfigError> {
        let wrong_format = || {
            self.bad(
                e,
                format!(
                    "expected host:quorumPort:electionPort[:participant|:observer]\
                     [;[clientHost:]clientPort], got {:?}",
                    e.value
                ),
            )
        };
        let parts: Vec<&str> = e.value.split(';').collect();
        if parts.len() > 2 {
            return Err(wrong_format());
        }
        let (client_host, client_port) = match parts.get(1) {
            None => (None, None),
            Some(client) => {
                let fields = host_and_port(client.trim()).ok_or_else(wrong_format)?;
                if fields.len() > 2 {
                    return Err(wrong_format());
                }
                let port = parse_port(fields[fields.len() - 1]).ok_or_else(wrong_format)?;
                let host = if fields.len() == 2 {
                    fields[0]
                } else {
                    "0.0.0.0"
                };
                (Some(host.to_owned()), Some(port))
            }
        };
        let mut addresses = Vec::new();
        let mut role = None;
        for address in parts[0].split('|') {
            let fields = host_and_port(address.trim()).ok_or_else(wrong_format)?;
            if !(3..=4).contains(&fields.len()) {
                return Err(wrong_format());
            }
            let quorum_port = parse_port(fields[1]).ok_or_else(wrong_format)?;
            let election_port = parse_port(fields[2]).ok_or_else(wrong_format)?;
            if quorum_port == election_port {
                return Err(self.bad(e, "quorum and election ports must differ".to_owned()));
            }
            if let Some(kind) = fields.get(3) {
                let this = self.role(e, kind)?;
                if role.is_some_and(|r| r != this) {
                    return Err(self.bad(e, "every address must have the same role".to_owned()));
                }
                role = Some(this);
            }
            addresses.push(PeerAddress {
                host: fields[0].to_owned(),
                quorum_port,
                election_port,
            });
        }
        if addresses.len() > 1 && !self.config.multi_address_enabled {
            return Err(self.bad(
                e,
                "several addresses need multiAddress.enabled=true".to_owned(),
            ));
        }
        let first = addresses.remove(0);
        Ok(ServerSpec {
            id,
            host: first.host,
            quorum_port: first.quorum_port,
            election_port: first.election_port,
            alt_addresses: addresses,
            role: role.unwrap_or(PeerRole::Participant),
            client_host,
            client_port,
        })
    }

    /// `QuorumPeerConfig.parseDynamicConfig` and `checkValidity`, minus myid.
    fn resolve_quorum(&mut self) -> Result<(), ConfigError> {
        self.servers.sort_by_key(|(_, _, s)| s.id);
        if let Some(pair) = self.servers.windows(2).find(|w| w[0].2.id == w[1].2.id) {
            let (line, key, _) = &pair[1];
            return Err(self.invalid(Some(*line), key, "is given twice".to_owned()));
        }
        self.config.servers = self.servers.iter().map(|(_, _, s)| s.clone()).collect();
        self.resolve_groups()?;
        let participants = self.config.participants();
        let observers = self.config.servers.len() - participants;
        let blame = |b: &Self, message: &str| match b.servers.first() {
            Some((line, key, _)) => b.invalid(Some(*line), key, message.to_owned()),
            None => b.invalid(None, "standaloneEnabled", message.to_owned()),
        };
        if participants == 0 {
            if !self.config.standalone_enabled {
                return Err(blame(
                    self,
                    "standaloneEnabled=false needs at least one participant",
                ));
            }
            if observers > 0 {
                return Err(blame(
                    self,
                    "observers without participants are not an ensemble",
                ));
            }
        } else if participants == 1 && self.config.standalone_enabled {
            if observers > 0 {
                return Err(blame(
                    self,
                    "observers without a quorum are not an ensemble",
                ));
            }
            self.config.warnings.push(
                "only one server is configured: running standalone (standaloneEnabled=true)"
                    .to_owned(),
            );
        } else if participants <= 2 {
            self.config.warnings.push(
                "no server failure will be tolerated: an ensemble needs at least 3 servers"
                    .to_owned(),
            );
        } else if participants % 2 == 0 {
            self.config.warnings.push(
                "an even number of participants: consider an odd number of servers".to_owned(),
            );
        }
        if self.config.mode() == ServerMode::Quorum {
            let limits = [
                ("initLimit", self.config.init_limit),
                ("syncLimit", self.config.sync_limit),
            ];
            for (key, value) in limits {
                if value == 0 {
                    return Err(self.invalid(
                        None,
                        key,
                        "is not set (an ensemble needs it)".into(),
                    ));
                }
            }
        }
        if self.config.extended_types_enabled {
            let max = constants::EXTENDED_TYPES_SERVER_ID_MAX;
            if let Some((line, key, _)) = self.servers.iter().find(|(_, _, s)| s.id > max) {
                return Err(self.invalid(
                    Some(*line),
                    key,
                    format!("extendedTypesEnabled allows server ids up to {max}"),
                ));
            }
        }
        Ok(())
    }

    /// `QuorumHierarchical`: each participant in exactly one group; weight 1 unless given.
    fn resolve_groups(&mut self) -> Result<(), ConfigError> {
        if self.groups.is_empty() {
            if let Some((line, id, _)) = self.weights.first() {
                return Err(self.invalid(
                    Some(*line),
                    &format!("weight.{id}"),
                    "weights need group.G lines (hierarchical quorums)".to_owned(),
                ));
            }
            return Ok(());
        }
        self.groups.sort_by_key(|(_, gid, _)| *gid);
        let mut group_of: HashMap<u64, u64> = HashMap::new();
        for (line, gid, members) in &self.groups {
            for sid in members {
                if group_of.insert(*sid, *gid).is_some() {
                    return Err(self.invalid(
                        Some(*line),
                        &format!("group.{gid}"),
                        format!("server {sid} is in more than one group"),
                    ));
                }
            }
        }
        let mut weights: std::collections::BTreeMap<u64, u64> =
            self.weights.iter().map(|(_, sid, w)| (*sid, *w)).collect();
        for (line, key, spec) in &self.servers {
            if spec.role == PeerRole::Participant {
                if !group_of.contains_key(&spec.id) {
                    return Err(self.invalid(
                        Some(*line),
                        key,
                        "is not in any group.G line".to_owned(),
                    ));
                }
                weights.entry(spec.id).or_insert(1);
            }
        }
        self.config.quorum_groups = self
            .groups
            .iter()
            .map(|(_, gid, members)| {
                let mut members = members.clone();
                members.sort_unstable();
                (*gid, members)
            })
            .collect();
        self.config.quorum_weights = weights.into_iter().collect();
        Ok(())
    }

    /// `setupMyId`, `setupClientPort`, `setupPeerType`, `checkValidity`.
    fn resolve_myid(&mut self, myid: MyId) -> Result<(), ConfigError> {
        let quorum = self.config.mode() == ServerMode::Quorum;
        let (id, path) = match myid {
            MyId::NotRead => return Ok(()),
            MyId::Missing if quorum => {
                let path = self.config.data_dir.join("myid");
                return Err(self.invalid(
                    None,
                    "myid",
                    format!(
                        "{} is missing; an ensemble member needs its id there",
                        path.display()
                    ),
                ));
            }
            MyId::Missing => return Ok(()),
            MyId::Present(id, path) => (id, path),
        };
        self.config.server_id = id;
        let max = constants::EXTENDED_TYPES_SERVER_ID_MAX;
        if self.config.extended_types_enabled && id > max {
            return Err(self.invalid(
                self.extended_types_line,
                "extendedTypesEnabled",
                format!(
                    "server id {id} (from {}) is above {max}, the largest extended types allow",
                    path.display()
                ),
            ));
        }
        if !quorum {
            return Ok(());
        }
        let Some(me) = self.config.own_server().cloned() else {
            return Err(self.invalid(
                None,
                "myid",
                format!(
                    "server id {id} (from {}) has no server.{id} line",
                    path.display()
                ),
            ));
        };
        if let Some(port) = me.client_port {
            if let Some((line, static_port)) = self.client_port {
                if static_port != port {
                    return Err(self.invalid(
                        Some(line),
                        "clientPort",
                        format!("{static_port} differs from server.{id}'s client port {port}"),
                    ));
                }
            }
            self.config.client_port = port;
            let host = me.client_host.as_deref().and_then(parse_ip);
            if let Some(host) = host.filter(|h| !h.is_unspecified()) {
                self.config.client_port_address = Some(host);
            }
        }
        if let Some((line, role)) = self.peer_type {
            if role != me.role {
                self.config.warnings.push(format!(
                    "{}:{line}: peerType: {role:?} differs from server.{id}'s role {:?}; \
                     using the server line",
                    self.file, me.role
                ));
            }
        }
        Ok(())
    }
}

fn is_ignored(key: &str) -> bool {
    IGNORED_KEYS.contains(&key) || IGNORED_PREFIXES.iter().any(|p| key.starts_with(p))
}

const JAVA_INT_MAX: i64 = i32::MAX as i64;
const JAVA_INT_MIN: i64 = i32::MIN as i64;

fn is_quorum_key(key: &str) -> bool {
    ["server.", "group.", "weight."]
        .iter()
        .any(|p| key.starts_with(p))
}

/// `ConfigUtils.getHostAndPort`: `[v6]:a:b` or `host:a:b`, split on `:`.
fn host_and_port(s: &str) -> Option<Vec<&str>> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        let tail = rest[close + 1..].strip_prefix(':')?;
        if tail.is_empty() {
            return None;
        }
        let mut fields = vec![host];
        fields.extend(tail.split(':'));
        Some(fields)
    } else {
        Some(s.split(':').collect())
    }
}

fn parse_port(s: &str) -> Option<u16> {
    s.trim().parse().ok()
}

/// An IP literal (`[v6]` accepted), or `localhost`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Vec<(usize, String, String)> {
        properties(text, "t")
            .unwrap()
            .into_iter()
            .map(|e| (e.line, e.key, e.value))
            .collect()
    }

    fn kv(line: usize, k: &str, v: &str) -> (usize, String, String) {
        (line, k.to_owned(), v.to_owned())
    }

    #[test]
    fn properties_separators_and_comments() {
        let text = "# comment\n! also\n\n  a=1\nb : 2\nc 3\nd\t=\t4  \ne=\nf\n";
        assert_eq!(
            props(text),
            vec![
                kv(4, "a", "1"),
                kv(5, "b", "2"),
                kv(6, "c", "3"),
                kv(7, "d", "4"),
                kv(8, "e", ""),
                kv(9, "f", ""),
            ]
        );
    }

    #[test]
    fn properties_value_keeps_later_separators() {
        assert_eq!(props("k==v:w")[0], kv(1, "k", "=v:w"));
        assert_eq!(
            props("server.1=a:2888:3888")[0],
            kv(1, "server.1", "a:2888:3888")
        );
    }

    #[test]
    fn properties_continuations_and_line_ends() {
        let text = "a=one\\\n    two\\\n three\r\nb=x\rc=\\\\\n# x \\\nd=y";
        assert_eq!(
            props(text),
            vec![
                kv(1, "a", "onetwothree"),
                kv(4, "b", "x"),
                kv(5, "c", "\\"),
                kv(7, "d", "y"),
            ]
        );
    }

    #[test]
    fn properties_escapes() {
        assert_eq!(props("k\\=ey=a\\tb\\u0041\\z")[0], kv(1, "k=ey", "a\tbAz"));
        assert_eq!(props("k=\\ud83d\\ude00")[0], kv(1, "k", "\u{1F600}"));
        let err = properties("\n k=\\u00zz", "zoo.cfg").unwrap_err();
        assert_eq!(err.to_string(), "zoo.cfg:2: malformed \\uxxxx escape");
    }

    #[test]
    fn canonical_keys() {
        assert_eq!(canonical_key("zookeeper.skipACL"), "skipACL");
        assert_eq!(canonical_key("zookeeper.jute.maxbuffer"), "jute.maxbuffer");
        assert_eq!(
            canonical_key("zookeeper.ssl.keyStore.location"),
            "ssl.keyStore.location"
        );
        // Keys QuorumPeerConfig reads itself have no prefixed form.
        assert_eq!(canonical_key("zookeeper.tickTime"), "zookeeper.tickTime");
    }

    #[test]
    fn host_and_port_split() {
        assert_eq!(host_and_port("a:1:2").unwrap(), vec!["a", "1", "2"]);
        assert_eq!(
            host_and_port("[::1]:1:2:observer").unwrap(),
            vec!["::1", "1", "2", "observer"]
        );
        assert_eq!(host_and_port("[::1]"), None);
        assert_eq!(host_and_port("[::1]:"), None);
    }
}
