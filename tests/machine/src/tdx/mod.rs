//! The emulated TDX machine: the same unicorn vCPU as the SEV-SNP machine, with Intel TDX around it
//! instead of SEV-SNP. The VMM builds the TD from the IGVM file's TDX directives and measures it into
//! MRTD ([`loader`], [`mrtd`]); the vCPU starts at the reset vector in 32-bit protected mode
//! ([`reset`]); a TDX module model answers TDCALL ([`module`]) over a Secure EPT of accepted, pending
//! and shared pages (warden-sim's), raises #VE with the information TDG.VP.VEINFO.GET returns ([`ve`]),
//! writes TDREPORTs ([`report`]) and passes TDG.VP.VMCALL to the VMM model ([`vmm`]). TD partitioning:
//! one L2 VM whose vCPU state ([`partition`]) and page attributes ([`l2_attrs`]) the L1 sets, and
//! which TDG.VP.ENTER runs until an L2 exit ([`l2_run`]).
pub mod cli;
pub mod cpuid;
pub mod l2_attrs;
pub mod l2_exits;
pub mod l2_run;
pub mod l2_vmcs_state;
pub mod loader;
pub mod machine;
pub mod module;
#[cfg(test)]
mod module_tests;
pub mod mrtd;
pub mod partition;
#[cfg(test)]
mod partition_tests;
pub mod report;
pub mod reset;
pub mod sites;
pub mod ve;
pub mod vmm;
