//! Guest RAM and the C-bit (placeholder: constants only until the views land).

/// The C-bit position the machine reports (see the crate doc: the highest physical address bit unicorn's
/// MMU honours).
pub const C_BIT: u8 = 39;
/// The emulated MMU's physical address width.
pub const PHYS_ADDR_BITS: u32 = 40;
