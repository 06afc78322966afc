//! The boot CPU's start state per platform: the native VP context (64-bit, straight into Warden) and
//! the SNP VMSA (32-bit protected mode at the boot stub, as KVM accepts it).
//!
//! TDX has no VP context in IGVM: the CPU starts at the architectural reset vector in the stub page.
use igvm::snp_defs::{SevFeatures, SevSelector, SevVmsa};
use igvm_defs::IgvmNativeVpContextX64;
use warden_defs::boot::BootPlatform;
use zerocopy::FromZeros;

use crate::image::EntryState;

/// RFLAGS after reset: only the always-one bit 1.
const RFLAGS_RESET: u64 = 0x2;

/// The SNP VMSA's CR0: PE (bit 0), ET (bit 4), NE (bit 5): protected mode, no paging. `igvmmeasure
/// --check-kvm` (coconut-svsm, `tools/igvmmeasure`) accepts only 0x31 or 0x30.
pub const SNP_CR0: u64 = 0x31;
/// The SNP VMSA's EFER: SVME (bit 12), which KVM sets on every SEV-ES/SNP vCPU.
pub const SNP_EFER: u64 = 0x1000;
/// The SNP VMSA's CR4: MCE (bit 6), which KVM sets at vCPU reset.
pub const SNP_CR4: u64 = 0x40;
/// The flat 32-bit code segment of the `snp:svsm` VMSA: selector 8, attributes 0xC9B (G, D, P, S,
/// type 0xB execute/read accessed), base 0, limit 4 GiB.
pub const SNP_CODE32: SevSelector = SevSelector { selector: 8, attrib: 0xC9B, limit: 0xFFFF_FFFF, base: 0 };
/// The flat 32-bit data segment of the `snp:svsm` VMSA: selector 0x10, attributes 0xC93.
pub const SNP_DATA32: SevSelector =
    SevSelector { selector: 0x10, attrib: 0xC93, limit: 0xFFFF_FFFF, base: 0 };

/// The native VP context: Warden's 64-bit entry state, RDI = [`BootPlatform::Native`].
///
/// The segments are flat 64-bit code (attributes 0xA09B: G, L, P, S, type 0xB) and flat data (0xC093).
/// GDTR and IDTR are empty: Warden loads its own GDT and IDT before it reloads a segment or takes an
/// interrupt.
pub fn native_context(entry: &EntryState) -> IgvmNativeVpContextX64 {
    let mut context = IgvmNativeVpContextX64::new_zeroed();
    context.rip = entry.rip;
    context.rsp = entry.rsp;
    context.rsi = entry.rsi;
    context.rdi = BootPlatform::Native as u64;
    context.rflags = RFLAGS_RESET;
    context.code_selector = 0x08;
    context.code_attributes = 0xA09B;
    context.code_base = 0;
    context.code_limit = 0xFFFF_FFFF;
    context.data_selector = 0x10;
    context.data_attributes = 0xC093;
    context.data_base = 0;
    context.data_limit = 0xFFFF_FFFF;
    context.cr0 = entry.cr0;
    context.cr3 = entry.cr3;
    context.cr4 = entry.cr4;
    context.efer = entry.efer;
    context
}

/// The SNP VMSA of the boot CPU: 32-bit flat protected mode at the stub's `entry32`, RDI =
/// [`BootPlatform::Snp`]. The stub reads CR3, RIP and RSP from the boot ROM directory page and enters
/// long mode itself.
///
/// Every field is what KVM would hold for a vCPU QEMU put in this state (the `snp:svsm` VMSA of
/// `sev-snp-measure`, with CR0 0x31 for `--check-kvm`): a VMSA field KVM does not take from QEMU must
/// hold KVM's value, or the launch digest computed here differs from the one the PSP reports.
pub fn snp_vmsa(entry: &EntryState, entry32: u64) -> Box<SevVmsa> {
    let mut vmsa = SevVmsa::new_box_zeroed().expect("a VMSA is one page");
    vmsa.cs = SNP_CODE32;
    for segment in [&mut vmsa.es, &mut vmsa.ss, &mut vmsa.ds, &mut vmsa.fs] {
        *segment = SNP_DATA32;
    }
    vmsa.gs = SevSelector { selector: 0, attrib: 0x93, limit: 0xFFFF, base: 0 };
    vmsa.gdtr = SevSelector { selector: 0, attrib: 0, limit: 0xFFFF, base: 0 };
    vmsa.idtr = SevSelector { selector: 0, attrib: 0, limit: 0xFFFF, base: 0 };
    vmsa.ldtr = SevSelector { selector: 0, attrib: 0x82, limit: 0xFFFF, base: 0 };
    vmsa.tr = SevSelector { selector: 0, attrib: 0x8B, limit: 0xFFFF, base: 0 };
    vmsa.efer = SNP_EFER;
    vmsa.cr4 = SNP_CR4;
    vmsa.cr0 = SNP_CR0;
    vmsa.dr7 = 0x400;
    vmsa.dr6 = 0xFFFF_0FF0;
    vmsa.rflags = RFLAGS_RESET;
    vmsa.rip = entry32;
    // PAT's power-on value (AMD APM vol. 2 §A.3).
    vmsa.pat = 0x0007_0406_0007_0406;
    vmsa.rsi = entry.rsi;
    vmsa.rdi = BootPlatform::Snp as u64;
    vmsa.sev_features = SevFeatures::new().with_snp(true);
    vmsa.xcr0 = 1;
    vmsa.mxcsr = 0x1F80;
    vmsa.x87_fcw = 0x37F;
    vmsa
}
