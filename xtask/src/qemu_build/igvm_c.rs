//! The IGVM C library QEMU's loader links: the `igvm` crate (the version xtask writes files with) built as
//! a static library with its `igvm-c` feature, its C headers generated with cbindgen, and a pkg-config
//! file through which QEMU's configure finds both.
//!
//! The crates.io package does not carry the igvm project's header set-up (`igvm_c/`), so the cbindgen
//! configurations beside this file declare what QEMU's `backends/igvm.c` and `target/i386/igvm.c` use.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::log::BuildLog;
use super::{QemuBuildError, failed};

/// The `igvm` crate version, the one in the workspace's Cargo.lock (a unit test holds them equal).
pub const IGVM_VERSION: &str = "0.5.0";
/// The cbindgen release that writes the headers.
const CBINDGEN_VERSION: &str = "0.29.4";
/// cbindgen's configuration for `<igvm/igvm.h>`.
const IGVM_H_CONFIG: &str = include_str!("cbindgen_igvm.toml");
/// cbindgen's configuration for `<igvm/igvm_defs.h>`.
const IGVM_DEFS_H_CONFIG: &str = include_str!("cbindgen_igvm_defs.toml");
/// Renames after cbindgen, for names it cannot prefix: the same enumerator in two enums would collide in
/// C, and QEMU spells the header-section constants with the `IGVM_` prefix.
const DEFS_RENAMES: &[(&str, &str)] =
    &[("INVALID = 0", "IGVM_INVALID = 0"), ("RESERVED_DO_NOT_USE = ", "IGVM_RESERVED_DO_NOT_USE = ")];
const API_RENAMES: &[(&str, &str)] = &[("  HEADER_SECTION_", "  IGVM_HEADER_SECTION_")];
/// A C file that includes both headers the way QEMU does: compiling it checks them before QEMU's build.
const PROBE_C: &str = "#include <stdint.h>\n#include <igvm/igvm.h>\n#include <igvm/igvm_defs.h>\n\
                       int main(void) { IgvmHandle h = igvm_new_from_binary(0, 0); igvm_free(h); \
                       return IGVM_VHT_VP_CONTEXT + IGVM_PLATFORM_TYPE_NATIVE + IGVM_HEADER_SECTION_DIRECTIVE; }\n";

/// Builds the library into `work/igvm-prefix`; returns that prefix.
pub fn build(tools: &Path, work: &Path, log: &mut BuildLog) -> Result<PathBuf, QemuBuildError> {
    let cbindgen = install_cbindgen(tools, log)?;
    let crates = work.join("igvm-crates");
    let igvm = copy_crate("igvm", &crates, log)?;
    let igvm_defs = copy_crate("igvm_defs", &crates, log)?;

    log.step(&format!("building the igvm {IGVM_VERSION} C library (feature igvm-c)"));
    let target = work.join("igvm-target");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(&igvm)
        .args(["build", "--release", "--quiet", "--features", "igvm-c", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    log.run("cargo build (igvm-c)", &mut cargo)?;

    let prefix = work.join("igvm-prefix");
    let include = prefix.join("include/igvm");
    let lib = prefix.join("lib");
    for dir in [&include, &lib.join("pkgconfig")] {
        std::fs::create_dir_all(dir).map_err(|error| failed(dir, error))?;
    }
    let archive = lib.join("libigvm.a");
    std::fs::copy(target.join("release/libigvm.a"), &archive).map_err(|error| failed(&archive, error))?;

    log.step("generating <igvm/igvm.h> and <igvm/igvm_defs.h> with cbindgen");
    header(&cbindgen, &igvm_defs, IGVM_DEFS_H_CONFIG, &include.join("igvm_defs.h"), DEFS_RENAMES, log)?;
    header(&cbindgen, &igvm, IGVM_H_CONFIG, &include.join("igvm.h"), API_RENAMES, log)?;

    let pc = lib.join("pkgconfig/igvm.pc");
    std::fs::write(&pc, pkg_config(&prefix)).map_err(|error| failed(&pc, error))?;

    log.step("checking the headers and the library link from C");
    let probe = work.join("igvm-probe.c");
    std::fs::write(&probe, PROBE_C).map_err(|error| failed(&probe, error))?;
    let mut cc = Command::new("cc");
    cc.arg(format!("-I{}", prefix.join("include").display()))
        .arg(&probe)
        .arg("-o")
        .arg(work.join("igvm-probe"))
        .arg(format!("-L{}", lib.display()))
        .args(LINK_LIBS.split(' '));
    log.run("compiling a C program against the igvm headers", &mut cc)?;
    Ok(prefix)
}

/// What a program linking the Rust static library also needs.
const LINK_LIBS: &str = "-ligvm -lpthread -ldl -lm -lrt";

/// The pkg-config file for the library under `prefix`.
pub fn pkg_config(prefix: &Path) -> String {
    format!(
        "prefix={}\nincludedir=${{prefix}}/include\nlibdir=${{prefix}}/lib\n\n\
         Name: igvm\nDescription: IGVM file parser (the igvm crate's C API)\nVersion: {IGVM_VERSION}\n\
         Cflags: -I${{includedir}}\nLibs: -L${{libdir}} {LINK_LIBS}\n",
        prefix.display()
    )
}

/// cbindgen, installed once under `tools`.
fn install_cbindgen(tools: &Path, log: &mut BuildLog) -> Result<PathBuf, QemuBuildError> {
    let root = tools.join(format!("cbindgen-{CBINDGEN_VERSION}"));
    let binary = root.join("bin/cbindgen");
    if binary.exists() {
        return Ok(binary);
    }
    log.step(&format!("installing cbindgen {CBINDGEN_VERSION} (cargo install)"));
    let mut install = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    install
        .args(["install", "--locked", "--quiet", "cbindgen", "--version", CBINDGEN_VERSION, "--root"])
        .arg(&root)
        .env_remove("CARGO_TARGET_DIR");
    log.run("cargo install cbindgen", &mut install).map_err(|error| {
        QemuBuildError::Unavailable(format!("crates.io cannot be reached: {}", error.reason()))
    })?;
    Ok(binary)
}

/// Copies the registry source of `name` (the version the workspace locks) under `dir`.
fn copy_crate(name: &str, dir: &Path, log: &mut BuildLog) -> Result<PathBuf, QemuBuildError> {
    let manifest = crate::build::workspace_root().join("Cargo.toml");
    let metadata = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|error| QemuBuildError::Failed(format!("cargo metadata could not start: {error}")))?;
    let json: serde_json::Value = serde_json::from_slice(&metadata.stdout)
        .map_err(|error| QemuBuildError::Failed(format!("cargo metadata: {error}")))?;
    let source = json["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == name && package["version"] == IGVM_VERSION)
        .and_then(|package| package["manifest_path"].as_str())
        .and_then(|path| Path::new(path).parent().map(Path::to_path_buf))
        .ok_or_else(|| {
            QemuBuildError::Failed(format!("the workspace does not lock {name} {IGVM_VERSION}"))
        })?;
    std::fs::create_dir_all(dir).map_err(|error| failed(dir, error))?;
    let copy = dir.join(name);
    log.run("cp", Command::new("cp").arg("-r").arg(&source).arg(&copy))?;
    Ok(copy)
}

/// Writes one header with cbindgen and applies `renames`.
fn header(
    cbindgen: &Path,
    crate_dir: &Path,
    config: &str,
    out: &Path,
    renames: &[(&str, &str)],
    log: &mut BuildLog,
) -> Result<(), QemuBuildError> {
    let config_path = out.with_extension("cbindgen.toml");
    std::fs::write(&config_path, config).map_err(|error| failed(&config_path, error))?;
    let mut command = Command::new(cbindgen);
    command.arg("-q").arg("-c").arg(&config_path).arg(crate_dir).arg("-o").arg(out);
    log.run("cbindgen", &mut command)?;
    std::fs::remove_file(&config_path).map_err(|error| failed(&config_path, error))?;
    let mut text = std::fs::read_to_string(out).map_err(|error| failed(out, error))?;
    for (from, to) in renames {
        text = text.replace(from, to);
    }
    std::fs::write(out, text).map_err(|error| failed(out, error))
}

#[cfg(test)]
mod tests {
    use super::IGVM_VERSION;

    /// The C library QEMU links must parse files the way xtask writes them: the same crate version.
    #[test]
    fn igvm_version_is_the_locked_one() {
        let lock = std::fs::read_to_string(crate::build::workspace_root().join("Cargo.lock")).unwrap();
        let locked = lock
            .split("[[package]]")
            .find(|entry| entry.contains("name = \"igvm\"\n"))
            .and_then(|entry| entry.lines().find_map(|line| line.strip_prefix("version = \"")))
            .map(|version| version.trim_end_matches('"'));
        assert_eq!(locked, Some(IGVM_VERSION));
    }
}
