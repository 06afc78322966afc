//! The vTPM's state across reboots on the emulated SNP machine (threat model T10): Warden keeps it on
//! the hypervisor model's state disk (`--vtpm-state FILE`), sealed with a key from the PSP model's
//! MSG_KEY_REQ for this launch. The test guest's `vtpm state` step prints `guest: state: fresh` when it
//! finds no marker index (and then makes one, a persistent key and a changed ownerAuth) and `guest:
//! state: restored` when it finds all three again. Four boots over one state file: fresh, restored; a
//! flipped byte, refused (Warden's warning) and fresh; the same file under an image with one guest byte
//! changed (another launch digest, so another MSG_KEY_REQ key and image identity), refused and fresh.
//! Each boot still ends with the guest's PASS verdict.
use std::path::{Path, PathBuf};

use warden_machine::cpuid_model::CpuidModel;
use warden_machine::loader::load;
use warden_machine::machine::{Config, Machine, Outcome};

fn image_bytes() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden/warden-snp-guest.igvm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", path.display()))
}

/// Boots `igvm` with `state` as the state disk until the guest's verdict; answers both consoles.
fn boot(igvm: &[u8], state: &Path) -> String {
    let loaded = load(igvm, &CpuidModel::probe()).expect("the loader takes the image");
    let config = Config {
        echo: false,
        smoke: true,
        max_seconds: 900.0,
        vtpm_state: Some(state.to_path_buf()),
        ..Config::default()
    };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    let hv = &machine.uc.get_data().hv;
    let consoles = [hv.warden.lines.join("\n"), hv.guest.lines.join("\n")].join("\n");
    assert!(matches!(outcome, Outcome::Passed(_)), "no PASS verdict: {outcome}\nthe consoles:\n{consoles}");
    consoles
}

/// Asserts the guest printed exactly `state` (fresh or restored) and Warden said `warden_says`.
fn expect(consoles: &str, state: &str, warden_says: &str, when: &str) {
    let line = format!("guest: state: {state}");
    assert!(consoles.lines().any(|l| l.trim() == line), "{when}: no `{line}` line:\n{consoles}");
    assert!(consoles.contains(warden_says), "{when}: Warden did not say `{warden_says}`:\n{consoles}");
    assert!(
        consoles.contains("vTPM state: on the state disk, sealed with the PSP's MSG_KEY_REQ key"),
        "{when}: Warden did not find the state disk:\n{consoles}"
    );
}

/// `igvm` with one byte of the test guest's own text changed (a string only its EK step prints, as in
/// `stable_ek.rs`): every step still runs, the launch digest changes.
fn with_guest_byte_changed(igvm: &[u8]) -> Vec<u8> {
    let needle = b"the attested manifest";
    let at = igvm.windows(needle.len()).position(|w| w == needle).expect("the guest's EK step text");
    let mut changed = igvm.to_vec();
    changed[at + 4] = b'A';
    changed
}

/// Threat model T10.
#[test]
fn state_survives_a_reboot_and_a_flipped_byte_or_another_image_is_refused() {
    let image = image_bytes();
    let dir = std::env::temp_dir().join(format!("warden-machine-vtpm-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let state = dir.join("vtpm-state.bin");
    let _ = std::fs::remove_file(&state);

    let first = boot(&image, &state);
    expect(&first, "fresh", "vTPM state: none stored yet, starting fresh", "first boot");
    let second = boot(&image, &state);
    expect(&second, "restored", "vTPM state: restored generation", "second boot");

    // One flipped bit in the sealed body (past the 88-byte header): the tag fails.
    let mut bytes = std::fs::read(&state).expect("the state file");
    assert_eq!(&bytes[..8], b"WRDNVTPM", "Warden wrote a sealed state at the start of the disk");
    bytes[100] ^= 0x01;
    std::fs::write(&state, &bytes).expect("write the state file");
    let flipped = boot(&image, &state);
    expect(&flipped, "fresh", "vTPM state refused (Seal(Tag))", "flipped byte");

    // The state the flipped boot stored, under another image: not this image's.
    let other = boot(&with_guest_byte_changed(&image), &state);
    expect(&other, "fresh", "vTPM state refused (Seal(OtherImage))", "another image");
    let _ = std::fs::remove_dir_all(&dir);
}
