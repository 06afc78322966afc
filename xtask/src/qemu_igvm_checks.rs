//! Proof that QEMU's IGVM loader, not a ROM, boots Warden: the boot CPU's first state is the IGVM file's
//! native VP context (not the reset vector), and a file whose checksum does not match is refused by QEMU,
//! with QEMU's message reaching the person running the smoke boot.
//!
//! The IGVM fixed header's `checksum` is a CRC32 over the fixed header (checksum field zero) and the
//! variable headers (IGVM specification, `IGVM_FIXED_HEADER`; the igvm crate checks it in
//! `IgvmFile::new_from_binary`, QEMU's loader reports that crate's `IGVMAPI_INVALID_CHECKSUM`, -18).
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use igvm::{IgvmDirectiveHeader, IgvmFile};

use crate::qemu::{self, Accel, Boot, Firmware};
use crate::qemu_loader::{DEFAULT_MEMORY_MIB, Loader};

/// Where the x86 reset vector puts the first instruction (CS base 0xFFFF0000, IP 0xFFF0).
const RESET_RIP: u64 = 0xFFF0;
/// The error number QEMU prints for a file the igvm C API refuses for its checksum.
const INVALID_CHECKSUM: &str = "-18";

/// The RIP of the native VP context in an IGVM file.
pub fn native_entry_rip(file: &[u8]) -> crate::Result<u64> {
    let parsed = IgvmFile::new_from_binary(file, None).map_err(|error| format!("the IGVM file: {error}"))?;
    parsed
        .directives()
        .iter()
        .find_map(|directive| match directive {
            IgvmDirectiveHeader::X64NativeVpContext { context, .. } => Some(context.rip),
            _ => None,
        })
        .ok_or_else(|| "the IGVM file has no native VP context".into())
}

/// Flips one bit of the first variable header (inside the checksummed bytes); returns its offset.
pub fn flip_checksummed_byte(file: &mut [u8]) -> crate::Result<usize> {
    // IGVM_FIXED_HEADER: variable_header_offset at byte 8, variable_header_size at byte 12.
    let field = |at: usize| file.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (offset, size) = field(8).zip(field(12)).ok_or("the file is shorter than the IGVM fixed header")?;
    // Past the first header's type and length: a byte of its body.
    let at = offset as usize + 8;
    if size < 9 || at >= file.len() {
        return Err("the IGVM file's variable headers are too short".into());
    }
    file[at] ^= 0x01;
    Ok(at)
}

/// Starts QEMU paused on `igvm` and reads the boot CPU's RIP and the memory map from its monitor: the RIP
/// must be the file's native VP context entry (not 0xFFF0) and the memory map must hold the loader's
/// `igvm` regions. Returns a one-line summary.
pub fn entry_is_the_vp_context(qemu_binary: &Path, igvm: &Path, accel: Accel) -> crate::Result<String> {
    let expected = native_entry_rip(&std::fs::read(igvm)?)?;
    let monitor = crate::build::output_dir().join(format!("monitor-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&monitor);
    let boot = Boot {
        qemu: qemu_binary,
        firmware: Firmware::Igvm(igvm),
        memory_mib: DEFAULT_MEMORY_MIB,
        accel,
        fw_cfg: Vec::new(),
        interactive: false,
        channel: None,
        paused_monitor: Some(&monitor),
        vtpm_state: None,
    };
    let running = qemu::spawn(&boot)?;
    let outcome = read_monitor(&monitor).and_then(|(registers, mtree)| {
        let rip = registers
            .split("RIP=")
            .nth(1)
            .and_then(|rest| rest.get(..16))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .ok_or_else(|| format!("no RIP in `info registers`:\n{registers}"))?;
        if rip != expected || rip == RESET_RIP {
            return Err(format!(
                "the paused boot CPU is at RIP {rip:#x}, not the native VP context's {expected:#x}"
            )
            .into());
        }
        let regions = mtree.lines().filter(|line| line.contains("igvm")).count();
        if regions == 0 {
            return Err(format!("`info mtree -f` shows no igvm region:\n{mtree}").into());
        }
        Ok(format!(
            "paused at RIP {rip:#x} = the native VP context's entry (reset vector {RESET_RIP:#x}); \
             {regions} igvm memory regions"
        ))
    });
    running.kill()?;
    let _ = std::fs::remove_file(&monitor);
    outcome
}

/// `info registers` and `info mtree -f` from the human monitor at `socket`, then `quit`.
fn read_monitor(socket: &Path) -> crate::Result<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match UnixStream::connect(socket) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() >= deadline => return Err(format!("QEMU's monitor: {error}").into()),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    read_until_prompt(&mut stream, deadline)?;
    stream.write_all(b"info registers\n")?;
    let registers = read_until_prompt(&mut stream, deadline)?;
    stream.write_all(b"info mtree -f\n")?;
    let mtree = read_until_prompt(&mut stream, deadline)?;
    let _ = stream.write_all(b"quit\n");
    Ok((registers, mtree))
}

/// Reads monitor output up to its next `(qemu) ` prompt.
fn read_until_prompt(stream: &mut UnixStream, deadline: Instant) -> crate::Result<String> {
    let mut text = Vec::new();
    let mut buffer = [0u8; 4096];
    while !text.ends_with(b"(qemu) ") {
        if Instant::now() >= deadline {
            return Err("QEMU's monitor did not answer within 30 s".into());
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Err("QEMU's monitor closed".into()),
            Ok(n) => text.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Writes a copy of `igvm` with one bit of its checksummed headers flipped, smoke-boots it, and expects
/// the boot to fail with QEMU's refusal in the error. Returns QEMU's message.
pub fn corrupted_checksum_is_refused(qemu_binary: &Path, igvm: &Path) -> crate::Result<String> {
    let mut file = std::fs::read(igvm)?;
    let at = flip_checksummed_byte(&mut file)?;
    let corrupted: PathBuf = crate::build::output_dir().join("warden-bad-checksum.igvm");
    std::fs::write(&corrupted, &file)?;
    let mut args = crate::run::Args::for_test(Loader::Igvm, qemu_binary, Accel::Tcg, true, false);
    args.image = Some(corrupted.clone());
    args.timeout = 60;
    let outcome = crate::run::run(&args);
    let _ = std::fs::remove_file(&corrupted);
    let error = match outcome {
        Ok(()) => return Err(format!("QEMU booted an IGVM file with byte {at:#x} changed").into()),
        Err(error) => error.to_string(),
    };
    let refusal = error.lines().find(|line| line.contains("Unable to parse IGVM file"));
    match refusal {
        Some(line) if line.trim_end().ends_with(INVALID_CHECKSUM) => Ok(line.to_string()),
        _ => Err(format!("the corrupted file failed, but not with QEMU's checksum refusal: {error}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{flip_checksummed_byte, native_entry_rip};
    use crate::igvm::test_support::synthetic_image;

    #[test]
    fn the_native_entry_is_read_back_from_the_file() {
        let image = synthetic_image();
        let file = crate::igvm::write_igvm(&image, crate::igvm::SNP_POLICY).unwrap();
        assert_eq!(native_entry_rip(&file).unwrap(), image.entry.rip);
    }

    #[test]
    fn one_flipped_header_bit_breaks_the_checksum() {
        let mut file = crate::igvm::write_igvm(&synthetic_image(), crate::igvm::SNP_POLICY).unwrap();
        let original = file.clone();
        let at = flip_checksummed_byte(&mut file).unwrap();
        let changed: Vec<usize> = (0..file.len()).filter(|&i| file[i] != original[i]).collect();
        assert_eq!(changed, [at]);
        let error = igvm::IgvmFile::new_from_binary(&file, None).unwrap_err();
        assert!(matches!(error, igvm::Error::InvalidChecksum { .. }), "{error}");
    }
}
