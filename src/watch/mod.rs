//! A shard's watch tables, and which watches an applied change fires.
//!
//! Lives on a shard core: the watchers are that shard's connections. Pure: the
//! shard feeds in the tree events of each committed batch and sends out the
//! notifications this returns. Semantics are ZooKeeper 3.9's `WatchManager`:
//! a data table (exists/getData watches, persistent and persistent-recursive
//! watches) and a child table (getChildren watches, persistent watches); a
//! watcher may hold several modes on one path (ZOOKEEPER-4466); standard watches
//! fire once, persistent ones stay; recursive watches see their whole subtree
//! but never `NodeChildrenChanged`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::proto::{EventType, WatcherType};
use crate::tree::TreeEvent;

/// Who receives a notification: a connection id local to the shard.
pub type WatcherId = u64;

/// The set of modes one watcher holds on one path (a small bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Modes(u8);

impl Modes {
    const STANDARD: u8 = 1;
    const PERSISTENT: u8 = 2;
    const RECURSIVE: u8 = 4;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// One table of `WatchManager`: path -> watcher -> modes, with the reverse index.
#[derive(Debug, Default)]
struct Table {
    by_path: HashMap<Box<str>, HashMap<WatcherId, Modes>>,
    by_watcher: HashMap<WatcherId, HashSet<Box<str>>>,
    recursive_count: usize,
}

impl Table {
    fn add(&mut self, path: &str, watcher: WatcherId, bit: u8) {
        let modes = self
            .by_path
            .entry(path.into())
            .or_default()
            .entry(watcher)
            .or_default();
        if bit == Modes::RECURSIVE && !modes.has(bit) {
            self.recursive_count += 1;
        }
        modes.0 |= bit;
        self.by_watcher
            .entry(watcher)
            .or_default()
            .insert(path.into());
    }

    /// Clears `bits` of a watcher's modes on a path; returns whether any was set.
    fn remove(&mut self, path: &str, watcher: WatcherId, bits: u8) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(modes) = watchers.get_mut(&watcher) else {
            return false;
        };
        if modes.0 & bits == 0 {
            return false;
        }
        if modes.has(Modes::RECURSIVE) && bits & Modes::RECURSIVE != 0 {
            self.recursive_count -= 1;
        }
        modes.0 &= !bits;
        if modes.0 == 0 {
            watchers.remove(&watcher);
            if watchers.is_empty() {
                self.by_path.remove(path);
            }
            self.forget_path_of(watcher, path);
        }
        true
    }

    fn contains(&self, path: &str, watcher: WatcherId, bits: u8) -> bool {
        self.by_path
            .get(path)
            .and_then(|watchers| watchers.get(&watcher))
            .is_some_and(|modes| modes.0 & bits != 0)
    }

    fn forget_path_of(&mut self, watcher: WatcherId, path: &str) {
        if let Some(paths) = self.by_watcher.get_mut(&watcher) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_watcher.remove(&watcher);
            }
        }
    }

    fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&watcher) else {
            return;
        };
        for path in paths {
            if let Some(watchers) = self.by_path.get_mut(&path) {
                if let Some(modes) = watchers.remove(&watcher) {
                    if modes.has(Modes::RECURSIVE) {
                        self.recursive_count -= 1;
                    }
                }
                if watchers.is_empty() {
                    self.by_path.remove(&path);
                }
            }
        }
    }

    /// `WatchManager.triggerWatch`: every watcher on `path` fires (standard ones are
    /// removed), and recursive watchers on its ancestors fire too.
    fn trigger(&mut self, path: &str, fired: &mut HashSet<WatcherId>) {
        if let Some(watchers) = self.by_path.get_mut(path) {
            let mut emptied = Vec::new();
            for (watcher, modes) in watchers.iter_mut() {
                fired.insert(*watcher);
                if modes.has(Modes::STANDARD) {
                    modes.0 &= !Modes::STANDARD;
                    if modes.0 == 0 {
                        emptied.push(*watcher);
                    }
                }
            }
            for watcher in &emptied {
                watchers.remove(watcher);
            }
            if watchers.is_empty() {
                self.by_path.remove(path);
            }
            for watcher in emptied {
                self.forget_path_of(watcher, path);
            }
        }
        if self.recursive_count == 0 {
            return;
        }
        for ancestor in ancestors(path) {
            if let Some(watchers) = self.by_path.get(ancestor) {
                for (watcher, modes) in watchers {
                    if modes.has(Modes::RECURSIVE) {
                        fired.insert(*watcher);
                    }
                }
            }
        }
    }

    fn watch_count(&self) -> usize {
        self.by_path.values().map(HashMap::len).sum()
    }
}

/// Proper ancestors of a path, nearest first, ending with "/".
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        if rest == "/" {
            return None;
        }
        let cut = rest.rfind('/')?;
        rest = if cut == 0 { "/" } else { &rest[..cut] };
        Some(rest)
    })
}

/// One notification to send: `WatcherEvent{type, SyncConnected, path}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The connection to notify.
    pub watcher: WatcherId,
    /// What happened.
    pub event_type: EventType,
    /// The node it happened to.
    pub path: Arc<str>,
}

/// What a `setWatches` replay found changed while the client was away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Nothing changed: the watch is re-registered.
    Registered,
    /// The change has happened: send this event instead of registering.
    Fire(EventType),
}

/// A shard's watches: ZooKeeper's data and child watch tables.
#[derive(Debug, Default)]
pub struct WatchTable {
    data: Table,
    child: Table,
}

impl WatchTable {
    /// An empty table.
    pub fn new() -> WatchTable {
        WatchTable::default()
    }

    /// A one-shot data watch (getData, or exists whether or not the node exists).
    pub fn add_data(&mut self, path: &str, watcher: WatcherId) {
        self.data.add(path, watcher, Modes::STANDARD);
    }

    /// A one-shot child watch (getChildren, getChildren2).
    pub fn add_child(&mut self, path: &str, watcher: WatcherId) {
        self.child.add(path, watcher, Modes::STANDARD);
    }

    /// A persistent watch (addWatch mode 0: both tables) or a persistent-recursive
    /// one (mode 1: data table only, so it never sees `NodeChildrenChanged`).
    pub fn add_persistent(&mut self, path: &str, watcher: WatcherId, recursive: bool) {
        if recursive {
            self.data.add(path, watcher, Modes::RECURSIVE);
        } else {
            self.data.add(path, watcher, Modes::PERSISTENT);
            self.child.add(path, watcher, Modes::PERSISTENT);
        }
    }

    /// The notifications one tree event causes, appended to `out` (`DataTree`'s
    /// createNode/deleteNode/setData trigger calls).
    pub fn trigger(&mut self, event: &TreeEvent, out: &mut Vec<Fired>) {
        let mut fired = HashSet::new();
        match event {
            TreeEvent::Created(path) => {
                self.data.trigger(path, &mut fired);
                push(out, fired, EventType::NodeCreated, path);
            }
            TreeEvent::DataChanged(path) => {
                self.data.trigger(path, &mut fired);
                push(out, fired, EventType::NodeDataChanged, path);
            }
            TreeEvent::Deleted(path) => {
                self.data.trigger(path, &mut fired);
                let mut child_fired = HashSet::new();
                self.child.trigger(path, &mut child_fired);
                // One NodeDeleted per watcher even if it watched in both tables.
                fired.extend(child_fired);
                push(out, fired, EventType::NodeDeleted, path);
            }
            TreeEvent::ChildrenChanged(path) => {
                self.child.trigger(path, &mut fired);
                push(out, fired, EventType::NodeChildrenChanged, path);
            }
        }
    }

    /// Drops every watch of a connection that went away.
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.data.remove_watcher(watcher);
        self.child.remove_watcher(watcher);
    }

    /// `checkWatches`: whether the watcher holds a watch of this type on `path`.
    pub fn contains(&self, path: &str, watcher: WatcherId, kind: WatcherType) -> bool {
        match kind {
            WatcherType::Data => self.data.contains(path, watcher, Modes::STANDARD),
            WatcherType::Children => self.child.contains(path, watcher, Modes::STANDARD),
            WatcherType::Any => {
                self.data.contains(path, watcher, u8::MAX)
                    || self.child.contains(path, watcher, u8::MAX)
            }
            WatcherType::Persistent => {
                self.data.contains(path, watcher, Modes::PERSISTENT)
                    || self.child.contains(path, watcher, Modes::PERSISTENT)
            }
            WatcherType::PersistentRecursive => self.data.contains(path, watcher, Modes::RECURSIVE),
        }
    }

    /// `removeWatches`: removes the watcher's watches of this type on `path`;
    /// returns whether there was one (else the caller answers `NOWATCHER`).
    pub fn remove(&mut self, path: &str, watcher: WatcherId, kind: WatcherType) -> bool {
        match kind {
            WatcherType::Data => self.data.remove(path, watcher, Modes::STANDARD),
            WatcherType::Children => self.child.remove(path, watcher, Modes::STANDARD),
            WatcherType::Any => {
                let data = self.data.remove(path, watcher, u8::MAX);
                let child = self.child.remove(path, watcher, u8::MAX);
                data || child
            }
            WatcherType::Persistent => {
                let data = self.data.remove(path, watcher, Modes::PERSISTENT);
                let child = self.child.remove(path, watcher, Modes::PERSISTENT);
                data || child
            }
            WatcherType::PersistentRecursive => self.data.remove(path, watcher, Modes::RECURSIVE),
        }
    }

    /// Total watches (watcher, path, table) as ZooKeeper counts them for `wchs`/`mntr`.
    pub fn watch_count(&self) -> usize {
        self.data.watch_count() + self.child.watch_count()
    }

    /// Distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&str> = self.data.by_path.keys().map(|p| &**p).collect();
        paths.extend(self.child.by_path.keys().map(|p| &**p));
        paths.len()
    }

    /// Distinct watchers.
    pub fn watcher_count(&self) -> usize {
        let mut watchers: HashSet<WatcherId> = self.data.by_watcher.keys().copied().collect();
        watchers.extend(self.child.by_watcher.keys().copied());
        watchers.len()
    }

    /// Paths each watcher holds data-table watches on (data, exist, persistent,
    /// recursive), sorted: what ZooKeeper's `wchc`/`wchs` list.
    pub fn data_by_watcher(&self) -> Vec<(WatcherId, Vec<String>)> {
        let mut out: Vec<(WatcherId, Vec<String>)> = self
            .data
            .by_watcher
            .iter()
            .map(|(w, paths)| {
                let mut paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
                paths.sort();
                (*w, paths)
            })
            .collect();
        out.sort();
        out
    }

    /// Distinct paths with data-table watches (`wchs`).
    pub fn data_path_count(&self) -> usize {
        self.data.by_path.len()
    }

    /// Paths each watcher watches in either table, sorted.
    pub fn by_watcher(&self) -> Vec<(WatcherId, Vec<String>)> {
        let mut map: HashMap<WatcherId, HashSet<&str>> = HashMap::new();
        for table in [&self.data, &self.child] {
            for (watcher, paths) in &table.by_watcher {
                map.entry(*watcher)
                    .or_default()
                    .extend(paths.iter().map(|p| &**p));
            }
        }
        let mut out: Vec<(WatcherId, Vec<String>)> = map
            .into_iter()
            .map(|(w, paths)| {
                let mut paths: Vec<String> = paths.into_iter().map(str::to_owned).collect();
                paths.sort();
                (w, paths)
            })
            .collect();
        out.sort();
        out
    }

    /// Watchers of each path, sorted (for `wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<WatcherId>)> {
        let mut map: HashMap<&str, HashSet<WatcherId>> = HashMap::new();
        for table in [&self.data, &self.child] {
            for (path, watchers) in &table.by_path {
                map.entry(path)
                    .or_default()
                    .extend(watchers.keys().copied());
            }
        }
        let mut out: Vec<(String, Vec<WatcherId>)> = map
            .into_iter()
            .map(|(p, watchers)| {
                let mut watchers: Vec<WatcherId> = watchers.into_iter().collect();
                watchers.sort_unstable();
                (p.to_owned(), watchers)
            })
            .collect();
        out.sort();
        out
    }
}

fn push(out: &mut Vec<Fired>, fired: HashSet<WatcherId>, event_type: EventType, path: &Arc<str>) {
    let mut fired: Vec<WatcherId> = fired.into_iter().collect();
    fired.sort_unstable();
    out.extend(fired.into_iter().map(|watcher| Fired {
        watcher,
        event_type,
        path: path.clone(),
    }));
}

/// `DataTree.setWatches` for one data watch: the node's `mzxid` (None if gone)
/// against the client's last seen zxid.
pub fn replay_data(mzxid: Option<i64>, relative_zxid: i64) -> Replay {
    match mzxid {
        None => Replay::Fire(EventType::NodeDeleted),
        Some(mzxid) if mzxid > relative_zxid => Replay::Fire(EventType::NodeDataChanged),
        Some(_) => Replay::Registered,
    }
}

/// `DataTree.setWatches` for one exist watch: fires `NodeCreated` if the node now exists.
pub fn replay_exist(exists: bool) -> Replay {
    if exists {
        Replay::Fire(EventType::NodeCreated)
    } else {
        Replay::Registered
    }
}

/// `DataTree.setWatches` for one child watch: the node's `pzxid` (None if gone).
pub fn replay_child(pzxid: Option<i64>, relative_zxid: i64) -> Replay {
    match pzxid {
        None => Replay::Fire(EventType::NodeDeleted),
        Some(pzxid) if pzxid > relative_zxid => Replay::Fire(EventType::NodeChildrenChanged),
        Some(_) => Replay::Registered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn fire(table: &mut WatchTable, event: TreeEvent) -> Vec<(WatcherId, EventType)> {
        let mut out = Vec::new();
        table.trigger(&event, &mut out);
        out.into_iter().map(|f| (f.watcher, f.event_type)).collect()
    }

    #[test]
    fn ancestors_walk_to_root() {
        assert_eq!(
            ancestors("/a/b/c").collect::<Vec<_>>(),
            vec!["/a/b", "/a", "/"]
        );
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(ancestors("/").count(), 0);
    }

    #[test]
    fn standard_watches_fire_once() {
        let mut t = WatchTable::new();
        t.add_data("/a", 1);
        assert_eq!(
            fire(&mut t, TreeEvent::DataChanged(p("/a"))),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert!(fire(&mut t, TreeEvent::DataChanged(p("/a"))).is_empty());
        assert_eq!(t.watch_count(), 0);
    }

    #[test]
    fn delete_fires_data_and_child_watchers_once_each() {
        let mut t = WatchTable::new();
        t.add_data("/a", 1);
        t.add_child("/a", 1);
        t.add_child("/a", 2);
        assert_eq!(
            fire(&mut t, TreeEvent::Deleted(p("/a"))),
            vec![(1, EventType::NodeDeleted), (2, EventType::NodeDeleted)]
        );
        assert_eq!(t.watch_count(), 0);
    }

    #[test]
    fn child_watch_sees_children_changed_not_data() {
        let mut t = WatchTable::new();
        t.add_child("/a", 1);
        assert!(fire(&mut t, TreeEvent::DataChanged(p("/a"))).is_empty());
        assert!(fire(&mut t, TreeEvent::Created(p("/a"))).is_empty());
        assert_eq!(
            fire(&mut t, TreeEvent::ChildrenChanged(p("/a"))),
            vec![(1, EventType::NodeChildrenChanged)]
        );
    }

    #[test]
    fn persistent_watch_stays_and_sees_children() {
        let mut t = WatchTable::new();
        t.add_persistent("/a", 1, false);
        for _ in 0..3 {
            assert_eq!(
                fire(&mut t, TreeEvent::DataChanged(p("/a"))),
                vec![(1, EventType::NodeDataChanged)]
            );
            assert_eq!(
                fire(&mut t, TreeEvent::ChildrenChanged(p("/a"))),
                vec![(1, EventType::NodeChildrenChanged)]
            );
        }
        assert!(
            fire(&mut t, TreeEvent::Created(p("/a/b"))).is_empty(),
            "not recursive"
        );
    }

    #[test]
    fn recursive_watch_sees_subtree_but_never_children_changed() {
        let mut t = WatchTable::new();
        t.add_persistent("/a", 7, true);
        assert_eq!(
            fire(&mut t, TreeEvent::Created(p("/a/b/c"))),
            vec![(7, EventType::NodeCreated)]
        );
        assert_eq!(
            fire(&mut t, TreeEvent::DataChanged(p("/a"))),
            vec![(7, EventType::NodeDataChanged)]
        );
        assert!(fire(&mut t, TreeEvent::ChildrenChanged(p("/a"))).is_empty());
        assert!(
            fire(&mut t, TreeEvent::Created(p("/ab"))).is_empty(),
            "sibling prefix is not a child"
        );
        assert_eq!(
            fire(&mut t, TreeEvent::Deleted(p("/a/b"))),
            vec![(7, EventType::NodeDeleted)]
        );
    }

    #[test]
    fn standard_and_persistent_coexist_on_one_path() {
        let mut t = WatchTable::new();
        t.add_persistent("/a", 1, false);
        t.add_data("/a", 1);
        assert_eq!(
            fire(&mut t, TreeEvent::DataChanged(p("/a"))),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert!(
            !t.contains("/a", 1, WatcherType::Data),
            "standard part consumed"
        );
        assert!(t.contains("/a", 1, WatcherType::Persistent));
    }

    #[test]
    fn remove_by_type() {
        let mut t = WatchTable::new();
        t.add_data("/a", 1);
        t.add_child("/a", 1);
        t.add_persistent("/b", 1, true);
        assert!(!t.remove("/a", 2, WatcherType::Data));
        assert!(t.remove("/a", 1, WatcherType::Children));
        assert!(!t.contains("/a", 1, WatcherType::Children));
        assert!(t.contains("/a", 1, WatcherType::Data));
        assert!(!t.remove("/b", 1, WatcherType::Persistent));
        assert!(t.remove("/b", 1, WatcherType::PersistentRecursive));
        assert!(fire(&mut t, TreeEvent::Created(p("/b/c"))).is_empty());
        assert!(t.remove("/a", 1, WatcherType::Any));
        assert_eq!(t.watch_count(), 0);
    }

    #[test]
    fn closing_a_connection_drops_its_watches() {
        let mut t = WatchTable::new();
        t.add_data("/a", 1);
        t.add_persistent("/", 1, true);
        t.add_data("/a", 2);
        t.remove_watcher(1);
        assert_eq!(
            fire(&mut t, TreeEvent::DataChanged(p("/a"))),
            vec![(2, EventType::NodeDataChanged)]
        );
        assert_eq!(t.watcher_count(), 0);
    }

    #[test]
    fn replay_rules_follow_set_watches() {
        assert_eq!(replay_data(None, 5), Replay::Fire(EventType::NodeDeleted));
        assert_eq!(
            replay_data(Some(6), 5),
            Replay::Fire(EventType::NodeDataChanged)
        );
        assert_eq!(replay_data(Some(5), 5), Replay::Registered);
        assert_eq!(replay_exist(true), Replay::Fire(EventType::NodeCreated));
        assert_eq!(replay_exist(false), Replay::Registered);
        assert_eq!(
            replay_child(Some(9), 5),
            Replay::Fire(EventType::NodeChildrenChanged)
        );
        assert_eq!(replay_child(Some(1), 5), Replay::Registered);
    }

    #[test]
    fn dumps_are_sorted() {
        let mut t = WatchTable::new();
        t.add_data("/b", 2);
        t.add_child("/a", 2);
        t.add_data("/a", 1);
        assert_eq!(
            t.by_watcher(),
            vec![
                (1, vec!["/a".to_owned()]),
                (2, vec!["/a".to_owned(), "/b".to_owned()])
            ]
        );
        assert_eq!(
            t.by_path(),
            vec![("/a".to_owned(), vec![1, 2]), ("/b".to_owned(), vec![2])]
        );
        assert_eq!(t.path_count(), 2);
        assert_eq!(t.watch_count(), 3);
    }
}
