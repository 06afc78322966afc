//! Simulated SEV-SNP and TDX platforms. **Insecure: test only** — they model the architecture's
//! rules so that host tests and benchmarks can check Warden against them; they protect nothing.
//!
//! - [`snp::SimSnp`]: an RMP with one entry per 4 KiB page (assigned, 2 MiB page size, validated,
//!   VMSA, per-VMPL permissions), PVALIDATE and RMPADJUST with the hardware's return codes, a
//!   hypervisor that serves page-state changes and can be told to misbehave ([`snp::PscBehavior`]),
//!   and guest-memory accessors that fault on pages that are not validated.
//! - [`tdx::SimTdx`]: a Secure EPT with 4 KiB / 2 MiB / 1 GiB accept, PAGE_ALREADY_ACCEPTED without
//!   zeroing, PAGE_SIZE_MISMATCH, injectable OPERAND_BUSY, and MapGPA with partial completion;
//!   [`tdx_vmm::SimVmm`], the VMM that emulates a TD's CPUID, port and MSR accesses (and can lie).
//!
//! - [`psp::SimPsp`]: a PSP answering SNP guest requests (MSG_REPORT_REQ, MSG_KEY_REQ) with
//!   labelled INSECURE TEST KEYS, and the host's INVALID_LEN for a small certificate buffer.
//!
//! Both count every instruction and exit issued ([`snp::SnpCounters`], [`tdx::TdxCounters`]) for the
//! `accept` benchmark. State is kept sparsely (per 2 MiB for the RMP, per 1 GiB for the Secure EPT,
//! page data only for pages written), so a 1 TiB guest costs memory only where it is fragmented.
//!
//! unsafe: denied crate-wide, with three exceptions: the `SnpMemory` and `TdxMemory` impls, which must be
//! written `unsafe fn` to match the traits (their bodies touch only the model, never real memory), and
//! [`heap_meter::HeapMeter`], a `GlobalAlloc` that forwards every call to the system allocator.
#![deny(unsafe_code)]

pub mod bounds;
mod data;
pub mod heap_meter;
pub mod psp;
mod rmp;
mod sept;
pub mod snp;
pub mod tdx;
pub mod tdx_report;
pub mod tdx_vmm;

pub use rmp::RmpEntry;
pub use sept::PageState;

/// Why a simulated guest access did not complete: the exception the hardware would raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SNP #VC 0x404: the page is assigned to the guest but not validated.
    NotValidated {
        /// The faulting page.
        gpa: u64,
    },
    /// SNP nested page fault: the page is not assigned to the guest (hypervisor-owned).
    NotAssigned {
        /// The faulting page.
        gpa: u64,
    },
    /// SNP nested page fault: the VMPL lacks the permission for this access.
    NoPermission {
        /// The faulting page.
        gpa: u64,
        /// The accessing VMPL.
        vmpl: u8,
    },
    /// TDX #VE / EPT violation: the private page is not accepted.
    NotAccepted {
        /// The faulting page.
        gpa: u64,
    },
    /// The address is outside the guest's memory.
    OutOfRange {
        /// The faulting address.
        gpa: u64,
    },
}

/// 4 KiB.
pub(crate) const PAGE: u64 = 0x1000;
/// 2 MiB.
pub(crate) const LARGE: u64 = 0x20_0000;
/// 1 GiB.
pub(crate) const HUGE: u64 = 0x4000_0000;

/// Whether `[gpa, gpa + len)` lies inside one of `ram`'s ranges.
pub(crate) fn in_ram(ram: &[warden_platform::memory::GpaRange], gpa: u64, len: u64) -> bool {
    let Some(end) = gpa.checked_add(len) else { return false };
    ram.iter().any(|r| r.start() <= gpa && end <= r.end())
}
