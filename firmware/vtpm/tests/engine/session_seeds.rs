//! The `sess_*` seeds of the `vtpm_command` fuzz target (an ECDH-salted StartAuthSession with
//! ContextSave; PolicyNV, PolicyAuthorizeNV, PolicyCpHash; PolicySigned and PolicyAuthorize in a
//! trial session) are commands that all succeed, so the fuzzer starts from inputs that reach the
//! salt and policy code rather than early errors.

use crate::common::{exec, started};

#[test]
fn fuzz_seeds_for_sessions_and_policies_succeed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/vtpm_command");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("sess_") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let mut t = started();
        let mut rest = &data[..];
        let mut commands = 0;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[2..6].try_into().unwrap()) as usize;
            let (cmd, tail) = rest.split_at(len);
            let code = u32::from_be_bytes(cmd[6..10].try_into().unwrap());
            assert_eq!(exec(&mut t, cmd).rc, 0, "{path:?}: command {code:#x}");
            commands += 1;
            rest = tail;
        }
        // The fuzz body runs at most 8 commands per input.
        assert!(commands <= 8, "{path:?}");
        seen += 1;
    }
    assert!(seen >= 3);
}
