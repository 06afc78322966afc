//! `warden-verifier serve` as an operator starts it: key files on disk, a test ARK, port 0. The
//! process must come up, write a token key it did not have, answer a challenge, and refuse a store key
//! file that is not a key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{Client, evidence_fixture};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-verifier-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serve(store_key: &std::path::Path, dir: &std::path::Path) -> Command {
    let ark = dir.join("ark.pem");
    std::fs::write(&ark, evidence_fixture::pem(&evidence_fixture::hierarchy().ark)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden-verifier"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--store", "memory:", "--store-key"]);
    command.arg(store_key).arg("--token-key").arg(dir.join("token.pem")).arg("--ark").arg(ark);
    command.stderr(Stdio::piped());
    command
}

#[test]
fn serve_starts_from_key_files_and_answers_a_challenge() {
    let dir = scratch("ok");
    let store_key = dir.join("store.key");
    std::fs::write(&store_key, format!("{}\n", "ab".repeat(32))).unwrap();
    let mut child = Running(serve(&store_key, &dir).spawn().unwrap());
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let url =
        line.trim().strip_prefix("warden-verifier: listening on ").unwrap_or_else(|| panic!("{line:?}"));
    let pem = std::fs::read_to_string(dir.join("token.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");

    let nonce = Client::at(url).auth();
    assert_eq!(base64_len(&nonce), 32);
}

#[test]
fn serve_refuses_a_store_key_that_is_not_one() {
    let dir = scratch("bad");
    let store_key = dir.join("store.key");
    std::fs::write(&store_key, "too short").unwrap();
    let output = serve(&store_key, &dir).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not 32 bytes nor 64 hex digits"), "{stderr}");
}

fn base64_len(text: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap().len()
}
