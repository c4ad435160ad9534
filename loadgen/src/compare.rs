//! `compare`: the same plan against two servers in interleaved rounds, reduced
//! to per-metric medians and the ratio B/A. Pure: reports in, table and JSON out.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::report::{fmt_us, Report};

/// A number every report has, compared between the servers.
struct Metric {
    /// Its JSON name.
    name: &'static str,
    /// Its name in the table.
    label: &'static str,
    /// A latency (µs) or a rate.
    latency: bool,
    get: fn(&Report) -> f64,
}

const METRICS: [Metric; 7] = [
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
];

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

fn fmt_value(metric: &Metric, v: f64) -> String {
    if metric.latency {
        fmt_us(v)
    } else {
        format!("{v:.0}")
    }
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
        "{:<32} {:<7} {:>11} {:>11} {:>8}  runs (A | B)",
        "step", "metric", "A", "B", "B/A"
    );
    let steps = rounds.first().map_or(0, |r| r.a.len().min(r.b.len()));
    for step in 0..steps {
        let label = rounds[0].a[step].params.step.label();
        for (i, metric) in METRICS.iter().enumerate() {
            let av: Vec<f64> = rounds.iter().map(|r| (metric.get)(&r.a[step])).collect();
            let bv: Vec<f64> = rounds.iter().map(|r| (metric.get)(&r.b[step])).collect();
            let (am, bm) = (median(&av), median(&bv));
            let runs = |v: &[f64]| {
                v.iter()
                    .map(|x| fmt_value(metric, *x))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                t,
                "{:<32} {:<7} {:>11} {:>11} {:>8}  {} | {}",
                if i == 0 { label.as_str() } else { "" },
                metric.label,
                fmt_value(metric, am),
                fmt_value(metric, bm),
                ratio(am, bm).map_or("-".into(), |r| format!("{r:.2}x")),
                runs(&av),
                runs(&bv),
            );
        }
    }
    t
}

/// The same as one JSON object: per step, per metric, the medians, the ratio
/// and every round's value.
pub fn json(workload: &str, a: &str, b: &str, rounds: &[Round]) -> Value {
    let steps = rounds.first().map_or(0, |r| r.a.len().min(r.b.len()));
    let clean = rounds
        .iter()
        .all(|r| r.a.iter().chain(&r.b).all(Report::clean));
    let per_step: Vec<Value> = (0..steps)
        .map(|step| {
            let mut metrics = serde_json::Map::new();
            for metric in &METRICS {
                let av: Vec<f64> = rounds.iter().map(|r| (metric.get)(&r.a[step])).collect();
                let bv: Vec<f64> = rounds.iter().map(|r| (metric.get)(&r.b[step])).collect();
                let (am, bm) = (median(&av), median(&bv));
                metrics.insert(
                    metric.name.into(),
                    json!({ "a": am, "b": bm, "ratio_b_over_a": ratio(am, bm), "a_runs": av, "b_runs": bv }),
                );
            }
            json!({ "label": rounds[0].a[step].params.step.label(), "metrics": metrics })
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
