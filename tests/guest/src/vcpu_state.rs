//! The start state of the second vCPU the guest creates with CREATE_VCPU: a VMSA page (AMD64 APM
//! vol. 2, Appendix B, "VMSA Layout"; SEV-SNP fields of the same table) for 64-bit mode at the guest's
//! VMPL, on the guest's own page tables, GDT and IDT. CREATE_VCPU requires VMPL = the guest's, EFER.SVME
//! set and SEV_FEATURES = the caller's (SVSM spec (AMD 58019), SVSM_CORE_CREATE_VCPU).
use warden_defs::vmsa::{EFER_SVME, Vmsa, VmsaSegment};
use zerocopy::FromZeros;

/// EFER.LME | EFER.LMA | EFER.NXE (AMD64 APM vol. 2 §3.1.7).
const EFER_LONG_MODE: u64 = (1 << 8) | (1 << 10) | (1 << 11);
/// A present, accessed 64-bit code segment, DPL 0, in the VMSA's packed attribute form (type/S/DPL/P
/// in bits 7:0, AVL/L/D/G in bits 11:8): type 0xB, S, P, L, G.
pub const CODE64_ATTRIB: u16 = 0xA9B;
/// A present, accessed writable data segment, DPL 0: type 0x3, S, P, D/B, G.
pub const DATA_ATTRIB: u16 = 0xC93;
/// An unused LDT and a busy 64-bit TSS, as the architecture's reset state has them.
const LDTR_ATTRIB: u16 = 0x82;
const TR_ATTRIB: u16 = 0x8B;
/// The reset values the APM gives for the debug registers, PAT, x87 and SSE control.
const DR6_RESET: u64 = 0xFFFF_0FF0;
const DR7_RESET: u64 = 0x400;
const PAT_RESET: u64 = 0x0007_0406_0007_0406;
const MXCSR_RESET: u32 = 0x1F80;
const FCW_RESET: u16 = 0x37F;

/// SEV_STATUS (MSR 0xC001_0131) reports the running VMSA's SEV_FEATURES shifted up by two: bit 0 SEV,
/// bit 1 SEV-ES, then SEV_FEATURES bit n at bit n + 2 (AMD64 APM vol. 2 §15.34.10, "SEV_STATUS MSR";
/// Linux `MSR_AMD64_SNP_*`). The guest cannot read its own VMSA, so this is how it learns the value
/// CREATE_VCPU requires.
pub const fn sev_features_from_status(sev_status: u64) -> u64 {
    sev_status >> 2
}

/// What the new vCPU starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartState {
    /// The VMPL it runs at (the guest's).
    pub vmpl: u8,
    /// SEV_FEATURES (the caller's).
    pub sev_features: u64,
    /// CR0, CR3, CR4 as the boot vCPU runs with them.
    pub cr0: u64,
    /// The guest's page tables.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// The GDT (base, limit) and its code and data selectors.
    pub gdt: (u64, u16),
    /// The flat 64-bit code selector.
    pub code_selector: u16,
    /// The flat data selector.
    pub data_selector: u16,
    /// The IDT (base, limit).
    pub idt: (u64, u16),
    /// Where it starts.
    pub rip: u64,
    /// Its stack.
    pub rsp: u64,
}

fn segment(selector: u16, attrib: u16) -> VmsaSegment {
    VmsaSegment { selector, attrib, limit: 0xFFFF_FFFF, base: 0 }
}

/// The VMSA page for `state`.
pub fn vmsa(state: &StartState) -> Vmsa {
    let mut vmsa = Vmsa::new_zeroed();
    vmsa.cs = segment(state.code_selector, CODE64_ATTRIB);
    let data = segment(state.data_selector, DATA_ATTRIB);
    (vmsa.ds, vmsa.es, vmsa.ss, vmsa.fs, vmsa.gs) = (data, data, data, data, data);
    vmsa.gdtr = VmsaSegment { selector: 0, attrib: 0, limit: u32::from(state.gdt.1), base: state.gdt.0 };
    vmsa.idtr = VmsaSegment { selector: 0, attrib: 0, limit: u32::from(state.idt.1), base: state.idt.0 };
    vmsa.ldtr = VmsaSegment { selector: 0, attrib: LDTR_ATTRIB, limit: 0xFFFF, base: 0 };
    vmsa.tr = VmsaSegment { selector: 0, attrib: TR_ATTRIB, limit: 0xFFFF, base: 0 };
    vmsa.vmpl = state.vmpl;
    vmsa.efer = EFER_LONG_MODE | EFER_SVME;
    (vmsa.cr0, vmsa.cr3, vmsa.cr4) = (state.cr0, state.cr3, state.cr4);
    (vmsa.dr6, vmsa.dr7) = (DR6_RESET, DR7_RESET);
    vmsa.rflags = 2;
    vmsa.rip = state.rip;
    vmsa.rsp = state.rsp;
    vmsa.g_pat = PAT_RESET;
    vmsa.xcr0 = 1;
    vmsa.mxcsr = MXCSR_RESET;
    vmsa.x87_fcw = FCW_RESET;
    vmsa.sev_features = state.sev_features;
    vmsa
}

#[cfg(test)]
mod tests {
    use super::{CODE64_ATTRIB, StartState, sev_features_from_status, vmsa};
    use warden_defs::vmsa::{EFER_SVME, Vmsa};
    use zerocopy::IntoBytes;

    fn state() -> StartState {
        StartState {
            vmpl: 2,
            sev_features: 1,
            cr0: 0x8000_0011,
            cr3: 0x30_4000,
            cr4: 0x20,
            gdt: (0x40_1000, 23),
            code_selector: 8,
            data_selector: 16,
            idt: (0x40_2000, 511),
            rip: 0x40_0100,
            rsp: 0x41_0000,
        }
    }

    #[test]
    fn the_vmsa_passes_create_vcpus_rules() {
        let page = vmsa(&state());
        assert_eq!(page.vmpl, 2);
        assert_ne!(page.efer & EFER_SVME, 0);
        assert_eq!(page.sev_features, 1);
        assert_eq!((page.rip, page.rsp, page.cr3), (0x40_0100, 0x41_0000, 0x30_4000));
        // Byte offsets the hypervisor reads (notebook facts from the APM table): VMPL 0xCA, RIP 0x178.
        let bytes = page.as_bytes();
        assert_eq!(bytes[0xCA], 2);
        assert_eq!(bytes[0x178..0x180], 0x40_0100u64.to_le_bytes());
        assert_eq!(size_of::<Vmsa>(), 4096);
    }

    #[test]
    fn code_segment_is_long_mode() {
        let page = vmsa(&state());
        assert_eq!(page.cs.attrib, CODE64_ATTRIB);
        assert_ne!(page.cs.attrib & (1 << 9), 0, "L");
        assert_eq!(page.cs.attrib & (1 << 10), 0, "D must be clear with L");
        assert_eq!(page.cs.selector, 8);
        assert_eq!(page.ss.selector, 16);
    }

    #[test]
    fn sev_status_maps_onto_sev_features() {
        // SEV | SEV-ES | SNP active -> SNPActive only.
        assert_eq!(sev_features_from_status(0b111), 1);
        // ... plus DebugSwap (SEV_STATUS bit 7) -> SEV_FEATURES bit 5.
        assert_eq!(sev_features_from_status(0b111 | 1 << 7), 1 | 1 << 5);
    }
}
