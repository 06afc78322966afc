//! The host tools Warden's build and tests need: checked, and installed where this machine allows
//! (Debian packages through apt-get as root, Python packages through pip; the firmware's Rust target is
//! `firmware_target`'s).
use std::process::{Command, Stdio};

/// A tool the tests need, the command that proves it is there, and the Debian package that brings it.
struct Tool {
    /// What it is for.
    purpose: &'static str,
    /// A command that succeeds only when the tool works.
    probe: &'static [&'static str],
    /// The Debian package.
    package: &'static str,
}

const QEMU: Tool = Tool {
    purpose: "booting Warden",
    probe: &["qemu-system-x86_64", "--version"],
    package: "qemu-system-x86",
};
const TEST_TOOLS: &[Tool] = &[
    QEMU,
    Tool { purpose: "driving the vTPM", probe: &["tpm2_startup", "--version"], package: "tpm2-tools" },
    Tool { purpose: "the vTPM baseline", probe: &["swtpm", "--version"], package: "swtpm" },
    // `swtpm_setup --version` exits 1 even when it works, so `--help` is the probe.
    Tool { purpose: "the swtpm set-up tool", probe: &["swtpm_setup", "--help"], package: "swtpm-tools" },
    // Debian's package goes into the system interpreter, which may not be the first python3 on PATH.
    Tool {
        purpose: "the tpm2-pytss flows",
        probe: &["/usr/bin/python3", "-c", "import tpm2_pytss"],
        package: "python3-tpm2-pytss",
    },
];

/// What building the emulated SNP machine needs: unicorn-engine's bundled C emulator builds with cmake,
/// and its bindings are generated with libclang.
const MACHINE_TOOLS: &[Tool] = &[
    Tool { purpose: "building unicorn-engine", probe: &["cmake", "--version"], package: "cmake" },
    Tool {
        purpose: "unicorn-engine's bindings (bindgen)",
        probe: &[
            "sh",
            "-c",
            "ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/*/libclang*.so* 2>/dev/null | grep -q .",
        ],
        package: "libclang-dev",
    },
];

/// The PostgreSQL server the verifier's store and replica tests start a throwaway cluster of. Optional:
/// where it cannot be installed those tests print SKIP and pass.
const POSTGRES: Tool = Tool {
    purpose: "the verifier's PostgreSQL store tests",
    probe: &["sh", "-c", "ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | grep -q ."],
    package: "postgresql",
};

/// The pip command for the independent SNP measurement model (sev-snp-measure).
pub const SEV_SNP_MEASURE: &[&str] =
    &["python3", "-m", "pip", "install", "--quiet", "sev-snp-measure==0.0.13"];

fn works(probe: &[&str]) -> bool {
    Command::new(probe[0])
        .args(&probe[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Installs the missing packages with apt-get (as root), or says exactly what to install.
fn ensure(tools: &[Tool]) -> crate::Result {
    let missing: Vec<&Tool> = tools.iter().filter(|tool| !works(tool.probe)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|tool| tool.package).collect();
    let what = missing
        .iter()
        .map(|tool| format!("{} ({})", tool.package, tool.purpose))
        .collect::<Vec<_>>()
        .join(", ");
    if !is_root() || !works(&["apt-get", "--version"]) {
        return Err(format!(
            "missing: {what}. Install them, e.g. `sudo apt-get install {}`",
            packages.join(" ")
        )
        .into());
    }
    eprintln!("xtask: installing {what}");
    let update = Command::new("apt-get").args(["update", "-qq"]).status()?;
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    let still_missing: Vec<&str> =
        missing.iter().filter(|tool| !works(tool.probe)).map(|tool| tool.package).collect();
    if !update.success() || !install.success() || !still_missing.is_empty() {
        return Err(format!(
            "could not install {} with apt-get; install them by hand",
            still_missing.join(" ")
        )
        .into());
    }
    Ok(())
}

/// What `run` needs: QEMU.
pub fn ensure_run() -> crate::Result {
    ensure(std::slice::from_ref(&QEMU))
}

/// What building the emulated SNP machine needs: cmake and libclang.
pub fn ensure_machine() -> crate::Result {
    ensure(MACHINE_TOOLS)
}

/// What `test` needs: QEMU, tpm2-tools, swtpm, tpm2-pytss and sev-snp-measure; and PostgreSQL where it
/// can be installed.
pub fn ensure_test() -> crate::Result {
    ensure(TEST_TOOLS)?;
    if let Err(e) = ensure(std::slice::from_ref(&POSTGRES)) {
        eprintln!("xtask: warning: {e}; the PostgreSQL store tests will SKIP");
    }
    if !works(&["python3", "-c", "import sevsnpmeasure"]) {
        eprintln!("xtask: installing sev-snp-measure (the independent SNP launch-digest model)");
        let status = Command::new(SEV_SNP_MEASURE[0]).args(&SEV_SNP_MEASURE[1..]).status()?;
        if !status.success() {
            return Err(format!("`{}` failed", SEV_SNP_MEASURE.join(" ")).into());
        }
    }
    Ok(())
}
