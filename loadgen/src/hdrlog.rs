//! HDR histogram interval logs (`--hdr-log`): one histogram per second of the
//! run, every operation together, in the format of HdrHistogram's
//! `HistogramLogWriter` (V2, deflate-compressed, base64), so `HistogramLogProcessor`,
//! HdrHistogram's plotter and `hdr-plot` read them. Values are nanoseconds;
//! the `max` column is printed in milliseconds.

use std::io;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::report::Report;

/// Writes `report`'s seconds as an interval log; `started` is the wall-clock
/// time of the run's start (second 0).
pub fn write(out: &mut impl io::Write, report: &Report, started: SystemTime) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let step = &report.params.step;
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment(&format!(
            "corekeeper-loadgen {} on {}: {} sessions x depth {}; latency in ns, all operations",
            step.label(),
            report.params.targets.join(","),
            step.sessions,
            step.depth
        ))
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1_000_000.0);
    let mut log = builder.begin_log_with(out, &mut serializer)?;
    let tag = Tag::new("all");
    for interval in &report.intervals {
        let start = Duration::from_secs(interval.second.saturating_sub(1));
        log.write_histogram(&interval.latency_ns, start, Duration::from_secs(1), tag)
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;
    use crate::report::RunParams;
    use crate::stats::{Interval, Stats};
    use crate::workload::{plan_named, Overrides, WorkloadKind};

    #[test]
    fn one_histogram_per_second_that_reads_back() {
        let step = plan_named(WorkloadKind::Read, &Overrides::default())
            .unwrap()
            .steps
            .remove(0);
        let intervals: Vec<Interval> = (1..=3)
            .map(|second| {
                let mut i = Interval::new(second);
                for k in 0..100 {
                    i.record(0, 1_000 * (k + 1) * second, Ok(()));
                }
                i
            })
            .collect();
        let params = RunParams {
            targets: vec!["x:1".into()],
            step,
            threads: 1,
        };
        let report = Report::new(
            params,
            &[(Stats::new(), 1.0)],
            &BTreeMap::new(),
            0.0,
            intervals,
            0,
        );
        let mut out = Vec::new();
        write(
            &mut out,
            &report,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("#corekeeper-loadgen read"), "{text}");
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        let histograms: Vec<_> = IntervalLogIterator::new(&out)
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(h) => Some((h.start_timestamp(), h.max())),
                _ => None,
            })
            .collect();
        assert_eq!(histograms.len(), 3);
        assert_eq!(histograms[2].0, Duration::from_secs(2));
        // The third second's largest latency is 300 µs: 0.3 ms in the log.
        assert!((histograms[2].1 - 0.3).abs() < 0.001, "{histograms:?}");
    }
}
