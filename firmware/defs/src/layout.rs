//! The memory layout: the one place that says where every part of Warden lives.
//!
//! The firmware's linker script (generated from these constants by `firmware/kernel/build.rs`), the image
//! builder in `xtask` (page tables, IGVM directives, the boot ROM) and the firmware's own constants all
//! derive from this file. Warden runs identity-mapped: virtual address == guest-physical address.
//!
//! ```text
//! WARDEN_BASE + 0x00_0000  page tables                 (PAGE_TABLES_SIZE)
//!             + 0x01_0000  boot parameter pages        (params, memory map, SNP secrets, SNP CPUID,
//!                                                   guest payload descriptor)
//!             + 0x02_0000  stacks, each under a guard  (STACKS)
//!             + 0x10_0000  firmware ELF: text, rodata, data, bss
//!             + 0x80_0000  heap (not in the image: accepted at boot)
//!             + 0x100_0000 end of Warden's region
//! 0xFFFF_E000              boot ROM directory (native `-bios` boot only)
//! 0xFFFF_F000              boot stub page, reset vector at 0xFFFF_FFF0
//! ```

/// The size of a small page.
pub const PAGE_SIZE: u64 = 0x1000;
/// The size of a large (2 MiB) page.
pub const LARGE_PAGE_SIZE: u64 = 0x20_0000;

/// The first byte of Warden's private region.
pub const WARDEN_BASE: u64 = 0x0800_0000;
/// The size of Warden's private region. What Warden owns outside it is listed in [`WARDEN_OWNED`].
pub const WARDEN_SIZE: u64 = 0x0100_0000;
/// One past the last byte of Warden's region.
pub const WARDEN_END: u64 = WARDEN_BASE + WARDEN_SIZE;

/// The initial page tables, built by the image builder and measured with the image.
pub const PAGE_TABLES_BASE: u64 = WARDEN_BASE;
/// Room reserved for the initial page tables.
pub const PAGE_TABLES_SIZE: u64 = 0x1_0000;

/// The boot parameter page: platform type, vCPU count (an IGVM parameter area on SNP/TDX).
pub const PARAMS_PAGE: u64 = WARDEN_BASE + 0x1_0000;
/// The memory-map parameter page (an IGVM parameter area).
pub const MEMORY_MAP_PAGE: u64 = WARDEN_BASE + 0x1_1000;
/// The SNP secrets page (SNP only; a zero page elsewhere).
pub const SNP_SECRETS_PAGE: u64 = WARDEN_BASE + 0x1_2000;
/// The SNP CPUID page (SNP only; a zero page elsewhere).
pub const SNP_CPUID_PAGE: u64 = WARDEN_BASE + 0x1_3000;

/// The guest payload descriptor (`guest_launch::GuestPayload`): measured, all zeros in an image without
/// a guest. Warden reads it on SNP only.
pub const GUEST_PAYLOAD_PAGE: u64 = WARDEN_BASE + 0x1_4000;

/// Where the stacks begin. Each stack sits directly above an unmapped guard page.
pub const STACKS_BASE: u64 = WARDEN_BASE + 0x2_0000;
/// Where the stacks must end.
pub const STACKS_LIMIT: u64 = WARDEN_BASE + 0x10_0000;

/// A stack: its purpose and its size in bytes (a whole number of pages), below it one guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stack {
    /// What runs on it.
    pub name: &'static str,
    /// Its size in bytes, excluding the guard page.
    pub size: u64,
}

/// Which stack each slot is. The order fixes the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum StackId {
    /// The boot processor's main stack.
    Boot = 0,
    /// IST1: double fault.
    DoubleFault = 1,
    /// IST2: NMI.
    Nmi = 2,
    /// IST3: machine check.
    MachineCheck = 3,
    /// IST4: every other exception, so that a stack overflow can still be reported.
    Exception = 4,
}

/// Every stack, in address order.
pub const STACKS: [Stack; 5] = [
    Stack { name: "boot", size: 0x1_0000 },
    Stack { name: "double-fault", size: 0x4000 },
    Stack { name: "nmi", size: 0x4000 },
    Stack { name: "machine-check", size: 0x4000 },
    Stack { name: "exception", size: 0x4000 },
];

/// The guard page below stack `id` (never mapped).
pub const fn stack_guard(id: StackId) -> u64 {
    let mut addr = STACKS_BASE;
    let mut i = 0;
    while i < id as usize {
        addr += PAGE_SIZE + STACKS[i].size;
        i += 1;
    }
    addr
}

/// The lowest byte of stack `id`.
pub const fn stack_bottom(id: StackId) -> u64 {
    stack_guard(id) + PAGE_SIZE
}

/// One past the highest byte of stack `id`: the initial stack pointer.
pub const fn stack_top(id: StackId) -> u64 {
    stack_bottom(id) + STACKS[id as usize].size
}

/// Where the firmware ELF is linked.
pub const IMAGE_BASE: u64 = WARDEN_BASE + 0x10_0000;
/// The firmware ELF must end below this (the linker script asserts it).
pub const IMAGE_LIMIT: u64 = WARDEN_BASE + 0x80_0000;

/// The heap: mapped by the initial page tables, but not part of the image; the firmware accepts it.
pub const HEAP_BASE: u64 = IMAGE_LIMIT;
/// The heap's size.
pub const HEAP_SIZE: u64 = WARDEN_END - HEAP_BASE;

/// The boot stub's page: the top page below 4 GiB, reset vector at its last 16 bytes. Also the TDX reset page.
pub const BOOT_STUB_PAGE: u64 = 0xFFFF_F000;
/// The reset vector.
pub const RESET_VECTOR: u64 = 0xFFFF_FFF0;
/// The boot ROM directory (native `-bios` boot): what the stub copies where, and the entry state.
pub const BOOT_ROM_DIRECTORY: u64 = 0xFFFF_E000;
/// QEMU's `-bios` ROM must be a whole number of these.
pub const BOOT_ROM_ALIGN: u64 = 0x1_0000;

/// The SNP VMSA's GPA in the IGVM image (what KVM's launch flow measures last).
pub const SNP_VMSA_GPA: u64 = 0xFFFF_FFFF_F000;

/// A range of guest-physical addresses Warden owns: `[start, end)`, page-aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedRange {
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// What lives there.
    pub what: &'static str,
}

/// Every range Warden owns, the one list every guest-address check refuses (threat model T4). The
/// region holds the page tables, the parameter, SNP secrets and CPUID pages, the stacks, the image (with
/// the GHCB page in its `.bss`) and the heap; outside it live the boot ROM directory and the boot stub
/// below 4 GiB, and the SNP VMSA the launch measures last.
pub const WARDEN_OWNED: &[OwnedRange] = &[
    OwnedRange { start: WARDEN_BASE, end: WARDEN_END, what: "Warden's region" },
    OwnedRange {
        start: BOOT_ROM_DIRECTORY,
        end: BOOT_STUB_PAGE + PAGE_SIZE,
        what: "boot ROM directory, boot stub",
    },
    OwnedRange { start: SNP_VMSA_GPA, end: SNP_VMSA_GPA + PAGE_SIZE, what: "SNP VMSA" },
];

/// The range of [`WARDEN_OWNED`] that `[gpa, gpa + len)` overlaps, if any (an empty or overflowing
/// range overlaps nothing: callers refuse those first).
pub const fn owned_overlap(gpa: u64, len: u64) -> Option<OwnedRange> {
    let Some(end) = gpa.checked_add(len) else { return None };
    let mut i = 0;
    while i < WARDEN_OWNED.len() {
        let r = WARDEN_OWNED[i];
        if gpa < r.end && r.start < end {
            return Some(r);
        }
        i += 1;
    }
    None
}

/// Calls `each(start, end)` for the parts of `[start, end)` that no range of [`WARDEN_OWNED`] overlaps,
/// in address order (guest RAM as Warden may map and serve it: the memory map is the loader's word).
pub fn for_each_unowned(start: u64, end: u64, mut each: impl FnMut(u64, u64)) {
    let mut cursor = start;
    // WARDEN_OWNED is sorted by address (checked below), so one pass cuts every hole.
    for owned in WARDEN_OWNED {
        if owned.end <= cursor || owned.start >= end {
            continue;
        }
        if owned.start > cursor {
            each(cursor, owned.start);
        }
        cursor = owned.end;
    }
    if cursor < end {
        each(cursor, end);
    }
}

/// QEMU's `isa-debug-exit` port: the native platform's way to end a test run with a status.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// The first serial port (console).
pub const COM1_PORT: u16 = 0x3F8;
/// The second serial port (the guest test transport).
pub const COM2_PORT: u16 = 0x2F8;

const _: () = {
    assert!(WARDEN_BASE.is_multiple_of(LARGE_PAGE_SIZE));
    assert!(WARDEN_END.is_multiple_of(LARGE_PAGE_SIZE));
    assert!(stack_top(StackId::Exception) <= STACKS_LIMIT);
    assert!(SNP_CPUID_PAGE + PAGE_SIZE <= GUEST_PAYLOAD_PAGE);
    assert!(GUEST_PAYLOAD_PAGE + PAGE_SIZE <= STACKS_BASE);
    assert!(PAGE_TABLES_BASE + PAGE_TABLES_SIZE <= PARAMS_PAGE);
    assert!(HEAP_BASE.is_multiple_of(LARGE_PAGE_SIZE));
    assert!(BOOT_ROM_DIRECTORY + PAGE_SIZE == BOOT_STUB_PAGE);
    assert!(owned_overlap(SNP_VMSA_GPA, 1).is_some() && owned_overlap(RESET_VECTOR, 16).is_some());
    assert!(owned_overlap(SNP_SECRETS_PAGE, PAGE_SIZE).is_some() && owned_overlap(0, PAGE_SIZE).is_none());
    let mut i = 1;
    while i < WARDEN_OWNED.len() {
        assert!(WARDEN_OWNED[i - 1].end <= WARDEN_OWNED[i].start);
        i += 1;
    }
    let mut i = 0;
    while i < STACKS.len() {
        assert!(STACKS[i].size.is_multiple_of(PAGE_SIZE));
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn stacks_do_not_overlap_and_each_has_a_guard() {
        let ids =
            [StackId::Boot, StackId::DoubleFault, StackId::Nmi, StackId::MachineCheck, StackId::Exception];
        let mut previous_top = STACKS_BASE;
        for id in ids {
            assert_eq!(stack_guard(id), previous_top, "{id:?} guard follows the previous stack");
            assert_eq!(stack_bottom(id), stack_guard(id) + PAGE_SIZE);
            assert!(stack_top(id) > stack_bottom(id));
            previous_top = stack_top(id);
        }
        assert!(previous_top <= STACKS_LIMIT);
    }

    /// The parts `for_each_unowned` hands on (at most four for these inputs).
    fn unowned(start: u64, end: u64) -> ([(u64, u64); 4], usize) {
        let (mut parts, mut len) = ([(0, 0); 4], 0);
        for_each_unowned(start, end, |a, b| {
            parts[len] = (a, b);
            len += 1;
        });
        (parts, len)
    }

    fn parts(start: u64, end: u64) -> std::vec::Vec<(u64, u64)> {
        let (parts, len) = unowned(start, end);
        parts[..len].to_vec()
    }

    /// Threat model T4: whatever range the memory map names, the parts handed on never include a
    /// page Warden owns.
    #[test]
    fn unowned_parts_skip_every_owned_range() {
        assert_eq!(parts(0, 0x1000_0000), [(0, WARDEN_BASE), (WARDEN_END, 0x1000_0000)]);
        assert_eq!(parts(0, WARDEN_BASE), [(0, WARDEN_BASE)]);
        assert_eq!(parts(WARDEN_BASE + PAGE_SIZE, WARDEN_END - PAGE_SIZE), []);
        assert_eq!(
            parts(0xF000_0000, 0x2_0000_0000),
            [(0xF000_0000, BOOT_ROM_DIRECTORY), (0x1_0000_0000, 0x2_0000_0000)]
        );
        let top = SNP_VMSA_GPA + 2 * PAGE_SIZE;
        assert_eq!(
            parts(SNP_VMSA_GPA - PAGE_SIZE, top),
            [(SNP_VMSA_GPA - PAGE_SIZE, SNP_VMSA_GPA), (SNP_VMSA_GPA + PAGE_SIZE, top)]
        );
        for (a, b) in parts(0, top) {
            assert!(a < b && owned_overlap(a, b - a).is_none());
        }
    }

    #[test]
    fn regions_are_inside_warden() {
        for addr in [
            PAGE_TABLES_BASE,
            PARAMS_PAGE,
            MEMORY_MAP_PAGE,
            SNP_SECRETS_PAGE,
            SNP_CPUID_PAGE,
            GUEST_PAYLOAD_PAGE,
            IMAGE_BASE,
            HEAP_BASE,
        ] {
            assert!((WARDEN_BASE..WARDEN_END).contains(&addr));
            assert_eq!(addr % PAGE_SIZE, 0);
        }
    }
}
