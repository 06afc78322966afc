//! libFuzzer wrapper for `warden_fuzz::vtpm_state::vtpm_state` (the body and its invariants live there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::vtpm_state::vtpm_state(data));
