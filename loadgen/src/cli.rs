//! The command line: `corekeeper-loadgen run ...`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::driver::RunConfig;
use crate::workload::{Workload, WorkloadKind};

/// Load generator for ZooKeeper-compatible servers (corekeeper, Apache ZooKeeper, ...).
///
/// Speaks the ZooKeeper wire protocol itself. Runs a thread per core, each with
/// many sessions pipelining requests, so that the server, not the generator, is
/// what saturates. Every reply is checked; errors are counted by ZooKeeper error
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
    /// Set-up creates a root znode `/corekeeper-loadgen-<pid>-<ms>` and the
    /// workload's znodes under it; tear-down removes all of them.
    Run(RunArgs),
    /// Serve the ZooKeeper protocol doing no work (canned replies), to measure
    /// the ceiling of this host and of the load generator: run `run` against it.
    NullServer(NullServerArgs),
}

/// Options of `null-server`.
#[derive(Args, Debug, Clone)]
pub struct NullServerArgs {
    /// Port to listen on (all interfaces).
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

    /// Workload: `read` (getData of a per-session znode), `write` (setData of
    /// it), `mixed` (getData or setData of it, --read-pct reads), `create`
    /// (creates of --value-size bytes under the run's root, unique names, no
    /// sequential flag).
    #[arg(long, value_enum)]
    pub workload: WorkloadKind,

    /// Length of the measured window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Warm-up before the window, seconds: load runs, nothing is recorded.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,

    /// Sessions (TCP connections), spread over the threads.
    #[arg(long, default_value_t = 64)]
    pub sessions: u32,

    /// Requests in flight per session at most (pipelining); 1 = synchronous.
    /// Closed loop keeps sessions x depth requests outstanding all the time.
    #[arg(long, default_value_t = 8)]
    pub depth: usize,

    /// Open loop: a fixed total arrival rate, ops/s, spread evenly over the
    /// sessions. Latency counts from each arrival's intended send time, so time
    /// spent queued behind a slow server (or a full pipeline) is charged to it:
    /// no coordinated omission. Without --rate: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Bytes of data per znode written or pre-created [default: 1024; 100 for create].
    #[arg(long)]
    pub value_size: Option<usize>,

    /// Share of reads in `mixed`, percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub read_pct: u8,

    /// Driver threads, each its own event loop [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,

    /// Session timeout asked for in the handshake, ms (idle sessions ping at a third of it).
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout_ms: i32,

    /// Seed of every random choice (op mix), for a reproducible op sequence.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Also print the results as one JSON object, the last line of stdout.
    #[arg(long)]
    pub json: bool,

    /// No live progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl RunArgs {
    /// Checks the options and resolves the targets.
    pub fn to_config(&self) -> Result<RunConfig, String> {
        let targets = self
            .target
            .iter()
            .map(|t| resolve(t))
            .collect::<Result<Vec<SocketAddr>, String>>()?;
        let seconds = |name: &str, s: f64| {
            if s.is_finite() && s >= 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(format!("--{name} must be a non-negative number of seconds"))
            }
        };
        let duration = seconds("duration", self.duration)?;
        if duration.is_zero() {
            return Err("--duration must be positive".into());
        }
        if self.sessions == 0 || self.depth == 0 {
            return Err("--sessions and --depth must be positive".into());
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err("--rate must be a positive number of ops/s".into());
            }
        }
        let value_size = self
            .value_size
            .unwrap_or(self.workload.value_size_default());
        if value_size > crate::session::REPLY_BYTES_MAX - 1024 {
            return Err("--value-size must fit a reply under jute.maxbuffer (1 MiB)".into());
        }
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(RunConfig {
            targets,
            workload: Workload {
                kind: self.workload,
                read_pct: self.read_pct,
                value_size,
            },
            sessions: self.sessions,
            depth: self.depth,
            rate: self.rate,
            threads: threads.max(1),
            warmup: seconds("warmup", self.warmup)?,
            duration,
            session_timeout_ms: self.session_timeout_ms,
            seed: self.seed,
        })
    }
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("--target {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {target}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("corekeeper-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn run_parses_with_defaults() {
        let cli = parse(&[
            "run",
            "--target",
            "127.0.0.1:2181,127.0.0.1:2182",
            "--workload",
            "mixed",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let config = args.to_config().unwrap();
        assert_eq!(config.targets.len(), 2);
        assert_eq!(config.workload, Workload::new(WorkloadKind::Mixed));
        assert_eq!((config.sessions, config.depth, config.rate), (64, 8, None));
        assert_eq!(config.duration, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["run", "--target", "x:1", "--workload", "nope"]).is_err());
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
        let cli = parse(&[
            "run",
            "--target",
            "127.0.0.1:1",
            "--workload",
            "read",
            "--rate",
            "0",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.to_config().unwrap_err().contains("--rate"));
    }
}
