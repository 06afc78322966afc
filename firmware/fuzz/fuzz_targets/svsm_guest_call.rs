//! libFuzzer wrapper for `warden_fuzz::svsm_guest_call::svsm_guest_call`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::svsm_guest_call::svsm_guest_call(data));
