//! The SEV-SNP VMSA: the 4 KiB page the CPU loads a vCPU's state from and saves it to.
//!
//! Layout: AMD64 APM vol. 2, Appendix B, table "VMSA Layout, State Save Area for SEV-ES", with the
//! SEV-SNP fields (VMPL, SEV_FEATURES, VIRTUAL_TOM, ...) of the same table; Linux
//! `arch/x86/include/asm/svm.h` (`struct sev_es_save_area`) and COCONUT `cpuarch/src/vmsa.rs` agree.
//! The `xtask` tests compare every offset with `igvm::snp_defs::SevVmsa`. Reserved ranges are
//! explicit byte arrays named by their offset, so every field's offset can be read off the struct.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// One segment register in the VMSA (APM vol. 2, Appendix B: selector, attributes, limit, base).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VmsaSegment {
    /// The selector.
    pub selector: u16,
    /// The packed attributes (type, S, DPL, P, AVL, L, D/B, G).
    pub attrib: u16,
    /// The limit.
    pub limit: u32,
    /// The base.
    pub base: u64,
}

const _: () = assert!(core::mem::size_of::<VmsaSegment>() == 16);

/// The VMSA page (APM vol. 2, Appendix B, "VMSA Layout, State Save Area for SEV-ES"). Field names follow the APM; `reserved_0xNNN` starts at
/// offset NNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Vmsa {
    /// 0x000.
    pub es: VmsaSegment,
    /// 0x010.
    pub cs: VmsaSegment,
    /// 0x020.
    pub ss: VmsaSegment,
    /// 0x030.
    pub ds: VmsaSegment,
    /// 0x040.
    pub fs: VmsaSegment,
    /// 0x050.
    pub gs: VmsaSegment,
    /// 0x060.
    pub gdtr: VmsaSegment,
    /// 0x070.
    pub ldtr: VmsaSegment,
    /// 0x080.
    pub idtr: VmsaSegment,
    /// 0x090.
    pub tr: VmsaSegment,
    /// 0x0A0: CET shadow stack pointers for CPL 0..3, then U_CET.
    pub pl0_ssp: u64,
    /// 0x0A8.
    pub pl1_ssp: u64,
    /// 0x0B0.
    pub pl2_ssp: u64,
    /// 0x0B8.
    pub pl3_ssp: u64,
    /// 0x0C0.
    pub u_cet: u64,
    /// 0x0C8.
    pub reserved_0x0c8: [u8; 2],
    /// 0x0CA: the VMPL the vCPU runs at. CREATE_VCPU requires the guest's.
    pub vmpl: u8,
    /// 0x0CB.
    pub cpl: u8,
    /// 0x0CC.
    pub reserved_0x0cc: [u8; 4],
    /// 0x0D0: EFER; SVME ([`EFER_SVME`]) must be set for the CPU to run the VMSA.
    pub efer: u64,
    /// 0x0D8.
    pub reserved_0x0d8: [u8; 104],
    /// 0x140.
    pub xss: u64,
    /// 0x148.
    pub cr4: u64,
    /// 0x150.
    pub cr3: u64,
    /// 0x158.
    pub cr0: u64,
    /// 0x160.
    pub dr7: u64,
    /// 0x168.
    pub dr6: u64,
    /// 0x170.
    pub rflags: u64,
    /// 0x178.
    pub rip: u64,
    /// 0x180: DR0..DR3, then their address masks.
    pub dr0: u64,
    /// 0x188.
    pub dr1: u64,
    /// 0x190.
    pub dr2: u64,
    /// 0x198.
    pub dr3: u64,
    /// 0x1A0.
    pub dr0_addr_mask: u64,
    /// 0x1A8.
    pub dr1_addr_mask: u64,
    /// 0x1B0.
    pub dr2_addr_mask: u64,
    /// 0x1B8.
    pub dr3_addr_mask: u64,
    /// 0x1C0.
    pub reserved_0x1c0: [u8; 24],
    /// 0x1D8.
    pub rsp: u64,
    /// 0x1E0.
    pub s_cet: u64,
    /// 0x1E8.
    pub ssp: u64,
    /// 0x1F0.
    pub isst_addr: u64,
    /// 0x1F8: the SVSM call's protocol and call in, its result out.
    pub rax: u64,
    /// 0x200.
    pub star: u64,
    /// 0x208.
    pub lstar: u64,
    /// 0x210.
    pub cstar: u64,
    /// 0x218.
    pub sfmask: u64,
    /// 0x220.
    pub kernel_gs_base: u64,
    /// 0x228.
    pub sysenter_cs: u64,
    /// 0x230.
    pub sysenter_esp: u64,
    /// 0x238.
    pub sysenter_eip: u64,
    /// 0x240.
    pub cr2: u64,
    /// 0x248.
    pub reserved_0x248: [u8; 32],
    /// 0x268.
    pub g_pat: u64,
    /// 0x270.
    pub dbgctl: u64,
    /// 0x278.
    pub br_from: u64,
    /// 0x280.
    pub br_to: u64,
    /// 0x288.
    pub last_excp_from: u64,
    /// 0x290.
    pub last_excp_to: u64,
    /// 0x298.
    pub reserved_0x298: [u8; 72],
    /// 0x2E0.
    pub spec_ctrl: u64,
    /// 0x2E8.
    pub pkru: u32,
    /// 0x2EC.
    pub tsc_aux: u32,
    /// 0x2F0.
    pub reserved_0x2f0: [u8; 24],
    /// 0x308: the first SVSM call argument.
    pub rcx: u64,
    /// 0x310.
    pub rdx: u64,
    /// 0x318.
    pub rbx: u64,
    /// 0x320 (RSP lives at 0x1D8).
    pub reserved_0x320: u64,
    /// 0x328.
    pub rbp: u64,
    /// 0x330.
    pub rsi: u64,
    /// 0x338.
    pub rdi: u64,
    /// 0x340.
    pub r8: u64,
    /// 0x348.
    pub r9: u64,
    /// 0x350.
    pub r10: u64,
    /// 0x358.
    pub r11: u64,
    /// 0x360.
    pub r12: u64,
    /// 0x368.
    pub r13: u64,
    /// 0x370.
    pub r14: u64,
    /// 0x378.
    pub r15: u64,
    /// 0x380.
    pub reserved_0x380: [u8; 16],
    /// 0x390.
    pub guest_exit_info_1: u64,
    /// 0x398.
    pub guest_exit_info_2: u64,
    /// 0x3A0.
    pub guest_exit_int_info: u64,
    /// 0x3A8.
    pub guest_nrip: u64,
    /// 0x3B0: CREATE_VCPU requires the caller's.
    pub sev_features: u64,
    /// 0x3B8.
    pub vintr_ctrl: u64,
    /// 0x3C0: [`EXIT_VMGEXIT`] when the guest called.
    pub guest_exit_code: u64,
    /// 0x3C8.
    pub virtual_tom: u64,
    /// 0x3D0.
    pub tlb_id: u64,
    /// 0x3D8.
    pub pcpu_id: u64,
    /// 0x3E0.
    pub event_inj: u64,
    /// 0x3E8.
    pub xcr0: u64,
    /// 0x3F0.
    pub reserved_0x3f0: [u8; 16],
    /// 0x400: the x87 state.
    pub x87_dp: u64,
    /// 0x408.
    pub mxcsr: u32,
    /// 0x40C.
    pub x87_ftw: u16,
    /// 0x40E.
    pub x87_fsw: u16,
    /// 0x410.
    pub x87_fcw: u16,
    /// 0x412.
    pub x87_fop: u16,
    /// 0x414.
    pub x87_ds: u16,
    /// 0x416.
    pub x87_cs: u16,
    /// 0x418.
    pub x87_rip: u64,
    /// 0x420.
    pub fpreg_x87: [u8; 80],
    /// 0x470.
    pub fpreg_xmm: [u8; 256],
    /// 0x570.
    pub fpreg_ymm: [u8; 256],
    /// 0x670 to the end of the page.
    pub reserved_0x670: [u8; 2448],
}

/// EFER.SVME (bit 12): must be set in a VMSA handed to CREATE_VCPU; DELETE_VCPU clears it.
pub const EFER_SVME: u64 = 1 << 12;
/// The exit code of a VMGEXIT (AMD64 APM vol. 2, Appendix C, SVM intercept codes: VMEXIT_VMGEXIT).
pub const EXIT_VMGEXIT: u64 = 0x403;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Vmsa>() == 4096);
    assert!(offset_of!(Vmsa, tr) == 0x090);
    assert!(offset_of!(Vmsa, u_cet) == 0x0C0);
    assert!(offset_of!(Vmsa, vmpl) == 0x0CA);
    assert!(offset_of!(Vmsa, efer) == 0x0D0);
    assert!(offset_of!(Vmsa, xss) == 0x140);
    assert!(offset_of!(Vmsa, cr0) == 0x158);
    assert!(offset_of!(Vmsa, rip) == 0x178);
    assert!(offset_of!(Vmsa, rsp) == 0x1D8);
    assert!(offset_of!(Vmsa, rax) == 0x1F8);
    assert!(offset_of!(Vmsa, cr2) == 0x240);
    assert!(offset_of!(Vmsa, g_pat) == 0x268);
    assert!(offset_of!(Vmsa, spec_ctrl) == 0x2E0);
    assert!(offset_of!(Vmsa, rcx) == 0x308);
    assert!(offset_of!(Vmsa, rdx) == 0x310);
    assert!(offset_of!(Vmsa, r8) == 0x340);
    assert!(offset_of!(Vmsa, r9) == 0x348);
    assert!(offset_of!(Vmsa, r15) == 0x378);
    assert!(offset_of!(Vmsa, guest_exit_info_1) == 0x390);
    assert!(offset_of!(Vmsa, sev_features) == 0x3B0);
    assert!(offset_of!(Vmsa, guest_exit_code) == 0x3C0);
    assert!(offset_of!(Vmsa, xcr0) == 0x3E8);
    assert!(offset_of!(Vmsa, x87_dp) == 0x400);
    assert!(offset_of!(Vmsa, fpreg_x87) == 0x420);
    assert!(offset_of!(Vmsa, fpreg_ymm) == 0x570);
    assert!(offset_of!(Vmsa, reserved_0x670) == 0x670);
};
