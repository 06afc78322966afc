//! warden-machine: an emulated SEV-SNP machine that runs Warden's real firmware binary on
//! unicorn-engine (QEMU's TCG) and supplies SEV-SNP's architecture around it.
//!
//! What the two probes in `tests/unicorn_probes.rs` found, and the design that follows from them:
//! - **32-bit start in a MODE_64 engine.** Writing CS/DS/SS/ES through the register API of a MODE_64
//!   engine sets only the selector (no descriptor load, the mode flags stay 64-bit). What works: clear
//!   EFER.LMA/LME and CR0.PG through the register API, point GDTR at a scratch GDT (outside guest RAM)
//!   holding descriptors built from the VMSA's segment attributes, and run a 9-instruction trampoline
//!   there: a far jump loads CS (the CPU is now in 32-bit protected mode), then `mov` loads the data
//!   segments. GDTR is then set back to the VMSA's value and the scratch page unmapped ([`cpu`]).
//! - **Physical address width.** Unicorn has QEMU TCG's 40-bit physical address width
//!   (`TCG_PHYS_ADDR_BITS`): a page-table entry naming bit 39 reaches memory mapped there, bits 40-51 are
//!   reserved bits and raise #PF. Real parts put the C-bit at 51 or 47; this machine reports **39**,
//!   the highest bit its MMU honours, and maps the private (C=1) view of guest RAM at `1 << 39` + GPA
//!   and the shared (C=0) view at the GPA itself ([`memory`]).
pub mod cpu;
pub mod cpuid_model;
pub mod exceptions;
pub mod ghcb_msr;
pub mod guest_code;
pub mod guest_request;
pub mod host_nonce;
pub mod hypervisor;
pub mod intercepts;
pub mod launch_digest;
pub mod loader;
pub mod machine;
pub mod memory;
pub mod nae;
pub mod psp;
pub mod serial;
pub mod snp_instructions;
pub mod state_disk;
pub mod tdx;
pub mod vmpl;
pub mod vmsa_state;
