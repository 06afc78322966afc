//! TPM 2.0 response codes (TPM 2.0 Part 2, Table 16 `TPM_RC`) and the helpers that number them.
//!
//! Format-one codes (bit 7 set) may carry the position of the handle, parameter or session that caused
//! them; `ResponseCode::handle`, `ResponseCode::param` and `ResponseCode::session` add that position the way Part 2 §6.6.3 lays it out.

/// A TPM_RC value. Open: any u32 survives a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCode(pub u32);

/// Format-one bit (Part 2 Table 16 `RC_FMT1`).
const FMT1: u32 = 0x080;

/// Parameter-number bit of a format-one code.
const RC_P: u32 = 0x040;

/// Session-number bit of a format-one code.
const RC_S: u32 = 0x800;

impl ResponseCode {
    pub const SUCCESS: ResponseCode = ResponseCode(0x000);
    pub const BAD_TAG: ResponseCode = ResponseCode(0x01E);

    // Format zero, version 1 (RC_VER1 = 0x100).
    pub const INITIALIZE: ResponseCode = ResponseCode(0x100);
    pub const FAILURE: ResponseCode = ResponseCode(0x101);
    pub const SEQUENCE: ResponseCode = ResponseCode(0x103);
    pub const DISABLED: ResponseCode = ResponseCode(0x120);
    pub const EXCLUSIVE: ResponseCode = ResponseCode(0x121);
    pub const AUTH_TYPE: ResponseCode = ResponseCode(0x124);
    pub const AUTH_MISSING: ResponseCode = ResponseCode(0x125);
    pub const POLICY: ResponseCode = ResponseCode(0x126);
    pub const AUTH_UNAVAILABLE: ResponseCode = ResponseCode(0x12F);
    pub const PCR: ResponseCode = ResponseCode(0x127);
    pub const PCR_CHANGED: ResponseCode = ResponseCode(0x128);
    pub const CPHASH: ResponseCode = ResponseCode(0x151);
    pub const NO_RESULT: ResponseCode = ResponseCode(0x154);
    pub const COMMAND_SIZE: ResponseCode = ResponseCode(0x142);
    pub const COMMAND_CODE: ResponseCode = ResponseCode(0x143);
    pub const AUTHSIZE: ResponseCode = ResponseCode(0x144);
    pub const AUTH_CONTEXT: ResponseCode = ResponseCode(0x145);
    pub const NV_RANGE: ResponseCode = ResponseCode(0x146);
    pub const NV_SIZE: ResponseCode = ResponseCode(0x147);
    pub const NV_LOCKED: ResponseCode = ResponseCode(0x148);
    pub const NV_AUTHORIZATION: ResponseCode = ResponseCode(0x149);
    pub const NV_UNINITIALIZED: ResponseCode = ResponseCode(0x14A);
    pub const NV_SPACE: ResponseCode = ResponseCode(0x14B);
    pub const NV_DEFINED: ResponseCode = ResponseCode(0x14C);
    pub const BAD_CONTEXT: ResponseCode = ResponseCode(0x150);
    /// The sensitive area did not unmarshal.
    pub const SENSITIVE: ResponseCode = ResponseCode(0x155);

    // Format one (RC_FMT1 = 0x080): may carry a handle, parameter or session number.
    pub const ATTRIBUTES: ResponseCode = ResponseCode(FMT1 | 0x002);
    pub const HASH: ResponseCode = ResponseCode(FMT1 | 0x003);
    pub const VALUE: ResponseCode = ResponseCode(FMT1 | 0x004);
    pub const HIERARCHY: ResponseCode = ResponseCode(FMT1 | 0x005);
    pub const MODE: ResponseCode = ResponseCode(FMT1 | 0x009);
    pub const TYPE: ResponseCode = ResponseCode(FMT1 | 0x00A);
    pub const HANDLE: ResponseCode = ResponseCode(FMT1 | 0x00B);
    pub const RANGE: ResponseCode = ResponseCode(FMT1 | 0x00D);
    pub const AUTH_FAIL: ResponseCode = ResponseCode(FMT1 | 0x00E);
    pub const NONCE: ResponseCode = ResponseCode(FMT1 | 0x00F);
    pub const SYMMETRIC: ResponseCode = ResponseCode(FMT1 | 0x016);
    pub const SIZE: ResponseCode = ResponseCode(FMT1 | 0x015);
    pub const TAG: ResponseCode = ResponseCode(FMT1 | 0x017);
    pub const INSUFFICIENT: ResponseCode = ResponseCode(FMT1 | 0x01A);
    pub const KEY: ResponseCode = ResponseCode(FMT1 | 0x01C);
    pub const POLICY_FAIL: ResponseCode = ResponseCode(FMT1 | 0x01D);
    pub const INTEGRITY: ResponseCode = ResponseCode(FMT1 | 0x01F);
    pub const RESERVED_BITS: ResponseCode = ResponseCode(FMT1 | 0x021);
    pub const BAD_AUTH: ResponseCode = ResponseCode(FMT1 | 0x022);
    pub const POLICY_CC: ResponseCode = ResponseCode(FMT1 | 0x024);
    /// An authorization ticket or policy has expired.
    pub const EXPIRED: ResponseCode = ResponseCode(FMT1 | 0x023);
    pub const KEY_SIZE: ResponseCode = ResponseCode(FMT1 | 0x007);
    pub const KDF: ResponseCode = ResponseCode(FMT1 | 0x00C);
    pub const SCHEME: ResponseCode = ResponseCode(FMT1 | 0x012);
    pub const SIGNATURE: ResponseCode = ResponseCode(FMT1 | 0x01B);
    pub const TICKET: ResponseCode = ResponseCode(FMT1 | 0x020);
    /// The public and sensitive areas do not belong together.
    pub const BINDING: ResponseCode = ResponseCode(FMT1 | 0x025);
    pub const CURVE: ResponseCode = ResponseCode(FMT1 | 0x026);
    pub const ECC_POINT: ResponseCode = ResponseCode(FMT1 | 0x027);

    // Warnings (RC_WARN = 0x900).
    pub const CONTEXT_GAP: ResponseCode = ResponseCode(0x901);
    pub const OBJECT_MEMORY: ResponseCode = ResponseCode(0x902);
    pub const SESSION_MEMORY: ResponseCode = ResponseCode(0x903);
    pub const SESSION_HANDLES: ResponseCode = ResponseCode(0x905);
    pub const OBJECT_HANDLES: ResponseCode = ResponseCode(0x906);
    pub const LOCALITY: ResponseCode = ResponseCode(0x907);
    pub const REFERENCE_H0: ResponseCode = ResponseCode(0x910);
    pub const REFERENCE_S0: ResponseCode = ResponseCode(0x918);
    pub const LOCKOUT: ResponseCode = ResponseCode(0x921);

    /// Whether this is a format-one code, which can carry a position.
    pub const fn is_fmt1(self) -> bool {
        self.0 & FMT1 != 0
    }

    /// Whether a position has already been added (a format-one code whose bits 8-11 are non-zero).
    const fn has_position(self) -> bool {
        self.is_fmt1() && (self.0 & 0xF00 != 0 || self.0 & RC_P != 0)
    }

    /// This code blamed on handle `n` (1-based). Only format-one codes take a position.
    pub const fn handle(self, n: u32) -> ResponseCode {
        if !self.is_fmt1() || self.has_position() || n == 0 || n > 7 {
            return self;
        }
        ResponseCode(self.0 | (n << 8))
    }

    /// This code blamed on parameter `n` (1-based).
    pub const fn param(self, n: u32) -> ResponseCode {
        if !self.is_fmt1() || self.has_position() || n == 0 || n > 15 {
            return self;
        }
        ResponseCode(self.0 | RC_P | (n << 8))
    }

    /// This code blamed on session `n` (1-based).
    pub const fn session(self, n: u32) -> ResponseCode {
        if !self.is_fmt1() || self.has_position() || n == 0 || n > 7 {
            return self;
        }
        ResponseCode(self.0 | RC_S | (n << 8))
    }
}

/// The result of every fallible step: success or the response code to send.
pub type TpmResult<T> = core::result::Result<T, ResponseCode>;

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
    use super::ResponseCode;

    #[test]
    fn positions_follow_part2_layout() {
        // The familiar values clients print: 0x98E is AUTH_FAIL on session 1, 0x1C4 VALUE on parameter 1.
        assert_eq!(ResponseCode::AUTH_FAIL.session(1), ResponseCode(0x98E));
        assert_eq!(ResponseCode::VALUE.param(1), ResponseCode(0x1C4));
        assert_eq!(ResponseCode::HANDLE.handle(1), ResponseCode(0x18B));
        // Format-zero codes and warnings never take a position.
        assert_eq!(ResponseCode::NV_LOCKED.param(2), ResponseCode::NV_LOCKED);
        assert_eq!(ResponseCode::LOCKOUT.session(1), ResponseCode::LOCKOUT);
        // A code that already names a position keeps the first one.
        assert_eq!(ResponseCode::SIZE.param(2).param(3), ResponseCode::SIZE.param(2));
    }
}
