//! Project rules that a compiler does not check, checked here so they cannot rot.

use std::fs;
use std::path::{Path, PathBuf};

/// Modules that must stay pure: no I/O, no clock, no threads, no runtime.
const PURE: [&str; 8] = [
    "src/proto",
    "src/tree",
    "src/txn",
    "src/watch",
    "src/session",
    "src/log",
    "src/zab",
    "src/sim",
];

/// What a pure module may not mention.
const BANNED: [&str; 14] = [
    "glommio",
    "tokio",
    "std::net",
    "std::fs",
    "std::io::Read",
    "std::io::Write",
    "std::thread",
    "std::time",
    "Instant::now",
    "SystemTime",
    "libc::",
    "Mutex",
    "RwLock",
    "rand::",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_modules_do_no_io_and_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    for module in PURE {
        let mut files = Vec::new();
        rust_files(&root.join(module), &mut files);
        assert!(!files.is_empty(), "{module} has sources");
        for file in files {
            let text = fs::read_to_string(&file).expect("utf-8 source");
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for banned in BANNED {
                    if code.contains(banned) {
                        violations.push(format!(
                            "{}:{}: `{banned}` in a pure module",
                            file.display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "purity ban list violated:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_unsafe_block_says_why_it_is_sound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut violations = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("utf-8 source");
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.contains("unsafe {") || line.contains("unsafe{") {
                let window = &lines[index.saturating_sub(4)..index];
                if !window.iter().any(|l| l.contains("SAFETY:")) {
                    violations.push(format!("{}:{}", file.display(), index + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "unsafe without a `// SAFETY:` comment:\n{}",
        violations.join("\n")
    );
}
