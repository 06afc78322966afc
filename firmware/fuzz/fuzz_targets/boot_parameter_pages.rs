//! libFuzzer wrapper for `warden_fuzz::boot_pages::boot_parameter_pages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::boot_pages::boot_parameter_pages(data));
