//! The guest's EK check, host-testable: TPM2_CreatePrimary of the EK (TPM 2.0 Library Part 3 §24.1) on
//! TPM_RH_ENDORSEMENT with the TCG EK Credential Profile's template L-1 (`warden_defs::ek_template`),
//! built by hand as a guest OS would, and the TPMT_PUBLIC of its answer, which must equal the vTPM
//! service's manifest (SVSM spec, AMD 58019, "Attestation Protocol").
use warden_defs::ek_template::{EK_L1_PUBLIC_SIZE, EK_TEMPLATE_L1, TPM_RH_ENDORSEMENT, is_l1_public};

use crate::tpm_commands::{ResponseError, TPM_RC_SUCCESS};

/// TPM_ST_SESSIONS (Part 2 Table 19): the command carries an authorization area.
const TPM_ST_SESSIONS: u16 = 0x8002;
/// TPM_CC_CreatePrimary (Part 2 Table 12).
const TPM_CC_CREATE_PRIMARY: u32 = 0x131;
/// TPM_RS_PW: the password session (Part 2 Table 28).
const TPM_RS_PW: u32 = 0x4000_0009;
/// The command's size: header 10, handle 4, authorization 4 + 9, inSensitive 6, inPublic 2 + template,
/// outsideInfo 2, creationPCR 4.
pub const CREATE_EK_SIZE: usize = 10 + 4 + 13 + 6 + 2 + EK_L1_PUBLIC_SIZE + 2 + 4;

/// TPM2_CreatePrimary(TPM_RH_ENDORSEMENT, template L-1) with an empty password.
pub fn create_ek() -> [u8; CREATE_EK_SIZE] {
    let mut c = [0u8; CREATE_EK_SIZE];
    c[0..2].copy_from_slice(&TPM_ST_SESSIONS.to_be_bytes());
    c[2..6].copy_from_slice(&(CREATE_EK_SIZE as u32).to_be_bytes());
    c[6..10].copy_from_slice(&TPM_CC_CREATE_PRIMARY.to_be_bytes());
    c[10..14].copy_from_slice(&TPM_RH_ENDORSEMENT.to_be_bytes());
    c[14..18].copy_from_slice(&9u32.to_be_bytes());
    c[18..22].copy_from_slice(&TPM_RS_PW.to_be_bytes());
    // Nonce (empty), attributes 0, password (empty): c[22..27] stay zero. inSensitive: size 4, two
    // empty TPM2Bs.
    c[28] = 4;
    let public = 33;
    c[public..public + 2].copy_from_slice(&(EK_L1_PUBLIC_SIZE as u16).to_be_bytes());
    c[public + 2..public + 2 + EK_L1_PUBLIC_SIZE].copy_from_slice(&EK_TEMPLATE_L1);
    // outsideInfo (empty) and creationPCR (count 0) stay zero.
    c
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The EK's TPMT_PUBLIC in TPM2_CreatePrimary's answer: header, objectHandle, parameterSize, then
/// outPublic's TPM2B. It must be an L-1 public area.
pub fn ek_public(response: &[u8]) -> Result<&[u8], ResponseError> {
    let size = be32(response, 2).ok_or(ResponseError::Truncated)?;
    if size as usize != response.len() {
        return Err(ResponseError::Truncated);
    }
    match be16(response, 0) {
        Some(TPM_ST_SESSIONS) => {}
        Some(tag) => return Err(ResponseError::Tag(tag)),
        None => return Err(ResponseError::Truncated),
    }
    match be32(response, 6) {
        Some(TPM_RC_SUCCESS) => {}
        Some(code) => return Err(ResponseError::Code(code)),
        None => return Err(ResponseError::Truncated),
    }
    let len = usize::from(be16(response, 18).ok_or(ResponseError::Truncated)?);
    let public = response.get(20..20 + len).ok_or(ResponseError::Truncated)?;
    if is_l1_public(public) { Ok(public) } else { Err(ResponseError::Shape) }
}

#[cfg(test)]
mod tests {
    use super::{CREATE_EK_SIZE, create_ek, ek_public};
    use crate::tpm_commands::ResponseError;
    use warden_defs::ek_template::EK_TEMPLATE_L1;

    #[test]
    fn the_command_carries_the_template_after_the_password_session() {
        let c = create_ek();
        assert_eq!(c.len(), CREATE_EK_SIZE);
        assert_eq!(c[..14], [0x80, 0x02, 0, 0, 0x01, 0x63, 0, 0, 0x01, 0x31, 0x40, 0, 0, 0x0B]);
        assert_eq!(c[14..33], [0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(c[33..35], [0x01, 0x3A]);
        assert_eq!(c[35..35 + 314], EK_TEMPLATE_L1);
        assert_eq!(c[349..], [0; 6]);
    }

    fn answer(public: &[u8]) -> Vec<u8> {
        let mut r = vec![0x80, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0];
        r.extend_from_slice(&(public.len() as u16).to_be_bytes());
        r.extend_from_slice(public);
        r.extend_from_slice(&[0; 40]);
        let len = r.len() as u32;
        r[2..6].copy_from_slice(&len.to_be_bytes());
        r
    }

    #[test]
    fn the_public_area_is_read_and_must_be_l1() {
        let mut ek = EK_TEMPLATE_L1;
        ek[58..].fill(0xC3);
        assert_eq!(ek_public(&answer(&ek)), Ok(&ek[..]));
        ek[7] ^= 0x40;
        assert_eq!(ek_public(&answer(&ek)), Err(ResponseError::Shape));
        let mut failed = answer(&[]);
        failed[9] = 0x01;
        assert_eq!(ek_public(&failed), Err(ResponseError::Code(1)));
    }
}
