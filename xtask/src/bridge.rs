//! The vTPM bridge: the TPM simulator (mssim) protocol on one side, SVSM_VTPM_CMD calls over the guest
//! test transport (Warden's COM2) on the other, so unmodified `tpm2-tools` drive the vTPM inside the
//! booted firmware. The host plays the guest: it owns one page of guest RAM as the command buffer.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use warden_defs::svsm::{CallId, PROTOCOL_VTPM, ResultCode, vtpm_call};
use warden_svsm::GuestRegs;
use warden_svsm::transport::{decode_response, encode_request, frame_len};
use warden_svsm::vtpm_protocol::{request_buffer, response_in};

use crate::tpm_server::engine::CommandEngine;

/// The guest page the bridge uses as the SVSM_VTPM_CMD buffer (guest RAM, outside Warden).
pub const BUFFER_GPA: u64 = 0x20_0000;

/// One SVSM call over the transport.
#[derive(Debug)]
pub struct Transport {
    stream: UnixStream,
}

impl Transport {
    /// Connects to QEMU's COM2 socket, waiting up to `timeout` for QEMU to create it.
    pub fn connect(socket: &Path, timeout: Duration) -> crate::Result<Self> {
        let deadline = Instant::now() + timeout;
        loop {
            match UnixStream::connect(socket) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
                    return Ok(Self { stream });
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(error) => {
                    return Err(
                        format!("cannot reach Warden's transport {}: {error}", socket.display()).into()
                    );
                }
            }
        }
    }

    /// Sends a call with `pages` and returns the result registers and pages.
    pub fn call(
        &mut self,
        regs: &GuestRegs,
        pages: &[(u64, &[u8; 4096])],
    ) -> crate::Result<warden_svsm::transport::Response> {
        let frame = encode_request(regs, pages).map_err(|e| format!("cannot frame the call: {e:?}"))?;
        self.stream.write_all(&frame)?;
        let mut head = [0u8; 8];
        self.stream.read_exact(&mut head)?;
        let len = frame_len(head).map_err(|e| format!("Warden's response header is refused: {e:?}"))?;
        let mut response = vec![0u8; len];
        response[..8].copy_from_slice(&head);
        self.stream.read_exact(&mut response[8..])?;
        let response =
            decode_response(&response).map_err(|e| format!("Warden's response is refused: {e:?}"))?;
        if response.status != 0 {
            return Err(format!("Warden refused the frame (status {})", response.status).into());
        }
        Ok(response)
    }

    /// Runs one TPM command through SVSM_VTPM_CMD and returns the TPM response.
    pub fn tpm_command(&mut self, command: &[u8]) -> crate::Result<Vec<u8>> {
        let page =
            request_buffer(command).ok_or("TPM command empty or too large for one SVSM vTPM buffer")?;
        let regs = GuestRegs {
            rax: CallId { protocol: PROTOCOL_VTPM, call: vtpm_call::CMD }.to_rax(),
            rcx: BUFFER_GPA,
            ..Default::default()
        };
        let response = self.call(&regs, &[(BUFFER_GPA, &page)])?;
        if response.regs.rax != ResultCode::SUCCESS.0 {
            return Err(format!("SVSM_VTPM_CMD failed with {:#x}", response.regs.rax).into());
        }
        let (_, data) = response.pages.pages().next().ok_or("Warden returned no buffer")?;
        response_in(data).map(<[u8]>::to_vec).ok_or_else(|| "the response size exceeds the buffer".into())
    }
}

/// The in-firmware vTPM as an mssim engine. Warden powers its TPM on at boot, so the TCTI's POWER_ON
/// has nothing to do; a transport failure answers with an empty response, which the TSS reports.
#[derive(Debug)]
pub struct FirmwareTpm(pub Transport);

impl CommandEngine for FirmwareTpm {
    fn power_on(&mut self) {}

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.tpm_command(command).unwrap_or_else(|error| {
            eprintln!("bridge: {error}");
            Vec::new()
        })
    }
}

/// TPM2_Startup(CLEAR) then TPM2_GetRandom(16) through the firmware: the smoke check that the vTPM
/// service answers. Returns the random bytes.
pub fn self_check(transport: &mut Transport) -> crate::Result<Vec<u8>> {
    let startup = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0x00, 0x00];
    let response = transport.tpm_command(&startup)?;
    let code = |r: &[u8]| r.get(6..10).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    // TPM_RC_INITIALIZE (0x100): already started by an earlier client, which is fine here.
    if !matches!(code(&response), Some(0 | 0x100)) {
        return Err(format!("TPM2_Startup answered {response:02x?}").into());
    }
    let get_random = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0x00, 0x10];
    let response = transport.tpm_command(&get_random)?;
    if code(&response) != Some(0) || response.len() != 12 + 16 {
        return Err(format!("TPM2_GetRandom answered {response:02x?}").into());
    }
    Ok(response[12..].to_vec())
}
