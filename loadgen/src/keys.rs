//! One session's model of its own znodes: which exist, at what version, with
//! how many bytes, and which carry a watch. Pure.
//!
//! Every session writes only znodes under its own directory
//! (`<root>/s<session>/k<key>`), and ZooKeeper applies a session's requests in
//! the order it sent them, so the model is kept *as of after every request
//! sent*: the result each request must return is known when it is sent (the
//! expectation travels with the request), whatever is still in flight ahead of
//! it. A request that fails makes the model of its keys unknowable; those keys
//! are retired (never chosen again, deleted at tear-down whatever their state).

use crate::rng::{Rng, Zipf};

/// How a workload picks keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDist {
    /// Every fitting key equally likely.
    Uniform,
    /// Zipfian over the session's first `n` keys (rank 0 hottest); from a hot
    /// key that does not fit the operation, the next fitting key in order.
    Zipfian(Zipf),
    /// In key order, from where the previous operation of the phase left off
    /// (zk-latencies' passes over `0..count`).
    Sequential,
}

impl KeyDist {
    /// The name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            KeyDist::Uniform => "uniform",
            KeyDist::Zipfian(_) => "zipfian",
            KeyDist::Sequential => "sequential",
        }
    }
}

/// What an operation needs of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The key must exist (get, set, delete, exists).
    Present,
    /// The key must not exist (create).
    Absent,
}

/// How many keys a zipfian draw probes past a hot key that does not fit before
/// it falls back to a uniform pick among those that do.
const ZIPF_PROBE_MAX: u32 = 64;

/// The model of one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Key {
    /// Exists (as of after every request sent).
    pub present: bool,
    /// Was created ephemeral.
    pub ephemeral: bool,
    /// `Stat.version`.
    pub version: i32,
    /// Bytes of data.
    pub data_len: u32,
    /// A one-time watch is set on it (by exists or getData with watch).
    pub watched: bool,
    /// A request on it failed: its state is unknown; never chosen again.
    pub retired: bool,
}

/// A set of key indices with O(1) insert, remove and uniform pick.
#[derive(Clone, Debug, Default)]
struct IndexSet {
    items: Vec<u32>,
    /// Position of each key in `items`, `NOT_IN` if absent.
    pos: Vec<u32>,
}

const NOT_IN: u32 = u32::MAX;

impl IndexSet {
    fn contains(&self, key: u32) -> bool {
        self.pos.get(key as usize).is_some_and(|&p| p != NOT_IN)
    }

    fn insert(&mut self, key: u32) {
        if self.pos.len() <= key as usize {
            self.pos.resize(key as usize + 1, NOT_IN);
        }
        if self.pos[key as usize] == NOT_IN {
            self.pos[key as usize] = self.items.len() as u32;
            self.items.push(key);
        }
    }

    fn remove(&mut self, key: u32) {
        let Some(&p) = self.pos.get(key as usize) else {
            return;
        };
        if p == NOT_IN {
            return;
        }
        let last = *self.items.last().expect("non-empty when it holds a key");
        self.items.swap_remove(p as usize);
        if last != key {
            self.pos[last as usize] = p;
        }
        self.pos[key as usize] = NOT_IN;
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn pick(&self, rng: &mut Rng) -> Option<u32> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.items[rng.below(self.items.len() as u32) as usize])
    }
}

/// One session's keys.
#[derive(Clone, Debug, Default)]
pub struct KeySpace {
    keys: Vec<Key>,
    present: IndexSet,
    absent: IndexSet,
    /// Sequential picks continue from here.
    cursor: u32,
    /// XOR of `fingerprint(key)` over present keys: with `present.len()`, what
    /// a getChildren of the session's directory must list.
    children_fingerprint: u64,
}

/// A key's contribution to [`KeySpace::children_fingerprint`].
pub fn fingerprint(key: u32) -> u64 {
    // SplitMix64's finaliser: distinct keys give unrelated bits.
    let mut z = u64::from(key).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl KeySpace {
    /// An empty key space.
    pub fn new() -> KeySpace {
        KeySpace::default()
    }

    /// The model of `key` (absent and unknown keys read as default).
    pub fn get(&self, key: u32) -> Key {
        self.keys.get(key as usize).copied().unwrap_or_default()
    }

    /// Keys ever known (present, absent or retired): `0..len`.
    pub fn len(&self) -> u32 {
        self.keys.len() as u32
    }

    /// Whether no key was ever known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys that exist now.
    pub fn present_count(&self) -> usize {
        self.present.len()
    }

    /// What a listing of the session's directory must return: the number of
    /// children and the XOR of their fingerprints.
    pub fn children(&self) -> (usize, u64) {
        (self.present.len(), self.children_fingerprint)
    }

    /// Starts sequential picks over from key 0 (a new phase).
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }

    /// Chooses a key for an operation that needs `need`. Creates may grow the
    /// key space by one new key when `grow` allows and no known key is absent.
    /// `None`: no key fits.
    pub fn choose(&mut self, need: Need, dist: &KeyDist, grow: bool, rng: &mut Rng) -> Option<u32> {
        let fits = |space: &KeySpace, key: u32| match need {
            Need::Present => space.present.contains(key),
            Need::Absent => space.absent.contains(key),
        };
        let set_len = match need {
            Need::Present => self.present.len(),
            Need::Absent => self.absent.len(),
        };
        if set_len == 0 {
            return (need == Need::Absent && grow).then(|| self.grow());
        }
        match dist {
            KeyDist::Uniform => match need {
                Need::Present => self.present.pick(rng),
                Need::Absent => self.absent.pick(rng),
            },
            KeyDist::Zipfian(zipf) => {
                let start = zipf.sample(rng);
                let len = self.len();
                for step in 0..ZIPF_PROBE_MAX.min(len) {
                    let key = (start + step) % len;
                    if fits(self, key) {
                        return Some(key);
                    }
                }
                match need {
                    Need::Present => self.present.pick(rng),
                    Need::Absent => self.absent.pick(rng),
                }
            }
            KeyDist::Sequential => {
                let len = self.len();
                for step in 0..len {
                    let key = (self.cursor + step) % len;
                    if fits(self, key) {
                        self.cursor = key + 1;
                        return Some(key);
                    }
                }
                unreachable!("the set is not empty, so some key fits")
            }
        }
    }

    /// A new key, absent.
    fn grow(&mut self) -> u32 {
        let key = self.keys.len() as u32;
        assert!(key < NOT_IN, "key space full");
        self.keys.push(Key::default());
        self.absent.insert(key);
        key
    }

    /// Adds `count` absent keys (the ones set-up will create).
    pub fn reserve(&mut self, count: u32) {
        for _ in 0..count {
            self.grow();
        }
    }

    /// Records a create sent for `key` with `data_len` bytes.
    pub fn created(&mut self, key: u32, data_len: u32, ephemeral: bool) {
        let k = &mut self.keys[key as usize];
        assert!(!k.present && !k.retired, "create of a key that exists");
        *k = Key {
            present: true,
            ephemeral,
            version: 0,
            data_len,
            watched: false,
            retired: false,
        };
        self.absent.remove(key);
        self.present.insert(key);
        self.children_fingerprint ^= fingerprint(key);
    }

    /// Records a setData sent for `key`: returns the version it will create.
    pub fn set(&mut self, key: u32, data_len: u32) -> i32 {
        let k = &mut self.keys[key as usize];
        assert!(k.present, "setData of a key that does not exist");
        k.version += 1;
        k.data_len = data_len;
        k.version
    }

    /// Records a delete sent for `key`.
    pub fn deleted(&mut self, key: u32) {
        let k = &mut self.keys[key as usize];
        assert!(k.present, "delete of a key that does not exist");
        *k = Key::default();
        self.present.remove(key);
        self.absent.insert(key);
        self.children_fingerprint ^= fingerprint(key);
    }

    /// Records a watch set on `key`; returns whether one was already set (a
    /// second one-time watch of the same kind is the same watch in ZooKeeper).
    pub fn watch(&mut self, key: u32) -> bool {
        std::mem::replace(&mut self.keys[key as usize].watched, true)
    }

    /// Clears `key`'s watch; returns whether it had one (a write then fires it).
    pub fn take_watch(&mut self, key: u32) -> bool {
        std::mem::take(&mut self.keys[key as usize].watched)
    }

    /// A request on `key` failed: its state is unknown from now on.
    pub fn retire(&mut self, key: u32) {
        let Some(k) = self.keys.get_mut(key as usize) else {
            return;
        };
        if k.retired {
            return;
        }
        if k.present {
            self.children_fingerprint ^= fingerprint(key);
        }
        k.retired = true;
        self.present.remove(key);
        self.absent.remove(key);
    }

    /// Whether any key was retired (then a listing cannot be checked).
    pub fn any_retired(&self) -> bool {
        self.present.len() + self.absent.len() < self.keys.len()
    }

    /// Keys tear-down must delete: present and retired ones (a retired key may
    /// or may not exist), in key order.
    pub fn to_delete(&self) -> Vec<u32> {
        (0..self.len())
            .filter(|&key| {
                let k = self.keys[key as usize];
                k.present || k.retired
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(present: u32, absent: u32) -> KeySpace {
        let mut s = KeySpace::new();
        s.reserve(present + absent);
        for key in 0..present {
            s.created(key, 10, false);
        }
        s
    }

    #[test]
    fn choices_fit_the_need() {
        let mut rng = Rng::new(1, 0);
        let mut s = space(5, 5);
        for dist in [
            KeyDist::Uniform,
            KeyDist::Sequential,
            KeyDist::Zipfian(Zipf::new(10, 0.99)),
        ] {
            for _ in 0..100 {
                let p = s.choose(Need::Present, &dist, false, &mut rng).unwrap();
                assert!(p < 5, "{dist:?}");
                let a = s.choose(Need::Absent, &dist, false, &mut rng).unwrap();
                assert!((5..10).contains(&a), "{dist:?}");
            }
        }
    }

    #[test]
    fn creates_grow_only_when_allowed_and_nothing_is_absent() {
        let mut rng = Rng::new(1, 0);
        let mut s = space(2, 0);
        assert_eq!(
            s.choose(Need::Absent, &KeyDist::Uniform, false, &mut rng),
            None
        );
        assert_eq!(
            s.choose(Need::Absent, &KeyDist::Uniform, true, &mut rng),
            Some(2)
        );
        assert_eq!(s.len(), 3);
        s.deleted(0);
        assert_eq!(
            s.choose(Need::Absent, &KeyDist::Uniform, true, &mut rng),
            Some(0)
        );
        assert_eq!(s.len(), 3, "the hole is reused");
    }

    #[test]
    fn sequential_passes_in_order_and_rewinds() {
        let mut rng = Rng::new(1, 0);
        let mut s = space(4, 0);
        let seq = KeyDist::Sequential;
        let order: Vec<u32> = (0..6)
            .map(|_| s.choose(Need::Present, &seq, false, &mut rng).unwrap())
            .collect();
        assert_eq!(order, [0, 1, 2, 3, 0, 1]);
        s.rewind();
        assert_eq!(s.choose(Need::Present, &seq, false, &mut rng), Some(0));
        s.deleted(1);
        assert_eq!(s.choose(Need::Present, &seq, false, &mut rng), Some(2));
    }

    #[test]
    fn versions_lengths_and_children_follow_the_requests() {
        let mut s = space(0, 0);
        s.reserve(3);
        s.created(0, 8, false);
        s.created(2, 8, true);
        assert_eq!(s.set(0, 100), 1);
        assert_eq!(s.set(0, 50), 2);
        assert_eq!(s.get(0).version, 2);
        assert_eq!(s.get(0).data_len, 50);
        assert!(s.get(2).ephemeral);
        assert_eq!(s.children(), (2, fingerprint(0) ^ fingerprint(2)));
        s.deleted(0);
        assert_eq!(s.children(), (1, fingerprint(2)));
        assert_eq!(s.get(0), Key::default());
        s.created(0, 8, false);
        assert_eq!(s.get(0).version, 0, "a re-created node starts over");
    }

    #[test]
    fn retired_keys_are_never_chosen_but_are_cleaned_up() {
        let mut rng = Rng::new(1, 0);
        let mut s = space(3, 1);
        s.retire(1);
        s.retire(3);
        assert!(s.any_retired());
        assert_eq!(s.children().0, 2);
        for _ in 0..50 {
            let key = s
                .choose(Need::Present, &KeyDist::Uniform, false, &mut rng)
                .unwrap();
            assert_ne!(key, 1);
        }
        assert_eq!(
            s.choose(Need::Absent, &KeyDist::Uniform, false, &mut rng),
            None
        );
        assert_eq!(s.to_delete(), [0, 1, 2, 3]);
    }

    #[test]
    fn watches_are_one_time() {
        let mut s = space(1, 0);
        assert!(!s.watch(0));
        assert!(s.watch(0), "the same watch again");
        assert!(s.take_watch(0));
        assert!(!s.take_watch(0));
    }
}
