//! The emulated SEV-SNP machine (`tests/machine`, package `warden-machine`, a GPL-2.0 host tool that
//! links unicorn-engine): built in release mode (emulation speed) and run on an IGVM file, for `run
//! --machine snp|tdx` and the test step. Building it needs cmake and libclang (`deps::ensure_machine`).
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::image::GuestPlatform;
use crate::lint::{check, host_cargo as cargo};

/// The image the machine boots by default on `platform`: Warden with the bundled test guest for that
/// platform when it was built, otherwise the guest-less `warden.igvm` (on which Warden reaches its ready
/// line, then terminates).
pub fn default_image(platform: GuestPlatform) -> PathBuf {
    let name = match platform {
        GuestPlatform::Snp => crate::build::SNP_GUEST_IGVM,
        GuestPlatform::Tdx => crate::build::TDX_GUEST_IGVM,
    };
    let with_guest = crate::build::output_dir().join(name);
    if with_guest.exists() { with_guest } else { crate::build::output_dir().join("warden.igvm") }
}

/// Builds the machine (release).
pub fn build() -> crate::Result {
    crate::deps::ensure_machine()?;
    check(
        "building warden-machine",
        cargo(&["build", "--quiet", "--release", "--package", "warden-machine"]).status()?,
    )
}

/// The machine's binary (built by [`build`]).
fn binary() -> PathBuf {
    crate::build::workspace_root().join("target/release/warden-machine")
}

/// Runs the machine on `image` with `extra` arguments (`--smoke`, `--ready` ...); fails unless it exits 0.
pub fn run(image: &Path, extra: &[&str]) -> crate::Result {
    build()?;
    let status = std::process::Command::new(binary()).arg("--igvm").arg(image).args(extra).status()?;
    let which = if extra.contains(&"--tdx") { "TDX" } else { "SNP" };
    check(&format!("the emulated {which} machine on {}", image.display()), status)
}

/// Runs the TDX machine on an image with the test guest as the TD's L2 (`extra` as for [`run`],
/// `--tdx` added), its console shown as it comes, and judges the run by that console
/// ([`tdx_guest_outcome`]): the run ends when Warden stops the guest at its final attack and halts the
/// TD, which the machine itself reports as a halt, not a success.
pub fn run_tdx_guest(image: &Path, extra: &[&str]) -> crate::Result {
    build()?;
    let mut child = std::process::Command::new(binary())
        .arg("--igvm")
        .arg(image)
        .arg("--tdx")
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("warden-machine: no stdout")?;
    let mut console = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        console.push(line);
    }
    let status = child.wait()?;
    tdx_guest_outcome(&console)
        .map_err(|why| format!("the emulated TDX machine on {} ({status}): {why}", image.display()).into())
}

/// Warden's ready line.
const READY_LINE: &str = "warden: ready:";
/// The guest's verdict when every step passed.
const GUEST_PASS: &str = "guest: verdict: PASS";
/// The guest's line before its final attack; the GPA follows.
const ATTACK_LINE: &str = "guest: attack: writing Warden's page ";
/// The guest's line if the attack's write returned.
const ATTACK_SUCCEEDED: &str = "guest: attack: FAIL wrote Warden's memory";
/// Warden's line when it stopped the guest at an EPT violation; the GPA follows.
const DENIED_LINE: &str = "warden: L2 guest denied at GPA ";

/// Whether a TDX run with the test guest succeeded, from its console: Warden got ready, the guest's
/// verdict is PASS, its final write to Warden's page never returned, and Warden stopped it at that
/// very GPA.
pub fn tdx_guest_outcome(console: &[String]) -> Result<(), String> {
    let find = |prefix: &str| console.iter().find_map(|line| line.strip_prefix(prefix));
    if find(READY_LINE).is_none() {
        return Err("Warden never printed its ready line".into());
    }
    if find(GUEST_PASS).is_none() {
        let verdict = find("guest: verdict: ").unwrap_or("none printed");
        return Err(format!("the guest's verdict is not PASS: {verdict}"));
    }
    if console.iter().any(|line| line.starts_with(ATTACK_SUCCEEDED)) {
        return Err("the guest wrote Warden's memory".into());
    }
    let gpa = |rest: &str| rest.split(|c: char| c == ';' || c.is_whitespace()).next().map(str::to_owned);
    let attacked = find(ATTACK_LINE).and_then(gpa).ok_or("the guest never made its final attack")?;
    match find(DENIED_LINE).and_then(gpa) {
        Some(denied) if denied == attacked => Ok(()),
        Some(denied) => Err(format!("Warden stopped the guest at {denied}, not at the attacked {attacked}")),
        None => Err(format!("Warden never stopped the guest's write to {attacked}")),
    }
}

/// The machine's own tests (hand-assembled programs, the loader digest against `measure`, probes).
pub fn test() -> crate::Result {
    build()?;
    check(
        "warden-machine tests",
        cargo(&["test", "--quiet", "--release", "--package", "warden-machine"]).status()?,
    )
}

#[cfg(test)]
mod tests {
    use super::tdx_guest_outcome;

    fn console(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|line| line.to_string()).collect()
    }

    const GOOD: [&str; 5] = [
        "warden: ready: TDX",
        "guest: verdict: PASS (17 steps)",
        "guest: attack: writing Warden's page 0x8000000; Warden must stop the guest",
        "warden: L2 guest denied at GPA 0x8000000 (qualification 0x82): guest stopped",
        "machine: tdx: halted",
    ];

    #[test]
    fn a_pass_then_the_stopped_attack_is_a_success() {
        assert_eq!(tdx_guest_outcome(&console(&GOOD)), Ok(()));
    }

    #[test]
    fn anything_less_is_a_failure() {
        let without = |index: usize| {
            let mut lines = console(&GOOD);
            lines.remove(index);
            lines
        };
        for index in 0..4 {
            assert!(tdx_guest_outcome(&without(index)).is_err(), "line {index} missing");
        }
        let mut failed = console(&GOOD);
        failed[1] = "guest: verdict: FAIL (1 of 17 failed)".into();
        assert!(tdx_guest_outcome(&failed).unwrap_err().contains("FAIL (1 of 17"));
        let mut wrote = console(&GOOD);
        wrote.insert(3, "guest: attack: FAIL wrote Warden's memory".into());
        assert!(tdx_guest_outcome(&wrote).is_err());
        let mut elsewhere = console(&GOOD);
        elsewhere[3] = "warden: L2 guest denied at GPA 0x1000 (qualification 0x81): guest stopped".into();
        assert!(tdx_guest_outcome(&elsewhere).unwrap_err().contains("not at the attacked"));
    }
}
