//! `cargo xtask qemu`: an IGVM-capable `qemu-system-x86_64`, built once and cached outside the work tree.
//!
//! Debian's QEMU packages are built without the IGVM library, so `-object igvm-cfg` is missing from them.
//! This builds one: the `igvm` crate's C library (`igvm_c.rs`), QEMU's source from Debian's archive
//! (`source.rs`), configured for `x86_64-softmmu` with IGVM, KVM and TCG, compiled with ninja. The result
//! lives in `$XDG_CACHE_HOME/warden/qemu-<version>-igvm-<igvm version>-r<recipe>/` (`~/.cache` without
//! `XDG_CACHE_HOME`); a changed recipe or version gets a new directory, so it rebuilds.
mod igvm_c;
mod log;
mod source;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use self::log::BuildLog;

/// The recipe's version: bump it whenever a step below changes what is built.
const RECIPE: u32 = 1;
/// The oldest QEMU whose IGVM loader starts a native-platform file at its VP context (10.2 does).
const MIN_QEMU: (u32, u32) = (10, 2);
/// The meson QEMU's `pythondeps.toml` names for its build (Debian bookworm's is too old).
const MESON: &str = "meson==1.9.0";
/// QEMU's test-runner dependency, installed beside meson.
const PYCOTAP: &str = "pycotap==1.3.1";
/// Debian packages QEMU's build needs.
const BUILD_PACKAGES: &[&str] = &[
    "ninja-build",
    "pkg-config",
    "gcc",
    "xz-utils",
    "libglib2.0-dev",
    "libpixman-1-dev",
    "flex",
    "bison",
    "libfdt-dev",
    "libslirp-dev",
    "device-tree-compiler",
];

/// Build an IGVM-capable QEMU once and cache it.
#[derive(clap::Args, Debug, Default)]
pub struct Args {}

/// Why there is no IGVM-capable QEMU.
#[derive(Debug)]
pub enum QemuBuildError {
    /// This machine cannot build it (no network to Debian's archive, not root for apt-get, ...): the
    /// IGVM steps of `xtask test` are skipped, not failed.
    Unavailable(String),
    /// A build step failed: a recipe or environment problem to fix.
    Failed(String),
}

impl std::fmt::Display for QemuBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(reason) => write!(f, "an IGVM-capable QEMU cannot be built here: {reason}"),
            Self::Failed(reason) => write!(f, "building an IGVM-capable QEMU failed: {reason}"),
        }
    }
}

impl std::error::Error for QemuBuildError {}

impl QemuBuildError {
    /// The reason alone, for wrapping into another error.
    pub fn reason(&self) -> &str {
        match self {
            Self::Unavailable(reason) | Self::Failed(reason) => reason,
        }
    }
}

/// `cargo xtask qemu`.
pub fn run(_args: &Args) -> crate::Result {
    let qemu = ensure()?;
    println!("IGVM-capable QEMU: {}", qemu.display());
    Ok(())
}

/// The cached QEMU, built first when there is none.
pub fn ensure() -> Result<PathBuf, QemuBuildError> {
    if let Some(qemu) = find_cached() {
        return Ok(qemu);
    }
    let cache = cache_root()?;
    std::fs::create_dir_all(&cache).map_err(|error| failed(&cache, error))?;
    let mut log = BuildLog::create(&cache.join("qemu-build.log"))?;
    let started = std::time::Instant::now();
    let result = build(&cache, &mut log);
    match &result {
        Ok(qemu) => eprintln!(
            "xtask qemu: built {} in {:.0} s (log: {})",
            qemu.display(),
            started.elapsed().as_secs_f64(),
            log.path().display()
        ),
        Err(error) => eprintln!("xtask qemu: {error}\n{}", log.tail(30)),
    }
    result
}

/// The IGVM-capable QEMU a finished build left in the cache, if any (the newest version).
pub fn find_cached() -> Option<PathBuf> {
    let cache = cache_root().ok()?;
    let suffix = format!("-igvm-{}-r{RECIPE}", igvm_c::IGVM_VERSION);
    let mut found: Vec<((u32, u32, u32), PathBuf)> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("qemu-")?.strip_suffix(&suffix)?;
            let qemu = entry.path().join("qemu-system-x86_64");
            qemu.exists().then(|| (source::parse_version(version), qemu))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, qemu)| qemu).filter(|qemu| igvm_capable(qemu))
}

/// Whether `qemu` has the IGVM loader (`-object help` lists `igvm-cfg`).
pub fn igvm_capable(qemu: &Path) -> bool {
    Command::new(qemu)
        .args(["-object", "help"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).contains("igvm-cfg"))
}

/// `$XDG_CACHE_HOME/warden`, or `~/.cache/warden`.
fn cache_root() -> Result<PathBuf, QemuBuildError> {
    cache_root_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// The cache directory for these values of `XDG_CACHE_HOME` and `HOME` (an empty or relative
/// `XDG_CACHE_HOME` is ignored, as the XDG Base Directory Specification says).
fn cache_root_from(xdg: Option<OsString>, home: Option<OsString>) -> Result<PathBuf, QemuBuildError> {
    let base = match xdg.map(PathBuf::from).filter(|dir| dir.is_absolute()) {
        Some(dir) => dir,
        None => home
            .map(|home| PathBuf::from(home).join(".cache"))
            .ok_or_else(|| QemuBuildError::Unavailable("neither XDG_CACHE_HOME nor HOME is set".into()))?,
    };
    Ok(base.join("warden"))
}

/// Every step, in order; returns the checked binary.
fn build(cache: &Path, log: &mut BuildLog) -> Result<PathBuf, QemuBuildError> {
    install_build_packages(log)?;
    let tarball = source::download(cache, log)?;
    let dir = cache.join(format!("qemu-{}-igvm-{}-r{RECIPE}", tarball.version, igvm_c::IGVM_VERSION));
    // A directory without the final link is an interrupted build: start it again from nothing.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|error| failed(&dir, error))?;
    }
    let work = dir.join("work");
    std::fs::create_dir_all(&work).map_err(|error| failed(&work, error))?;
    let prefix = igvm_c::build(&cache.join("tools"), &work, log)?;
    let python = meson_venv(&cache.join("tools"), log)?;
    let src = source::unpack(&tarball, &work, log)?;

    log.step("configuring QEMU (x86_64-softmmu, IGVM, KVM, TCG)");
    let mut configure = Command::new(src.join("configure"));
    configure
        .current_dir(&src)
        .arg(format!("--python={}", python.display()))
        .args([
            "--target-list=x86_64-softmmu",
            "--without-default-features",
            "--enable-igvm",
            "--enable-kvm",
            "--enable-tcg",
            "--enable-pixman",
            "--disable-docs",
            "--disable-werror",
            "--disable-rust",
            "--disable-install-blobs",
        ])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"));
    log.run("QEMU's configure", &mut configure)?;
    let build_dir = src.join("build");
    let config = std::fs::read_to_string(build_dir.join("config-host.h")).unwrap_or_default();
    if !config.contains("#define CONFIG_IGVM") {
        return Err(QemuBuildError::Failed(
            "QEMU's configure did not enable IGVM (no CONFIG_IGVM in build/config-host.h)".into(),
        ));
    }

    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    log.step(&format!("compiling qemu-system-x86_64 with ninja -j{jobs} (several minutes)"));
    let mut ninja = Command::new("ninja");
    ninja.arg("-C").arg(&build_dir).arg(format!("-j{jobs}")).arg("qemu-system-x86_64");
    log.run("ninja", &mut ninja)?;

    let built = build_dir.join("qemu-system-x86_64");
    if !igvm_capable(&built) {
        return Err(QemuBuildError::Failed(format!(
            "{} does not list igvm-cfg under `-object help`",
            built.display()
        )));
    }
    // The link is written last: its presence marks a finished, checked build.
    let qemu = dir.join("qemu-system-x86_64");
    std::os::unix::fs::symlink(&built, &qemu).map_err(|error| failed(&qemu, error))?;
    Ok(qemu)
}

/// Installs QEMU's build dependencies with apt-get (as root), or says which are missing.
fn install_build_packages(log: &mut BuildLog) -> Result<(), QemuBuildError> {
    let installed = |package: &&str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", package])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
    };
    let missing: Vec<&str> = BUILD_PACKAGES.iter().filter(|p| !installed(p)).copied().collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !is_root {
        return Err(QemuBuildError::Unavailable(format!(
            "QEMU's build needs Debian packages that are missing: `sudo apt-get install {}`",
            missing.join(" ")
        )));
    }
    log.step(&format!("installing QEMU's build dependencies: {}", missing.join(" ")));
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    log.run("apt-get install", &mut install)
        .map_err(|error| QemuBuildError::Unavailable(error.reason().into()))
}

/// A Python venv with the meson QEMU wants; returns its interpreter.
fn meson_venv(tools: &Path, log: &mut BuildLog) -> Result<PathBuf, QemuBuildError> {
    let venv = tools.join(format!("meson-venv-{}", MESON.trim_start_matches("meson==")));
    let python = venv.join("bin/python3");
    if venv.join("bin/meson").exists() {
        return Ok(python);
    }
    log.step(&format!("installing {MESON} and {PYCOTAP} from PyPI into {}", venv.display()));
    log.run("python3 -m venv", Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--quiet", MESON, PYCOTAP]);
    log.run("pip install meson", &mut pip).map_err(|error| {
        let _ = std::fs::remove_dir_all(&venv);
        QemuBuildError::Unavailable(format!("PyPI cannot be reached: {}", error.reason()))
    })?;
    Ok(python)
}

/// A file-system step that failed.
fn failed(path: &Path, error: std::io::Error) -> QemuBuildError {
    QemuBuildError::Failed(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::cache_root_from;

    #[test]
    fn the_cache_honours_xdg_cache_home_then_home() {
        let root = |xdg: Option<&str>, home: Option<&str>| {
            cache_root_from(xdg.map(Into::into), home.map(Into::into)).ok()
        };
        assert_eq!(root(Some("/xdg"), Some("/home/a")).as_deref(), Some(Path::new("/xdg/warden")));
        assert_eq!(root(None, Some("/home/a")).as_deref(), Some(Path::new("/home/a/.cache/warden")));
        assert_eq!(root(Some(""), Some("/home/a")).as_deref(), Some(Path::new("/home/a/.cache/warden")));
        assert_eq!(root(Some("rel"), Some("/home/a")).as_deref(), Some(Path::new("/home/a/.cache/warden")));
        assert_eq!(root(None, None), None);
    }
}
