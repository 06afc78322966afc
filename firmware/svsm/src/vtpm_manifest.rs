//! The vTPM service's entry in the services manifest: the EK's marshaled TPMT_PUBLIC (SVSM spec, AMD
//! 58019, "Attestation Protocol", vTPM service manifest version 0), obtained by running
//! TPM2_CreatePrimary with the TCG EK template L-1 ([`warden_defs::ek_template`]) on the vTPM itself, so
//! the manifest's EK IS the EK a guest creates from the same TPM, not a copy computed beside it.
//!
//! Run once at boot, before the guest can reach the TPM: TPM2_Startup(CLEAR), TPM2_CreatePrimary on
//! TPM_RH_ENDORSEMENT (empty password session), TPM2_FlushContext of the key, TPM2_Shutdown(CLEAR).
//! The caller then signals _TPM_Init, so the guest finds a TPM that needs TPM2_Startup, as at power-on.
//! Commands and responses: TPM 2.0 Library Part 1 §18, Part 3 §9.3, §9.4, §24.1, §28.4.
use alloc::vec::Vec;
use warden_defs::ek_template::{EK_TEMPLATE_L1, TPM_RH_ENDORSEMENT, is_l1_public};

use crate::vtpm_protocol::TpmEngine;

/// TPM_ST_NO_SESSIONS / TPM_ST_SESSIONS (Part 2 Table 19).
const ST_NO_SESSIONS: u16 = 0x8001;
const ST_SESSIONS: u16 = 0x8002;
/// TPM_CC values (Part 2 Table 12).
const CC_CREATE_PRIMARY: u32 = 0x131;
const CC_STARTUP: u32 = 0x144;
const CC_SHUTDOWN: u32 = 0x145;
const CC_FLUSH_CONTEXT: u32 = 0x165;
/// TPM_RS_PW, the password session (Part 2 Table 28).
const RS_PW: u32 = 0x4000_0009;

/// Why the EK's public area could not be had. Each carries the TPM's response code where there is one:
/// all are Warden's bugs (its own TPM refusing its own well-formed commands), reported at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EkError {
    /// TPM2_Startup failed.
    Startup(u32),
    /// TPM2_CreatePrimary failed.
    CreatePrimary(u32),
    /// TPM2_FlushContext failed.
    Flush(u32),
    /// TPM2_Shutdown failed.
    Shutdown(u32),
    /// A response is not shaped as its command's (truncated, wrong size or tag).
    Malformed,
    /// The public area answered is not one of template L-1.
    NotL1,
}

fn command(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + body.len());
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// TPM2_CreatePrimary(TPM_RH_ENDORSEMENT, template L-1): empty password, no sensitive data, no
/// outsideInfo, no creation PCRs.
pub fn create_ek_command() -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + EK_TEMPLATE_L1.len());
    body.extend_from_slice(&TPM_RH_ENDORSEMENT.to_be_bytes());
    // authorizationSize, then TPMS_AUTH_COMMAND: TPM_RS_PW, empty nonce, attributes 0, empty password.
    body.extend_from_slice(&9u32.to_be_bytes());
    body.extend_from_slice(&RS_PW.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 0, 0]);
    // inSensitive: TPM2B_SENSITIVE_CREATE with empty userAuth and data.
    body.extend_from_slice(&[0, 4, 0, 0, 0, 0]);
    body.extend_from_slice(&(EK_TEMPLATE_L1.len() as u16).to_be_bytes());
    body.extend_from_slice(&EK_TEMPLATE_L1);
    // outsideInfo (empty) and creationPCR (count 0).
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    command(ST_SESSIONS, CC_CREATE_PRIMARY, &body)
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The response code of `response`, after checking its header against its length.
fn response_code(response: &[u8]) -> Result<u32, EkError> {
    let size = be32(response, 2).ok_or(EkError::Malformed)?;
    if size as usize != response.len() {
        return Err(EkError::Malformed);
    }
    be32(response, 6).ok_or(EkError::Malformed)
}

/// Runs `command` and requires TPM_RC_SUCCESS (`error` names the command).
fn run(engine: &mut impl TpmEngine, command: &[u8], error: fn(u32) -> EkError) -> Result<Vec<u8>, EkError> {
    let response = engine.execute(command);
    match response_code(&response)? {
        0 => Ok(response),
        rc => Err(error(rc)),
    }
}

/// The object handle and TPMT_PUBLIC (without its TPM2B size) of a TPM2_CreatePrimary response.
pub fn parse_create_primary(response: &[u8]) -> Result<(u32, &[u8]), EkError> {
    if be16(response, 0) != Some(ST_SESSIONS) {
        return Err(EkError::Malformed);
    }
    match response_code(response)? {
        0 => {}
        rc => return Err(EkError::CreatePrimary(rc)),
    }
    // objectHandle, parameterSize, then outPublic's TPM2B.
    let handle = be32(response, 10).ok_or(EkError::Malformed)?;
    let size = usize::from(be16(response, 18).ok_or(EkError::Malformed)?);
    let public = response.get(20..20 + size).ok_or(EkError::Malformed)?;
    if !is_l1_public(public) {
        return Err(EkError::NotL1);
    }
    Ok((handle, public))
}

/// The EK's TPMT_PUBLIC for the vTPM behind `engine`, which must be freshly powered on (needing
/// TPM2_Startup); it is left shut down, ready for _TPM_Init.
pub fn endorsement_key_public(engine: &mut impl TpmEngine) -> Result<Vec<u8>, EkError> {
    run(engine, &command(ST_NO_SESSIONS, CC_STARTUP, &[0, 0]), EkError::Startup)?;
    let response = engine.execute(&create_ek_command());
    let (handle, public) = parse_create_primary(&response)?;
    run(engine, &command(ST_NO_SESSIONS, CC_FLUSH_CONTEXT, &handle.to_be_bytes()), EkError::Flush)?;
    run(engine, &command(ST_NO_SESSIONS, CC_SHUTDOWN, &[0, 0]), EkError::Shutdown)?;
    Ok(public.to_vec())
}
