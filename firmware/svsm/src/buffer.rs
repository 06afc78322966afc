//! Guest buffers: the one check every buffer Warden reads or writes for a guest passes, and the only
//! way a protocol handler reaches guest memory (after Hubris' `USlice`: a value only the check builds).
//!
//! A buffer must be ordinary guest RAM, aligned as its protocol says, and none of the pages Warden
//! relies on: no page of [`warden_defs::layout::WARDEN_OWNED`], no registered VMSA, no other vCPU's
//! calling area, not the header of the caller's own (threat model T4). Whether the page is validated
//! is proven by the access itself: [`GuestMemory`] fails on a page that is not.
use crate::error::AddressError;
use crate::guest::{GuestMemory, GuestRam};
use crate::regs::Caller;
use crate::vcpus::Vcpus;

/// A guest buffer that passed [`BufferCheck::check`]; the only ticket to read or write guest memory
/// for a protocol handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestBuffer {
    gpa: u64,
    len: u64,
}

impl GuestBuffer {
    /// Its guest-physical address.
    pub fn gpa(&self) -> u64 {
        self.gpa
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty (never: the check refuses empty buffers).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the first `out.len()` bytes of the buffer (no more than it holds).
    pub(crate) fn read(&self, memory: &dyn GuestMemory, out: &mut [u8]) -> Result<(), AddressError> {
        if out.len() as u64 > self.len {
            return Err(AddressError::NotGuestRam);
        }
        memory.read(self.gpa, out).map_err(|_| AddressError::Inaccessible)
    }

    /// Copies `data` to the buffer at `offset` (inside it).
    pub(crate) fn write(
        &self,
        memory: &mut dyn GuestMemory,
        offset: u64,
        data: &[u8],
    ) -> Result<(), AddressError> {
        match offset.checked_add(data.len() as u64) {
            Some(end) if end <= self.len => {}
            _ => return Err(AddressError::NotGuestRam),
        }
        memory.write(self.gpa + offset, data).map_err(|_| AddressError::Inaccessible)
    }
}

/// What the check needs: the guest's RAM and the vCPU table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufferCheck<'a> {
    pub(crate) ram: &'a GuestRam,
    pub(crate) vcpus: &'a Vcpus,
}

impl BufferCheck<'_> {
    /// The check. `align` is a power of two (1 for none).
    pub(crate) fn check(
        &self,
        gpa: u64,
        len: u64,
        align: u64,
        caller: u32,
    ) -> Result<GuestBuffer, AddressError> {
        if align == 0 || !gpa.is_multiple_of(align) {
            return Err(AddressError::Misaligned);
        }
        self.ram.check(gpa, len)?;
        self.vcpus.buffer_allowed(gpa, len, caller)?;
        Ok(GuestBuffer { gpa, len })
    }
}

/// What a protocol handler gets for one call: who calls, and guest memory through checked buffers.
pub struct CallContext<'a> {
    memory: &'a mut dyn GuestMemory,
    check: BufferCheck<'a>,
    caller: Caller,
}

impl core::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CallContext").field("caller", &self.caller).finish_non_exhaustive()
    }
}

impl<'a> CallContext<'a> {
    pub(crate) fn new(memory: &'a mut dyn GuestMemory, check: BufferCheck<'a>, caller: Caller) -> Self {
        Self { memory, check, caller }
    }

    /// The calling vCPU.
    pub fn caller(&self) -> Caller {
        self.caller
    }

    /// Checks `[gpa, gpa + len)` as a buffer aligned to `align` (a power of two; 1 for none).
    pub fn buffer(&self, gpa: u64, len: u64, align: u64) -> Result<GuestBuffer, AddressError> {
        self.check.check(gpa, len, align, self.caller.apic_id)
    }

    /// Copies the first `out.len()` bytes of `buffer` into private memory.
    pub fn read(&self, buffer: &GuestBuffer, out: &mut [u8]) -> Result<(), AddressError> {
        buffer.read(&*self.memory, out)
    }

    /// Copies `data` into `buffer` at `offset`.
    pub fn write(&mut self, buffer: &GuestBuffer, offset: u64, data: &[u8]) -> Result<(), AddressError> {
        buffer.write(&mut *self.memory, offset, data)
    }
}
