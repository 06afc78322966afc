//! The heap: `linked_list_allocator` behind a spin lock, over `layout::HEAP_BASE..HEAP_BASE+HEAP_SIZE`.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use spin::Mutex;
use warden_defs::layout::{HEAP_BASE, HEAP_SIZE};

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

/// Hands the heap region to the allocator. The region must be accepted (validated) first.
///
/// # Safety
/// Call once, after the platform accepted `HEAP_BASE..HEAP_BASE+HEAP_SIZE`; the initial page tables map it
/// writable, and nothing else uses it.
pub unsafe fn init() {
    // SAFETY: per the contract, the region is mapped, accepted, unused, and this runs once.
    unsafe { HEAP.0.lock().init(HEAP_BASE as *mut u8, HEAP_SIZE as usize) };
}

/// Bytes in use and bytes free, for the ready line and tests.
pub fn usage() -> (usize, usize) {
    let heap = HEAP.0.lock();
    (heap.used(), heap.free())
}
