//! Policies that compare an operand (Part 3 §23.9, §23.10): PolicyNV and PolicyCounterTimer, and the
//! TPM_EO comparisons they share (Part 2 Table 16).

use alloc::vec::Vec;
use core::cmp::Ordering;

use super::session_at;
use crate::Tpm;
use crate::engine::command::Cmd;
use crate::state::session::SessionKind;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM_EO_BITCLEAR, the last defined operation.
pub const MAX_EO: u16 = 0x000B;

/// Signed comparison of two's-complement big-endian numbers of equal length (TCG Errata for TPM
/// Library 1.59 v1.4 §2.5: the operands of the signed TPM_EO are two's complement). Older reference
/// code, and TPMs built from it, reversed the unsigned order for two negatives instead, so that
/// sgt(0x81, 0x82) held although -127 < -126; tools' tests written against it expect that.
fn signed_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let neg = |x: &[u8]| x.first().is_some_and(|v| v & 0x80 != 0);
    match (neg(a), neg(b)) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // Same sign: two's complement orders like the unsigned bytes.
        _ => a.cmp(b),
    }
}

/// Whether `a <operation> b` holds; `a` and `b` have the same length.
pub fn holds(operation: u16, a: &[u8], b: &[u8]) -> bool {
    let unsigned = a.cmp(b);
    let signed = signed_cmp(a, b);
    match operation {
        0x0 => a == b,
        0x1 => a != b,
        0x2 => signed == Ordering::Greater,
        0x3 => unsigned == Ordering::Greater,
        0x4 => signed == Ordering::Less,
        0x5 => unsigned == Ordering::Less,
        0x6 => signed != Ordering::Less,
        0x7 => unsigned != Ordering::Less,
        0x8 => signed != Ordering::Greater,
        0x9 => unsigned != Ordering::Greater,
        // BITSET: every bit set in B is set in A; BITCLEAR: no bit set in B is set in A.
        0xA => a.iter().zip(b).all(|(x, y)| x & y == *y),
        0xB => a.iter().zip(b).all(|(x, y)| x & y == 0),
        _ => false,
    }
}

/// TPM2_PolicyNV (Part 3 §23.9): the index data at `offset` compared with operandB.
pub(crate) fn nv(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let operand = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let offset = c.params.u16().p(2)?;
    let operation = c.params.u16().p(3)?;
    c.params.finish()?;
    if operation > MAX_EO {
        return Err(ResponseCode::VALUE.param(3));
    }
    let [auth, h, sh] = c.handles;
    let trial = tpm.sessions.get(sh).ok_or(ResponseCode::HANDLE.handle(3))?.kind == SessionKind::Trial;
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    if !trial {
        crate::state::nv::read_access(index, auth, c.by_policy[0])?;
        let start = usize::from(offset);
        if start > index.data.len() {
            return Err(ResponseCode::VALUE.param(2));
        }
        let a = index.data.get(start..start + operand.len()).ok_or(ResponseCode::SIZE.param(1))?;
        if !holds(operation, a, operand) {
            return Err(ResponseCode::POLICY);
        }
    }
    let name = index.name();
    let s = session_at(tpm, sh, 3)?;
    let args = s.alg.digest(&[operand, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    let parts: [&[u8]; 4] =
        [s.policy.as_slice(), &CommandCode::POLICY_NV.to_be_bytes(), args.as_slice(), &name];
    s.policy = s.alg.digest(&parts);
    Ok(())
}

/// TPMS_TIME_INFO as TPM2_ReadClock returns it: time, clock, resetCount, restartCount, safe.
fn time_info(tpm: &mut Tpm) -> Vec<u8> {
    let now = tpm.now_ms();
    let t = &tpm.time;
    let mut v = Vec::with_capacity(25);
    v.extend_from_slice(&t.time(now).to_be_bytes());
    v.extend_from_slice(&t.clock(now).to_be_bytes());
    v.extend_from_slice(&t.reset_count.to_be_bytes());
    v.extend_from_slice(&t.restart_count.to_be_bytes());
    v.push(1);
    v
}

/// TPM2_PolicyCounterTimer: the TPMS_TIME_INFO bytes at `offset` compared with operandB;
/// policyDigest := H(policyDigest || TPM_CC_PolicyCounterTimer || H(operandB || offset || operation)).
/// The bounds are checked in trial sessions too; the comparison only in real ones.
pub(crate) fn counter_timer(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let operand = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let offset = c.params.u16().p(2)?;
    let operation = c.params.u16().p(3)?;
    c.params.finish()?;
    if operation > MAX_EO {
        return Err(ResponseCode::VALUE.param(3));
    }
    let info = time_info(tpm);
    let start = usize::from(offset);
    if start > info.len() {
        return Err(ResponseCode::VALUE.param(2));
    }
    let a = info.get(start..start + operand.len()).ok_or(ResponseCode::RANGE)?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if s.kind != SessionKind::Trial && !holds(operation, a, operand) {
        return Err(ResponseCode::POLICY);
    }
    let args = s.alg.digest(&[operand, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    let code = CommandCode::POLICY_COUNTER_TIMER.to_be_bytes();
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code, args.as_slice()]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::holds;

    /// Each operation checked against i16/u16 arithmetic on 2-byte operands.
    #[test]
    fn comparisons_match_integer_arithmetic() {
        let values: [i16; 7] = [i16::MIN, -300, -1, 0, 1, 255, i16::MAX];
        for &x in &values {
            for &y in &values {
                let (a, b) = (x.to_be_bytes(), y.to_be_bytes());
                let (ua, ub) = (x as u16, y as u16);
                let expect = [
                    x == y,
                    x != y,
                    x > y,
                    ua > ub,
                    x < y,
                    ua < ub,
                    x >= y,
                    ua >= ub,
                    x <= y,
                    ua <= ub,
                    ua & ub == ub,
                    ua & ub == 0,
                ];
                for (op, want) in expect.iter().enumerate() {
                    assert_eq!(holds(op as u16, &a, &b), *want, "{x} op {op} {y}");
                }
            }
        }
        assert!(!holds(0xC, &[0], &[0]));
    }
}
