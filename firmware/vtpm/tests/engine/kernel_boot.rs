//! The command sequence Linux's TPM driver and IMA send at boot (reference notes §2.1-2.2), with the
//! checks the kernel makes on each answer.

use crate::common::{B, SHA256, SHA384, exec, powered, pw, run};
use sha2::{Digest, Sha256, Sha384};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;

#[test]
fn linux_probe_startup_command_table_banks_random_and_ima() {
    let mut t = powered();
    // tpm2_probe: GetCapability(TPM_PROPERTIES, TOTAL_COMMANDS, 1); only the tag matters, and before
    // Startup the answer is TPM_RC_INITIALIZE in a TPM_ST_NO_SESSIONS response.
    let probe = B::new().u32(6).u32(0x129).u32(1).0;
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &probe);
    assert_eq!((r.tag, r.rc), (crate::common::NO_SESSIONS, ResponseCode::INITIALIZE.0));
    // tpm2_auto_startup: SelfTest gets INITIALIZE, so Startup(CLEAR), then SelfTest again.
    assert_eq!(run(&mut t, CommandCode::SELF_TEST, &[], None, &[0]).rc, ResponseCode::INITIALIZE.0);
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    run(&mut t, CommandCode::SELF_TEST, &[], None, &[0]).ok();

    // tpm2_get_cc_attrs_tbl: the count, then exactly that many TPMA_CC in one response.
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &probe).ok().clone();
    let n = u32::from_be_bytes(r.body[13..17].try_into().unwrap());
    assert!(n > 0);
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(2).u32(0x11F).u32(n).0)
        .ok()
        .clone();
    assert_eq!(u32::from_be_bytes(r.body[5..9].try_into().unwrap()), n);
    assert_eq!(r.body.len(), 9 + 4 * n as usize);

    // tpm2_get_pcr_allocation: every bank with a 3-byte select, all 24 PCRs on.
    let r =
        run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(5).u32(0).u32(1).0).ok().clone();
    let mut rd = r.reader();
    rd.u8();
    rd.u32();
    let banks = rd.u32();
    let mut algs = Vec::new();
    for _ in 0..banks {
        algs.push(rd.u16());
        assert_eq!(rd.u8(), 3);
        assert_eq!(rd.bytes(3), [0xFF; 3]);
    }
    assert_eq!(algs, [crate::common::SHA1, SHA256, SHA384]);

    // hwrng: GetRandom(128) returns at most what was asked.
    let r = run(&mut t, CommandCode::GET_RANDOM, &[], None, &128u16.to_be_bytes()).ok().clone();
    let got = r.reader().tpm2b().len();
    assert!(got > 0 && got <= 128);

    // IMA boot_aggregate: PCR_Read of PCRs 0-9 in the SHA-256 bank, one PCR at a time.
    for pcr in 0..10usize {
        let mut sel = [0u8; 3];
        sel[pcr / 8] = 1 << (pcr % 8);
        let r = run(&mut t, CommandCode::PCR_READ, &[], None, &B::new().u32(1).u16(SHA256).u8(3).raw(&sel).0)
            .ok()
            .clone();
        let mut rd = r.reader();
        rd.u32();
        assert_eq!(rd.u32(), 1);
        assert_eq!((rd.u16(), rd.u8(), rd.bytes(3)), (SHA256, 3, &sel[..]));
        assert_eq!(rd.u32(), 1);
        assert_eq!(rd.tpm2b(), [0u8; 32]);
    }

    // An IMA measurement: PCR_Extend(10) with one digest per bank, empty password session.
    let (d256, d384) = (Sha256::digest(b"file"), Sha384::digest(b"file"));
    let p = B::new().u32(2).u16(SHA256).raw(&d256).u16(SHA384).raw(&d384).0;
    let r = run(&mut t, CommandCode::PCR_EXTEND, &[10], Some(&pw(b"")), &p).ok().clone();
    assert_eq!(r.tag, 0x8002);
    let sel = B::new().u32(2).u16(SHA256).u8(3).raw(&[0, 4, 0]).u16(SHA384).u8(3).raw(&[0, 4, 0]).0;
    let r = run(&mut t, CommandCode::PCR_READ, &[], None, &sel).ok().clone();
    let tail = [
        &32u16.to_be_bytes()[..],
        &Sha256::new().chain_update([0u8; 32]).chain_update(d256).finalize(),
        &48u16.to_be_bytes(),
        &Sha384::new().chain_update([0u8; 48]).chain_update(d384).finalize(),
    ]
    .concat();
    assert!(r.body.ends_with(&tail));

    // Shutdown(CLEAR) when the driver unregisters.
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 0]).ok();
    let _ = exec;
}
