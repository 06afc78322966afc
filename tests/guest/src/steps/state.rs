//! The vTPM's state across a reboot of Warden, seen from the guest: a marker NV index tells whether
//! this boot found the state an earlier boot left (`state_commands`). Absent: the step makes the three
//! kinds of durable state (the index with its value, a changed ownerAuth, a persistent key) and prints
//! `guest: state: fresh`; present: it checks all three and prints `guest: state: restored`. Either is a
//! pass on SEV-SNP, so the verdict holds without a state file, with one, and after Warden refused one;
//! the machine's tests (`tests/machine/tests/vtpm_state.rs`) tell which one each boot must print. On
//! TDX only `fresh` passes: a TD has no sealing key, so Warden keeps the vTPM's state in memory only
//! and every boot starts a new vTPM.
use warden_test_guest::state_commands::{
    self as sc, MARKER_INDEX, MARKER_VALUE, OWNER_AUTH, PERSISTENT_KEY, is_handle_error,
};

use warden_test_guest::boot_info::Platform;

use super::Run;
use super::vtpm::send;
use crate::println;

const STEP: &str = "vtpm state";

/// The response code of `command`, or `None` (a FAIL line printed) when the call failed.
fn code(run: &mut Run, mut command: sc::Command) -> Option<u32> {
    let (response, len) = send(run, STEP, command.bytes())?;
    let code = sc::response_code(&response[..len]);
    if code.is_none() {
        run.check(STEP, false, format_args!("a malformed TPM response"));
    }
    code
}

/// The whole step.
pub fn run(run: &mut Run) {
    match code(run, sc::nv_read_public(MARKER_INDEX)) {
        None => {}
        Some(0) if run.platform() == Platform::TdxL2 => run.check(
            STEP,
            false,
            format_args!(
                "the marker {MARKER_INDEX:#x} exists on TDX, where the vTPM starts fresh at every boot"
            ),
        ),
        Some(0) => restored(run),
        Some(code) if is_handle_error(code) => fresh(run),
        Some(code) => run.check(STEP, false, format_args!("TPM2_NV_ReadPublic of the marker: {code:#x}")),
    }
}

/// No marker: defines and writes it, makes an HMAC key persistent, then changes ownerAuth.
fn fresh(run: &mut Run) {
    let steps: [(&str, sc::Command); 3] = [
        ("TPM2_NV_DefineSpace", sc::define_marker(b"")),
        ("TPM2_NV_Write", sc::write_marker(b"")),
        ("TPM2_CreatePrimary", sc::create_hmac_primary(b"")),
    ];
    let mut primary = None;
    for (name, mut command) in steps {
        let Some((response, len)) = send(run, STEP, command.bytes()) else { return };
        let response = &response[..len];
        match sc::response_code(response) {
            Some(0) => primary = sc::created_handle(response),
            other => return run.check(STEP, false, format_args!("fresh: {name}: {other:x?}")),
        }
    }
    let Some(primary) = primary else {
        return run.check(STEP, false, format_args!("fresh: TPM2_CreatePrimary returned no handle"));
    };
    let rest: [(&str, sc::Command); 3] = [
        ("TPM2_EvictControl", sc::evict_control(b"", primary)),
        ("TPM2_FlushContext", sc::flush_context(primary)),
        ("TPM2_HierarchyChangeAuth", sc::change_owner_auth(b"", OWNER_AUTH)),
    ];
    for (name, command) in rest {
        match code(run, command) {
            None => return,
            Some(0) => {}
            Some(other) => return run.check(STEP, false, format_args!("fresh: {name}: {other:#x}")),
        }
    }
    run.check(
        STEP,
        true,
        format_args!(
            "fresh: marker {MARKER_INDEX:#x} written, key {PERSISTENT_KEY:#x} persistent, ownerAuth set"
        ),
    );
    println!("guest: state: fresh");
}

/// The marker exists: its value must read back with the changed ownerAuth, and the key be there.
fn restored(run: &mut Run) {
    let Some((response, len)) = send(run, STEP, sc::read_marker(OWNER_AUTH).bytes()) else { return };
    let value_ok = sc::nv_read_data(&response[..len]) == Some(&MARKER_VALUE[..]);
    let Some(key) = code(run, sc::read_public(PERSISTENT_KEY)) else { return };
    let passed = value_ok && key == 0;
    run.check(
        STEP,
        passed,
        format_args!(
            "restored: marker read with the changed ownerAuth: {}; TPM2_ReadPublic of key {PERSISTENT_KEY:#x}: {key:#x}",
            if value_ok { "its value" } else { "NOT its value" },
        ),
    );
    if passed {
        println!("guest: state: restored");
    }
}
