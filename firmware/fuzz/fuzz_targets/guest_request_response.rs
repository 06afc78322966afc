//! libFuzzer wrapper for `warden_fuzz::guest_request::guest_request_response` (the body and its
//! invariants live there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::guest_request::guest_request_response(data));
