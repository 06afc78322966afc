//! The command pipeline's error paths: header, tag, size, command code, initialisation, handle area,
//! authorization area and trailing bytes.

use crate::common::{B, NO_SESSIONS, RH_OWNER, command, exec, powered, pw, rc_h, rc_p, rc_s, run, started};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::{MAX_COMMAND_SIZE, Tpm};

#[test]
fn powered_off_tpm_answers_initialize() {
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(1)));
    assert_eq!(
        exec(&mut t, &command(CommandCode::STARTUP, &[], None, &[0, 0])).rc,
        ResponseCode::INITIALIZE.0
    );
}

#[test]
fn commands_before_startup_get_initialize_and_startup_only_once() {
    let mut t = powered();
    assert_eq!(run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0, 8]).rc, ResponseCode::INITIALIZE.0);
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).rc, ResponseCode::INITIALIZE.0);
    // power_on again (a second _TPM_Init) demands Startup again.
    t.power_on();
    t.power_on();
    assert_eq!(run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0, 8]).rc, ResponseCode::INITIALIZE.0);
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0, 8]).ok();
}

#[test]
fn unknown_command_code_is_rejected() {
    let mut t = started();
    assert_eq!(run(&mut t, CommandCode(0x199), &[], None, &[]).rc, ResponseCode::COMMAND_CODE.0); // ECC_Encrypt: not implemented
    assert_eq!(run(&mut t, CommandCode(0xFFFF_FFFF), &[], None, &[]).rc, ResponseCode::COMMAND_CODE.0);
    // Even before Startup, an unknown code is TPM_RC_COMMAND_CODE, checked first.
    assert_eq!(run(&mut powered(), CommandCode(0x999), &[], None, &[]).rc, ResponseCode::COMMAND_CODE.0);
}

/// Threat model T5.
#[test]
fn bad_tag_and_size_are_rejected() {
    let mut t = started();
    let mut c = command(CommandCode::GET_RANDOM, &[], None, &[0, 8]);
    c[1] = 0x03; // tag 0x8003
    assert_eq!(exec(&mut t, &c).rc, ResponseCode::BAD_TAG.0);
    let mut c = command(CommandCode::GET_RANDOM, &[], None, &[0, 8]);
    c[5] += 1; // size field one too big
    assert_eq!(exec(&mut t, &c).rc, ResponseCode::COMMAND_SIZE.0);
    let c = command(CommandCode::GET_RANDOM, &[], None, &[0, 8]);
    assert_eq!(exec(&mut t, &c[..9]).rc, ResponseCode::COMMAND_SIZE.0); // size field 12, 9 bytes
    // Shorter than a header with a consistent size field, or no bytes at all: TPM_RC_INSUFFICIENT.
    assert_eq!(
        exec(&mut t, &B::new().u16(NO_SESSIONS).u32(9).u16(1).u8(0x7B).0).rc,
        ResponseCode::INSUFFICIENT.0
    );
    assert_eq!(exec(&mut t, &[]).rc, ResponseCode::INSUFFICIENT.0);
    assert_eq!(exec(&mut t, &[0x80, 0x01, 0]).rc, ResponseCode::INSUFFICIENT.0);
    let big = vec![0u8; MAX_COMMAND_SIZE + 1];
    let mut c =
        B::new().u16(NO_SESSIONS).u32(big.len() as u32 + 10).u32(CommandCode::GET_RANDOM.0).raw(&big).0;
    assert_eq!(exec(&mut t, &c).rc, ResponseCode::COMMAND_SIZE.0);
    c.truncate(MAX_COMMAND_SIZE);
    assert_eq!(exec(&mut t, &c).rc, ResponseCode::COMMAND_SIZE.0);
}

/// Threat model T5.
#[test]
fn truncated_and_trailing_parameters_are_rejected() {
    let mut t = started();
    // GetRandom with one byte of its u16: TPM_RC_INSUFFICIENT on parameter 1.
    assert_eq!(run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0]).rc, rc_p(ResponseCode::INSUFFICIENT, 1));
    // A byte too many: TPM_RC_SIZE.
    assert_eq!(run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0, 8, 0]).rc, ResponseCode::SIZE.0);
}

#[test]
fn handle_area_and_authorization_area_errors() {
    let mut t = started();
    // Handle area cut short: TPM_RC_INSUFFICIENT on handle 1.
    let c = B::new().u16(NO_SESSIONS).u32(12).u32(CommandCode::HIERARCHY_CHANGE_AUTH.0).u16(0x4000).0;
    assert_eq!(exec(&mut t, &c).rc, rc_h(ResponseCode::INSUFFICIENT, 1));
    // A command that needs authorization sent without sessions.
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], None, &[0, 0]).rc,
        ResponseCode::AUTH_MISSING.0
    );
    // A handle of the wrong kind: TPM_RC_VALUE on handle 1.
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER + 0x100], Some(&pw(b"")), &[0, 0]).rc,
        rc_h(ResponseCode::VALUE, 1)
    );
    // authorizationSize larger than what follows, and smaller than one session: TPM_RC_SIZE.
    let c = B::new()
        .u16(0x8002)
        .u32(10 + 4 + 4)
        .u32(CommandCode::HIERARCHY_CHANGE_AUTH.0)
        .u32(RH_OWNER)
        .u32(50)
        .0;
    assert_eq!(exec(&mut t, &c).rc, ResponseCode::SIZE.0);
    let c = B::new()
        .u16(0x8002)
        .u32(10 + 4 + 4 + 2)
        .u32(CommandCode::HIERARCHY_CHANGE_AUTH.0)
        .u32(RH_OWNER)
        .u32(2)
        .u16(0)
        .0;
    assert_eq!(exec(&mut t, &c).rc, ResponseCode::SIZE.0);
    // Four sessions are one too many: TPM_RC_SIZE on session 4.
    let four: Vec<u8> = (0..4).flat_map(|_| pw(b"")).collect();
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&four), &[0, 0]).rc,
        rc_s(ResponseCode::SIZE, 4)
    );
    // A session cut short inside the area: TPM_RC_INSUFFICIENT on session 1.
    let cut = B::new().u32(0x4000_0009).u16(4).u8(1).u8(1).u8(1).u8(1).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&cut), &[0, 0]).rc,
        rc_s(ResponseCode::INSUFFICIENT, 1)
    );
    // A session handle that is not a session: TPM_RC_VALUE on session 1.
    let bogus = B::new().u32(0x1234_5678).u16(0).u8(1).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&bogus), &[0, 0]).rc,
        rc_s(ResponseCode::VALUE, 1)
    );
    // Sessions on a command that takes none.
    assert_eq!(
        run(&mut t, CommandCode::READ_CLOCK, &[], Some(&pw(b"")), &[]).rc,
        ResponseCode::AUTH_CONTEXT.0
    );
    // An HMAC session handle that was never started: TPM_RC_REFERENCE_S0.
    let gone = B::new().u32(0x0200_0005).u16(0).u8(1).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&gone), &[0, 0]).rc,
        ResponseCode::REFERENCE_S0.0
    );
    // Reserved session attribute bits.
    let reserved = B::new().u32(0x4000_0009).u16(0).u8(0x08).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&reserved), &[0, 0]).rc,
        rc_s(ResponseCode::RESERVED_BITS, 1)
    );
    // A password session with a nonce.
    let nonce = B::new().u32(0x4000_0009).u16(1).u8(0).u8(1).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&nonce), &[0, 0]).rc,
        rc_s(ResponseCode::NONCE, 1)
    );
    // A password session on a command without authorization handles.
    assert_eq!(
        run(&mut t, CommandCode::GET_RANDOM, &[], Some(&pw(b"")), &[0, 8]).rc,
        rc_s(ResponseCode::HANDLE, 1)
    );
    // A password session cannot decrypt, encrypt or audit.
    let dec = B::new().u32(0x4000_0009).u16(0).u8(0x21).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&dec), &[0, 0]).rc,
        rc_s(ResponseCode::ATTRIBUTES, 1)
    );
    let audit = B::new().u32(0x4000_0009).u16(0).u8(0x81).u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&audit), &[0, 0]).rc,
        rc_s(ResponseCode::ATTRIBUTES, 1)
    );
    // With all that rejected, the owner auth is still empty.
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&pw(b"")), &[0, 0]).ok();
}

#[test]
fn sessions_response_carries_parameter_size_and_auth() {
    let mut t = started();
    let r = run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&pw(b"")), &B::new().u32(0).0).ok().clone();
    assert_eq!(r.tag, 0x8002);
    // parameterSize 0, then one TPMS_AUTH_RESPONSE for a password: empty nonce, continueSession, empty hmac.
    assert_eq!(r.body, [0, 0, 0, 0, 0, 0, 1, 0, 0]);
}

/// Threat model T5.
#[test]
fn random_garbage_never_panics_and_is_well_formed() {
    let mut t = started();
    let mut x = 0x1234_5678_9abc_def0u64;
    for i in 0..3000 {
        let mut c = command(CommandCode(0x100 + (i % 0x90) as u32), &[], None, &[]);
        let extra = (i % 40) as usize;
        for _ in 0..extra {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.push(x as u8);
        }
        let n = c.len() as u32;
        c[2..6].copy_from_slice(&n.to_be_bytes());
        if i % 3 == 0 {
            c[1] = 2;
        }
        exec(&mut t, &c); // parse() asserts the header is consistent
    }
}
