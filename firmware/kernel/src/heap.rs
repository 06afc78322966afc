//! The heap: `linked_list_allocator` behind a spin lock, over `layout::HEAP_BASE..HEAP_BASE+HEAP_SIZE`.
//!
//! On SEV-SNP and TDX the heap must be accepted first, and [`init`] takes the acceptance engine's
//! [`Accepted`] proof for exactly the heap's range: the heap cannot come up on those platforms without
//! `warden_accept::early` having validated or accepted it.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use linked_list_allocator::Heap;
use spin::Mutex;
use warden_accept::Accepted;
use warden_defs::boot::BootPlatform;
use warden_defs::layout::{HEAP_BASE, HEAP_SIZE};
use warden_platform::memory::GpaRange;

struct LockedHeap(Mutex<Heap>);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap(Mutex::new(Heap::empty()));

// SAFETY: `Heap` hands out each block once until it is freed, and the lock serialises all access.
unsafe impl GlobalAlloc for LockedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: the caller passes a pointer from `alloc` with the same layout (GlobalAlloc contract).
            unsafe { self.0.lock().deallocate(ptr, layout) };
        }
    }
}

/// The heap's guest-physical range.
pub const RANGE: GpaRange = match GpaRange::from_len(HEAP_BASE, HEAP_SIZE) {
    Some(range) => range,
    None => panic!("the layout's heap is not a page-aligned range"),
};

/// Why the heap memory is usable.
#[derive(Debug)]
pub enum HeapMemory {
    /// Native: guest memory needs no acceptance. Refused unless detection said native.
    Plain,
    /// SEV-SNP / TDX: the acceptance engine's proof; refused unless it covers exactly [`RANGE`].
    Accepted(Accepted),
}

/// Why [`init`] refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HeapError {
    /// `init` already ran.
    AlreadyInitialised,
    /// Plain memory offered on a platform that is not native (or before detection).
    NotAccepted,
    /// The engine's proof covers another range.
    WrongRange {
        /// What the proof covers.
        accepted: GpaRange,
    },
}

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Hands the heap region to the allocator, given why its memory is usable.
///
/// # Safety
/// The live page tables map [`RANGE`] writable to itself (the boot's page-table check), and nothing
/// but the allocator uses it.
pub unsafe fn init(memory: HeapMemory) -> Result<(), HeapError> {
    match memory {
        HeapMemory::Plain if crate::machine::kind() == Some(BootPlatform::Native) => {}
        HeapMemory::Plain => return Err(HeapError::NotAccepted),
        HeapMemory::Accepted(proof) if proof.range() == RANGE => {}
        HeapMemory::Accepted(proof) => return Err(HeapError::WrongRange { accepted: proof.range() }),
    }
    if INITIALISED.swap(true, Ordering::AcqRel) {
        return Err(HeapError::AlreadyInitialised);
    }
    // SAFETY: the region is mapped (the contract), usable (native, or accepted: checked above), unused,
    // and this runs once (the flag).
    unsafe { HEAP.0.lock().init(HEAP_BASE as *mut u8, HEAP_SIZE as usize) };
    Ok(())
}

/// Bytes in use and bytes free, for the ready line and tests.
pub fn usage() -> (usize, usize) {
    let heap = HEAP.0.lock();
    (heap.used(), heap.free())
}
