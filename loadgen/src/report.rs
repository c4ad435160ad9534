//! The final report of a step, and of a plan of several: a headline, a table
//! for people, one JSON object for machines. Pure: built from merged
//! [`Stats`] and the run's parameters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::server::ServerFacts;
use crate::session::ErrorKind;
use crate::stats::{latency_histogram, Interval, Percentiles, Stats};
use crate::workload::{MixOp, OpKind, Step};

/// What was run, echoed in the report.
#[derive(Clone, Debug)]
pub struct RunParams {
    /// The servers, as given.
    pub targets: Vec<String>,
    /// The step.
    pub step: Step,
    /// Driver threads.
    pub threads: usize,
}

impl RunParams {
    /// The step's warm-up (its first phase's), s.
    pub fn warmup_s(&self) -> f64 {
        match self.step.phases[0].end {
            crate::workload::End::Time { warmup, .. } => warmup.as_secs_f64(),
            crate::workload::End::Ops(_) => 0.0,
        }
    }

    /// The read share when the step is a getData/setData mix.
    pub fn read_pct(&self) -> Option<f64> {
        let mix = &self.step.phases[0].mix;
        let rw = mix
            .entries()
            .iter()
            .all(|e| matches!(e.0, MixOp::Get | MixOp::Set));
        rw.then(|| mix.share_pct(MixOp::Get))
    }
}

/// One operation kind's line of the table.
#[derive(Clone, Debug)]
pub struct OpLine {
    /// The operation.
    pub op: OpKind,
    /// Successes.
    pub ok: u64,
    /// Their latency.
    pub latency: Percentiles,
    /// Their latencies, ns (for the HTML report's percentile spectrum).
    pub latency_ns: Histogram<u64>,
}

/// The results of one phase (or of all phases together).
#[derive(Clone, Debug)]
pub struct PhaseReport {
    /// The phase's name ("all" for the whole step).
    pub name: String,
    /// Length of the measured window, s.
    pub duration_s: f64,
    /// Successful measured operations of the headline kind (all kinds when the
    /// step has no headline kind).
    pub ok: u64,
    /// Their latency.
    pub latency: Percentiles,
    /// Their latencies, ns (for merging steps and for `compare`).
    pub latency_ns: Histogram<u64>,
    /// Successful measured operations of every kind.
    pub ok_all: u64,
    /// Failed measured operations, by error name.
    pub errors: BTreeMap<String, u64>,
    /// Per operation kind (kinds with no successes left out).
    pub per_op: Vec<OpLine>,
    /// The generator's own queueing before the send (part of the latency).
    pub send_lag: Percentiles,
    /// Open loop: the pacer's lateness in handing out arrivals.
    pub pacer_late: Percentiles,
}

impl PhaseReport {
    /// The report of `stats` measured over `duration_s`.
    pub fn new(
        name: &str,
        stats: &Stats,
        duration_s: f64,
        headline: Option<OpKind>,
    ) -> PhaseReport {
        let per_op = OpKind::ALL
            .iter()
            .map(|op| (op, &stats.per_op[op.index()]))
            .filter(|(_, s)| s.ok > 0)
            .map(|(op, s)| OpLine {
                op: *op,
                ok: s.ok,
                latency: Percentiles::of_ns(&s.latency_ns),
                latency_ns: s.latency_ns.clone(),
            })
            .collect();
        let (ok, latency_ns) = stats.of_kind(headline);
        PhaseReport {
            name: name.to_owned(),
            duration_s,
            ok,
            latency: Percentiles::of_ns(&latency_ns),
            latency_ns,
            ok_all: stats.ok(),
            errors: named(&stats.errors),
            per_op,
            send_lag: Percentiles::of_ns(&stats.send_lag_ns),
            pacer_late: Percentiles::of_ns(&stats.pacer_late_ns),
        }
    }

    /// Headline operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        per_sec(self.ok, self.duration_s)
    }

    /// Failed measured operations.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    fn json(&self) -> Value {
        let mut by_op = serde_json::Map::new();
        for line in &self.per_op {
            let mut v = percentiles_json(&line.latency);
            v["ok"] = json!(line.ok);
            v["ops_per_sec"] = json!(per_sec(line.ok, self.duration_s));
            by_op.insert(line.op.name().to_owned(), v);
        }
        let mut out = json!({
            "ok": self.ok,
            "ok_all_ops": self.ok_all,
            "errors": self.errors,
            "errors_total": self.errors_total(),
            "ops_per_sec": self.ops_per_sec(),
            "duration_s": self.duration_s,
            "send_lag_p50_us": self.send_lag.p50_us,
            "send_lag_p99_us": self.send_lag.p99_us,
            "send_lag_max_us": self.send_lag.max_us,
            "pacer_late_p99_us": self.pacer_late.p99_us,
            "pacer_late_max_us": self.pacer_late.max_us,
            "by_op": by_op,
        });
        merge_into(&mut out, percentiles_json(&self.latency));
        out
    }
}

fn per_sec(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

fn percentiles_json(l: &Percentiles) -> Value {
    json!({
        "p50_us": l.p50_us, "p90_us": l.p90_us, "p99_us": l.p99_us,
        "p999_us": l.p999_us, "p9999_us": l.p9999_us, "max_us": l.max_us,
        "mean_us": l.mean_us,
    })
}

fn merge_into(out: &mut Value, extra: Value) {
    for (k, v) in extra.as_object().expect("object") {
        out[k] = v.clone();
    }
}

/// One second of the run, all threads together (the time series).
#[derive(Clone, Debug, PartialEq)]
pub struct Second {
    /// Seconds since the run's start (1 = the first).
    pub second: u64,
    /// Whether it was warm-up.
    pub warmup: bool,
    /// Successful operations completed in it.
    pub ok: u64,
    /// Failed operations in it.
    pub errors: u64,
    /// Latency of those operations.
    pub latency: Percentiles,
}

impl Second {
    /// The summary of a merged interval.
    pub fn of(interval: &Interval, warmup: bool) -> Second {
        Second {
            second: interval.second,
            warmup,
            ok: interval.ok,
            errors: interval.errors,
            latency: Percentiles::of_ns(&interval.latency_ns),
        }
    }
}

/// Everything a step reports.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was run.
    pub params: RunParams,
    /// Per phase, in order.
    pub phases: Vec<PhaseReport>,
    /// All phases together (the same as the only phase of a one-phase step).
    pub all: PhaseReport,
    /// Set-up and tear-down failures, by error name (not workload results).
    pub housekeeping_errors: BTreeMap<String, u64>,
    /// CPU time the load generator used while measuring, in cores (1.0 = one
    /// core busy all the time).
    pub loadgen_cpu_cores: f64,
    /// The run second by second (warm-up included), all operations.
    pub timeline: Vec<Second>,
    /// The per-second histograms behind `timeline` (for the HDR log).
    pub intervals: Vec<Interval>,
    /// Wall-clock time of the run's second 0 (the driver sets it).
    pub started_at: std::time::SystemTime,
    /// What the server said about itself meanwhile (`mntr`, its process), if
    /// it was asked (the command line does; the driver alone does not).
    pub server: Option<ServerFacts>,
}

fn named(errors: &BTreeMap<ErrorKind, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (kind, count) in errors {
        *out.entry(kind.name()).or_insert(0) += count;
    }
    out
}

/// Pacer lateness (p99, µs) above which an open-loop run is flagged as the
/// generator falling behind its schedule.
pub const PACER_LATE_P99_US_MAX: f64 = 1000.0;

impl Report {
    /// Builds the report from per-phase results (`(stats, duration_s)` in
    /// phase order).
    pub fn new(
        params: RunParams,
        phases: &[(Stats, f64)],
        housekeeping: &BTreeMap<ErrorKind, u64>,
        loadgen_cpu_cores: f64,
        intervals: Vec<Interval>,
        warmup_seconds: u64,
    ) -> Report {
        let headline = params.step.headline;
        let mut merged = Stats::new();
        let mut duration_s = 0.0;
        for (stats, d) in phases {
            merged.merge(stats);
            duration_s += d;
        }
        let phase_reports = phases
            .iter()
            .zip(&params.step.phases)
            .map(|((stats, d), spec)| PhaseReport::new(&spec.name, stats, *d, headline))
            .collect();
        let timeline = intervals
            .iter()
            .map(|i| Second::of(i, i.second <= warmup_seconds))
            .collect();
        Report {
            all: PhaseReport::new("all", &merged, duration_s, headline),
            phases: phase_reports,
            housekeeping_errors: named(housekeeping),
            loadgen_cpu_cores,
            timeline,
            intervals,
            params,
            started_at: std::time::SystemTime::UNIX_EPOCH,
            server: None,
        }
    }

    /// Failed measured operations.
    pub fn errors_total(&self) -> u64 {
        self.all.errors_total()
    }

    /// Successful headline operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.all.ops_per_sec()
    }

    /// Open loop: whether the generator fell behind its own schedule (the
    /// pacer's p99 lateness above [`PACER_LATE_P99_US_MAX`]), so the server was
    /// not offered the requested rate on time and the latencies include the
    /// generator's delay.
    pub fn generator_behind(&self) -> bool {
        self.params.step.rate.is_some() && self.all.pacer_late.p99_us > PACER_LATE_P99_US_MAX
    }

    /// Whether the run is clean: no failed operation, measured or not.
    pub fn clean(&self) -> bool {
        self.all.errors.is_empty() && self.housekeeping_errors.is_empty()
    }

    fn what(&self) -> String {
        let s = &self.params.step;
        format!(
            "{} on {}: {:.0} {}/s, p99 {} ({} sessions x depth {}{})",
            s.label(),
            self.params.targets.join(","),
            self.ops_per_sec(),
            s.headline.map_or("ops", |k| k.name()),
            fmt_us(self.all.latency.p99_us),
            s.sessions,
            s.depth,
            s.rate
                .map(|r| format!(", open loop {r:.0} ops/s"))
                .unwrap_or_default(),
        )
    }

    /// One line that says what happened, errors first.
    pub fn headline(&self) -> String {
        let behind = if self.generator_behind() {
            format!(
                "WARNING generator behind schedule (pacer p99 {} late): ",
                fmt_us(self.all.pacer_late.p99_us)
            )
        } else {
            String::new()
        };
        if self.clean() {
            return format!("{behind}OK {}", self.what());
        }
        let mut errors = self.all.errors.clone();
        for (name, count) in &self.housekeeping_errors {
            *errors.entry(format!("setup/teardown {name}")).or_insert(0) += count;
        }
        let list: Vec<String> = errors.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        format!(
            "{behind}ERRORS ({} failed: {}) {}",
            errors.values().sum::<u64>(),
            list.join(", "),
            self.what()
        )
    }

    /// The table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let s = &self.params.step;
        let _ = writeln!(t, "{}", self.headline());
        let _ = writeln!(
            t,
            "window {:.1} s after {:.1} s warm-up; {} threads; values {}; {} znodes/session, {} keys{}; loadgen CPU {:.2} cores",
            self.all.duration_s,
            self.params.warmup_s(),
            self.params.threads,
            s.values,
            s.keys_per_session,
            s.key_dist.name(),
            self.params
                .read_pct()
                .map(|r| format!("; {r:.0}% reads"))
                .unwrap_or_default(),
            self.loadgen_cpu_cores,
        );
        let multi = self.phases.len() > 1;
        let width = if multi {
            self.phases
                .iter()
                .flat_map(|p| {
                    p.per_op
                        .iter()
                        .map(move |l| p.name.len() + 1 + l.op.name().len())
                })
                .max()
                .unwrap_or(16)
                .max(16)
        } else {
            16
        };
        let _ = writeln!(
            t,
            "{:<width$} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "op", "ok", "ops/s", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        );
        if multi {
            for phase in &self.phases {
                table_phase(&mut t, phase, Some(&phase.name), width);
            }
            let all = &self.all;
            table_line(
                &mut t,
                "all",
                all.ok_all,
                all.duration_s,
                &all.latency,
                width,
            );
        } else {
            table_phase(&mut t, &self.all, None, width);
        }
        if s.rate.is_some() {
            let lag = &self.all.send_lag;
            let _ = writeln!(
                t,
                "send lag (arrival to send, included above): p50 {} p99 {} max {}; pacer late p99 {} max {}",
                fmt_us(lag.p50_us),
                fmt_us(lag.p99_us),
                fmt_us(lag.max_us),
                fmt_us(self.all.pacer_late.p99_us),
                fmt_us(self.all.pacer_late.max_us),
            );
        }
        if let Some(server) = &self.server {
            let _ = writeln!(t, "{}", server.line());
        }
        for (name, count) in &self.all.errors {
            let _ = writeln!(t, "error {name}: {count}");
        }
        for (name, count) in &self.housekeeping_errors {
            let _ = writeln!(t, "setup/teardown error {name}: {count}");
        }
        t
    }

    /// The JSON object printed as the last line of stdout with `--json`.
    pub fn json(&self) -> Value {
        let s = &self.params.step;
        let mut out = self.all.json();
        merge_into(
            &mut out,
            json!({
                "workload": s.workload,
                "label": s.label(),
                "targets": self.params.targets,
                "setup_teardown_errors": self.housekeeping_errors,
                "clean": self.clean(),
                "headline_op": s.headline.map(|k| k.name()),
                "warmup_s": self.params.warmup_s(),
                "sessions": s.sessions,
                "depth": s.depth,
                "rate": s.rate,
                "threads": self.params.threads,
                "value_size": s.values.max,
                "value_size_min": s.values.min,
                "znodes_per_session": s.keys_per_session,
                "key_distribution": s.key_dist.name(),
                "read_pct": self.params.read_pct(),
                "loadgen_cpu_cores": self.loadgen_cpu_cores,
                "generator_behind": self.generator_behind(),
                "timeline": self.timeline.iter().map(|sec| json!({
                    "s": sec.second, "warmup": sec.warmup, "ok": sec.ok, "errors": sec.errors,
                    "p50_us": sec.latency.p50_us, "p99_us": sec.latency.p99_us,
                    "p999_us": sec.latency.p999_us, "max_us": sec.latency.max_us,
                })).collect::<Vec<_>>(),
            }),
        );
        if let Some((name, value)) = s.point {
            out["point"] = json!({ name: value });
        }
        if let Some(server) = &self.server {
            out["server"] = server.json();
        }
        if self.phases.len() > 1 {
            out["phases"] = Value::Array(
                self.phases
                    .iter()
                    .map(|p| {
                        let mut v = p.json();
                        v["name"] = json!(p.name);
                        v
                    })
                    .collect(),
            );
        }
        out
    }
}

/// A phase's lines: one per operation kind, and their total when there are
/// several (`prefix/op` when the step has several phases).
fn table_phase(t: &mut String, phase: &PhaseReport, prefix: Option<&str>, width: usize) {
    let name = |op: &str| match prefix {
        Some(p) => format!("{p}/{op}"),
        None => op.to_owned(),
    };
    for l in &phase.per_op {
        table_line(
            t,
            &name(l.op.name()),
            l.ok,
            phase.duration_s,
            &l.latency,
            width,
        );
    }
    if phase.per_op.len() > 1 {
        table_line(
            t,
            &name("all"),
            phase.ok_all,
            phase.duration_s,
            &phase.latency,
            width,
        );
    }
}

fn table_line(t: &mut String, name: &str, ok: u64, seconds: f64, p: &Percentiles, width: usize) {
    let _ = writeln!(
        t,
        "{:<width$} {:>10} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        name,
        ok,
        per_sec(ok, seconds),
        fmt_us(p.p50_us),
        fmt_us(p.p90_us),
        fmt_us(p.p99_us),
        fmt_us(p.p999_us),
        fmt_us(p.p9999_us),
        fmt_us(p.max_us),
    );
}

/// The results of a plan's steps together: one JSON object whose top-level
/// fields add up the steps (headline operations over the steps' summed
/// windows, latencies of all of them) and whose `steps` holds each step's.
pub fn plan_json(workload: &str, anchor: &str, reports: &[Report]) -> Value {
    if reports.len() == 1 {
        let mut v = reports[0].json();
        v["anchor"] = json!(anchor);
        return v;
    }
    let mut latency = latency_histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut ok, mut duration_s, mut clean) = (0u64, 0.0, true);
    for r in reports {
        latency.add(&r.all.latency_ns).expect("equal bounds");
        for (k, v) in &r.all.errors {
            *errors.entry(k.clone()).or_insert(0) += v;
        }
        ok += r.all.ok;
        duration_s += r.all.duration_s;
        clean &= r.clean();
    }
    let mut out = json!({
        "workload": workload,
        "anchor": anchor,
        "ok": ok,
        "errors": errors,
        "errors_total": errors.values().sum::<u64>(),
        "clean": clean,
        "ops_per_sec": per_sec(ok, duration_s),
        "duration_s": duration_s,
        "steps": reports.iter().map(Report::json).collect::<Vec<_>>(),
    });
    merge_into(&mut out, percentiles_json(&Percentiles::of_ns(&latency)));
    out
}

/// The steps of a plan side by side: one line each.
pub fn plan_summary(reports: &[Report]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<32} {:>11} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "step", "ops/s", "p50", "p99", "p99.9", "max", "errors"
    );
    for r in reports {
        let _ = writeln!(
            t,
            "{:<32} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>7}",
            r.params.step.label(),
            r.ops_per_sec(),
            fmt_us(r.all.latency.p50_us),
            fmt_us(r.all.latency.p99_us),
            fmt_us(r.all.latency.p999_us),
            fmt_us(r.all.latency.max_us),
            r.errors_total(),
        );
    }
    t
}

/// A latency for people: µs below 10 ms, else ms.
pub fn fmt_us(us: f64) -> String {
    if us < 10_000.0 {
        format!("{us:.0}us")
    } else {
        format!("{:.1}ms", us / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{plan_named, Overrides, WorkloadKind};

    fn params(kind: WorkloadKind, rate: Option<f64>) -> RunParams {
        let mut step = plan_named(kind, &Overrides::default())
            .unwrap()
            .steps
            .remove(0);
        step.sessions = 4;
        step.depth = 2;
        step.rate = rate;
        RunParams {
            targets: vec!["127.0.0.1:2181".into()],
            step,
            threads: 1,
        }
    }

    fn sample(errors: bool) -> Report {
        let mut stats = Stats::new();
        for i in 1..=1000u64 {
            stats.record(OpKind::GetData, 0, i * 1000, Ok(()));
            stats.record(OpKind::SetData, 0, i * 2000, Ok(()));
        }
        if errors {
            stats.record_error(ErrorKind::Server(-101));
        }
        let mut p = params(WorkloadKind::RwSweep, None);
        p.step.point = Some(("read_pct", 50.0));
        p.step.phases[0].mix = crate::workload::Mix::read_write(50);
        Report::new(p, &[(stats, 2.0)], &BTreeMap::new(), 0.5, Vec::new(), 0)
    }

    #[test]
    fn json_has_the_promised_fields() {
        let v = sample(false).json();
        for key in [
            "workload",
            "ok",
            "errors",
            "ops_per_sec",
            "duration_s",
            "p50_us",
            "p90_us",
            "p99_us",
            "p999_us",
            "p9999_us",
            "max_us",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["workload"], "rw-sweep");
        assert_eq!(v["ok"], 2000);
        assert_eq!(v["ops_per_sec"], 1000.0);
        assert_eq!(v["errors"], json!({}));
        assert_eq!(v["by_op"]["getData"]["ok"], 1000);
        assert_eq!(v["read_pct"], 50.0);
        assert_eq!(v["point"], json!({"read_pct": 50.0}));
        assert_eq!(v["rate"], Value::Null);
        let p99 = v["p99_us"].as_f64().unwrap();
        // The 20th largest of 2000: setData's 1960 µs (to 0.1%).
        assert!((1955.0..=1965.0).contains(&p99), "{p99}");
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn errors_show_by_code_and_in_the_headline() {
        let clean = sample(false);
        assert!(
            clean.headline().starts_with("OK rw-sweep read_pct=50"),
            "{}",
            clean.headline()
        );
        let bad = sample(true);
        assert!(
            bad.headline().starts_with("ERRORS (1 failed: NONODE x1)"),
            "{}",
            bad.headline()
        );
        assert_eq!(bad.json()["errors"], json!({"NONODE": 1}));
        assert_eq!(bad.json()["clean"], false);
        assert!(bad.table().contains("error NONODE: 1"));
    }

    #[test]
    fn a_late_pacer_is_flagged() {
        let mut stats = Stats::new();
        stats.record(OpKind::GetData, 0, 1000, Ok(()));
        stats.pacer_late_ns.record(5_000_000).unwrap();
        let report = |rate| {
            Report::new(
                params(WorkloadKind::Read, rate),
                &[(stats.clone(), 1.0)],
                &BTreeMap::new(),
                0.1,
                Vec::new(),
                0,
            )
        };
        assert!(
            !report(None).generator_behind(),
            "closed loop has no schedule"
        );
        let open = report(Some(1000.0));
        assert!(open.generator_behind());
        assert!(open
            .headline()
            .starts_with("WARNING generator behind schedule"));
        assert_eq!(open.json()["generator_behind"], true);
    }

    #[test]
    fn table_has_a_line_per_op_and_all() {
        let t = sample(false).table();
        assert!(t.contains("\ngetData "), "{t}");
        assert!(t.contains("\nsetData "), "{t}");
        assert!(t.contains("\nall "), "{t}");
    }

    #[test]
    fn a_headline_op_is_what_the_step_counts() {
        let mut stats = Stats::new();
        for i in 1..=10u64 {
            stats.record(OpKind::Create, 0, i * 1000, Ok(()));
            stats.record(OpKind::Delete, 0, 50_000, Ok(()));
        }
        let r = Report::new(
            params(WorkloadKind::SyncCreate, None),
            &[(stats, 1.0)],
            &BTreeMap::new(),
            0.1,
            Vec::new(),
            0,
        );
        assert_eq!(r.all.ok, 10, "creates only");
        assert_eq!(r.all.ok_all, 20);
        let v = r.json();
        assert_eq!(v["headline_op"], "create");
        assert_eq!(v["by_op"]["delete"]["ok"], 10);
        assert!(
            v["p99_us"].as_f64().unwrap() <= 10.1,
            "create latency, not delete's"
        );
    }

    #[test]
    fn phases_report_apart_and_together() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        for i in 1..=100u64 {
            a.record(OpKind::Create, 0, i * 1000, Ok(()));
            b.record(OpKind::SetData, 0, i * 1000, Ok(()));
        }
        let mut p = params(WorkloadKind::LatencyProfile, None);
        p.step.phases.truncate(2);
        let r = Report::new(
            p,
            &[(a, 1.0), (b, 0.5)],
            &BTreeMap::new(),
            0.1,
            Vec::new(),
            0,
        );
        assert_eq!(r.phases.len(), 2);
        assert_eq!(r.all.ok, 200);
        assert!((r.ops_per_sec() - 200.0 / 1.5).abs() < 1e-9);
        let v = r.json();
        assert_eq!(v["phases"][1]["name"], "set");
        assert_eq!(v["phases"][1]["ops_per_sec"], 200.0);
        assert!(r.table().contains("create/create"), "{}", r.table());
    }

    #[test]
    fn plans_add_up_their_steps() {
        let one = sample(false);
        let two = sample(true);
        let v = plan_json("rw-sweep", "paper", &[one.clone(), two]);
        assert_eq!(v["ok"], 4000);
        assert_eq!(v["duration_s"], 4.0);
        assert_eq!(v["ops_per_sec"], 1000.0);
        assert_eq!(v["errors"], json!({"NONODE": 1}));
        assert_eq!(v["clean"], false);
        assert_eq!(v["steps"].as_array().unwrap().len(), 2);
        let single = plan_json("rw-sweep", "paper", &[one]);
        assert_eq!(single["anchor"], "paper");
        assert!(single.get("steps").is_none());
        assert!(plan_summary(&[sample(false)]).contains("rw-sweep read_pct=50"));
    }
}
