//! How the process allocates: [`reuse_freed_memory`] tunes glibc's malloc for training's
//! many MiB-sized, short-lived tensors.

/// Largest allocation glibc's malloc serves from its heap once
/// [`reuse_freed_memory`] has run (glibc's own ceiling for `M_MMAP_THRESHOLD`), bytes.
pub const MMAP_THRESHOLD: usize = 32 << 20;

/// Makes the C allocator keep and reuse freed memory instead of mapping large blocks afresh.
///
/// By default glibc serves an allocation above its (adaptive) mmap threshold with a fresh
/// `mmap` and returns it with `munmap` when freed, and trims its heap back to the OS: a CPU
/// training step, whose activations and gradients are MiB-sized tensors allocated and freed
/// every layer, then spends much of its time zeroing new pages, taking page faults and
/// shooting down TLBs (a profile of the DPO step on a 2-core Xeon: ~15% of samples in
/// `clear_page_erms`, page faults and `munmap`'s cross-core TLB flushes). This raises the
/// mmap threshold to [`MMAP_THRESHOLD`] and stops trimming, so blocks up to 32 MiB are
/// recycled from the heap (docs/PERFORMANCE.md: forwards ~20% faster, the DPO step ~10–18%).
/// The cost is memory: freed heap memory stays with the process until it exits.
///
/// Process-wide; call it once at start-up, before the heavy allocations (`cargo xtask`
/// does). Returns whether the allocator took the settings: `false` where the C library is
/// not glibc, which has its own policy.
#[allow(unsafe_code)]
pub fn reuse_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let threshold = libc::c_int::try_from(MMAP_THRESHOLD).expect("32 MiB fits a c_int");
        // SAFETY: mallopt only changes the allocator's tuning parameters; both values are
        // within the ranges glibc documents, and it reports (1) whether it took each one.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc takes both settings (this project's machines run Linux with glibc).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_allocator_settings() {
        assert!(reuse_freed_memory());
    }
}
