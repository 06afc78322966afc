//! GetCapability: the probes Linux and tpm2-tools send, exact command counts, properties, paging.

use crate::common::{B, SHA1, SHA256, SHA384, rc_p, run, started};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::{MAX_COMMAND_SIZE, MAX_RESPONSE_SIZE, Tpm};

fn cap(t: &mut Tpm, capability: u32, property: u32, count: u32) -> (bool, Vec<u8>) {
    let r =
        run(t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(capability).u32(property).u32(count).0)
            .ok()
            .clone();
    let mut rd = r.reader();
    let more = rd.u8();
    assert!(more <= 1);
    assert_eq!(rd.u32(), capability);
    (more == 1, rd.0.to_vec())
}

fn properties(t: &mut Tpm, from: u32, count: u32) -> (bool, Vec<(u32, u32)>) {
    let (more, data) = cap(t, 6, from, count);
    let mut rd = crate::common::R(&data);
    let n = rd.u32();
    let v = (0..n).map(|_| (rd.u32(), rd.u32())).collect();
    rd.done();
    (more, v)
}

fn property(t: &mut Tpm, p: u32) -> u32 {
    let (_, v) = properties(t, p, 1);
    assert_eq!(v[0].0, p);
    v[0].1
}

#[test]
fn kernel_command_table_probe_gets_exact_count_in_one_response() {
    let mut t = started();
    let total = property(&mut t, 0x129);
    assert!(total >= 30);
    assert_eq!(property(&mut t, 0x12A), total);
    let (more, data) = cap(&mut t, 2, 0x11F, total);
    assert!(!more);
    let mut rd = crate::common::R(&data);
    assert_eq!(rd.u32(), total);
    let mut codes = Vec::new();
    for _ in 0..total {
        let a = rd.u32();
        codes.push(a & 0xFFFF);
        // Reserved bits 16-21 and 30-31 clear; cHandles <= 3.
        assert_eq!(a & 0xC03F_0000, 0, "{a:#x}");
        assert!((a >> 25) & 7 <= 3);
    }
    rd.done();
    assert!(codes.windows(2).all(|w| w[0] < w[1]));
    // Every advertised command is actually dispatched (not TPM_RC_COMMAND_CODE).
    for &code in &codes {
        let rc = run(&mut t, CommandCode(code), &[], None, &[]).rc;
        assert_ne!(rc, ResponseCode::COMMAND_CODE.0, "advertised {code:#x} is not implemented");
    }
    // The TPMA_CC of ContextLoad announces a response handle, PCR_Extend one handle.
    let (_, d) = cap(&mut t, 2, CommandCode::CONTEXT_LOAD.0, 1);
    assert_eq!(u32::from_be_bytes(d[4..8].try_into().unwrap()), 0x161 | 1 << 28);
    let (_, d) = cap(&mut t, 2, 0x182, 1);
    assert_eq!(u32::from_be_bytes(d[4..8].try_into().unwrap()), 0x182 | 1 << 25);
}

#[test]
fn pcr_banks_are_sha1_sha256_and_sha384_with_three_byte_selects() {
    let mut t = started();
    let (more, data) = cap(&mut t, 5, 0, 1);
    assert!(!more);
    let expect = B::new()
        .u32(3)
        .u16(SHA1)
        .u8(3)
        .raw(&[0xFF; 3])
        .u16(SHA256)
        .u8(3)
        .raw(&[0xFF; 3])
        .u16(SHA384)
        .u8(3)
        .raw(&[0xFF; 3])
        .0;
    assert_eq!(data, expect);
}

#[test]
fn fixed_properties_describe_warden() {
    let mut t = started();
    assert_eq!(property(&mut t, 0x100), u32::from_be_bytes(*b"2.0\0"));
    let vendor: Vec<u8> = (0x106..=0x109).flat_map(|p| property(&mut t, p).to_be_bytes()).collect();
    assert!(vendor.starts_with(b"Warden"), "{vendor:?}");
    assert_eq!(property(&mut t, 0x11E) as usize, MAX_COMMAND_SIZE);
    assert_eq!(property(&mut t, 0x11F) as usize, MAX_RESPONSE_SIZE);
    assert_eq!(property(&mut t, 0x112), 24);
    assert_eq!(property(&mut t, 0x113), 3);
    assert!(property(&mut t, 0x10E) >= 8);
    assert!(property(&mut t, 0x110) >= 8);
    assert_eq!(property(&mut t, 0x120), 48);
}

#[test]
fn property_paging_reports_more_data() {
    let mut t = started();
    let (more, v) = properties(&mut t, 0x100, 3);
    assert!(more);
    assert_eq!(v.iter().map(|p| p.0).collect::<Vec<_>>(), [0x100, 0x101, 0x102]);
    let (more, all) = properties(&mut t, 0x100, 1000);
    assert!(!more);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(all.len() <= (1024 - 8) / 8);
    // Variable properties start at 0x200 and follow the state: LOCKOUT_COUNTER and HR_LOADED.
    let (_, var) = properties(&mut t, 0x200, 100);
    assert_eq!(var[0].0, 0x200);
    assert_eq!(property(&mut t, 0x203), 0);
}

#[test]
fn algorithms_handles_and_empty_lists() {
    let mut t = started();
    let (_, d) = cap(&mut t, 0, 0, 100);
    let mut rd = crate::common::R(&d);
    let n = rd.u32();
    let algs: Vec<u16> = (0..n).map(|_| (rd.u16(), rd.u32()).0).collect();
    assert!(algs.contains(&SHA256) && algs.contains(&SHA384));
    // Handles: permanent handles include the owner; PCR handles are 0..23.
    let (_, d) = cap(&mut t, 1, 0x4000_0000, 100);
    assert!(d.windows(4).any(|w| w == 0x4000_0001u32.to_be_bytes()));
    let (more, d) = cap(&mut t, 1, 0, 10);
    assert!(more);
    assert_eq!(&d[..4], &10u32.to_be_bytes());
    // No transient objects after Startup; curves P-256 and P-384; only SetCommandCodeAuditStatus is
    // audited (Part 3 §21.4).
    assert_eq!(cap(&mut t, 1, 0x8000_0000, 100).1, 0u32.to_be_bytes());
    assert_eq!(cap(&mut t, 8, 0, 100).1, B::new().u32(2).u16(3).u16(4).0);
    assert_eq!(cap(&mut t, 8, 4, 100).1, B::new().u32(1).u16(4).0);
    assert_eq!(cap(&mut t, 4, 0, 100).1, B::new().u32(1).u32(0x140).0);
    // PCR properties: RESET_L0 selects exactly PCRs 16 and 23.
    let (_, d) = cap(&mut t, 7, 2, 1);
    assert_eq!(d, B::new().u32(1).u32(2).u8(3).raw(&[0, 0, 0x81]).0);
}

#[test]
fn unknown_capability_and_handle_type_are_value_errors() {
    let mut t = started();
    assert_eq!(
        run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(0x77).u32(0).u32(1).0).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
    assert_eq!(
        run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(1).u32(0x7000_0000).u32(1).0).rc,
        rc_p(ResponseCode::VALUE, 2)
    );
    assert_eq!(
        run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(1).u32(0).0).rc,
        rc_p(ResponseCode::INSUFFICIENT, 3)
    );
}

/// TPM_CAP_COMMANDS cannot drift from what the engine runs: every code in the command range that is
/// not listed answers TPM_RC_COMMAND_CODE (the converse, listed codes run, is checked above).
#[test]
fn unlisted_commands_are_not_implemented() {
    let mut t = started();
    let total = property(&mut t, 0x129);
    let (_, data) = cap(&mut t, 2, 0, total);
    let mut rd = crate::common::R(&data);
    let listed: Vec<u32> = (0..rd.u32()).map(|_| rd.u32() & 0xFFFF).collect();
    assert!(listed.contains(&CommandCode::PCR_ALLOCATE.0));
    assert!(listed.contains(&CommandCode::HMAC_START.0));
    assert!(listed.contains(&CommandCode::TEST_PARMS.0));
    for code in (0x11F..=0x1A0).filter(|c| !listed.contains(c)) {
        assert_eq!(
            run(&mut t, CommandCode(code), &[], None, &[]).rc,
            ResponseCode::COMMAND_CODE.0,
            "{code:#x}"
        );
    }
}

/// Whether the engine takes `alg` in any role a client can name it in: as a hash (TPM2_Hash), or in
/// TPM2_TestParms as an object type, a key's scheme (with the fields each scheme family carries),
/// a symmetric algorithm or a block mode.
fn engine_accepts(t: &mut Tpm, alg: u16) -> bool {
    use crate::test_parms::{ecc, rsa};
    use warden_vtpm::AlgId;
    let null = AlgId::NULL.0;
    let hash = run(t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"x").u16(alg).u32(0x4000_0007).0).rc;
    let kh = AlgId::KEYEDHASH.0;
    let sym = AlgId::SYMCIPHER.0;
    let probes = [
        B::new().u16(alg).u16(null).u16(null).u16(2048).u32(0).0, // RSA-shaped type
        B::new().u16(alg).u16(null).u16(null).u16(3).u16(null).0, // ECC-shaped type
        B::new().u16(alg).u16(null).0,                            // keyed-hash-shaped type
        B::new().u16(alg).u16(AlgId::AES.0).u16(128).u16(AlgId::CFB.0).0, // symcipher-shaped type
        rsa(alg, SHA256, 2048, 0),
        B::new().u16(AlgId::RSA.0).u16(null).u16(alg).u16(2048).u32(0).0, // scheme without a hash
        ecc(alg, SHA256, 3),
        B::new().u16(AlgId::ECC.0).u16(null).u16(alg).u16(SHA256).u16(0).u16(3).u16(null).0, // + count
        B::new().u16(kh).u16(alg).u16(SHA256).0,
        B::new().u16(kh).u16(alg).u16(SHA256).u16(AlgId::KDF1_SP800_108.0).0, // XOR: + KDF
        B::new().u16(sym).u16(alg).u16(128).u16(AlgId::CFB.0).0,
        B::new().u16(sym).u16(AlgId::AES.0).u16(128).u16(alg).0,
    ];
    hash == 0 || probes.iter().any(|p| run(t, CommandCode::TEST_PARMS, &[], None, p).rc == 0)
}

/// TPM_CAP_ALGS cannot drift from what the engine accepts: every TPM_ALG_ID up to 0x50 is listed
/// exactly when some command takes it. TPM_ALG_NULL and KDF1_SP800_108 (KDFa, which sessions and
/// context blobs use) have no such role and are listed anyway.
#[test]
fn algorithm_list_is_exactly_what_the_engine_accepts() {
    let mut t = started();
    let (more, data) = cap(&mut t, 0, 0, 100);
    assert!(!more);
    let mut rd = crate::common::R(&data);
    let listed: Vec<u16> = (0..rd.u32())
        .map(|_| {
            let alg = rd.u16();
            rd.u32();
            alg
        })
        .collect();
    rd.done();
    let always = [warden_vtpm::AlgId::NULL.0, warden_vtpm::AlgId::KDF1_SP800_108.0];
    assert!(always.iter().all(|a| listed.contains(a)));
    for alg in (1..=0x50u16).filter(|a| !always.contains(a)) {
        assert_eq!(listed.contains(&alg), engine_accepts(&mut t, alg), "TPM_ALG {alg:#06x}");
    }
    assert!(listed.contains(&SHA1));
}

/// TPM_CAP_ECC_CURVES lists exactly the curves a key may use.
#[test]
fn curve_list_is_exactly_what_keys_may_use() {
    let mut t = started();
    let (_, data) = cap(&mut t, 8, 0, 100);
    let mut rd = crate::common::R(&data);
    let listed: Vec<u16> = (0..rd.u32()).map(|_| rd.u16()).collect();
    rd.done();
    for curve in 0..=0x0040u16 {
        let p = crate::test_parms::ecc(warden_vtpm::AlgId::NULL.0, 0, curve);
        let ok = run(&mut t, CommandCode::TEST_PARMS, &[], None, &p).rc == 0;
        assert_eq!(listed.contains(&curve), ok, "curve {curve:#06x}");
    }
}
