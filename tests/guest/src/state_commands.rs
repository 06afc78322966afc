//! The TPM 2.0 commands of the guest's state step, built by hand: a marker NV index, an owner
//! authValue and a persistent key, the three kinds of state that must survive a reboot of Warden.
//! Wire format: TPM 2.0 Library Part 1 §18 (command header; the authorization area of §18.7 with one
//! password session, TPM_RS_PW); Part 2 Table 12 (TPM_CC), Table 28 (handles), Table 204 (TPMA_NV),
//! Table 31 (TPMA_OBJECT); Part 3 §31.3 NV_DefineSpace, §31.6 NV_Write, §31.13 NV_Read, §31.9
//! NV_ReadPublic, §24.1 CreatePrimary, §28.5 EvictControl, §24.8 HierarchyChangeAuth, §12.4
//! ReadPublic, §28.4 FlushContext.

/// TPM_ST_NO_SESSIONS (Part 2 Table 19).
const ST_NO_SESSIONS: u16 = 0x8001;
/// TPM_ST_SESSIONS.
const ST_SESSIONS: u16 = 0x8002;
/// TPM_RH_OWNER (Part 2 Table 28).
const RH_OWNER: u32 = 0x4000_0001;
/// TPM_RS_PW: the password session.
const RS_PW: u32 = 0x4000_0009;
/// TPM_ALG_SHA256, TPM_ALG_KEYEDHASH, TPM_ALG_HMAC (Part 2 Table 9).
const ALG_SHA256: u16 = 0x000B;
const ALG_KEYEDHASH: u16 = 0x0008;
const ALG_HMAC: u16 = 0x0005;

/// The marker index the step defines (an owner index, Part 2 Table 28's NV range).
pub const MARKER_INDEX: u32 = 0x0150_0057;
/// What the marker holds.
pub const MARKER_VALUE: [u8; 8] = *b"WRDNSTAT";
/// The ownerAuth the fresh path sets.
pub const OWNER_AUTH: &[u8] = b"warden-guest-owner";
/// The persistent handle of the step's key (owner range, Part 2 Table 28).
pub const PERSISTENT_KEY: u32 = 0x8100_0057;
/// TPMA_NV: OWNERWRITE | OWNERREAD, an ordinary index (Part 2 Table 204).
const MARKER_ATTRIBUTES: u32 = 1 << 1 | 1 << 17;
/// TPMA_OBJECT: fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign (Part 2 Table 31).
const KEY_ATTRIBUTES: u32 = 1 << 1 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 18;

/// Largest command the step sends.
pub const MAX_COMMAND: usize = 128;

/// A command being built; [`Command::bytes`] fixes the size field.
#[derive(Debug, Clone)]
pub struct Command {
    bytes: [u8; MAX_COMMAND],
    len: usize,
}

impl Command {
    fn new(sessions: bool, code: u32) -> Self {
        let mut c = Command { bytes: [0; MAX_COMMAND], len: 0 };
        c.u16(if sessions { ST_SESSIONS } else { ST_NO_SESSIONS }).u32(0).u32(code);
        c
    }

    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        // The step's commands are fixed and far below MAX_COMMAND (the tests build every one).
        let end = (self.len + bytes.len()).min(MAX_COMMAND);
        self.bytes[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
        self
    }

    fn u16(&mut self, v: u16) -> &mut Self {
        self.put(&v.to_be_bytes())
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_be_bytes())
    }

    fn tpm2b(&mut self, data: &[u8]) -> &mut Self {
        self.u16(data.len() as u16).put(data)
    }

    /// The authorization area: one password session carrying `auth` (Part 1 §19.8.4).
    fn password(&mut self, auth: &[u8]) -> &mut Self {
        let size = 4 + 2 + 1 + 2 + auth.len() as u32;
        self.u32(size).u32(RS_PW).tpm2b(&[]).put(&[0]).tpm2b(auth)
    }

    /// The finished command.
    pub fn bytes(&mut self) -> &[u8] {
        let size = (self.len as u32).to_be_bytes();
        self.bytes[2..6].copy_from_slice(&size);
        &self.bytes[..self.len]
    }
}

/// TPM2_NV_ReadPublic(nvIndex): succeeds exactly when the index exists.
pub fn nv_read_public(index: u32) -> Command {
    let mut c = Command::new(false, 0x169);
    c.u32(index);
    c
}

/// TPM2_NV_DefineSpace(TPM_RH_OWNER) of the 8-byte marker index, no authValue or policy.
pub fn define_marker(owner_auth: &[u8]) -> Command {
    let mut c = Command::new(true, 0x12A);
    c.u32(RH_OWNER).password(owner_auth).tpm2b(&[]);
    // TPM2B_NV_PUBLIC: nvIndex, nameAlg, attributes, authPolicy (empty), dataSize.
    c.u16(14).u32(MARKER_INDEX).u16(ALG_SHA256).u32(MARKER_ATTRIBUTES).tpm2b(&[]).u16(8);
    c
}

/// TPM2_NV_Write of the marker's value, authorized by the owner.
pub fn write_marker(owner_auth: &[u8]) -> Command {
    let mut c = Command::new(true, 0x137);
    c.u32(RH_OWNER).u32(MARKER_INDEX).password(owner_auth).tpm2b(&MARKER_VALUE).u16(0);
    c
}

/// TPM2_NV_Read of the marker's 8 bytes, authorized by the owner.
pub fn read_marker(owner_auth: &[u8]) -> Command {
    let mut c = Command::new(true, 0x14E);
    c.u32(RH_OWNER).u32(MARKER_INDEX).password(owner_auth).u16(8).u16(0);
    c
}

/// TPM2_CreatePrimary in the owner hierarchy of an HMAC-SHA-256 key (KEYEDHASH: no key generation
/// beyond the seed's KDF, quick on the emulated machine).
pub fn create_hmac_primary(owner_auth: &[u8]) -> Command {
    let mut c = Command::new(true, 0x131);
    c.u32(RH_OWNER).password(owner_auth);
    // TPM2B_SENSITIVE_CREATE: empty userAuth and data.
    c.u16(4).tpm2b(&[]).tpm2b(&[]);
    // TPM2B_PUBLIC: type, nameAlg, attributes, authPolicy, TPMT_KEYEDHASH_SCHEME (HMAC, SHA-256), unique.
    c.u16(16).u16(ALG_KEYEDHASH).u16(ALG_SHA256).u32(KEY_ATTRIBUTES).tpm2b(&[]);
    c.u16(ALG_HMAC).u16(ALG_SHA256).tpm2b(&[]);
    // outsideInfo, creationPCR (no selection).
    c.tpm2b(&[]).u32(0);
    c
}

/// TPM2_EvictControl(TPM_RH_OWNER, object) to [`PERSISTENT_KEY`].
pub fn evict_control(owner_auth: &[u8], object: u32) -> Command {
    let mut c = Command::new(true, 0x120);
    c.u32(RH_OWNER).u32(object).password(owner_auth).u32(PERSISTENT_KEY);
    c
}

/// TPM2_FlushContext(handle).
pub fn flush_context(handle: u32) -> Command {
    let mut c = Command::new(false, 0x165);
    c.u32(handle);
    c
}

/// TPM2_HierarchyChangeAuth(TPM_RH_OWNER) from `current` to `new`.
pub fn change_owner_auth(current: &[u8], new: &[u8]) -> Command {
    let mut c = Command::new(true, 0x129);
    c.u32(RH_OWNER).password(current).tpm2b(new);
    c
}

/// TPM2_ReadPublic(handle): succeeds exactly when the object exists.
pub fn read_public(handle: u32) -> Command {
    let mut c = Command::new(false, 0x173);
    c.u32(handle);
    c
}

/// The response code of a well-formed response (either tag, size field matching), else `None`.
pub fn response_code(response: &[u8]) -> Option<u32> {
    let tag = u16::from_be_bytes(response.get(0..2)?.try_into().ok()?);
    let size = u32::from_be_bytes(response.get(2..6)?.try_into().ok()?);
    let well_formed = (tag == ST_NO_SESSIONS || tag == ST_SESSIONS) && size as usize == response.len();
    if !well_formed {
        return None;
    }
    Some(u32::from_be_bytes(response.get(6..10)?.try_into().ok()?))
}

/// Whether `code` is TPM_RC_HANDLE (format 1, any handle or parameter number; Part 2 Table 16): the
/// answer for an index or object that does not exist.
pub fn is_handle_error(code: u32) -> bool {
    code & 0x80 != 0 && code & 0x3F == 0x0B
}

/// The handle a successful TPM2_CreatePrimary returned (right after the header).
pub fn created_handle(response: &[u8]) -> Option<u32> {
    if response_code(response)? != 0 {
        return None;
    }
    Some(u32::from_be_bytes(response.get(10..14)?.try_into().ok()?))
}

/// The data a successful TPM2_NV_Read returned: after the header and parameterSize, a TPM2B.
pub fn nv_read_data(response: &[u8]) -> Option<&[u8]> {
    if response_code(response)? != 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes(response.get(14..16)?.try_into().ok()?));
    response.get(16..16 + len)
}

/// Against Warden's real vTPM engine on the host: the fresh path's commands all succeed, and after the
/// NV-resident state moves into another TPM (what a reboot with a state file does) the restored path's
/// checks pass, while on a TPM without the state they fail the way the step tells "fresh" apart.
#[cfg(test)]
mod tests {
    use crate::state_commands::{
        self as sc, MARKER_VALUE, OWNER_AUTH, PERSISTENT_KEY, is_handle_error, response_code,
    };
    use warden_vtpm::Tpm;
    use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;

    fn started(seed: u64) -> Tpm {
        let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(seed)));
        t.power_on();
        assert_eq!(response_code(&t.execute(&[0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x44, 0, 0])), Some(0));
        t
    }

    fn rc(t: &mut Tpm, mut command: sc::Command) -> u32 {
        response_code(&t.execute(command.bytes())).expect("a well-formed response")
    }

    #[test]
    fn the_fresh_path_then_the_restored_path() {
        let mut first = started(1);
        let absent = rc(&mut first, sc::nv_read_public(sc::MARKER_INDEX));
        assert!(is_handle_error(absent), "no marker yet: {absent:#x}");
        assert_eq!(rc(&mut first, sc::define_marker(b"")), 0);
        assert_eq!(rc(&mut first, sc::write_marker(b"")), 0);
        let created = first.execute(sc::create_hmac_primary(b"").bytes());
        let handle = sc::created_handle(&created).expect("CreatePrimary of the HMAC key");
        assert_eq!(rc(&mut first, sc::evict_control(b"", handle)), 0);
        assert_eq!(rc(&mut first, sc::flush_context(handle)), 0);
        assert_eq!(rc(&mut first, sc::change_owner_auth(b"", OWNER_AUTH)), 0);

        // A reboot with the state kept: another TPM given the first one's NV-resident state.
        let state = first.nv_state();
        let mut second = Tpm::new(Box::new(InsecureTestEntropy::new(2)));
        second.restore_nv_state(&state).expect("the state parses");
        second.power_on();
        second.execute(&[0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x44, 0, 0]);
        assert_eq!(rc(&mut second, sc::nv_read_public(sc::MARKER_INDEX)), 0);
        let read = second.execute(sc::read_marker(OWNER_AUTH).bytes());
        assert_eq!(sc::nv_read_data(&read), Some(&MARKER_VALUE[..]));
        assert_ne!(rc(&mut second, sc::read_marker(b"")), 0, "the old, empty ownerAuth is refused");
        assert_eq!(rc(&mut second, sc::read_public(PERSISTENT_KEY)), 0);

        // Without the state, the restored path's checks fail.
        let mut other = started(3);
        assert!(is_handle_error(rc(&mut other, sc::read_public(PERSISTENT_KEY))));
        assert_eq!(sc::nv_read_data(&other.execute(sc::read_marker(OWNER_AUTH).bytes())), None);
    }
}
