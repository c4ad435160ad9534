//! The command line: `corekeeper-loadgen run | compare | null-server`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::workload::{plan_named, plan_toml, Overrides, Plan, WorkloadKind};

/// Load generator for ZooKeeper-compatible servers (corekeeper, Apache ZooKeeper, ...).
///
/// Speaks the ZooKeeper wire protocol itself. Runs a thread per core, each with
/// many sessions pipelining requests, so that the server, not the generator, is
/// what saturates. Every reply is checked (versions, data, read-your-writes per
/// session, listings, notifications); errors are counted by ZooKeeper error
/// code and named in the headline. Exit status: 0 for a clean run, 1 when any
/// operation failed, 2 when the run could not be done.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one workload against one server (or several, sessions spread over them).
    ///
    /// Set-up creates a root znode `/corekeeper-loadgen-<pid>-<us>`, a directory
    /// per session under it and the workload's znodes; tear-down removes all of
    /// them. Sweeping workloads (rw-sweep, sync-create, durability-floor, or
    /// any workload given several --sessions or --read-pct values) run one
    /// step per value, each with its own set-up and tear-down.
    Run(RunArgs),
    /// Run the same workload against two servers, one at a time, in interleaved
    /// rounds (A B A B ...), and print per-metric medians side by side with the
    /// ratio B/A.
    Compare(CompareArgs),
    /// Serve the ZooKeeper protocol doing no work (canned replies), to measure
    /// the ceiling of this host and of the load generator: run `run` against it.
    NullServer(NullServerArgs),
}

/// Options of `null-server`.
#[derive(Args, Debug, Clone)]
pub struct NullServerArgs {
    /// Port to listen on (127.0.0.1).
    #[arg(long)]
    pub port: u16,

    /// Serving threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Options of `run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Server(s) as HOST:PORT[,HOST:PORT...]; session i connects to the i-th
    /// modulo their number.
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,

    /// What to run.
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Server A, HOST:PORT (the baseline: ratios are B/A).
    #[arg(long)]
    pub a: String,

    /// Server B, HOST:PORT.
    #[arg(long)]
    pub b: String,

    /// A name for server A in the report (e.g. zookeeper) [default: A].
    #[arg(long, default_value = "A")]
    pub a_name: String,

    /// A name for server B in the report (e.g. corekeeper) [default: B].
    #[arg(long, default_value = "B")]
    pub b_name: String,

    /// Rounds; each runs the workload on A, then on B.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,

    /// What to run.
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The workload and how to run it (shared by `run` and `compare`).
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// A named workload or a TOML workload file (a path ending in `.toml`).
    /// Each named workload reproduces a published benchmark (its anchor):
    ///
    /// read: getData of its own znode, 1 KiB [ZooKeeper paper (Hunt et al.,
    /// USENIX ATC 2010) 5.1, 100% reads].
    ///
    /// write: setData of its own znode, 1 KiB [ZooKeeper paper 5.1, 0% reads].
    ///
    /// rw-sweep: getData or setData of its own znode, 1 KiB, one step per
    /// --read-pct (default 0,10,...,100) [ZooKeeper paper 5.1, Figure 5].
    ///
    /// create: creates of new znodes, 100 B [ClickHouse keeper-bench `create`].
    ///
    /// mixed: 10% create, 40% setData, 40% getData, 10% delete over its own
    /// 100 znodes, 1 KiB [keeper-bench style mix].
    ///
    /// sync-create: workers that create (100 B), wait, delete asynchronously;
    /// 1, 10, 20 workers [ZooKeeper paper 5.2, Table 2].
    ///
    /// durability-floor: synchronous setData, 1 KiB, with 1, 2, 4 ... 1024
    /// sessions: throughput against sessions shows group commit [etcd
    /// benchmark `put` with 1 to 1000 clients].
    ///
    /// bulk-load: 1,000,000 creates of 1 KiB, then stop; tail latency over time
    /// in the report's time series [etcd benchmark `put --total 1000000`].
    ///
    /// multi-write: multi of 20 (create 1 : setData 2 : delete 1) over its own
    /// znodes [keeper-bench `multi`, keeper-bench-suite].
    ///
    /// multi-read: multiRead of 20 (getData 4 : getChildren 1) over its own
    /// 100 znodes [keeper-bench `multi`, keeper-bench-suite].
    ///
    /// latency-profile: 10,000 each of create, setData, getData, delete, create
    /// ephemeral, exists with watch, delete ephemeral (and its notifications),
    /// 25 B, one session, synchronous (--depth N: asynchronous)
    /// [zk-smoketest zk-latencies.py].
    ///
    /// watch-fanout: session 0 sets one znode 100 times a second (--rate); all
    /// other sessions (1000) hold a persistent watch on it: notification
    /// latency [etcd benchmark `watch-latency`].
    ///
    /// session-churn: 16 workers that connect, check the previous ephemeral is
    /// gone, create an ephemeral, close; sessions per second
    /// [zk-smoketest zk-smoketest.py sessions].
    ///
    /// large: getData or setData of its own znode with 64 KiB values, 50%
    /// reads [etcd benchmark `put --val-size 65536`].
    #[arg(long, verbatim_doc_comment)]
    pub workload: String,

    /// Length of each measured window, seconds [default: 10].
    #[arg(long)]
    pub duration: Option<f64>,

    /// Warm-up before each window, seconds: load runs, nothing is recorded [default: 2].
    #[arg(long)]
    pub warmup: Option<f64>,

    /// Stop after this many operations in all (each measured) instead of by
    /// the clock [bulk-load: 1000000; latency-profile: 10000 per pass].
    #[arg(long)]
    pub ops: Option<u64>,

    /// Sessions (TCP connections), spread over the threads; several values
    /// (1,8,64) run one step each [default: the workload's, mostly 64].
    #[arg(long, value_delimiter = ',')]
    pub sessions: Vec<u32>,

    /// Requests in flight per session at most (pipelining); 1 = synchronous.
    /// Closed loop keeps sessions x depth requests outstanding all the time
    /// [default: the workload's, mostly 8].
    #[arg(long)]
    pub depth: Option<usize>,

    /// Open loop: a fixed total arrival rate, ops/s, spread evenly over the
    /// sessions. Latency counts from each arrival's intended send time, so time
    /// spent queued behind a slow server (or a full pipeline) is charged to it:
    /// no coordinated omission. Without --rate: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Bytes of data per value written [default: the workload's].
    #[arg(long)]
    pub value_size: Option<u32>,

    /// Share of reads in getData/setData workloads, percent; several values
    /// run one step each [rw-sweep: 0,10,...,100; large: 50].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..=100))]
    pub read_pct: Vec<u8>,

    /// Znodes created at set-up in all, spread over the sessions.
    #[arg(long)]
    pub tree_size: Option<u64>,

    /// Pick keys zipfian (theta 0.99, YCSB's) instead of uniformly.
    #[arg(long)]
    pub zipfian: bool,

    /// Sub-operations per multi or multiRead [default: 20].
    #[arg(long)]
    pub multi_size: Option<u32>,

    /// Driver threads, each its own event loop [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,

    /// Session timeout asked for in the handshake, ms (idle sessions ping at a third of it).
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout_ms: i32,

    /// Seed of every random choice (op mix, keys, value sizes), for a
    /// reproducible op sequence.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Where results go (shared by `run` and `compare`).
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Also print the results as one JSON object, the last line of stdout.
    #[arg(long)]
    pub json: bool,

    /// No live progress line on stderr.
    #[arg(long)]
    pub quiet: bool,

    /// Write an HDR histogram interval log (one histogram per second, all
    /// operations, ns) to this file; `<file>.<n>` for step n when a plan has
    /// several steps (and `<file>.a<round>`/`.b<round>` prefixes in compare).
    #[arg(long)]
    pub hdr_log: Option<std::path::PathBuf>,

    /// Write the report as one self-contained HTML page to this file:
    /// throughput and latency (p50, p99, p99.9, max) per second, latency by
    /// percentile (HdrHistogram's log percentile axis), the tables, the
    /// server's own facts, the parameters, the host and the command. With
    /// `compare`, both servers overlaid round by round, medians and ratios.
    /// Inline SVG and CSS only: no script, nothing fetched.
    #[arg(long)]
    pub html: Option<std::path::PathBuf>,

    /// Do not ask the server for its own facts. By default the first target
    /// is asked `mntr` and `srvr` (ZooKeeper's four-letter words; the server
    /// must allow them, e.g. `4lw.commands.whitelist=*`) before, once a second
    /// during and after each step, and a server on this host has its RSS and
    /// CPU read from /proc: txns, fsyncs, txns per fsync, outstanding
    /// requests, connections, znodes, RSS and CPU appear beside the client's
    /// numbers.
    #[arg(long)]
    pub no_server_facts: bool,
}

impl WorkloadArgs {
    /// The overrides the options make.
    pub fn overrides(&self) -> Result<Overrides, String> {
        Ok(Overrides {
            sessions: self.sessions.clone(),
            depth: self.depth,
            rate: self.rate,
            value_size: self.value_size,
            read_pct: self.read_pct.clone(),
            duration: self.duration.map(|s| seconds("duration", s)).transpose()?,
            warmup: self.warmup.map(|s| seconds("warmup", s)).transpose()?,
            ops: self.ops,
            tree_size: self.tree_size,
            zipfian: self.zipfian.then_some(true),
            multi_size: self.multi_size,
        })
    }

    /// The plan: a named workload, or a TOML file read from disk.
    pub fn plan(&self) -> Result<Plan, String> {
        let overrides = self.overrides()?;
        if let Some(kind) = WorkloadKind::from_name(&self.workload) {
            return plan_named(kind, &overrides);
        }
        if self.workload.ends_with(".toml") {
            let text = std::fs::read_to_string(&self.workload)
                .map_err(|e| format!("--workload {}: {e}", self.workload))?;
            return plan_toml(&text, &self.workload, &overrides);
        }
        let names: Vec<&str> = WorkloadKind::ALL.iter().map(|k| k.name()).collect();
        Err(format!(
            "--workload {}: not a workload ({}) nor a .toml file",
            self.workload,
            names.join(", ")
        ))
    }

    /// Driver threads.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s >= 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("--{name} must be a non-negative number of seconds"))
    }
}

/// Resolves HOST:PORT.
pub fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("--target {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {target}: no address"))
}

/// Resolves HOST:PORT[,HOST:PORT...].
pub fn resolve_all(targets: &[String]) -> Result<Vec<SocketAddr>, String> {
    targets.iter().map(|t| resolve(t)).collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::workload::{End, MixOp};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("corekeeper-loadgen").chain(args.iter().copied()))
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args).unwrap().command {
            Command::Run(args) => args,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn run_parses_with_the_workloads_defaults() {
        let args = run_args(&[
            "run",
            "--target",
            "127.0.0.1:2181,127.0.0.1:2182",
            "--workload",
            "mixed",
        ]);
        assert_eq!(resolve_all(&args.target).unwrap().len(), 2);
        let plan = args.workload.plan().unwrap();
        assert_eq!(plan.workload, "mixed");
        let step = &plan.steps[0];
        assert_eq!((step.sessions, step.depth, step.rate), (64, 8, None));
        assert_eq!(step.phases[0].mix.share_pct(MixOp::Create), 10.0);
        assert!(
            matches!(step.phases[0].end, End::Time { duration, .. } if duration == Duration::from_secs(10))
        );
    }

    #[test]
    fn lists_sweep() {
        let args = run_args(&[
            "run",
            "--target",
            "x:1",
            "--workload",
            "rw-sweep",
            "--read-pct",
            "0,50,100",
            "--sessions",
            "1,8",
        ]);
        let plan = args.workload.plan().unwrap();
        let labels: Vec<String> = plan.steps.iter().map(|s| s.label()).collect();
        assert_eq!(plan.steps.len(), 6, "{labels:?}");
        assert_eq!(plan.steps[5].sessions, 8);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&[
            "run",
            "--target",
            "x:1",
            "--workload",
            "read",
            "--read-pct",
            "101"
        ])
        .is_err());
        let nope = run_args(&["run", "--target", "x:1", "--workload", "nope"]);
        assert!(nope.workload.plan().unwrap_err().contains("not a workload"));
        let rate = run_args(&[
            "run",
            "--target",
            "x:1",
            "--workload",
            "read",
            "--rate",
            "0",
        ]);
        assert!(rate.workload.plan().unwrap_err().contains("rate"));
        let missing = run_args(&[
            "run",
            "--target",
            "x:1",
            "--workload",
            "/nonexistent/w.toml",
        ]);
        assert!(missing
            .workload
            .plan()
            .unwrap_err()
            .contains("/nonexistent/w.toml"));
    }

    #[test]
    fn help_names_every_workload_and_its_anchor() {
        let mut cmd = Cli::command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        let help = run.render_long_help().to_string();
        for kind in WorkloadKind::ALL {
            assert!(
                help.contains(&format!("{}:", kind.name())),
                "{kind} missing from --help"
            );
            // The anchor's first words appear in the help.
            let anchor_head: String = kind
                .anchor()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                help.contains(&anchor_head),
                "{kind}: anchor {anchor_head:?} missing from --help"
            );
        }
    }

    #[test]
    fn compare_takes_two_servers_and_rounds() {
        let cli = parse(&[
            "compare",
            "--a",
            "127.0.0.1:1",
            "--b",
            "127.0.0.1:2",
            "--workload",
            "read",
            "--rounds",
            "5",
        ])
        .unwrap();
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        assert_eq!((args.rounds, args.a.as_str()), (5, "127.0.0.1:1"));
        assert!(
            parse(&["compare", "--a", "x:1", "--workload", "read"]).is_err(),
            "--b is required"
        );
    }
}
