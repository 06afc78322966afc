//! TPM_HANDLE (TPM 2.0 Part 2 §7): the handle newtype, the permanent handles and handle ranges this
//! engine uses, and the handle types (TPM_HT, Part 2 Table 27).

/// A TPM_HANDLE. Open: any u32 survives a round trip; the constants name the ones the engine knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Handle(pub u32);

impl Handle {
    pub const RH_OWNER: Handle = Handle(0x4000_0001);
    pub const RH_NULL: Handle = Handle(0x4000_0007);
    pub const RS_PW: Handle = Handle(0x4000_0009);
    pub const RH_LOCKOUT: Handle = Handle(0x4000_000A);
    pub const RH_ENDORSEMENT: Handle = Handle(0x4000_000B);
    pub const RH_PLATFORM: Handle = Handle(0x4000_000C);
    pub const RH_PLATFORM_NV: Handle = Handle(0x4000_000D);

    pub const NV_INDEX_FIRST: Handle = Handle(0x0100_0000);
    pub const HMAC_SESSION_FIRST: Handle = Handle(0x0200_0000);
    pub const POLICY_SESSION_FIRST: Handle = Handle(0x0300_0000);
    pub const TRANSIENT_FIRST: Handle = Handle(0x8000_0000);

    /// The handle type (TPM_HT): the top byte.
    pub const fn ty(self) -> u8 {
        (self.0 >> 24) as u8
    }

    /// The handle `n` places after this one (handles of one type are numbered from its first).
    pub const fn offset(self, n: u32) -> Handle {
        Handle(self.0.wrapping_add(n))
    }

    /// How many places after `first` this handle is, if it is not before it.
    pub const fn index_from(self, first: Handle) -> Option<u32> {
        self.0.checked_sub(first.0)
    }

    /// The low 24 bits: the index within the handle's type.
    pub const fn index(self) -> u32 {
        self.0 & 0xFF_FFFF
    }

    /// The big-endian wire form, which is also the Name of a handle without a public area.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

/// TPM_HT values (Part 2 Table 27).
pub const HT_PCR: u8 = 0x00;
pub const HT_NV_INDEX: u8 = 0x01;
pub const HT_HMAC_SESSION: u8 = 0x02;
pub const HT_POLICY_SESSION: u8 = 0x03;
pub const HT_PERMANENT: u8 = 0x40;
pub const HT_TRANSIENT: u8 = 0x80;
pub const HT_PERSISTENT: u8 = 0x81;
