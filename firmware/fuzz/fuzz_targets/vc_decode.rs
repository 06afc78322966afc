//! libFuzzer wrapper for `warden_fuzz::vc_decode::vc_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::vc_decode::vc_decode(data));
