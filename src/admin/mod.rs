//! Four-letter words: the text replies ZooKeeper gives on the client port.
//!
//! A client that opens a connection and sends one of the four-byte words below
//! instead of a length-prefixed `ConnectRequest` gets a plain-text reply and the
//! server closes the connection (`NIOServerCnxn.checkFourLetterWord`). Operators'
//! tools parse these replies (`zkServer.sh status` greps `srvr` for `Mode:`, Solr
//! splits `mntr` on TAB and `conf` on `=`, Datadog reads the version from `stat`),
//! so every byte here follows ZooKeeper 3.9's `server/command/*Command.java`.
//!
//! Pure: the runtime gathers a [`ServerSnapshot`] on the core that owns the
//! connection (merging shard counters as it likes), calls [`render`], writes the
//! string and closes. Words with a side effect (`crst`, `srst`, `stmk`) name it
//! through [`FourLetterWord::side_effect`]; the runtime performs it before it
//! renders. Whether a word may run at all is [`crate::config::FourLetterWhitelist`].

mod fourlw;
mod java;
mod snapshot;

pub use fourlw::{not_whitelisted, render, ZK_NOT_SERVING};
pub use snapshot::{ConnectionInfo, LeaderStats, MetricValue, QuorumSnapshot, ServerSnapshot};

/// The ZooKeeper release whose client protocol and admin output we reproduce.
pub const ZOOKEEPER_VERSION: &str = "3.9.3";

/// ZooKeeper's default text trace mask (`ZooTrace`: client request, server packet,
/// session and warning bits), what `gtmk` prints on a fresh server.
pub const TRACE_MASK_DEFAULT: i64 = 306;

/// Build date printed after the version. A release build may set
/// `COREKEEPER_BUILD_DATE` (format `yyyy-MM-dd HH:mm UTC`, as ZooKeeper's builds
/// print it); otherwise the date of this source release is used, so the string
/// never depends on the build machine's clock.
pub const BUILD_DATE: &str = match option_env!("COREKEEPER_BUILD_DATE") {
    Some(date) => date,
    None => "2026-11-22 00:00 UTC",
};

/// The version line body, ZooKeeper's `Version.getFullVersion()` shape:
/// `3.9.3-corekeeper-0.1.0, built on 2026-11-22 00:00 UTC`.
///
/// ZooKeeper prints `<major.minor.micro>-<git hash>, built on <date>`. We keep the
/// ZooKeeper release first, so tools that take `major.minor.micro` up to the
/// first `-` (Datadog's `Zookeeper version: ([^.]+)\.([^.]+)\.([^-]+)`) see 3.9.3
/// and enable their 3.4+ paths (`mntr`), and put our own name and version where
/// ZooKeeper puts its revision. No TAB, `=` or newline: `mntr` and `envi` lines
/// stay splittable.
pub fn full_version() -> String {
    format!(
        "{ZOOKEEPER_VERSION}-corekeeper-{}, built on {BUILD_DATE}",
        env!("CARGO_PKG_VERSION")
    )
}

/// A four-letter word (`FourLetterCommands.java`): the first four bytes a client
/// sends, read as a big-endian `int` in place of a frame length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// `ruok`: `imok` if the process is up.
    Ruok,
    /// `isro`: `ro` or `rw`.
    Isro,
    /// `srvr`: server statistics.
    Srvr,
    /// `stat`: `srvr` plus the connection list.
    Stat,
    /// `cons`: every connection with its full statistics.
    Cons,
    /// `crst`: reset every connection's statistics.
    Crst,
    /// `srst`: reset the server statistics.
    Srst,
    /// `conf`: the serving configuration.
    Conf,
    /// `envi`: the process environment.
    Envi,
    /// `dump`: sessions by expiry, ephemerals by session, connections.
    Dump,
    /// `wchs`: watch summary.
    Wchs,
    /// `wchc`: watched paths by session.
    Wchc,
    /// `wchp`: watching sessions by path.
    Wchp,
    /// `mntr`: `zk_<key>\t<value>` monitoring lines.
    Mntr,
    /// `dirs`: bytes used by snapshots and logs.
    Dirs,
    /// `gtmk`: the trace mask.
    Gtmk,
    /// `stmk`: set the trace mask (an 8-byte big-endian long follows the word).
    Stmk,
    /// `hash`: recorded tree digests.
    Hash,
}

/// What the runtime must do before it renders a word (`render` itself is pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideEffect {
    /// `crst`: `ServerCnxnFactory.resetAllConnectionStats` (packets, latencies,
    /// last op/cxid/zxid of every connection; see [`ConnectionInfo::default`]).
    ResetConnectionStats,
    /// `srst`: `ServerStats.reset` (latency, packet counters, response sizes,
    /// and on a leader the proposal sizes).
    ResetServerStats,
    /// `stmk`: read 8 more bytes (big-endian `i64`), make it the trace mask and
    /// put it in [`ServerSnapshot::trace_mask`]; the reply echoes it.
    SetTraceMask,
}

impl FourLetterWord {
    /// Every word, in ZooKeeper's documentation order.
    pub const ALL: [FourLetterWord; 18] = [
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Ruok,
        FourLetterWord::Stmk,
        FourLetterWord::Srst,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Hash,
    ];

    /// The word for the first four bytes of a connection, if they are one.
    pub fn from_bytes(b: [u8; 4]) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str().as_bytes() == b)
    }

    /// The word named by `name` (exact, lower case, as in `4lw.commands.whitelist`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == name)
    }

    /// The four letters.
    pub fn as_str(self) -> &'static str {
        match self {
            FourLetterWord::Ruok => "ruok",
            FourLetterWord::Isro => "isro",
            FourLetterWord::Srvr => "srvr",
            FourLetterWord::Stat => "stat",
            FourLetterWord::Cons => "cons",
            FourLetterWord::Crst => "crst",
            FourLetterWord::Srst => "srst",
            FourLetterWord::Conf => "conf",
            FourLetterWord::Envi => "envi",
            FourLetterWord::Dump => "dump",
            FourLetterWord::Wchs => "wchs",
            FourLetterWord::Wchc => "wchc",
            FourLetterWord::Wchp => "wchp",
            FourLetterWord::Mntr => "mntr",
            FourLetterWord::Dirs => "dirs",
            FourLetterWord::Gtmk => "gtmk",
            FourLetterWord::Stmk => "stmk",
            FourLetterWord::Hash => "hash",
        }
    }

    /// The word as ZooKeeper compares it: `ByteBuffer.wrap("xxxx".getBytes()).getInt()`.
    pub fn code(self) -> i32 {
        let b = self.as_str().as_bytes();
        i32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The state change the runtime performs before rendering, if any.
    pub fn side_effect(self) -> Option<SideEffect> {
        match self {
            FourLetterWord::Crst => Some(SideEffect::ResetConnectionStats),
            FourLetterWord::Srst => Some(SideEffect::ResetServerStats),
            FourLetterWord::Stmk => Some(SideEffect::SetTraceMask),
            _ => None,
        }
    }
}

impl std::fmt::Display for FourLetterWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
