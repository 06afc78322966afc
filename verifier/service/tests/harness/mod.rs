//! What the store and replica tests share: a throwaway PostgreSQL cluster and scratch directories.
#![allow(dead_code, reason = "each test binary uses a different part of the harness")]

pub mod postgres;

use std::path::PathBuf;

/// An empty directory for one test, unique to this process.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-verifier-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}
