//! SHA-512 block function: AVX2 message schedule interleaved with BMI2 scalar rounds, as a naked function
//! in Intel syntax.
//!
//! One block at a time. The 16-word schedule window lives in ymm0..ymm3 (four words each, lowest word in
//! lane 0). Each step makes the next four words `W[t..t+4]` from the window: `W[t-16] + W[t-7] +
//! s0(W[t-15])` for all four lanes at once, then `s1` in two halves, because `W[t+2]` and `W[t+3]` need
//! the just-computed `W[t]` and `W[t+1]`. A step costs about 40 vector instructions and is issued next to
//! four scalar rounds, so it runs in the vector units while the integer units do the rounds (the rounds
//! cannot be vectorised: every round depends on the one before). `W + K` for the next four rounds goes
//! through a 32-byte stack slot (two slots, alternating).
//!
//! Rotations in the schedule are shift pairs XORed together (the halves never overlap); the rounds use
//! RORX (BMI2), which leaves its source intact. Stack frame, rsp aligned to 32: `[0, 64)` the two W+K
//! slots, then the saved rsp, the state pointer and the blocks left.

use crate::consts::K512;

/// Byte-swap every 64-bit word of a ymm register (SHA-512 words are big-endian).
#[repr(C, align(32))]
struct Aligned32([u8; 32]);
static BSWAP64_MASK: Aligned32 = Aligned32([
    7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, //
    7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,
]);

/// The 80 round constants, 32-byte aligned so four of them load as one ymm.
#[repr(C, align(32))]
struct K512Table([u64; 80]);
static K512_TABLE: K512Table = K512Table(K512);

/// Compresses `n_blocks` consecutive 128-byte blocks at `blocks` into `state` (a..h, native-endian).
///
/// # Safety
/// - The CPU supports AVX2 and BMI2 and the OS/firmware has enabled SSE and AVX register state
///   (CR4.OSXSAVE, XCR0 bits 1-2); [`crate::cpu::sha512_accelerated`] checks this.
/// - `blocks` is valid for reads of `128 * n_blocks` bytes (any alignment).
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn sha512_avx2_compress(
    state: &mut [u64; 8],
    blocks: *const u8,
    n_blocks: usize,
) {
    core::arch::naked_asm!(
        // s0(x) = ror1 ^ ror8 ^ shr7 and s1(x) = ror19 ^ ror61 ^ shr6, lane-wise; ymm7 is scratch.
        ".macro WARDEN_S0 dst, x",
        "vpsrlq \\dst, \\x, 1",
        "vpsllq ymm7, \\x, 63",
        "vpxor \\dst, \\dst, ymm7",
        "vpsrlq ymm7, \\x, 8",
        "vpxor \\dst, \\dst, ymm7",
        "vpsllq ymm7, \\x, 56",
        "vpxor \\dst, \\dst, ymm7",
        "vpsrlq ymm7, \\x, 7",
        "vpxor \\dst, \\dst, ymm7",
        ".endm",
        // s1 sits on the schedule's critical path (W[t] needs W[t-2]), so its XORs form a tree.
        ".macro WARDEN_S1 dst, x",
        "vpsrlq \\dst, \\x, 19",
        "vpsllq ymm7, \\x, 45",
        "vpsrlq ymm9, \\x, 61",
        "vpsllq ymm10, \\x, 3",
        "vpsrlq ymm11, \\x, 6",
        "vpxor \\dst, \\dst, ymm7",
        "vpxor ymm9, ymm9, ymm10",
        "vpxor \\dst, \\dst, ymm11",
        "vpxor \\dst, \\dst, ymm9",
        ".endm",
        // Window w0 = W[t-16..t-12], w1, w2, w3 = W[t-4..t]; replaces w0 with W[t..t+4].
        ".macro WARDEN_SCHED w0, w1, w2, w3",
        "vperm2i128 ymm4, \\w2, \\w3, 0x21", // w2[2] w2[3] w3[0] w3[1]
        "vpalignr ymm4, ymm4, \\w2, 8", // w2[1] w2[2] w2[3] w3[0] = W[t-7..t-3]
        "vpaddq ymm4, ymm4, \\w0", // + W[t-16..t-12]
        "vperm2i128 ymm5, \\w0, \\w1, 0x21",
        "vpalignr ymm5, ymm5, \\w0, 8", // W[t-15..t-11]
        "WARDEN_S0 ymm6, ymm5",
        "vpaddq ymm4, ymm4, ymm6", // every lane but s1
        // s1 in two halves; VPERM2I128 zeroes the other half, and s1(0) = 0 adds nothing there.
        "vperm2i128 ymm5, \\w3, \\w3, 0x81", // W[t-2] W[t-1] 0 0
        "WARDEN_S1 ymm6, ymm5",
        "vpaddq ymm4, ymm4, ymm6", // lanes 0, 1 = W[t], W[t+1]
        "vperm2i128 ymm5, ymm4, ymm4, 0x08", // 0 0 W[t] W[t+1]
        "WARDEN_S1 ymm6, ymm5",
        "vpaddq \\w0, ymm4, ymm6", // W[t..t+4]
        ".endm",
        // W + K for the next four rounds into the stack slot at `slot`; `k` is the offset from rdi.
        ".macro WARDEN_WK w, k, slot",
        "vpaddq ymm8, \\w, [rdi + \\k]",
        "vmovdqa [rsp + \\slot], ymm8",
        ".endm",
        // One round; the caller rotates the register names. h := T1 + T2, d := d + T1. Maj(a, b, c) is
        // ((a ^ b) & (b ^ c)) ^ b, where b ^ c arrives in `p` (the previous round's a ^ b) and this
        // round's a ^ b leaves in `q`; rounds alternate rbx and rbp for the two.
        ".macro WARDEN_RND a, b, c, d, e, f, g, h, wk, p, q",
        "add \\h, [rsp + \\wk]",
        "mov rdx, \\f",
        "rorx rax, \\e, 41",
        "rorx rcx, \\e, 18",
        "xor rdx, \\g",
        "xor rax, rcx",
        "rorx rcx, \\e, 14",
        "and rdx, \\e",
        "xor rax, rcx", // S1(e)
        "xor rdx, \\g", // Ch(e, f, g)
        "mov \\q, \\a",
        "add \\h, rdx",
        "xor \\q, \\b",
        "add \\h, rax", // T1
        "rorx rax, \\a, 39",
        "rorx rcx, \\a, 34",
        "and \\p, \\q",
        "add \\d, \\h",
        "xor rax, rcx",
        "rorx rcx, \\a, 28",
        "xor \\p, \\b", // Maj(a, b, c)
        "xor rax, rcx", // S0(a)
        "add \\h, \\p",
        "add \\h, rax",
        ".endm",
        // Rounds 8i..8i+4 (W+K in slot 0) and 8i+4..8i+8 (slot 32); eight rounds restore the names.
        ".macro WARDEN_QUAD_A",
        "WARDEN_RND r8, r9, r10, r11, r12, r13, r14, r15, 0, rbx, rbp",
        "WARDEN_RND r15, r8, r9, r10, r11, r12, r13, r14, 8, rbp, rbx",
        "WARDEN_RND r14, r15, r8, r9, r10, r11, r12, r13, 16, rbx, rbp",
        "WARDEN_RND r13, r14, r15, r8, r9, r10, r11, r12, 24, rbp, rbx",
        ".endm",
        ".macro WARDEN_QUAD_B",
        "WARDEN_RND r12, r13, r14, r15, r8, r9, r10, r11, 32, rbx, rbp",
        "WARDEN_RND r11, r12, r13, r14, r15, r8, r9, r10, 40, rbp, rbx",
        "WARDEN_RND r10, r11, r12, r13, r14, r15, r8, r9, 48, rbx, rbp",
        "WARDEN_RND r9, r10, r11, r12, r13, r14, r15, r8, 56, rbp, rbx",
        ".endm",
        "test rdx, rdx",
        "jz 9f",
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rax, rsp",
        "sub rsp, 96",
        "and rsp, -32",
        "mov [rsp + 64], rax",
        "mov [rsp + 72], rdi",
        "mov [rsp + 80], rdx",
        "vmovdqa ymm15, [rip + {mask}]",
        // Block loop; rsi walks the input, rdi walks the round constants.
        "2:",
        "vmovdqu ymm0, [rsi]",
        "vpshufb ymm0, ymm0, ymm15",
        "vmovdqu ymm1, [rsi + 32]",
        "vpshufb ymm1, ymm1, ymm15",
        "vmovdqu ymm2, [rsi + 64]",
        "vpshufb ymm2, ymm2, ymm15",
        "vmovdqu ymm3, [rsi + 96]",
        "vpshufb ymm3, ymm3, ymm15",
        "mov rax, [rsp + 72]",
        "mov r8, [rax]",
        "mov r9, [rax + 8]",
        "mov r10, [rax + 16]",
        "mov r11, [rax + 24]",
        "mov r12, [rax + 32]",
        "mov r13, [rax + 40]",
        "mov r14, [rax + 48]",
        "mov r15, [rax + 56]",
        "mov rbx, r9",
        "xor rbx, r10",
        "lea rdi, [rip + {k}]",
        // Rounds 0..64, sixteen per pass, each group of four next to the schedule step 16 words ahead.
        "3:",
        "WARDEN_WK ymm0, 0, 0",
        "WARDEN_SCHED ymm0, ymm1, ymm2, ymm3",
        "WARDEN_QUAD_A",
        "WARDEN_WK ymm1, 32, 32",
        "WARDEN_SCHED ymm1, ymm2, ymm3, ymm0",
        "WARDEN_QUAD_B",
        "WARDEN_WK ymm2, 64, 0",
        "WARDEN_SCHED ymm2, ymm3, ymm0, ymm1",
        "WARDEN_QUAD_A",
        "WARDEN_WK ymm3, 96, 32",
        "WARDEN_SCHED ymm3, ymm0, ymm1, ymm2",
        "WARDEN_QUAD_B",
        "add rdi, 128",
        "lea rax, [rip + {k} + 512]",
        "cmp rdi, rax",
        "jne 3b",
        // Rounds 64..80: the window already holds the last sixteen words.
        "WARDEN_WK ymm0, 0, 0",
        "WARDEN_QUAD_A",
        "WARDEN_WK ymm1, 32, 32",
        "WARDEN_QUAD_B",
        "WARDEN_WK ymm2, 64, 0",
        "WARDEN_QUAD_A",
        "WARDEN_WK ymm3, 96, 32",
        "WARDEN_QUAD_B",
        "mov rax, [rsp + 72]",
        "add [rax], r8",
        "add [rax + 8], r9",
        "add [rax + 16], r10",
        "add [rax + 24], r11",
        "add [rax + 32], r12",
        "add [rax + 40], r13",
        "add [rax + 48], r14",
        "add [rax + 56], r15",
        "add rsi, 128",
        "dec qword ptr [rsp + 80]",
        "jnz 2b",
        "vzeroupper",
        "mov rsp, [rsp + 64]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "9:",
        "ret",
        ".purgem WARDEN_S0",
        ".purgem WARDEN_S1",
        ".purgem WARDEN_SCHED",
        ".purgem WARDEN_WK",
        ".purgem WARDEN_RND",
        ".purgem WARDEN_QUAD_A",
        ".purgem WARDEN_QUAD_B",
        k = sym K512_TABLE,
        mask = sym BSWAP64_MASK,
    );
}
