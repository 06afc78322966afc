//! TD partitioning: the TDCALL leaves an L1 VMM (Warden) uses to run an L2 guest inside its TD, the
//! metadata field identifiers it writes, the L2 page attributes, the L2 guest-state buffer, and the VMX
//! exit information TDG.VP.ENTER returns when the L2 exits.
//!
//! Sources: Intel TDX Module v1.5 ABI Specification (348551) (TDG.VM.RD, TDG.VP.RD, TDG.VP.WR, field
//! identifier layout, MD_TDCS_NUM_L2_VMS, MD_TDVPS_L2_CTLS); Intel TDX Module TD Partitioning Architecture
//! Specification (TDG.VP.ENTER, its L2 guest-state buffer and exit registers, TDG.MEM.PAGE.ATTR.RD and
//! .WR); Intel SDM vol. 3, Appendix B (VMCS field encodings), Appendix C (VMX basic exit reasons),
//! Table 28-5 (I/O instruction exit qualification) and Table 28-7 (EPT-violation exit qualification).
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// TDCALL leaf TDG.VM.RD: RDX = field id; out R8 = value.
pub const TDG_VM_RD: u64 = 7;
/// TDCALL leaf TDG.VP.RD: RDX = field id; out R8 = value.
pub const TDG_VP_RD: u64 = 9;
/// TDCALL leaf TDG.VP.WR: RDX = field id, R8 = value, R9 = write mask; out R8 = the old value.
pub const TDG_VP_WR: u64 = 10;
/// TDCALL leaf TDG.MEM.PAGE.ATTR.RD: RCX = GPA; out RCX = GPA | level, RDX = attributes.
pub const TDG_MEM_PAGE_ATTR_RD: u64 = 23;
/// TDCALL leaf TDG.MEM.PAGE.ATTR.WR: RCX = GPA | level, RDX = attributes, R8 = mask.
pub const TDG_MEM_PAGE_ATTR_WR: u64 = 24;
/// TDCALL leaf TDG.VP.ENTER: RCX = flags, RDX = GPA of the L2 guest-state buffer.
pub const TDG_VP_ENTER: u64 = 25;

/// TD-scope metadata: how many L2 VMs the TD was built with (0 = not partitioned).
pub const MD_TDCS_NUM_L2_VMS: u64 = 0x9010_0001_0000_0005;
/// VM 1's L2 controls (vCPU scope). Bit 1 ENABLE_TDVMCALL lets the L2's TDG.VP.VMCALL reach the VMM
/// directly; Warden leaves it clear, so every TDCALL of the L2 exits to Warden.
pub const MD_TDVPS_L2_CTLS_VM1: u64 = 0xA020_0003_0000_0051;
/// The index of the one L2 VM Warden runs.
pub const L2_VM_INDEX: u64 = 1;

/// The field id of VMCS field `encoding` of VM 1's L2 VMCS: class 36 (VM 1's VMCS) in bits 61:56,
/// context 2 (vCPU) in bits 54:52, element size 3 (64 bits) in bits 33:32, the SDM encoding below.
pub const fn l2_vmcs_field(encoding: u32) -> u64 {
    (36 << 56) | (2 << 52) | (3 << 32) | encoding as u64
}

/// VMCS field encodings (Intel SDM vol. 3, Appendix B) of the L2 state Warden writes.
pub mod vmcs {
    /// Guest selectors (B.1.2).
    pub const GUEST_ES_SELECTOR: u32 = 0x0800;
    /// CS selector.
    pub const GUEST_CS_SELECTOR: u32 = 0x0802;
    /// SS selector.
    pub const GUEST_SS_SELECTOR: u32 = 0x0804;
    /// DS selector.
    pub const GUEST_DS_SELECTOR: u32 = 0x0806;
    /// FS selector.
    pub const GUEST_FS_SELECTOR: u32 = 0x0808;
    /// GS selector.
    pub const GUEST_GS_SELECTOR: u32 = 0x080A;
    /// LDTR selector.
    pub const GUEST_LDTR_SELECTOR: u32 = 0x080C;
    /// TR selector.
    pub const GUEST_TR_SELECTOR: u32 = 0x080E;
    /// Virtual-APIC page address (B.2.1), which TDG.VP.ENTER requires before the first entry.
    pub const VIRTUAL_APIC_PAGE_ADDRESS: u32 = 0x2012;
    /// Guest IA32_EFER (B.2.3).
    pub const GUEST_IA32_EFER: u32 = 0x2806;
    /// Segment limits (B.3.3): ES; the others follow every 2.
    pub const GUEST_ES_LIMIT: u32 = 0x4800;
    /// CS limit.
    pub const GUEST_CS_LIMIT: u32 = 0x4802;
    /// SS limit.
    pub const GUEST_SS_LIMIT: u32 = 0x4804;
    /// DS limit.
    pub const GUEST_DS_LIMIT: u32 = 0x4806;
    /// FS limit.
    pub const GUEST_FS_LIMIT: u32 = 0x4808;
    /// GS limit.
    pub const GUEST_GS_LIMIT: u32 = 0x480A;
    /// LDTR limit.
    pub const GUEST_LDTR_LIMIT: u32 = 0x480C;
    /// TR limit.
    pub const GUEST_TR_LIMIT: u32 = 0x480E;
    /// GDTR limit.
    pub const GUEST_GDTR_LIMIT: u32 = 0x4810;
    /// IDTR limit.
    pub const GUEST_IDTR_LIMIT: u32 = 0x4812;
    /// Access rights (B.3.3): ES.
    pub const GUEST_ES_AR: u32 = 0x4814;
    /// CS access rights.
    pub const GUEST_CS_AR: u32 = 0x4816;
    /// SS access rights.
    pub const GUEST_SS_AR: u32 = 0x4818;
    /// DS access rights.
    pub const GUEST_DS_AR: u32 = 0x481A;
    /// FS access rights.
    pub const GUEST_FS_AR: u32 = 0x481C;
    /// GS access rights.
    pub const GUEST_GS_AR: u32 = 0x481E;
    /// LDTR access rights.
    pub const GUEST_LDTR_AR: u32 = 0x4820;
    /// TR access rights.
    pub const GUEST_TR_AR: u32 = 0x4822;
    /// Guest CR0 (B.4.3).
    pub const GUEST_CR0: u32 = 0x6800;
    /// Guest CR3.
    pub const GUEST_CR3: u32 = 0x6802;
    /// Guest CR4.
    pub const GUEST_CR4: u32 = 0x6804;
    /// Segment bases (B.4.3): ES.
    pub const GUEST_ES_BASE: u32 = 0x6806;
    /// CS base.
    pub const GUEST_CS_BASE: u32 = 0x6808;
    /// SS base.
    pub const GUEST_SS_BASE: u32 = 0x680A;
    /// DS base.
    pub const GUEST_DS_BASE: u32 = 0x680C;
    /// FS base.
    pub const GUEST_FS_BASE: u32 = 0x680E;
    /// GS base.
    pub const GUEST_GS_BASE: u32 = 0x6810;
    /// LDTR base.
    pub const GUEST_LDTR_BASE: u32 = 0x6812;
    /// TR base.
    pub const GUEST_TR_BASE: u32 = 0x6814;
    /// GDTR base.
    pub const GUEST_GDTR_BASE: u32 = 0x6816;
    /// IDTR base.
    pub const GUEST_IDTR_BASE: u32 = 0x6818;
}

/// L2 page attributes, one 16-bit field per VM (TDG.MEM.PAGE.ATTR.WR): read.
pub const ATTR_R: u64 = 0x1;
/// Write (never without read).
pub const ATTR_W: u64 = 0x2;
/// Execute in supervisor mode.
pub const ATTR_XS: u64 = 0x4;
/// Execute in user mode.
pub const ATTR_XU: u64 = 0x8;
/// The attributes are valid; set whenever another bit is.
pub const ATTR_VALID: u64 = 0x8000;
/// Everything: what Warden grants the L2 on the pages the launch contract names.
pub const ATTR_ALL: u64 = ATTR_R | ATTR_W | ATTR_XS | ATTR_XU | ATTR_VALID;
/// Where VM `vm`'s 16-bit attribute field sits in RDX and R8 (VM 0, the L1 itself, at bits 15:0).
pub const fn attr_shift(vm: u64) -> u32 {
    16 * vm as u32
}

/// TDX_OPERAND_INVALID's operand id for TDG.VP.ENTER's missing virtual-APIC page.
pub const OPERAND_ID_VIRTUAL_APIC: u64 = 0x40;
/// TDX_METADATA_FIELD_ID_INCORRECT: an unknown metadata field.
pub const TDX_METADATA_FIELD_ID_INCORRECT: u64 = 0xC000_0C00_0000_0000;

/// The L2 guest-state buffer TDG.VP.ENTER's RDX names (TD Partitioning Architecture Specification,
/// L2_ENTER_GUEST_STATE): the L2's GPRs, RFLAGS, RIP, SSP and interrupt status. The module loads the
/// L2 from it at entry and stores the L2's registers into it at exit (RIP of the exiting instruction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(256))]
pub struct L2GuestState {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8 .. R15, in that (the VMX GPR) order.
    pub gprs: [u64; 16],
    /// RFLAGS.
    pub rflags: u64,
    /// RIP.
    pub rip: u64,
    /// The shadow-stack pointer.
    pub ssp: u64,
    /// The guest interrupt status (RVI, SVI).
    pub interrupt_status: u16,
    /// Padding to the architectural 256 bytes.
    pub reserved: [u8; 0x66],
}

/// GPR indices into [`L2GuestState::gprs`].
pub mod gpr {
    /// RAX.
    pub const RAX: usize = 0;
    /// RCX.
    pub const RCX: usize = 1;
    /// RDX.
    pub const RDX: usize = 2;
    /// RBX.
    pub const RBX: usize = 3;
    /// RSP.
    pub const RSP: usize = 4;
    /// RSI.
    pub const RSI: usize = 6;
    /// RDI.
    pub const RDI: usize = 7;
    /// R8.
    pub const R8: usize = 8;
    /// R9.
    pub const R9: usize = 9;
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<L2GuestState>() == 0x100);
    assert!(align_of::<L2GuestState>() == 0x100);
    assert!(offset_of!(L2GuestState, rflags) == 0x80);
    assert!(offset_of!(L2GuestState, rip) == 0x88);
    assert!(offset_of!(L2GuestState, ssp) == 0x90);
    assert!(offset_of!(L2GuestState, interrupt_status) == 0x98);
    assert!(l2_vmcs_field(0) == 0x2420_0003_0000_0000);
};

/// VMX basic exit reasons of an L2 exit (Intel SDM vol. 3, Appendix C).
pub mod l2_exit_reason {
    /// Triple fault.
    pub const TRIPLE_FAULT: u32 = 2;
    /// CPUID.
    pub const CPUID: u32 = 10;
    /// HLT.
    pub const HLT: u32 = 12;
    /// VMCALL: the L2's SVSM call.
    pub const VMCALL: u32 = 18;
    /// IN, OUT, INS, OUTS.
    pub const IO: u32 = 30;
    /// RDMSR.
    pub const RDMSR: u32 = 31;
    /// WRMSR.
    pub const WRMSR: u32 = 32;
    /// An EPT violation: the L2 touched a page without the attribute for the access.
    pub const EPT_VIOLATION: u32 = 48;
    /// TDCALL (any leaf) from the L2.
    pub const TDCALL: u32 = 77;
}

/// An I/O instruction's exit qualification (Intel SDM vol. 3, Table 28-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoQualification(pub u64);

impl IoQualification {
    /// The access size in bytes (bits 2:0 hold size − 1: 0, 1 or 3).
    pub const fn size(self) -> u8 {
        (self.0 & 0x7) as u8 + 1
    }
    /// Bit 3: IN (true) or OUT.
    pub const fn is_in(self) -> bool {
        self.0 & (1 << 3) != 0
    }
    /// Bit 4: INS/OUTS.
    pub const fn is_string(self) -> bool {
        self.0 & (1 << 4) != 0
    }
    /// Bit 5: a REP prefix.
    pub const fn is_rep(self) -> bool {
        self.0 & (1 << 5) != 0
    }
    /// Bits 31:16: the port.
    pub const fn port(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

/// An EPT violation's exit qualification (Intel SDM vol. 3, Table 28-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EptQualification(pub u64);

impl EptQualification {
    /// Bit 0: the access was a data read.
    pub const fn read(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 1: a data write.
    pub const fn write(self) -> bool {
        self.0 & 2 != 0
    }
    /// Bit 2: an instruction fetch.
    pub const fn fetch(self) -> bool {
        self.0 & 4 != 0
    }
    /// Bits 5:3: whether the page was readable, writable, executable for the L2.
    pub const fn page_permissions(self) -> u8 {
        ((self.0 >> 3) & 0x7) as u8
    }
    /// Bit 7: the guest linear address is valid.
    pub const fn linear_address_valid(self) -> bool {
        self.0 & (1 << 7) != 0
    }
}
