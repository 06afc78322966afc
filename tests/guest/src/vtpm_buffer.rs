//! The vTPM protocol's 4 KiB in/out buffer (SVSM spec (AMD 58019), "vTPM Protocol", SVSM_VTPM_CMD;
//! the layout Linux `include/linux/tpm_svsm.h` uses): a TPM_SEND_COMMAND request going in, the
//! response size and the TPM response coming back, in the same page.
use warden_defs::svsm::{VTPM_BUFFER_SIZE, VtpmRequestHeader, VtpmResponseHeader};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, IntoBytes};

/// The platform command that carries a TPM command (SVSM spec, TPM_SEND_COMMAND).
pub const TPM_SEND_COMMAND: u32 = 8;
/// SVSM_VTPM_QUERY's RCX bit for TPM_SEND_COMMAND.
pub const QUERY_SEND_COMMAND_BIT: u64 = 1 << TPM_SEND_COMMAND;

const REQUEST_HEADER: usize = size_of::<VtpmRequestHeader>();

/// Why a buffer cannot be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// The TPM command does not fit after the request header.
    CommandTooLong,
    /// The response size Warden wrote runs past the buffer.
    ResponseTooLong(u32),
}

/// Writes a TPM_SEND_COMMAND request at locality 0 carrying `command`.
pub fn write_request(buffer: &mut [u8; VTPM_BUFFER_SIZE], command: &[u8]) -> Result<(), BufferError> {
    if command.len() > VTPM_BUFFER_SIZE - REQUEST_HEADER {
        return Err(BufferError::CommandTooLong);
    }
    let header = VtpmRequestHeader {
        platform_command: U32::new(TPM_SEND_COMMAND),
        locality: 0,
        size: U32::new(command.len() as u32),
    };
    buffer[..REQUEST_HEADER].copy_from_slice(header.as_bytes());
    buffer[REQUEST_HEADER..REQUEST_HEADER + command.len()].copy_from_slice(command);
    Ok(())
}

/// The TPM response Warden left in the buffer.
pub fn read_response(buffer: &[u8; VTPM_BUFFER_SIZE]) -> Result<&[u8], BufferError> {
    let (header, rest) =
        VtpmResponseHeader::read_from_prefix(buffer).map_err(|_| BufferError::ResponseTooLong(0))?;
    let size = header.size.get();
    rest.get(..size as usize).ok_or(BufferError::ResponseTooLong(size))
}

#[cfg(test)]
mod tests {
    use super::{BufferError, read_response, write_request};

    #[test]
    fn request_is_packed_little_endian() {
        let mut buffer = [0xEEu8; 4096];
        write_request(&mut buffer, &[0x80, 0x01, 0xAA]).unwrap();
        assert_eq!(&buffer[..12], &[8, 0, 0, 0, 0, 3, 0, 0, 0, 0x80, 0x01, 0xAA]);
        assert_eq!(buffer[12], 0xEE);
        assert_eq!(write_request(&mut buffer, &[0; 4088]), Err(BufferError::CommandTooLong));
        assert!(write_request(&mut buffer, &[0; 4087]).is_ok());
    }

    #[test]
    fn response_size_is_bounded_by_the_page() {
        let mut buffer = [0u8; 4096];
        buffer[..4].copy_from_slice(&3u32.to_le_bytes());
        buffer[4..7].copy_from_slice(&[1, 2, 3]);
        assert_eq!(read_response(&buffer), Ok(&[1u8, 2, 3][..]));
        buffer[..4].copy_from_slice(&4093u32.to_le_bytes());
        assert_eq!(read_response(&buffer), Err(BufferError::ResponseTooLong(4093)));
        buffer[..4].copy_from_slice(&4092u32.to_le_bytes());
        assert_eq!(read_response(&buffer).map(<[u8]>::len), Ok(4092));
    }
}
