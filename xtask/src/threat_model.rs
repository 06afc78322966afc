//! The check that keeps `docs/threat-model.md` honest: every rule (T1, T2, ...) of its "does not trust"
//! table has a row in its "Each rule and the tests" table, every test a row names exists, and every such
//! test cites the rule in the comments and attributes directly above its `fn` ("Threat model Tn").
#![cfg(test)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository root (xtask's manifest sits one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

/// The rule a table row is about (`| T4 | ...` gives "T4"), if the row is a rule's.
fn rule_of(row: &str) -> Option<&str> {
    let cell = row.strip_prefix('|')?.split('|').next()?.trim();
    let digits = cell.strip_prefix('T')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(cell)
}

/// The lines of `text` from the heading that starts with `heading` to the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|line| !line.starts_with(heading))
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .collect()
}

/// The backticked `path::function` entries of a row.
fn entries(row: &str) -> Vec<(String, String)> {
    row.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|entry| entry.rsplit_once("::"))
        .map(|(path, function)| (path.to_string(), function.to_string()))
        .collect()
}

/// Whether `word` occurs in `text` with no letter or digit on either side.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The comment and attribute lines directly above `fn function` in `source`, or `None` if there is no
/// such function.
fn preamble(source: &str, function: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines.iter().position(|line| {
        line.split_once("fn ").is_some_and(|(_, rest)| {
            rest.strip_prefix(function).is_some_and(|tail| tail.starts_with(['(', '<']))
        })
    })?;
    let start = lines[..at]
        .iter()
        .rposition(|line| {
            let line = line.trim_start();
            !(line.starts_with("//") || line.starts_with("#["))
        })
        .map_or(0, |i| i + 1);
    Some(lines[start..at].join("\n"))
}

#[test]
fn every_rule_has_tests_and_every_test_cites_its_rule() {
    let text = std::fs::read_to_string(root().join("docs/threat-model.md")).expect("docs/threat-model.md");
    let rules: BTreeSet<&str> =
        section(&text, "## What Warden does not trust").into_iter().filter_map(rule_of).collect();
    assert!(rules.len() >= 9, "the rules table lost rows: {rules:?}");
    let table = section(&text, "## Each rule and the tests");
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    for row in table {
        let Some(rule) = rule_of(row) else { continue };
        let tests = entries(row);
        if tests.is_empty() {
            problems.push(format!("{rule}: the row names no test"));
        }
        covered.insert(rule);
        for (path, function) in tests {
            let Ok(source) = std::fs::read_to_string(root().join(&path)) else {
                problems.push(format!("{rule}: {path} does not exist"));
                continue;
            };
            match preamble(&source, &function) {
                None => problems.push(format!("{rule}: {path} has no fn {function}")),
                Some(preamble) if !has_word(&preamble, rule) => {
                    problems.push(format!("{rule}: {path}::{function} does not cite {rule} above its fn"))
                }
                Some(_) => {}
            }
        }
    }
    for rule in rules.difference(&covered) {
        problems.push(format!("{rule}: no row in the tests table"));
    }
    assert!(problems.is_empty(), "docs/threat-model.md and the tests disagree:\n{}", problems.join("\n"));
}

/// The check itself can fail: a missing citation, a missing function and a missing rule are each found.
#[test]
fn the_check_finds_what_it_looks_for() {
    let source = "/// Threat model T4.\n#[test]\nfn cited() {}\n\n#[test]\nfn uncited() {}\n";
    assert!(has_word(&preamble(source, "cited").unwrap(), "T4"));
    assert!(!has_word(&preamble(source, "uncited").unwrap(), "T4"));
    assert!(preamble(source, "absent").is_none());
    assert!(!has_word("T41", "T4") && has_word("(T4)", "T4"));
    assert_eq!(rule_of("| T7 | `a/b.rs::c` |"), Some("T7"));
    assert_eq!(rule_of("| rule | tests |"), None);
    assert_eq!(
        entries("| T1 | `a/b.rs::c`, `d.rs::e` |"),
        [("a/b.rs".into(), "c".into()), ("d.rs".into(), "e".into())]
    );
}
