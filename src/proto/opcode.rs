//! `ZooDefs.OpCode`, the watcher enums of `Watcher.java`, and the create flags of
//! `CreateMode.java`.

/// A request type (`ZooDefs.OpCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum OpCode {
    /// Never a request; reserved.
    Notification = 0,
    /// create
    Create = 1,
    /// delete
    Delete = 2,
    /// exists
    Exists = 3,
    /// getData
    GetData = 4,
    /// setData
    SetData = 5,
    /// getACL
    GetAcl = 6,
    /// setACL
    SetAcl = 7,
    /// getChildren
    GetChildren = 8,
    /// sync
    Sync = 9,
    /// ping
    Ping = 11,
    /// getChildren2
    GetChildren2 = 12,
    /// check (only inside multi)
    Check = 13,
    /// multi
    Multi = 14,
    /// create2
    Create2 = 15,
    /// reconfig
    Reconfig = 16,
    /// checkWatches
    CheckWatches = 17,
    /// removeWatches
    RemoveWatches = 18,
    /// createContainer
    CreateContainer = 19,
    /// deleteContainer
    DeleteContainer = 20,
    /// createTTL
    CreateTtl = 21,
    /// multiRead
    MultiRead = 22,
    /// auth
    Auth = 100,
    /// setWatches
    SetWatches = 101,
    /// sasl
    Sasl = 102,
    /// getEphemerals
    GetEphemerals = 103,
    /// getAllChildrenNumber
    GetAllChildrenNumber = 104,
    /// setWatches2
    SetWatches2 = 105,
    /// addWatch
    AddWatch = 106,
    /// whoAmI
    WhoAmI = 107,
    /// createSession (internal txn type)
    CreateSession = -10,
    /// closeSession
    CloseSession = -11,
    /// error (multi sub-result type)
    Error = -1,
}

impl OpCode {
    /// The opcode for a wire value, if ZooKeeper defines it.
    pub fn from_code(code: i32) -> Option<OpCode> {
        use OpCode::*;
        Some(match code {
            0 => Notification,
            1 => Create,
            2 => Delete,
            3 => Exists,
            4 => GetData,
            5 => SetData,
            6 => GetAcl,
            7 => SetAcl,
            8 => GetChildren,
            9 => Sync,
            11 => Ping,
            12 => GetChildren2,
            13 => Check,
            14 => Multi,
            15 => Create2,
            16 => Reconfig,
            17 => CheckWatches,
            18 => RemoveWatches,
            19 => CreateContainer,
            20 => DeleteContainer,
            21 => CreateTtl,
            22 => MultiRead,
            100 => Auth,
            101 => SetWatches,
            102 => Sasl,
            103 => GetEphemerals,
            104 => GetAllChildrenNumber,
            105 => SetWatches2,
            106 => AddWatch,
            107 => WhoAmI,
            -10 => CreateSession,
            -11 => CloseSession,
            -1 => Error,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn code(self) -> i32 {
        self as i32
    }
}

/// Special xids (`ClientCnxn`).
pub mod xid {
    /// Server-to-client watch notification.
    pub const NOTIFICATION: i32 = -1;
    /// Ping request and reply.
    pub const PING: i32 = -2;
    /// Auth request and reply.
    pub const AUTH: i32 = -4;
    /// setWatches / setWatches2 on reconnect.
    pub const SET_WATCHES: i32 = -8;
}

/// `Watcher.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    /// A connection-state change, not a node event.
    None = -1,
    /// A watched node was created.
    NodeCreated = 1,
    /// A watched node was deleted.
    NodeDeleted = 2,
    /// A watched node's data changed.
    NodeDataChanged = 3,
    /// A watched node's children changed.
    NodeChildrenChanged = 4,
    /// A data watch was removed.
    DataWatchRemoved = 5,
    /// A child watch was removed.
    ChildWatchRemoved = 6,
    /// A persistent watch was removed.
    PersistentWatchRemoved = 7,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 8] = [
        EventType::None,
        EventType::NodeCreated,
        EventType::NodeDeleted,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
        EventType::DataWatchRemoved,
        EventType::ChildWatchRemoved,
        EventType::PersistentWatchRemoved,
    ];

    /// The event type for a wire value.
    pub fn from_code(code: i32) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|e| *e as i32 == code)
    }
}

/// `Watcher.Event.KeeperState`; the server sends `SyncConnected` with node events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum KeeperState {
    /// Unknown.
    Unknown = -1,
    /// Disconnected.
    Disconnected = 0,
    /// Unused.
    NoSyncConnected = 1,
    /// Connected.
    SyncConnected = 3,
    /// Authentication failed.
    AuthFailed = 4,
    /// Connected to a read-only server.
    ConnectedReadOnly = 5,
    /// SASL authenticated.
    SaslAuthenticated = 6,
    /// The session expired.
    Expired = -112,
    /// The client closed the session.
    Closed = 7,
}

impl KeeperState {
    /// Every state.
    pub const ALL: [KeeperState; 9] = [
        KeeperState::Unknown,
        KeeperState::Disconnected,
        KeeperState::NoSyncConnected,
        KeeperState::SyncConnected,
        KeeperState::AuthFailed,
        KeeperState::ConnectedReadOnly,
        KeeperState::SaslAuthenticated,
        KeeperState::Expired,
        KeeperState::Closed,
    ];

    /// The state for a wire value.
    pub fn from_code(code: i32) -> Option<KeeperState> {
        KeeperState::ALL.iter().copied().find(|s| *s as i32 == code)
    }
}

/// `Watcher.WatcherType`, the `type` of checkWatches/removeWatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum WatcherType {
    /// Child watches.
    Children = 1,
    /// Data (and exist) watches.
    Data = 2,
    /// Any watch.
    Any = 3,
    /// Persistent watches (3.9).
    Persistent = 4,
    /// Persistent recursive watches (3.9).
    PersistentRecursive = 5,
}

impl WatcherType {
    /// The watcher type for a wire value.
    pub fn from_code(code: i32) -> Option<WatcherType> {
        Some(match code {
            1 => WatcherType::Children,
            2 => WatcherType::Data,
            3 => WatcherType::Any,
            4 => WatcherType::Persistent,
            5 => WatcherType::PersistentRecursive,
            _ => return None,
        })
    }
}

/// `AddWatchMode`, the `mode` of addWatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum AddWatchMode {
    /// Data and child events on exactly one node; not removed when fired.
    Persistent = 0,
    /// Created/deleted/data events on a node and all its descendants.
    PersistentRecursive = 1,
}

impl AddWatchMode {
    /// The mode for a wire value.
    pub fn from_code(code: i32) -> Option<AddWatchMode> {
        match code {
            0 => Some(AddWatchMode::Persistent),
            1 => Some(AddWatchMode::PersistentRecursive),
            _ => None,
        }
    }
}

/// `CreateMode`, decoded from the create `flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateMode {
    /// 0
    Persistent,
    /// 1
    Ephemeral,
    /// 2
    PersistentSequential,
    /// 3
    EphemeralSequential,
    /// 4
    Container,
    /// 5
    PersistentWithTtl,
    /// 6
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// The mode for a flags value; anything else is `BADARGUMENTS` in ZooKeeper.
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        Some(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// The flags value of this mode.
    pub const fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }

    /// Whether the node dies with its session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether the name gets a `%010d` suffix.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether this is a container.
    pub const fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }

    /// Whether this is a TTL node.
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 2;
    /// Create children.
    pub const CREATE: i32 = 4;
    /// Delete children.
    pub const DELETE: i32 = 8;
    /// Set ACLs.
    pub const ADMIN: i32 = 16;
    /// Everything.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip() {
        let mut known = 0;
        for code in -20..=200 {
            if let Some(op) = OpCode::from_code(code) {
                assert_eq!(op.code(), code);
                known += 1;
            }
        }
        assert_eq!(known, 33);
        assert_eq!(OpCode::from_code(10), None);
        assert_eq!(OpCode::from_code(23), None);
    }

    #[test]
    fn watch_enums_round_trip() {
        for e in EventType::ALL {
            assert_eq!(EventType::from_code(e as i32), Some(e));
        }
        for s in KeeperState::ALL {
            assert_eq!(KeeperState::from_code(s as i32), Some(s));
        }
        assert_eq!(EventType::from_code(0), None);
        assert_eq!(KeeperState::from_code(2), None);
        for code in 1..=5 {
            assert_eq!(WatcherType::from_code(code).map(|w| w as i32), Some(code));
        }
        assert_eq!(WatcherType::from_code(0), None);
        assert_eq!(
            AddWatchMode::from_code(1),
            Some(AddWatchMode::PersistentRecursive)
        );
        assert_eq!(AddWatchMode::from_code(2), None);
    }

    #[test]
    fn create_flags_round_trip() {
        for flags in 0..7 {
            let mode = CreateMode::from_flags(flags).unwrap();
            assert_eq!(mode.flags(), flags);
        }
        assert_eq!(CreateMode::from_flags(7), None);
        assert_eq!(CreateMode::from_flags(-1), None);
        assert!(CreateMode::EphemeralSequential.is_ephemeral());
        assert!(CreateMode::PersistentSequentialWithTtl.is_sequential());
        assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
        assert!(CreateMode::Container.is_container());
    }
}
