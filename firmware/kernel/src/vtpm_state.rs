//! Where this boot keeps the vTPM's state and under which key. The storage is one state disk
//! (`state_disk`) on every platform that has one: QEMU's ISA IDE disk on native, the hypervisor
//! model's disk on the emulated SEV-SNP machine, both reached with the same port I/O (under SEV-SNP each
//! access raises a #VC that the handler turns into a GHCB IOIO exit, GHCB spec (AMD 56421) §4.1.2).
//! The key ([`StateSealing`]) is the platform's: on SEV-SNP derived from the PSP's MSG_KEY_REQ key
//! (SEV-SNP ABI (AMD 56860) Table 19), bound to the launch measurement; on native the INSECURE fixed
//! key, bound to the SHA-384 of the image's loaded code and constants.
use alloc::boxed::Box;

use warden_vtpm::persistence::keeper::{LoadOutcome, StateKeeper};
use warden_vtpm::persistence::seal::{ImageId, SealingKey};

use crate::state_disk::StateDisk;

#[cfg(warden_request_loop)]
unsafe extern "C" {
    static __text_start: u8;
    static __data_start: u8;
}

/// The key and the image identity a blob is bound to, made once a state disk is found.
type Derive = Box<dyn FnOnce() -> (SealingKey, ImageId)>;

/// How this boot seals the vTPM's state: the key and the image identity the blob is bound to, derived
/// only when the host attached a state disk (native's image hash takes ~48 s under KVM-PVM,
/// `docs/benchmarks.md`). A key held here is wiped when this is dropped (`SealingKey`).
pub struct StateSealing {
    derive: Derive,
    /// Names the key in the boot log.
    what: &'static str,
}

impl core::fmt::Debug for StateSealing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StateSealing").field("what", &self.what).finish_non_exhaustive()
    }
}

impl StateSealing {
    /// INSECURE: native QEMU has no hardware secret; the key is computable by anyone from the image.
    #[cfg(warden_request_loop)]
    pub fn insecure_native() -> Self {
        let derive: Derive = Box::new(|| {
            let image = image_id();
            (SealingKey::insecure_native(&image), image)
        });
        Self { derive, what: "the INSECURE native key" }
    }

    /// A key only this launch can derive from its platform, for the image `image` identifies.
    #[cfg(warden_request_loop)]
    pub fn platform(key: SealingKey, image: ImageId, what: &'static str) -> Self {
        Self { derive: Box::new(move || (key, image)), what }
    }
}

/// This image's identity on native: the SHA-384 of `[__text_start, __data_start)`, its code and
/// constants as loaded (the same bytes for every boot of the same build, whichever loader placed them).
#[cfg(warden_request_loop)]
pub fn image_id() -> ImageId {
    let start = &raw const __text_start as usize;
    let end = &raw const __data_start as usize;
    // SAFETY: the linker script places .text then .rodata between these symbols; both are mapped
    // readable for Warden's whole life and never written (W^X, `layout_check`).
    let image = unsafe { core::slice::from_raw_parts(start as *const u8, end.saturating_sub(start)) };
    ImageId::of(&[image])
}

/// The keeper for this boot: the state disk if the host attached one, sealed as `sealing` says.
/// `None` (and a line saying so) without a disk.
pub fn keeper(sealing: StateSealing) -> Option<StateKeeper<StateDisk>> {
    let Some(disk) = StateDisk::probe() else {
        crate::println!("warden: vTPM state: no state disk, the vTPM forgets everything at reboot");
        return None;
    };
    let (key, image) = (sealing.derive)();
    crate::println!(
        "warden: vTPM state: on the state disk, sealed with {} for image {image:?}",
        sealing.what
    );
    Some(StateKeeper::new(disk, key, image))
}

/// Says what a load found; a refusal is a warning.
pub fn report(outcome: LoadOutcome) {
    match outcome {
        LoadOutcome::Empty => crate::println!("warden: vTPM state: none stored yet, starting fresh"),
        LoadOutcome::Restored { generation } => {
            crate::println!("warden: vTPM state: restored generation {generation}")
        }
        LoadOutcome::Refused(why) => log::warn!("vTPM state refused ({why:?}): the vTPM starts fresh"),
    }
}
