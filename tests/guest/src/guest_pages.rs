//! Plain access to the guest's own private pages by address (identity-mapped with the C-bit by
//! Warden's page tables). Every page named here is one the guest had Warden validate, or a launch page
//! Warden granted it; Warden itself writes some of them (the calling area, the vTPM buffer) during a
//! call, so they are only reached through volatile copies, never through references that could live
//! across a call.
use warden_defs::layout::PAGE_SIZE;

/// Writes `bytes` at `gpa`.
///
/// # Safety
/// `[gpa, gpa + len)` is validated guest memory the guest may write, not its code, data or stacks.
pub unsafe fn write(gpa: u64, bytes: &[u8]) {
    for (i, byte) in bytes.iter().enumerate() {
        // SAFETY: in the range the caller vouches for.
        unsafe { (gpa as *mut u8).add(i).write_volatile(*byte) };
    }
}

/// Reads `out.len()` bytes at `gpa`.
///
/// # Safety
/// `[gpa, gpa + len)` is validated guest memory the guest may read.
pub unsafe fn read(gpa: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        // SAFETY: in the range the caller vouches for.
        *byte = unsafe { (gpa as *const u8).add(i).read_volatile() };
    }
}

/// Writes one byte at `gpa` that the guest must NOT be able to write: the final attack on TDX, aimed
/// at Warden's memory. Warden's SEPT attributes for the L2 make it an EPT violation that never
/// completes (Intel TDX Module TD Partitioning Architecture Specification, L2 exits); if it ever
/// returns, the caller reports it and halts without touching anything else.
pub fn attack_write(gpa: u64, byte: u8) {
    // SAFETY: not sound by design, and never meant to complete: the store names Warden's memory, which
    // the guest's page tables map but the TDX module must refuse to the L2. A store that does complete
    // has changed a byte the guest never reads, after which it only prints and halts.
    unsafe { (gpa as *mut u8).write_volatile(byte) };
}

/// The value the pattern test stores at `gpa`: different at every address, never zero (a page Warden
/// zeroed, or a read through the wrong key, does not match it).
fn pattern(gpa: u64) -> u64 {
    gpa ^ 0x5741_5244_454E_0001
}

/// Writes the pattern into the first and last eight bytes of every 4 KiB page of `[gpa, gpa + len)` and
/// reads it back; answers the first address that did not keep it.
///
/// # Safety
/// As [`write`], for the whole range.
pub unsafe fn pattern_test(gpa: u64, len: u64) -> Result<(), u64> {
    let pages = len / PAGE_SIZE;
    let slots = |page: u64| [gpa + page * PAGE_SIZE, gpa + page * PAGE_SIZE + PAGE_SIZE - 8];
    for page in 0..pages {
        for at in slots(page) {
            // SAFETY: inside the range the caller vouches for, 8-byte aligned.
            unsafe { (at as *mut u64).write_volatile(pattern(at)) };
        }
    }
    for page in 0..pages {
        for at in slots(page) {
            // SAFETY: as above.
            if unsafe { (at as *const u64).read_volatile() } != pattern(at) {
                return Err(at);
            }
        }
    }
    Ok(())
}
