//! The NV commands (Part 3 §31): DefineSpace, UndefineSpace, UndefineSpaceSpecial, ReadPublic, Write,
//! Read, Increment, SetBits, Extend, WriteLock, ReadLock, ChangeAuth; NV_Certify is in `certify`.

pub mod certify;

use zeroize::Zeroize;

use crate::Tpm;
use crate::crypto::{HashAlg, strip_trailing_zeros};
use crate::engine::command::Cmd;
use crate::state::nv::{MAX_INDEX_SIZE, NvIndex, NvType, attr, read_access};
use crate::wire::constants::{MAX_BUFFER, MAX_DIGEST};
use crate::wire::handle::{self, Handle};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_NV_DefineSpace (Part 3 §31.3).
pub(crate) fn define_space(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let public = c.params.tpm2b(usize::from(u16::MAX)).p(2)?;
    c.params.finish()?;
    if public.is_empty() {
        return Err(ResponseCode::SIZE.param(2));
    }
    let mut r = Reader::new(public);
    let index = r.handle().p(2)?;
    if index.ty() != handle::HT_NV_INDEX {
        return Err(ResponseCode::HANDLE.param(2));
    }
    let name_alg = HashAlg::from_id(r.alg().p(2)?).ok_or(ResponseCode::HASH.param(2))?;
    let attrs = r.u32().p(2)?;
    let policy = r.tpm2b(MAX_DIGEST).p(2)?;
    let size = r.u16().p(2)?;
    r.finish().p(2)?;

    if attrs & attr::RESERVED != 0 {
        return Err(ResponseCode::RESERVED_BITS.param(2));
    }
    // The checks of ms-tpm-20-ref's NvDefineSpace, in its order.
    let platform = c.handles[0] == Handle::RH_PLATFORM;
    let bad = Err(ResponseCode::ATTRIBUTES.param(2));
    if !policy.is_empty() && policy.len() != name_alg.size() {
        return Err(ResponseCode::SIZE.param(2));
    }
    let auth = strip_trailing_zeros(auth);
    if auth.len() > name_alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    if platform && !tpm.hier.ph_enable_nv {
        return Err(ResponseCode::HIERARCHY.handle(1));
    }
    let Some(kind) = NvType::from_attrs(attrs) else { return bad };
    let size_ok = match kind {
        NvType::Ordinary => usize::from(size) <= MAX_INDEX_SIZE,
        NvType::Counter | NvType::Bits => size == 8,
        NvType::Extend => usize::from(size) == name_alg.size(),
    };
    if !size_ok {
        return Err(ResponseCode::SIZE.param(2));
    }
    // Counters are never cleared; state bits are the TPM's to set; an index must be both readable
    // and writable somehow; a CLEAR_STCLEAR index cannot be write-once.
    if (kind == NvType::Counter && attrs & attr::CLEAR_STCLEAR != 0)
        || attrs & (attr::WRITELOCKED | attr::READLOCKED | attr::WRITTEN) != 0
        || attrs & attr::READ_AUTH == 0
        || attrs & attr::WRITE_AUTH == 0
        || (attrs & attr::CLEAR_STCLEAR != 0 && attrs & attr::WRITEDEFINE != 0)
    {
        return bad;
    }
    // The hierarchy that creates an index must be the one that can delete it.
    if (attrs & attr::PLATFORMCREATE != 0) != platform {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    // Only the platform deletes a POLICY_DELETE index (NV_UndefineSpaceSpecial), so only it defines one.
    if attrs & attr::POLICY_DELETE != 0 && !platform {
        return bad;
    }
    if usize::from(size) > MAX_BUFFER && attrs & attr::WRITEALL != 0 {
        return Err(ResponseCode::SIZE.param(2));
    }
    tpm.nv.define(NvIndex::new(index, name_alg, attrs, policy, auth, size))
}

/// TPM2_NV_UndefineSpace (Part 3 §31.4).
pub(crate) fn undefine_space(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let [auth, h, _] = c.handles;
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    if index.has(attr::POLICY_DELETE) {
        return Err(ResponseCode::ATTRIBUTES.handle(2));
    }
    if index.has(attr::PLATFORMCREATE) && auth == Handle::RH_OWNER {
        return Err(ResponseCode::NV_AUTHORIZATION);
    }
    tpm.nv.remove(h);
    Ok(())
}

/// TPM2_NV_UndefineSpaceSpecial (Part 3 §31.5): removes a TPMA_NV_POLICY_DELETE index. The index
/// authorized in the ADMIN role, so by its authPolicy (which the engine checked), and the platform.
pub(crate) fn undefine_space_special(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let h = c.handles[0];
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(1))?;
    if !index.has(attr::POLICY_DELETE) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    tpm.nv.remove(h);
    Ok(())
}

/// TPM2_NV_ChangeAuth (Part 3 §31.15): a new authValue for the index, authorized in the ADMIN role
/// (a policy session, typically PolicyCommandCode(TPM2_CC_NV_ChangeAuth)). The response HMAC is keyed
/// with the old authValue, which the engine kept.
pub(crate) fn change_auth(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let new = strip_trailing_zeros(c.params.tpm2b(MAX_DIGEST).p(1)?);
    c.params.finish()?;
    let index = tpm.nv.get_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if new.len() > index.name_alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    // The old authValue is wiped, not just freed (threat model T5).
    index.auth.zeroize();
    index.auth = new.to_vec();
    Ok(())
}

/// TPM2_NV_ReadPublic (Part 3 §31.6).
pub(crate) fn read_public(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let index = tpm.nv.get(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    let mut p = Writer::new();
    index.public(&mut p);
    c.out.tpm2b(&p.buf);
    c.out.tpm2b(&index.name());
    Ok(())
}

/// Part 3 §31.3.1 write access: not locked, and the authorizing entity is one the attributes allow.
fn write_access(index: &NvIndex, auth: Handle, by_policy: bool) -> TpmResult<()> {
    if index.has(attr::WRITELOCKED) {
        return Err(ResponseCode::NV_LOCKED);
    }
    let allowed = match auth {
        Handle::RH_PLATFORM => index.has(attr::PPWRITE),
        Handle::RH_OWNER => index.has(attr::OWNERWRITE),
        h if h == index.handle && by_policy => index.has(attr::POLICYWRITE),
        h if h == index.handle => index.has(attr::AUTHWRITE),
        _ => false,
    };
    if allowed { Ok(()) } else { Err(ResponseCode::NV_AUTHORIZATION) }
}

/// The index of a write-type command after its access checks, if it is of `kind`.
fn writable<'t>(tpm: &'t mut Tpm, c: &Cmd<'_>, kind: NvType) -> TpmResult<&'t mut NvIndex> {
    let [auth, h, _] = c.handles;
    let index = tpm.nv.get_mut(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    write_access(index, auth, c.by_policy[0])?;
    if index.kind() != Some(kind) {
        // ms-tpm-20-ref names the index for the special types, not for NV_Write.
        return Err(if kind == NvType::Ordinary {
            ResponseCode::ATTRIBUTES
        } else {
            ResponseCode::ATTRIBUTES.handle(2)
        });
    }
    Ok(index)
}

/// Marks an index written; TPMA_NV_WRITEDEFINE then locks it for good.
fn written(index: &mut NvIndex) {
    index.attrs |= attr::WRITTEN;
    if index.has(attr::WRITEDEFINE) {
        index.attrs |= attr::WRITELOCKED;
    }
}

/// TPM2_NV_Write (Part 3 §31.7).
pub(crate) fn write(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    let offset = usize::from(c.params.u16().p(2)?);
    c.params.finish()?;
    let index = writable(tpm, c, NvType::Ordinary)?;
    if offset > index.data.len() {
        return Err(ResponseCode::VALUE.param(2));
    }
    let end = offset + data.len();
    if end > index.data.len() || (index.has(attr::WRITEALL) && data.len() != index.data.len()) {
        return Err(ResponseCode::NV_RANGE);
    }
    index.data.get_mut(offset..end).ok_or(ResponseCode::NV_RANGE)?.copy_from_slice(data);
    written(index);
    Ok(())
}

/// TPM2_NV_Increment (Part 3 §31.8): a counter starts above any counter deleted before.
pub(crate) fn increment(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let floor = tpm.nv.max_counter;
    let index = writable(tpm, c, NvType::Counter)?;
    let current = if index.has(attr::WRITTEN) { index.u64_value() } else { floor };
    index.data = current.wrapping_add(1).to_be_bytes().to_vec();
    written(index);
    Ok(())
}

/// TPM2_NV_SetBits (Part 3 §31.10).
pub(crate) fn set_bits(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let bits = c.params.u64().p(1)?;
    c.params.finish()?;
    let index = writable(tpm, c, NvType::Bits)?;
    let current = if index.has(attr::WRITTEN) { index.u64_value() } else { 0 };
    index.data = (current | bits).to_be_bytes().to_vec();
    written(index);
    Ok(())
}

/// TPM2_NV_Extend (Part 3 §31.9): data := H_nameAlg(data || input).
pub(crate) fn extend(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let input = c.params.tpm2b(MAX_BUFFER).p(1)?;
    c.params.finish()?;
    let index = writable(tpm, c, NvType::Extend)?;
    let d = index.name_alg.digest(&[&index.data, input]);
    index.data = d.as_slice().to_vec();
    written(index);
    Ok(())
}

/// TPM2_NV_Read (Part 3 §31.13).
pub(crate) fn read(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let size = usize::from(c.params.u16().p(1)?);
    let offset = usize::from(c.params.u16().p(2)?);
    c.params.finish()?;
    let [auth, h, _] = c.handles;
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    read_access(index, auth, c.by_policy[0])?;
    if offset + size > index.data.len() {
        return Err(ResponseCode::NV_RANGE);
    }
    if size > MAX_BUFFER {
        return Err(ResponseCode::VALUE.param(1));
    }
    c.out.tpm2b(index.data.get(offset..offset + size).ok_or(ResponseCode::NV_RANGE)?);
    Ok(())
}

/// TPM2_NV_WriteLock (Part 3 §31.11). Locking a locked index succeeds.
pub(crate) fn write_lock(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let [auth, h, _] = c.handles;
    let index = tpm.nv.get_mut(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    match write_access(index, auth, c.by_policy[0]) {
        Err(ResponseCode::NV_AUTHORIZATION) => return Err(ResponseCode::NV_AUTHORIZATION),
        Err(_) => return Ok(()), // already locked
        Ok(()) => {}
    }
    if index.attrs & (attr::WRITEDEFINE | attr::WRITE_STCLEAR) == 0 {
        return Err(ResponseCode::ATTRIBUTES.handle(2));
    }
    index.attrs |= attr::WRITELOCKED;
    Ok(())
}

/// TPM2_NV_ReadLock (Part 3 §31.14). Locking a locked index succeeds.
pub(crate) fn read_lock(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let [auth, h, _] = c.handles;
    let index = tpm.nv.get_mut(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    match read_access(index, auth, c.by_policy[0]) {
        Err(ResponseCode::NV_AUTHORIZATION) => return Err(ResponseCode::NV_AUTHORIZATION),
        Err(ResponseCode::NV_LOCKED) => return Ok(()),
        // Read-locking an index never written is allowed.
        Err(_) | Ok(()) => {}
    }
    if !index.has(attr::READ_STCLEAR) {
        return Err(ResponseCode::ATTRIBUTES.handle(2));
    }
    index.attrs |= attr::READLOCKED;
    Ok(())
}

/// TPM2_NV_GlobalWriteLock (Part 3 §31.12): every index with TPMA_NV_GLOBALLOCK is write-locked
/// until the next Startup(CLEAR).
pub(crate) fn global_write_lock(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    tpm.nv.global_lock();
    Ok(())
}
