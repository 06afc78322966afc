//! The hypervisor's side of SNP guest requests (GHCB spec (AMD 56421) §4.1.8 "SNP Guest Request" and
//! §4.1.8.1 "SNP Extended Guest Request"): it copies the request page (a shared page at
//! SW_EXITINFO1) to the PSP, writes the PSP's response page to SW_EXITINFO2, and returns the
//! firmware's status in SW_EXITINFO2[31:0]. For the extended request it first writes the certificate
//! table the host installed into the guest's buffer (RAX = its GPA, RBX = its size in pages); a
//! buffer too small is answered INVALID_LEN in SW_EXITINFO2[63:32] with RBX = the pages needed, and
//! the request is not passed to the PSP (so the guest must still use that sequence number; Linux
//! retries it as a regular request).
use unicorn_engine::Unicorn;

use crate::machine::State;

/// SW_EXITINFO2[63:32] = 1: the certificate buffer is too small (INVALID_LEN).
pub const VMM_ERR_INVALID_LEN: u64 = 1 << 32;

/// The hypervisor's answer: SW_EXITINFO2, and RBX when it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// VMM error in [63:32], firmware status in [31:0].
    pub exit_info_2: u64,
    /// The certificate pages needed (extended request, INVALID_LEN only).
    pub rbx: Option<u64>,
}

/// A guest-provided GPA the hypervisor cannot access (answered as a GHCB invalid input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadGpa(pub u64);

/// SNP_GUEST_REQUEST: the request page at `request_gpa`, the response page at `response_gpa`.
pub fn regular(uc: &mut Unicorn<'_, State>, request_gpa: u64, response_gpa: u64) -> Result<Answer, BadGpa> {
    let mut request = Box::new([0u8; 4096]);
    uc.mem_read(request_gpa, &mut request[..]).map_err(|_| BadGpa(request_gpa))?;
    // The response page must be there before the PSP spends a sequence number on the request.
    let mut probe = [0u8; 1];
    uc.mem_read(response_gpa, &mut probe).map_err(|_| BadGpa(response_gpa))?;
    let exit_info_2 = match uc.get_data_mut().hv.psp.guest_request(&request) {
        Ok(response) => {
            uc.mem_write(response_gpa, &response[..]).map_err(|_| BadGpa(response_gpa))?;
            0
        }
        Err(status) => u64::from(status),
    };
    Ok(Answer { exit_info_2, rbx: None })
}

/// SNP_EXTENDED_GUEST_REQUEST: as [`regular`], with the certificate table written to `certs_gpa`
/// (`certs_pages` pages) first.
pub fn extended(
    uc: &mut Unicorn<'_, State>,
    request_gpa: u64,
    response_gpa: u64,
    certs_gpa: u64,
    certs_pages: u64,
) -> Result<Answer, BadGpa> {
    // Without an installed table the guest gets an empty one: the terminating all-zero entry.
    let table = uc.get_data().hv.certificates.clone().unwrap_or_else(|| vec![0; 24]);
    let needed = crate::psp::cert_table::pages_needed(table.len());
    if certs_pages < needed {
        return Ok(Answer { exit_info_2: VMM_ERR_INVALID_LEN, rbx: Some(needed) });
    }
    uc.mem_write(certs_gpa, &table).map_err(|_| BadGpa(certs_gpa))?;
    regular(uc, request_gpa, response_gpa)
}
