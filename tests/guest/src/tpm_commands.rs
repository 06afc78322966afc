//! The three TPM 2.0 commands the guest sends through the vTPM protocol, built by hand, and the checks
//! of their responses. Wire format: TPM 2.0 Library Part 1 §18 (command and response header: tag u16,
//! size u32, code u32, all big-endian); Part 2 Table 19 (TPM_ST_NO_SESSIONS), Table 12 (TPM_CC);
//! Part 3 §9.3 TPM2_Startup, §16.1 TPM2_GetRandom, §22.4 TPM2_PCR_Read.

/// TPM_ST_NO_SESSIONS (Part 2 Table 19).
pub const TPM_ST_NO_SESSIONS: u16 = 0x8001;
/// TPM_CC_Startup (Part 2 Table 12).
pub const TPM_CC_STARTUP: u32 = 0x0000_0144;
/// TPM_CC_GetRandom.
pub const TPM_CC_GET_RANDOM: u32 = 0x0000_017B;
/// TPM_CC_PCR_Read.
pub const TPM_CC_PCR_READ: u32 = 0x0000_017E;
/// TPM_SU_CLEAR (Part 2 Table 20).
pub const TPM_SU_CLEAR: u16 = 0x0000;
/// TPM_ALG_SHA256 (Part 2 Table 9).
pub const TPM_ALG_SHA256: u16 = 0x000B;
/// TPM_RC_SUCCESS.
pub const TPM_RC_SUCCESS: u32 = 0;
/// TPM_RC_INITIALIZE (Part 2 Table 16): TPM2_Startup after the TPM has already started.
pub const TPM_RC_INITIALIZE: u32 = 0x100;

/// The command header's size: tag, size, command code.
const HEADER: usize = 10;

/// Writes the header of a command of `size` bytes into `out[..10]`.
fn header(out: &mut [u8], size: u32, code: u32) {
    out[0..2].copy_from_slice(&TPM_ST_NO_SESSIONS.to_be_bytes());
    out[2..6].copy_from_slice(&size.to_be_bytes());
    out[6..10].copy_from_slice(&code.to_be_bytes());
}

/// TPM2_Startup(TPM_SU_CLEAR).
pub fn startup_clear() -> [u8; 12] {
    let mut command = [0u8; 12];
    header(&mut command, 12, TPM_CC_STARTUP);
    command[10..12].copy_from_slice(&TPM_SU_CLEAR.to_be_bytes());
    command
}

/// TPM2_GetRandom(bytesRequested).
pub fn get_random(bytes: u16) -> [u8; 12] {
    let mut command = [0u8; 12];
    header(&mut command, 12, TPM_CC_GET_RANDOM);
    command[10..12].copy_from_slice(&bytes.to_be_bytes());
    command
}

/// TPM2_PCR_Read of one PCR (0..=23) in the SHA-256 bank: a TPML_PCR_SELECTION with one
/// TPMS_PCR_SELECTION of a 3-byte bitmap.
pub fn pcr_read_sha256(pcr: u8) -> [u8; 20] {
    let mut command = [0u8; 20];
    header(&mut command, 20, TPM_CC_PCR_READ);
    command[10..14].copy_from_slice(&1u32.to_be_bytes());
    command[14..16].copy_from_slice(&TPM_ALG_SHA256.to_be_bytes());
    command[16] = 3;
    command[17 + usize::from(pcr / 8) % 3] = 1 << (pcr % 8);
    command
}

/// Why a response is not the one expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// Shorter than its header, or its size field disagrees with the bytes received.
    Truncated,
    /// The tag is not TPM_ST_NO_SESSIONS.
    Tag(u16),
    /// The response code is not success.
    Code(u32),
    /// The parameters do not have the shape the command asks for.
    Shape,
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Checks a response's header and returns its response code (any code, success or not).
pub fn response_code(response: &[u8]) -> Result<u32, ResponseError> {
    let size = be32(response, 2).ok_or(ResponseError::Truncated)?;
    if size as usize != response.len() || response.len() < HEADER {
        return Err(ResponseError::Truncated);
    }
    let tag = be16(response, 0).ok_or(ResponseError::Truncated)?;
    if tag != TPM_ST_NO_SESSIONS {
        return Err(ResponseError::Tag(tag));
    }
    be32(response, 6).ok_or(ResponseError::Truncated)
}

/// A successful response's parameters (after the header).
fn parameters(response: &[u8]) -> Result<&[u8], ResponseError> {
    match response_code(response)? {
        TPM_RC_SUCCESS => Ok(&response[HEADER..]),
        code => Err(ResponseError::Code(code)),
    }
}

/// TPM2_GetRandom's answer: a TPM2B_DIGEST of exactly `bytes` bytes, nothing after it.
pub fn random_bytes(response: &[u8], bytes: u16) -> Result<&[u8], ResponseError> {
    let params = parameters(response)?;
    if be16(params, 0) != Some(bytes) || params.len() != 2 + usize::from(bytes) {
        return Err(ResponseError::Shape);
    }
    Ok(&params[2..])
}

/// TPM2_PCR_Read's answer for [`pcr_read_sha256`]: the update counter, the echoed selection (the one
/// PCR in the SHA-256 bank), and one 32-byte digest. Returns the digest.
pub fn pcr_digest(response: &[u8], pcr: u8) -> Result<[u8; 32], ResponseError> {
    let params = parameters(response)?;
    let request = pcr_read_sha256(pcr);
    // pcrUpdateCounter (4), then the selection exactly as requested (10 bytes), then TPML_DIGEST.
    if params.len() != 4 + 10 + 4 + 2 + 32 || params[4..14] != request[10..20] {
        return Err(ResponseError::Shape);
    }
    if be32(params, 14) != Some(1) || be16(params, 18) != Some(32) {
        return Err(ResponseError::Shape);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&params[20..52]);
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::{
        ResponseError, get_random, pcr_digest, pcr_read_sha256, random_bytes, response_code, startup_clear,
    };

    #[test]
    fn commands_have_the_published_encoding() {
        // The bytes every TPM 2.0 stack sends for these (e.g. tpm2-tools' traces).
        assert_eq!(startup_clear(), [0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x44, 0, 0]);
        assert_eq!(get_random(16), [0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x7B, 0, 0x10]);
        assert_eq!(
            pcr_read_sha256(0),
            [0x80, 0x01, 0, 0, 0, 0x14, 0, 0, 0x01, 0x7E, 0, 0, 0, 1, 0, 0x0B, 3, 1, 0, 0]
        );
        assert_eq!(pcr_read_sha256(10)[17..20], [0, 0x04, 0]);
    }

    fn response(code: u32, params: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80, 0x01];
        out.extend_from_slice(&(10 + params.len() as u32).to_be_bytes());
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(params);
        out
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(response_code(&response(0x100, &[])), Ok(0x100));
        let mut short = response(0, &[1, 2]);
        short.pop();
        assert_eq!(response_code(&short), Err(ResponseError::Truncated));
        let mut tagged = response(0, &[]);
        tagged[1] = 2;
        assert_eq!(response_code(&tagged), Err(ResponseError::Tag(0x8002)));
    }

    #[test]
    fn get_random_needs_exactly_the_requested_bytes() {
        let mut params = vec![0, 16];
        params.extend(1..=16u8);
        assert_eq!(random_bytes(&response(0, &params), 16).unwrap(), &params[2..]);
        assert_eq!(random_bytes(&response(0, &params[..17]), 16), Err(ResponseError::Shape));
        assert_eq!(random_bytes(&response(0x101, &[]), 16), Err(ResponseError::Code(0x101)));
    }

    #[test]
    fn pcr_read_needs_the_echoed_selection_and_one_digest() {
        let mut params = vec![0, 0, 0, 7, 0, 0, 0, 1, 0, 0x0B, 3, 1, 0, 0, 0, 0, 0, 1, 0, 32];
        params.extend([0xAB; 32]);
        assert_eq!(pcr_digest(&response(0, &params), 0), Ok([0xAB; 32]));
        assert_eq!(pcr_digest(&response(0, &params), 1), Err(ResponseError::Shape));
        params[17] = 2;
        assert_eq!(pcr_digest(&response(0, &params), 0), Err(ResponseError::Shape));
    }
}
