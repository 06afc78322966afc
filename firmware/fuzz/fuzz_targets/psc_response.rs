//! libFuzzer wrapper for `warden_fuzz::psc_response::psc_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::psc_response::psc_response(data));
