//! `compare`: the same plan against two servers in interleaved rounds, reduced
//! to per-metric medians and the ratio B/A. Pure: reports in, table and JSON out.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::report::{fmt_us, Report};

/// A number a report has, compared between the servers.
struct Metric {
    /// Its JSON name.
    name: &'static str,
    /// Its name in the table.
    label: &'static str,
    /// A latency (µs) or a rate.
    latency: bool,
    /// Its value; NaN when the report does not have it.
    get: fn(&Report) -> f64,
}

const METRICS: [Metric; 9] = [
    Metric {
        name: "ops_per_sec",
        label: "ops/s",
        latency: false,
        get: |r| r.ops_per_sec(),
    },
    Metric {
        name: "p50_us",
        label: "p50",
        latency: true,
        get: |r| r.all.latency.p50_us,
    },
    Metric {
        name: "p90_us",
        label: "p90",
        latency: true,
        get: |r| r.all.latency.p90_us,
    },
    Metric {
        name: "p99_us",
        label: "p99",
        latency: true,
        get: |r| r.all.latency.p99_us,
    },
    Metric {
        name: "p999_us",
        label: "p99.9",
        latency: true,
        get: |r| r.all.latency.p999_us,
    },
    Metric {
        name: "max_us",
        label: "max",
        latency: true,
        get: |r| r.all.latency.max_us,
    },
    Metric {
        name: "errors_total",
        label: "errors",
        latency: false,
        get: |r| r.errors_total() as f64,
    },
    Metric {
        name: "txns_per_fsync",
        label: "txn/fsync",
        latency: false,
        get: |r| {
            r.server
                .as_ref()
                .and_then(|s| s.txns_per_fsync())
                .unwrap_or(f64::NAN)
        },
    },
    Metric {
        name: "server_cpu_cores",
        label: "srv CPU",
        latency: false,
        get: |r| {
            r.server
                .as_ref()
                .and_then(|s| s.cpu_cores)
                .unwrap_or(f64::NAN)
        },
    },
];

/// One metric of one step: both sides' medians, their ratio, every round.
#[derive(Clone, Debug)]
pub struct MetricRow {
    /// Its JSON name (`ops_per_sec`, `p99_us`, ...).
    pub name: &'static str,
    /// Its name for people.
    pub label: &'static str,
    /// Whether it is a latency in µs (lower is better).
    pub latency: bool,
    /// A's median.
    pub a: f64,
    /// B's median.
    pub b: f64,
    /// B / A, when A is positive.
    pub ratio: Option<f64>,
    /// A's value in each round.
    pub a_runs: Vec<f64>,
    /// B's value in each round.
    pub b_runs: Vec<f64>,
}

impl MetricRow {
    /// A value of this metric for people.
    pub fn fmt(&self, v: f64) -> String {
        if !v.is_finite() {
            "-".into()
        } else if self.latency {
            fmt_us(v)
        } else if self.name == "ops_per_sec" || self.name == "errors_total" {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    }
}

/// Step `step`'s metrics over `rounds` (server-side metrics only when some
/// round has them).
pub fn rows(rounds: &[Round], step: usize) -> Vec<MetricRow> {
    METRICS
        .iter()
        .map(|metric| {
            let a_runs: Vec<f64> = rounds.iter().map(|r| (metric.get)(&r.a[step])).collect();
            let b_runs: Vec<f64> = rounds.iter().map(|r| (metric.get)(&r.b[step])).collect();
            let (a, b) = (median(&finite(&a_runs)), median(&finite(&b_runs)));
            MetricRow {
                name: metric.name,
                label: metric.label,
                latency: metric.latency,
                a,
                b,
                ratio: ratio(a, b),
                a_runs,
                b_runs,
            }
        })
        .filter(|row| row.a.is_finite() || row.b.is_finite())
        .collect()
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Steps every round ran on both sides.
pub fn steps(rounds: &[Round]) -> usize {
    rounds
        .iter()
        .map(|r| r.a.len().min(r.b.len()))
        .min()
        .unwrap_or(0)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One round: the plan's reports on A, then on B (one report per step).
#[derive(Clone, Debug)]
pub struct Round {
    /// Reports from server A, by step.
    pub a: Vec<Report>,
    /// Reports from server B, by step.
    pub b: Vec<Report>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (a > 0.0 && a.is_finite() && b.is_finite()).then(|| b / a)
}

/// The medians of every metric per step, side by side, and B/A.
pub fn table(workload: &str, a: &str, b: &str, rounds: &[Round]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "compare {workload}: A = {a}, B = {b}; medians of {} round(s) (A then B in each)",
        rounds.len()
    );
    let _ = writeln!(
        t,
        "{:<32} {:<9} {:>11} {:>11} {:>8}  runs (A | B)",
        "step", "metric", "A", "B", "B/A"
    );
    for step in 0..steps(rounds) {
        let label = rounds[0].a[step].params.step.label();
        for (i, row) in rows(rounds, step).iter().enumerate() {
            let runs = |v: &[f64]| v.iter().map(|x| row.fmt(*x)).collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                t,
                "{:<32} {:<9} {:>11} {:>11} {:>8}  {} | {}",
                if i == 0 { label.as_str() } else { "" },
                row.label,
                row.fmt(row.a),
                row.fmt(row.b),
                row.ratio.map_or("-".into(), |r| format!("{r:.2}x")),
                runs(&row.a_runs),
                runs(&row.b_runs),
            );
        }
    }
    t
}

/// The same as one JSON object: per step, per metric, the medians, the ratio
/// and every round's value; per step each run's server facts.
pub fn json(workload: &str, a: &str, b: &str, rounds: &[Round]) -> Value {
    let clean = rounds
        .iter()
        .all(|r| r.a.iter().chain(&r.b).all(Report::clean));
    let number = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let per_step: Vec<Value> = (0..steps(rounds))
        .map(|step| {
            let mut metrics = serde_json::Map::new();
            for row in rows(rounds, step) {
                let runs = |v: &[f64]| v.iter().map(|x| number(*x)).collect::<Vec<_>>();
                metrics.insert(
                    row.name.into(),
                    json!({
                        "a": number(row.a), "b": number(row.b), "ratio_b_over_a": row.ratio,
                        "a_runs": runs(&row.a_runs), "b_runs": runs(&row.b_runs),
                    }),
                );
            }
            let server = |side: &dyn Fn(&Round) -> &Report| {
                rounds
                    .iter()
                    .map(|r| side(r).server.as_ref().map_or(Value::Null, |s| s.json()))
                    .collect::<Vec<_>>()
            };
            let flags = |f: fn(&Report) -> bool| {
                json!({
                    "a_runs": rounds.iter().map(|r| f(&r.a[step])).collect::<Vec<_>>(),
                    "b_runs": rounds.iter().map(|r| f(&r.b[step])).collect::<Vec<_>>(),
                })
            };
            let first = &rounds[0].a[step];
            json!({
                "label": first.params.step.label(),
                "point": first.params.step.point.map(|(k, v)| json!({ k: v })),
                "sessions": first.params.step.sessions,
                "depth": first.params.step.depth,
                "rate": first.params.step.rate,
                "headline_op": first.params.step.headline.map(|k| k.name()),
                "metrics": metrics,
                "server": { "a_runs": server(&|r| &r.a[step]), "b_runs": server(&|r| &r.b[step]) },
                "clean": flags(Report::clean),
                "generator_behind": flags(Report::generator_behind),
            })
        })
        .collect();
    json!({
        "workload": workload,
        "a": a,
        "b": b,
        "rounds": rounds.len(),
        "clean": clean,
        "steps": per_step,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::RunParams;
    use crate::stats::Stats;
    use crate::workload::{plan_named, OpKind, Overrides, WorkloadKind};

    fn report(ops: u64, latency_us: u64) -> Report {
        let step = plan_named(WorkloadKind::Read, &Overrides::default())
            .unwrap()
            .steps
            .remove(0);
        let mut stats = Stats::new();
        for _ in 0..ops {
            stats.record(OpKind::GetData, 0, latency_us * 1000, Ok(()));
        }
        let params = RunParams {
            targets: vec!["x:1".into()],
            step,
            threads: 1,
        };
        Report::new(
            params,
            &[(stats, 1.0)],
            &BTreeMap::new(),
            0.1,
            Vec::new(),
            0,
        )
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn the_table_shows_medians_and_b_over_a() {
        let rounds = vec![
            Round {
                a: vec![report(100, 10)],
                b: vec![report(500, 2)],
            },
            Round {
                a: vec![report(120, 10)],
                b: vec![report(400, 2)],
            },
            Round {
                a: vec![report(110, 10)],
                b: vec![report(450, 2)],
            },
        ];
        let t = table("read", "a:1", "b:2", &rounds);
        assert!(t.contains("3 round(s)"), "{t}");
        let ops_line = t.lines().find(|l| l.contains("ops/s")).unwrap();
        assert!(
            ops_line.contains("110") && ops_line.contains("450") && ops_line.contains("4.09x"),
            "{ops_line}"
        );
        let v = json("read", "a:1", "b:2", &rounds);
        let ops = &v["steps"][0]["metrics"]["ops_per_sec"];
        assert_eq!(ops["a"], 110.0);
        assert_eq!(ops["b"], 450.0);
        assert_eq!(ops["a_runs"], json!([100.0, 120.0, 110.0]));
        let p50 = &v["steps"][0]["metrics"]["p50_us"]["ratio_b_over_a"];
        assert!((p50.as_f64().unwrap() - 0.2).abs() < 0.01, "{p50}");
        assert_eq!(v["clean"], true);
    }
}
