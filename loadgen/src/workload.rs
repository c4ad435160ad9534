//! Workloads: which operation a session sends next, and what the run must set up
//! and tear down. Pure: the choice is a function of the workload and the
//! session's PRNG.
//!
//! Each workload maps to a published anchor so results compare across tools:
//! `read`, `write` and `mixed` are the ZooKeeper paper's saturation test
//! (getData/setData on a per-session znode; `mixed` with `--read-pct` is one
//! point of its read-share sweep), `create` is keeper-bench's create test.

use std::fmt;

use crate::rng::Rng;

/// A named workload (`--workload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum WorkloadKind {
    /// getData of the session's own znode (pre-created with `--value-size` bytes).
    Read,
    /// setData of `--value-size` bytes on the session's own znode.
    Write,
    /// getData or setData on the session's own znode; `--read-pct` reads.
    Mixed,
    /// Creates of `--value-size` bytes (default 100) under the run's root, with
    /// names unique per session (no sequential flag); all deleted at tear-down.
    Create,
}

impl WorkloadKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Read => "read",
            WorkloadKind::Write => "write",
            WorkloadKind::Mixed => "mixed",
            WorkloadKind::Create => "create",
        }
    }

    /// Value size when `--value-size` is not given: 1 KiB for the paper's
    /// getData/setData tests, 100 B for creates (keeper-bench).
    pub fn value_size_default(self) -> usize {
        match self {
            WorkloadKind::Create => 100,
            _ => 1024,
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operations a workload sends in its measured phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// getData (opcode 4).
    GetData,
    /// setData (opcode 5).
    SetData,
    /// create (opcode 1).
    Create,
    /// delete (opcode 2).
    Delete,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 4] = [
        OpKind::GetData,
        OpKind::SetData,
        OpKind::Create,
        OpKind::Delete,
    ];

    /// Number of kinds (the length of per-kind arrays).
    pub const COUNT: usize = Self::ALL.len();

    /// Index into per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// ZooKeeper's name for the operation.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::GetData => "getData",
            OpKind::SetData => "setData",
            OpKind::Create => "create",
            OpKind::Delete => "delete",
        }
    }
}

/// A workload with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Which workload.
    pub kind: WorkloadKind,
    /// Share of reads in percent (only `mixed` uses it; 0..=100).
    pub read_pct: u8,
    /// Bytes of data per znode written or pre-created.
    pub value_size: usize,
}

impl Workload {
    /// A workload with its default value size and half reads.
    pub fn new(kind: WorkloadKind) -> Workload {
        Workload {
            kind,
            read_pct: 50,
            value_size: kind.value_size_default(),
        }
    }

    /// The next operation of a session.
    pub fn next_op(&self, rng: &mut Rng) -> OpKind {
        match self.kind {
            WorkloadKind::Read => OpKind::GetData,
            WorkloadKind::Write => OpKind::SetData,
            WorkloadKind::Create => OpKind::Create,
            WorkloadKind::Mixed => {
                if rng.below(100) < u32::from(self.read_pct) {
                    OpKind::GetData
                } else {
                    OpKind::SetData
                }
            }
        }
    }

    /// Whether each session works on a znode of its own, created at set-up.
    pub fn uses_session_node(&self) -> bool {
        !matches!(self.kind, WorkloadKind::Create)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(workload: Workload, n: usize) -> [usize; OpKind::COUNT] {
        let mut rng = Rng::new(42, 0);
        let mut counts = [0; OpKind::COUNT];
        for _ in 0..n {
            counts[workload.next_op(&mut rng).index()] += 1;
        }
        counts
    }

    #[test]
    fn single_op_workloads_send_only_their_op() {
        let cases = [
            (WorkloadKind::Read, OpKind::GetData),
            (WorkloadKind::Write, OpKind::SetData),
            (WorkloadKind::Create, OpKind::Create),
        ];
        for (kind, op) in cases {
            let counts = draw(Workload::new(kind), 1000);
            assert_eq!(counts[op.index()], 1000, "{kind}");
        }
    }

    #[test]
    fn mixed_follows_read_pct() {
        for read_pct in [0u8, 10, 50, 90, 100] {
            let workload = Workload {
                read_pct,
                ..Workload::new(WorkloadKind::Mixed)
            };
            let counts = draw(workload, 100_000);
            let reads = counts[OpKind::GetData.index()];
            assert_eq!(reads + counts[OpKind::SetData.index()], 100_000);
            let expected = usize::from(read_pct) * 1000;
            assert!(
                reads.abs_diff(expected) <= 1000,
                "{read_pct}%: {reads} reads"
            );
        }
    }

    #[test]
    fn value_size_defaults() {
        assert_eq!(Workload::new(WorkloadKind::Read).value_size, 1024);
        assert_eq!(Workload::new(WorkloadKind::Create).value_size, 100);
        assert!(!Workload::new(WorkloadKind::Create).uses_session_node());
        assert!(Workload::new(WorkloadKind::Mixed).uses_session_node());
    }
}
