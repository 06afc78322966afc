//! SHA-512 block function with an AVX2 message schedule computed for four blocks at once, as a naked
//! function in Intel syntax.
//!
//! The schedule `W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]` has no dependence between blocks,
//! so a ymm register holds word t of four consecutive blocks (one block per 64-bit lane): the 16 input
//! words are loaded, byte-swapped and transposed 4x4, then 64 vector steps produce all 80 `W[t] + K[t]`
//! for four blocks into a 2560-byte stack table. The rounds stay scalar (the chaining dependency cannot
//! be vectorised) and use BMI2 RORX, one block after the other, reading their lane of the table. With
//! fewer than four blocks left the spare lanes repeat the last block; their results are ignored.
//!
//! Stack frame (rsp aligned to 32): `[0, 2560)` W+K for rounds 0..80 x 4 lanes, `[2560, 3072)` a
//! 16-entry ring of raw W vectors, then the saved rsp, the next block pointer, the blocks left and the
//! lane count of the current group. The frame stays under 4 KiB, so no stack probe is needed.

use crate::consts::K512;

/// Byte-swap every 64-bit word of a ymm register (SHA-512 words are big-endian).
#[repr(C, align(32))]
struct Aligned32([u8; 32]);
static BSWAP64_MASK: Aligned32 = Aligned32([
    7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, //
    7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,
]);

/// The 80 round constants, broadcast into the four lanes by VPBROADCASTQ.
static K512_TABLE: [u64; 80] = K512;

/// Compresses `n_blocks` consecutive 128-byte blocks at `blocks` into `state` (a..h, native-endian).
///
/// # Safety
/// - The CPU supports AVX2 and BMI2 and the OS/firmware has enabled SSE and AVX register state
///   (CR4.OSXSAVE, XCR0 bits 1-2); [`crate::cpu::sha512_accelerated`] checks this.
/// - `blocks` is valid for reads of `128 * n_blocks` bytes (any alignment).
/// - About 3.2 KiB of stack are available.
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn sha512_avx2_compress(
    state: &mut [u64; 8],
    blocks: *const u8,
    n_blocks: usize,
) {
    core::arch::naked_asm!(
        // Load words 4q..4q+3 of the four lane blocks (r8..r11), byte-swap, transpose to one vector per
        // word, store the raw words in the ring and W+K in the table.
        ".macro WARDEN_LOAD512 q",
        "vmovdqu ymm0, [r8 + 32 * \\q]",
        "vpshufb ymm0, ymm0, ymm15",
        "vmovdqu ymm1, [r9 + 32 * \\q]",
        "vpshufb ymm1, ymm1, ymm15",
        "vmovdqu ymm2, [r10 + 32 * \\q]",
        "vpshufb ymm2, ymm2, ymm15",
        "vmovdqu ymm3, [r11 + 32 * \\q]",
        "vpshufb ymm3, ymm3, ymm15",
        "vpunpcklqdq ymm4, ymm0, ymm1", // b0[0] b1[0] b0[2] b1[2]
        "vpunpckhqdq ymm5, ymm0, ymm1", // b0[1] b1[1] b0[3] b1[3]
        "vpunpcklqdq ymm6, ymm2, ymm3", // b2[0] b3[0] b2[2] b3[2]
        "vpunpckhqdq ymm7, ymm2, ymm3", // b2[1] b3[1] b2[3] b3[3]
        "vperm2i128 ymm0, ymm4, ymm6, 0x20", // word 4q of blocks 0..3
        "vperm2i128 ymm1, ymm5, ymm7, 0x20", // word 4q+1
        "vperm2i128 ymm2, ymm4, ymm6, 0x31", // word 4q+2
        "vperm2i128 ymm3, ymm5, ymm7, 0x31", // word 4q+3
        "vmovdqa [rsp + 2560 + 128 * \\q], ymm0",
        "vmovdqa [rsp + 2560 + 128 * \\q + 32], ymm1",
        "vmovdqa [rsp + 2560 + 128 * \\q + 64], ymm2",
        "vmovdqa [rsp + 2560 + 128 * \\q + 96], ymm3",
        "vpbroadcastq ymm4, [rax + 32 * \\q]",
        "vpaddq ymm0, ymm0, ymm4",
        "vmovdqa [rsp + 128 * \\q], ymm0",
        "vpbroadcastq ymm4, [rax + 32 * \\q + 8]",
        "vpaddq ymm1, ymm1, ymm4",
        "vmovdqa [rsp + 128 * \\q + 32], ymm1",
        "vpbroadcastq ymm4, [rax + 32 * \\q + 16]",
        "vpaddq ymm2, ymm2, ymm4",
        "vmovdqa [rsp + 128 * \\q + 64], ymm2",
        "vpbroadcastq ymm4, [rax + 32 * \\q + 24]",
        "vpaddq ymm3, ymm3, ymm4",
        "vmovdqa [rsp + 128 * \\q + 96], ymm3",
        ".endm",
        // One schedule step for four blocks. `wk`/`k`: offsets of W+K[t] from rbp and of K[t] from rax;
        // `s2`, `s7`, `s15`, `s16`: ring offsets of W[t-2], W[t-7], W[t-15], W[t-16] (W[t] replaces the
        // last). Rotations are shift pairs XORed together (the two halves never overlap).
        ".macro WARDEN_SCHED512 wk, k, s2, s7, s15, s16",
        "vmovdqa ymm0, [rsp + 2560 + \\s2]",
        "vpsrlq ymm1, ymm0, 19",
        "vpsllq ymm2, ymm0, 45",
        "vpxor ymm1, ymm1, ymm2",
        "vpsrlq ymm2, ymm0, 61",
        "vpxor ymm1, ymm1, ymm2",
        "vpsllq ymm2, ymm0, 3",
        "vpxor ymm1, ymm1, ymm2",
        "vpsrlq ymm2, ymm0, 6",
        "vpxor ymm1, ymm1, ymm2", // s1(W[t-2]) = ror19 ^ ror61 ^ shr6
        "vmovdqa ymm3, [rsp + 2560 + \\s15]",
        "vpsrlq ymm4, ymm3, 1",
        "vpsllq ymm5, ymm3, 63",
        "vpxor ymm4, ymm4, ymm5",
        "vpsrlq ymm5, ymm3, 8",
        "vpxor ymm4, ymm4, ymm5",
        "vpsllq ymm5, ymm3, 56",
        "vpxor ymm4, ymm4, ymm5",
        "vpsrlq ymm5, ymm3, 7",
        "vpxor ymm4, ymm4, ymm5", // s0(W[t-15]) = ror1 ^ ror8 ^ shr7
        "vpaddq ymm1, ymm1, ymm4",
        "vpaddq ymm1, ymm1, [rsp + 2560 + \\s7]",
        "vpaddq ymm1, ymm1, [rsp + 2560 + \\s16]",
        "vmovdqa [rsp + 2560 + \\s16], ymm1",
        "vpbroadcastq ymm2, [rax + \\k]",
        "vpaddq ymm1, ymm1, ymm2",
        "vmovdqa [rbp + \\wk], ymm1",
        ".endm",
        // One round; the caller rotates the register names. h := T1 + T2, d := d + T1.
        ".macro WARDEN_RND512 a, b, c, d, e, f, g, h, wk",
        "rorx rax, \\e, 41",
        "rorx rcx, \\e, 18",
        "xor rax, rcx",
        "rorx rcx, \\e, 14",
        "xor rax, rcx", // S1(e)
        "mov rdx, \\f",
        "xor rdx, \\g",
        "and rdx, \\e",
        "xor rdx, \\g", // Ch(e, f, g)
        "add \\h, [rbp + \\wk]",
        "add \\h, rax",
        "add \\h, rdx", // T1
        "add \\d, \\h",
        "rorx rax, \\a, 39",
        "rorx rcx, \\a, 34",
        "xor rax, rcx",
        "rorx rcx, \\a, 28",
        "xor rax, rcx", // S0(a)
        "mov rdx, \\a",
        "or rdx, \\c",
        "and rdx, \\b",
        "mov rcx, \\a",
        "and rcx, \\c",
        "or rdx, rcx", // Maj(a, b, c)
        "add \\h, rax",
        "add \\h, rdx",
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
        "sub rsp, 3136",
        "and rsp, -32",
        "mov [rsp + 3072], rax",
        "mov [rsp + 3080], rsi",
        "mov [rsp + 3088], rdx",
        "vmovdqa ymm15, [rip + {mask}]",
        // Group loop: up to four blocks per schedule pass.
        "2:",
        "mov rsi, [rsp + 3080]",
        "mov rbx, [rsp + 3088]",
        "mov r8, rsi",
        "lea r9, [rsi + 128]",
        "cmp rbx, 2",
        "cmovb r9, r8",
        "lea r10, [rsi + 256]",
        "cmp rbx, 3",
        "cmovb r10, r9",
        "lea r11, [rsi + 384]",
        "cmp rbx, 4",
        "cmovb r11, r10",
        "mov ecx, 4",
        "cmp rbx, 4",
        "cmovb rcx, rbx",
        "mov [rsp + 3096], rcx",
        "sub rbx, rcx",
        "mov [rsp + 3088], rbx",
        "shl rcx, 7",
        "add rsi, rcx",
        "mov [rsp + 3080], rsi",
        "lea rax, [rip + {k}]",
        "WARDEN_LOAD512 0",
        "WARDEN_LOAD512 1",
        "WARDEN_LOAD512 2",
        "WARDEN_LOAD512 3",
        // Words 16..80 in four passes of 16, so the ring offsets repeat.
        "lea rbp, [rsp + 512]",
        "add rax, 128",
        "mov ecx, 4",
        "3:",
        "WARDEN_SCHED512 0, 0, 448, 288, 32, 0",
        "WARDEN_SCHED512 32, 8, 480, 320, 64, 32",
        "WARDEN_SCHED512 64, 16, 0, 352, 96, 64",
        "WARDEN_SCHED512 96, 24, 32, 384, 128, 96",
        "WARDEN_SCHED512 128, 32, 64, 416, 160, 128",
        "WARDEN_SCHED512 160, 40, 96, 448, 192, 160",
        "WARDEN_SCHED512 192, 48, 128, 480, 224, 192",
        "WARDEN_SCHED512 224, 56, 160, 0, 256, 224",
        "WARDEN_SCHED512 256, 64, 192, 32, 288, 256",
        "WARDEN_SCHED512 288, 72, 224, 64, 320, 288",
        "WARDEN_SCHED512 320, 80, 256, 96, 352, 320",
        "WARDEN_SCHED512 352, 88, 288, 128, 384, 352",
        "WARDEN_SCHED512 384, 96, 320, 160, 416, 384",
        "WARDEN_SCHED512 416, 104, 352, 192, 448, 416",
        "WARDEN_SCHED512 448, 112, 384, 224, 480, 448",
        "WARDEN_SCHED512 480, 120, 416, 256, 0, 480",
        "add rbp, 512",
        "add rax, 128",
        "dec ecx",
        "jnz 3b",
        // Rounds, one lane (block) at a time: rbx = lane, rbp walks that lane's column of the table.
        "xor ebx, ebx",
        "4:",
        "lea rbp, [rsp + 8 * rbx]",
        "mov r8, [rdi]",
        "mov r9, [rdi + 8]",
        "mov r10, [rdi + 16]",
        "mov r11, [rdi + 24]",
        "mov r12, [rdi + 32]",
        "mov r13, [rdi + 40]",
        "mov r14, [rdi + 48]",
        "mov r15, [rdi + 56]",
        "mov esi, 10",
        "5:",
        "WARDEN_RND512 r8, r9, r10, r11, r12, r13, r14, r15, 0",
        "WARDEN_RND512 r15, r8, r9, r10, r11, r12, r13, r14, 32",
        "WARDEN_RND512 r14, r15, r8, r9, r10, r11, r12, r13, 64",
        "WARDEN_RND512 r13, r14, r15, r8, r9, r10, r11, r12, 96",
        "WARDEN_RND512 r12, r13, r14, r15, r8, r9, r10, r11, 128",
        "WARDEN_RND512 r11, r12, r13, r14, r15, r8, r9, r10, 160",
        "WARDEN_RND512 r10, r11, r12, r13, r14, r15, r8, r9, 192",
        "WARDEN_RND512 r9, r10, r11, r12, r13, r14, r15, r8, 224",
        "add rbp, 256",
        "dec esi",
        "jnz 5b",
        "add [rdi], r8",
        "add [rdi + 8], r9",
        "add [rdi + 16], r10",
        "add [rdi + 24], r11",
        "add [rdi + 32], r12",
        "add [rdi + 40], r13",
        "add [rdi + 48], r14",
        "add [rdi + 56], r15",
        "inc rbx",
        "cmp rbx, [rsp + 3096]",
        "jb 4b",
        "cmp qword ptr [rsp + 3088], 0",
        "jne 2b",
        "vzeroupper",
        "mov rsp, [rsp + 3072]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "9:",
        "ret",
        ".purgem WARDEN_LOAD512",
        ".purgem WARDEN_SCHED512",
        ".purgem WARDEN_RND512",
        k = sym K512_TABLE,
        mask = sym BSWAP64_MASK,
    );
}
