//! Znode path rules: `PathUtils.validatePath`, parent/name splitting, sequential names.
//!
//! ZooKeeper validates Java strings (UTF-16). A Rust `str` cannot hold lone
//! surrogates, but every character outside the Basic Multilingual Plane is a
//! surrogate pair in Java and so falls in the rejected `\uD800-\uF8FF` range: we
//! reject it the same way. Character positions in messages count UTF-16 units, as
//! Java's do (they coincide with char counts up to the first rejected character).

use crate::constants::SEQUENCE_DIGITS;
use crate::proto::ErrorCode;

/// A path `PathUtils.validatePath` rejects, with ZooKeeper's message text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    /// The `IllegalArgumentException` message ZooKeeper would log.
    pub message: String,
}

impl PathError {
    /// The code a client gets for a bad path (`BadArgumentsException`).
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::BadArguments
    }
}

impl From<PathError> for ErrorCode {
    fn from(error: PathError) -> ErrorCode {
        error.code()
    }
}

/// `PathUtils.validatePath(path, isSequential)`: a sequential create validates
/// `path + "1"`, which allows a trailing `/` before the suffix (and the message
/// shows the path with that `1`, as ZooKeeper's does).
pub fn validate_path(path: &str, sequential: bool) -> Result<(), PathError> {
    let suffix = if sequential { "1" } else { "" };
    validate_chars(path, suffix).map_err(|reason| PathError {
        message: reason.message(path, suffix),
    })
}

/// Why a path is invalid, before it is rendered into ZooKeeper's text.
enum Invalid {
    Empty,
    NoLeadingSlash,
    TrailingSlash,
    /// `reason @index` inside the path.
    At(&'static str, usize),
}

impl Invalid {
    fn message(&self, path: &str, suffix: &str) -> String {
        match self {
            Invalid::Empty => "Path length must be > 0".to_string(),
            Invalid::NoLeadingSlash => "Path must start with / character".to_string(),
            Invalid::TrailingSlash => "Path must not end with / character".to_string(),
            Invalid::At(reason, index) => {
                format!("Invalid path string \"{path}{suffix}\" caused by {reason} @{index}")
            }
        }
    }
}

/// The checks of `PathUtils.validatePath(String)` over `path + suffix`, without
/// allocating.
fn validate_chars(path: &str, suffix: &str) -> Result<(), Invalid> {
    let first = path.chars().next().or_else(|| suffix.chars().next());
    let last = suffix.chars().last().or_else(|| path.chars().last());
    match first {
        None => return Err(Invalid::Empty),
        Some('/') => {}
        Some(_) => return Err(Invalid::NoLeadingSlash),
    }
    if path.len() + suffix.len() == 1 {
        return Ok(());
    }
    if last == Some('/') {
        return Err(Invalid::TrailingSlash);
    }
    let mut chars = path.chars().chain(suffix.chars()).peekable();
    let mut before_last = '\0';
    let mut last = chars.next().unwrap_or('/');
    let mut index = 0usize;
    while let Some(c) = chars.next() {
        index += 1;
        let next_ends_segment = matches!(chars.peek(), None | Some('/'));
        if c == '\0' {
            return Err(Invalid::At("null character not allowed", index));
        } else if c == '/' && last == '/' {
            return Err(Invalid::At("empty node name specified", index));
        } else if c == '.' && last == '.' {
            if before_last == '/' && next_ends_segment {
                return Err(Invalid::At("relative paths not allowed", index));
            }
        } else if c == '.' {
            if last == '/' && next_ends_segment {
                return Err(Invalid::At("relative paths not allowed", index));
            }
        } else if is_invalid_char(c) {
            return Err(Invalid::At("invalid character", index));
        }
        before_last = last;
        last = c;
    }
    Ok(())
}

/// The character ranges `validatePath` rejects. Characters above U+FFFF are
/// surrogate pairs in Java, inside the rejected `\uD800-\uF8FF`.
fn is_invalid_char(c: char) -> bool {
    matches!(c, '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..)
}

/// The parent of a znode path: `"/a/b"` -> `"/a"`, `"/a"` -> `"/"`. The root and
/// strings without a `/` have no parent: `""`.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => "/",
        Some(0) | None => "",
        Some(slash) => &path[..slash],
    }
}

/// The last component of a znode path: `"/a/b"` -> `"b"`; `""` for the root.
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// The name a sequential create gets: `path` followed by the parent's persisted
/// cversion as `%010d` (a signed `int`, so `-2147483648` after the wrap).
pub fn sequential_name(path: &str, parent_cversion: i32) -> String {
    format!("{path}{parent_cversion:0width$}", width = SEQUENCE_DIGITS)
}

/// `DataTree.isSpecialPath`: the root and the system nodes, which no request may
/// delete (prep answers `BadArguments`).
pub fn is_special_path(path: &str) -> bool {
    matches!(path, "/" | ZOOKEEPER_PATH | QUOTA_PATH | CONFIG_PATH)
}

/// `Quotas.procZookeeper`: the system subtree.
pub const ZOOKEEPER_PATH: &str = "/zookeeper";
/// `Quotas.quotaZookeeper`: where quotas are recorded.
pub const QUOTA_PATH: &str = "/zookeeper/quota";
/// `ZooDefs.CONFIG_NODE`: the dynamic configuration, readable by all.
pub const CONFIG_PATH: &str = "/zookeeper/config";

#[cfg(test)]
mod tests {
    use super::*;

    fn message(path: &str, sequential: bool) -> Option<String> {
        validate_path(path, sequential).err().map(|e| e.message)
    }

    #[test]
    fn validate_path_table() {
        let ok = |p: &str| assert_eq!(message(p, false), None, "{p:?} should be valid");
        for path in [
            "/",
            "/a",
            "/zookeeper",
            "/zookeeper/config",
            "/a/b/c",
            "/a.b",
            "/.a",
            "/a.",
            "/...",
            "/a/..b",
            "/a/b..",
            "/ a",
            "/\u{a0}",
            "/\u{d7ff}",
            "/\u{f900}",
            "/\u{ffef}",
            "/caf\u{e9}",
        ] {
            ok(path);
        }
        let table: &[(&str, &str)] = &[
            ("", "Path length must be > 0"),
            ("a", "Path must start with / character"),
            ("a/b", "Path must start with / character"),
            ("/a/", "Path must not end with / character"),
            ("//", "Path must not end with / character"),
            (
                "/a//b",
                "Invalid path string \"/a//b\" caused by empty node name specified @3",
            ),
            (
                "//a",
                "Invalid path string \"//a\" caused by empty node name specified @1",
            ),
            (
                "/.",
                "Invalid path string \"/.\" caused by relative paths not allowed @1",
            ),
            (
                "/..",
                "Invalid path string \"/..\" caused by relative paths not allowed @2",
            ),
            (
                "/a/..",
                "Invalid path string \"/a/..\" caused by relative paths not allowed @4",
            ),
            (
                "/a/./b",
                "Invalid path string \"/a/./b\" caused by relative paths not allowed @3",
            ),
            (
                "/a/../b",
                "Invalid path string \"/a/../b\" caused by relative paths not allowed @4",
            ),
            (
                "/\u{0}",
                "Invalid path string \"/\u{0}\" caused by null character not allowed @1",
            ),
            (
                "/a\u{0}b",
                "Invalid path string \"/a\u{0}b\" caused by null character not allowed @2",
            ),
            (
                "/\u{1}",
                "Invalid path string \"/\u{1}\" caused by invalid character @1",
            ),
            (
                "/\u{1f}",
                "Invalid path string \"/\u{1f}\" caused by invalid character @1",
            ),
            (
                "/\u{7f}",
                "Invalid path string \"/\u{7f}\" caused by invalid character @1",
            ),
            (
                "/\u{9f}",
                "Invalid path string \"/\u{9f}\" caused by invalid character @1",
            ),
            (
                "/ab\u{e000}",
                "Invalid path string \"/ab\u{e000}\" caused by invalid character @3",
            ),
            (
                "/\u{f8ff}",
                "Invalid path string \"/\u{f8ff}\" caused by invalid character @1",
            ),
            (
                "/\u{fff0}",
                "Invalid path string \"/\u{fff0}\" caused by invalid character @1",
            ),
            (
                "/\u{ffff}",
                "Invalid path string \"/\u{ffff}\" caused by invalid character @1",
            ),
            // A supplementary character is a surrogate pair (U+D83D U+DE00) in Java.
            (
                "/\u{1f600}",
                "Invalid path string \"/\u{1f600}\" caused by invalid character @1",
            ),
        ];
        for (path, expected) in table {
            assert_eq!(
                message(path, false).as_deref(),
                Some(*expected),
                "path {path:?}"
            );
            assert_eq!(
                validate_path(path, false).unwrap_err().code(),
                ErrorCode::BadArguments
            );
        }
    }

    #[test]
    fn sequential_paths_validate_with_a_suffix() {
        assert_eq!(message("/a/", true), None);
        assert_eq!(message("/", true), None);
        assert_eq!(message("/a", true), None);
        assert_eq!(message("/a/b-", true), None);
        assert_eq!(
            message("/a//", true).as_deref(),
            Some("Invalid path string \"/a//1\" caused by empty node name specified @3")
        );
        assert_eq!(
            message("/a/.", true).as_deref(),
            None,
            "'.1' is a name, not a relative path"
        );
        assert_eq!(
            message("", true).as_deref(),
            Some("Path must start with / character")
        );
        assert_eq!(
            message("a", true).as_deref(),
            Some("Path must start with / character")
        );
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "");
        assert_eq!(parent("a"), "");
        assert_eq!(name("/a/b/c"), "c");
        assert_eq!(name("/a"), "a");
        assert_eq!(name("/"), "");
    }

    #[test]
    fn sequential_names_are_signed_and_zero_padded() {
        assert_eq!(sequential_name("/a/b-", 0), "/a/b-0000000000");
        assert_eq!(sequential_name("/a/", 42), "/a/0000000042");
        assert_eq!(sequential_name("/x", i32::MAX), "/x2147483647");
        assert_eq!(
            sequential_name("/x", i32::MAX.wrapping_add(1)),
            "/x-2147483648"
        );
        assert_eq!(sequential_name("/x", -5), "/x-000000005");
    }

    #[test]
    fn special_paths() {
        for path in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert!(is_special_path(path));
        }
        assert!(!is_special_path("/zookeeper/quota/a"));
        assert!(!is_special_path("/a"));
        assert!(!is_special_path(""));
    }
}
