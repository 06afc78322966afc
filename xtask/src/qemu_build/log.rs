//! The QEMU build's log file: every step's command and output go there, the terminal gets one line per
//! step, and a failure shows the log's last lines.
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::QemuBuildError;

/// The log of one `cargo xtask qemu` build.
#[derive(Debug)]
pub struct BuildLog {
    file: File,
    path: PathBuf,
}

impl BuildLog {
    /// Starts a fresh log at `path`.
    pub fn create(path: &Path) -> Result<Self, QemuBuildError> {
        let file = File::create(path).map_err(|error| super::failed(path, error))?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Announces a step on the terminal and in the log.
    pub fn step(&mut self, what: &str) {
        eprintln!("xtask qemu: {what}");
        let _ = writeln!(self.file, "\n==== {what}");
    }

    /// Runs `command` with its output appended to the log; a non-zero exit is a `Failed` naming `name`.
    pub fn run(&mut self, name: &str, command: &mut Command) -> Result<(), QemuBuildError> {
        let _ = writeln!(self.file, "$ {command:?}");
        let _ = self.file.flush();
        let out = self.file.try_clone().map_err(|error| super::failed(&self.path, error))?;
        let err = self.file.try_clone().map_err(|error| super::failed(&self.path, error))?;
        let status = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .status()
            .map_err(|error| QemuBuildError::Failed(format!("{name} could not start: {error}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(QemuBuildError::Failed(format!("{name} failed ({status}); log: {}", self.path.display())))
        }
    }

    /// The log's last `lines` lines, for the terminal after a failure.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        format!(
            "--- last {} lines of {} ---\n{}",
            all.len() - start,
            self.path.display(),
            all[start..].join("\n")
        )
    }
}
