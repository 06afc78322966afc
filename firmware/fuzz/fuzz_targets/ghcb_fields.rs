//! libFuzzer wrapper for `warden_fuzz::ghcb_exits::ghcb_fields` (the body and its invariants live there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::ghcb_exits::ghcb_fields(data));
