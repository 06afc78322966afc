//! Simulated SEV-SNP and TDX platforms (insecure: test only).
