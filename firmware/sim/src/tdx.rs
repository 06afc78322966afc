//! The simulated TDX platform (**insecure: test only**): TDG.MEM.PAGE.ACCEPT at 4 KiB / 2 MiB / 1 GiB
//! with the TDX module's outcomes, MapGPA through a VMM that can be told to misbehave, and guest
//! accesses that fault on pages not accepted; its measurement registers and reports are `tdx_report`'s.
use warden_platform::memory::{GpaRange, MapGpaError, MapGpaOutcome, TdxAcceptError, TdxLevel, TdxMemory};

use crate::data::PageData;
use crate::sept::{AcceptResult, PageState, Sept};
use crate::tdx_report::SimTdMeasurements;
use crate::{Fault, PAGE, in_ram};

/// Instructions and exits issued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TdxCounters {
    /// TDG.MEM.PAGE.ACCEPT calls (any level, any outcome).
    pub accepts: u64,
    /// Of which at 1 GiB / 2 MiB / 4 KiB.
    pub accepts_by_level: [u64; 3],
    /// Accepts answered PAGE_ALREADY_ACCEPTED.
    pub already_accepted: u64,
    /// MapGPA TDVMCALLs.
    pub map_gpa: u64,
    /// Bytes zeroed through [`TdxMemory::zero`].
    pub zeroed_bytes: u64,
}

/// How the simulated VMM answers MapGPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapGpaBehavior {
    /// Converts the whole range.
    Honest,
    /// Converts at most `pages` 4 KiB pages per call, then asks to retry from the next one.
    Partial {
        /// Pages per call.
        pages: u64,
    },
    /// Converts nothing and asks to retry from this GPA.
    RetryAt(u64),
}

/// A simulated TD and its VMM.
#[derive(Debug)]
pub struct SimTdx {
    ram: Vec<GpaRange>,
    sept: Sept,
    data: PageData,
    /// The next this many accepts return OPERAND_BUSY (as if another vCPU held the SEPT entry).
    pub busy_next: u32,
    /// How the VMM answers MapGPA.
    pub map_gpa_behavior: MapGpaBehavior,
    /// Everything issued so far.
    pub counters: TdxCounters,
    /// The TDX module's measurement registers (TDG.MR.REPORT, TDG.MR.RTMR.EXTEND; `tdx_report`).
    pub measurements: SimTdMeasurements,
}

impl SimTdx {
    /// A TD with private memory `ram`, all of it pending (not accepted).
    pub fn new(ram: &[GpaRange]) -> Self {
        Self {
            ram: ram.to_vec(),
            sept: Sept::default(),
            data: PageData::default(),
            busy_next: 0,
            map_gpa_behavior: MapGpaBehavior::Honest,
            counters: TdxCounters::default(),
            measurements: SimTdMeasurements::default(),
        }
    }

    /// Build-time state: `range` added with TDH.MEM.PAGE.ADD (accepted at 4 KiB, contents kept).
    pub fn preaccept(&mut self, range: GpaRange) {
        let mut gpa = range.start();
        while gpa < range.end() {
            self.sept.set_page(gpa, PageState::Accepted);
            gpa += PAGE;
        }
    }

    /// The state of the 4 KiB page at `gpa`.
    pub fn page_state(&self, gpa: u64) -> PageState {
        self.sept.state(gpa)
    }

    /// Whether the GiB holding `gpa` is still one mapping (not split into smaller ones).
    pub fn mapped_as_1g(&self, gpa: u64) -> bool {
        self.sept.is_uniform_1g(gpa)
    }

    /// Reads private memory; every page touched must be accepted.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.check(gpa, buf.len() as u64)?;
        self.data.read(gpa, buf);
        Ok(())
    }

    /// Writes private memory; every page touched must be accepted.
    pub fn write(&mut self, gpa: u64, buf: &[u8]) -> Result<(), Fault> {
        self.check(gpa, buf.len() as u64)?;
        self.data.write(gpa, buf);
        Ok(())
    }

    fn check(&self, gpa: u64, len: u64) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        if !in_ram(&self.ram, gpa, len) {
            return Err(Fault::OutOfRange { gpa });
        }
        let mut page = gpa & !(PAGE - 1);
        while page < gpa + len {
            if self.sept.state(page) != PageState::Accepted {
                return Err(Fault::NotAccepted { gpa: page });
            }
            page += PAGE;
        }
        Ok(())
    }
}

// Implementing the trait's `unsafe fn`s; the bodies only update the model (no unsafe operations).
#[allow(unsafe_code)]
impl TdxMemory for SimTdx {
    unsafe fn accept(&mut self, gpa: u64, level: TdxLevel) -> Result<(), TdxAcceptError> {
        self.counters.accepts += 1;
        self.counters.accepts_by_level[match level {
            TdxLevel::Size1G => 0,
            TdxLevel::Size2M => 1,
            TdxLevel::Size4K => 2,
        }] += 1;
        if !gpa.is_multiple_of(level.bytes()) || !in_ram(&self.ram, gpa, level.bytes()) {
            return Err(TdxAcceptError::OperandInvalid);
        }
        if self.busy_next > 0 {
            self.busy_next -= 1;
            return Err(TdxAcceptError::OperandBusy);
        }
        match self.sept.accept(gpa, level) {
            AcceptResult::Accepted => {
                // The TDX module zeroes a page it accepts.
                self.data.clear(gpa, level.bytes());
                Ok(())
            }
            AcceptResult::AlreadyAccepted => {
                self.counters.already_accepted += 1;
                Err(TdxAcceptError::AlreadyAccepted)
            }
            AcceptResult::SizeMismatch => Err(TdxAcceptError::SizeMismatch),
            AcceptResult::Shared => Err(TdxAcceptError::OperandInvalid),
        }
    }

    unsafe fn map_gpa(&mut self, range: GpaRange, shared: bool) -> Result<MapGpaOutcome, MapGpaError> {
        self.counters.map_gpa += 1;
        if !in_ram(&self.ram, range.start(), range.len()) {
            return Err(MapGpaError::InvalidOperand);
        }
        let stop = match self.map_gpa_behavior {
            MapGpaBehavior::Honest => range.end(),
            MapGpaBehavior::Partial { pages } => {
                range.end().min(range.start().saturating_add(pages.saturating_mul(PAGE)))
            }
            MapGpaBehavior::RetryAt(at) => return Ok(MapGpaOutcome::Retry { resume_at: at }),
        };
        let state = if shared { PageState::Shared } else { PageState::Pending };
        let mut gpa = range.start();
        while gpa < stop {
            self.sept.set_page(gpa, state);
            gpa += PAGE;
        }
        self.data.clear(range.start(), stop - range.start());
        if stop < range.end() {
            Ok(MapGpaOutcome::Retry { resume_at: stop })
        } else {
            Ok(MapGpaOutcome::Done)
        }
    }

    unsafe fn zero(&mut self, gpa: u64, len: u64) {
        // Zeroing memory that is not accepted would fault on hardware: a caller bug the tests must see.
        if let Err(fault) = self.check(gpa, len) {
            panic!("insecure sim: zero() of memory that is not accepted: {fault:?}");
        }
        self.counters.zeroed_bytes += len;
        self.data.clear(gpa, len);
    }
}
