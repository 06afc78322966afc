//! Fuzz target `vc_decode`: the #VC instruction decoder over arbitrary bytes (threat model T1: on SNP the
//! bytes are Warden's own text, but the decoder must hold for any input, since a decoding bug would turn
//! into a wrong RIP advance or a wrong port).
//!
//! Properties: no panic; an accepted instruction is at most 3 bytes and lies within the input; it
//! decodes the same from exactly its own bytes (the decoder never looked past them); its exit code is
//! the one its kind raises; and the IN merge never touches RAX bits above the access width.
use warden_defs::ghcb::exit::{ExitCode, IoDirection, IoWidth};
use warden_vc_decode::{VcKind, decode, merge_in, width_mask};

/// The target body.
pub fn vc_decode(data: &[u8]) {
    let Ok(instruction) = decode(data) else { return };
    let length = usize::from(instruction.length);
    assert!((1..=3).contains(&length) && length <= data.len(), "length {length} of {data:02x?}");
    assert_eq!(decode(&data[..length]), Ok(instruction), "decoding depends on bytes past the instruction");
    let exit = instruction.kind.exit_code();
    match instruction.kind {
        VcKind::Cpuid => assert_eq!(exit, ExitCode::CPUID),
        VcKind::Rdmsr | VcKind::Wrmsr => assert_eq!(exit, ExitCode::MSR),
        VcKind::Io(access) => {
            assert_eq!(exit, ExitCode::IOIO);
            // The operand-size prefix (the first byte) is the only way to a 16-bit access.
            if access.width == IoWidth::Word {
                assert_eq!(data[0], 0x66);
            }
            if access.direction == IoDirection::In {
                let rax = u64::from_le_bytes(core::array::from_fn(|i| data.get(i).copied().unwrap_or(0)));
                let merged = merge_in(rax, !rax, access.width);
                let mask = width_mask(access.width);
                assert_eq!(merged & mask, !rax & mask);
                if access.width != IoWidth::Dword {
                    assert_eq!(merged & !mask, rax & !mask);
                }
            }
        }
    }
}
