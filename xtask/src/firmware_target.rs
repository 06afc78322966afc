//! The firmware's Rust target, `x86_64-unknown-none`: every cargo command that compiles for it is made
//! here, and only after the target is known to be installed.
//!
//! A fresh machine's rustup may carry the host target alone (`rust-toolchain.toml` names the firmware
//! target, but rustup adds it only when it installs the toolchain). Any subcommand that compiles for
//! the firmware (the lints, the build, and through the build `run`, `test` and the benches) gets its
//! command from [`cargo`], so no step can run before the target is there.
use std::process::Command;
use std::sync::OnceLock;

/// The target triple of the firmware and the boot stub.
pub const TRIPLE: &str = "x86_64-unknown-none";

/// `cargo <subcommand> --target x86_64-unknown-none`, run in the workspace root; the target is
/// installed first (checked once per process).
pub fn cargo(subcommand: &str) -> crate::Result<Command> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(|| ensure_installed().map_err(|error| error.to_string())).clone()?;
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(crate::build::workspace_root()).args([subcommand, "--target", TRIPLE]);
    Ok(command)
}

/// Adds the target through rustup when the active toolchain lacks it.
fn ensure_installed() -> crate::Result {
    // Run in the workspace, so rustup answers for the toolchain `rust-toolchain.toml` selects.
    let root = crate::build::workspace_root();
    let installed =
        Command::new("rustup").current_dir(&root).args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|line| line.trim() == TRIPLE) => Ok(()),
        Ok(_) => {
            eprintln!("xtask: adding the {TRIPLE} Rust target");
            let status =
                Command::new("rustup").current_dir(&root).args(["target", "add", TRIPLE]).status()?;
            if status.success() { Ok(()) } else { Err(format!("`rustup target add {TRIPLE}` failed").into()) }
        }
        // Without rustup the toolchain must already carry the target; cargo will say if it does not.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }

    /// The newcomer path stays structural: a cargo command for the firmware target built anywhere
    /// else would skip the check that the target is installed.
    #[test]
    fn only_this_module_names_the_firmware_target_to_cargo() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 20, "the scan found the xtask sources: {files:?}");
        let this = src.join("firmware_target.rs");
        let quoted_triple = format!("\"{}", super::TRIPLE);
        let offenders: Vec<String> = files
            .iter()
            .filter(|path| **path != this)
            .flat_map(|path| {
                let text = std::fs::read_to_string(path).unwrap();
                let hits: Vec<String> = text
                    .lines()
                    .enumerate()
                    .filter(|(_, line)| {
                        line.contains(&quoted_triple)
                            || line.contains("\"--target\"")
                            || line.contains("\"--target=")
                    })
                    .map(|(number, line)| format!("{}:{}: {}", path.display(), number + 1, line.trim()))
                    .collect();
                hits
            })
            .collect();
        assert!(offenders.is_empty(), "use firmware_target::cargo instead:\n{}", offenders.join("\n"));
    }

    #[test]
    fn the_command_targets_the_firmware_triple() {
        let command = super::cargo("clippy").unwrap();
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["clippy", "--target", super::TRIPLE]);
    }
}
