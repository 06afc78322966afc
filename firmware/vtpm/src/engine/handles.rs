//! The handle-area checks of Part 3 §5.4: each handle is of the type the command takes and refers to
//! something that exists.

use crate::engine::command_table::HandleKind;
use crate::wire::handle::{self, Handle};
use crate::wire::response_code::{ResponseCode, TpmResult};
use crate::{Tpm, state::pcr};

/// The handle-area checks of Part 3 §5.4: the handle is of the type the command takes and refers to
/// something that exists. `i` is the 0-based position.
pub(crate) fn check_handle(tpm: &Tpm, kind: HandleKind, h: Handle, i: usize) -> TpmResult<()> {
    let n = i as u32 + 1;
    let value = Err(ResponseCode::VALUE.handle(n));
    let not_loaded = Err(ResponseCode(ResponseCode::REFERENCE_H0.0 + i as u32));
    let is_pcr = h.ty() == handle::HT_PCR && (h.0 as usize) < pcr::PCR_COUNT;
    let hierarchy_on = |h: Handle| {
        if tpm.hier.enabled(h) { Ok(()) } else { Err(ResponseCode::HIERARCHY.handle(n)) }
    };
    match kind {
        HandleKind::PcrOrNull if is_pcr || h == Handle::RH_NULL => Ok(()),
        HandleKind::Pcr if is_pcr => Ok(()),
        HandleKind::PcrOrNull | HandleKind::Pcr => value,
        HandleKind::Provision if h == Handle::RH_OWNER || h == Handle::RH_PLATFORM => hierarchy_on(h),
        HandleKind::Platform if h == Handle::RH_PLATFORM => hierarchy_on(h),
        HandleKind::Clear if h == Handle::RH_LOCKOUT || h == Handle::RH_PLATFORM => hierarchy_on(h),
        HandleKind::Lockout if h == Handle::RH_LOCKOUT => Ok(()),
        HandleKind::Hierarchy
            if matches!(h, Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM) =>
        {
            hierarchy_on(h)
        }
        HandleKind::HierarchyAuth
            if matches!(
                h,
                Handle::RH_LOCKOUT | Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM
            ) =>
        {
            hierarchy_on(h)
        }
        HandleKind::Provision
        | HandleKind::Platform
        | HandleKind::Clear
        | HandleKind::Lockout
        | HandleKind::HierarchyAuth
        | HandleKind::Hierarchy => value,
        HandleKind::NvAuth if h == Handle::RH_OWNER || h == Handle::RH_PLATFORM => hierarchy_on(h),
        HandleKind::NvAuth | HandleKind::NvIndex if h.ty() == handle::HT_NV_INDEX => {
            if tpm.nv_accessible(h) {
                Ok(())
            } else {
                Err(ResponseCode::HANDLE.handle(n))
            }
        }
        HandleKind::NvAuth | HandleKind::NvIndex => value,
        HandleKind::Object | HandleKind::KeyOrNull if h.ty() == handle::HT_TRANSIENT => {
            if tpm.objects.sequence(h).is_some() || tpm.key(h).is_some() { Ok(()) } else { not_loaded }
        }
        HandleKind::KeyOrNull if h == Handle::RH_NULL => Ok(()),
        HandleKind::Object | HandleKind::KeyOrNull if h.ty() == handle::HT_PERSISTENT => {
            // A persistent object of a disabled hierarchy is hidden (ms-tpm-20-ref HandleToObject).
            let visible = tpm.key(h).is_some_and(|k| tpm.hier.enabled(k.hierarchy));
            if visible { Ok(()) } else { Err(ResponseCode::HANDLE.handle(n)) }
        }
        HandleKind::Object | HandleKind::KeyOrNull => value,
        HandleKind::Context => match h.ty() {
            handle::HT_TRANSIENT if tpm.objects.sequence(h).is_some() || tpm.key(h).is_some() => Ok(()),
            handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION if tpm.sessions.get(h).is_some() => Ok(()),
            handle::HT_TRANSIENT | handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION => not_loaded,
            handle::HT_PERSISTENT => Err(ResponseCode::HANDLE.handle(n)),
            _ => value,
        },
        HandleKind::PolicySession => match h.ty() {
            handle::HT_POLICY_SESSION if tpm.sessions.get(h).is_some() => Ok(()),
            handle::HT_POLICY_SESSION => not_loaded,
            _ => value,
        },
        HandleKind::EntityOrNull => {
            if h == Handle::RH_NULL || tpm.entity_auth(h).is_some() {
                Ok(())
            } else if h.ty() == handle::HT_TRANSIENT {
                not_loaded
            } else {
                Err(ResponseCode::HANDLE.handle(n))
            }
        }
    }
}
