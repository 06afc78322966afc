//! A global allocator for test binaries that must show a bound on heap use (threat model T7): the
//! system allocator, counting live bytes and their peak between [`HeapMeter::start`] and
//! [`HeapMeter::stop`]. A binary opts in with `#[global_allocator] static A: HeapMeter = HeapMeter;`;
//! the counters are process-wide, so such a binary holds one measuring test.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The metering allocator.
#[derive(Debug)]
pub struct HeapMeter;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

impl HeapMeter {
    /// Starts counting allocations and frees.
    pub fn start() {
        COUNTING.store(true, Ordering::SeqCst);
    }

    /// Stops counting.
    pub fn stop() {
        COUNTING.store(false, Ordering::SeqCst);
    }

    /// The bytes allocated and not freed while counting, and the largest that figure has been.
    pub fn live_and_peak() -> (isize, isize) {
        (LIVE.load(Ordering::SeqCst), PEAK.load(Ordering::SeqCst))
    }
}

// SAFETY: forwards every call to `System` unchanged; the counters are only statistics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for HeapMeter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}
