//! The session table: ids, passwords, negotiated timeouts and tick-bucketed expiry.
//!
//! Lives on the sequencer core (the leader in an ensemble), which owns expiry.
//! Pure: the caller hands in the monotonic time in milliseconds; nothing here
//! reads a clock. Expiry follows ZooKeeper's `ExpiryQueue`: a session touched at
//! `now` expires at `now + timeout` rounded up to the next tick boundary, so all
//! sessions of one tick expire together and a tick checks one bucket.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::constants::SESSION_PASSWORD_LEN;
use crate::types::{ServerId, SessionId};

/// The secret ZooKeeper mixes into the password seed (`ZooKeeperServer.superSecret`).
const PASSWORD_SECRET: i64 = 0xB341_5C00;

/// The 16-byte password of a session: `java.util.Random(id ^ secret).nextBytes`,
/// exactly as ZooKeeper derives it, so a password can always be recomputed from
/// the id and never needs storing.
pub fn session_password(id: SessionId) -> [u8; SESSION_PASSWORD_LEN] {
    let mut random = JavaRandom::new(id.0 ^ PASSWORD_SECRET);
    let mut password = [0u8; SESSION_PASSWORD_LEN];
    random.next_bytes(&mut password);
    password
}

/// `java.util.Random`: the 48-bit linear congruential generator (Java SE spec).
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            seed: (seed ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next_i32(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as i32
    }

    fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let mut value = self.next_i32();
            for byte in chunk {
                *byte = value as u8;
                value >>= 8;
            }
        }
    }
}

/// The first session id of a server: ZooKeeper's `SessionTrackerImpl.initializeNextSessionId`
/// (byte 7 is the server id; the next 40 bits are the low bits of the start time).
pub fn initial_session_id(server_id: ServerId, now_ms: i64) -> i64 {
    let mut next = ((now_ms << 24) as u64 >> 8) as i64;
    next |= (server_id as i64) << 56;
    if next == i64::MIN {
        next += 1; // i64::MIN marks containers in ephemeralOwner.
    }
    next
}

/// One live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session id.
    pub id: SessionId,
    /// The negotiated timeout.
    pub timeout_ms: u32,
    /// When it expires unless touched again (a tick boundary).
    pub expires_at_ms: i64,
}

/// Why a reattach was refused: the handshake then answers with timeout 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReattachError {
    /// No such session (never existed, expired or closed).
    Unknown,
    /// The password does not match the session id.
    BadPassword,
}

/// All live sessions and their expiry buckets.
#[derive(Debug)]
pub struct SessionTable {
    tick_ms: i64,
    next_id: i64,
    sessions: HashMap<SessionId, Session>,
    /// Expiry time (a multiple of `tick_ms`) to the sessions expiring then.
    buckets: BTreeMap<i64, HashSet<SessionId>>,
}

impl SessionTable {
    /// An empty table; ids start from `initial_session_id(server_id, now_ms)`.
    pub fn new(tick_ms: u32, server_id: ServerId, now_ms: i64) -> SessionTable {
        assert!(tick_ms > 0);
        SessionTable {
            tick_ms: i64::from(tick_ms),
            next_id: initial_session_id(server_id, now_ms),
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// Reserves a fresh session id (the create-session txn then calls `add`).
    pub fn allocate_id(&mut self) -> SessionId {
        let id = self.next_id;
        self.next_id += 1;
        SessionId(id)
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// A live session.
    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// All live sessions.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Registers a session (applying a create-session txn) and starts its clock.
    pub fn add(&mut self, id: SessionId, timeout_ms: u32, now_ms: i64) {
        let expires_at_ms = self.expiry_for(now_ms, timeout_ms);
        let previous = self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                expires_at_ms,
            },
        );
        if let Some(previous) = previous {
            self.unbucket(previous.id, previous.expires_at_ms);
        }
        self.buckets.entry(expires_at_ms).or_default().insert(id);
    }

    /// Registers sessions recovered from a snapshot and the log. Each gets a full
    /// timeout from `now_ms`, as ZooKeeper's session tracker does on load, and new
    /// ids are allocated past any recovered id of this server.
    pub fn restore(&mut self, sessions: impl IntoIterator<Item = (SessionId, u32)>, now_ms: i64) {
        for (id, timeout_ms) in sessions {
            self.add(id, timeout_ms, now_ms);
            let same_server = (id.0 >> 56) == (self.next_id >> 56);
            if same_server && id.0 >= self.next_id {
                self.next_id = id.0 + 1;
            }
        }
    }

    /// Every live session's negotiated timeout, by id: what a snapshot stores.
    pub fn timeouts(&self) -> BTreeMap<SessionId, u32> {
        self.sessions
            .values()
            .map(|session| (session.id, session.timeout_ms))
            .collect()
    }

    /// Forgets a session (applying a close-session txn). Returns whether it was live.
    pub fn remove(&mut self, id: SessionId) -> bool {
        match self.sessions.remove(&id) {
            Some(session) => {
                self.unbucket(id, session.expires_at_ms);
                true
            }
            None => false,
        }
    }

    /// Pushes a session's expiry out (any packet from its client). Returns whether it was live.
    pub fn touch(&mut self, id: SessionId, now_ms: i64) -> bool {
        let Some(session) = self.sessions.get_mut(&id) else {
            return false;
        };
        let expires_at_ms = Self::round_up(now_ms + i64::from(session.timeout_ms), self.tick_ms);
        if expires_at_ms <= session.expires_at_ms {
            return true;
        }
        let old = std::mem::replace(&mut session.expires_at_ms, expires_at_ms);
        self.unbucket(id, old);
        self.buckets.entry(expires_at_ms).or_default().insert(id);
        true
    }

    /// Checks a reattach request: the session must be live and the password its own.
    pub fn check_reattach(
        &self,
        id: SessionId,
        password: &[u8],
    ) -> Result<&Session, ReattachError> {
        if password != session_password(id) {
            return Err(ReattachError::BadPassword);
        }
        self.sessions.get(&id).ok_or(ReattachError::Unknown)
    }

    /// Sessions whose expiry time has passed, oldest bucket first. They stay in the
    /// table until their close-session txn is applied (`remove`), but leave their
    /// buckets so a second call does not report them again.
    pub fn take_expired(&mut self, now_ms: i64) -> Vec<SessionId> {
        let mut expired = Vec::new();
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() > now_ms {
                break;
            }
            expired.extend(entry.remove());
        }
        expired.sort_unstable();
        expired
    }

    /// Sessions grouped by expiry time (for the `dump` four-letter word).
    pub fn by_expiry(&self) -> Vec<(i64, Vec<SessionId>)> {
        self.buckets
            .iter()
            .map(|(at, ids)| {
                let mut ids: Vec<SessionId> = ids.iter().copied().collect();
                ids.sort_unstable();
                (*at, ids)
            })
            .collect()
    }

    fn expiry_for(&self, now_ms: i64, timeout_ms: u32) -> i64 {
        Self::round_up(now_ms + i64::from(timeout_ms), self.tick_ms)
    }

    /// `ExpiryQueue.roundToNextInterval`.
    fn round_up(time_ms: i64, tick_ms: i64) -> i64 {
        (time_ms / tick_ms + 1) * tick_ms
    }

    fn unbucket(&mut self, id: SessionId, expires_at_ms: i64) {
        if let Some(bucket) = self.buckets.get_mut(&expires_at_ms) {
            bucket.remove(&id);
            if bucket.is_empty() {
                self.buckets.remove(&expires_at_ms);
            }
        }
    }
}

/// Clamps a requested timeout into `[min, max]` as ZooKeeper's `processConnectRequest` does.
pub fn negotiate_timeout(requested_ms: i32, min_ms: u32, max_ms: u32) -> u32 {
    let requested = i64::from(requested_ms);
    requested.clamp(i64::from(min_ms), i64::from(max_ms)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_the_java_spec() {
        // new java.util.Random(42).nextInt() == -1170105035 (the JDK's documented LCG).
        let mut random = JavaRandom::new(42);
        assert_eq!(random.next_i32(), -1_170_105_035);
        assert_eq!(random.next_i32(), 234_785_527);
    }

    #[test]
    fn password_depends_only_on_the_id() {
        let a = session_password(SessionId(0x1000_0000_0000_0001));
        let b = session_password(SessionId(0x1000_0000_0000_0001));
        let c = session_password(SessionId(0x1000_0000_0000_0002));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn initial_id_carries_the_server_id_in_the_top_byte() {
        let id = initial_session_id(3, 1_700_000_000_123);
        assert_eq!(id >> 56, 3);
        assert_eq!(initial_session_id(0, 0), 0);
    }

    #[test]
    fn expiry_rounds_up_to_the_next_tick() {
        let mut table = SessionTable::new(2000, 1, 0);
        let id = table.allocate_id();
        table.add(id, 4000, 100);
        assert_eq!(table.get(id).unwrap().expires_at_ms, 6000);
        assert!(table.take_expired(5999).is_empty());
        assert_eq!(table.take_expired(6000), vec![id]);
        assert!(table.take_expired(100_000).is_empty(), "reported once");
        assert!(table.remove(id));
        assert!(!table.remove(id));
    }

    #[test]
    fn touch_postpones_expiry() {
        let mut table = SessionTable::new(1000, 1, 0);
        let id = table.allocate_id();
        table.add(id, 3000, 0);
        assert!(table.touch(id, 2500));
        assert!(table.take_expired(4000).is_empty());
        assert_eq!(table.take_expired(6000), vec![id]);
        assert!(!table.touch(SessionId(7), 0));
    }

    #[test]
    fn reattach_checks_password_then_liveness() {
        let mut table = SessionTable::new(1000, 1, 0);
        let id = table.allocate_id();
        table.add(id, 3000, 0);
        let good = session_password(id);
        assert!(table.check_reattach(id, &good).is_ok());
        assert_eq!(
            table.check_reattach(id, &[0; 16]).unwrap_err(),
            ReattachError::BadPassword
        );
        table.remove(id);
        assert_eq!(
            table.check_reattach(id, &good).unwrap_err(),
            ReattachError::Unknown
        );
    }

    #[test]
    fn restored_sessions_get_a_full_timeout_and_keep_their_ids_reserved() {
        let mut table = SessionTable::new(1000, 1, 0);
        let first = table.allocate_id();
        let recovered = [
            (SessionId(first.0 + 5), 4000),
            (SessionId(0x0200_0000_0000_0001), 6000),
        ];
        table.restore(recovered, 10_000);
        assert_eq!(table.len(), 2);
        assert_eq!(
            table.get(SessionId(first.0 + 5)).unwrap().expires_at_ms,
            15_000
        );
        assert_eq!(
            table.allocate_id(),
            SessionId(first.0 + 6),
            "past this server's recovered ids"
        );
        assert_eq!(table.timeouts(), recovered.into_iter().collect());
        assert!(table
            .check_reattach(
                SessionId(first.0 + 5),
                &session_password(SessionId(first.0 + 5))
            )
            .is_ok());
    }

    #[test]
    fn timeouts_are_clamped() {
        assert_eq!(negotiate_timeout(1, 4000, 40000), 4000);
        assert_eq!(negotiate_timeout(-5, 4000, 40000), 4000);
        assert_eq!(negotiate_timeout(10_000, 4000, 40000), 10_000);
        assert_eq!(negotiate_timeout(i32::MAX, 4000, 40000), 40000);
    }
}
