//! ACL rules: `PrepRequestProcessor.fixupACL`, `ZooKeeperServer.checkACL`, the
//! `digest` and `ip` authentication providers, and the digest masking of `getACL`.
//!
//! The provider set is ZooKeeper's default (`ProviderRegistry.initialize`): `ip`
//! and `digest`. `world:anyone` is built in, `auth` is expanded at create/setACL
//! time, and an `Id` with scheme `super` (given to a client whose digest matches
//! `superDigest`) passes every check. Schemes with no provider (`sasl`, `x509`
//! unless configured in ZooKeeper) are rejected by `fixup_acl` and never match.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::proto::{Acl, ErrorCode, Id};

/// `world`: the built-in scheme whose only id is `anyone`.
pub const SCHEME_WORLD: &str = "world";
/// `auth`: stands for the creator's authenticated ids; never stored on a node.
pub const SCHEME_AUTH: &str = "auth";
/// `digest`: `user:base64(sha1("user:password"))`, matched exactly.
pub const SCHEME_DIGEST: &str = "digest";
/// `ip`: an address or `addr/bits` prefix, IPv4 or IPv6.
pub const SCHEME_IP: &str = "ip";
/// `super`: the superuser id, which bypasses every ACL.
pub const SCHEME_SUPER: &str = "super";
/// The id of `world`.
pub const ID_ANYONE: &str = "anyone";

/// `DigestAuthenticationProvider.generateDigest`: the `digest` id for `user:password`,
/// i.e. `user + ":" + base64(sha1("user:password"))` over the whole UTF-8 string.
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// `ZooKeeperServer.checkACL` without `skipACL` (the caller's business): whether
/// `ids` may do `perm` on a node with `acl`. An empty ACL allows everything; a
/// `super` id allows everything; otherwise some entry with a `perm` bit must be
/// `world:anyone` or match one of `ids` of its scheme.
pub fn check_acl(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if acl.is_empty() || ids.iter().any(|id| id.scheme == SCHEME_SUPER) {
        return true;
    }
    acl.iter()
        .filter(|entry| entry.perms & perm != 0)
        .any(|entry| {
            let acl_id = &entry.id;
            if acl_id.scheme == SCHEME_WORLD && acl_id.id == ID_ANYONE {
                return true;
            }
            ids.iter()
                .filter(|id| id.scheme == acl_id.scheme)
                .any(|id| provider_matches(&acl_id.scheme, &id.id, &acl_id.id))
        })
}

/// `AuthenticationProvider.matches` of the registered providers.
fn provider_matches(scheme: &str, id: &str, acl_expr: &str) -> bool {
    match scheme {
        SCHEME_DIGEST => id == acl_expr,
        SCHEME_IP => ip_matches(id, acl_expr),
        _ => false,
    }
}

/// `PrepRequestProcessor.fixupACL`: the ACL a create or setACL stores. Duplicates
/// are removed (first occurrence kept); an empty list is `InvalidAcl`; `auth`
/// entries become one entry per authenticated id of the caller (`digest` ids: `ip`
/// is not an authenticating provider and `super` has none), `InvalidAcl` if there is
/// none; `world` must be `anyone`; `digest` and `ip` ids must be well formed; any
/// other scheme is `InvalidAcl`. Expanded `auth` entries are not deduplicated again,
/// as in ZooKeeper.
pub fn fixup_acl(acl: &[Acl], auth_ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for entry in unique {
        let id = &entry.id;
        if id.scheme == SCHEME_WORLD && id.id == ID_ANYONE {
            fixed.push(entry.clone());
        } else if id.scheme == SCHEME_AUTH {
            let before = fixed.len();
            for auth_id in auth_ids
                .iter()
                .filter(|auth_id| is_authenticating_scheme(&auth_id.scheme))
            {
                fixed.push(Acl {
                    perms: entry.perms,
                    id: auth_id.clone(),
                });
            }
            if fixed.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&id.scheme, &id.id) {
            fixed.push(entry.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(fixed)
}

/// Whether the provider of `scheme` `isAuthenticated()` (only those ids replace `auth`).
fn is_authenticating_scheme(scheme: &str) -> bool {
    scheme == SCHEME_DIGEST
}

/// `AuthenticationProvider.isValid` of the registered providers; `false` for a
/// scheme with no provider (including `world` with an id other than `anyone`).
pub fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        SCHEME_DIGEST => is_valid_digest_id(id),
        SCHEME_IP => is_valid_ip_id(id),
        _ => false,
    }
}

/// `DigestAuthenticationProvider.isValid`: `id.split(":")` has exactly two parts.
/// Java's `split` drops trailing empty strings, so `"u:h:"` is valid and `"u:"` is not.
pub fn is_valid_digest_id(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    if id.is_empty() {
        return false;
    }
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// What `getACL` returns to a caller without `ADMIN` on the node (ZOOKEEPER-1392, 3.8
/// and 3.9 `FinalRequestProcessor`): every `digest` id rewritten by the Java regex
/// `replaceAll(":.*", ":x")`, i.e. `user:hash` becomes `user:x`.
pub fn mask_digests_for_read(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|entry| {
            if entry.id.scheme != SCHEME_DIGEST {
                return entry.clone();
            }
            Acl {
                perms: entry.perms,
                id: Id::new(SCHEME_DIGEST, mask_after_colon(&entry.id.id)),
            }
        })
        .collect()
}

/// Java `s.replaceAll(":.*", ":x")`: `.` stops at Java's line terminators.
fn mask_after_colon(id: &str) -> String {
    let mut masked = String::with_capacity(id.len());
    let mut in_match = false;
    for c in id.chars() {
        if in_match {
            if matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}') {
                in_match = false;
                masked.push(c);
            }
        } else if c == ':' {
            masked.push_str(":x");
            in_match = true;
        } else {
            masked.push(c);
        }
    }
    masked
}

/// An address as `IPAuthenticationProvider.addr2Bytes` returns it: 4 or 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct IpBytes {
    bytes: [u8; 16],
    len: usize,
}

impl IpBytes {
    fn bits(&self) -> i32 {
        (self.len * 8) as i32
    }

    /// `IPAuthenticationProvider.mask`: keep the first `bits` bits.
    fn mask(&mut self, bits: i32) {
        assert!(bits >= 0);
        let start = (bits / 8) as usize;
        let mut start_mask = !((1i32 << (8 - bits % 8)) - 1) as u8;
        for byte in self.bytes[..self.len].iter_mut().skip(start) {
            *byte &= start_mask;
            start_mask = 0;
        }
    }
}

/// `IPAuthenticationProvider.addr2Bytes`: IPv6 if the text has a `:`, else IPv4 if it
/// has a `.`, else nothing.
fn addr_to_bytes(addr: &str) -> Option<IpBytes> {
    if addr.contains(':') {
        v6_addr_to_bytes(addr)
    } else if addr.contains('.') {
        v4_addr_to_bytes(addr)
    } else {
        None
    }
}

/// `v4addr2Bytes`: four `Integer.parseInt` parts in `0..=255`.
fn v4_addr_to_bytes(addr: &str) -> Option<IpBytes> {
    let mut ip = IpBytes {
        bytes: [0; 16],
        len: 4,
    };
    let mut parts = addr.split('.');
    for byte in ip.bytes.iter_mut().take(4) {
        let value: i32 = parts.next()?.parse().ok()?;
        *byte = u8::try_from(value).ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(ip),
    }
}

/// `parseV6addr`: eight hex segments, or fewer around one `::`.
fn v6_addr_to_bytes(addr: &str) -> Option<IpBytes> {
    const SEGMENTS: usize = 8;
    let mut ip = IpBytes {
        bytes: [0; 16],
        len: 16,
    };
    let halves: Vec<&str> = addr.split("::").collect();
    let (head, tail) = match halves.as_slice() {
        [whole] => {
            let head: Vec<&str> = whole.split(':').collect();
            if head.len() != SEGMENTS {
                return None;
            }
            (head, Vec::new())
        }
        [left, right] => {
            let (head, tail) = (split_segments(left), split_segments(right));
            if head.len() + tail.len() >= SEGMENTS {
                return None;
            }
            (head, tail)
        }
        _ => return None,
    };
    parse_v6_segments(&mut ip.bytes[..head.len() * 2], &head)?;
    parse_v6_segments(&mut ip.bytes[16 - tail.len() * 2..], &tail)?;
    Some(ip)
}

/// The `:`-separated segments on one side of a `::` (none if that side is empty).
fn split_segments(half: &str) -> Vec<&str> {
    if half.is_empty() {
        Vec::new()
    } else {
        half.split(':').collect()
    }
}

/// `parseV6Segment`: each segment is 1 to 4 characters of `Integer.parseInt(s, 16)`.
fn parse_v6_segments(out: &mut [u8], segments: &[&str]) -> Option<()> {
    for (pair, segment) in out.chunks_exact_mut(2).zip(segments) {
        if segment.is_empty() || segment.chars().count() > 4 {
            return None;
        }
        let value = i32::from_str_radix(segment, 16).ok()?;
        pair[0] = (value >> 8) as u8;
        pair[1] = value as u8;
    }
    Some(())
}

/// Splits `addr[/bits]` and checks the mask length as `isValid` and `matches` do.
fn parse_ip_expr(expr: &str) -> Option<(IpBytes, i32)> {
    let mut parts = expr.splitn(2, '/');
    let ip = addr_to_bytes(parts.next().unwrap_or(""))?;
    let bits = match parts.next() {
        None => ip.bits(),
        Some(bits) => bits
            .parse::<i32>()
            .ok()
            .filter(|bits| (0..=ip.bits()).contains(bits))?,
    };
    Some((ip, bits))
}

/// `IPAuthenticationProvider.isValid`: an IPv4/IPv6 address, optionally `/bits`
/// with `0 <= bits <= address bits`.
pub fn is_valid_ip_id(id: &str) -> bool {
    parse_ip_expr(id).is_some()
}

/// `IPAuthenticationProvider.matches`: whether the client address `id` lies in the
/// ACL expression `addr[/bits]`. IPv4 never matches IPv6 and vice versa.
pub fn ip_matches(id: &str, acl_expr: &str) -> bool {
    let Some((mut acl_ip, bits)) = parse_ip_expr(acl_expr) else {
        return false;
    };
    let Some(mut remote_ip) = addr_to_bytes(id) else {
        return false;
    };
    acl_ip.mask(bits);
    remote_ip.mask(bits);
    remote_ip == acl_ip
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::perms;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl::new(perms, scheme, id)
    }

    #[test]
    fn digest_known_vectors() {
        // The value ZooKeeper's docs and `DigestAuthenticationProvider.main` give.
        assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        // Independently: SHA-1("super:test") in hex (any sha1sum), then standard base64.
        let hex = "0ff22720749bef21046eb5b3f1bf65ef54636495";
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(raw),
            "D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        // FIPS 180 "abc" vector (a9993e36...d89d), base64 encoded.
        assert_eq!(digest("abc"), "abc:qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        // Only the part before the first ':' names the user; no ':' at all still works.
        assert!(digest("a:b:c").starts_with("a:"));
        assert!(digest("nocolon").starts_with("nocolon:"));
        assert_ne!(digest("a:b:c"), digest("a:b"));
    }

    #[test]
    fn world_anyone_allows_by_bits() {
        let open = Acl::open_unsafe();
        assert!(check_acl(&open, perms::READ, &[]));
        let read_only = [acl(perms::READ, "world", "anyone")];
        assert!(check_acl(&read_only, perms::READ, &[]));
        assert!(!check_acl(&read_only, perms::WRITE, &[]));
        assert!(check_acl(&read_only, perms::READ | perms::ADMIN, &[]));
        // Only the exact id "anyone" is the world id.
        assert!(!check_acl(
            &[acl(perms::ALL, "world", "Anyone")],
            perms::READ,
            &[Id::new("world", "Anyone")]
        ));
    }

    #[test]
    fn empty_acl_and_super_allow_everything() {
        assert!(check_acl(&[], perms::ADMIN, &[]));
        let locked = [acl(perms::READ, "digest", "bob:x")];
        assert!(!check_acl(&locked, perms::WRITE, &[]));
        assert!(check_acl(&locked, perms::WRITE, &[Id::new("super", "")]));
    }

    #[test]
    fn digest_ids_match_exactly() {
        let bob = digest("bob:secret");
        let node = [acl(perms::READ | perms::WRITE, "digest", &bob)];
        assert!(check_acl(
            &node,
            perms::WRITE,
            &[Id::new("ip", "127.0.0.1"), Id::new("digest", bob.clone())]
        ));
        assert!(!check_acl(
            &node,
            perms::WRITE,
            &[Id::new("digest", digest("bob:wrong"))]
        ));
        assert!(!check_acl(
            &node,
            perms::DELETE,
            &[Id::new("digest", bob.clone())]
        ));
        // The scheme must match too.
        assert!(!check_acl(&node, perms::READ, &[Id::new("ip", bob)]));
    }

    #[test]
    fn ip_prefixes_v4() {
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("10.255.255.255", "10.0.0.0/8"));
        assert!(!ip_matches("11.0.0.1", "10.0.0.0/8"));
        assert!(ip_matches("192.168.1.77", "192.168.1.0/24"));
        assert!(!ip_matches("192.168.2.77", "192.168.1.0/24"));
        assert!(ip_matches("192.168.1.77", "192.168.1.64/26"));
        assert!(!ip_matches("192.168.1.128", "192.168.1.64/26"));
        assert!(ip_matches("1.2.3.4", "1.2.3.4"));
        assert!(!ip_matches("1.2.3.5", "1.2.3.4"));
        assert!(ip_matches("8.8.8.8", "0.0.0.0/0"));
        assert!(ip_matches("10.0.0.1", "10.0.0.1/32"));
        assert!(!ip_matches("10.0.0.1", "10.0.0.1/33"));
        assert!(!ip_matches("10.0.0.1", "10.0.0.1/-1"));
        assert!(!ip_matches("10.0.0.1", "10.0.0.1/x"));
        assert!(!ip_matches("10.0.0.256", "10.0.0.0/8"));
        assert!(!ip_matches("10.0.0", "10.0.0.0/8"));
        assert!(!ip_matches("10.0.0.1", "localhost"));
    }

    #[test]
    fn ip_prefixes_v6() {
        assert!(ip_matches("::1", "::1"));
        assert!(ip_matches("0:0:0:0:0:0:0:1", "::1"));
        assert!(!ip_matches("::2", "::1"));
        assert!(ip_matches("2001:db8::42", "2001:db8::/32"));
        assert!(ip_matches("2001:db8:ffff:1::9", "2001:db8::/32"));
        assert!(!ip_matches("2001:db9::1", "2001:db8::/32"));
        assert!(ip_matches("fe80::1:2", "fe80::/10"));
        assert!(ip_matches("febf::1", "fe80::/10"));
        assert!(!ip_matches("fec0::1", "fe80::/10"));
        assert!(ip_matches("1::", "1:0:0:0:0:0:0:0"));
        assert!(ip_matches("2001:db8::1", "2001:db8::1/128"));
        assert!(!ip_matches("2001:db8::1", "2001:db8::1/129"));
        // IPv4 and IPv6 never match each other, even with /0.
        assert!(!ip_matches("10.0.0.1", "::/0"));
        assert!(!ip_matches("::1", "0.0.0.0/0"));
        // Malformed addresses.
        assert!(!ip_matches("1:2:3:4:5:6:7", "::/0"));
        assert!(!ip_matches("1:2:3:4:5:6:7:8:9", "::/0"));
        assert!(!ip_matches("1::2::3", "::/0"));
        assert!(!ip_matches("1:2:3:4::5:6:7:8", "::/0"));
        assert!(!ip_matches("12345::1", "::/0"));
        assert!(!ip_matches("g::1", "::/0"));
        assert!(!ip_matches("::ffff:1.2.3.4", "::/0"));
        assert!(!ip_matches(":::", "::/0"));
    }

    #[test]
    fn ip_scheme_in_check_acl() {
        let node = [acl(perms::ALL, "ip", "10.0.0.0/8")];
        assert!(check_acl(
            &node,
            perms::READ,
            &[Id::new("ip", "10.20.30.40")]
        ));
        assert!(!check_acl(
            &node,
            perms::READ,
            &[Id::new("ip", "192.168.0.1")]
        ));
        let v6 = [acl(perms::READ, "ip", "2001:db8::/32")];
        assert!(check_acl(&v6, perms::READ, &[Id::new("ip", "2001:db8::7")]));
    }

    #[test]
    fn valid_ids() {
        assert!(is_valid_ip_id("10.0.0.0/8"));
        assert!(is_valid_ip_id("1.2.3.4"));
        assert!(is_valid_ip_id("::1"));
        assert!(is_valid_ip_id("2001:db8::/32"));
        assert!(!is_valid_ip_id("1.2.3.4/33"));
        assert!(!is_valid_ip_id("1.2.3"));
        assert!(!is_valid_ip_id("host.example"));
        assert!(!is_valid_ip_id(""));
        assert!(is_valid_digest_id("u:hash"));
        assert!(is_valid_digest_id("u:hash:"));
        assert!(is_valid_digest_id(":hash"));
        assert!(!is_valid_digest_id("u:"));
        assert!(!is_valid_digest_id("u"));
        assert!(!is_valid_digest_id(":"));
        assert!(!is_valid_digest_id(""));
        assert!(!is_valid_digest_id("a:b:c"));
    }

    #[test]
    fn fixup_rules() {
        let bob = Id::new("digest", digest("bob:pw"));
        let ip = Id::new("ip", "127.0.0.1");
        let sup = Id::new("super", "");
        // Empty.
        assert_eq!(
            fixup_acl(&[], std::slice::from_ref(&bob)),
            Err(ErrorCode::InvalidAcl)
        );
        // world:anyone kept; duplicates removed, first kept.
        let open = acl(perms::ALL, "world", "anyone");
        assert_eq!(
            fixup_acl(&[open.clone(), open.clone()], &[]),
            Ok(vec![open.clone()])
        );
        // world with another id is not valid.
        assert_eq!(
            fixup_acl(&[acl(perms::ALL, "world", "nobody")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // auth expands to authenticated (digest) ids only: not ip, not super.
        let auth = acl(perms::ALL, "auth", "");
        assert_eq!(
            fixup_acl(
                std::slice::from_ref(&auth),
                &[ip.clone(), sup.clone(), bob.clone()]
            ),
            Ok(vec![Acl {
                perms: perms::ALL,
                id: bob.clone()
            }])
        );
        assert_eq!(
            fixup_acl(std::slice::from_ref(&auth), &[ip.clone(), sup]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(std::slice::from_ref(&auth), &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // Two auth entries with different perms both expand (no second dedup).
        let alice = Id::new("digest", digest("alice:pw"));
        assert_eq!(
            fixup_acl(
                &[auth.clone(), acl(perms::READ, "auth", "x")],
                &[bob.clone(), alice.clone()]
            ),
            Ok(vec![
                Acl {
                    perms: perms::ALL,
                    id: bob.clone()
                },
                Acl {
                    perms: perms::ALL,
                    id: alice.clone()
                },
                Acl {
                    perms: perms::READ,
                    id: bob.clone()
                },
                Acl {
                    perms: perms::READ,
                    id: alice
                },
            ])
        );
        // digest ids need user:hash form; ip ids must parse.
        assert!(fixup_acl(&[acl(perms::READ, "digest", "bob:abc")], &[]).is_ok());
        assert_eq!(
            fixup_acl(&[acl(perms::READ, "digest", "bob")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(fixup_acl(&[acl(perms::READ, "ip", "10.0.0.0/8")], &[]).is_ok());
        assert_eq!(
            fixup_acl(&[acl(perms::READ, "ip", "10.0.0.0/40")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // Unknown schemes, and super, have no provider.
        for scheme in ["sasl", "x509", "super", "bogus"] {
            assert_eq!(
                fixup_acl(&[acl(perms::READ, scheme, "x")], &[]),
                Err(ErrorCode::InvalidAcl),
                "{scheme}"
            );
        }
        // One bad entry fails the whole list.
        assert_eq!(
            fixup_acl(&[open, acl(perms::READ, "ip", "nope")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn masking_for_readers_without_admin() {
        let list = [
            acl(perms::ALL, "digest", "bob:D/InIHSb7yEEbrWz8b9l71RjZJU="),
            acl(perms::READ, "world", "anyone"),
            acl(perms::READ, "ip", "::1"),
            acl(perms::READ, "digest", "nohash"),
            acl(perms::READ, "digest", "a:b:c\nd:e"),
        ];
        let masked = mask_digests_for_read(&list);
        assert_eq!(masked[0], acl(perms::ALL, "digest", "bob:x"));
        assert_eq!(masked[1], list[1]);
        assert_eq!(masked[2], list[2]);
        assert_eq!(masked[3], list[3]);
        assert_eq!(masked[4], acl(perms::READ, "digest", "a:x\nd:x"));
    }
}
