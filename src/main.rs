//! The `corekeeper` server binary: `corekeeper [serve] [--config zoo.cfg]`.

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
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    match serve(args) {
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
    if config.servers.len() > 1 {
        tracing::warn!(
            servers = config.servers.len(),
            "zoo.cfg lists an ensemble; this build runs standalone (replication arrives with the ZAB issue)"
        );
    }
    tracing::warn!(
        data_dir = %config.data_dir.display(),
        "data is kept in memory only in this build: it is lost when the server stops (durability arrives with the next issue)"
    );
    let handle = corekeeper::runtime::start(config).map_err(|e| format!("cannot start: {e}"))?;
    tracing::info!(addr = %handle.addr(), "corekeeper serving ZooKeeper clients");
    handle.join();
    Ok(())
}
