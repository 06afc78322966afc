//! Where this boot keeps the vTPM's state and under which key: the native state disk (`state_disk`)
//! with the INSECURE native key, bound to this image's identity (the SHA-384 of its loaded code and
//! constants). On SEV-SNP the key will come from the PSP (MSG_KEY_REQ, through the attestation
//! driver's `derive_key`) once that driver and a storage device of the hypervisor model exist; until
//! then an SNP boot keeps its vTPM state in memory only, and says so.
use warden_vtpm::persistence::keeper::{LoadOutcome, StateKeeper};
use warden_vtpm::persistence::seal::{ImageId, SealingKey};

use crate::state_disk::StateDisk;

unsafe extern "C" {
    static __text_start: u8;
    static __data_start: u8;
}

/// A source of the key the vTPM state is sealed with: only this image on this machine can derive it.
pub trait SealingKeySource {
    /// The key for `image`'s state, or `None` when the platform cannot derive one.
    fn sealing_key(&mut self, image: &ImageId) -> Option<SealingKey>;
}

/// INSECURE: native QEMU has no hardware secret; the key is computable by anyone from the image.
#[derive(Debug)]
pub struct InsecureNativeKey;

impl SealingKeySource for InsecureNativeKey {
    fn sealing_key(&mut self, image: &ImageId) -> Option<SealingKey> {
        Some(SealingKey::insecure_native(image))
    }
}

/// This image's identity: the SHA-384 of `[__text_start, __data_start)`, its code and constants as
/// loaded (the same bytes for every boot of the same build, whichever loader placed them).
pub fn image_id() -> ImageId {
    let start = &raw const __text_start as usize;
    let end = &raw const __data_start as usize;
    // SAFETY: the linker script places .text then .rodata between these symbols; both are mapped
    // readable for Warden's whole life and never written (W^X, `layout_check`).
    let image = unsafe { core::slice::from_raw_parts(start as *const u8, end.saturating_sub(start)) };
    ImageId::of(&[image])
}

/// The keeper for a native boot: the state disk if the host attached one, sealed with the insecure
/// native key. `None` (and a line saying so) without a disk.
pub fn native_keeper() -> Option<StateKeeper<StateDisk>> {
    let Some(disk) = StateDisk::probe() else {
        crate::println!("warden: vTPM state: no state disk, the vTPM forgets everything at reboot");
        return None;
    };
    let image = image_id();
    let key = InsecureNativeKey.sealing_key(&image)?;
    crate::println!(
        "warden: vTPM state: on the state disk, sealed with the INSECURE native key for image {image:?}"
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
