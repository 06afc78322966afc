//! libFuzzer wrapper for `warden_fuzz::svsm::svsm_transport_frame` (the body and its invariants live there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::svsm::svsm_transport_frame(data));
