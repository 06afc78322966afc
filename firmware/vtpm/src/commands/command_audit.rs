//! TPM2_SetCommandCodeAuditStatus (Part 3 ch. 21, §21.4): which commands the command audit digest
//! covers, and its hash algorithm. The digest itself is kept by `engine::audit`.

use crate::Tpm;
use crate::crypto::HashAlg;
use crate::engine::command::Cmd;
use crate::engine::command_table;
use crate::wire::alg_id::AlgId;
use crate::wire::command_code::CommandCode;
use crate::wire::marshal::Reader;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// MAX_CAP_CC: the most command codes a TPML_CC may carry (Part 2 Table 100).
const MAX_CC: u32 = 256;

/// Reads a TPML_CC.
fn read_list(r: &mut Reader<'_>) -> TpmResult<alloc::vec::Vec<CommandCode>> {
    let count = r.u32()?;
    if count > MAX_CC {
        return Err(ResponseCode::SIZE);
    }
    (0..count).map(|_| r.u32().map(CommandCode)).collect()
}

/// TPM2_SetCommandCodeAuditStatus (Part 3 §21.4). A new algorithm empties the digest and must come
/// alone; otherwise the set list is added and the clear list removed (codes the TPM does not
/// implement are ignored; SetCommandCodeAuditStatus itself stays audited).
pub(crate) fn set_command_code_audit_status(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let alg = c.params.alg().p(1)?;
    let hash = match alg {
        AlgId::NULL => None,
        a => Some(HashAlg::from_id(a).ok_or(ResponseCode::HASH.param(1))?),
    };
    let set = read_list(&mut c.params).p(2)?;
    let clear = read_list(&mut c.params).p(3)?;
    c.params.finish()?;
    if let Some(h) = hash.filter(|&h| h != tpm.audit.alg) {
        if !set.is_empty() || !clear.is_empty() {
            return Err(ResponseCode::VALUE.param(1));
        }
        tpm.audit.alg = h;
        tpm.audit.digest = None;
        return Ok(());
    }
    for code in set.into_iter().filter(|&code| command_table::lookup(code).is_some()) {
        tpm.audit.set(code);
    }
    for code in clear {
        tpm.audit.clear(code);
    }
    Ok(())
}
