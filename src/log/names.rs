//! File names: `log.<first zxid hex>` and `snapshot.<zxid hex>`, as ZooKeeper's
//! `FileTxnLog`/`FileSnap` name them (`Long.toHexString`: lower-case, no leading
//! zeros). We accept only that canonical form, so each zxid has one name.

use std::fmt;

use crate::types::Zxid;

const SEGMENT_PREFIX: &str = "log.";
const SNAPSHOT_PREFIX: &str = "snapshot.";
/// Suffix of a snapshot still being written; renamed away once complete.
const TEMP_SUFFIX: &str = ".tmp";

/// A log segment: its file name carries the zxid of its first record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName {
    /// The zxid of the first record in the segment.
    pub first_zxid: Zxid,
}

/// A snapshot: its file name carries the zxid of the tree version it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotName {
    /// The zxid of the last txn applied to the tree it holds.
    pub zxid: Zxid,
}

impl SegmentName {
    /// Parses `log.<hex>`; `None` for any other name.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let first_zxid = parse_hex(name.strip_prefix(SEGMENT_PREFIX)?)?;
        Some(SegmentName { first_zxid })
    }
}

impl SnapshotName {
    /// Parses `snapshot.<hex>`; `None` for any other name (temp names included).
    pub fn parse(name: &str) -> Option<SnapshotName> {
        let zxid = parse_hex(name.strip_prefix(SNAPSHOT_PREFIX)?)?;
        Some(SnapshotName { zxid })
    }

    /// The name to write the snapshot under before renaming it to its own name.
    pub fn temp_name(&self) -> String {
        format!("{self}{TEMP_SUFFIX}")
    }

    /// Whether `name` is a snapshot's temp name (left behind by a crash mid-write).
    pub fn is_temp_name(name: &str) -> bool {
        name.strip_suffix(TEMP_SUFFIX)
            .and_then(SnapshotName::parse)
            .is_some()
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SEGMENT_PREFIX}{:x}", self.first_zxid.0)
    }
}

impl fmt::Display for SnapshotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SNAPSHOT_PREFIX}{:x}", self.zxid.0)
    }
}

/// A canonical non-negative zxid in lower-case hex: 1 to 16 digits, no leading
/// zero unless the value is 0.
fn parse_hex(digits: &str) -> Option<Zxid> {
    let canonical = !digits.is_empty()
        && digits.len() <= 16
        && digits
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    let value = u64::from_str_radix(digits, 16).ok()?;
    i64::try_from(value).ok().map(Zxid)
}

/// Parses the zxid of a ZooKeeper file name as `Util.getZxidFromName` does
/// (`<prefix>.<hex>[.<anything>]`, any case), for recognising its data directories.
pub(crate) fn zookeeper_zxid(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
    let hex = rest.split('.').next()?;
    i64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_like_zookeeper() {
        let segment = SegmentName {
            first_zxid: Zxid::new(1, 0x2a),
        };
        assert_eq!(segment.to_string(), "log.10000002a");
        assert_eq!(SegmentName::parse("log.10000002a"), Some(segment));
        let snapshot = SnapshotName { zxid: Zxid(0) };
        assert_eq!(snapshot.to_string(), "snapshot.0");
        assert_eq!(SnapshotName::parse("snapshot.0"), Some(snapshot));
        let max = SnapshotName {
            zxid: Zxid(i64::MAX),
        };
        assert_eq!(SnapshotName::parse(&max.to_string()), Some(max));
    }

    #[test]
    fn only_canonical_names_parse() {
        for bad in [
            "log.",
            "log.0x1",
            "log.01",
            "log.A",
            "log.1.tmp",
            "log.ffffffffffffffff",
            "log.11111111111111111",
            "snapshot.1.tmp",
            "snapshot.-1",
            "logs.1",
            "Log.1",
        ] {
            assert_eq!(SegmentName::parse(bad), None, "{bad}");
            assert_eq!(SnapshotName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn temp_names_are_recognised() {
        let name = SnapshotName { zxid: Zxid(0x1f) };
        assert_eq!(name.temp_name(), "snapshot.1f.tmp");
        assert!(SnapshotName::is_temp_name(&name.temp_name()));
        assert!(!SnapshotName::is_temp_name("snapshot.1f"));
        assert!(!SnapshotName::is_temp_name("log.1f.tmp"));
    }

    #[test]
    fn zookeeper_names_parse_leniently() {
        assert_eq!(zookeeper_zxid("log.100000001", "log"), Some(0x1_0000_0001));
        assert_eq!(zookeeper_zxid("snapshot.1F.snappy", "snapshot"), Some(0x1f));
        assert_eq!(zookeeper_zxid("snapshot.x", "snapshot"), None);
        assert_eq!(zookeeper_zxid("acceptedEpoch", "log"), None);
    }
}
