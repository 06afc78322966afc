//! Platform Configuration Registers: 24 PCRs in a SHA-256 and a SHA-384 bank with the PC Client
//! locality rules, and PCR_Read, PCR_Extend, PCR_Event, PCR_Reset.

use crate::Tpm;
use crate::consts::{MAX_BUFFER, handle};
use crate::crypto::{Digest, HASH_ALGS, HashAlg};
use crate::dispatch::Cmd;
use crate::marshal::{Reader, Writer};
use crate::rc::{At, Rc, TpmResult};

pub const PCR_COUNT: usize = 24;
/// Bytes in a PCR selection bitmap (TPM_PT_PCR_SELECT_MIN; the kernel assumes 3).
pub const PCR_SELECT: usize = 3;
/// Most digests one PCR_Read returns (TPML_DIGEST holds eight).
const MAX_READ: usize = 8;

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

/// The PCR banks, in `HASH_ALGS` order.
#[derive(Debug, Clone)]
pub struct Pcrs {
    pub banks: [[Digest; PCR_COUNT]; 2],
    pub update_counter: u32,
}

fn locality_allowed(mask: u8, locality: u8) -> bool {
    locality < 5 && mask & (1 << locality) != 0
}

fn bank_index(alg: HashAlg) -> usize {
    HASH_ALGS.iter().position(|&a| a == alg).unwrap_or(0)
}

impl Pcrs {
    pub fn new() -> Self {
        let mut p = Pcrs { banks: [[Digest::EMPTY; PCR_COUNT]; 2], update_counter: 0 };
        p.startup(None, 0);
        p
    }

    /// Startup: PCRs take their initial values (Part 1 §17.3; PC Client: 17-22 start as all-ones),
    /// except those restored from `saved` on Startup(STATE). Startup from locality 3 marks PCR 0.
    pub fn startup(&mut self, saved: Option<&Pcrs>, locality: u8) {
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

    /// PCR[i] := H(PCR[i] || digest) in `alg`'s bank.
    pub fn extend(&mut self, i: usize, alg: HashAlg, digest: &[u8]) {
        if let Some(pcr) = self.banks[bank_index(alg)].get_mut(i) {
            *pcr = alg.digest(&[pcr.as_slice(), digest]);
        }
    }

    pub fn get(&self, i: usize, alg: HashAlg) -> Option<&Digest> {
        self.banks[bank_index(alg)].get(i)
    }
}

/// One bank's PCR selection.
pub type Selection = (HashAlg, [u8; PCR_SELECT]);

/// Parses a TPML_PCR_SELECTION (Part 2 Table 111). Returns (bank, bitmap) pairs.
pub fn read_selection(r: &mut Reader<'_>) -> TpmResult<([Selection; 2], usize)> {
    let count = r.u32()?;
    if count as usize > HASH_ALGS.len() {
        return Err(Rc::SIZE);
    }
    let mut out = [(HashAlg::Sha256, [0u8; PCR_SELECT]); 2];
    for slot in out.iter_mut().take(count as usize) {
        let alg = HashAlg::from_id(r.u16()?).ok_or(Rc::HASH)?;
        let size = usize::from(r.u8()?);
        if size != PCR_SELECT {
            return Err(Rc::VALUE);
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
        w.u16(alg.id());
        w.u8(PCR_SELECT as u8);
        w.bytes(bits);
    }
}

/// TPM2_PCR_Read (Part 3 §22.4).
pub(crate) fn read(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (sel, n) = read_selection(&mut c.params).p(1)?;
    c.params.finish()?;
    let mut out_sel = sel;
    let mut values = Writer::new();
    let mut taken = 0u32;
    for (alg, bits) in out_sel.iter_mut().take(n) {
        for i in 0..PCR_COUNT {
            let bit = 1u8 << (i % 8);
            let Some(byte) = bits.get_mut(i / 8) else { continue };
            if *byte & bit == 0 {
                continue;
            }
            match tpm.pcrs.get(i, *alg) {
                Some(d) if (taken as usize) < MAX_READ => {
                    values.tpm2b(d.as_slice());
                    taken += 1;
                }
                // Selected but not returned: clear it so the caller knows to ask again.
                _ => *byte &= !bit,
            }
        }
    }
    c.out.u32(tpm.pcrs.update_counter);
    write_selection(&mut c.out, out_sel.get(..n).unwrap_or_default());
    c.out.u32(taken);
    c.out.bytes(&values.buf);
    Ok(())
}

/// The PCR index of a handle checked by the dispatcher, or None for TPM_RH_NULL.
fn pcr_index(h: u32) -> Option<usize> {
    (h != handle::RH_NULL).then_some(h as usize).filter(|&i| i < PCR_COUNT)
}

fn check_extend_locality(i: usize, locality: u8) -> TpmResult<()> {
    let ok = RULES.get(i).is_some_and(|r| locality_allowed(r.extend_locality, locality));
    if ok { Ok(()) } else { Err(Rc::LOCALITY) }
}

/// TPM2_PCR_Extend (Part 3 §22.2): digests for any subset of the banks, each extended into its bank.
pub(crate) fn extend(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let count = c.params.u32().p(1)?;
    if count as usize > HASH_ALGS.len() {
        return Err(Rc::SIZE.param(1));
    }
    let mut digests = [(HashAlg::Sha256, Digest::EMPTY); 2];
    for slot in digests.iter_mut().take(count as usize) {
        let alg = HashAlg::from_id(c.params.u16().p(1)?).ok_or(Rc::HASH.param(1))?;
        *slot = (alg, Digest::from_slice(c.params.bytes(alg.size()).p(1)?));
    }
    c.params.finish()?;
    let Some(i) = pcr_index(c.handles[0]) else { return Ok(()) };
    check_extend_locality(i, c.locality)?;
    for (alg, d) in digests.iter().take(count as usize) {
        tpm.pcrs.extend(i, *alg, d.as_slice());
    }
    tpm.pcrs.update_counter = tpm.pcrs.update_counter.wrapping_add(1);
    Ok(())
}

/// TPM2_PCR_Event (Part 3 §22.3): hashes the event with every implemented hash, extends each bank.
pub(crate) fn event(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    c.params.finish()?;
    let pcr = pcr_index(c.handles[0]);
    if let Some(i) = pcr {
        check_extend_locality(i, c.locality)?;
    }
    c.out.u32(HASH_ALGS.len() as u32);
    for alg in HASH_ALGS {
        let d = alg.digest(&[data]);
        c.out.u16(alg.id());
        c.out.bytes(d.as_slice());
        if let Some(i) = pcr {
            tpm.pcrs.extend(i, alg, d.as_slice());
        }
    }
    if pcr.is_some() {
        tpm.pcrs.update_counter = tpm.pcrs.update_counter.wrapping_add(1);
    }
    Ok(())
}

/// TPM2_PCR_Reset (Part 3 §22.8): only PCRs whose reset mask includes the current locality.
pub(crate) fn reset(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let i = pcr_index(c.handles[0]).ok_or(Rc::VALUE.handle(1))?;
    if !RULES.get(i).is_some_and(|r| locality_allowed(r.reset_locality, c.locality)) {
        return Err(Rc::LOCALITY);
    }
    for (b, alg) in HASH_ALGS.iter().enumerate() {
        if let Some(p) = tpm.pcrs.banks[b].get_mut(i) {
            *p = Digest::zeros(alg.size());
        }
    }
    tpm.pcrs.update_counter = tpm.pcrs.update_counter.wrapping_add(1);
    Ok(())
}
