//! What a znode's `ephemeralOwner` means: ZooKeeper's `EphemeralType`.
//!
//! The persisted `ephemeralOwner` is overloaded: 0 is a persistent node, a session id
//! is an ephemeral, `Long.MIN_VALUE` is a container, and (only with
//! `zookeeper.extendedTypesEnabled`) a value whose high byte is `0xff` is a TTL node
//! carrying its TTL in the low 40 bits. Clients see `ephemeralOwner = 0` for
//! containers and TTL nodes (`DataNode.copyStat`).
//!
//! Not supported: `zookeeper.emulate353TTLNodes` (the 3.5.3 TTL encoding,
//! `EphemeralTypeEmulate353`), which only matters for data written by 3.5.3.

use crate::constants::TTL_MS_MAX;
use crate::proto::ErrorCode;

/// `EphemeralType.CONTAINER_EPHEMERAL_OWNER`: the owner value that marks a container,
/// whether or not extended types are enabled.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;

/// `EphemeralType.MAX_EXTENDED_SERVER_ID`: with extended types enabled, a server id
/// must stay below 255 so that its session ids never look like TTL owners.
pub const MAX_EXTENDED_SERVER_ID: i64 = 0xfe;

/// High byte set: an extended owner (`EXTENDED_MASK`).
const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000_u64 as i64;
/// The two bytes naming the extended feature (`RESERVED_BITS_MASK`).
const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
const RESERVED_BITS_SHIFT: u32 = 40;
/// The feature's value bits (`EXTENDED_FEATURE_VALUE_MASK`): the TTL in ms.
const EXTENDED_FEATURE_VALUE_MASK: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);
/// The extended feature number of TTL nodes (`EXTENDED_BIT_TTL`).
const EXTENDED_BIT_TTL: i64 = 0;

const _: () = assert!(TTL_MS_MAX == EXTENDED_FEATURE_VALUE_MASK);

/// The kind of a znode, decoded from its persisted `ephemeralOwner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EphemeralType {
    /// A persistent node (owner 0).
    Void,
    /// An ephemeral owned by this session.
    Normal(i64),
    /// A container: reaped once its last child is gone.
    Container,
    /// A TTL node: reaped when childless and unmodified for this many ms.
    Ttl(i64),
}

impl EphemeralType {
    /// The persisted `ephemeralOwner` that decodes to this type (the inverse of
    /// [`ephemeral_type`] for every owner a tree stores).
    pub const fn ephemeral_owner(self) -> i64 {
        match self {
            EphemeralType::Void => 0,
            EphemeralType::Normal(session_id) => session_id,
            EphemeralType::Container => CONTAINER_EPHEMERAL_OWNER,
            EphemeralType::Ttl(ttl_ms) => {
                EXTENDED_MASK | (EXTENDED_BIT_TTL << RESERVED_BITS_SHIFT) | ttl_ms
            }
        }
    }

    /// The `ephemeralOwner` a client sees in a `Stat`: the session for an ephemeral,
    /// 0 for everything else (`DataNode.getClientEphemeralOwner`).
    pub const fn client_ephemeral_owner(self) -> i64 {
        match self {
            EphemeralType::Normal(session_id) => session_id,
            EphemeralType::Void | EphemeralType::Container | EphemeralType::Ttl(_) => 0,
        }
    }
}

/// Decodes an owner exactly as `EphemeralType.get` does, or `None` for an extended
/// owner naming an unknown feature (ZooKeeper throws `IllegalArgumentException`).
pub fn try_ephemeral_type(owner: i64, extended_types_enabled: bool) -> Option<EphemeralType> {
    if extended_types_enabled && owner & EXTENDED_MASK == EXTENDED_MASK {
        let feature = (owner & RESERVED_BITS_MASK) >> RESERVED_BITS_SHIFT;
        if feature != EXTENDED_BIT_TTL {
            return None;
        }
        return Some(EphemeralType::Ttl(owner & EXTENDED_FEATURE_VALUE_MASK));
    }
    Some(match owner {
        CONTAINER_EPHEMERAL_OWNER => EphemeralType::Container,
        0 => EphemeralType::Void,
        session_id => EphemeralType::Normal(session_id),
    })
}

/// Decodes an owner as `EphemeralType.get` does. An extended owner naming an unknown
/// feature (which ZooKeeper rejects and a [`super::DataTree`] never stores) decodes as
/// `Normal(owner)`; use [`try_ephemeral_type`] to tell it apart.
pub fn ephemeral_type(owner: i64, extended_types_enabled: bool) -> EphemeralType {
    try_ephemeral_type(owner, extended_types_enabled).unwrap_or(EphemeralType::Normal(owner))
}

/// `EphemeralType.TTL.toEphemeralOwner`: the owner of a TTL node, or `BadArguments`
/// unless `0 < ttl_ms <= 2^40 - 1` (prep maps the `IllegalArgumentException` so).
pub fn ttl_to_ephemeral_owner(ttl_ms: i64) -> Result<i64, ErrorCode> {
    if ttl_ms <= 0 || ttl_ms > TTL_MS_MAX {
        return Err(ErrorCode::BadArguments);
    }
    Ok(EphemeralType::Ttl(ttl_ms).ephemeral_owner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_kind() {
        for extended in [false, true] {
            assert_eq!(ephemeral_type(0, extended), EphemeralType::Void);
            assert_eq!(ephemeral_type(i64::MIN, extended), EphemeralType::Container);
            assert_eq!(
                ephemeral_type(0x1234, extended),
                EphemeralType::Normal(0x1234)
            );
            assert_eq!(ephemeral_type(-5, extended), EphemeralType::Normal(-5));
        }
        let ttl_owner = 0xff00_0000_0000_0001_u64 as i64;
        assert_eq!(ephemeral_type(ttl_owner, true), EphemeralType::Ttl(1));
        // Without extended types the same bits are a session of server 255.
        assert_eq!(
            ephemeral_type(ttl_owner, false),
            EphemeralType::Normal(ttl_owner)
        );
        // An extended owner with a non-zero feature number is not a known type.
        let unknown = 0xff00_0100_0000_0001_u64 as i64;
        assert_eq!(try_ephemeral_type(unknown, true), None);
        assert_eq!(
            try_ephemeral_type(unknown, false),
            Some(EphemeralType::Normal(unknown))
        );
        assert_eq!(
            ephemeral_type(unknown, true),
            EphemeralType::Normal(unknown)
        );
    }

    #[test]
    fn ttl_encoding_and_bounds() {
        assert_eq!(
            ttl_to_ephemeral_owner(1),
            Ok(0xff00_0000_0000_0001_u64 as i64)
        );
        assert_eq!(
            ttl_to_ephemeral_owner(0xff_ffff_ffff),
            Ok(0xff00_00ff_ffff_ffff_u64 as i64)
        );
        assert_eq!(ttl_to_ephemeral_owner(0), Err(ErrorCode::BadArguments));
        assert_eq!(ttl_to_ephemeral_owner(-1), Err(ErrorCode::BadArguments));
        assert_eq!(
            ttl_to_ephemeral_owner(1 << 40),
            Err(ErrorCode::BadArguments)
        );
        for ttl_ms in [1, 1000, 0xff_ffff_ffff] {
            let owner = ttl_to_ephemeral_owner(ttl_ms).unwrap();
            assert_eq!(ephemeral_type(owner, true), EphemeralType::Ttl(ttl_ms));
        }
    }

    #[test]
    fn owners_round_trip_and_clients_see_zero_for_special_kinds() {
        for kind in [
            EphemeralType::Void,
            EphemeralType::Normal(7),
            EphemeralType::Container,
            EphemeralType::Ttl(60_000),
        ] {
            assert_eq!(ephemeral_type(kind.ephemeral_owner(), true), kind);
        }
        assert_eq!(EphemeralType::Normal(7).client_ephemeral_owner(), 7);
        assert_eq!(EphemeralType::Container.client_ephemeral_owner(), 0);
        assert_eq!(EphemeralType::Ttl(5).client_ephemeral_owner(), 0);
        assert_eq!(EphemeralType::Void.client_ephemeral_owner(), 0);
    }
}
