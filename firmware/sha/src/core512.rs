//! SHA-384 and SHA-512 as RustCrypto `digest` 0.10 block cores, dispatching to the AVX2 block function or
//! to `sha2`'s soft code. Both share one block function and differ in IV and output length.

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
use digest::typenum::{U48, U64, U128};

use crate::backend::Backend;
use crate::consts::{H384, H512};

/// The two members of the SHA-512 family we provide. Sealed.
/// The digest length (`OutputSizeUser`) is the leftmost bytes of the final state.
pub trait Variant: sealed::Sealed + OutputSizeUser + Clone + Default + fmt::Debug + 'static {
    /// Initial hash value (FIPS 180-4 5.3.4 / 5.3.5).
    const IV: [u64; 8];
    /// Name for `Debug`.
    const NAME: &'static str;
}

/// SHA-384 parameters.
#[derive(Clone, Copy, Debug, Default)]
pub struct V384;
/// SHA-512 parameters.
#[derive(Clone, Copy, Debug, Default)]
pub struct V512;

impl OutputSizeUser for V384 {
    type OutputSize = U48;
}

impl OutputSizeUser for V512 {
    type OutputSize = U64;
}

impl Variant for V384 {
    const IV: [u64; 8] = H384;
    const NAME: &'static str = "Sha384";
}

impl Variant for V512 {
    const IV: [u64; 8] = H512;
    const NAME: &'static str = "Sha512";
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::V384 {}
    impl Sealed for super::V512 {}
}

/// Block-level SHA-384/512; wrap it in [`digest::core_api::CoreWrapper`] (see [`crate::Sha512`]).
#[derive(Clone)]
pub struct Sha512Core<V: Variant, B: Backend> {
    state: [u64; 8],
    /// Whole blocks compressed so far; with the buffer position it gives the message length.
    block_len: u128,
    marker: PhantomData<(V, B)>,
}

/// Compresses whole blocks, on AVX2 when `B` and the CPU allow it.
fn compress<B: Backend>(state: &mut [u64; 8], blocks: &[Block<Sha512Core<V512, B>>]) {
    if !B::FORCE_PORTABLE && crate::cpu::sha512_accelerated() {
        // SAFETY: `sha512_accelerated` checked AVX2, BMI2 and enabled SSE+AVX state (OSXSAVE, XCR0).
        // `blocks` is a slice of `[u8; 128]`-sized arrays (`GenericArray<u8, U128>` is a plain array), so
        // it is one contiguous readable region of `128 * blocks.len()` bytes, as the function requires.
        unsafe { crate::avx2_512::sha512_avx2_compress(state, blocks.as_ptr().cast::<u8>(), blocks.len()) }
    } else {
        sha2::compress512(state, blocks);
    }
}

impl<V: Variant, B: Backend> Default for Sha512Core<V, B> {
    fn default() -> Self {
        Self { state: V::IV, block_len: 0, marker: PhantomData }
    }
}

impl<V: Variant, B: Backend> HashMarker for Sha512Core<V, B> {}

impl<V: Variant, B: Backend> BlockSizeUser for Sha512Core<V, B> {
    type BlockSize = U128;
}

impl<V: Variant, B: Backend> BufferKindUser for Sha512Core<V, B> {
    type BufferKind = Eager;
}

impl<V: Variant, B: Backend> OutputSizeUser for Sha512Core<V, B> {
    type OutputSize = V::OutputSize;
}

impl<V: Variant, B: Backend> UpdateCore for Sha512Core<V, B> {
    #[inline]
    fn update_blocks(&mut self, blocks: &[Block<Self>]) {
        self.block_len = self.block_len.wrapping_add(blocks.len() as u128);
        compress::<B>(&mut self.state, blocks);
    }
}

impl<V: Variant, B: Backend> FixedOutputCore for Sha512Core<V, B> {
    fn finalize_fixed_core(&mut self, buffer: &mut Buffer<Self>, out: &mut Output<Self>) {
        let bit_len = self.block_len.wrapping_mul(128).wrapping_add(buffer.get_pos() as u128).wrapping_mul(8);
        buffer.len128_padding_be(bit_len, |block| compress::<B>(&mut self.state, from_ref(block)));
        // SHA-384 keeps the leftmost 48 bytes; `zip` stops at the shorter output.
        for (chunk, word) in out.chunks_exact_mut(8).zip(self.state.iter()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
}

impl<V: Variant, B: Backend> Reset for Sha512Core<V, B> {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl<V: Variant, B: Backend> AlgorithmName for Sha512Core<V, B> {
    fn write_alg_name(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(V::NAME)
    }
}

impl<V: Variant, B: Backend> fmt::Debug for Sha512Core<V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The chaining state is secret-derived (HMAC keys, seeds); never print it.
        write!(f, "{}Core {{ .. }}", V::NAME)
    }
}
