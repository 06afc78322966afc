//! TD partitioning, the metadata side: the TD was built with one L2 VM (VM 1), whose vCPU state the
//! L1 reads and writes field by field ("Intel TDX Module TD Partitioning Architecture
//! Specification"; "Intel TDX Module v1.5 ABI Specification" (348551): TDG.VM.RD (leaf 7),
//! TDG.VP.RD (leaf 9), TDG.VP.WR (leaf 10), the metadata field identifier format). The fields the
//! model knows: VM 1's L2 VMCS guest-state fields (encodings from Intel SDM vol. 3 Appendix B), its
//! virtual-APIC page address, and MD_TDVPS_L2_CTLS. TDG.VP.ENTER's operand checks live here too; the
//! entry itself is the machine's ([`super::l2_run`]).
use std::collections::BTreeMap;

use super::l2_attrs::operand_invalid;

/// The leaves, field identifiers and error codes, as Warden's definitions name them (one source for the
/// firmware and the model, as the SNP machine shares `warden_defs`' wire structs).
pub use warden_defs::tdx_partition::{
    MD_TDCS_NUM_L2_VMS, MD_TDVPS_L2_CTLS_VM1, OPERAND_ID_VIRTUAL_APIC, TDG_MEM_PAGE_ATTR_RD,
    TDG_MEM_PAGE_ATTR_WR, TDG_VM_RD, TDG_VP_ENTER, TDG_VP_RD, TDG_VP_WR, TDX_METADATA_FIELD_ID_INCORRECT,
};
/// The upper half of a VM 1 L2 VMCS field identifier (class 36, context 2, element size 3); the VMCS
/// encoding is the lower half.
pub const L2_VMCS_VM1: u64 = warden_defs::tdx_partition::l2_vmcs_field(0);

/// VMCS encodings (SDM vol. 3 Appendix B) of the guest-state fields the model keeps.
pub mod vmcs {
    /// Selectors ES, CS, SS, DS, FS, GS, LDTR, TR.
    pub const SELECTORS: [u32; 8] = [0x0800, 0x0802, 0x0804, 0x0806, 0x0808, 0x080A, 0x080C, 0x080E];
    /// Limits ES, CS, SS, DS, FS, GS, LDTR, TR, GDTR, IDTR.
    pub const LIMITS: [u32; 10] =
        [0x4800, 0x4802, 0x4804, 0x4806, 0x4808, 0x480A, 0x480C, 0x480E, 0x4810, 0x4812];
    /// Access rights ES, CS, SS, DS, FS, GS, LDTR, TR.
    pub const ACCESS_RIGHTS: [u32; 8] = [0x4814, 0x4816, 0x4818, 0x481A, 0x481C, 0x481E, 0x4820, 0x4822];
    /// Bases ES, CS, SS, DS, FS, GS, LDTR, TR, GDTR, IDTR.
    pub const BASES: [u32; 10] =
        [0x6806, 0x6808, 0x680A, 0x680C, 0x680E, 0x6810, 0x6812, 0x6814, 0x6816, 0x6818];
    /// Index of CS in [`SELECTORS`], [`ACCESS_RIGHTS`] and the first eight of [`LIMITS`]/[`BASES`].
    pub const CS: usize = 1;
    /// Index of FS.
    pub const FS: usize = 4;
    /// Index of GS.
    pub const GS: usize = 5;
    /// Index of TR.
    pub const TR: usize = 7;
    /// Index of GDTR in [`LIMITS`]/[`BASES`].
    pub const GDTR: usize = 8;
    /// Index of IDTR.
    pub const IDTR: usize = 9;
    /// GUEST_CR0.
    pub const GUEST_CR0: u32 = 0x6800;
    /// GUEST_CR3.
    pub const GUEST_CR3: u32 = 0x6802;
    /// GUEST_CR4.
    pub const GUEST_CR4: u32 = 0x6804;
    /// GUEST_IA32_EFER.
    pub const GUEST_IA32_EFER: u32 = 0x2806;
    /// VIRTUAL_APIC_PAGE_ADDRESS.
    pub const VIRTUAL_APIC_PAGE_ADDRESS: u32 = 0x2012;
    /// Selectors of ES, SS, DS (indexes into [`SELECTORS`]) besides CS.
    pub const DATA: [usize; 3] = [0, 2, 3];

    /// Whether the model keeps `encoding`.
    pub fn known(encoding: u32) -> bool {
        SELECTORS.contains(&encoding)
            || LIMITS.contains(&encoding)
            || ACCESS_RIGHTS.contains(&encoding)
            || BASES.contains(&encoding)
            || [GUEST_CR0, GUEST_CR3, GUEST_CR4, GUEST_IA32_EFER, VIRTUAL_APIC_PAGE_ADDRESS]
                .contains(&encoding)
    }
}

/// VM 1's L2 vCPU as the L1 configures it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    /// The VMCS fields written so far (unwritten fields read 0).
    fields: BTreeMap<u32, u64>,
    /// Fields written since the L2 last entered: the next entry applies them.
    pub dirty: Vec<u32>,
    /// MD_TDVPS_L2_CTLS.
    l2_ctls: u64,
}

impl Partition {
    /// A VMCS field of VM 1 (0 if never written).
    pub fn field(&self, encoding: u32) -> u64 {
        self.fields.get(&encoding).copied().unwrap_or(0)
    }

    /// Records the L2's current value of `encoding` (at an L2 exit), without making it dirty.
    pub fn note(&mut self, encoding: u32, value: u64) {
        self.fields.insert(encoding, value);
    }

    /// Whether the L1 set VM 1's virtual-APIC page, which TDG.VP.ENTER requires.
    pub fn has_virtual_apic(&self) -> bool {
        self.fields.contains_key(&vmcs::VIRTUAL_APIC_PAGE_ADDRESS)
    }

    /// TDG.VM.RD of `field`: its value, or the failure status.
    pub fn vm_rd(&self, field: u64) -> Result<u64, u64> {
        match field {
            MD_TDCS_NUM_L2_VMS => Ok(1),
            _ => Err(TDX_METADATA_FIELD_ID_INCORRECT),
        }
    }

    /// TDG.VP.RD of `field`.
    pub fn vp_rd(&self, field: u64) -> Result<u64, u64> {
        match field {
            MD_TDVPS_L2_CTLS_VM1 => Ok(self.l2_ctls),
            f => Ok(self.field(vmcs_encoding(f)?)),
        }
    }

    /// TDG.VP.WR of `field` with `value` under `mask`: the old value, or the failure status.
    pub fn vp_wr(&mut self, field: u64, value: u64, mask: u64) -> Result<u64, u64> {
        let merge = |old: u64| (old & !mask) | (value & mask);
        if field == MD_TDVPS_L2_CTLS_VM1 {
            // Only ENABLE_TDVMCALL = 0 is modelled: every TDCALL of the L2 exits to the L1.
            if merge(self.l2_ctls) != 0 {
                return Err(operand_invalid(8));
            }
            return Ok(std::mem::replace(&mut self.l2_ctls, 0));
        }
        let encoding = vmcs_encoding(field)?;
        let old = self.field(encoding);
        let new = merge(old);
        if encoding == vmcs::VIRTUAL_APIC_PAGE_ADDRESS && !new.is_multiple_of(0x1000) {
            return Err(operand_invalid(8));
        }
        self.fields.insert(encoding, new);
        if !self.dirty.contains(&encoding) {
            self.dirty.push(encoding);
        }
        Ok(old)
    }

    /// TDG.VP.ENTER's operand checks: RCX = flags (INVEPT type in 1:0, VM index in 53:52, which must
    /// be 1, nothing else), RDX = the L2 guest-state buffer (256-byte aligned, and `usable` as
    /// private accepted memory). The buffer's GPA, or the failure status.
    pub fn vp_enter_checks(&self, rcx: u64, rdx: u64, usable: impl Fn(u64) -> bool) -> Result<u64, u64> {
        let vm_index = (rcx >> 52) & 3;
        if rcx & !(3 | (3 << 52)) != 0 || vm_index != 1 {
            return Err(operand_invalid(1));
        }
        if !rdx.is_multiple_of(256) || !usable(rdx) {
            return Err(operand_invalid(2));
        }
        if !self.has_virtual_apic() {
            return Err(operand_invalid(OPERAND_ID_VIRTUAL_APIC));
        }
        Ok(rdx)
    }
}

/// The VMCS encoding a VM 1 L2 VMCS field identifier names.
fn vmcs_encoding(field: u64) -> Result<u32, u64> {
    let encoding = field as u32;
    if field & !0xFFFF_FFFF != L2_VMCS_VM1 || !vmcs::known(encoding) {
        return Err(TDX_METADATA_FIELD_ID_INCORRECT);
    }
    Ok(encoding)
}
