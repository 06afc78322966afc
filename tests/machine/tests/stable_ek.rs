//! The vTPM's EK on the emulated SNP machine (architecture, "The vTPM's identity"): derived from the
//! PSP model's MSG_KEY_REQ key for the launch, so two boots of the same image show the same EK, and an
//! image with one byte of its guest payload changed (so another launch digest) shows another. The EK is
//! the one the test guest created through the vTPM protocol and checked against the attested manifest
//! (its `ek manifest` step), printed as `guest: ek <hex>`.
use std::path::PathBuf;

use warden_machine::cpuid_model::CpuidModel;
use warden_machine::loader::load;
use warden_machine::machine::{Config, Machine, Outcome};

fn image_bytes() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden/warden-snp-guest.igvm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", path.display()))
}

/// Boots `igvm` until the guest's verdict; answers the EK the guest printed.
fn boot_ek(igvm: &[u8]) -> String {
    let loaded = load(igvm, &CpuidModel::probe()).expect("the loader takes the image");
    let config = Config { echo: false, smoke: true, max_seconds: 900.0, ..Config::default() };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    let hv = &machine.uc.get_data().hv;
    let consoles = [hv.warden.lines.join("\n"), hv.guest.lines.join("\n")].join("\n");
    assert!(matches!(outcome, Outcome::Passed(_)), "no PASS verdict: {outcome}\nthe consoles:\n{consoles}");
    // Without `--vtpm-state` the machine has no state disk, and Warden says the state is not kept.
    assert!(
        consoles.contains("vTPM state: no state disk, the vTPM forgets everything at reboot"),
        "{consoles}"
    );
    let ek = hv.guest.lines.iter().find_map(|line| line.trim().strip_prefix("guest: ek "));
    let ek = ek.unwrap_or_else(|| panic!("no `guest: ek` line:\n{consoles}")).to_owned();
    assert_eq!(ek.len(), 2 * 314, "an L-1 TPMT_PUBLIC in hex");
    ek
}

/// `igvm` with one byte of the test guest's own text changed: a string only its EK step prints, so
/// the guest still runs every step, while the launch digest (and with it the PSP's key) changes.
fn with_guest_byte_changed(igvm: &[u8]) -> Vec<u8> {
    let needle = b"the attested manifest";
    let at = igvm.windows(needle.len()).position(|w| w == needle).expect("the guest's EK step text");
    assert_eq!(igvm.windows(needle.len()).filter(|w| *w == needle).count(), 1, "one copy of the text");
    let mut changed = igvm.to_vec();
    changed[at + 4] = b'A';
    changed
}

#[test]
fn two_boots_of_one_image_give_one_ek_and_another_image_another() {
    let image = image_bytes();
    let first = boot_ek(&image);
    let second = boot_ek(&image);
    assert_eq!(first, second, "the same image on the same chip keeps its EK across boots");
    let other = boot_ek(&with_guest_byte_changed(&image));
    assert_ne!(first, other, "a changed image (another launch digest) gets another EK");
}
