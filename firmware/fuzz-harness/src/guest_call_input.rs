//! How `svsm_guest_call` reads its input: a cursor that yields zeros once the bytes run out, and the
//! guest-physical addresses it draws, mostly from the pages that matter (threat model T4).
//!
//! An address is two bytes, `sel` and `param`, plus a page offset when `sel` bit 3 is set:
//! `sel & 7` = 0 a VMSA page, 1 a calling area, 2 a page Warden owns, 3 an ordinary guest page,
//! 4 a few bytes before a tracked page (a buffer straddling into it), 5 an assigned page not yet
//! validated, 6 the small number `param`, 7 eight raw bytes.

/// The input, read front to back.
pub(crate) struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// Whether anything is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, 0 past the end.
    pub(crate) fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes (fewer past the end).
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        b.iter_mut().for_each(|x| *x = self.byte());
        u64::from_le_bytes(b)
    }
}

/// The pages an address is drawn from.
pub(crate) struct Pages<'p> {
    pub(crate) vmsas: &'p [u64],
    pub(crate) caas: &'p [u64],
    pub(crate) warden: &'p [u64],
    pub(crate) ordinary: &'p [u64],
    pub(crate) unvalidated: &'p [u64],
}

fn pick(pages: &[u64], param: u8) -> u64 {
    pages.get(usize::from(param) % pages.len().max(1)).copied().unwrap_or(0)
}

impl Pages<'_> {
    /// One address, as the module documentation describes.
    pub(crate) fn gpa(&self, input: &mut Input<'_>) -> u64 {
        let (sel, param) = (input.byte(), input.byte());
        let offset = if sel & 8 != 0 { u64::from(input.u16() & 0xFFF) } else { 0 };
        let base = match sel & 7 {
            0 => pick(self.vmsas, param),
            1 => pick(self.caas, param),
            2 => pick(self.warden, param),
            3 => pick(self.ordinary, param),
            4 => {
                let all = [self.vmsas, self.caas, self.warden, self.ordinary].concat();
                return pick(&all, param).wrapping_sub(1 + u64::from(input.byte() % 64));
            }
            5 => pick(self.unvalidated, param),
            6 => return u64::from(param),
            _ => return input.u64(),
        };
        base.wrapping_add(offset)
    }
}
