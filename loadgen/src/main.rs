//! `corekeeper-loadgen`: see `corekeeper-loadgen --help` and the crate docs.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use corekeeper_loadgen::cli::{
    resolve, resolve_all, Cli, Command, CompareArgs, OutputArgs, RunArgs, WorkloadArgs,
};
use corekeeper_loadgen::compare::{self, Round};
use corekeeper_loadgen::driver::{self, Progress, RunConfig};
use corekeeper_loadgen::host::HostFacts;
use corekeeper_loadgen::html::{self, PageInfo, Side};
use corekeeper_loadgen::report::{self, fmt_us, Report};
use corekeeper_loadgen::server::{Sampler, ServerFacts};
use corekeeper_loadgen::workload::Plan;
use corekeeper_loadgen::{hdrlog, null_server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(&args),
        Command::Compare(args) => compare(&args),
        Command::NullServer(args) => {
            let threads = args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            eprintln!(
                "corekeeper-loadgen: null server on 127.0.0.1:{} ({threads} threads)",
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

fn fail(message: &str) -> ExitCode {
    eprintln!("corekeeper-loadgen: {message}");
    ExitCode::from(2)
}

/// What the HTML page says about this invocation, gathered before it runs.
fn page_info() -> PageInfo {
    PageInfo {
        command: command_line(),
        host: HostFacts::gather(),
        started: std::time::SystemTime::now(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The command line as a shell would take it back.
fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@+%".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_html(path: &std::path::Path, page: &str) -> Result<(), String> {
    std::fs::write(path, page).map_err(|e| format!("--html {}: {e}", path.display()))?;
    eprintln!("corekeeper-loadgen: report in {}", path.display());
    Ok(())
}

fn run(args: &RunArgs) -> ExitCode {
    let info = page_info();
    let (plan, targets) = match args
        .workload
        .plan()
        .and_then(|p| Ok((p, resolve_all(&args.target)?)))
    {
        Ok(x) => x,
        Err(message) => return fail(&message),
    };
    let reports = match run_plan(&plan, &targets, &args.workload, &args.output, "") {
        Ok(reports) => reports,
        Err(message) => return fail(&message),
    };
    let mut stdout = std::io::stdout().lock();
    if reports.len() > 1 {
        let _ = write!(stdout, "\n{}", report::plan_summary(&reports));
    }
    if args.output.json {
        let _ = writeln!(
            stdout,
            "{}",
            report::plan_json(&plan.workload, &plan.anchor, &reports)
        );
    }
    if let Some(path) = &args.output.html {
        let page = html::run_page(&plan.workload, &plan.anchor, &reports, &info);
        if let Err(message) = write_html(path, &page) {
            return fail(&message);
        }
    }
    if reports.iter().all(Report::clean) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs every step of `plan` against `targets`, printing each step's table.
fn run_plan(
    plan: &Plan,
    targets: &[SocketAddr],
    w: &WorkloadArgs,
    output: &OutputArgs,
    hdr_suffix: &str,
) -> Result<Vec<Report>, String> {
    let mut reports = Vec::new();
    for step in &plan.steps {
        let config = RunConfig {
            targets: targets.to_vec(),
            step: step.clone(),
            threads: w.threads(),
            session_timeout_ms: w.session_timeout_ms,
            seed: w.seed,
        };
        let quiet = output.quiet;
        let label = step.label();
        let mut progress = |p: &Progress| {
            if !quiet {
                eprintln!("{}", progress_line(&label, p));
            }
        };
        let sampler = if output.no_server_facts {
            None
        } else {
            Sampler::start(targets[0]).ok()
        };
        let result = driver::run(&config, &mut progress);
        let samples = sampler.map(|s| (s.started_at, s.finish()));
        let mut report = result.map_err(|e| format!("{label}: {e}"))?;
        if let Some((sampled_at, samples)) = samples {
            report.server = ServerFacts::of(&samples).map(|mut facts| {
                // Onto the run's clock: its second 0 came after the first sample.
                let offset_s = match report.started_at.duration_since(sampled_at) {
                    Ok(d) => -d.as_secs_f64(),
                    Err(e) => e.duration().as_secs_f64(),
                };
                facts.shift(offset_s);
                facts
            });
        }
        if let Some(path) = &output.hdr_log {
            let mut path = path.clone().into_os_string();
            if !hdr_suffix.is_empty() {
                path.push(format!(".{hdr_suffix}"));
            }
            if plan.steps.len() > 1 {
                path.push(format!(".{}", reports.len()));
            }
            let file =
                std::fs::File::create(&path).map_err(|e| format!("--hdr-log {path:?}: {e}"))?;
            let mut file = std::io::BufWriter::new(file);
            hdrlog::write(&mut file, &report, report.started_at)
                .and_then(|()| file.flush())
                .map_err(|e| format!("--hdr-log {path:?}: {e}"))?;
        }
        print!("{}", report.table());
        let _ = std::io::stdout().flush();
        reports.push(report);
    }
    Ok(reports)
}

fn compare(args: &CompareArgs) -> ExitCode {
    let info = page_info();
    let plan = match args.workload.plan() {
        Ok(plan) => plan,
        Err(message) => return fail(&message),
    };
    let (a, b) = match (resolve(&args.a), resolve(&args.b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(message), _) | (_, Err(message)) => return fail(&message),
    };
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let one = |name: &str, target: SocketAddr| {
            eprintln!(
                "corekeeper-loadgen: round {round}/{}: {name} = {target}",
                args.rounds
            );
            let suffix = format!("{}{round}", name.to_lowercase());
            run_plan(&plan, &[target], &args.workload, &args.output, &suffix)
        };
        let result = one("A", a).and_then(|ra| {
            Ok(Round {
                a: ra,
                b: one("B", b)?,
            })
        });
        match result {
            Ok(r) => rounds.push(r),
            Err(message) => return fail(&message),
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = write!(
        stdout,
        "\n{}",
        compare::table(
            &plan.workload,
            &format!("{} {}", args.a_name, args.a),
            &format!("{} {}", args.b_name, args.b),
            &rounds
        )
    );
    if args.output.json {
        let mut v = compare::json(&plan.workload, &args.a, &args.b, &rounds);
        v["a_name"] = args.a_name.clone().into();
        v["b_name"] = args.b_name.clone().into();
        v["anchor"] = plan.anchor.clone().into();
        let _ = writeln!(stdout, "{v}");
    }
    if let Some(path) = &args.output.html {
        let side = |name: &str, target: &str| Side {
            name: name.to_owned(),
            target: target.to_owned(),
        };
        let page = html::compare_page(
            &plan.workload,
            &plan.anchor,
            &side(&args.a_name, &args.a),
            &side(&args.b_name, &args.b),
            &rounds,
            &info,
        );
        if let Err(message) = write_html(path, &page) {
            return fail(&message);
        }
    }
    let clean = rounds
        .iter()
        .all(|r| r.a.iter().chain(&r.b).all(Report::clean));
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn progress_line(label: &str, p: &Progress) -> String {
    let i = &p.interval;
    let p99_us = if i.latency_ns.is_empty() {
        0.0
    } else {
        i.latency_ns.value_at_quantile(0.99) as f64 / 1000.0
    };
    format!(
        "[{label} {:>4}s{}] {:>10} ops/s  p99 {:>9}  errors {}",
        p.second,
        if p.warmup { " warm-up" } else { "" },
        i.ok,
        fmt_us(p99_us),
        i.errors
    )
}
