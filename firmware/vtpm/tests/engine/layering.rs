//! The crate's layering rule (see the `lib.rs` docs), checked on the source text: `wire` and `crypto`
//! use no upper layer, `state` and `object` never use `engine` or `commands`, a command module never
//! uses another one, and only `engine::routing` names the commands.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/<dir>`, with its path relative to `src`.
pub(crate) fn sources(dir: &str) -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut todo = vec![src.join(dir)];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).expect("source directory") {
            let path: PathBuf = entry.expect("directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).expect("under src").to_string_lossy().into_owned();
                out.push((rel, fs::read_to_string(&path).expect("readable source")));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under src/{dir}");
    out
}

/// The code lines of a file that mention `needle` (comments do not count).
pub(crate) fn uses(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

fn assert_none(dir: &str, needles: &[&str], skip: &[&str]) {
    let mut bad = Vec::new();
    for (file, text) in sources(dir) {
        if skip.contains(&file.as_str()) {
            continue;
        }
        for needle in needles {
            bad.extend(uses(&text, needle).into_iter().map(|l| format!("{file}: {}", l.trim())));
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn wire_and_crypto_use_no_upper_layer() {
    let upper = ["crate::engine", "crate::commands", "crate::state", "crate::object", "crate::Tpm"];
    assert_none("wire", &upper, &[]);
    assert_none("crypto", &upper, &[]);
    assert_none("wire", &["crate::crypto"], &[]);
}

#[test]
fn state_and_object_never_use_engine_or_commands() {
    assert_none("state", &["crate::engine", "crate::commands"], &[]);
    assert_none("object", &["crate::engine", "crate::commands"], &[]);
}

#[test]
fn no_command_module_uses_another() {
    // A chapter folder's files may use their chapter's `mod.rs` (`super::`), never another chapter.
    let mut bad = Vec::new();
    for (file, text) in sources("commands") {
        let top_level = file.matches('/').count() == 1;
        let mut found = uses(&text, "crate::commands");
        found.extend(uses(&text, "super::super"));
        // Inside a file, its own `mod tests` may use `super::` (the file itself).
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        if top_level && !file.ends_with("mod.rs") {
            found.extend(uses(code, "super::"));
        }
        bad.extend(found.into_iter().map(|l| format!("{file}: {}", l.trim())));
    }
    assert!(bad.is_empty(), "a command module uses another:\n{}", bad.join("\n"));
}

#[test]
fn only_routing_names_the_commands() {
    assert_none("engine", &["crate::commands"], &["engine/routing.rs"]);
}
