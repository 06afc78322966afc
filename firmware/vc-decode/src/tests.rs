//! Decoder tests: every accepted encoding with its operands and length, and every refusal.
use super::*;

fn io_of(bytes: &[u8]) -> (IoAccess, u8) {
    match decode(bytes) {
        Ok(VcInstruction { kind: VcKind::Io(access), length }) => (access, length),
        other => panic!("{bytes:02x?} decoded as {other:?}"),
    }
}

#[test]
fn two_byte_instructions_and_their_exit_codes() {
    let cases = [
        ([0x0F, 0xA2], VcKind::Cpuid, ExitCode::CPUID),
        ([0x0F, 0x32], VcKind::Rdmsr, ExitCode::MSR),
        ([0x0F, 0x30], VcKind::Wrmsr, ExitCode::MSR),
    ];
    for (bytes, kind, exit) in cases {
        assert_eq!(decode(&bytes), Ok(VcInstruction { kind, length: 2 }));
        assert_eq!(kind.exit_code(), exit);
    }
    assert_eq!(decode(&[0x0F, 0x01]), Err(DecodeError::TwoByteOpcode(0x01)));
    assert_eq!(decode(&[0x0F, 0x31]), Err(DecodeError::TwoByteOpcode(0x31)), "RDTSC is not handled");
}

#[test]
fn in_and_out_with_a_dx_port() {
    // port.rs's `in al, dx` / `out dx, al` / `out dx, ax`, and the eAX forms.
    let cases = [
        (&[0xEC][..], IoDirection::In, IoWidth::Byte, 1),
        (&[0xED][..], IoDirection::In, IoWidth::Dword, 1),
        (&[0xEE][..], IoDirection::Out, IoWidth::Byte, 1),
        (&[0xEF][..], IoDirection::Out, IoWidth::Dword, 1),
        (&[0x66, 0xED][..], IoDirection::In, IoWidth::Word, 2),
        (&[0x66, 0xEF][..], IoDirection::Out, IoWidth::Word, 2),
    ];
    for (bytes, direction, width, length) in cases {
        assert_eq!(io_of(bytes), (IoAccess { direction, port: Port::Dx, width }, length), "{bytes:02x?}");
        assert_eq!(VcKind::Io(io_of(bytes).0).exit_code(), ExitCode::IOIO);
    }
}

#[test]
fn in_and_out_with_an_immediate_port() {
    let cases = [
        (&[0xE4, 0xF4][..], IoDirection::In, IoWidth::Byte, 0xF4, 2),
        (&[0xE5, 0x70][..], IoDirection::In, IoWidth::Dword, 0x70, 2),
        (&[0xE6, 0x80][..], IoDirection::Out, IoWidth::Byte, 0x80, 2),
        (&[0xE7, 0x01][..], IoDirection::Out, IoWidth::Dword, 0x01, 2),
        (&[0x66, 0xE5, 0x60][..], IoDirection::In, IoWidth::Word, 0x60, 3),
        (&[0x66, 0xE7, 0x61][..], IoDirection::Out, IoWidth::Word, 0x61, 3),
    ];
    for (bytes, direction, width, port, length) in cases {
        let expected = IoAccess { direction, port: Port::Immediate(port), width };
        assert_eq!(io_of(bytes), (expected, length), "{bytes:02x?}");
    }
}

#[test]
fn trailing_bytes_do_not_change_the_instruction() {
    assert_eq!(io_of(&[0xEE, 0xE4, 0x12]).1, 1);
    assert_eq!(decode(&[0x0F, 0xA2, 0x0F, 0x30]).map(|i| i.kind), Ok(VcKind::Cpuid));
}

#[test]
fn truncated_instructions_are_refused() {
    for bytes in [&[][..], &[0x0F], &[0x66], &[0xE4], &[0x66, 0xE5]] {
        assert_eq!(decode(bytes), Err(DecodeError::Truncated), "{bytes:02x?}");
    }
}

#[test]
fn string_io_is_refused() {
    for op in 0x6C..=0x6F {
        assert_eq!(decode(&[op]), Err(DecodeError::StringIo));
    }
    // REP OUTSB: refused at the prefix.
    assert_eq!(decode(&[0xF3, 0x6E]), Err(DecodeError::Prefix(0xF3)));
}

#[test]
fn prefixes_other_than_one_operand_size_override_are_refused() {
    for prefix in [0x26, 0x2E, 0x36, 0x3E, 0x40, 0x48, 0x4F, 0x64, 0x65, 0x67, 0xF0, 0xF2, 0xF3] {
        assert_eq!(decode(&[prefix, 0xEC]), Err(DecodeError::Prefix(prefix)), "{prefix:#x}");
    }
    assert_eq!(decode(&[0x66, 0x66, 0xED]), Err(DecodeError::Prefix(0x66)));
    assert_eq!(decode(&[0x66, 0x0F, 0xA2]), Err(DecodeError::Prefix(0x66)));
    assert_eq!(decode(&[0x66, 0x90]), Err(DecodeError::Prefix(0x66)));
}

#[test]
fn other_opcodes_are_refused() {
    for op in [0x90, 0xCC, 0xC3, 0xE8, 0xED - 0x10] {
        assert_eq!(decode(&[op, 0, 0]), Err(DecodeError::Opcode(op)), "{op:#x}");
    }
}

#[test]
fn the_decoder_reads_at_most_fifteen_bytes() {
    // Whatever follows byte 15 is out of reach: a window of exactly 15 prefix-free bytes decodes the same
    // as the longer buffer, and a buffer shorter than the instruction is refused, not read past.
    let mut long = [0x90u8; 32];
    long[0] = 0xE4;
    long[1] = 0x42;
    assert_eq!(decode(&long), decode(&long[..MAX_INSTRUCTION_LEN]));
    assert_eq!(decode(&long[..1]), Err(DecodeError::Truncated));
}

#[test]
fn in_results_merge_into_rax_by_width() {
    let rax = 0x1122_3344_5566_7788;
    let hostile = 0xFFFF_FFFF_FFFF_FFAB;
    assert_eq!(merge_in(rax, hostile, IoWidth::Byte), 0x1122_3344_5566_77AB);
    assert_eq!(merge_in(rax, hostile, IoWidth::Word), 0x1122_3344_5566_FFAB);
    assert_eq!(merge_in(rax, hostile, IoWidth::Dword), 0x0000_0000_FFFF_FFAB);
    assert_eq!(width_mask(IoWidth::Word), 0xFFFF);
}

#[test]
fn cpuid_answers_that_hide_snp_are_caught() {
    assert!(!cpuid_contradicts_snp(0x8000_0000, 0x8000_0021));
    assert!(!cpuid_contradicts_snp(0x8000_0000, 0x8000_001F));
    assert!(cpuid_contradicts_snp(0x8000_0000, 0x8000_001E));
    assert!(!cpuid_contradicts_snp(0x8000_001F, 0x1_001B));
    assert!(cpuid_contradicts_snp(0x8000_001F, 0x1_0019), "SEV bit clear");
    assert!(cpuid_contradicts_snp(0x8000_001F, 0x1_000B), "SNP bit clear");
    assert!(!cpuid_contradicts_snp(1, 0), "other leaves are not judged");
}
