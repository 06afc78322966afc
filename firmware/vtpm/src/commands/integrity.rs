//! PCR commands (Part 3 ch. 22): PCR_Read, PCR_Extend, PCR_Event, PCR_Allocate, PCR_Reset.

use crate::Tpm;
use crate::crypto::{Digest, HASH_ALGS, HashAlg};
use crate::engine::command::Cmd;
use crate::state::pcr::{
    BANKS, PCR_COUNT, RULES, locality_allowed, read_selection, selected, write_selection,
};
use crate::wire::constants::MAX_BUFFER;
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// Most digests one PCR_Read returns (TPML_DIGEST holds eight).
const MAX_READ: usize = 8;

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
fn pcr_index(h: Handle) -> Option<usize> {
    (h != Handle::RH_NULL).then_some(h.0 as usize).filter(|&i| i < PCR_COUNT)
}

fn check_extend_locality(i: usize, locality: u8) -> TpmResult<()> {
    let ok = RULES.get(i).is_some_and(|r| locality_allowed(r.extend_locality, locality));
    if ok { Ok(()) } else { Err(ResponseCode::LOCALITY) }
}

/// TPM2_PCR_Extend (Part 3 §22.2): digests for any subset of the banks, each extended into its bank.
pub(crate) fn extend(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let count = c.params.u32().p(1)?;
    if count as usize > HASH_ALGS.len() {
        return Err(ResponseCode::SIZE.param(1));
    }
    let mut digests = [(HashAlg::Sha256, Digest::EMPTY); BANKS];
    for slot in digests.iter_mut().take(count as usize) {
        let alg = HashAlg::from_id(c.params.alg().p(1)?).ok_or(ResponseCode::HASH.param(1))?;
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
        c.out.alg(alg.id());
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

/// PCRs a PC Client TPM keeps allocated in at least one bank: PCR 0 (H-CRTM) and PCR 17 (DRTM), as
/// ms-tpm-20-ref's `PCRAllocate` requires.
const MUST_STAY: [usize; 2] = [0, 17];

/// TPM2_PCR_Allocate (Part 3 §22.5): the requested bitmaps replace those of the banks they name (a bank
/// not named keeps its PCRs, a bank named twice takes the last), and the result takes effect at the
/// next TPM2_Startup(CLEAR). Every PCR of every bank fits, so allocationSuccess is always YES.
pub(crate) fn allocate(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (sel, n) = read_selection(&mut c.params).p(1)?;
    c.params.finish()?;
    let mut next = tpm.pcrs.pending.unwrap_or(tpm.pcrs.allocated);
    for (alg, bits) in sel.iter().take(n) {
        if let Some(bank) = HASH_ALGS.iter().position(|a| a == alg).and_then(|b| next.get_mut(b)) {
            *bank = *bits;
        }
    }
    let banks = || HASH_ALGS.iter().zip(next.iter());
    if !MUST_STAY.iter().all(|&i| banks().any(|(_, bits)| selected(bits, i))) {
        return Err(ResponseCode::PCR);
    }
    let size_needed: usize = banks().map(|(alg, bits)| alg.size() * count_ones(bits)).sum();
    let size_available = PCR_COUNT * HASH_ALGS.iter().map(|a| a.size()).sum::<usize>();
    tpm.pcrs.pending = Some(next);
    c.out.u8(1); // allocationSuccess
    c.out.u32(PCR_COUNT as u32); // maxPCR
    c.out.u32(size_needed as u32);
    c.out.u32(size_available as u32);
    Ok(())
}

fn count_ones(bits: &[u8]) -> usize {
    bits.iter().map(|b| b.count_ones() as usize).sum()
}

/// TPM2_PCR_Reset (Part 3 §22.8): only PCRs whose reset mask includes the current locality.
pub(crate) fn reset(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let i = pcr_index(c.handles[0]).ok_or(ResponseCode::VALUE.handle(1))?;
    if !RULES.get(i).is_some_and(|r| locality_allowed(r.reset_locality, c.locality)) {
        return Err(ResponseCode::LOCALITY);
    }
    for (b, alg) in HASH_ALGS.iter().enumerate() {
        if let Some(p) = tpm.pcrs.banks[b].get_mut(i) {
            *p = Digest::zeros(alg.size());
        }
    }
    tpm.pcrs.update_counter = tpm.pcrs.update_counter.wrapping_add(1);
    Ok(())
}
