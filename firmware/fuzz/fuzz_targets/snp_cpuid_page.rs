//! libFuzzer wrapper for `warden_fuzz::boot_pages::snp_cpuid_page`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::boot_pages::snp_cpuid_page(data));
