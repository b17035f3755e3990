//! The memory allocator every cellpaint binary installs: mimalloc that keeps freed memory.
//!
//! Every candle operation allocates its output, so a training step allocates and frees
//! gigabytes. An allocator that hands freed pages back to the kernel (mimalloc's default a second
//! after the free, glibc's for every block over 32 MB) gets them back zero-filled on the next touch:
//! zeroing those pages was a third of an EfficientNet-B0 step and, after the convolution and
//! batch-norm ops stopped allocating batch-sized temporaries, still 30 % of a VAE+ iteration.
//! With purging off the freed pages are reused as they are; the price is that resident memory
//! stays at its peak until the process ends (the peak itself does not grow).
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering};

/// mimalloc (v3, as built by libmimalloc-sys 0.1.49) with purging of freed memory off.
pub struct Allocator;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (include/mimalloc.h): milliseconds
/// before freed memory is returned to the OS; −1 never. libmimalloc-sys names only some
/// options, so the position is spelled out here; the unit test checks it against the
/// documented default (1000).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

static CONFIGURED: AtomicBool = AtomicBool::new(false);

fn configure() {
    if !CONFIGURED.load(Ordering::Relaxed) {
        // Idempotent, allocation-free: a race sets the same value twice.
        // SAFETY: sets one integer option; mimalloc allows it at any time.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
        CONFIGURED.store(true, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to mimalloc's GlobalAlloc.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        configure();
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        configure();
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        configure();
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// The process's peak resident memory so far in MB (`VmHWM` of /proc/self/status), for the
/// benchmarks; `None` where that file does not exist (not Linux).
pub fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option index is mimalloc's purge delay: unset, it reads its default of 1000 ms (no
    /// other v3 option defaults to 1000), `os_tag` three places on reads its 100, and our
    /// setting reads back. The unit-test binary uses the system allocator, so nothing has set
    /// it before this test.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        use libmimalloc_sys::mi_option_get;
        // SAFETY: reads of integer options.
        let (delay, tag) = unsafe { (mi_option_get(PURGE_DELAY), mi_option_get(PURGE_DELAY + 3)) };
        if !CONFIGURED.load(Ordering::Relaxed) {
            assert_eq!(
                delay, 1000,
                "mimalloc's purge_delay moved: check PURGE_DELAY"
            );
        }
        assert_eq!(
            tag, 100,
            "os_tag sits 3 after purge_delay in v3's mi_option_e"
        );
        configure();
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1);
        let p = unsafe { Allocator.alloc(Layout::from_size_align(1 << 20, 64).unwrap()) };
        if cfg!(target_os = "linux") {
            assert!(peak_resident_mb().is_some_and(|mb| mb > 1.0));
        }
        assert!(!p.is_null());
        unsafe { Allocator.dealloc(p, Layout::from_size_align(1 << 20, 64).unwrap()) };
    }
}
