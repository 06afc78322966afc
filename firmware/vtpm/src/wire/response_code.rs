//! TPM 2.0 response codes (TPM 2.0 Part 2, Table 16 `TPM_RC`) and the helpers that number them.
//!
//! Format-one codes (bit 7 set) may carry the position of the handle, parameter or session that caused
//! them; `Rc::handle`, `Rc::param` and `Rc::session` add that position the way Part 2 §6.6.3 lays it out.

/// A TPM_RC value. Open: any u32 survives a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rc(pub u32);

/// Format-one bit (Part 2 Table 16 `RC_FMT1`).
const FMT1: u32 = 0x080;

/// Parameter-number bit of a format-one code.
const RC_P: u32 = 0x040;

/// Session-number bit of a format-one code.
const RC_S: u32 = 0x800;

impl Rc {
    pub const SUCCESS: Rc = Rc(0x000);
    pub const BAD_TAG: Rc = Rc(0x01E);

    // Format zero, version 1 (RC_VER1 = 0x100).
    pub const INITIALIZE: Rc = Rc(0x100);
    pub const FAILURE: Rc = Rc(0x101);
    pub const SEQUENCE: Rc = Rc(0x103);
    pub const DISABLED: Rc = Rc(0x120);
    pub const AUTH_TYPE: Rc = Rc(0x124);
    pub const AUTH_MISSING: Rc = Rc(0x125);
    pub const POLICY: Rc = Rc(0x126);
    pub const AUTH_UNAVAILABLE: Rc = Rc(0x12F);
    pub const PCR_CHANGED: Rc = Rc(0x128);
    pub const CPHASH: Rc = Rc(0x151);
    pub const COMMAND_SIZE: Rc = Rc(0x142);
    pub const COMMAND_CODE: Rc = Rc(0x143);
    pub const AUTHSIZE: Rc = Rc(0x144);
    pub const AUTH_CONTEXT: Rc = Rc(0x145);
    pub const NV_RANGE: Rc = Rc(0x146);
    pub const NV_SIZE: Rc = Rc(0x147);
    pub const NV_LOCKED: Rc = Rc(0x148);
    pub const NV_AUTHORIZATION: Rc = Rc(0x149);
    pub const NV_UNINITIALIZED: Rc = Rc(0x14A);
    pub const NV_SPACE: Rc = Rc(0x14B);
    pub const NV_DEFINED: Rc = Rc(0x14C);
    pub const BAD_CONTEXT: Rc = Rc(0x150);

    // Format one (RC_FMT1 = 0x080): may carry a handle, parameter or session number.
    pub const ATTRIBUTES: Rc = Rc(FMT1 | 0x002);
    pub const HASH: Rc = Rc(FMT1 | 0x003);
    pub const VALUE: Rc = Rc(FMT1 | 0x004);
    pub const HIERARCHY: Rc = Rc(FMT1 | 0x005);
    pub const MODE: Rc = Rc(FMT1 | 0x009);
    pub const TYPE: Rc = Rc(FMT1 | 0x00A);
    pub const HANDLE: Rc = Rc(FMT1 | 0x00B);
    pub const RANGE: Rc = Rc(FMT1 | 0x00D);
    pub const AUTH_FAIL: Rc = Rc(FMT1 | 0x00E);
    pub const NONCE: Rc = Rc(FMT1 | 0x00F);
    pub const SYMMETRIC: Rc = Rc(FMT1 | 0x016);
    pub const SIZE: Rc = Rc(FMT1 | 0x015);
    pub const TAG: Rc = Rc(FMT1 | 0x017);
    pub const INSUFFICIENT: Rc = Rc(FMT1 | 0x01A);
    pub const KEY: Rc = Rc(FMT1 | 0x01C);
    pub const POLICY_FAIL: Rc = Rc(FMT1 | 0x01D);
    pub const INTEGRITY: Rc = Rc(FMT1 | 0x01F);
    pub const RESERVED_BITS: Rc = Rc(FMT1 | 0x021);
    pub const BAD_AUTH: Rc = Rc(FMT1 | 0x022);
    pub const POLICY_CC: Rc = Rc(FMT1 | 0x024);
    /// An authorization ticket or policy has expired.
    pub const EXPIRED: Rc = Rc(FMT1 | 0x023);

    // Warnings (RC_WARN = 0x900).
    pub const CONTEXT_GAP: Rc = Rc(0x901);
    pub const OBJECT_MEMORY: Rc = Rc(0x902);
    pub const SESSION_MEMORY: Rc = Rc(0x903);
    pub const SESSION_HANDLES: Rc = Rc(0x905);
    pub const OBJECT_HANDLES: Rc = Rc(0x906);
    pub const LOCALITY: Rc = Rc(0x907);
    pub const REFERENCE_H0: Rc = Rc(0x910);
    pub const REFERENCE_S0: Rc = Rc(0x918);
    pub const LOCKOUT: Rc = Rc(0x921);

    /// Whether this is a format-one code, which can carry a position.
    pub const fn is_fmt1(self) -> bool {
        self.0 & FMT1 != 0
    }

    /// Whether a position has already been added (a format-one code whose bits 8-11 are non-zero).
    const fn has_position(self) -> bool {
        self.is_fmt1() && (self.0 & 0xF00 != 0 || self.0 & RC_P != 0)
    }

    /// This code blamed on handle `n` (1-based). Only format-one codes take a position.
    pub const fn handle(self, n: u32) -> Rc {
        if !self.is_fmt1() || self.has_position() || n == 0 || n > 7 {
            return self;
        }
        Rc(self.0 | (n << 8))
    }

    /// This code blamed on parameter `n` (1-based).
    pub const fn param(self, n: u32) -> Rc {
        if !self.is_fmt1() || self.has_position() || n == 0 || n > 15 {
            return self;
        }
        Rc(self.0 | RC_P | (n << 8))
    }

    /// This code blamed on session `n` (1-based).
    pub const fn session(self, n: u32) -> Rc {
        if !self.is_fmt1() || self.has_position() || n == 0 || n > 7 {
            return self;
        }
        Rc(self.0 | RC_S | (n << 8))
    }
}

/// The result of every fallible step: success or the response code to send.
pub type TpmResult<T> = core::result::Result<T, Rc>;

/// Adds a position to the error of a `TpmResult`, so handlers can write `r.u16().p(1)?`.
pub trait At<T> {
    /// Blames parameter `n`.
    fn p(self, n: u32) -> TpmResult<T>;
    /// Blames handle `n`.
    fn h(self, n: u32) -> TpmResult<T>;
}

impl<T> At<T> for TpmResult<T> {
    fn p(self, n: u32) -> TpmResult<T> {
        self.map_err(|e| e.param(n))
    }
    fn h(self, n: u32) -> TpmResult<T> {
        self.map_err(|e| e.handle(n))
    }
}

#[cfg(test)]
mod tests {
    use super::Rc;

    #[test]
    fn positions_follow_part2_layout() {
        // The familiar values clients print: 0x98E is AUTH_FAIL on session 1, 0x1C4 VALUE on parameter 1.
        assert_eq!(Rc::AUTH_FAIL.session(1), Rc(0x98E));
        assert_eq!(Rc::VALUE.param(1), Rc(0x1C4));
        assert_eq!(Rc::HANDLE.handle(1), Rc(0x18B));
        // Format-zero codes and warnings never take a position.
        assert_eq!(Rc::NV_LOCKED.param(2), Rc::NV_LOCKED);
        assert_eq!(Rc::LOCKOUT.session(1), Rc::LOCKOUT);
        // A code that already names a position keeps the first one.
        assert_eq!(Rc::SIZE.param(2).param(3), Rc::SIZE.param(2));
    }
}
