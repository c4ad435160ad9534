//! The open-loop schedule: arrival `k` of a thread is due at
//! `start + k / rate`, and goes to the thread's sessions round robin. Pure: the
//! driver asks what is due at a time it hands in.
//!
//! Arrivals are computed from `k`, not accumulated, so the schedule does not
//! drift, and a pacer that looks late hands out every arrival it missed, each
//! with its own intended time (latency is measured from that time).

/// One thread's arrival schedule.
#[derive(Clone, Debug)]
pub struct Pacer {
    start_ns: u64,
    end_ns: u64,
    period_ns: f64,
    next: u64,
    sessions: usize,
    next_session: usize,
}

impl Pacer {
    /// Arrivals at `rate` per second from `start_ns` until (not including)
    /// `end_ns`, spread over `sessions` sessions.
    pub fn new(start_ns: u64, end_ns: u64, rate: f64, sessions: usize) -> Pacer {
        assert!(rate > 0.0 && rate.is_finite() && sessions > 0);
        Pacer {
            start_ns,
            end_ns,
            period_ns: 1e9 / rate,
            next: 0,
            sessions,
            next_session: 0,
        }
    }

    fn arrival_ns(&self, k: u64) -> u64 {
        self.start_ns + (k as f64 * self.period_ns) as u64
    }

    /// When the next arrival is due; `None` once the schedule is over.
    pub fn next_due(&self) -> Option<u64> {
        let due = self.arrival_ns(self.next);
        (due < self.end_ns).then_some(due)
    }

    /// The next arrival due at or before `now_ns`, as (intended time, session
    /// index), or `None` if nothing is due.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<(u64, usize)> {
        let due = self.next_due()?;
        if due > now_ns {
            return None;
        }
        self.next += 1;
        let session = self.next_session;
        self.next_session = (session + 1) % self.sessions;
        Some((due, session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_exact_and_round_robin() {
        // 1,000/s for one second from t = 5 s, over 3 sessions.
        let mut pacer = Pacer::new(5_000_000_000, 6_000_000_000, 1000.0, 3);
        assert_eq!(pacer.next_due(), Some(5_000_000_000));
        assert_eq!(pacer.pop_due(4_999_999_999), None, "nothing early");
        let first = pacer.pop_due(5_000_000_000).unwrap();
        assert_eq!(first, (5_000_000_000, 0));
        // Waking late hands out everything missed, each with its own time.
        let mut late = Vec::new();
        while let Some(a) = pacer.pop_due(5_003_500_000) {
            late.push(a);
        }
        assert_eq!(
            late,
            [(5_001_000_000, 1), (5_002_000_000, 2), (5_003_000_000, 0)]
        );
        let mut rest = 0;
        while pacer.pop_due(u64::MAX).is_some() {
            rest += 1;
        }
        assert_eq!(
            1 + late.len() + rest,
            1000,
            "exactly rate x duration arrivals"
        );
        assert_eq!(pacer.next_due(), None);
    }

    #[test]
    fn fractional_periods_do_not_drift() {
        // 3 per second: periods of 333,333,333.3 ns.
        let mut pacer = Pacer::new(0, 10_000_000_000, 3.0, 1);
        let mut times = Vec::new();
        while let Some((t, _)) = pacer.pop_due(u64::MAX) {
            times.push(t);
        }
        assert_eq!(times.len(), 30);
        assert_eq!(times[3], 1_000_000_000);
        assert_eq!(times[29], 9_666_666_666);
    }
}
