//! PolicyNV regression (issue 18): a 1-byte operand at offset 0 of a 2-byte index, compared as
//! Part 3 §23.9 says (operandA is the index data at offset, of operandB's size), every TPM_EO on
//! the values tpm2-tools' policynv test uses, with the signed operations on two's complement.

use crate::common::{B, RH_NULL, RH_OWNER, SHA256, pw, rc_p, run, started};
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

const IDX: u32 = 0x0150_0001;

/// PolicyNV(`operation`, operandB = [`operand`], offset 0) in a fresh policy session, authorized
/// with the index's password.
fn policy_nv(t: &mut Tpm, operand: u8, operation: u16) -> u32 {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(1).u16(0x10).u16(SHA256).0;
    let s = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32();
    let p = B::new().tpm2b(&[operand]).u16(0).u16(operation).0;
    let rc = run(t, CommandCode::POLICY_NV, &[IDX, IDX, s], Some(&pw(b"nvpass")), &p).rc;
    run(t, CommandCode::FLUSH_CONTEXT, &[], None, &s.to_be_bytes()).ok();
    rc
}

#[test]
fn one_byte_operands_against_a_two_byte_index() {
    let mut t = started();
    // authread | authwrite, 2 bytes, password "nvpass" (the tool test's index).
    let public = B::new().u32(IDX).u16(SHA256).u32(1 << 2 | 1 << 18).tpm2b(&[]).u16(2).0;
    let p = B::new().tpm2b(b"nvpass").tpm2b(&public).0;
    run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&pw(b"")), &p).ok();
    // Before the index is written: TPM_RC_NV_UNINITIALIZED.
    assert_eq!(policy_nv(&mut t, 0x81, 0), ResponseCode::NV_UNINITIALIZED.0);
    let p = B::new().tpm2b(&[0x81]).u16(0).0;
    run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&pw(b"nvpass")), &p).ok();

    let policy = ResponseCode::POLICY.0;
    // (operandB, TPM_EO, expected) with operandA = 0x81 (129 unsigned, -127 signed).
    let cases: [(u8, u16, u32); 16] = [
        (0x81, 0x0, 0),      // EQ
        (0x80, 0x0, policy), // EQ
        (0x80, 0x1, 0),      // NEQ
        (0x80, 0x2, 0),      // SIGNED_GT: -127 > -128
        (0x82, 0x2, policy), // SIGNED_GT: -127 > -126 does not hold
        (0x80, 0x3, 0),      // UNSIGNED_GT
        (0x82, 0x4, 0),      // SIGNED_LT: -127 < -126
        (0x80, 0x4, policy), // SIGNED_LT
        (0x82, 0x5, 0),      // UNSIGNED_LT
        (0x81, 0x6, 0),      // SIGNED_GE
        (0x80, 0x7, 0),      // UNSIGNED_GE
        (0x81, 0x8, 0),      // SIGNED_LE
        (0x82, 0x9, 0),      // UNSIGNED_LE
        (0x81, 0xA, 0),      // BITSET
        (0x7E, 0xB, 0),      // BITCLEAR
        (0x01, 0xB, policy), // BITCLEAR: bit 0 is set in A
    ];
    for (operand, operation, expected) in cases {
        assert_eq!(policy_nv(&mut t, operand, operation), expected, "0x81 op {operation:#x} {operand:#x}");
    }
    // Past the end of the index: offset 1 is the last byte, offset 2 has no room for one.
    let p = B::new().tpm2b(&[0xFF]).u16(1).u16(0).0;
    let s = {
        let q = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(1).u16(0x10).u16(SHA256).0;
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &q).ok().reader().u32()
    };
    run(&mut t, CommandCode::POLICY_NV, &[IDX, IDX, s], Some(&pw(b"nvpass")), &p).ok();
    let p = B::new().tpm2b(&[0xFF]).u16(2).u16(0).0;
    let rc = run(&mut t, CommandCode::POLICY_NV, &[IDX, IDX, s], Some(&pw(b"nvpass")), &p).rc;
    assert_eq!(rc, rc_p(ResponseCode::SIZE, 1));
}
