//! QEMU's source: the original tarball of Debian's `qemu` source package, from the newest suite whose
//! files the archive serves, fetched with a private apt configuration (the system's sources are not
//! touched).
use std::path::{Path, PathBuf};
use std::process::Command;

use super::log::BuildLog;
use super::{MIN_QEMU, QemuBuildError, failed};

/// The suites asked for `qemu`'s source package, newest first.
const SUITES: &[&str] = &["sid", "forky", "trixie-backports", "trixie"];
/// The Debian archive.
const ARCHIVE: &str = "http://deb.debian.org/debian";

/// A downloaded QEMU source tarball.
#[derive(Debug)]
pub struct Tarball {
    /// QEMU's upstream version (`10.2.2`).
    pub version: String,
    /// The `.orig.tar.*` file.
    pub path: PathBuf,
}

/// `10.2.2` as numbers (missing or unreadable parts are 0).
pub fn parse_version(version: &str) -> (u32, u32, u32) {
    let mut parts = version.split('.').map(|part| part.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The upstream part of a Debian version: `1:10.2.2+ds-1` is `10.2.2`.
pub fn upstream(debian_version: &str) -> &str {
    let without_epoch = debian_version.split_once(':').map_or(debian_version, |(_, rest)| rest);
    without_epoch.split(['+', '-', '~']).next().unwrap_or(without_epoch)
}

/// The source package versions `apt-cache showsrc` lists that are new enough, newest first, unique.
pub fn candidates(showsrc: &str) -> Vec<String> {
    let mut versions: Vec<String> = showsrc
        .lines()
        .filter_map(|line| line.strip_prefix("Version: "))
        .map(str::trim)
        .filter(|version| {
            let (major, minor, _) = parse_version(upstream(version));
            (major, minor) >= MIN_QEMU
        })
        .map(String::from)
        .collect();
    let key = |version: &String| parse_version(upstream(version));
    versions.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.cmp(b)));
    versions.dedup();
    versions
}

/// apt-get and apt-cache with their lists, cache and sources under `apt_dir` only.
fn apt(program: &str, apt_dir: &Path) -> Command {
    let mut command = Command::new(program);
    for (option, value) in [
        ("Dir::Etc::sourcelist", apt_dir.join("sources.list")),
        ("Dir::Etc::sourceparts", PathBuf::from("-")),
        ("Dir::State::Lists", apt_dir.join("lists")),
        ("Dir::Cache", apt_dir.join("cache")),
    ] {
        command.arg("-o").arg(format!("{option}={}", value.display()));
    }
    command
}

/// Downloads the newest QEMU ≥ 10.2 source tarball the archive serves into `cache/downloads`.
pub fn download(cache: &Path, log: &mut BuildLog) -> Result<Tarball, QemuBuildError> {
    let apt_dir = cache.join("apt");
    let downloads = cache.join("downloads");
    for dir in [apt_dir.join("lists/partial"), apt_dir.join("cache/archives/partial"), downloads.clone()] {
        std::fs::create_dir_all(&dir).map_err(|error| failed(&dir, error))?;
    }
    let sources: String = SUITES.iter().map(|suite| format!("deb-src {ARCHIVE} {suite} main\n")).collect();
    let list = apt_dir.join("sources.list");
    std::fs::write(&list, sources).map_err(|error| failed(&list, error))?;

    log.step(&format!("reading Debian's source package lists ({})", SUITES.join(", ")));
    // Without `--error-on=any`, apt-get update exits 0 when no list could be fetched.
    let mut update = apt("apt-get", &apt_dir);
    update.args(["update", "-q", "--error-on=any"]);
    log.run("apt-get update", &mut update).map_err(|error| {
        QemuBuildError::Unavailable(format!(
            "Debian's archive ({ARCHIVE}) cannot be reached: {}",
            error.reason()
        ))
    })?;
    let showsrc = apt("apt-cache", &apt_dir)
        .args(["showsrc", "qemu"])
        .output()
        .map_err(|error| QemuBuildError::Failed(format!("apt-cache could not start: {error}")))?;
    let versions = candidates(&String::from_utf8_lossy(&showsrc.stdout));
    if versions.is_empty() {
        return Err(QemuBuildError::Unavailable(format!(
            "no suite of {ARCHIVE} ({}) carries QEMU ≥ {}.{}",
            SUITES.join(", "),
            MIN_QEMU.0,
            MIN_QEMU.1
        )));
    }
    for version in &versions {
        let up = upstream(version).to_string();
        if let Some(path) = find_tarball(&downloads, &up) {
            return Ok(Tarball { version: up, path });
        }
        log.step(&format!("downloading QEMU's source package {version}"));
        let mut source = apt("apt-get", &apt_dir);
        source
            .current_dir(&downloads)
            .args(["source", "--download-only", "-q"])
            .arg(format!("qemu={version}"));
        // The archive does not serve every listed version (404): the next one may be there.
        match log.run("apt-get source", &mut source) {
            Ok(()) => {
                let path = find_tarball(&downloads, &up).ok_or_else(|| {
                    QemuBuildError::Failed(format!("apt-get source left no qemu_{up}*.orig.tar.* file"))
                })?;
                return Ok(Tarball { version: up, path });
            }
            Err(_) => {
                eprintln!("xtask qemu: the archive does not serve {version} (see the log); trying the next")
            }
        }
    }
    Err(QemuBuildError::Unavailable(format!(
        "the archive serves none of QEMU's source packages {}",
        versions.join(", ")
    )))
}

/// The original tarball of QEMU `version` in `dir`, if downloaded.
fn find_tarball(dir: &Path, version: &str) -> Option<PathBuf> {
    let prefix = format!("qemu_{version}+");
    std::fs::read_dir(dir).ok()?.filter_map(Result::ok).map(|entry| entry.path()).find(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(&prefix) && name.contains(".orig.tar."))
    })
}

/// Unpacks the tarball into `work` and prepares it; returns the source directory.
pub fn unpack(tarball: &Tarball, work: &Path, log: &mut BuildLog) -> Result<PathBuf, QemuBuildError> {
    log.step(&format!("unpacking {}", tarball.path.display()));
    log.run("tar", Command::new("tar").arg("-xf").arg(&tarball.path).arg("-C").arg(work))?;
    let src = work.join(format!("qemu-{}", tarball.version));
    // Debian's `+ds` tarball has no edk2 firmware blobs, which QEMU's meson.build would unpack for
    // x86_64-softmmu: Warden boots without them.
    let meson = src.join("meson.build");
    let text = std::fs::read_to_string(&meson).map_err(|error| failed(&meson, error))?;
    const UNPACK: &str = "unpack_edk2_blobs = bzip2.found()";
    if !text.contains(UNPACK) {
        return Err(QemuBuildError::Failed(format!("{} has no `{UNPACK}` to turn off", meson.display())));
    }
    std::fs::write(&meson, text.replace(UNPACK, "unpack_edk2_blobs = false"))
        .map_err(|error| failed(&meson, error))?;
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::{candidates, upstream};

    #[test]
    fn upstream_versions_drop_epoch_and_debian_revision() {
        assert_eq!(upstream("1:10.2.2+ds-1"), "10.2.2");
        assert_eq!(upstream("1:11.1.3+ds-2~bpo13+1"), "11.1.3");
        assert_eq!(upstream("7.2"), "7.2");
    }

    #[test]
    fn candidates_are_new_enough_and_newest_first() {
        let showsrc = "Package: qemu\nVersion: 1:10.2.2+ds-1\n\nPackage: qemu\nVersion: 1:11.1.3+ds-1\n\
                       Version: 1:10.0.7+ds-0+deb13u1\nVersion: 1:11.1.3+ds-1\n";
        assert_eq!(candidates(showsrc), ["1:11.1.3+ds-1", "1:10.2.2+ds-1"]);
    }
}
