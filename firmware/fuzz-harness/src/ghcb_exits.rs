//! Fuzz target `ghcb_fields`: the GHCB exits Warden performs (`warden_platform::ghcb_exits`), with the
//! hypervisor's answers as the fuzzed input (threat model T1).
//!
//! Input: byte 0 picks the exit (IN, OUT, CPUID, RDMSR, WRMSR, page-state change; or the MSR-protocol
//! responses of registration, where the rest is those words), bytes 1-8 are its
//! request parameter (port, width and data; leaf and sub-leaf; MSR; or how many 4 KiB pages the
//! acceptance engine makes private, 1-1024 from an address that is not 2 MiB-aligned, so 4 KiB and
//! 2 MiB entries and several batches occur). Then one [`REPLY_LEN`]-byte record per exchange (missing
//! bytes read as zero): a valid-bitmap byte (bits 0-5: SW_EXITINFO1, SW_EXITINFO2, RAX, RBX, RCX, RDX),
//! those six words, and the PSC header the hypervisor leaves in the shared buffer. The hypervisor
//! writes them over the request page Warden wrote, replacing its valid bitmap.
//!
//! Invariants: no panic; every exchange reads the shared page exactly once; a hypervisor that rewrites
//! the page after that read changes no outcome; an `Ok` is consistent with the request and the reply
//! (status 0 and outputs valid, IN data within the width, a PSC run validated exactly the range it was
//! given, never more exchanges than entries, and every request Warden sent in bounds).
use warden_accept::AcceptError;
use warden_accept::snp::SnpAcceptor;
use warden_defs::ghcb::exit::IoWidth;
use warden_defs::ghcb::{Field, Ghcb, msr};
use warden_defs::psc::{PSC_MAX_ENTRIES, PscDescriptor, PscHeader};
use warden_platform::ghcb_exits::{self, CpuidResult, ExitError, GhcbTransport, Misbehaviour, PscExitError};
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use zerocopy::IntoBytes;

/// Bytes of one reply record: the valid-bitmap byte, six words, the PSC header.
pub const REPLY_LEN: usize = 1 + 6 * 8 + 8;
/// Where the fuzzed PSC range starts: 64 KiB below a 2 MiB boundary.
const PSC_BASE: u64 = 0x1FF_0000;
/// The fields of the valid-bitmap byte, bit 0 first, in the order of the record's words.
const REPLY_FIELDS: [Field; 6] =
    [Field::SwExitInfo1, Field::SwExitInfo2, Field::Rax, Field::Rbx, Field::Rcx, Field::Rdx];
const SHARED_BUFFER_GPA: u64 = 0x8000_0800;

/// One hypervisor reply, decoded from the fuzz input.
#[derive(Clone, Copy, Debug, Default)]
struct Reply {
    valid: u8,
    words: [u64; 6],
    psc_header: [u8; 8],
}

impl Reply {
    fn parse(record: &[u8]) -> Self {
        let mut bytes = [0u8; REPLY_LEN];
        bytes[..record.len()].copy_from_slice(record);
        let word = |i: usize| u64::from_le_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().unwrap_or_default());
        let mut psc_header = [0u8; 8];
        psc_header.copy_from_slice(&bytes[REPLY_LEN - 8..]);
        Self { valid: bytes[0], words: core::array::from_fn(word), psc_header }
    }

    /// The value of `field` if the hypervisor marked it valid.
    fn valid(&self, field: Field) -> Option<u64> {
        let i = REPLY_FIELDS.iter().position(|f| *f == field)?;
        (self.valid & (1 << i) != 0).then_some(self.words[i])
    }

    /// Status 0, marked valid: the only reply an `Ok` may come from.
    fn succeeded(&self) -> bool {
        self.valid(Field::SwExitInfo1).is_some_and(|info_1| info_1 as u32 == 0)
    }
}

/// The shared page and a hypervisor that answers each exchange with the next reply record.
struct FuzzTransport<'a> {
    replies: &'a [u8],
    /// Rewrites the page after Warden's copy (a hypervisor racing the guest).
    scribble: bool,
    shared: Ghcb,
    exchanges: usize,
    reads: usize,
    last: Reply,
}

impl GhcbTransport for FuzzTransport<'_> {
    fn exchange(&mut self, ghcb: &mut Ghcb) {
        self.exchanges += 1;
        self.shared = *ghcb;
        let take = self.replies.len().min(REPLY_LEN);
        let (record, rest) = self.replies.split_at(take);
        self.replies = rest;
        self.last = Reply::parse(record);
        for (i, field) in REPLY_FIELDS.into_iter().enumerate() {
            self.shared.set(field, self.last.words[i]);
        }
        // `set` marked every field: the hypervisor's bitmap replaces that, bit by bit from the record.
        self.shared.valid_bitmap = [0; 2];
        for (i, field) in REPLY_FIELDS.into_iter().enumerate() {
            if self.last.valid & (1 << i) != 0 {
                let bit = field as usize / 8;
                self.shared.valid_bitmap[bit / 64] |= 1 << (bit % 64);
            }
        }
        self.shared.shared_buffer[..8].copy_from_slice(&self.last.psc_header);
        *ghcb = self.shared;
        self.reads += 1;
        if self.scribble {
            for byte in self.shared.as_mut_bytes() {
                *byte = !*byte;
            }
        }
    }

    fn shared_buffer_gpa(&self) -> u64 {
        SHARED_BUFFER_GPA
    }
}

/// The SNP platform the acceptance engine drives: page-state changes through the fuzzed GHCB,
/// PVALIDATE counted (no memory behind it).
struct GhcbSnp<'a> {
    transport: FuzzTransport<'a>,
    validated: u64,
    misbehaved: Option<Misbehaviour>,
    /// Every header Warden sent was within the 253-entry descriptor.
    requests_in_bounds: bool,
}

// Implementing the trait's `unsafe fn`s: the bodies touch no memory (counters and the model page).
#[allow(unsafe_code)]
impl SnpMemory for GhcbSnp<'_> {
    unsafe fn pvalidate(
        &mut self,
        _: u64,
        size: PageSize,
        _: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        self.validated += size.bytes();
        Ok(PvalidateOutcome::Changed)
    }

    unsafe fn rmpadjust(
        &mut self,
        _: u64,
        _: PageSize,
        _: u8,
        _: VmplPerms,
        _: bool,
    ) -> Result<(), RmpadjustError> {
        Ok(())
    }

    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        let sent = desc.header;
        self.requests_in_bounds &= sent.cur_entry <= sent.end_entry
            && usize::from(sent.end_entry) < PSC_MAX_ENTRIES
            && sent.reserved == 0;
        match ghcb_exits::page_state_change(&mut self.transport, desc) {
            Ok(()) => Ok(()),
            Err(PscExitError::Refused(error)) => Err(error),
            // The firmware terminates here; the harness ends the run with an error instead.
            Err(PscExitError::Misbehaved(why)) => {
                self.misbehaved = Some(why);
                Err(PscError::Generic)
            }
        }
    }
}

/// What one exit (or one acceptance run) came to; compared between the plain and scribbled runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// IN.
    In(Result<u64, ExitError>),
    /// OUT, WRMSR.
    Unit(Result<(), ExitError>),
    /// CPUID.
    Cpuid(Result<CpuidResult, ExitError>),
    /// RDMSR.
    Rdmsr(Result<u64, ExitError>),
    /// The acceptance engine's page-state changes; a misbehaviour the firmware would terminate on.
    Psc(Result<(), AcceptError>, Option<Misbehaviour>),
    /// How many MSR-protocol responses passed their checks.
    MsrProtocol {
        /// The count.
        accepted: usize,
    },
}

/// Runs the exit the input names; `scribble` rewrites the shared page after every copy.
pub fn run_exit(data: &[u8], scribble: bool) -> Option<Outcome> {
    let (&kind, rest) = data.split_first()?;
    let param = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let replies = &rest[8..];
    let mut t = FuzzTransport {
        replies,
        scribble,
        shared: Ghcb::new(),
        exchanges: 0,
        reads: 0,
        last: Reply::default(),
    };
    let width = [IoWidth::Byte, IoWidth::Word, IoWidth::Dword][(param >> 16) as usize % 3];
    let outcome = match kind % 7 {
        0 => {
            let result = ghcb_exits::io_in(&mut t, param as u16, width);
            if let Ok(value) = result {
                assert!(t.last.succeeded() && value <= width.mask());
                assert_eq!(Some(value), t.last.valid(Field::Rax).map(|rax| rax & width.mask()));
            }
            Outcome::In(result)
        }
        1 | 4 => {
            let result = if kind % 7 == 1 {
                ghcb_exits::io_out(&mut t, param as u16, width, param >> 24)
            } else {
                ghcb_exits::wrmsr(&mut t, param as u32, param)
            };
            assert!(result.is_err() || t.last.succeeded());
            Outcome::Unit(result)
        }
        2 => {
            let result = ghcb_exits::cpuid(&mut t, param as u32, (param >> 32) as u32, 1);
            if let Ok(r) = result {
                let regs = [Field::Rax, Field::Rbx, Field::Rcx, Field::Rdx].map(|f| t.last.valid(f));
                assert!(t.last.succeeded());
                let low = regs.map(|reg| reg.map(|value| value & 0xFFFF_FFFF));
                assert_eq!(low, [r.eax, r.ebx, r.ecx, r.edx].map(|value| Some(u64::from(value))));
            }
            Outcome::Cpuid(result)
        }
        3 => {
            let result = ghcb_exits::rdmsr(&mut t, param as u32);
            if let Ok(value) = result {
                let (rax, rdx) = (t.last.valid(Field::Rax), t.last.valid(Field::Rdx));
                assert!(t.last.succeeded());
                assert_eq!(Some(value), rax.zip(rdx).map(|(a, d)| (d << 32) | (a & 0xFFFF_FFFF)));
            }
            Outcome::Rdmsr(result)
        }
        5 => return Some(run_psc(t, param)),
        _ => return Some(msr_protocol(param, replies)),
    };
    assert_eq!((t.exchanges, t.reads), (1, 1), "one exchange, one read of the shared page");
    Some(outcome)
}

/// The acceptance engine makes `1 + param % 1024` pages private through the fuzzed GHCB.
fn run_psc(transport: FuzzTransport<'_>, param: u64) -> Outcome {
    let pages = 1 + param % 1024;
    let range = GpaRange::from_len(PSC_BASE, pages * 0x1000).expect("a small aligned range");
    // SAFETY: the platform below has no memory behind any address; nothing can be corrupted.
    #[allow(unsafe_code)]
    let mut acceptor = unsafe { SnpAcceptor::new(&[range]) };
    let mut snp = GhcbSnp { transport, validated: 0, misbehaved: None, requests_in_bounds: true };
    let result = acceptor.accept_all(&mut snp);
    let t = &snp.transport;
    assert_eq!(t.reads, t.exchanges, "one read of the shared page per exchange");
    // Each accepted reply advances by at least one entry, and there are at most `pages` entries.
    assert!(t.exchanges as u64 <= pages, "{} exchanges for {pages} pages", t.exchanges);
    assert!(snp.requests_in_bounds, "Warden sent a header outside its descriptor");
    if result.is_ok() {
        assert_eq!(snp.validated, pages * 0x1000, "success validated exactly the range");
        assert!(snp.misbehaved.is_none());
    }
    Outcome::Psc(result, snp.misbehaved)
}

/// The MSR-protocol responses (GHCB spec (AMD 56421) §2.3.1) Warden checks during registration: the
/// parameter and each following word as every response; an accepted one must say what its check says.
fn msr_protocol(param: u64, words: &[u8]) -> Outcome {
    let words = words.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()));
    let mut accepted = 0;
    for word in core::iter::once(param).chain(words).take(16) {
        if let Ok(info) = msr::parse_sev_info(word) {
            assert!(info.min_version <= 2 && 2 <= info.max_version);
            accepted += 1;
        }
        if msr::check_register_gpa(word, word >> 12).is_ok() {
            assert_eq!(word & 0xFFF, msr::REGISTER_GPA_RESP);
            accepted += 1;
        }
        if msr::check_psc(word).is_ok() {
            assert_eq!((word & 0xFFF, word >> 32), (msr::PSC_RESP, 0));
            accepted += 1;
        }
        if msr::check_run_vmpl(word).is_ok() {
            assert_eq!(word & 0xFFF, msr::RUN_VMPL_RESP);
            accepted += 1;
        }
        if msr::parse_hv_features(word).is_ok_and(|f| f.require(msr::HvFeatures::REQUIRED).is_ok()) {
            accepted += 1;
        }
    }
    Outcome::MsrProtocol { accepted }
}

/// The fuzz body: the exit, then the same exit against a hypervisor that rewrites the page after every
/// copy; the outcomes must agree (threat model T1: Warden decides from its copy only).
pub fn ghcb_fields(data: &[u8]) {
    let plain = run_exit(data, false);
    let scribbled = run_exit(data, true);
    assert_eq!(plain, scribbled, "a rewrite after the copy changed the outcome");
}

/// The PSC header bytes of a reply (for tests and seeds).
pub fn psc_header(cur_entry: u16, end_entry: u16, reserved: u32) -> [u8; 8] {
    let header = PscHeader { cur_entry, end_entry, reserved };
    let mut out = [0u8; 8];
    out.copy_from_slice(header.as_bytes());
    out
}

#[cfg(test)]
mod tests;
