//! What each reply must be, decided when its request is sent, and the check of
//! the reply against it. Pure.
//!
//! Every value written carries a stamp in its first bytes: the version the
//! write creates, the key and the session (`stamp`), so a read proves it saw
//! this session's latest write of this key and nothing else.

use bytes::{BufMut, Bytes, BytesMut};
use corekeeper::proto::{MultiResult, Response};

use crate::keys::fingerprint;

/// Bytes of the stamp at the start of every value (fewer if the value is shorter).
pub const STAMP_BYTES: usize = 12;

/// A reply that came back but is not what the request must return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invalid {
    /// getData returned data (or `Stat.dataLength`) of the wrong length.
    DataLength,
    /// The data's stamp is not that of the version, key and session expected.
    DataStamp,
    /// setData (or exists) returned another version than the model's.
    Version,
    /// getData did not return the version of this session's latest write.
    ReadYourWrites,
    /// create returned a different path than requested.
    CreatedPath,
    /// getChildren listed other children than the session's znodes.
    Children,
    /// A multi or multiRead result of the wrong kind or number.
    MultiShape,
    /// A notification nobody expected, of the wrong type, or for a write that
    /// did not ask for one; or one expected and never delivered.
    Notification,
    /// session-churn: a closed session's ephemeral znode still exists.
    Ephemeral,
    /// The reply body did not decode, or was of the wrong kind.
    Body,
}

impl Invalid {
    /// The name in reports, after `invalid.`.
    pub fn name(self) -> &'static str {
        match self {
            Invalid::DataLength => "data_length",
            Invalid::DataStamp => "data_stamp",
            Invalid::Version => "version",
            Invalid::ReadYourWrites => "read_your_writes",
            Invalid::CreatedPath => "created_path",
            Invalid::Children => "children",
            Invalid::MultiShape => "multi_shape",
            Invalid::Notification => "notification",
            Invalid::Ephemeral => "ephemeral_survived",
            Invalid::Body => "body",
        }
    }
}

/// What a reply must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Anything successful (set-up, tear-down, close, addWatch).
    Success,
    /// getData: the key's data at `version`, `len` bytes, stamped.
    Data {
        /// The key.
        key: u32,
        /// Its version.
        version: i32,
        /// Its length.
        len: u32,
    },
    /// setData: the stat of exactly `version`.
    Written {
        /// The key.
        key: u32,
        /// The version the write creates.
        version: i32,
    },
    /// exists of an existing key: its stat at `version`.
    Exists {
        /// The key.
        key: u32,
        /// Its version.
        version: i32,
    },
    /// create: the key's path back.
    Created {
        /// The key.
        key: u32,
    },
    /// delete (sent with the exact version).
    Deleted {
        /// The key.
        key: u32,
    },
    /// check (in a multi).
    Checked {
        /// The key.
        key: u32,
    },
    /// getChildren of the session's directory: this many children whose
    /// fingerprints XOR to this; `None` when a retired key makes it unknowable.
    Children(Option<(usize, u64)>),
    /// multi: each sub-result in order.
    Multi(Vec<Expect>),
    /// multiRead: each sub-result in order.
    MultiRead(Vec<Expect>),
}

impl Expect {
    /// The keys this request touches (to retire them if it fails).
    pub fn keys(&self, out: &mut Vec<u32>) {
        match self {
            Expect::Data { key, .. }
            | Expect::Written { key, .. }
            | Expect::Exists { key, .. }
            | Expect::Created { key }
            | Expect::Deleted { key }
            | Expect::Checked { key } => out.push(*key),
            Expect::Multi(subs) | Expect::MultiRead(subs) => {
                for sub in subs {
                    sub.keys(out);
                }
            }
            Expect::Success | Expect::Children(_) => {}
        }
    }
}

/// Who is checking: the session's index and its directory.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    /// The session's index.
    pub session: u32,
    /// `<root>/s<session>`.
    pub dir: &'a str,
}

impl Owner<'_> {
    /// The path of `key`.
    pub fn path(&self, key: u32) -> String {
        format!("{}/k{key}", self.dir)
    }

    /// The key a path under the directory names, if it does.
    pub fn key_of(&self, path: &str) -> Option<u32> {
        path.strip_prefix(self.dir)?
            .strip_prefix("/k")?
            .parse()
            .ok()
    }
}

/// The stamp of `key`'s data at `version`, written by `session`.
pub fn stamp(version: i32, key: u32, session: u32) -> [u8; STAMP_BYTES] {
    let mut s = [0u8; STAMP_BYTES];
    s[..4].copy_from_slice(&version.to_be_bytes());
    s[4..8].copy_from_slice(&key.to_be_bytes());
    s[8..].copy_from_slice(&session.to_be_bytes());
    s
}

/// A value of `len` bytes: the stamp (cut to `len`), then bytes of `fill`.
pub fn stamped_value(version: i32, key: u32, session: u32, len: u32, fill: &Bytes) -> Bytes {
    let len = len as usize;
    let s = stamp(version, key, session);
    let head = len.min(STAMP_BYTES);
    let mut value = BytesMut::with_capacity(len);
    value.put_slice(&s[..head]);
    value.put_slice(&fill[..len - head]);
    value.freeze()
}

/// Checks a successful reply's body against `expect`.
pub fn check(expect: &Expect, response: &Response, owner: Owner<'_>) -> Result<(), Invalid> {
    match (expect, response) {
        (Expect::Success, _) => Ok(()),
        (Expect::Data { key, version, len }, Response::GetData { data, stat, .. }) => check_data(
            data,
            stat.version,
            stat.data_length,
            (*key, *version, *len),
            owner,
        ),
        (Expect::Written { version, .. }, Response::SetData { stat }) => (stat.version == *version)
            .then_some(())
            .ok_or(Invalid::Version),
        (Expect::Exists { version, .. }, Response::Exists { stat }) => (stat.version == *version)
            .then_some(())
            .ok_or(Invalid::Version),
        (Expect::Created { key }, Response::Create { path }) => check_path(path, *key, owner),
        (Expect::Deleted { .. }, Response::Empty) => Ok(()),
        (Expect::Children(expected), Response::GetChildren { children }) => {
            check_children(expected, children, owner)
        }
        (Expect::Multi(subs), Response::Multi(results))
        | (Expect::MultiRead(subs), Response::MultiRead(results)) => {
            if subs.len() != results.len() {
                return Err(Invalid::MultiShape);
            }
            subs.iter()
                .zip(results)
                .try_for_each(|(sub, result)| check_sub(sub, result, owner))
        }
        _ => Err(Invalid::Body),
    }
}

/// The first error code in a multi's results, if it failed (ZooKeeper answers
/// a failed multi with header err 0 and an error result per op).
pub fn multi_error(response: &Response) -> Option<i32> {
    let (Response::Multi(results) | Response::MultiRead(results)) = response else {
        return None;
    };
    results.iter().find_map(|r| match r {
        MultiResult::Error { err } if *err != 0 && *err != RUNTIME_INCONSISTENCY => Some(*err),
        _ => None,
    })
}

/// The code ZooKeeper puts on the sub-ops after the one that failed a multi.
const RUNTIME_INCONSISTENCY: i32 = -2;

fn check_sub(expect: &Expect, result: &MultiResult, owner: Owner<'_>) -> Result<(), Invalid> {
    match (expect, result) {
        (Expect::Data { key, version, len }, MultiResult::GetData { data, stat }) => check_data(
            data,
            stat.version,
            stat.data_length,
            (*key, *version, *len),
            owner,
        ),
        (Expect::Written { version, .. }, MultiResult::SetData { stat }) => (stat.version
            == *version)
            .then_some(())
            .ok_or(Invalid::Version),
        (Expect::Created { key }, MultiResult::Create { path }) => check_path(path, *key, owner),
        (Expect::Deleted { .. }, MultiResult::Delete)
        | (Expect::Checked { .. }, MultiResult::Check) => Ok(()),
        (Expect::Children(expected), MultiResult::GetChildren { children }) => {
            check_children(expected, children, owner)
        }
        _ => Err(Invalid::MultiShape),
    }
}

fn check_data(
    data: &[u8],
    version: i32,
    data_length: i32,
    (key, expected_version, len): (u32, i32, u32),
    owner: Owner<'_>,
) -> Result<(), Invalid> {
    if data.len() != len as usize || u32::try_from(data_length) != Ok(len) {
        return Err(Invalid::DataLength);
    }
    if version != expected_version {
        return Err(Invalid::ReadYourWrites);
    }
    let s = stamp(version, key, owner.session);
    let head = data.len().min(STAMP_BYTES);
    if data[..head] != s[..head] {
        return Err(Invalid::DataStamp);
    }
    Ok(())
}

fn check_path(path: &str, key: u32, owner: Owner<'_>) -> Result<(), Invalid> {
    (owner.key_of(path) == Some(key))
        .then_some(())
        .ok_or(Invalid::CreatedPath)
}

fn check_children(
    expected: &Option<(usize, u64)>,
    children: &[String],
    owner: Owner<'_>,
) -> Result<(), Invalid> {
    let Some((count, expected_fp)) = expected else {
        return Ok(());
    };
    if children.len() != *count {
        return Err(Invalid::Children);
    }
    let mut fp = 0u64;
    for name in children {
        let key = name
            .strip_prefix('k')
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or(Invalid::Children)?;
        debug_assert!(owner.key_of(&format!("{}/{name}", owner.dir)) == Some(key));
        fp ^= fingerprint(key);
    }
    (fp == *expected_fp).then_some(()).ok_or(Invalid::Children)
}

#[cfg(test)]
mod tests {
    use corekeeper::proto::Stat;

    use super::*;

    const OWNER: Owner<'static> = Owner {
        session: 7,
        dir: "/r/s7",
    };

    fn get_data(version: i32, value: Bytes) -> Response {
        Response::GetData {
            stat: Stat {
                version,
                data_length: value.len() as i32,
                ..Stat::default()
            },
            data: value,
            data_null: false,
        }
    }

    #[test]
    fn values_carry_their_stamp_at_any_length() {
        let fill = Bytes::from(vec![b'x'; 100]);
        let v = stamped_value(3, 9, 7, 20, &fill);
        assert_eq!(v.len(), 20);
        assert_eq!(&v[..12], &stamp(3, 9, 7));
        assert_eq!(&v[12..], &[b'x'; 8]);
        assert_eq!(
            stamped_value(3, 9, 7, 2, &fill).as_ref(),
            &stamp(3, 9, 7)[..2]
        );
        assert!(stamped_value(0, 0, 0, 0, &fill).is_empty());
    }

    #[test]
    fn reads_must_see_the_version_key_and_session_expected() {
        let fill = Bytes::from(vec![b'x'; 64]);
        let expect = Expect::Data {
            key: 9,
            version: 3,
            len: 64,
        };
        let good = stamped_value(3, 9, 7, 64, &fill);
        assert_eq!(check(&expect, &get_data(3, good.clone()), OWNER), Ok(()));
        assert_eq!(
            check(
                &expect,
                &get_data(2, stamped_value(2, 9, 7, 64, &fill)),
                OWNER
            ),
            Err(Invalid::ReadYourWrites)
        );
        assert_eq!(
            check(
                &expect,
                &get_data(3, stamped_value(3, 8, 7, 64, &fill)),
                OWNER
            ),
            Err(Invalid::DataStamp),
            "another key's data"
        );
        assert_eq!(
            check(
                &expect,
                &get_data(3, stamped_value(3, 9, 6, 64, &fill)),
                OWNER
            ),
            Err(Invalid::DataStamp),
            "another session's data"
        );
        assert_eq!(
            check(&expect, &get_data(3, good.slice(1..)), OWNER),
            Err(Invalid::DataLength)
        );
        assert_eq!(
            check(&expect, &Response::Empty, OWNER),
            Err(Invalid::Body),
            "the wrong kind of reply"
        );
    }

    #[test]
    fn paths_and_children_are_the_sessions_own() {
        let created = Expect::Created { key: 4 };
        let reply = |path: &str| Response::Create { path: path.into() };
        assert_eq!(check(&created, &reply("/r/s7/k4"), OWNER), Ok(()));
        assert_eq!(
            check(&created, &reply("/r/s7/k40"), OWNER),
            Err(Invalid::CreatedPath)
        );
        assert_eq!(
            check(&created, &reply("/r/s70/k4"), OWNER),
            Err(Invalid::CreatedPath)
        );
        let listing = |names: &[&str]| Response::GetChildren {
            children: names.iter().map(|n| n.to_string()).collect(),
        };
        let expect = Expect::Children(Some((2, fingerprint(1) ^ fingerprint(5))));
        assert_eq!(check(&expect, &listing(&["k5", "k1"]), OWNER), Ok(()));
        assert_eq!(
            check(&expect, &listing(&["k1", "k4"]), OWNER),
            Err(Invalid::Children)
        );
        assert_eq!(
            check(&expect, &listing(&["k1"]), OWNER),
            Err(Invalid::Children)
        );
        assert_eq!(
            check(&expect, &listing(&["k1", "x"]), OWNER),
            Err(Invalid::Children)
        );
        assert_eq!(
            check(&Expect::Children(None), &listing(&["zz"]), OWNER),
            Ok(())
        );
    }

    #[test]
    fn multis_check_every_result_and_report_the_failing_code() {
        let expect = Expect::Multi(vec![
            Expect::Created { key: 1 },
            Expect::Written { key: 2, version: 5 },
            Expect::Deleted { key: 3 },
        ]);
        let stat = |version| Stat {
            version,
            ..Stat::default()
        };
        let ok = Response::Multi(vec![
            MultiResult::Create {
                path: "/r/s7/k1".into(),
            },
            MultiResult::SetData { stat: stat(5) },
            MultiResult::Delete,
        ]);
        assert_eq!(check(&expect, &ok, OWNER), Ok(()));
        assert_eq!(multi_error(&ok), None);
        let stale = Response::Multi(vec![
            MultiResult::Create {
                path: "/r/s7/k1".into(),
            },
            MultiResult::SetData { stat: stat(4) },
            MultiResult::Delete,
        ]);
        assert_eq!(check(&expect, &stale, OWNER), Err(Invalid::Version));
        let short = Response::Multi(vec![MultiResult::Delete]);
        assert_eq!(check(&expect, &short, OWNER), Err(Invalid::MultiShape));
        let failed = Response::Multi(vec![
            MultiResult::Error { err: 0 },
            MultiResult::Error { err: -103 },
            MultiResult::Error { err: -2 },
        ]);
        assert_eq!(multi_error(&failed), Some(-103));
        let mut keys = Vec::new();
        expect.keys(&mut keys);
        assert_eq!(keys, [1, 2, 3]);
    }

    #[test]
    fn owners_name_their_keys() {
        assert_eq!(OWNER.path(12), "/r/s7/k12");
        assert_eq!(OWNER.key_of("/r/s7/k12"), Some(12));
        assert_eq!(OWNER.key_of("/r/s7/x12"), None);
        assert_eq!(OWNER.key_of("/r/s77/k1"), None);
    }
}
