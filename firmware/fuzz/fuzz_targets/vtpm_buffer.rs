//! libFuzzer wrapper for `warden_fuzz::vtpm_buffer::vtpm_buffer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::vtpm_buffer::vtpm_buffer(data));
