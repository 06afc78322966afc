//! SHA-256 as a RustCrypto `digest` 0.10 block core, dispatching to SHA-NI or to `sha2`'s soft code.

use core::fmt;
use core::marker::PhantomData;
use core::slice::from_ref;

use digest::HashMarker;
use digest::Output;
use digest::block_buffer::Eager;
use digest::core_api::{
    AlgorithmName, Block, BlockSizeUser, Buffer, BufferKindUser, FixedOutputCore, OutputSizeUser, Reset,
    UpdateCore,
};
use digest::typenum::{U32, U64};

use crate::backend::Backend;
use crate::consts::H256;

/// Block-level SHA-256; wrap it in [`digest::core_api::CoreWrapper`] (see [`crate::Sha256`]).
#[derive(Clone)]
pub struct Sha256Core<B: Backend> {
    state: [u32; 8],
    /// Whole blocks compressed so far; with the buffer position it gives the message length.
    block_len: u64,
    backend: PhantomData<B>,
}

/// Compresses whole blocks, on SHA-NI when `B` and the CPU allow it.
fn compress<B: Backend>(state: &mut [u32; 8], blocks: &[Block<Sha256Core<B>>]) {
    if !B::FORCE_PORTABLE && crate::cpu::sha256_accelerated() {
        // SAFETY: `sha256_accelerated` checked SHA, SSSE3, SSE4.1 and enabled SSE state. `blocks` is a
        // slice of `[u8; 64]`-sized arrays (`GenericArray<u8, U64>` is a plain array), so it is one
        // contiguous readable region of `64 * blocks.len()` bytes, as the function requires.
        unsafe { crate::ni256::sha256_ni_compress(state, blocks.as_ptr().cast::<u8>(), blocks.len()) }
    } else {
        sha2::compress256(state, blocks);
    }
}

impl<B: Backend> Default for Sha256Core<B> {
    fn default() -> Self {
        Self { state: H256, block_len: 0, backend: PhantomData }
    }
}

impl<B: Backend> HashMarker for Sha256Core<B> {}

impl<B: Backend> BlockSizeUser for Sha256Core<B> {
    type BlockSize = U64;
}

impl<B: Backend> BufferKindUser for Sha256Core<B> {
    type BufferKind = Eager;
}

impl<B: Backend> OutputSizeUser for Sha256Core<B> {
    type OutputSize = U32;
}

impl<B: Backend> UpdateCore for Sha256Core<B> {
    #[inline]
    fn update_blocks(&mut self, blocks: &[Block<Self>]) {
        self.block_len = self.block_len.wrapping_add(blocks.len() as u64);
        compress::<B>(&mut self.state, blocks);
    }
}

impl<B: Backend> FixedOutputCore for Sha256Core<B> {
    fn finalize_fixed_core(&mut self, buffer: &mut Buffer<Self>, out: &mut Output<Self>) {
        // Lengths wrap at 2^64 bits like every SHA-256 implementation; no caller gets near 2^61 bytes.
        let bit_len = self.block_len.wrapping_mul(64).wrapping_add(buffer.get_pos() as u64).wrapping_mul(8);
        buffer.len64_padding_be(bit_len, |block| compress::<B>(&mut self.state, from_ref(block)));
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state.iter()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
}

impl<B: Backend> Reset for Sha256Core<B> {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl<B: Backend> AlgorithmName for Sha256Core<B> {
    fn write_alg_name(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256")
    }
}

impl<B: Backend> fmt::Debug for Sha256Core<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The chaining state is secret-derived (HMAC keys, seeds); never print it.
        f.write_str("Sha256Core { .. }")
    }
}
