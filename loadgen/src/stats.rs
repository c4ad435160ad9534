//! Results: counts and HDR latency histograms, per thread while running and
//! merged at the end. Pure: completions and times come in, summaries go out.
//!
//! An operation is measured when its intended send time falls in the
//! measurement window (after warm-up, before the end). Its latency runs from
//! that intended time to the arrival of its reply, so in open loop a server that
//! stalls is charged for every arrival it delayed (no coordinated omission).
//! Only successful operations enter the latency histograms; failed ones are
//! counted by error, and any error is printed in the headline.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::session::{Completion, ErrorKind, Purpose};
use crate::workload::OpKind;

/// Highest latency a histogram records exactly (one hour); above it, clamped.
pub const LATENCY_NS_MAX: u64 = 3_600 * 1_000_000_000;

/// Significant figures of every latency histogram (0.1% relative error).
pub const LATENCY_SIGFIG: u8 = 3;

/// The measured interval, in ns on the run clock: `[from_ns, to_ns)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start (end of warm-up).
    pub from_ns: u64,
    /// End (no arrivals at or after it).
    pub to_ns: u64,
}

impl Window {
    /// Whether an operation intended at `intended_ns` is measured.
    pub fn contains(&self, intended_ns: u64) -> bool {
        (self.from_ns..self.to_ns).contains(&intended_ns)
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.to_ns - self.from_ns) as f64 / 1e9
    }
}

/// An empty latency histogram (ns, 1 ns to an hour, 3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGFIG).expect("valid bounds")
}

/// Successes and latencies of one operation kind.
#[derive(Clone, Debug)]
pub struct OpStats {
    /// Successful operations.
    pub ok: u64,
    /// Their latencies, ns.
    pub latency_ns: Histogram<u64>,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            ok: 0,
            latency_ns: latency_histogram(),
        }
    }
}

/// Results of (part of) a run.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Per operation kind, indexed by `OpKind::index`.
    pub per_op: Vec<OpStats>,
    /// Failed operations by error.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Time each successful operation waited in the generator between its
    /// intended and its actual send (open loop: pacer lateness plus waiting for
    /// a pipeline slot; closed loop: 0), ns. Part of the latency above, shown
    /// apart so that a reader can tell the generator's queueing from the server's.
    pub send_lag_ns: Histogram<u64>,
    /// Open loop: how late the pacer handed each arrival of the window to its
    /// session, ns. Large values mean the generator itself could not keep its
    /// schedule (CPU-starved), so the server was not offered the rate on time.
    pub pacer_late_ns: Histogram<u64>,
    /// When the window began (the earliest of the threads'), ns.
    pub from_ns: u64,
    /// When the last measured reply arrived, ns (0: none).
    pub last_done_ns: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty results.
    pub fn new() -> Stats {
        Stats {
            per_op: (0..OpKind::COUNT).map(|_| OpStats::new()).collect(),
            errors: BTreeMap::new(),
            send_lag_ns: latency_histogram(),
            pacer_late_ns: latency_histogram(),
            from_ns: u64::MAX,
            last_done_ns: 0,
        }
    }

    /// Records a measured completion whose reply arrived at `done_ns`.
    pub fn record(
        &mut self,
        op: OpKind,
        intended_ns: u64,
        done_ns: u64,
        outcome: Result<(), ErrorKind>,
    ) {
        self.last_done_ns = self.last_done_ns.max(done_ns);
        match outcome {
            Ok(()) => {
                let stats = &mut self.per_op[op.index()];
                stats.ok += 1;
                stats
                    .latency_ns
                    .saturating_record(done_ns.saturating_sub(intended_ns).max(1));
            }
            Err(kind) => self.record_error(kind),
        }
    }

    /// Records how long a successful operation waited to be sent.
    pub fn record_send_lag(&mut self, intended_ns: u64, sent_ns: u64) {
        self.send_lag_ns
            .saturating_record(sent_ns.saturating_sub(intended_ns).max(1));
    }

    /// Counts one failed operation.
    pub fn record_error(&mut self, kind: ErrorKind) {
        *self.errors.entry(kind).or_insert(0) += 1;
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        for (mine, theirs) in self.per_op.iter_mut().zip(&other.per_op) {
            mine.ok += theirs.ok;
            mine.latency_ns
                .add(&theirs.latency_ns)
                .expect("histograms of equal bounds merge");
        }
        for (kind, count) in &other.errors {
            *self.errors.entry(*kind).or_insert(0) += count;
        }
        self.send_lag_ns
            .add(&other.send_lag_ns)
            .expect("histograms of equal bounds merge");
        self.pacer_late_ns
            .add(&other.pacer_late_ns)
            .expect("histograms of equal bounds merge");
        self.from_ns = self.from_ns.min(other.from_ns);
        self.last_done_ns = self.last_done_ns.max(other.last_done_ns);
    }

    /// Length of a counted phase: from the window's start to the last reply, s.
    pub fn counted_seconds(&self) -> f64 {
        if self.from_ns == u64::MAX || self.last_done_ns <= self.from_ns {
            return 0.0;
        }
        (self.last_done_ns - self.from_ns) as f64 / 1e9
    }

    /// Successes and latencies of `kinds` only (all kinds when `None`).
    pub fn of_kind(&self, kind: Option<OpKind>) -> (u64, Histogram<u64>) {
        match kind {
            None => (self.ok(), self.latency_all_ns()),
            Some(kind) => {
                let s = &self.per_op[kind.index()];
                (s.ok, s.latency_ns.clone())
            }
        }
    }

    /// Successful operations of every kind.
    pub fn ok(&self) -> u64 {
        self.per_op.iter().map(|s| s.ok).sum()
    }

    /// Failed operations.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Latencies of every kind together.
    pub fn latency_all_ns(&self) -> Histogram<u64> {
        let mut all = latency_histogram();
        for stats in &self.per_op {
            all.add(&stats.latency_ns).expect("equal bounds");
        }
        all
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// 99.99th percentile.
    pub p9999_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Percentiles {
    /// The percentiles of a histogram of ns (all zero when empty).
    pub fn of_ns(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            p9999_us: us(h.value_at_quantile(0.9999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// One thread's numbers for one second of the live progress line.
#[derive(Clone, Debug)]
pub struct Interval {
    /// Which second of the run (1 = the first).
    pub second: u64,
    /// Successful operations completed in it.
    pub ok: u64,
    /// Failed operations in it.
    pub errors: u64,
    /// Latencies, ns (for the time series and the HDR log).
    pub latency_ns: Histogram<u64>,
}

impl Interval {
    /// An empty interval for `second`.
    pub fn new(second: u64) -> Interval {
        Interval {
            second,
            ok: 0,
            errors: 0,
            latency_ns: latency_histogram(),
        }
    }

    /// Counts a completion (measured or warm-up) arriving at `done_ns`.
    pub fn record(&mut self, intended_ns: u64, done_ns: u64, outcome: Result<(), ErrorKind>) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                self.latency_ns
                    .saturating_record(done_ns.saturating_sub(intended_ns).max(1));
            }
            Err(_) => self.errors += 1,
        }
    }

    /// Adds another thread's numbers for the same second.
    pub fn merge(&mut self, other: &Interval) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latency_ns
            .add(&other.latency_ns)
            .expect("equal bounds");
    }
}

/// Where a thread's completions go: measured results per phase, the progress
/// interval, and set-up/tear-down failures (which abort or taint the run but
/// are not workload results).
#[derive(Debug)]
pub struct Recorder {
    /// Per phase of the step: its window and results.
    pub phases: Vec<PhaseRecord>,
    /// The current progress interval.
    pub interval: Interval,
    /// Set-up failures.
    pub setup_errors: BTreeMap<ErrorKind, u64>,
    /// Tear-down failures (a missing node is not one: it was never created).
    pub teardown_errors: BTreeMap<ErrorKind, u64>,
}

/// One phase's window and results.
#[derive(Debug)]
pub struct PhaseRecord {
    /// The measured interval (nothing is measured before the phase begins).
    pub window: Window,
    /// Measured results.
    pub stats: Stats,
}

/// A window that measures nothing (before its phase begins).
pub const WINDOW_NONE: Window = Window {
    from_ns: u64::MAX,
    to_ns: u64::MAX,
};

impl Recorder {
    /// A recorder for a step of `phases` phases, none begun.
    pub fn new(phases: usize) -> Recorder {
        Recorder {
            phases: (0..phases)
                .map(|_| PhaseRecord {
                    window: WINDOW_NONE,
                    stats: Stats::new(),
                })
                .collect(),
            interval: Interval::new(1),
            setup_errors: BTreeMap::new(),
            teardown_errors: BTreeMap::new(),
        }
    }

    /// Phase `p` measures what is intended in `window`.
    pub fn begin_phase(&mut self, p: usize, window: Window) {
        let record = &mut self.phases[p];
        record.window = window;
        record.stats.from_ns = window.from_ns;
    }

    /// Files one completion that arrived at `done_ns`.
    pub fn complete(&mut self, c: &Completion, done_ns: u64) {
        match c.purpose {
            Purpose::Measured => {
                self.interval.record(c.intended_ns, done_ns, c.outcome);
                let record = &mut self.phases[c.phase];
                if record.window.contains(c.intended_ns) {
                    record.stats.record(c.op, c.intended_ns, done_ns, c.outcome);
                    if c.outcome.is_ok() {
                        record.stats.record_send_lag(c.intended_ns, c.sent_ns);
                    }
                }
            }
            Purpose::Setup => {
                if let Err(kind) = c.outcome {
                    *self.setup_errors.entry(kind).or_insert(0) += 1;
                }
            }
            Purpose::Teardown => {
                if let Err(kind) = c.outcome {
                    *self.teardown_errors.entry(kind).or_insert(0) += 1;
                }
            }
            Purpose::Close | Purpose::Abandoned => {}
        }
    }

    /// Counts a measured operation of phase `p` that failed without a reply
    /// (dropped arrival, timeout) intended at `intended_ns`.
    pub fn fail_unanswered(&mut self, p: usize, intended_ns: u64, kind: ErrorKind) {
        self.interval.errors += 1;
        let record = &mut self.phases[p];
        if record.window.contains(intended_ns) {
            record.stats.record_error(kind);
        }
    }

    /// Counts an arrival of phase `p` intended at `intended_ns` that the pacer
    /// handed out at `dispatched_ns`.
    pub fn arrival_dispatched(&mut self, p: usize, intended_ns: u64, dispatched_ns: u64) {
        let record = &mut self.phases[p];
        if record.window.contains(intended_ns) {
            record
                .stats
                .pacer_late_ns
                .saturating_record(dispatched_ns.saturating_sub(intended_ns).max(1));
        }
    }

    /// Ends the progress interval and starts the next.
    pub fn take_interval(&mut self) -> Interval {
        let next = Interval::new(self.interval.second + 1);
        std::mem::replace(&mut self.interval, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::Invalid;

    const WINDOW: Window = Window {
        from_ns: 1_000,
        to_ns: 10_000_000,
    };

    fn recorder() -> Recorder {
        let mut rec = Recorder::new(1);
        rec.begin_phase(0, WINDOW);
        rec
    }

    fn measured(op: OpKind, intended_ns: u64, outcome: Result<(), ErrorKind>) -> Completion {
        Completion {
            op,
            phase: 0,
            purpose: Purpose::Measured,
            intended_ns,
            sent_ns: intended_ns,
            outcome,
        }
    }

    #[test]
    fn only_the_window_is_measured() {
        let mut rec = recorder();
        rec.complete(&measured(OpKind::GetData, 999, Ok(())), 5_000);
        rec.complete(&measured(OpKind::GetData, 1_000, Ok(())), 5_000);
        rec.complete(&measured(OpKind::GetData, 10_000_000, Ok(())), 20_000_000);
        assert_eq!(rec.phases[0].stats.ok(), 1);
        assert_eq!(rec.interval.ok, 3, "progress shows warm-up too");
    }

    #[test]
    fn latency_counts_from_the_intended_time() {
        let mut stats = Stats::new();
        stats.record(OpKind::SetData, 1_000_000, 3_000_000, Ok(()));
        let p = Percentiles::of_ns(&stats.per_op[OpKind::SetData.index()].latency_ns);
        assert!((p.max_us - 2000.0).abs() < 2.0, "{p:?}");
    }

    #[test]
    fn errors_count_by_kind_and_stay_out_of_latency() {
        let mut rec = recorder();
        let no_node = ErrorKind::Server(-101);
        rec.complete(&measured(OpKind::GetData, 2_000, Err(no_node)), 3_000);
        rec.complete(&measured(OpKind::GetData, 2_000, Err(no_node)), 3_000);
        rec.complete(
            &measured(
                OpKind::SetData,
                2_000,
                Err(ErrorKind::Invalid(Invalid::Version)),
            ),
            3_000,
        );
        rec.fail_unanswered(0, 2_000, ErrorKind::Timeout);
        assert_eq!(rec.phases[0].stats.ok(), 0);
        assert!(rec.phases[0].stats.latency_all_ns().is_empty());
        assert_eq!(rec.phases[0].stats.errors[&no_node], 2);
        assert_eq!(rec.phases[0].stats.errors_total(), 4);
        assert_eq!(rec.interval.errors, 4);
    }

    #[test]
    fn teardown_errors_are_kept_apart() {
        let mut rec = recorder();
        let teardown = |outcome| Completion {
            op: OpKind::Delete,
            purpose: Purpose::Teardown,
            phase: 0,
            intended_ns: 0,
            sent_ns: 0,
            outcome,
        };
        rec.complete(&teardown(Ok(())), 0);
        rec.complete(&teardown(Err(ErrorKind::Server(-111))), 0);
        assert_eq!(rec.teardown_errors.len(), 1);
        assert_eq!(rec.phases[0].stats.errors_total(), 0);
    }

    #[test]
    fn phases_measure_apart_and_counted_phases_run_to_the_last_reply() {
        let mut rec = Recorder::new(2);
        rec.begin_phase(
            0,
            Window {
                from_ns: 0,
                to_ns: u64::MAX,
            },
        );
        rec.complete(&measured(OpKind::Create, 10, Ok(())), 2_000_000_000);
        let second = Completion {
            phase: 1,
            ..measured(OpKind::GetData, 10, Ok(()))
        };
        rec.complete(&second, 3_000_000_000);
        assert_eq!(rec.phases[0].stats.ok(), 1);
        assert_eq!(rec.phases[1].stats.ok(), 0, "phase 1 has not begun");
        assert_eq!(rec.phases[0].stats.counted_seconds(), 2.0);
        let (ok, h) = rec.phases[0].stats.of_kind(Some(OpKind::GetData));
        assert_eq!((ok, h.len()), (0, 0));
    }

    #[test]
    fn merging_adds_counts_and_histograms() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        for i in 1..=100u64 {
            a.record(OpKind::GetData, 0, i * 1_000, Ok(()));
            b.record(OpKind::GetData, 0, (100 + i) * 1_000, Ok(()));
        }
        b.record(OpKind::SetData, 0, 50_000, Ok(()));
        b.record_error(ErrorKind::Server(-103));
        a.record_error(ErrorKind::Server(-103));
        a.merge(&b);
        assert_eq!(a.ok(), 201);
        assert_eq!(a.per_op[OpKind::GetData.index()].ok, 200);
        assert_eq!(a.errors[&ErrorKind::Server(-103)], 2);
        let p = Percentiles::of_ns(&a.per_op[OpKind::GetData.index()].latency_ns);
        assert!((p.p50_us - 100.0).abs() <= 0.5, "{p:?}");
        assert!((p.max_us - 200.0).abs() <= 0.5, "{p:?}");
        assert_eq!(a.latency_all_ns().len(), 201);
    }

    #[test]
    fn intervals_merge_and_roll() {
        let mut rec = recorder();
        rec.complete(&measured(OpKind::GetData, 0, Ok(())), 50_000);
        let first = rec.take_interval();
        assert_eq!((first.second, first.ok), (1, 1));
        assert_eq!(rec.interval.second, 2);
        let mut other = Interval::new(1);
        other.record(0, 150_000, Ok(()));
        let mut merged = first.clone();
        merged.merge(&other);
        assert_eq!(merged.ok, 2);
        assert!(merged
            .latency_ns
            .equivalent(merged.latency_ns.max(), 150_000));
    }
}
