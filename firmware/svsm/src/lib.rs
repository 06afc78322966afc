//! The SVSM request dispatcher: what Warden does when a guest vCPU calls it: the core protocol (0),
//! attestation (1, [`attest_protocol`]), the vTPM (2, [`vtpm_protocol`]) and Warden's measured-boot
//! protocol ([`event_log_protocol`]).
//!
//! Design principles, in order:
//! 1. **Registers in, registers out.** [`Dispatcher::handle`] takes the guest's RAX, RCX, RDX, R8, R9 as
//!    a [`GuestRegs`] value and returns a [`Reply`]. The SNP request loop (registers read from the
//!    guest's VMSA), the native channel ([`doorbell`], registers from a block in guest RAM, through the SNP
//!    loop's own step) and the test transport ([`transport`], registers read from a frame) feed the
//!    very same function.
//! 2. **Guest memory is reached only through [`GuestMemory`]**, by guest-physical address, as copies;
//!    a protocol handler reaches it only through a [`GuestBuffer`] its [`CallContext`] checked.
//!    A request structure is copied into private memory in one read, then checked, then acted on; it is
//!    never read twice (threat model T4: a second vCPU may rewrite it between two reads).
//! 3. **The guest names addresses; Warden decides.** Every GPA is checked against the guest's RAM, every
//!    page Warden owns (`warden_defs::layout::WARDEN_OWNED`), and the pages Warden relies on (calling
//!    areas, VMSAs, the request list being processed) before an RMP operation or a write touches it.
//! 4. **Errors say who is to blame** ([`SvsmError`]): the guest asked wrongly, the hardware refused an
//!    RMP operation, the hypervisor broke a rule, or Warden has a bug. They become the reference's SVSM
//!    result codes only at the boundary ([`SvsmError::code`]).
//! 5. **Nothing a guest sends can panic Warden**: no indexing that can fail, no `unwrap` on guest data.
//!    The fuzz targets in `warden-fuzz` hold the dispatcher to it.
//!
//! `unsafe` policy: denied crate-wide, allowed in one module, `pages`, which wraps the `unsafe fn` RMP
//! primitives of [`warden_platform::memory::SnpMemory`] for pages the protection rules have cleared,
//! and in one function, [`launch::prepare`], which uses them on the guest's launch pages before the
//! guest runs.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod attest_manifest;
pub mod attest_protocol;
mod buffer;
mod core_protocol;
mod dispatch;
pub mod doorbell;
pub mod endorsement_key;
mod error;
pub mod event_log_protocol;
mod guest;
pub mod guest_request;
pub mod launch;
mod page_index;
#[allow(unsafe_code, reason = "the one module that calls the unsafe RMP primitives; see its SAFETY comments")]
mod pages;
mod pvalidate;
mod regs;
pub mod request;
pub mod snp_evidence;
pub mod tdx_evidence;
pub mod tdx_l2_exit;
pub mod tdx_l2_launch;
pub mod tdx_l2_serve;
pub mod transport;
mod vcpus;
pub mod vtpm_manifest;
pub mod vtpm_protocol;

pub use buffer::{CallContext, GuestBuffer};
pub use core_protocol::{ConfigError, CoreConfig, CoreProtocol};
pub use dispatch::{Dispatcher, ProtocolHandler, RegisterError};
pub use error::{AddressError, Bug, EvidenceError, GuestError, HvFault, ParamError, RmpRefusal, SvsmError};
pub use guest::{GuestMemory, GuestRam, MemoryError, Paired};
pub use regs::{Caller, GuestRegs, Outputs, Reply};
pub use vcpus::{VMSAS_PER_VCPU, VcpuState};
