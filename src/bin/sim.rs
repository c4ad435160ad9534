//! Runs the deterministic cluster simulator over many seeds.
//!
//! ```text
//! cargo run --release --bin sim -- --seeds 1000            # seeds 0..1000
//! cargo run --release --bin sim -- --seeds 1000 --start 5000
//! cargo run --release --bin sim -- --seed 42 --trace       # replay one seed, with its trace
//! ```

use std::process::ExitCode;

use clap::Parser;
use corekeeper::sim::{run_with, SimConfig};

/// Deterministic simulation of a corekeeper ensemble under faults.
#[derive(Parser, Debug)]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 256)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Run exactly this seed (overrides --seeds/--start).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the event trace of a failing seed.
    #[arg(long)]
    trace: bool,
    /// Keep going after a failure.
    #[arg(long)]
    keep_going: bool,
    /// Print one line per seed.
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds: Vec<u64> = match args.seed {
        Some(seed) => vec![seed],
        None => (args.start..args.start + args.seeds).collect(),
    };
    let (mut passed, mut failed) = (0u64, Vec::new());
    let (mut acked, mut leaders, mut crashes) = (0usize, 0u64, 0u64);
    for seed in seeds {
        let mut cfg = SimConfig::for_seed(seed);
        cfg.trace = args.trace;
        match run_with(seed, cfg) {
            Ok(report) => {
                passed += 1;
                acked += report.acked;
                leaders += report.leaders;
                crashes += report.crashes;
                if args.seed.is_some() || args.verbose {
                    println!("{report:?}");
                }
            }
            Err(failure) => {
                println!("{failure}");
                failed.push(seed);
                if !args.keep_going {
                    break;
                }
            }
        }
    }
    println!(
        "{passed} seeds passed, {} failed {failed:?}; {acked} writes acknowledged, {leaders} leaders \
         established, {crashes} crashes",
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
