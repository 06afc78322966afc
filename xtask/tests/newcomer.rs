//! The newcomer path for real: on a toolchain without the firmware target, `cargo xtask lint` (the
//! first step of `cargo xtask test`) adds the target and passes.
//!
//! Ignored by default: it needs rustup and the network (rustup downloads the target's standard
//! library again). Run it with `cargo test -p xtask --test newcomer -- --ignored`.
//!
//! The toolchain is a copy, so this machine's own is never touched: a tree of hard links to the
//! active toolchain (cheap), with rustup's bookkeeping files in `lib/rustlib/` copied for real,
//! because rustup rewrites them in place.
//!
//! `unsafe`: forbidden (`#![forbid(unsafe_code)]`).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TRIPLE: &str = "x86_64-unknown-none";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `program args` in the workspace with `RUSTUP_HOME=home`, the toolchain left to `rust-toolchain.toml`.
fn with_rustup_home(home: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(workspace())
        .env("RUSTUP_HOME", home)
        // Whatever the outer cargo resolved points at this machine's toolchain, not the copy.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

fn installed_targets(home: &Path) -> String {
    let output = with_rustup_home(home, "rustup", &["target", "list", "--installed"]);
    assert!(output.status.success(), "rustup target list: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A rustup home holding a copy of the toolchain at `sysroot`, under the same name.
fn copy_rustup_home(sysroot: &Path, home: &Path) {
    let toolchains = home.join("toolchains");
    std::fs::create_dir_all(&toolchains).unwrap();
    let copy = toolchains.join(sysroot.file_name().unwrap());
    let status = Command::new("cp").arg("-a").arg("--link").arg(sysroot).arg(&copy).status().unwrap();
    assert!(status.success(), "cp -a --link {} {}", sysroot.display(), copy.display());
    for entry in std::fs::read_dir(copy.join("lib/rustlib")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let original = sysroot.join("lib/rustlib").join(path.file_name().unwrap());
            std::fs::remove_file(&path).unwrap();
            std::fs::copy(&original, &path).unwrap();
        }
    }
    let name = copy.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(home.join("settings.toml"), format!("version = \"12\"\ndefault_toolchain = \"{name}\"\n"))
        .unwrap();
}

#[test]
#[ignore = "needs rustup and the network; run with --ignored"]
fn lint_adds_a_missing_firmware_target() {
    let sysroot =
        Command::new("rustc").args(["--print", "sysroot"]).current_dir(workspace()).output().unwrap();
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout).unwrap().trim());
    let scratch = std::env::temp_dir().join(format!("warden-newcomer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let home = scratch.join("rustup");
    copy_rustup_home(&sysroot, &home);

    let removed = with_rustup_home(&home, "rustup", &["target", "remove", TRIPLE]);
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    assert!(!installed_targets(&home).lines().any(|line| line == TRIPLE));
    // The control: without the xtask, cargo on this toolchain cannot compile for the firmware.
    let control_dir = scratch.join("control-target").to_string_lossy().into_owned();
    let control = with_rustup_home(
        &home,
        "cargo",
        &["check", "--quiet", "--target", TRIPLE, "-p", "warden-defs", "--target-dir", &control_dir],
    );
    assert!(!control.status.success(), "the copy still compiles for {TRIPLE}: the test proves nothing");

    let lint = with_rustup_home(&home, env!("CARGO_BIN_EXE_xtask"), &["lint", "--firmware-only"]);
    assert!(
        lint.status.success(),
        "`xtask lint --firmware-only` on a toolchain without {TRIPLE}:\n{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(installed_targets(&home).lines().any(|line| line == TRIPLE));
    std::fs::remove_dir_all(&scratch).unwrap();
}
