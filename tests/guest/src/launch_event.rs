//! The launch event of Warden's event log: the PCR 0 EV_S_CRTM_VERSION event that names the launch
//! measurement (`docs/measured-boot.md`), found in a TCG crypto-agile log (TCG PC Client PFP §10.2:
//! the Spec ID event in the SHA-1 `TCG_PCClientPCREvent` format, then `TCG_PCR_EVENT2` events, all
//! little-endian).

/// EV_S_CRTM_VERSION (TCG PC Client PFP §10.4.1, Table 9).
pub const EV_S_CRTM_VERSION: u32 = 0x0000_0008;
/// The longest event text the guest decodes.
pub const TEXT_MAX: usize = 160;

/// TPM_ALG_ID values (TPM 2.0 Library Part 2 Table 9) and their digest sizes.
const BANKS: [(u16, usize); 4] = [(0x0004, 20), (0x000B, 32), (0x000C, 48), (0x000D, 64)];
const TPM_ALG_SHA256: u16 = 0x000B;
const TPM_ALG_SHA384: u16 = 0x000C;

/// The launch event: its SHA-256 and SHA-384 digests and its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchEvent<'a> {
    /// The SHA-256 bank's digest.
    pub sha256: [u8; 32],
    /// The SHA-384 bank's digest.
    pub sha384: [u8; 48],
    /// The event data (a NUL-terminated UTF-16LE string).
    pub data: &'a [u8],
}

/// Why the log has no launch event the guest can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// The log ends inside an event.
    Truncated,
    /// An event has a digest of an algorithm the guest does not know.
    UnknownAlgorithm(u16),
    /// No PCR 0 EV_S_CRTM_VERSION event, or one without a SHA-256 or SHA-384 digest.
    NoLaunchEvent,
}

fn le32(log: &[u8], at: usize) -> Result<u32, LogError> {
    let bytes = log.get(at..at + 4).ok_or(LogError::Truncated)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn length(log: &[u8], at: usize) -> Result<usize, LogError> {
    usize::try_from(le32(log, at)?).map_err(|_| LogError::Truncated)
}

/// Finds the first PCR 0 EV_S_CRTM_VERSION event after the Spec ID event.
pub fn find(log: &[u8]) -> Result<LaunchEvent<'_>, LogError> {
    // The Spec ID event: PCR, type, a 20-byte digest, the data size, the data.
    let mut at = 28 + length(log, 28)? + 4;
    while at < log.len() {
        let (pcr, kind, count) = (le32(log, at)?, le32(log, at + 4)?, le32(log, at + 8)?);
        at += 12;
        let (mut sha256, mut sha384) = (None, None);
        for _ in 0..count {
            let id =
                log.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or(LogError::Truncated)?;
            let size = BANKS.iter().find(|(bank, _)| *bank == id).ok_or(LogError::UnknownAlgorithm(id))?.1;
            let digest = log.get(at + 2..at + 2 + size).ok_or(LogError::Truncated)?;
            match id {
                TPM_ALG_SHA256 => sha256 = digest.try_into().ok(),
                TPM_ALG_SHA384 => sha384 = digest.try_into().ok(),
                _ => {}
            }
            at += 2 + size;
        }
        let size = length(log, at)?;
        let data = log.get(at + 4..at + 4 + size).ok_or(LogError::Truncated)?;
        at += 4 + size;
        if pcr == 0 && kind == EV_S_CRTM_VERSION {
            let (Some(sha256), Some(sha384)) = (sha256, sha384) else {
                return Err(LogError::NoLaunchEvent);
            };
            return Ok(LaunchEvent { sha256, sha384, data });
        }
    }
    Err(LogError::NoLaunchEvent)
}

/// The event data as text, when it is a NUL-terminated UTF-16LE string of printable ASCII of at most
/// [`TEXT_MAX`] characters; written into `out`.
pub fn ascii_text<'a>(data: &[u8], out: &'a mut [u8; TEXT_MAX]) -> Option<&'a str> {
    let units = data.strip_suffix(&[0, 0])?;
    if units.len() % 2 != 0 || units.len() / 2 > TEXT_MAX {
        return None;
    }
    for (slot, unit) in out.iter_mut().zip(units.chunks_exact(2)) {
        match unit {
            [c @ 0x20..=0x7E, 0] => *slot = *c,
            _ => return None,
        }
    }
    core::str::from_utf8(&out[..units.len() / 2]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }

    /// A log like Warden's: the Spec ID event, StartupLocality (EV_NO_ACTION, PCR 0), the launch event
    /// and a PCR 1 event, each with SHA-1, SHA-256 and SHA-384 digests.
    fn log(launch_pcr: u32) -> Vec<u8> {
        let mut log = Vec::new();
        log.extend_from_slice(&0u32.to_le_bytes());
        log.extend_from_slice(&3u32.to_le_bytes());
        log.extend_from_slice(&[0; 20]);
        let spec = b"Spec ID Event03\0 and more";
        log.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        log.extend_from_slice(spec);
        let mut event = |pcr: u32, kind: u32, fill: u8, data: &[u8]| {
            log.extend_from_slice(&pcr.to_le_bytes());
            log.extend_from_slice(&kind.to_le_bytes());
            log.extend_from_slice(&3u32.to_le_bytes());
            for (id, size) in [(4u16, 20), (0xB, 32), (0xC, 48)] {
                log.extend_from_slice(&id.to_le_bytes());
                log.extend(core::iter::repeat_n(fill + id as u8, size));
            }
            log.extend_from_slice(&(data.len() as u32).to_le_bytes());
            log.extend_from_slice(data);
        };
        event(0, 3, 0, b"StartupLocality\0\x04");
        event(launch_pcr, EV_S_CRTM_VERSION, 0x10, &utf16("Warden H-CRTM: SNP launch digest ab01"));
        event(1, 0x0A, 0x20, &[1, 2, 3]);
        log
    }

    #[test]
    fn the_launch_event_is_found_with_its_digests_and_text() {
        let log = log(0);
        let event = find(&log).unwrap();
        assert_eq!(event.sha256, [0x1B; 32]);
        assert_eq!(event.sha384, [0x1C; 48]);
        let mut out = [0; TEXT_MAX];
        assert_eq!(ascii_text(event.data, &mut out), Some("Warden H-CRTM: SNP launch digest ab01"));
    }

    #[test]
    fn a_log_without_it_or_cut_short_is_refused() {
        assert_eq!(find(&log(2)), Err(LogError::NoLaunchEvent));
        let log = log(0);
        assert_eq!(find(&log[..log.len() - 150]).map(|_| ()), Err(LogError::Truncated));
        let mut out = [0; TEXT_MAX];
        assert_eq!(ascii_text(&[0x41, 0, 0xE9, 0, 0, 0], &mut out), None);
    }
}
