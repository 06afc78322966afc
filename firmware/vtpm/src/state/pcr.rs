//! Platform Configuration Registers: 24 PCRs in a SHA-1, a SHA-256 and a SHA-384 bank with the PC Client
//! locality rules, the bank allocation TPM2_PCR_Allocate changes, and the TPML_PCR_SELECTION marshalling.
//!
//! Allocation: the TCG PC Client Platform TPM Profile (PTP) asks a TPM for SHA-1 and SHA-256 PCR banks
//! and lets it offer more; it leaves the allocation a TPM ships with to the manufacturer. Warden
//! allocates every PCR of every bank it implements (SHA-1, SHA-256, SHA-384), as ms-tpm-20-ref does at
//! manufacture: IMA and older measured-boot tools read the SHA-1 bank, current ones SHA-256, and SHA-384
//! was this TPM's second bank before SHA-1 was added, so its clients keep it. TPM2_PCR_Allocate (Part 3 §22.5) changes it; the new
//! allocation takes effect at the next TPM2_Startup(CLEAR).

use crate::crypto::{Digest, HASH_ALGS, HashAlg};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

pub const PCR_COUNT: usize = 24;

/// Bytes in a PCR selection bitmap (TPM_PT_PCR_SELECT_MIN; the kernel assumes 3).
pub const PCR_SELECT: usize = 3;

/// Per-PCR rules as ms-tpm-20-ref's PC Client profile sets them (`s_initAttributes`): whether the PCR is
/// kept across Shutdown(STATE)/Startup(STATE), the localities that may reset it, and the localities that
/// may extend it (bit n = locality n).
#[derive(Debug, Clone, Copy)]
pub struct PcrRule {
    pub state_save: bool,
    pub reset_locality: u8,
    pub extend_locality: u8,
}

const fn rule(state_save: bool, reset_locality: u8, extend_locality: u8) -> PcrRule {
    PcrRule { state_save, reset_locality, extend_locality }
}

pub const RULES: [PcrRule; PCR_COUNT] = {
    let mut r = [rule(true, 0, 0x1F); PCR_COUNT];
    r[16] = rule(false, 0x0F, 0x1F); // debug PCR: resettable from localities 0-3
    r[17] = rule(false, 0x10, 0x1C); // DRTM PCRs 17-22: reset only by the dynamic launch
    r[18] = rule(false, 0x10, 0x1C);
    r[19] = rule(false, 0x10, 0x0C);
    r[20] = rule(false, 0x14, 0x0E);
    r[21] = rule(false, 0x14, 0x04);
    r[22] = rule(false, 0x14, 0x04);
    r[23] = rule(false, 0x0F, 0x1F); // application PCR: resettable from localities 0-3
    r
};

/// How many banks there are: one per implemented hash.
pub const BANKS: usize = HASH_ALGS.len();

/// For each bank (in `HASH_ALGS` order), the bitmap of the PCRs allocated in it.
pub type Allocation = [[u8; PCR_SELECT]; BANKS];

/// What a freshly manufactured TPM allocates: every PCR of every bank (see the module comment).
pub const DEFAULT_ALLOCATION: Allocation = [[0xFF; PCR_SELECT]; BANKS];

/// The PCR banks, in `HASH_ALGS` order.
#[derive(Debug, Clone)]
pub struct Pcrs {
    pub banks: [[Digest; PCR_COUNT]; BANKS],
    pub update_counter: u32,
    /// The PCRs in use now, as GetCapability(TPM_CAP_PCRS) reports them.
    pub allocated: Allocation,
    /// The allocation TPM2_PCR_Allocate asked for, applied at the next Startup(CLEAR). Like NV, it
    /// survives _TPM_Init.
    pub pending: Option<Allocation>,
}

pub(crate) fn locality_allowed(mask: u8, locality: u8) -> bool {
    locality < 5 && mask & (1 << locality) != 0
}

fn bank_index(alg: HashAlg) -> usize {
    HASH_ALGS.iter().position(|&a| a == alg).unwrap_or(0)
}

/// Whether bit `i` is set in a PCR bitmap.
pub(crate) fn selected(bits: &[u8; PCR_SELECT], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

impl Pcrs {
    pub fn new() -> Self {
        let mut p = Pcrs {
            banks: [[Digest::EMPTY; PCR_COUNT]; BANKS],
            update_counter: 0,
            allocated: DEFAULT_ALLOCATION,
            pending: None,
        };
        p.startup(None, 0);
        p
    }

    /// Startup: PCRs take their initial values (Part 1 §17.3; PC Client: 17-22 start as all-ones),
    /// except those restored from `saved` on Startup(STATE). Startup from locality 3 marks PCR 0.
    /// Startup(CLEAR) (no `saved`) puts a pending PCR_Allocate into effect (Part 3 §22.5).
    pub fn startup(&mut self, saved: Option<&Pcrs>, locality: u8) {
        if saved.is_none()
            && let Some(next) = self.pending.take()
        {
            self.allocated = next;
        }
        for (b, alg) in HASH_ALGS.iter().enumerate() {
            for (i, rule) in RULES.iter().enumerate() {
                let restored = saved.filter(|_| rule.state_save).map(|s| s.banks[b][i]);
                self.banks[b][i] = restored.unwrap_or_else(|| {
                    if (17..=22).contains(&i) { Digest::ones(alg.size()) } else { Digest::zeros(alg.size()) }
                });
            }
            if saved.is_none() && locality == 3 {
                let pcr0 = self.banks[b][0].as_mut_slice();
                if let Some(last) = pcr0.last_mut() {
                    *last = 3;
                }
            }
        }
        self.update_counter = saved.map_or(0, |s| s.update_counter);
    }

    /// PCR 0 of every bank := 0…04, its value after an H-CRTM sequence (_TPM_Hash_Start at locality 4,
    /// TPM 2.0 Library Part 1 §34.3), which the firmware's measured boot stands for (`measured_boot`).
    pub fn h_crtm_reset(&mut self) {
        for (b, alg) in HASH_ALGS.iter().enumerate() {
            let mut pcr0 = Digest::zeros(alg.size());
            if let Some(last) = pcr0.as_mut_slice().last_mut() {
                *last = 4;
            }
            self.banks[b][0] = pcr0;
        }
    }

    /// Whether PCR `i` is allocated in `alg`'s bank.
    pub fn is_allocated(&self, i: usize, alg: HashAlg) -> bool {
        self.allocated.get(bank_index(alg)).is_some_and(|bits| selected(bits, i))
    }

    /// PCR[i] := H(PCR[i] || digest) in `alg`'s bank; nothing if that PCR is not allocated there
    /// (Part 3 §22.2: digests for unallocated banks are ignored).
    pub fn extend(&mut self, i: usize, alg: HashAlg, digest: &[u8]) {
        if !self.is_allocated(i, alg) {
            return;
        }
        if let Some(pcr) = self.banks[bank_index(alg)].get_mut(i) {
            *pcr = alg.digest(&[pcr.as_slice(), digest]);
        }
    }

    /// PCR `i` of `alg`'s bank, if it is allocated.
    pub fn get(&self, i: usize, alg: HashAlg) -> Option<&Digest> {
        if !self.is_allocated(i, alg) {
            return None;
        }
        self.banks[bank_index(alg)].get(i)
    }

    /// Clears the bits of PCRs that are not allocated, as ms-tpm-20-ref's `PCRFilter` does before a
    /// selection goes into an attestation or a policy.
    pub fn filter_allocated(&self, sel: &mut [Selection]) {
        for (alg, bits) in sel.iter_mut() {
            let allocated = self.allocated.get(bank_index(*alg)).copied().unwrap_or_default();
            bits.iter_mut().zip(allocated).for_each(|(b, a)| *b &= a);
        }
    }

    /// The allocation in use, as a TPML_PCR_SELECTION's (bank, bitmap) pairs.
    pub fn allocation(&self) -> [Selection; BANKS] {
        let mut out = [(HashAlg::Sha256, [0u8; PCR_SELECT]); BANKS];
        for ((slot, alg), bits) in out.iter_mut().zip(HASH_ALGS).zip(self.allocated) {
            *slot = (alg, bits);
        }
        out
    }
}

/// One bank's PCR selection.
pub type Selection = (HashAlg, [u8; PCR_SELECT]);

/// Parses a TPML_PCR_SELECTION (Part 2 Table 111). Returns (bank, bitmap) pairs.
pub fn read_selection(r: &mut Reader<'_>) -> TpmResult<([Selection; BANKS], usize)> {
    let count = r.u32()?;
    if count as usize > HASH_ALGS.len() {
        return Err(ResponseCode::SIZE);
    }
    let mut out = [(HashAlg::Sha256, [0u8; PCR_SELECT]); BANKS];
    for slot in out.iter_mut().take(count as usize) {
        let alg = HashAlg::from_id(r.alg()?).ok_or(ResponseCode::HASH)?;
        let size = usize::from(r.u8()?);
        if size != PCR_SELECT {
            return Err(ResponseCode::VALUE);
        }
        let mut bits = [0u8; PCR_SELECT];
        bits.copy_from_slice(r.bytes(PCR_SELECT)?);
        *slot = (alg, bits);
    }
    Ok((out, count as usize))
}

pub fn write_selection(w: &mut Writer, sel: &[Selection]) {
    w.u32(sel.len() as u32);
    for (alg, bits) in sel {
        w.alg(alg.id());
        w.u8(PCR_SELECT as u8);
        w.bytes(bits);
    }
}
