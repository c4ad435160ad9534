//! Snapshot encode/decode and the snapshot trigger.

use super::*;
use crate::proto::perms;
use crate::tree::{ttl_to_ephemeral_owner, TreeEvent, CONTAINER_EPHEMERAL_OWNER};

/// A tree with every node kind, null data, shared and distinct ACLs and a
/// deleted child (so persisted and client cversions differ).
fn sample_tree() -> DataTree {
    let mut tree = DataTree::with_extended_types(true);
    let open = tree.intern_acl(&Acl::open_unsafe());
    let read = tree.intern_acl(&[Acl::new(perms::READ, "digest", "bob:hash")]);
    let mut events: Vec<TreeEvent> = Vec::new();
    let mut zxid = 0;
    let mut create = |tree: &mut DataTree, path: &str, owner: i64, acl: &AclListRef| {
        zxid += 1;
        tree.create_node(
            path,
            Bytes::from(format!("data of {path}")),
            acl.clone(),
            owner,
            -1,
            zxid,
            1_000 * zxid,
            &mut events,
        )
        .unwrap();
    };
    create(&mut tree, "/app", 0, &open);
    create(&mut tree, "/app/eph", 0x1234, &open);
    create(&mut tree, "/app/box", CONTAINER_EPHEMERAL_OWNER, &read);
    create(
        &mut tree,
        "/app/ttl",
        ttl_to_ephemeral_owner(60_000).unwrap(),
        &open,
    );
    create(&mut tree, "/app/gone", 0, &open);
    create(&mut tree, "/null", 0, &read);
    tree.delete_node("/app/gone", 7, &mut Vec::new()).unwrap();
    tree.set_data("/null", Bytes::new(), 3, 8, 8_000, &mut Vec::new())
        .unwrap();
    tree.mark_data_null("/null").unwrap();
    tree.set_acl("/app", read.clone(), 2).unwrap();
    tree.set_last_zxid(8);
    tree
}

type AclListRef = crate::tree::AclList;

fn sessions() -> SessionTimeouts {
    [(SessionId(0x1234), 30_000), (SessionId(0x99), 4_000)]
        .into_iter()
        .collect()
}

fn encode(tree: &DataTree, sessions: &SessionTimeouts) -> Vec<u8> {
    encode_snapshot(tree, sessions, Zxid(tree.last_zxid()))
        .flatten()
        .collect()
}

fn assert_same_tree(a: &DataTree, b: &DataTree) {
    assert_eq!(a.nodes_len(), b.nodes_len());
    for (path, node) in a.iter() {
        assert_eq!(b.get(path), Some(node), "{path}");
    }
    assert_eq!(a.last_zxid(), b.last_zxid());
    assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    assert_eq!(a.acl_list_count(), b.acl_list_count());
    assert_eq!(a.ephemerals_count(), b.ephemerals_count());
    assert!(a.containers().eq(b.containers()));
    assert!(a.ttl_nodes().eq(b.ttl_nodes()));
}

#[test]
fn a_snapshot_round_trips_every_node_and_session() {
    let tree = sample_tree();
    let bytes = encode(&tree, &sessions());
    assert_eq!(&bytes[..4], b"CKSN");
    let snapshot = decode_snapshot(&bytes, true).unwrap();
    assert_eq!(snapshot.zxid, Zxid(8));
    assert_eq!(snapshot.sessions, sessions());
    assert_same_tree(&tree, &snapshot.tree);
    assert!(snapshot.tree.get("/null").unwrap().data_null);
    // Interned ACLs stay shared.
    let a = &snapshot.tree.get("/app").unwrap().acl;
    let b = &snapshot.tree.get("/app/box").unwrap().acl;
    assert!(Arc::ptr_eq(a, b));
}

#[test]
fn an_empty_tree_without_sessions_round_trips() {
    let tree = DataTree::new();
    let bytes = encode(&tree, &SessionTimeouts::new());
    let snapshot = decode_snapshot(&bytes, false).unwrap();
    assert_same_tree(&tree, &snapshot.tree);
    assert!(snapshot.sessions.is_empty());
}

#[test]
fn a_large_tree_streams_in_bounded_chunks() {
    let mut tree = DataTree::new();
    let acl = tree.intern_acl(&Acl::open_unsafe());
    for i in 0..5_000 {
        tree.create_node(
            &format!("/n{i}"),
            Bytes::from(vec![7u8; 100]),
            acl.clone(),
            0,
            -1,
            i + 1,
            0,
            &mut Vec::new(),
        )
        .unwrap();
    }
    tree.set_last_zxid(5_000);
    let many: SessionTimeouts = (0..40_000).map(|i| (SessionId(i), 5_000)).collect();
    let chunks: Vec<Vec<u8>> = encode_snapshot(&tree, &many, Zxid(5_000)).collect();
    assert!(chunks.len() > 2);
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(chunk.len() >= SNAPSHOT_CHUNK_BYTES);
        assert!(
            chunk.len() < SNAPSHOT_CHUNK_BYTES + 4096,
            "one node or session past the target"
        );
    }
    let snapshot = decode_snapshot(&chunks.concat(), false).unwrap();
    assert_same_tree(&tree, &snapshot.tree);
    assert_eq!(snapshot.sessions, many);
}

#[test]
fn any_damage_fails_the_checksum_with_its_offset() {
    let bytes = encode(&sample_tree(), &sessions());
    let trailer = bytes.len() - 4;
    for at in [8, 40, bytes.len() / 2, trailer - 1, trailer + 2] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        assert!(
            matches!(
                decode_snapshot(&damaged, true),
                Err(SnapshotError::Checksum { offset, .. }) if offset == trailer
            ),
            "flip at {at}"
        );
    }
    let cut = &bytes[..bytes.len() - 10];
    assert!(matches!(
        decode_snapshot(cut, true),
        Err(SnapshotError::Checksum { offset, .. }) if offset == cut.len() - 4
    ));
    assert_eq!(
        decode_snapshot(&bytes[..20], true).unwrap_err(),
        SnapshotError::TooShort { len: 20 }
    );
}

#[test]
fn other_files_are_named() {
    let mut bytes = encode(&DataTree::new(), &SessionTimeouts::new());
    bytes[..4].copy_from_slice(b"ZKSN");
    assert_eq!(
        decode_snapshot(&bytes, false).unwrap_err(),
        SnapshotError::ZooKeeper
    );
    bytes[..4].copy_from_slice(b"CKLG");
    assert_eq!(
        decode_snapshot(&bytes, false).unwrap_err(),
        SnapshotError::BadMagic { magic: *b"CKLG" }
    );
    let mut newer = encode(&DataTree::new(), &SessionTimeouts::new());
    newer[4] = 9;
    assert_eq!(
        decode_snapshot(&newer, false).unwrap_err(),
        SnapshotError::UnsupportedVersion { version: 9 }
    );
}

#[test]
fn ttl_nodes_need_extended_types_to_load() {
    let bytes = encode(&sample_tree(), &sessions());
    assert!(matches!(
        decode_snapshot(&bytes, false),
        Err(SnapshotError::Node {
            source: RestoreError::Kind { .. },
            ..
        })
    ));
}

/// Re-checksums a body edited by a test, as a buggy writer would produce it.
fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 4;
    let crc = crc32c::crc32c(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn checksummed_nonsense_is_malformed_not_a_panic() {
    let bytes = encode(&DataTree::new(), &SessionTimeouts::new());
    // A node count far beyond the file.
    let mut huge = bytes.clone();
    huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        decode_snapshot(&resealed(huge), false),
        Err(SnapshotError::Malformed { offset: 32, .. })
    ));
    // Bytes after the last session.
    let mut extra = bytes.clone();
    extra.splice(extra.len() - 4..extra.len() - 4, [0u8; 3]);
    assert!(matches!(
        decode_snapshot(&resealed(extra), false),
        Err(SnapshotError::Malformed { .. })
    ));
    // A session count with nothing behind it.
    let mut sessions = bytes;
    sessions[28..32].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        decode_snapshot(&resealed(sessions), false),
        Err(SnapshotError::Malformed { .. })
    ));
}

#[test]
fn snapshots_come_at_a_random_count_in_the_upper_half() {
    for random in [0, 1, 49_999, 50_000, u64::MAX] {
        let mut trigger = SnapshotTrigger::new(100_000, 0, random);
        let mut count = 0;
        while !trigger.logged(100) {
            count += 1;
        }
        count += 1;
        assert!((50_001..=100_000).contains(&count), "{random}: {count}");
        assert_eq!(count, 50_001 + random % 50_000);
        trigger.reset(7);
        assert_eq!(trigger.txns_since_reset(), 0);
    }
    // The smallest snapCount snapshots every other txn.
    let mut trigger = SnapshotTrigger::new(2, 0, 12345);
    assert!(!trigger.logged(1));
    assert!(trigger.logged(1));
}

#[test]
fn snapshots_also_come_by_log_size() {
    let mut trigger = SnapshotTrigger::new(1_000_000, 10_000, 3);
    let mut bytes = 0;
    while !trigger.logged(100) {
        bytes += 100;
    }
    bytes += 100;
    assert!((5_001..=10_100).contains(&bytes), "{bytes}");
    // With the size limit off, only the count matters.
    let mut trigger = SnapshotTrigger::new(4, 0, 0);
    assert!(!trigger.logged(u64::MAX / 2));
    assert!(!trigger.logged(1));
    assert!(trigger.logged(1));
}

#[test]
fn nodes_are_stored_parents_first_by_name() {
    // The root's record: empty name, then its child count.
    let tree = sample_tree();
    let bytes = encode(&tree, &sessions());
    let acl_table_end = {
        // Skip the header and the ACL table by decoding it the long way.
        let mut at = 32;
        let lists = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
        for _ in 0..lists {
            let entries = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            at += 4;
            for _ in 0..entries {
                at += 4;
                for _ in 0..2 {
                    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                    at += 4 + len;
                }
            }
        }
        at
    };
    let root_name_len =
        u32::from_le_bytes(bytes[acl_table_end..acl_table_end + 4].try_into().unwrap());
    let root_children = u32::from_le_bytes(
        bytes[acl_table_end + 4..acl_table_end + 8]
            .try_into()
            .unwrap(),
    );
    assert_eq!(root_name_len, 0);
    assert_eq!(
        root_children as usize,
        tree.get("/").unwrap().children.len()
    );
}

#[test]
fn a_node_count_that_disagrees_with_the_structure_is_malformed() {
    let bytes = encode(&DataTree::new(), &SessionTimeouts::new());
    // One node fewer than the tree holds: /zookeeper's last child never comes.
    let mut short = bytes.clone();
    short[16..24].copy_from_slice(&3u64.to_le_bytes());
    assert!(decode_snapshot(&resealed(short), false).is_err());
    // The root claims one more child than follows.
    let mut more = bytes;
    let root_children_at = 32 + 4 + (4 + 4 + 5 + 4 + 6) + 4 + (4 + 4 + 5 + 4 + 6) + 4;
    let root_children = u32::from_le_bytes(
        more[root_children_at..root_children_at + 4]
            .try_into()
            .unwrap(),
    );
    assert_eq!(root_children, 1, "the layout this test assumes");
    more[root_children_at..root_children_at + 4].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        decode_snapshot(&resealed(more), false),
        Err(SnapshotError::Malformed { .. })
    ));
}

/// Feeds `bytes` to a decoder in pieces of `size` bytes.
fn decode_in_pieces(
    bytes: &[u8],
    size: usize,
    extended_types_enabled: bool,
) -> Result<Snapshot, SnapshotError> {
    let mut decoder = SnapshotDecoder::new(bytes.len() as u64, extended_types_enabled);
    for piece in bytes.chunks(size) {
        decoder.feed(piece);
    }
    decoder.finish()
}

#[test]
fn pieces_of_any_size_decode_as_the_whole() {
    let mut tree = sample_tree();
    let acl = tree.intern_acl(&Acl::open_unsafe());
    // A node much larger than the pieces, so one item spans many of them.
    tree.create_node(
        "/big",
        Bytes::from(vec![9u8; 100_000]),
        acl,
        0,
        -1,
        9,
        9_000,
        &mut Vec::new(),
    )
    .unwrap();
    tree.set_last_zxid(9);
    let bytes = encode(&tree, &sessions());
    for size in [
        1,
        2,
        3,
        7,
        31,
        32,
        33,
        100,
        257,
        1000,
        4096,
        65_536,
        bytes.len(),
    ] {
        let snapshot = decode_in_pieces(&bytes, size, true).unwrap();
        assert_same_tree(&tree, &snapshot.tree);
        assert_eq!(snapshot.sessions, sessions(), "{size}");
        assert_eq!(snapshot.zxid, Zxid(9));
    }
}

#[test]
fn pieces_give_the_verdict_of_the_whole() {
    let bytes = encode(&sample_tree(), &sessions());
    let empty = encode(&DataTree::new(), &SessionTimeouts::new());
    let mut cases: Vec<(Vec<u8>, bool)> = Vec::new();
    for at in [8, 40, bytes.len() / 2, bytes.len() - 5, bytes.len() - 2] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        cases.push((damaged, true));
    }
    cases.push((bytes[..bytes.len() - 10].to_vec(), true));
    cases.push((bytes[..20].to_vec(), true));
    cases.push((bytes.clone(), false));
    for magic in [b"ZKSN", b"CKLG"] {
        let mut other = empty.clone();
        other[..4].copy_from_slice(magic);
        cases.push((other, false));
    }
    let mut newer = empty.clone();
    newer[4] = 9;
    cases.push((newer, false));
    let mut huge = empty.clone();
    huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    cases.push((resealed(huge), false));
    let mut extra = empty.clone();
    extra.splice(extra.len() - 4..extra.len() - 4, [0u8; 3]);
    cases.push((resealed(extra), false));
    let mut short = empty.clone();
    short[16..24].copy_from_slice(&3u64.to_le_bytes());
    cases.push((resealed(short), false));
    let mut no_sessions = empty;
    no_sessions[28..32].copy_from_slice(&1u32.to_le_bytes());
    cases.push((resealed(no_sessions), false));
    for (case, (bytes, extended)) in cases.iter().enumerate() {
        let whole = decode_snapshot(bytes, *extended).unwrap_err();
        for size in [1, 3, 17, 256, bytes.len().max(1)] {
            assert_eq!(
                decode_in_pieces(bytes, size, *extended).unwrap_err(),
                whole,
                "case {case}, pieces of {size}"
            );
        }
    }
}

#[test]
fn a_file_that_ends_early_is_an_error() {
    let bytes = encode(&sample_tree(), &sessions());
    let mut decoder = SnapshotDecoder::new(bytes.len() as u64 + 10, true);
    decoder.feed(&bytes);
    assert_eq!(
        decoder.finish().unwrap_err(),
        SnapshotError::Malformed {
            offset: bytes.len(),
            what: "the file ended before its announced length"
        }
    );
    // Bytes past the announced length are not part of the file.
    let mut decoder = SnapshotDecoder::new(bytes.len() as u64, true);
    decoder.feed(&[bytes.as_slice(), b"more"].concat());
    assert_same_tree(&sample_tree(), &decoder.finish().unwrap().tree);
}
