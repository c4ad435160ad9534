//! `corekeeper-loadgen`: see `corekeeper-loadgen --help` and the crate docs.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use corekeeper_loadgen::cli::{Cli, Command, RunArgs};
use corekeeper_loadgen::driver::{self, Progress};
use corekeeper_loadgen::null_server;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(&args),
        Command::NullServer(args) => {
            let threads = args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            eprintln!(
                "corekeeper-loadgen: null server on port {} ({threads} threads)",
                args.port
            );
            match null_server::serve(args.port, threads) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("corekeeper-loadgen: null-server: {error}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("corekeeper-loadgen: {message}");
            return ExitCode::from(2);
        }
    };
    let quiet = args.quiet;
    let mut progress = |p: &Progress| {
        if !quiet {
            eprintln!("{}", progress_line(p));
        }
    };
    let report = match driver::run(&config, &mut progress) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("corekeeper-loadgen: {error}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", report.table());
    if args.json {
        let _ = writeln!(stdout, "{}", report.json());
    }
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn progress_line(p: &Progress) -> String {
    let i = &p.interval;
    let p99_us = if i.latency_us.is_empty() {
        0.0
    } else {
        i.latency_us.value_at_quantile(0.99) as f64
    };
    format!(
        "[{:>4}s{}] {:>10} ops/s  p99 {:>9.0}us  errors {}",
        p.second,
        if p.warmup { " warm-up" } else { "" },
        i.ok,
        p99_us,
        i.errors
    )
}
