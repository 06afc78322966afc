//! What the native launch measurement covers: the one definition both the firmware (which hashes its
//! own loaded image at boot) and `cargo xtask measure` (which predicts the value from the ELF) use.
//!
//! On a platform without a hardware root of trust Warden extends PCR 0 with SHA-384 of the bytes from
//! [`START_SYMBOL`] up to (not including) [`END_SYMBOL`]: its text and read-only data, which the linker
//! script (`linker/warden.ld`) places page aligned and contiguous, and which nothing writes after the
//! load. Data and bss are left out: they change while Warden runs, and their initial contents decide
//! nothing the code does not already say.

/// The linker symbol at the first measured byte (the start of `.text`).
pub const START_SYMBOL: &str = "__text_start";

/// The linker symbol one past the last measured byte (the start of `.data`, the first writable
/// section, which follows rodata).
pub const END_SYMBOL: &str = "__data_start";

/// The measurement's length in bytes: SHA-384.
pub const DIGEST_LEN: usize = 48;
