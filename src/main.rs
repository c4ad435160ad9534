//! The `corekeeper` server binary: `corekeeper [serve] [--config zoo.cfg]`, and
//! `corekeeper purge` to delete old snapshots and log segments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corekeeper::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A ZooKeeper-compatible coordination store on a thread-per-core engine.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Delete old snapshots and the log segments only they need, keeping the
    /// newest COUNT snapshots (ZooKeeper's `PurgeTxnLog`).
    Purge(PurgeArgs),
}

/// Options of `purge`.
#[derive(clap::Args, Debug, Clone)]
struct PurgeArgs {
    /// A ZooKeeper `zoo.cfg` naming `dataDir` and `dataLogDir`.
    #[arg(long, short = 'c', value_name = "ZOO_CFG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `dataDir`, and `dataLogDir` unless given).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log directory (overrides `dataLogDir`).
    #[arg(long, value_name = "DIR")]
    data_log_dir: Option<PathBuf>,
    /// Snapshots to keep (at least 3, as ZooKeeper requires).
    #[arg(long, short = 'n', default_value_t = 3)]
    count: usize,
}

/// Options of `serve`; each overrides the config file.
#[derive(clap::Args, Debug, Clone, Default)]
struct ServeArgs {
    /// A ZooKeeper `zoo.cfg` to read (unknown keys are logged, not fatal).
    #[arg(long, short = 'c', value_name = "ZOO_CFG")]
    config: Option<PathBuf>,
    /// Client port (overrides `clientPort`).
    #[arg(long)]
    port: Option<u16>,
    /// Data directory (overrides `dataDir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Cores to use (default: all).
    #[arg(long)]
    cores: Option<usize>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // Fail-stop: a panic on any core (a bug, or a write to a full disk that
    // std turns into one) ends the process, so clients move to a healthy
    // server instead of talking to one whose sequencer is gone.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Purge(args)) => purge(args),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("corekeeper: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    for (line, key, value) in &config.unknown_keys {
        tracing::warn!(line, key, value, "unknown zoo.cfg key ignored");
    }
    if let Some(port) = args.port {
        config.client_port = port;
    }
    if let Some(dir) = args.data_dir {
        config.data_log_dir = dir.clone();
        config.data_dir = dir;
    }
    if args.cores.is_some() {
        config.cores = args.cores;
    }
    if !config.force_sync {
        tracing::warn!(
            "forceSync=no: the transaction log is NOT fsynced. Writes are acknowledged once \
             they reach the page cache; a power loss or kernel crash LOSES ACKNOWLEDGED WRITES. \
             Use only for tests or data you can rebuild"
        );
    }
    let handle = corekeeper::runtime::start(config).map_err(|e| format!("cannot start: {e}"))?;
    tracing::info!(addr = %handle.addr(), "corekeeper serving ZooKeeper clients");
    handle
        .join()
        .map_err(|reason| format!("stopped on a disk failure (fail-stop): {reason}"))
}

fn purge(args: PurgeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None if args.data_dir.is_some() => Config::default(),
        None => return Err("purge needs --config or --data-dir".into()),
    };
    if let Some(dir) = args.data_dir {
        config.data_log_dir = dir.clone();
        config.data_dir = dir;
    }
    if let Some(dir) = args.data_log_dir {
        config.data_log_dir = dir;
    }
    if args.count < 3 {
        return Err(format!(
            "-n {}: keep at least 3 snapshots, as ZooKeeper's PurgeTxnLog requires",
            args.count
        ));
    }
    let absolute = |dir: &std::path::Path| {
        std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))
    };
    let data_dir = absolute(&config.data_dir)?;
    let data_log_dir = absolute(&config.data_log_dir)?;
    let count = args.count;
    let purged = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("ck-purge")
        .spawn(move || async move {
            let disk = corekeeper::io::Disk::Real;
            corekeeper::io::purge(&disk, &data_dir, &data_log_dir, count).await
        })
        .map_err(|e| format!("cannot start: {e}"))?
        .join()
        .map_err(|_| "purge panicked".to_string())?
        .map_err(|e| format!("purge failed: {e}"))?;
    for snapshot in &purged.snapshots {
        println!("removed {snapshot}");
    }
    for segment in &purged.segments {
        println!("removed {segment}");
    }
    println!(
        "kept the newest {count} snapshots; removed {} snapshot(s) and {} log segment(s)",
        purged.snapshots.len(),
        purged.segments.len()
    );
    Ok(())
}
