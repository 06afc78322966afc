//! libFuzzer wrapper for `warden_fuzz::svsm::pvalidate_request_list` (the body and its invariants live there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::svsm::pvalidate_request_list(data));
