//! TPM2_GetCapability (Part 3 §30.2): algorithms, handles, commands, PCR banks and properties, TPM
//! properties, curves, and the empty lists for the capabilities this engine has nothing for.

use alloc::vec::Vec;

use crate::engine::command::Cmd;
use crate::engine::command_table::{COMMANDS, CommandDef, offered, tpma_cc};
use crate::object::curve;
use crate::state::context_keys::MAX_CONTEXT_BLOB;
use crate::state::key_store::MAX_PERSISTENT;
use crate::state::nv::{MAX_INDEX_SIZE, MAX_INDICES};
use crate::state::pcr::{PCR_COUNT, PCR_SELECT, RULES};
use crate::state::sessions::{MAX_ACTIVE, MAX_LOADED};
use crate::state::transient::MAX_SEQUENCES;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::{MAX_BUFFER, MAX_CAP_BUFFER, MAX_DIGEST, cap};
use crate::wire::handle::{self, Handle};
use crate::wire::marshal::Writer;
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{MAX_COMMAND_SIZE, MAX_RESPONSE_SIZE, Tpm};

/// Room for the list in TPMS_CAPABILITY_DATA: MAX_CAP_BUFFER less the capability and count fields.
const MAX_CAP_DATA: usize = MAX_CAP_BUFFER - 8;

/// Implemented algorithms and their TPMA_ALGORITHM (Part 2 Table 30: symmetric = bit 1, hash = bit 2,
/// signing = bit 8, encrypting = bit 9, method = bit 10); ECDAA signs through TPM2_Commit. AES-CFB serves session parameter encryption;
/// CTR, OFB, CBC, CFB and ECB are the modes of TPM2_EncryptDecrypt (symmetric|encrypting).
/// Key objects (`object`): RSA and ECC (asymmetric|object), KEYEDHASH (hash|object) with the XOR
/// scheme (symmetric|hash), SYMCIPHER
/// (object), the signature schemes (asymmetric|signing), RSAES and OAEP (asymmetric|encrypting),
/// ECDH (asymmetric|method).
const ALGS: [(AlgId, u32); 24] = [
    (AlgId::RSA, 0x0009),
    (AlgId::SHA1, 0x0004),
    (AlgId::HMAC, 0x0104),
    (AlgId::AES, 0x0002),
    (AlgId::KEYEDHASH, 0x000C),
    (AlgId::XOR, 0x0006),
    (AlgId::SHA256, 0x0004),
    (AlgId::SHA384, 0x0004),
    (AlgId::NULL, 0x0000),
    (AlgId::RSASSA, 0x0101),
    (AlgId::RSAES, 0x0201),
    (AlgId::RSAPSS, 0x0101),
    (AlgId::OAEP, 0x0201),
    (AlgId::ECDSA, 0x0101),
    (AlgId::ECDH, 0x0401),
    (AlgId::ECDAA, 0x0101),
    (AlgId::KDF1_SP800_108, 0x0400),
    (AlgId::ECC, 0x0009),
    (AlgId::SYMCIPHER, 0x0008),
    (AlgId::CTR, 0x0202),
    (AlgId::OFB, 0x0202),
    (AlgId::CBC, 0x0202),
    (AlgId::CFB, 0x0202),
    (AlgId::ECB, 0x0202),
];

/// Permanent handles that mean something here.
const PERMANENT: [Handle; 6] = [
    Handle::RH_OWNER,
    Handle::RH_NULL,
    Handle::RS_PW,
    Handle::RH_LOCKOUT,
    Handle::RH_ENDORSEMENT,
    Handle::RH_PLATFORM,
];

/// Four characters as a big-endian u32, the way vendor strings are reported.
const fn chars(s: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*s)
}

/// TPM_PT values, fixed (0x100...) then variable (0x200...), in property order.
fn properties(tpm: &Tpm) -> Vec<(u32, u32)> {
    let commands = offered_commands(tpm).len() as u32;
    let context_max = (8 + 4 + 4 + 2 + MAX_CONTEXT_BLOB) as u32;
    let h = &tpm.hier;
    // tpmGeneratedEPS (Part 2 TPMA_PERMANENT): set when our own DRBG made the EPS, clear when the
    // firmware gave the platform's.
    let generated_eps = tpm.keys.platform_endorsement_seed().is_none();
    let permanent = h.auth_set_bits()
        | u32::from(h.disable_clear) << 8
        | u32::from(tpm.da.in_lockout()) << 9
        | u32::from(generated_eps) << 10;
    let startup_clear = u32::from(h.ph_enable)
        | u32::from(h.sh_enable) << 1
        | u32::from(h.eh_enable) << 2
        | u32::from(h.ph_enable_nv) << 3
        | u32::from(tpm.shutdown.is_some()) << 31;
    let mut p = alloc::vec![
        (0x100, chars(b"2.0\0")), // FAMILY_INDICATOR
        (0x101, 0),               // LEVEL
        (0x102, 159),             // REVISION: Part 1-4 revision 1.59 is what this follows
        (0x103, 312),             // DAY_OF_YEAR of that revision
        (0x104, 2019),            // YEAR
        (0x105, chars(b"WRDN")),  // MANUFACTURER (not a TCG-registered ID)
        (0x106, chars(b"Ward")),  // VENDOR_STRING_1..4: "Warden vTPM"
        (0x107, chars(b"en v")),
        (0x108, chars(b"TPM\0")),
        (0x109, 0),
        (0x10A, 0),                          // VENDOR_TPM_TYPE
        (0x10B, 0x0000_0001),                // FIRMWARE_VERSION_1 (crate 0.1)
        (0x10C, 0),                          // FIRMWARE_VERSION_2
        (0x10D, MAX_BUFFER as u32),          // INPUT_BUFFER
        (0x10E, MAX_SEQUENCES as u32),       // HR_TRANSIENT_MIN
        (0x10F, MAX_PERSISTENT as u32),      // HR_PERSISTENT_MIN
        (0x110, MAX_LOADED as u32),          // HR_LOADED_MIN
        (0x111, MAX_ACTIVE as u32),          // ACTIVE_SESSIONS_MAX
        (0x112, PCR_COUNT as u32),           // PCR_COUNT
        (0x113, PCR_SELECT as u32),          // PCR_SELECT_MIN
        (0x114, 0xFFFF),                     // CONTEXT_GAP_MAX
        (0x116, 0),                          // NV_COUNTERS_MAX: no separate limit
        (0x117, MAX_INDEX_SIZE as u32),      // NV_INDEX_MAX
        (0x118, 0x4),                        // MEMORY: objectCopiedToRam
        (0x119, 1 << 22),                    // CLOCK_UPDATE
        (0x11A, u32::from(AlgId::SHA256.0)), // CONTEXT_HASH
        (0x11B, u32::from(AlgId::AES.0)),    // CONTEXT_SYM
        (0x11C, 256),                        // CONTEXT_SYM_SIZE
        (0x11D, 0),                          // ORDERLY_COUNT
        (0x11E, MAX_COMMAND_SIZE as u32),
        (0x11F, MAX_RESPONSE_SIZE as u32),
        (0x120, MAX_DIGEST as u32),     // MAX_DIGEST
        (0x121, context_max),           // MAX_OBJECT_CONTEXT
        (0x122, context_max),           // MAX_SESSION_CONTEXT
        (0x123, 1),                     // PS_FAMILY_INDICATOR: PC Client
        (0x128, 0),                     // SPLIT_MAX
        (0x129, commands),              // TOTAL_COMMANDS
        (0x12A, commands),              // LIBRARY_COMMANDS
        (0x12B, 0),                     // VENDOR_COMMANDS
        (0x12C, MAX_BUFFER as u32),     // NV_BUFFER_MAX
        (0x12D, 0),                     // MODES
        (0x12E, MAX_CAP_BUFFER as u32), // MAX_CAP_BUFFER
        (0x200, permanent),
        (0x201, startup_clear),
        (0x202, tpm.nv.len() as u32), // HR_NV_INDEX
        (0x203, tpm.sessions.loaded() as u32),
        (0x204, (MAX_LOADED - tpm.sessions.loaded().min(MAX_LOADED)) as u32),
        (0x205, tpm.sessions.active() as u32),
        (0x206, (MAX_ACTIVE - tpm.sessions.active().min(MAX_ACTIVE)) as u32),
        (0x207, (MAX_SEQUENCES - tpm.objects.sequence_count().min(MAX_SEQUENCES)) as u32),
        (0x208, tpm.keys.persistent_handles().len() as u32), // HR_PERSISTENT
        (0x209, (MAX_PERSISTENT - tpm.keys.persistent_handles().len()) as u32), // HR_PERSISTENT_AVAIL
        (0x20A, tpm.nv.counters() as u32),
        (0x20B, (MAX_INDICES - tpm.nv.len().min(MAX_INDICES)) as u32),
        (0x20C, 0),                                // ALGORITHM_SET
        (0x20D, 0),                                // LOADED_CURVES
        (0x20E, tpm.da.failed_tries),              // LOCKOUT_COUNTER
        (0x20F, tpm.da.max_tries),                 // MAX_AUTH_FAIL
        (0x210, tpm.da.recovery_time),             // LOCKOUT_INTERVAL
        (0x211, tpm.da.lockout_recovery),          // LOCKOUT_RECOVERY
        (0x212, 0),                                // NV_WRITE_RECOVERY
        (0x213, (tpm.audit.counter >> 32) as u32), // AUDIT_COUNTER_0
        (0x214, tpm.audit.counter as u32),         // AUDIT_COUNTER_1
    ];
    p.sort_by_key(|&(k, _)| k);
    p
}

/// TPMS_TAGGED_PCR_SELECT entries (Part 2 Table 98): for each TPM_PT_PCR tag, the PCRs it applies to.
fn pcr_properties() -> Vec<(u32, [u8; PCR_SELECT])> {
    let select = |f: &dyn Fn(usize) -> bool| {
        let mut s = [0u8; PCR_SELECT];
        for i in (0..PCR_COUNT).filter(|&i| f(i)) {
            if let Some(b) = s.get_mut(i / 8) {
                *b |= 1 << (i % 8);
            }
        }
        s
    };
    let mut v = alloc::vec![(0x00, select(&|i| RULES[i].state_save))]; // TPM_PT_PCR_SAVE
    for l in 0..5u32 {
        v.push((1 + 2 * l, select(&|i| RULES[i].extend_locality & (1 << l) != 0))); // EXTEND_Ln
        v.push((2 + 2 * l, select(&|i| RULES[i].reset_locality & (1 << l) != 0))); // RESET_Ln
    }
    v.push((0x12, select(&|i| (17..=22).contains(&i)))); // TPM_PT_PCR_DRTM_RESET
    v
}

/// Writes at most `count` items of a list whose items all have `key >= from`; returns moreData.
/// The commands `tpm` offers (`command_table::offered`), in code order.
fn offered_commands(tpm: &Tpm) -> Vec<&'static CommandDef> {
    let platform_eps = tpm.keys.platform_endorsement_seed().is_some();
    COMMANDS.iter().filter(|d| offered(d, platform_eps)).collect()
}

fn list<T: Copy>(
    out: &mut Writer,
    items: &[T],
    key: impl Fn(&T) -> u32,
    from: u32,
    count: u32,
    max: usize,
    put: impl Fn(&mut Writer, &T),
) -> bool {
    let start = items.iter().position(|i| key(i) >= from).unwrap_or(items.len());
    let rest = items.get(start..).unwrap_or_default();
    let n = rest.len().min(count as usize).min(max);
    out.u32(n as u32);
    rest.iter().take(n).for_each(|i| put(out, i));
    rest.len() > n
}

pub(crate) fn get_capability(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let capability = c.params.u32().p(1)?;
    let property = c.params.u32().p(2)?;
    let count = c.params.u32().p(3)?;
    c.params.finish()?;
    let mut w = Writer::new();
    w.u32(capability);
    let more = match capability {
        cap::ALGS => list(
            &mut w,
            &ALGS,
            |a| u32::from(a.0.0),
            property,
            count,
            MAX_CAP_DATA / 6,
            |w, a| {
                w.alg(a.0);
                w.u32(a.1);
            },
        ),
        cap::HANDLES => {
            let mut hs: Vec<Handle> = match Handle(property).ty() {
                handle::HT_PCR => (0..PCR_COUNT as u32).map(Handle).collect(),
                handle::HT_NV_INDEX => tpm.nv.handles().collect(),
                handle::HT_HMAC_SESSION => tpm.sessions.handles(false).collect(),
                handle::HT_POLICY_SESSION => tpm.sessions.handles(true).collect(),
                handle::HT_PERMANENT => PERMANENT.to_vec(),
                handle::HT_TRANSIENT => tpm.objects.handles().collect(),
                handle::HT_PERSISTENT => tpm.keys.persistent_handles(),
                _ => return Err(ResponseCode::VALUE.param(2)),
            };
            // Sessions are listed by slot whatever their type byte (HMAC or policy), as ms-tpm-20-ref
            // does; everything else by handle value.
            let session =
                matches!(Handle(property).ty(), handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION);
            let key = |h: &Handle| if session { h.index() } else { h.0 };
            hs.sort_unstable_by_key(key);
            list(&mut w, &hs, key, key(&Handle(property)), count, MAX_CAP_DATA / 4, |w, &h| w.handle(h))
        }
        cap::COMMANDS => {
            let commands = offered_commands(tpm);
            list(&mut w, &commands, |d| d.code.0, property, count, MAX_CAP_DATA / 4, |w, d| w.u32(tpma_cc(d)))
        }
        cap::ECC_CURVES => list(
            &mut w,
            &curve::IMPLEMENTED,
            |c| u32::from(*c),
            property,
            count,
            MAX_CAP_DATA / 2,
            |w, c| w.u16(*c),
        ),
        cap::AUDIT_COMMANDS => {
            let codes = tpm.audit.codes().to_vec();
            list(&mut w, &codes, |c| c.0, property, count, MAX_CAP_DATA / 4, |w, c| w.u32(c.0))
        }
        cap::PP_COMMANDS | cap::AUTH_POLICIES | cap::ACT => {
            // No physical-presence commands, no policies, no ACTs.
            w.u32(0);
            false
        }
        cap::PCRS => {
            // Every implemented bank with the PCRs allocated in it now (none: an empty bitmap), as
            // ms-tpm-20-ref reports; a PCR_Allocate waiting for Startup(CLEAR) is not shown yet.
            crate::state::pcr::write_selection(&mut w, &tpm.pcrs.allocation());
            false
        }
        cap::TPM_PROPERTIES => {
            let props = properties(tpm);
            list(
                &mut w,
                &props,
                |p| p.0,
                property,
                count,
                MAX_CAP_DATA / 8,
                |w, p| {
                    w.u32(p.0);
                    w.u32(p.1);
                },
            )
        }
        cap::PCR_PROPERTIES => {
            let props = pcr_properties();
            list(
                &mut w,
                &props,
                |p| p.0,
                property,
                count,
                MAX_CAP_DATA / 8,
                |w, p| {
                    w.u32(p.0);
                    w.u8(PCR_SELECT as u8);
                    w.bytes(&p.1);
                },
            )
        }
        _ => return Err(ResponseCode::VALUE.param(1)),
    };
    c.out.u8(u8::from(more));
    c.out.bytes(&w.buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ALGS, PERMANENT, pcr_properties};

    #[test]
    fn lists_are_sorted_for_paging() {
        // `list` pages by "first key >= property", which needs ascending keys.
        assert!(ALGS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(PERMANENT.windows(2).all(|w| w[0] < w[1]));
        assert!(pcr_properties().windows(2).all(|w| w[0].0 < w[1].0));
    }
}
