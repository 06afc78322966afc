//! SHA-256 block function on the SHA extensions (SHA256RNDS2/MSG1/MSG2), as a naked function in Intel syntax.
//!
//! Register plan (all caller-saved in the System V ABI, so nothing is spilled):
//! `xmm0` message + round constants (the implicit operand of SHA256RNDS2), `xmm1` = ABEF, `xmm2` = CDGH,
//! `xmm3..xmm6` the sliding 16-word message schedule, `xmm7` scratch, `xmm8` the byte-swap mask,
//! `xmm9`/`xmm10` the state at block entry. The schedule step for words t..t+3 is
//! `msg1(W[t-16..], W[t-12..]) + W[t-7..t-4]` finished by `msg2(.., W[t-4..])`.

use crate::consts::K256;

/// Byte-swap every 32-bit word of an xmm register (SHA-256 words are big-endian).
#[repr(C, align(16))]
struct Aligned16([u8; 16]);
static BSWAP32_MASK: Aligned16 = Aligned16([3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12]);

/// The 64 round constants, 16-byte aligned so `paddd xmm, m128` may take them directly.
#[repr(C, align(16))]
struct K256Table([u32; 64]);
static K256_TABLE: K256Table = K256Table(K256);

/// Compresses `n_blocks` consecutive 64-byte blocks at `blocks` into `state` (a..h, native-endian words).
///
/// # Safety
/// - The CPU supports SHA, SSSE3 (PSHUFB) and SSE4.1 (PBLENDW) and the OS/firmware has enabled SSE
///   (CR4.OSFXSR); [`crate::cpu::sha256_accelerated`] checks this.
/// - `blocks` is valid for reads of `64 * n_blocks` bytes (any alignment).
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn sha256_ni_compress(
    state: &mut [u32; 8],
    blocks: *const u8,
    n_blocks: usize,
) {
    // rdi = state, rsi = blocks, rdx = n_blocks; rax = &K256_TABLE.
    core::arch::naked_asm!(
        // One group of four rounds: xmm0 = W + K, two rounds on the low half, two on the high half.
        ".macro WARDEN_RNDS4 msg, k",
        "movdqa xmm0, \\msg",
        "paddd xmm0, [rax + \\k]",
        "sha256rnds2 xmm2, xmm1, xmm0",
        "pshufd xmm0, xmm0, 0x0E",
        "sha256rnds2 xmm1, xmm2, xmm0",
        ".endm",
        // Next four schedule words into w0 (which held W[t-16..t-13]); w1..w3 hold the later words.
        ".macro WARDEN_SCHED4 w0, w1, w2, w3",
        "sha256msg1 \\w0, \\w1",
        "movdqa xmm7, \\w3",
        "palignr xmm7, \\w2, 4",
        "paddd \\w0, xmm7",
        "sha256msg2 \\w0, \\w3",
        ".endm",
        "test rdx, rdx",
        "jz 3f",
        "lea rax, [rip + {k}]",
        "movdqa xmm8, [rip + {mask}]",
        // state words a..h -> ABEF (xmm1) and CDGH (xmm2), the layout SHA256RNDS2 works on.
        "movdqu xmm1, [rdi]",        // DCBA
        "movdqu xmm2, [rdi + 16]",   // HGFE
        "pshufd xmm1, xmm1, 0xB1",   // CDAB
        "pshufd xmm2, xmm2, 0x1B",   // EFGH
        "movdqa xmm7, xmm1",
        "palignr xmm1, xmm2, 8",     // ABEF
        "pblendw xmm2, xmm7, 0xF0",  // CDGH
        "2:",
        "movdqa xmm9, xmm1",
        "movdqa xmm10, xmm2",
        "movdqu xmm3, [rsi]",
        "pshufb xmm3, xmm8",
        "movdqu xmm4, [rsi + 16]",
        "pshufb xmm4, xmm8",
        "movdqu xmm5, [rsi + 32]",
        "pshufb xmm5, xmm8",
        "movdqu xmm6, [rsi + 48]",
        "pshufb xmm6, xmm8",
        "WARDEN_RNDS4 xmm3, 0",
        "WARDEN_RNDS4 xmm4, 16",
        "WARDEN_RNDS4 xmm5, 32",
        "WARDEN_RNDS4 xmm6, 48",
        "WARDEN_SCHED4 xmm3, xmm4, xmm5, xmm6",
        "WARDEN_RNDS4 xmm3, 64",
        "WARDEN_SCHED4 xmm4, xmm5, xmm6, xmm3",
        "WARDEN_RNDS4 xmm4, 80",
        "WARDEN_SCHED4 xmm5, xmm6, xmm3, xmm4",
        "WARDEN_RNDS4 xmm5, 96",
        "WARDEN_SCHED4 xmm6, xmm3, xmm4, xmm5",
        "WARDEN_RNDS4 xmm6, 112",
        "WARDEN_SCHED4 xmm3, xmm4, xmm5, xmm6",
        "WARDEN_RNDS4 xmm3, 128",
        "WARDEN_SCHED4 xmm4, xmm5, xmm6, xmm3",
        "WARDEN_RNDS4 xmm4, 144",
        "WARDEN_SCHED4 xmm5, xmm6, xmm3, xmm4",
        "WARDEN_RNDS4 xmm5, 160",
        "WARDEN_SCHED4 xmm6, xmm3, xmm4, xmm5",
        "WARDEN_RNDS4 xmm6, 176",
        "WARDEN_SCHED4 xmm3, xmm4, xmm5, xmm6",
        "WARDEN_RNDS4 xmm3, 192",
        "WARDEN_SCHED4 xmm4, xmm5, xmm6, xmm3",
        "WARDEN_RNDS4 xmm4, 208",
        "WARDEN_SCHED4 xmm5, xmm6, xmm3, xmm4",
        "WARDEN_RNDS4 xmm5, 224",
        "WARDEN_SCHED4 xmm6, xmm3, xmm4, xmm5",
        "WARDEN_RNDS4 xmm6, 240",
        "paddd xmm1, xmm9",
        "paddd xmm2, xmm10",
        "add rsi, 64",
        "dec rdx",
        "jnz 2b",
        // ABEF/CDGH back to a..h.
        "pshufd xmm1, xmm1, 0x1B",   // FEBA
        "pshufd xmm2, xmm2, 0xB1",   // DCHG
        "movdqa xmm7, xmm1",
        "pblendw xmm1, xmm2, 0xF0",  // DCBA
        "palignr xmm2, xmm7, 8",     // HGFE
        "movdqu [rdi], xmm1",
        "movdqu [rdi + 16], xmm2",
        "3:",
        "ret",
        ".purgem WARDEN_RNDS4",
        ".purgem WARDEN_SCHED4",
        k = sym K256_TABLE,
        mask = sym BSWAP32_MASK,
    );
}
