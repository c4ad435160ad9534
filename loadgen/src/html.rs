//! `--html FILE`: the report as one self-contained HTML page a person would
//! rather look at than read. Everything is inline (CSS and SVG charts from
//! [`plot`]; no script runs, nothing is fetched), so the file can be mailed,
//! attached to an issue or opened offline.
//!
//! A `run` page has, per step: headline tiles, throughput per second, p50 /
//! p99 / p99.9 / max per second (warm-up shaded), the latency percentile
//! spectrum on HdrHistogram's log percentile axis (every operation kind), the
//! table, and the server's own facts (`mntr`, its process) with their time
//! series. A plan of several steps also gets its steps side by side. A
//! `compare` page overlays both servers, round by round, with the medians
//! and ratios. Both end with the run's parameters, the host, the command and
//! the JSON the run printed (in a `<script type="application/json">` block,
//! for machines). Pure: reports in, text out.

use std::fmt::Write as _;
use std::time::SystemTime;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::compare::{self, Round};
use crate::host::HostFacts;
use crate::plot::{self, esc, Axis, Band, Chart, Scale, Series, Unit, PALETTE};
use crate::report::{self, fmt_us, Report};
use crate::stats::{latency_histogram, Percentiles};

/// A percentile of a summary, named.
type Pick = (&'static str, fn(&Percentiles) -> f64);

/// The percentiles the latency charts draw, in colour order.
const PICKS: [Pick; 4] = [
    ("p50", |p| p.p50_us),
    ("p99", |p| p.p99_us),
    ("p99.9", |p| p.p999_us),
    ("max", |p| p.max_us),
];

/// Points per decade of the percentile spectrum.
const SPECTRUM_POINTS_PER_NINE: u32 = 25;

/// Latency charts switch to a log scale when their largest value is this many
/// times their smallest.
const LOG_SCALE_SPREAD_MIN: f64 = 20.0;

/// What the page says about where and how it was made.
#[derive(Clone, Debug)]
pub struct PageInfo {
    /// The command line, as typed.
    pub command: String,
    /// The host.
    pub host: HostFacts,
    /// When the run began.
    pub started: SystemTime,
    /// The load generator's version.
    pub version: String,
}

/// One side of a comparison.
#[derive(Clone, Debug)]
pub struct Side {
    /// Its name for people (`corekeeper`, `A`).
    pub name: String,
    /// Its address, as given.
    pub target: String,
}

/// The page of a `run`: every step of `reports` (one per step of the plan).
pub fn run_page(workload: &str, anchor: &str, reports: &[Report], info: &PageInfo) -> String {
    let json = report::plan_json(workload, anchor, reports);
    let clean = reports.iter().all(Report::clean);
    let behind = reports.iter().any(Report::generator_behind);
    let targets = reports
        .first()
        .map(|r| r.params.targets.join(", "))
        .unwrap_or_default();
    let mut body = String::new();
    header(
        &mut body,
        &format!("{workload} on {targets}"),
        anchor,
        status(clean, behind),
        info,
    );
    if reports.len() > 1 {
        plan_tiles(&mut body, reports);
        steps_section(&mut body, reports);
    }
    for (i, report) in reports.iter().enumerate() {
        step_section(&mut body, report, reports.len() > 1, i == 0);
    }
    if let Some(first) = reports.first() {
        params_section(&mut body, first, info);
    }
    page(&format!("{workload}: corekeeper-loadgen"), &body, &json)
}

/// The page of a `compare`: both servers, every round, per step.
pub fn compare_page(
    workload: &str,
    anchor: &str,
    a: &Side,
    b: &Side,
    rounds: &[Round],
    info: &PageInfo,
) -> String {
    let mut json = compare::json(workload, &a.target, &b.target, rounds);
    json["a_name"] = a.name.clone().into();
    json["b_name"] = b.name.clone().into();
    json["anchor"] = anchor.into();
    let all = || rounds.iter().flat_map(|r| r.a.iter().chain(&r.b));
    let clean = all().all(Report::clean);
    let behind = all().any(Report::generator_behind);
    let mut body = String::new();
    header(
        &mut body,
        &format!("{workload}: {} vs {}", a.name, b.name),
        anchor,
        status(clean, behind),
        info,
    );
    let _ = write!(
        body,
        r#"<p class="lede">A = <b class="side-a">{}</b> ({}), B = <b class="side-b">{}</b> ({}); {} interleaved round(s), A then B in each, one server at a time. Medians over the rounds; ratios are B/A.</p>"#,
        esc(&a.name),
        esc(&a.target),
        esc(&b.name),
        esc(&b.target),
        rounds.len()
    );
    for step in 0..compare::steps(rounds) {
        compare_step_section(&mut body, rounds, step, a, b);
    }
    if let Some(first) = rounds.first().and_then(|r| r.a.first()) {
        params_section(&mut body, first, info);
    }
    page(
        &format!("{workload}: {} vs {}: corekeeper-loadgen", a.name, b.name),
        &body,
        &json,
    )
}

fn status(clean: bool, behind: bool) -> (&'static str, &'static str) {
    match (clean, behind) {
        (false, _) => ("bad", "ERRORS"),
        (true, true) => ("warn", "GENERATOR BEHIND"),
        (true, false) => ("ok", "CLEAN"),
    }
}

fn header(
    out: &mut String,
    title: &str,
    anchor: &str,
    (class, text): (&str, &str),
    info: &PageInfo,
) {
    let _ = write!(
        out,
        r#"<header><div class="brand">corekeeper-loadgen {}</div><h1>{} <span class="badge {class}">{text}</span></h1><p class="anchor">{}</p><p class="meta">{} · {} · {} cores · load {:.2} {:.2} {:.2}</p></header>"#,
        esc(&info.version),
        esc(title),
        esc(anchor),
        esc(&utc(info.started)),
        esc(&info.host.hostname),
        info.host.cores,
        info.host.load[0],
        info.host.load[1],
        info.host.load[2],
    );
}

fn tile(out: &mut String, label: &str, value: &str, class: &str) {
    let _ = write!(
        out,
        r#"<div class="tile {class}"><div class="v">{}</div><div class="l">{}</div></div>"#,
        esc(value),
        esc(label)
    );
}

fn latency_tiles(out: &mut String, p: &Percentiles) {
    tile(out, "p50", &fmt_us(p.p50_us), "");
    tile(out, "p99", &fmt_us(p.p99_us), "");
    tile(out, "p99.9", &fmt_us(p.p999_us), "");
    tile(out, "max", &fmt_us(p.max_us), "");
}

fn plan_tiles(out: &mut String, reports: &[Report]) {
    let mut latency = latency_histogram();
    let (mut ok, mut seconds, mut errors) = (0u64, 0.0, 0u64);
    for r in reports {
        latency.add(&r.all.latency_ns).expect("equal bounds");
        ok += r.all.ok;
        seconds += r.all.duration_s;
        errors += r.errors_total();
    }
    out.push_str(r#"<div class="tiles">"#);
    tile(out, "steps", &reports.len().to_string(), "");
    tile(
        out,
        "ops/s over all steps",
        &plot::label(Unit::Count, ok as f64 / seconds.max(1e-9)),
        "big",
    );
    latency_tiles(out, &Percentiles::of_ns(&latency));
    tile(
        out,
        "errors",
        &errors.to_string(),
        if errors > 0 { "bad" } else { "" },
    );
    out.push_str("</div>");
}

/// The steps of a plan side by side: throughput and latency against the swept
/// value (or the step's number).
fn steps_section(out: &mut String, reports: &[Report]) {
    let point_name = reports[0].params.step.point.map(|p| p.0);
    let numeric = point_name.is_some()
        && reports
            .iter()
            .all(|r| r.params.step.point.map(|p| p.0) == point_name);
    let x_of = |i: usize, r: &Report| {
        if numeric {
            r.params.step.point.map_or(i as f64, |p| p.1)
        } else {
            (i + 1) as f64
        }
    };
    let x_name = if numeric {
        point_name.unwrap_or("step")
    } else {
        "step"
    };
    let x_scale = if numeric
        && reports
            .iter()
            .all(|r| r.params.step.point.is_some_and(|p| p.1 > 0.0))
        && spread(
            reports
                .iter()
                .filter_map(|r| r.params.step.point.map(|p| p.1)),
        ) >= 16.0
    {
        Scale::Log
    } else {
        Scale::Linear
    };
    let mut throughput = Chart::new(
        Axis::new(x_name, x_scale, Unit::Plain),
        Axis::new("ops/s", Scale::Linear, Unit::Count),
    );
    throughput.series.push(Series::new(
        "ops/s",
        PALETTE[0],
        reports
            .iter()
            .enumerate()
            .map(|(i, r)| (x_of(i, r), r.ops_per_sec()))
            .collect(),
    ));
    let percentiles = PICKS;
    let all_latencies = reports
        .iter()
        .flat_map(|r| percentiles.iter().map(move |(_, f)| f(&r.all.latency)));
    let mut latency = Chart::new(
        Axis::new(x_name, x_scale, Unit::Plain),
        Axis::new("latency", latency_scale(all_latencies), Unit::Micros),
    );
    for (k, (name, f)) in percentiles.iter().enumerate() {
        let mut s = Series::new(
            name,
            PALETTE[k],
            reports
                .iter()
                .enumerate()
                .map(|(i, r)| (x_of(i, r), f(&r.all.latency)))
                .collect(),
        );
        if *name == "max" {
            s = s.faint();
        }
        latency.series.push(s);
    }
    out.push_str(r#"<section class="card"><h2>Steps side by side</h2><div class="grid2">"#);
    figure(out, "Throughput by step", &throughput);
    figure(out, "Latency by step", &latency);
    out.push_str("</div>");
    out.push_str(r#"<table class="num"><thead><tr><th>step</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th><th>errors</th><th>txns/fsync</th><th>server CPU</th></tr></thead><tbody>"#);
    for r in reports {
        let l = &r.all.latency;
        let server = r.server.as_ref();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.params.step.label()),
            thousands(r.ops_per_sec()),
            fmt_us(l.p50_us),
            fmt_us(l.p90_us),
            fmt_us(l.p99_us),
            fmt_us(l.p999_us),
            fmt_us(l.p9999_us),
            fmt_us(l.max_us),
            if r.errors_total() > 0 { r#" class="bad""# } else { "" },
            r.errors_total(),
            server
                .and_then(|s| s.txns_per_fsync())
                .map_or("-".into(), |v| format!("{v:.1}")),
            server
                .and_then(|s| s.cpu_cores)
                .map_or("-".into(), |v| format!("{v:.2}")),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn spread(values: impl Iterator<Item = f64>) -> f64 {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo.is_finite() {
        hi / lo
    } else {
        1.0
    }
}

fn latency_scale(values: impl Iterator<Item = f64>) -> Scale {
    if spread(values) >= LOG_SCALE_SPREAD_MIN {
        Scale::Log
    } else {
        Scale::Linear
    }
}

fn figure(out: &mut String, title: &str, chart: &Chart) {
    if chart.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<figure><figcaption>{}</figcaption>{}</figure>"#,
        esc(title),
        chart.svg()
    );
}

/// The percentile spectrum of `h` (ns) in µs, on the percentile axis, up to
/// the deepest percentile its count resolves.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let nines = (h.len() as f64)
        .log10()
        .clamp(1.0, plot::PERCENTILE_NINES_MAX);
    let steps = (nines * f64::from(SPECTRUM_POINTS_PER_NINE)).ceil() as u32;
    let mut points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = nines * f64::from(i) / f64::from(steps);
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect();
    points.push((nines, h.max() as f64 / 1000.0));
    points
}

fn timeline_charts(
    report: &Report,
    color: &str,
    name: &str,
    throughput: &mut Chart,
    latency: &mut Chart,
) {
    let t = &report.timeline;
    throughput.series.push(Series::new(
        name,
        color,
        t.iter().map(|s| (s.second as f64, s.ok as f64)).collect(),
    ));
    let gap = |v: f64| if v > 0.0 { v } else { f64::NAN };
    latency.series.push(Series::new(
        &format!("{name} p99"),
        color,
        t.iter()
            .map(|s| (s.second as f64, gap(s.latency.p99_us)))
            .collect(),
    ));
}

fn warmup_band(report: &Report) -> Option<Band> {
    let last = report
        .timeline
        .iter()
        .filter(|s| s.warmup)
        .map(|s| s.second)
        .max()?;
    Some(Band {
        from: 0.0,
        to: last as f64,
        label: "warm-up".into(),
    })
}

fn step_section(out: &mut String, report: &Report, several: bool, first: bool) {
    let label = report.params.step.label();
    let (class, word) = status(report.clean(), report.generator_behind());
    if several {
        let _ = write!(
            out,
            r#"<details class="card step"{}><summary><h2>{} <span class="badge {class}">{word}</span></h2></summary>"#,
            if first { " open" } else { "" },
            esc(&label)
        );
    } else {
        out.push_str(r#"<section class="card step">"#);
    }
    let _ = write!(
        out,
        r#"<p class="headline">{}</p>"#,
        esc(&report.headline())
    );
    out.push_str(r#"<div class="tiles">"#);
    tile(
        out,
        &format!(
            "{}/s",
            report.params.step.headline.map_or("ops", |k| k.name())
        ),
        &plot::label(Unit::Count, report.ops_per_sec()),
        "big",
    );
    latency_tiles(out, &report.all.latency);
    tile(
        out,
        "errors",
        &report.errors_total().to_string(),
        if report.clean() { "" } else { "bad" },
    );
    if let Some(server) = &report.server {
        if let Some(v) = server.txns_per_fsync() {
            tile(out, "txns / fsync", &format!("{v:.1}"), "srv");
        }
        if let Some(v) = server.cpu_cores {
            tile(out, "server CPU, cores", &format!("{v:.2}"), "srv");
        }
    }
    tile(
        out,
        "loadgen CPU, cores",
        &format!("{:.2}", report.loadgen_cpu_cores),
        "gen",
    );
    out.push_str("</div>");

    let seconds = Axis::new("second of the run", Scale::Linear, Unit::Seconds);
    let mut throughput = Chart::new(
        seconds.clone(),
        Axis::new("operations per second", Scale::Linear, Unit::Count),
    );
    let t = &report.timeline;
    throughput.series.push(Series::new(
        "ok",
        PALETTE[0],
        t.iter().map(|s| (s.second as f64, s.ok as f64)).collect(),
    ));
    if t.iter().any(|s| s.errors > 0) {
        throughput.series.push(Series::new(
            "errors",
            PALETTE[3],
            t.iter()
                .map(|s| (s.second as f64, s.errors as f64))
                .collect(),
        ));
    }
    let values = t.iter().flat_map(|s| [s.latency.p50_us, s.latency.max_us]);
    let mut latency = Chart::new(
        seconds.clone(),
        Axis::new("latency", latency_scale(values), Unit::Micros),
    );
    for (color, (name, f)) in PICKS.into_iter().enumerate() {
        let mut s = Series::new(
            name,
            PALETTE[color],
            t.iter()
                .map(|s| {
                    let v = f(&s.latency);
                    (s.second as f64, if v > 0.0 { v } else { f64::NAN })
                })
                .collect(),
        );
        if name == "max" {
            s = s.faint();
        }
        latency.series.push(s);
    }
    if let Some(band) = warmup_band(report) {
        throughput.bands.push(band.clone());
        latency.bands.push(band);
    }
    let spectrum_chart = spectrum_chart(report);
    out.push_str(r#"<div class="grid2">"#);
    figure(out, "Throughput per second", &throughput);
    figure(out, "Latency per second: p50, p99, p99.9, max", &latency);
    out.push_str("</div>");
    figure(
        out,
        "Latency by percentile (whole window; HdrHistogram's percentile axis)",
        &spectrum_chart,
    );
    op_table(out, report);
    if let Some(server) = &report.server {
        server_section(out, server, &seconds);
    }
    out.push_str(if several { "</details>" } else { "</section>" });
}

fn spectrum_chart(report: &Report) -> Chart {
    let mut series = vec![Series::new(
        &report
            .params
            .step
            .headline
            .map_or("all operations".to_owned(), |k| {
                format!("{} (headline)", k.name())
            }),
        PALETTE[0],
        spectrum(&report.all.latency_ns),
    )];
    let lines = &report.all.per_op;
    if lines.len() > 1 || report.params.step.headline.is_some() {
        for (k, line) in lines.iter().enumerate() {
            series.push(
                Series::new(
                    line.op.name(),
                    PALETTE[(k + 1) % PALETTE.len()],
                    spectrum(&line.latency_ns),
                )
                .dashed(),
            );
        }
    }
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let mut chart = Chart::new(
        Axis::new("percentile", Scale::Percentile, Unit::Plain),
        Axis::new("latency", latency_scale(values), Unit::Micros),
    );
    chart.series = series;
    chart
}

fn op_table(out: &mut String, report: &Report) {
    out.push_str(r#"<table class="num"><thead><tr><th>operation</th><th>ok</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th><th>mean</th></tr></thead><tbody>"#);
    let several = report.phases.len() > 1;
    let row = |out: &mut String,
               name: &str,
               ok: u64,
               seconds: f64,
               p: &Percentiles,
               total: bool| {
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if total { r#" class="total""# } else { "" },
            esc(name),
            thousands(ok as f64),
            thousands(if seconds > 0.0 { ok as f64 / seconds } else { 0.0 }),
            fmt_us(p.p50_us),
            fmt_us(p.p90_us),
            fmt_us(p.p99_us),
            fmt_us(p.p999_us),
            fmt_us(p.p9999_us),
            fmt_us(p.max_us),
            fmt_us(p.mean_us),
        );
    };
    let phases: Vec<&report::PhaseReport> = if several {
        report.phases.iter().collect()
    } else {
        vec![&report.all]
    };
    for phase in phases {
        for line in &phase.per_op {
            let name = if several {
                format!("{}/{}", phase.name, line.op.name())
            } else {
                line.op.name().to_owned()
            };
            row(out, &name, line.ok, phase.duration_s, &line.latency, false);
        }
    }
    let all = &report.all;
    row(out, "all", all.ok_all, all.duration_s, &all.latency, true);
    out.push_str("</tbody></table>");
    if !report.all.errors.is_empty() || !report.housekeeping_errors.is_empty() {
        out.push_str(
            r#"<table class="errors"><thead><tr><th>error</th><th>count</th></tr></thead><tbody>"#,
        );
        for (name, n) in &report.all.errors {
            let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", esc(name));
        }
        for (name, n) in &report.housekeeping_errors {
            let _ = write!(
                out,
                "<tr><td>set-up/tear-down {}</td><td>{n}</td></tr>",
                esc(name)
            );
        }
        out.push_str("</tbody></table>");
    }
    if report.params.step.rate.is_some() {
        let lag = &report.all.send_lag;
        let _ = write!(
            out,
            r#"<p class="note">Open loop at {} ops/s. Latency counts from each arrival's intended time. Send lag (arrival to send, included above): p50 {}, p99 {}, max {}; the pacer's own lateness: p99 {}, max {}.</p>"#,
            thousands(report.params.step.rate.unwrap_or(0.0)),
            fmt_us(lag.p50_us),
            fmt_us(lag.p99_us),
            fmt_us(lag.max_us),
            fmt_us(report.all.pacer_late.p99_us),
            fmt_us(report.all.pacer_late.max_us),
        );
    }
}

fn server_section(out: &mut String, server: &crate::server::ServerFacts, seconds: &Axis) {
    out.push_str(r#"<h3>The server's own numbers</h3><p class="note">From <code>mntr</code> and <code>srvr</code> before, during (once a second) and after the step, set-up and tear-down included; RSS and CPU from <code>/proc</code> when the server runs on this host.</p><div class="grid2"><table class="kv"><tbody>"#);
    for (label, value) in server.lines() {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(label),
            esc(&value)
        );
    }
    out.push_str("</tbody></table>");
    let mut chart = Chart::new(
        seconds.clone(),
        Axis::new("value", Scale::Linear, Unit::Plain),
    );
    let cpu: Vec<(f64, f64)> = server
        .series
        .iter()
        .filter_map(|p| Some((p.t_s, p.cpu_cores?)))
        .collect();
    if !cpu.is_empty() {
        chart.y.label = "server CPU, cores".into();
        chart
            .series
            .push(Series::new("server CPU (cores)", PALETTE[4], cpu));
    } else {
        let outstanding: Vec<(f64, f64)> = server
            .series
            .iter()
            .filter_map(|p| Some((p.t_s, p.outstanding_requests? as f64)))
            .collect();
        chart.y.label = "outstanding requests".into();
        chart
            .series
            .push(Series::new("outstanding requests", PALETTE[5], outstanding));
    }
    figure(out, "Server over time", &chart);
    out.push_str("</div>");
}

fn compare_step_section(out: &mut String, rounds: &[Round], step: usize, a: &Side, b: &Side) {
    let first = &rounds[0].a[step];
    let label = first.params.step.label();
    let clean = rounds
        .iter()
        .all(|r| r.a[step].clean() && r.b[step].clean());
    let behind = rounds
        .iter()
        .any(|r| r.a[step].generator_behind() || r.b[step].generator_behind());
    let (class, word) = status(clean, behind);
    let _ = write!(
        out,
        r#"<details class="card step"{}><summary><h2>{} <span class="badge {class}">{word}</span></h2></summary>"#,
        if step == 0 { " open" } else { "" },
        esc(&label)
    );
    let rows = compare::rows(rounds, step);
    out.push_str(r#"<div class="tiles">"#);
    for row in rows
        .iter()
        .filter(|r| matches!(r.name, "ops_per_sec" | "p99_us" | "p999_us"))
    {
        let better = match (row.ratio, row.latency) {
            (Some(r), false) => r >= 1.0,
            (Some(r), true) => r <= 1.0,
            (None, _) => true,
        };
        tile(
            out,
            &format!(
                "{} B/A ({} → {})",
                row.label,
                row.fmt(row.a),
                row.fmt(row.b)
            ),
            &row.ratio.map_or("-".into(), |r| format!("{r:.2}×")),
            if better { "big good" } else { "big worse" },
        );
    }
    out.push_str("</div>");
    let _ = write!(
        out,
        r#"<table class="num"><thead><tr><th>metric</th><th class="side-a">A: {}</th><th class="side-b">B: {}</th><th>B/A</th><th>A, each round</th><th>B, each round</th></tr></thead><tbody>"#,
        esc(&a.name),
        esc(&b.name)
    );
    for row in &rows {
        let runs = |v: &[f64]| {
            v.iter()
                .map(|x| row.fmt(*x))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"runs\">{}</td><td class=\"runs\">{}</td></tr>",
            esc(row.label),
            esc(&row.fmt(row.a)),
            esc(&row.fmt(row.b)),
            row.ratio.map_or("-".into(), |r| format!("{r:.2}×")),
            esc(&runs(&row.a_runs)),
            esc(&runs(&row.b_runs)),
        );
    }
    out.push_str("</tbody></table>");

    let seconds = Axis::new("second of the run", Scale::Linear, Unit::Seconds);
    let mut throughput = Chart::new(
        seconds.clone(),
        Axis::new("operations per second", Scale::Linear, Unit::Count),
    );
    let p99_values = rounds
        .iter()
        .flat_map(|r| [&r.a[step], &r.b[step]])
        .flat_map(|rep| rep.timeline.iter().map(|s| s.latency.p99_us));
    let mut latency = Chart::new(
        seconds,
        Axis::new("p99 latency", latency_scale(p99_values), Unit::Micros),
    );
    let (color_a, color_b) = (PALETTE[0], PALETTE[1]);
    for (i, round) in rounds.iter().enumerate() {
        for (side, report, color) in [(a, &round.a[step], color_a), (b, &round.b[step], color_b)] {
            timeline_charts(
                report,
                color,
                &format!("{} round {}", side.name, i + 1),
                &mut throughput,
                &mut latency,
            );
        }
    }
    // Both charts hold A, B per round in order: later rounds dashed, so that
    // rounds can be told apart.
    for chart in [&mut throughput, &mut latency] {
        for (k, s) in chart.series.iter_mut().enumerate() {
            if k / 2 > 0 {
                s.dashed = true;
                s.width = 1.5;
            }
        }
    }
    if let Some(band) = warmup_band(first) {
        throughput.bands.push(band.clone());
        latency.bands.push(band);
    }
    out.push_str(r#"<div class="grid2">"#);
    figure(out, "Throughput per second, every round", &throughput);
    figure(out, "p99 per second, every round", &latency);
    out.push_str("</div>");

    let mut spectrum_series = Vec::new();
    for (side, color, pick) in [
        (
            a,
            color_a,
            (|r: &Round, s: usize| &r.a[s]) as fn(&Round, usize) -> &Report,
        ),
        (b, color_b, |r: &Round, s: usize| &r.b[s]),
    ] {
        let mut merged = latency_histogram();
        for (i, round) in rounds.iter().enumerate() {
            let h = &pick(round, step).all.latency_ns;
            merged.add(h).expect("equal bounds");
            if rounds.len() > 1 {
                spectrum_series.push(
                    Series::new(
                        &format!("{} round {}", side.name, i + 1),
                        color,
                        spectrum(h),
                    )
                    .faint(),
                );
            }
        }
        spectrum_series.push(Series::new(
            &format!("{}, all rounds", side.name),
            color,
            spectrum(&merged),
        ));
    }
    let values = spectrum_series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let mut spectrum_chart = Chart::new(
        Axis::new("percentile", Scale::Percentile, Unit::Plain),
        Axis::new("latency", latency_scale(values), Unit::Micros),
    );
    spectrum_chart.series = spectrum_series;
    figure(
        out,
        "Latency by percentile, both servers (HdrHistogram's percentile axis)",
        &spectrum_chart,
    );
    compare_server_table(out, rounds, step, a, b);
    out.push_str("</details>");
}

fn compare_server_table(out: &mut String, rounds: &[Round], step: usize, a: &Side, b: &Side) {
    let any = rounds
        .iter()
        .any(|r| r.a[step].server.is_some() || r.b[step].server.is_some());
    if !any {
        return;
    }
    out.push_str(r#"<h3>The servers' own numbers</h3><table class="num"><thead><tr><th>run</th><th>server</th><th>txns</th><th>fsyncs</th><th>txns/fsync</th><th>fsync mean</th><th>outstanding max</th><th>RSS max</th><th>CPU, cores</th></tr></thead><tbody>"#);
    for (i, round) in rounds.iter().enumerate() {
        for (side, report) in [(a, &round.a[step]), (b, &round.b[step])] {
            let Some(s) = &report.server else { continue };
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            let _ = write!(
                out,
                "<tr><td>{} round {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&side.name),
                i + 1,
                esc(&opt(s.version.as_ref().map(|v| short_version(v)))),
                opt(s.txns.map(|v| thousands(v as f64))),
                opt(s.fsyncs.map(|v| thousands(v as f64))),
                opt(s.txns_per_fsync().map(|v| format!("{v:.1}"))),
                opt(s.fsync_mean_us.map(fmt_us)),
                opt(s.outstanding_requests_max.map(|v| v.to_string())),
                opt(s.rss_bytes_max.map(|v| plot::label(Unit::Bytes, v as f64))),
                opt(s.cpu_cores.map(|v| format!("{v:.2}"))),
            );
        }
    }
    out.push_str("</tbody></table>");
}

fn short_version(v: &str) -> String {
    v.split([',', '-']).next().unwrap_or(v).trim().to_owned()
}

fn params_section(out: &mut String, report: &Report, info: &PageInfo) {
    let p = &report.params;
    let s = &p.step;
    let mut kv: Vec<(&str, String)> = vec![
        ("targets", p.targets.join(", ")),
        ("workload", s.workload.clone()),
        ("sessions", s.sessions.to_string()),
        ("requests in flight per session", s.depth.to_string()),
        (
            "loop",
            s.rate.map_or("closed".into(), |r| {
                format!("open, {} arrivals/s", thousands(r))
            }),
        ),
        ("warm-up", format!("{:.1} s", p.warmup_s())),
        ("measured", format!("{:.1} s", report.all.duration_s)),
        ("values", s.values.to_string()),
        ("znodes per session", s.keys_per_session.to_string()),
        ("keys", s.key_dist.name().to_owned()),
        ("driver threads", p.threads.to_string()),
    ];
    if let Some(r) = p.read_pct() {
        kv.push(("reads", format!("{r:.0}%")));
    }
    out.push_str(r#"<section class="card"><h2>How it was run</h2><div class="grid2"><table class="kv"><tbody>"#);
    for (k, v) in kv {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    out.push_str(r#"</tbody></table><table class="kv"><tbody>"#);
    let h = &info.host;
    for (k, v) in [
        ("host", h.hostname.clone()),
        ("CPU", h.cpu.clone()),
        ("cores", h.cores.to_string()),
        ("memory", plot::label(Unit::Bytes, h.memory_bytes as f64)),
        ("kernel", h.kernel.clone()),
        (
            "load average at start",
            format!("{:.2} {:.2} {:.2}", h.load[0], h.load[1], h.load[2]),
        ),
        ("started", utc(info.started)),
        (
            "load generator",
            format!("corekeeper-loadgen {}", info.version),
        ),
    ] {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    let _ = write!(
        out,
        r#"</tbody></table></div><p class="note">Command:</p><pre>{}</pre></section>"#,
        esc(&info.command)
    );
}

/// A number with thousands separators.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A wall-clock time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn page(title: &str, body: &str, json: &Value) -> String {
    // `</` inside a script block would end it early.
    let data = json.to_string().replace("</", "<\\/");
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>{STYLE}</style></head>
<body><main>
{body}
<footer>Generated by corekeeper-loadgen. Self-contained: no script runs and nothing is fetched. The run's JSON is embedded in <code>#loadgen-json</code>.</footer>
</main>
<script type="application/json" id="loadgen-json">{data}</script>
</body></html>
"#,
        esc(title)
    )
}

const STYLE: &str = r#"
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#647084;--line:#e3e7ee;--a:#4e79a7;--b:#f28e2b;--ok:#2e8b57;--bad:#c62828;--warn:#b26a00}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 20px 40px}
header{margin-bottom:18px}
.brand{color:var(--muted);font-size:12px;letter-spacing:.06em;text-transform:uppercase}
h1{font-size:26px;margin:4px 0 2px;font-weight:650}
h2{font-size:18px;margin:0;font-weight:620;display:inline}
h3{font-size:15px;margin:18px 0 6px}
.anchor{margin:0;color:var(--muted)}
.meta{margin:2px 0 0;color:var(--muted);font-size:12px}
.lede{margin:0 0 14px}
.badge{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.05em;padding:2px 8px;border-radius:999px;vertical-align:middle;color:#fff}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:0 0 16px;box-shadow:0 1px 2px rgba(20,30,50,.04)}
details.card>summary{cursor:pointer;list-style:none;margin-bottom:6px}
details.card>summary::-webkit-details-marker{display:none}
details.card>summary::before{content:"▸";color:var(--muted);margin-right:8px;display:inline-block;transition:transform .15s}
details.card[open]>summary::before{transform:rotate(90deg)}
.headline{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;color:var(--muted);margin:4px 0 12px;word-break:break-word}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 14px}
.tile{flex:1 1 120px;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.tile .v{font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.tile .l{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.tile.big .v{font-size:26px;color:var(--a)}
.tile.bad .v{color:var(--bad)}.tile.good .v{color:var(--ok)}.tile.worse .v{color:var(--bad)}
.tile.srv .v{color:#3d8c87}.tile.gen .v{color:var(--muted)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px;align-items:start}
figure{margin:6px 0 10px}
figcaption{font-weight:600;font-size:13px;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block;background:#fff}
svg .grid{stroke:#eef1f5;stroke-width:1}
svg .frame{fill:none;stroke:#cfd6e0}
svg .tick{font-size:10.5px;fill:var(--muted)}
svg .axis-label{font-size:11.5px;fill:#4a5568}
svg .band{fill:#f2f4f8}
svg .band-label{font-size:10.5px;fill:#98a2b3}
svg circle.hover{opacity:0}
svg circle.hover:hover{opacity:1}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#444;margin:4px 0 0 70px}
.legend i{display:inline-block;width:16px;height:3px;border-radius:2px;margin-right:6px;vertical-align:middle}
.legend i.dashed{background-image:linear-gradient(90deg,transparent 50%,#fff 50%)!important;background-size:6px 3px}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left}
thead th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
table.num td,table.num th{text-align:right;font-variant-numeric:tabular-nums}
table.num td:first-child,table.num th:first-child{text-align:left}
table.num td.runs{color:var(--muted);font-size:12px}
tr.total td{font-weight:650;border-top:2px solid var(--line)}
td.bad{color:var(--bad);font-weight:650}
table.kv th{width:42%;color:var(--muted);font-weight:500}
table.errors td{color:var(--bad)}
th.side-a,.side-a{color:var(--a)}th.side-b,.side-b{color:var(--b)}
.note{color:var(--muted);font-size:12.5px}
pre{background:#0f1524;color:#e6ebf5;padding:10px 12px;border-radius:8px;overflow:auto;font-size:12px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
footer{color:var(--muted);font-size:12px;margin-top:24px;text-align:center}
@media print{body{background:#fff}.card{box-shadow:none;break-inside:avoid}}
"#;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::report::RunParams;
    use crate::server::{FactsPoint, ServerFacts};
    use crate::stats::{Interval, Stats};
    use crate::workload::{plan_named, OpKind, Overrides, WorkloadKind};

    fn report(kind: WorkloadKind, point: Option<f64>, scale_us: u64, errors: bool) -> Report {
        let mut step = plan_named(kind, &Overrides::default())
            .unwrap()
            .steps
            .remove(0);
        if let Some(v) = point {
            step.point = Some(("read_pct", v));
        }
        let mut stats = Stats::new();
        for i in 1..=2000u64 {
            stats.record(OpKind::GetData, 0, i * scale_us * 10, Ok(()));
            stats.record(OpKind::SetData, 0, i * scale_us * 20, Ok(()));
        }
        if errors {
            stats.record_error(crate::session::ErrorKind::Server(-101));
        }
        let intervals: Vec<Interval> = (1..=5)
            .map(|second| {
                let mut i = Interval::new(second);
                for k in 0..100 {
                    i.record(0, (k + 1) * scale_us * 1000 * second, Ok(()));
                }
                i
            })
            .collect();
        let params = RunParams {
            targets: vec!["127.0.0.1:2181".into()],
            step,
            threads: 2,
        };
        let mut r = Report::new(params, &[(stats, 3.0)], &BTreeMap::new(), 0.4, intervals, 2);
        r.started_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        r
    }

    fn info() -> PageInfo {
        PageInfo {
            command:
                "corekeeper-loadgen run --target 127.0.0.1:2181 --workload read --html <x>.html"
                    .into(),
            host: HostFacts {
                hostname: "box".into(),
                cores: 2,
                ..HostFacts::default()
            },
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            version: "0.1.0".into(),
        }
    }

    fn embedded_json(page: &str) -> Value {
        let start = page.find(r#"id="loadgen-json">"#).unwrap() + r#"id="loadgen-json">"#.len();
        let end = start + page[start..].find("</script>").unwrap();
        serde_json::from_str(&page[start..end].replace("<\\/", "</")).unwrap()
    }

    #[test]
    fn a_run_page_has_every_plot_table_and_its_data() {
        let mut r = report(WorkloadKind::Read, None, 1, false);
        r.server = Some(ServerFacts {
            version: Some("3.8.0-5a02a05, built on 2022".into()),
            txns: Some(1000),
            fsyncs: Some(10),
            cpu_cores: Some(0.75),
            series: vec![
                FactsPoint {
                    t_s: 1.0,
                    cpu_cores: Some(0.5),
                    ..FactsPoint::default()
                },
                FactsPoint {
                    t_s: 2.0,
                    cpu_cores: Some(0.9),
                    ..FactsPoint::default()
                },
            ],
            ..ServerFacts::default()
        });
        let page = run_page("read", "ZooKeeper paper 5.1", &[r], &info());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
        for needle in [
            "Throughput per second",
            "Latency per second",
            "Latency by percentile",
            r#"data-series="ok""#,
            r#"data-series="p50""#,
            r#"data-series="p99""#,
            r#"data-series="p99.9""#,
            r#"data-series="getData""#,
            r#"data-series="setData""#,
            r#"data-series="server CPU (cores)""#,
            "99.9%",
            "warm-up",
            "txns/fsync",
            "100.0",
            "CLEAN",
            "&lt;x&gt;.html",
            "2023-11-14 22:13:20 UTC",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "fetches nothing"
        );
        assert!(
            !page.contains("<script>") && !page.contains("src="),
            "runs nothing"
        );
        let data = embedded_json(&page);
        assert_eq!(data["workload"], "read");
        assert_eq!(data["ok"], 4000);
        assert_eq!(data["server"]["txns_per_fsync"], 100.0);
    }

    #[test]
    fn a_plan_page_sets_its_steps_side_by_side() {
        let reports = vec![
            report(WorkloadKind::RwSweep, Some(0.0), 1, false),
            report(WorkloadKind::RwSweep, Some(50.0), 2, true),
            report(WorkloadKind::RwSweep, Some(100.0), 4, false),
        ];
        let page = run_page("rw-sweep", "paper", &reports, &info());
        assert!(page.contains("Steps side by side"));
        assert!(
            page.contains(">read_pct</text>"),
            "x axis names the swept value"
        );
        assert_eq!(page.matches(r#"<details class="card step""#).count(), 3);
        assert!(page.contains("ERRORS"));
        assert!(page.contains(r#"<td class="bad">1</td>"#));
        assert_eq!(embedded_json(&page)["steps"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_compare_page_overlays_both_servers() {
        let rounds: Vec<Round> = (0..3)
            .map(|_| Round {
                a: vec![report(WorkloadKind::Read, None, 10, false)],
                b: vec![report(WorkloadKind::Read, None, 1, false)],
            })
            .collect();
        let a = Side {
            name: "zookeeper".into(),
            target: "127.0.0.1:32181".into(),
        };
        let b = Side {
            name: "corekeeper".into(),
            target: "127.0.0.1:22181".into(),
        };
        let page = compare_page("read", "paper", &a, &b, &rounds, &info());
        for needle in [
            r#"data-series="zookeeper round 1""#,
            r#"data-series="corekeeper round 3""#,
            r#"data-series="zookeeper round 2 p99""#,
            r#"data-series="zookeeper, all rounds""#,
            r#"data-series="corekeeper, all rounds""#,
            "3 interleaved round(s)",
            "0.10×",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
        let data = embedded_json(&page);
        assert_eq!(data["rounds"], 3);
        let p99 = &data["steps"][0]["metrics"]["p99_us"];
        assert!(
            (p99["ratio_b_over_a"].as_f64().unwrap() - 0.1).abs() < 0.01,
            "{p99}"
        );
    }

    #[test]
    fn spectra_reach_the_resolvable_percentiles() {
        let mut h = latency_histogram();
        for i in 1..=10_000u64 {
            h.record(i * 1000).unwrap();
        }
        let s = spectrum(&h);
        assert_eq!(s.first().unwrap().0, 0.0);
        let last = s.last().unwrap();
        assert!((last.0 - 4.0).abs() < 1e-9, "10k values resolve 99.99%");
        assert!(
            (last.1 - 10_000.0).abs() < 10.0,
            "ends at the max: {last:?}"
        );
        let p99 = s.iter().find(|p| (p.0 - 2.0).abs() < 1e-9).unwrap();
        assert!((p99.1 - 9_900.0).abs() < 10.0, "{p99:?}");
        assert!(spectrum(&latency_histogram()).is_empty());
    }

    #[test]
    fn numbers_and_times_print_for_people() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(
            utc(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
    }
}
