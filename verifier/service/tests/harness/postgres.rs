//! A throwaway PostgreSQL cluster for tests: Debian's server binaries (`postgresql` package, which
//! `cargo xtask test` installs) run `initdb` and `pg_ctl` on a temporary directory and a free loopback
//! port; dropping the [`Postgres`] stops the server and removes the directory.
//!
//! `initdb` refuses to run as root, so as root the cluster runs as the `postgres` user (the package
//! creates it) or `nobody`. Without the binaries, [`Postgres::start`] says SKIP and returns `None`.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    user: Option<&'static str>,
}

/// The newest installed server's `bin` directory.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// The unprivileged user to run the cluster as when we are root.
fn cluster_user() -> &'static str {
    let has = |user: &str| Command::new("id").arg(user).output().is_ok_and(|out| out.status.success());
    if has("postgres") { "postgres" } else { "nobody" }
}

impl Postgres {
    /// Starts a cluster, or prints why not and returns `None` when PostgreSQL is not installed. Any
    /// other failure (the binaries are there but do not work) panics: that is a broken test machine.
    pub fn start(test: &str) -> Option<Self> {
        let Some(bin) = server_bin() else {
            println!(
                "SKIP {test}: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; \
                 `apt-get install postgresql`, which `cargo xtask test` does as root)"
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!("warden-pg-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let user = is_root().then(cluster_user);
        if let Some(user) = user {
            let chown = Command::new("chown").arg(user).arg(&dir).status().expect("chown runs");
            assert!(chown.success(), "chown {user} {}", dir.display());
        }
        let port = free_port();
        let server = Self { bin, dir, port, user };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D",
                path(&data),
                "-A",
                "trust",
                "-U",
                "warden",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            path(&server.dir)
        );
        let log = server.dir.join("server.log");
        server
            .run("pg_ctl", &["-D", path(&data), "-l", path(&log), "-o", &options, "-w", "-t", "30", "start"]);
        Some(server)
    }

    /// A new, empty database's URL.
    pub fn database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "warden", name]);
        format!("postgres://warden@127.0.0.1:{port}/{name}")
    }

    /// Runs a server tool as the cluster's user; panics with its output when it fails.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let out = match self.user {
            Some(user) => Command::new("runuser").args(["-u", user, "--"]).arg(&program).args(args).output(),
            None => Command::new(&program).args(args).output(),
        }
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let program = self.bin.join("pg_ctl");
        let args = ["-D", path(&data), "-m", "immediate", "-w", "stop"];
        // Best effort: a panic in drop would hide the test's own failure.
        let _ = match self.user {
            Some(user) => Command::new("runuser").args(["-u", user, "--"]).arg(&program).args(args).output(),
            None => Command::new(&program).args(args).output(),
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}
