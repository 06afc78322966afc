//! The vTPM bridge: the TPM simulator (mssim) protocol on one side, SVSM_VTPM_CMD calls over Warden's
//! native guest channel on the other, so unmodified `tpm2-tools` drive the vTPM inside the booted
//! firmware. The host plays the guest the way a guest calls Warden: it writes the command buffer, the
//! call's registers and `call_pending` into guest RAM (shared with QEMU, `shared_ram.rs`) and rings the
//! doorbell, one byte on Warden's COM2; Warden answers with one byte (`warden_svsm::doorbell`).
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use warden_defs::layout::WARDEN_BASE;
use warden_defs::svsm::{CallId, PROTOCOL_VTPM, ResultCode, vtpm_call};
use warden_svsm::doorbell::{Answer, CallRegisters, NATIVE_BOOT_CAA, REGISTERS_GPA, RING};
use warden_svsm::vtpm_protocol::{request_buffer, response_in};
use zerocopy::IntoBytes;

use crate::shared_ram::SharedRam;
use crate::tpm_server::engine::CommandEngine;

/// The guest page the bridge uses as the SVSM_VTPM_CMD buffer (guest RAM, outside Warden).
pub const BUFFER_GPA: u64 = 0x20_0000;

/// The host's end of the native guest channel: the doorbell socket and guest RAM.
#[derive(Debug)]
pub struct Channel {
    doorbell: UnixStream,
    ram: SharedRam,
}

impl Channel {
    /// Connects to QEMU's COM2 socket, waiting up to `timeout` for QEMU to create it; calls go through
    /// `ram`, the guest RAM QEMU was started on.
    pub fn connect(socket: &Path, ram: SharedRam, timeout: Duration) -> crate::Result<Self> {
        let deadline = Instant::now() + timeout;
        loop {
            match UnixStream::connect(socket) {
                Ok(doorbell) => {
                    // An RSA key generation under TCG takes seconds; a minute means Warden is gone.
                    doorbell.set_read_timeout(Some(Duration::from_secs(60)))?;
                    return Ok(Self { doorbell, ram });
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(error) => {
                    return Err(
                        format!("cannot reach Warden's doorbell {}: {error}", socket.display()).into()
                    );
                }
            }
        }
    }

    /// Makes one SVSM call: registers into the register block, `call_pending` set, the doorbell rung;
    /// returns the result registers once Warden answered that it served the call.
    pub fn call(&mut self, regs: &CallRegisters) -> crate::Result<CallRegisters> {
        self.ram.write(REGISTERS_GPA, regs.as_bytes())?;
        self.ram.write(NATIVE_BOOT_CAA, &[1])?;
        self.doorbell.write_all(&[RING])?;
        let mut answer = [0u8; 1];
        self.doorbell.read_exact(&mut answer)?;
        match Answer::from_byte(answer[0]) {
            Some(Answer::Served) => {}
            Some(refusal) => return Err(format!("Warden did not serve the call: {refusal:?}").into()),
            None => return Err(format!("Warden answered the doorbell with {:#04x}", answer[0]).into()),
        }
        let mut result = CallRegisters::default();
        self.ram.read(REGISTERS_GPA, result.as_mut_bytes())?;
        Ok(result)
    }

    /// Reads guest RAM the firmware wrote (a call's output buffer).
    pub fn read_guest(&self, gpa: u64, buf: &mut [u8]) -> crate::Result {
        self.ram.read(gpa, buf)
    }

    /// Rings the doorbell with `byte` as it is and returns Warden's answer (the smoke check's hostile
    /// ring).
    fn ring(&mut self, byte: u8) -> crate::Result<Option<Answer>> {
        self.doorbell.write_all(&[byte])?;
        let mut answer = [0u8; 1];
        self.doorbell.read_exact(&mut answer)?;
        Ok(Answer::from_byte(answer[0]))
    }

    /// Runs one TPM command through SVSM_VTPM_CMD and returns the TPM response.
    pub fn tpm_command(&mut self, command: &[u8]) -> crate::Result<Vec<u8>> {
        let page =
            request_buffer(command).ok_or("TPM command empty or too large for one SVSM vTPM buffer")?;
        self.ram.write(BUFFER_GPA, &page)?;
        let regs = CallRegisters {
            rax: CallId { protocol: PROTOCOL_VTPM, call: vtpm_call::CMD }.to_rax(),
            rcx: BUFFER_GPA,
            ..Default::default()
        };
        let result = self.call(&regs)?;
        if result.rax != ResultCode::SUCCESS.0 {
            return Err(format!("SVSM_VTPM_CMD failed with {:#x}", result.rax).into());
        }
        let mut buffer = vec![0u8; page.len()];
        self.ram.read(BUFFER_GPA, &mut buffer)?;
        response_in(&buffer).map(<[u8]>::to_vec).ok_or_else(|| "the response size exceeds the buffer".into())
    }
}

/// The in-firmware vTPM as an mssim engine. Warden powers its TPM on at boot, so the TCTI's POWER_ON
/// has nothing to do; a transport failure answers with an empty response, which the TSS reports.
#[derive(Debug)]
pub struct FirmwareTpm(pub Channel);

impl CommandEngine for FirmwareTpm {
    fn power_on(&mut self) {}

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.tpm_command(command).unwrap_or_else(|error| {
            eprintln!("bridge: {error}");
            Vec::new()
        })
    }
}

/// TPM2_Startup(CLEAR), the hostile calls of [`refusals`], then TPM2_GetRandom(16) through the
/// firmware: the smoke check that the vTPM service answers, and still answers after a hostile ring.
/// Returns the random bytes.
pub fn self_check(channel: &mut Channel) -> crate::Result<Vec<u8>> {
    let startup = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0x00, 0x00];
    let response = channel.tpm_command(&startup)?;
    let code = |r: &[u8]| r.get(6..10).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    // TPM_RC_INITIALIZE (0x100): already started by an earlier client, which is fine here.
    if !matches!(code(&response), Some(0 | 0x100)) {
        return Err(format!("TPM2_Startup answered {response:02x?}").into());
    }
    refusals(channel)?;
    let get_random = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0x00, 0x10];
    let response = channel.tpm_command(&get_random)?;
    if code(&response) != Some(0) || response.len() != 12 + 16 {
        return Err(format!("TPM2_GetRandom answered {response:02x?}").into());
    }
    Ok(response[12..].to_vec())
}

/// Hostile calls the booted firmware must refuse and survive: a doorbell byte that is not the ring,
/// and SVSM_VTPM_CMD with a buffer in Warden's region and past the end of guest RAM.
fn refusals(channel: &mut Channel) -> crate::Result {
    let answer = channel.ring(!RING)?;
    if answer != Some(Answer::BadDoorbell) {
        return Err(format!("a bad doorbell byte was answered {answer:?}").into());
    }
    let cmd = CallId { protocol: PROTOCOL_VTPM, call: vtpm_call::CMD }.to_rax();
    for (what, gpa) in [("in Warden's region", WARDEN_BASE), ("past guest RAM", 1 << 40)] {
        let result = channel.call(&CallRegisters { rax: cmd, rcx: gpa, ..Default::default() })?;
        if result.rax != ResultCode::INVALID_ADDRESS.0 {
            return Err(format!("a vTPM buffer {what} was answered {:#x}", result.rax).into());
        }
    }
    Ok(())
}
