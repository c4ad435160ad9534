//! The simulated network: per pair of members one quorum link with TCP's
//! promises (FIFO while it lives; a loss breaks it and both ends hear so), and
//! election notifications that may be delayed, lost and duplicated, and are
//! reordered across senders but not within one (ZooKeeper sends them over TCP).
//! Partitions block directions; a link needs both.

use std::collections::{BTreeMap, BTreeSet};

use crate::zab::LinkId;

/// Network fault rates (per million) and delays (ms).
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    /// Smallest one-way delay.
    pub delay_min_ms: u64,
    /// Largest one-way delay.
    pub delay_max_ms: u64,
    /// A quorum frame breaks its link instead of arriving.
    pub link_break_ppm: u32,
    /// An election datagram is lost.
    pub loss_ppm: u32,
    /// An election datagram arrives twice.
    pub dup_ppm: u32,
    /// Wait before a broken link is dialed again.
    pub reconnect_ms: u64,
}

/// One pair's link.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    /// The live link's number, if up.
    pub up: Option<LinkId>,
    /// Deliveries on the link stay in order: the last scheduled time per direction.
    pub fifo_floor: [u64; 2],
    /// Election datagrams keep their order per direction too (ZooKeeper sends
    /// them over TCP): the last scheduled time per direction.
    pub election_floor: [u64; 2],
    /// A reconnect attempt is scheduled.
    pub dialing: bool,
}

/// Links and partitions.
#[derive(Debug, Default)]
pub struct Net {
    links: BTreeMap<(usize, usize), Link>,
    blocked: BTreeSet<(usize, usize)>,
    next_link: LinkId,
}

fn key(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    /// The link between `a` and `b`.
    pub fn link(&mut self, a: usize, b: usize) -> &mut Link {
        self.links.entry(key(a, b)).or_default()
    }

    /// A fresh link number.
    pub fn new_link_id(&mut self) -> LinkId {
        self.next_link += 1;
        self.next_link
    }

    /// Whether `from` can reach `to`.
    pub fn can_send(&self, from: usize, to: usize) -> bool {
        !self.blocked.contains(&(from, to))
    }

    /// Whether a link between `a` and `b` can live.
    pub fn can_link(&self, a: usize, b: usize) -> bool {
        self.can_send(a, b) && self.can_send(b, a)
    }

    /// Blocks `from` -> `to`.
    pub fn block(&mut self, from: usize, to: usize) {
        self.blocked.insert((from, to));
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Whether any partition is in place.
    pub fn partitioned(&self) -> bool {
        !self.blocked.is_empty()
    }

    /// The direction index of `from` -> `to` on their link.
    pub fn direction(from: usize, to: usize) -> usize {
        usize::from(from > to)
    }
}
