//! NV index storage: the defined indices, their public areas and Names, and the Startup rules for
//! their lock and written bits (Part 1 §37, Part 2 §13).

use alloc::vec;
use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::HashAlg;
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// TPMA_NV bits (Part 2 Table 204).
pub mod attr {
    pub const PPWRITE: u32 = 1 << 0;
    pub const OWNERWRITE: u32 = 1 << 1;
    pub const AUTHWRITE: u32 = 1 << 2;
    pub const POLICYWRITE: u32 = 1 << 3;
    pub const TPM_NT_SHIFT: u32 = 4;
    pub const TPM_NT_MASK: u32 = 0xF << TPM_NT_SHIFT;
    pub const POLICY_DELETE: u32 = 1 << 10;
    pub const WRITELOCKED: u32 = 1 << 11;
    pub const WRITEALL: u32 = 1 << 12;
    pub const WRITEDEFINE: u32 = 1 << 13;
    pub const WRITE_STCLEAR: u32 = 1 << 14;
    pub const GLOBALLOCK: u32 = 1 << 15;
    pub const PPREAD: u32 = 1 << 16;
    pub const OWNERREAD: u32 = 1 << 17;
    pub const AUTHREAD: u32 = 1 << 18;
    pub const POLICYREAD: u32 = 1 << 19;
    pub const NO_DA: u32 = 1 << 25;
    pub const CLEAR_STCLEAR: u32 = 1 << 27;
    pub const READLOCKED: u32 = 1 << 28;
    pub const WRITTEN: u32 = 1 << 29;
    pub const PLATFORMCREATE: u32 = 1 << 30;
    pub const READ_STCLEAR: u32 = 1 << 31;
    /// Bits 8-9 and 20-24 are reserved.
    pub const RESERVED: u32 = 0x0000_0300 | 0x01F0_0000;
    pub const READ_AUTH: u32 = PPREAD | OWNERREAD | AUTHREAD | POLICYREAD;
    pub const WRITE_AUTH: u32 = PPWRITE | OWNERWRITE | AUTHWRITE | POLICYWRITE;
}

/// TPM_NT: the kind of NV index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvType {
    Ordinary,
    Counter,
    Bits,
    Extend,
}

impl NvType {
    /// PIN pass/fail indices (8, 9) are not implemented.
    pub fn from_attrs(a: u32) -> Option<NvType> {
        match (a & attr::TPM_NT_MASK) >> attr::TPM_NT_SHIFT {
            0 => Some(NvType::Ordinary),
            1 => Some(NvType::Counter),
            2 => Some(NvType::Bits),
            4 => Some(NvType::Extend),
            _ => None,
        }
    }
}

/// Largest data size of one index (TPM_PT_NV_INDEX_MAX).
pub const MAX_INDEX_SIZE: usize = 2048;

/// Most indices that may be defined.
pub const MAX_INDICES: usize = 64;

/// Total bytes all indices may hold.
pub const MAX_TOTAL: usize = 32 * 1024;

/// One NV index.
#[derive(Debug, Clone)]
pub struct NvIndex {
    pub handle: Handle,
    pub name_alg: HashAlg,
    pub attrs: u32,
    pub auth_policy: Vec<u8>,
    pub auth: Vec<u8>,
    pub data: Vec<u8>,
}

// The authValue and the data (which may be a secret the guest stored) are wiped when the index is
// freed: at NV_UndefineSpace, at TPM2_Clear, when the TPM is dropped (threat model T5).
impl Drop for NvIndex {
    fn drop(&mut self) {
        self.auth.zeroize();
        self.data.zeroize();
    }
}

impl ZeroizeOnDrop for NvIndex {}

impl NvIndex {
    pub fn new(
        handle: Handle,
        name_alg: HashAlg,
        attrs: u32,
        auth_policy: &[u8],
        auth: &[u8],
        size: u16,
    ) -> Self {
        // Ordinary indices read as erased flash until written; counters, bit fields and extend
        // indices start at zero.
        let fill = if NvType::from_attrs(attrs) == Some(NvType::Ordinary) { 0xFF } else { 0 };
        NvIndex {
            handle,
            name_alg,
            attrs,
            auth_policy: auth_policy.to_vec(),
            auth: auth.to_vec(),
            data: vec![fill; usize::from(size)],
        }
    }

    pub fn kind(&self) -> Option<NvType> {
        NvType::from_attrs(self.attrs)
    }

    pub fn has(&self, bits: u32) -> bool {
        self.attrs & bits == bits
    }

    pub fn no_da(&self) -> bool {
        self.has(attr::NO_DA)
    }

    /// TPMS_NV_PUBLIC (Part 2 Table 206).
    pub fn public(&self, w: &mut Writer) {
        w.handle(self.handle);
        w.alg(self.name_alg.id());
        w.u32(self.attrs);
        w.tpm2b(&self.auth_policy);
        w.u16(self.data.len() as u16);
    }

    /// The Name: nameAlg || H_nameAlg(TPMS_NV_PUBLIC) (Part 1 §16).
    pub fn name(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.public(&mut w);
        let d = self.name_alg.digest(&[&w.buf]);
        let mut n = Vec::with_capacity(2 + d.as_slice().len());
        n.extend_from_slice(&self.name_alg.id().to_be_bytes());
        n.extend_from_slice(d.as_slice());
        n
    }

    /// The 8-byte big-endian value of a counter or bit-field index.
    pub fn u64_value(&self) -> u64 {
        let mut b = [0u8; 8];
        if let Some(src) = self.data.get(..8) {
            b.copy_from_slice(src);
        }
        u64::from_be_bytes(b)
    }
}

/// All defined indices.
#[derive(Debug, Default, Clone)]
pub struct NvStore {
    indices: Vec<NvIndex>,
    /// The largest value any deleted counter held: a new counter starts above it (Part 1 §37.2.4).
    pub max_counter: u64,
}

impl NvStore {
    pub fn get(&self, h: Handle) -> Option<&NvIndex> {
        self.indices.iter().find(|i| i.handle == h)
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<&mut NvIndex> {
        self.indices.iter_mut().find(|i| i.handle == h)
    }

    pub fn define(&mut self, index: NvIndex) -> TpmResult<()> {
        if self.get(index.handle).is_some() {
            return Err(ResponseCode::NV_DEFINED);
        }
        let used: usize = self.indices.iter().map(|i| i.data.len()).sum();
        if self.indices.len() >= MAX_INDICES || used + index.data.len() > MAX_TOTAL {
            return Err(ResponseCode::NV_SPACE);
        }
        self.indices.push(index);
        self.indices.sort_by_key(|i| i.handle);
        Ok(())
    }

    pub fn remove(&mut self, h: Handle) {
        if let Some(pos) = self.indices.iter().position(|i| i.handle == h) {
            let gone = self.indices.remove(pos);
            if gone.kind() == Some(NvType::Counter) && gone.has(attr::WRITTEN) {
                self.max_counter = self.max_counter.max(gone.u64_value());
            }
        }
    }

    /// TPM2_Clear deletes every index the owner created.
    pub fn clear_owner(&mut self) {
        let owner: Vec<Handle> =
            self.indices.iter().filter(|i| !i.has(attr::PLATFORMCREATE)).map(|i| i.handle).collect();
        owner.into_iter().for_each(|h| self.remove(h));
    }

    /// Startup(CLEAR) (TPM Reset or Restart): _STCLEAR locks and written bits are released.
    pub fn startup_clear(&mut self) {
        for i in self.indices.iter_mut() {
            let clearable = i.has(attr::WRITE_STCLEAR) || i.has(attr::GLOBALLOCK);
            if clearable && !(i.has(attr::WRITEDEFINE) && i.has(attr::WRITTEN)) {
                i.attrs &= !attr::WRITELOCKED;
            }
            if i.has(attr::READ_STCLEAR) {
                i.attrs &= !attr::READLOCKED;
            }
            if i.has(attr::CLEAR_STCLEAR) {
                i.attrs &= !attr::WRITTEN;
            }
        }
    }

    /// TPM2_NV_GlobalWriteLock.
    pub fn global_lock(&mut self) {
        self.indices
            .iter_mut()
            .filter(|i| i.has(attr::GLOBALLOCK))
            .for_each(|i| i.attrs |= attr::WRITELOCKED);
    }

    /// Every index, in handle order.
    pub fn iter(&self) -> impl Iterator<Item = &NvIndex> + '_ {
        self.indices.iter()
    }

    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.indices.iter().map(|i| i.handle)
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn counters(&self) -> usize {
        self.indices.iter().filter(|i| i.kind() == Some(NvType::Counter)).count()
    }
}

/// Read access: not locked, an allowed entity, and written.
pub(crate) fn read_access(index: &NvIndex, auth: Handle, by_policy: bool) -> TpmResult<()> {
    if index.has(attr::READLOCKED) {
        return Err(ResponseCode::NV_LOCKED);
    }
    let allowed = match auth {
        Handle::RH_PLATFORM => index.has(attr::PPREAD),
        Handle::RH_OWNER => index.has(attr::OWNERREAD),
        h if h == index.handle && by_policy => index.has(attr::POLICYREAD),
        h if h == index.handle => index.has(attr::AUTHREAD),
        _ => false,
    };
    if !allowed {
        return Err(ResponseCode::NV_AUTHORIZATION);
    }
    if !index.has(attr::WRITTEN) {
        return Err(ResponseCode::NV_UNINITIALIZED);
    }
    Ok(())
}
