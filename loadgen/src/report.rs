//! The final report: a headline, a table for people, one JSON object for
//! machines. Pure: built from merged [`Stats`] and the run's parameters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::session::ErrorKind;
use crate::stats::{Percentiles, Stats};
use crate::workload::{OpKind, Workload};

/// What was run, echoed in the report.
#[derive(Clone, Debug)]
pub struct RunParams {
    /// The servers, as given.
    pub targets: Vec<String>,
    /// The workload.
    pub workload: Workload,
    /// Sessions in all.
    pub sessions: u32,
    /// Requests in flight per session at most.
    pub depth: usize,
    /// Open-loop arrival rate, ops/s (`None`: closed loop).
    pub rate: Option<f64>,
    /// Driver threads.
    pub threads: usize,
    /// Warm-up, s.
    pub warmup_s: f64,
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
}

/// Everything a run reports.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was run.
    pub params: RunParams,
    /// Length of the measurement window, s.
    pub duration_s: f64,
    /// Successful measured operations.
    pub ok: u64,
    /// Failed measured operations, by error name.
    pub errors: BTreeMap<String, u64>,
    /// Latency of all successful operations.
    pub latency: Percentiles,
    /// Per operation kind (kinds with no successes left out).
    pub per_op: Vec<OpLine>,
    /// The generator's own queueing before the send (part of `latency`).
    pub send_lag: Percentiles,
    /// Open loop: the pacer's lateness in handing out arrivals.
    pub pacer_late: Percentiles,
    /// Set-up and tear-down failures, by error name (not workload results).
    pub housekeeping_errors: BTreeMap<String, u64>,
    /// CPU time the load generator used during the window, in cores (1.0 = one
    /// core busy all the time).
    pub loadgen_cpu_cores: f64,
}

fn named(errors: &BTreeMap<ErrorKind, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (kind, count) in errors {
        *out.entry(kind.name()).or_insert(0) += count;
    }
    out
}

impl Report {
    /// Builds the report from merged results.
    pub fn new(
        params: RunParams,
        duration_s: f64,
        stats: &Stats,
        housekeeping: &BTreeMap<ErrorKind, u64>,
        loadgen_cpu_cores: f64,
    ) -> Report {
        let per_op = OpKind::ALL
            .iter()
            .map(|op| (op, &stats.per_op[op.index()]))
            .filter(|(_, s)| s.ok > 0)
            .map(|(op, s)| OpLine {
                op: *op,
                ok: s.ok,
                latency: Percentiles::of_ns(&s.latency_ns),
            })
            .collect();
        Report {
            params,
            duration_s,
            ok: stats.ok(),
            errors: named(&stats.errors),
            latency: Percentiles::of_ns(&stats.latency_all_ns()),
            per_op,
            send_lag: Percentiles::of_ns(&stats.send_lag_ns),
            pacer_late: Percentiles::of_ns(&stats.pacer_late_ns),
            housekeeping_errors: named(housekeeping),
            loadgen_cpu_cores,
        }
    }

    /// Failed measured operations.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful operations per second of the window.
    pub fn ops_per_sec(&self) -> f64 {
        if self.duration_s > 0.0 {
            self.ok as f64 / self.duration_s
        } else {
            0.0
        }
    }

    /// Open loop: whether the generator fell behind its own schedule (the
    /// pacer's p99 lateness above [`PACER_LATE_P99_US_MAX`]), so the server was
    /// not offered the requested rate on time and the latencies include the
    /// generator's delay.
    pub fn generator_behind(&self) -> bool {
        self.params.rate.is_some() && self.pacer_late.p99_us > PACER_LATE_P99_US_MAX
    }

    /// Whether the run is clean: no failed operation, measured or not.
    pub fn clean(&self) -> bool {
        self.errors.is_empty() && self.housekeeping_errors.is_empty()
    }

    /// One line that says what happened, errors first.
    pub fn headline(&self) -> String {
        let p = &self.params;
        let what = format!(
            "{} on {}: {:.0} ops/s, p99 {} ({} sessions x depth {}{})",
            p.workload.kind,
            p.targets.join(","),
            self.ops_per_sec(),
            fmt_us(self.latency.p99_us),
            p.sessions,
            p.depth,
            p.rate
                .map(|r| format!(", open loop {r:.0} ops/s"))
                .unwrap_or_default(),
        );
        let behind = if self.generator_behind() {
            format!(
                "WARNING generator behind schedule (pacer p99 {} late): ",
                fmt_us(self.pacer_late.p99_us)
            )
        } else {
            String::new()
        };
        if self.clean() {
            return format!("{behind}OK {what}");
        }
        let mut errors = self.errors.clone();
        for (name, count) in &self.housekeeping_errors {
            *errors.entry(format!("setup/teardown {name}")).or_insert(0) += count;
        }
        let list: Vec<String> = errors.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        format!(
            "{behind}ERRORS ({} failed: {}) {what}",
            errors.values().sum::<u64>(),
            list.join(", ")
        )
    }

    /// The table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{}", self.headline());
        let _ = writeln!(
            t,
            "window {:.1} s after {:.1} s warm-up; {} threads; value {} B{}; loadgen CPU {:.2} cores",
            self.duration_s,
            self.params.warmup_s,
            self.params.threads,
            self.params.workload.value_size,
            if self.params.workload.kind == crate::workload::WorkloadKind::Mixed {
                format!("; {}% reads", self.params.workload.read_pct)
            } else {
                String::new()
            },
            self.loadgen_cpu_cores,
        );
        let _ = writeln!(
            t,
            "{:<8} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "op", "ok", "ops/s", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        );
        let mut lines: Vec<(&str, u64, &Percentiles)> = self
            .per_op
            .iter()
            .map(|l| (l.op.name(), l.ok, &l.latency))
            .collect();
        if self.per_op.len() != 1 {
            lines.push(("all", self.ok, &self.latency));
        }
        for (name, ok, p) in lines {
            let _ = writeln!(
                t,
                "{:<8} {:>10} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                ok,
                ok as f64 / self.duration_s.max(f64::MIN_POSITIVE),
                fmt_us(p.p50_us),
                fmt_us(p.p90_us),
                fmt_us(p.p99_us),
                fmt_us(p.p999_us),
                fmt_us(p.p9999_us),
                fmt_us(p.max_us),
            );
        }
        if self.params.rate.is_some() {
            let lag = &self.send_lag;
            let _ = writeln!(
                t,
                "send lag (arrival to send, included above): p50 {} p99 {} max {}; pacer late p99 {} max {}",
                fmt_us(lag.p50_us),
                fmt_us(lag.p99_us),
                fmt_us(lag.max_us),
                fmt_us(self.pacer_late.p99_us),
                fmt_us(self.pacer_late.max_us),
            );
        }
        for (name, count) in &self.errors {
            let _ = writeln!(t, "error {name}: {count}");
        }
        for (name, count) in &self.housekeeping_errors {
            let _ = writeln!(t, "setup/teardown error {name}: {count}");
        }
        t
    }

    /// The JSON object printed as the last line of stdout with `--json`.
    pub fn json(&self) -> Value {
        let p = &self.params;
        let percentiles = |l: &Percentiles| {
            json!({
                "p50_us": l.p50_us, "p90_us": l.p90_us, "p99_us": l.p99_us,
                "p999_us": l.p999_us, "p9999_us": l.p9999_us, "max_us": l.max_us,
                "mean_us": l.mean_us,
            })
        };
        let mut by_op = serde_json::Map::new();
        for line in &self.per_op {
            let mut v = percentiles(&line.latency);
            v["ok"] = json!(line.ok);
            by_op.insert(line.op.name().to_owned(), v);
        }
        let mut out = json!({
            "workload": p.workload.kind.name(),
            "targets": p.targets,
            "ok": self.ok,
            "errors": self.errors,
            "errors_total": self.errors_total(),
            "setup_teardown_errors": self.housekeeping_errors,
            "clean": self.clean(),
            "ops_per_sec": self.ops_per_sec(),
            "duration_s": self.duration_s,
            "warmup_s": p.warmup_s,
            "sessions": p.sessions,
            "depth": p.depth,
            "rate": p.rate,
            "threads": p.threads,
            "value_size": p.workload.value_size,
            "read_pct": (p.workload.kind == crate::workload::WorkloadKind::Mixed)
                .then_some(p.workload.read_pct),
            "loadgen_cpu_cores": self.loadgen_cpu_cores,
            "send_lag_p50_us": self.send_lag.p50_us,
            "send_lag_p99_us": self.send_lag.p99_us,
            "send_lag_max_us": self.send_lag.max_us,
            "pacer_late_p99_us": self.pacer_late.p99_us,
            "pacer_late_max_us": self.pacer_late.max_us,
            "generator_behind": self.generator_behind(),
            "by_op": by_op,
        });
        let all = percentiles(&self.latency);
        for (k, v) in all.as_object().expect("object") {
            out[k] = v.clone();
        }
        out
    }
}

/// Pacer lateness (p99, µs) above which an open-loop run is flagged as the
/// generator falling behind its schedule.
pub const PACER_LATE_P99_US_MAX: f64 = 1000.0;

/// A latency for people: µs below 10 ms, else ms.
fn fmt_us(us: f64) -> String {
    if us < 10_000.0 {
        format!("{us:.0}us")
    } else {
        format!("{:.1}ms", us / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadKind;

    fn params() -> RunParams {
        RunParams {
            targets: vec!["127.0.0.1:2181".into()],
            workload: Workload::new(WorkloadKind::Mixed),
            sessions: 4,
            depth: 2,
            rate: None,
            threads: 1,
            warmup_s: 0.0,
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
        Report::new(params(), 2.0, &stats, &BTreeMap::new(), 0.5)
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
        assert_eq!(v["workload"], "mixed");
        assert_eq!(v["ok"], 2000);
        assert_eq!(v["ops_per_sec"], 1000.0);
        assert_eq!(v["errors"], json!({}));
        assert_eq!(v["by_op"]["getData"]["ok"], 1000);
        assert_eq!(v["read_pct"], 50);
        assert_eq!(v["rate"], Value::Null);
        let p99 = v["p99_us"].as_f64().unwrap();
        // The 20th largest of 2000: setData's 1960 µs (to 0.1%).
        assert!((1955.0..=1965.0).contains(&p99), "{p99}");
        // One line: printable as the last line of stdout.
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn errors_show_by_code_and_in_the_headline() {
        let clean = sample(false);
        assert!(
            clean.headline().starts_with("OK mixed"),
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
        let closed = Report::new(params(), 1.0, &stats, &BTreeMap::new(), 0.1);
        assert!(!closed.generator_behind(), "closed loop has no schedule");
        let open = Report::new(
            RunParams {
                rate: Some(1000.0),
                ..params()
            },
            1.0,
            &stats,
            &BTreeMap::new(),
            0.1,
        );
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
}
