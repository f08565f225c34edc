//! Keeps the exporter's resident memory flat over days of polling (glibc only; elsewhere these do
//! nothing).
//!
//! Every poll of a 10,000-token org allocates a new token set, tens of thousands of small strings
//! and a few large buffers, while scrapes still read the old one, and then frees the old one.
//! With glibc's defaults that stepped the resident size up at each poll (bench/load.sh: 16 to
//! 23 MiB in three minutes of 10-second polls): freeing a large block raises the threshold under
//! which blocks come from the heap rather than from `mmap`, so later large buffers fragment the
//! heap, and every thread that allocates may get an arena of its own. [`tune`] fixes the
//! thresholds and caps the arenas; [`release_freed_memory`] hands whole free pages back after a
//! poll.

/// Sets glibc's allocator for a long-running process. Call before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's <malloc.h>.
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: mallopt only changes glibc's tunables; any value is valid for these three.
        unsafe {
            // Blocks of 128 KiB and more always come from mmap, and go back to the system when
            // freed; setting it also turns off the dynamic threshold.
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
            mallopt(M_TRIM_THRESHOLD, 128 * 1024);
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

/// Hands free pages back to the system, after a poll replaced a token set.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free memory of glibc's allocator, the one in use (the
        // exporter sets no global allocator); it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}
