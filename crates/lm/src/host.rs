//! The machine a figure is measured on: the CPU's model name and the widest SIMD level it
//! offers at run time; and how the process allocates ([`reuse_freed_memory`]). burn-flex multiplies with the `gemm` crate, built here with its
//! `x86-v4` (AVX-512) kernels; gemm picks a kernel by run-time CPU detection, so the same
//! binary runs on CPUs without AVX-512 (the test below exercises whichever path this CPU
//! takes).

/// The CPU's model name (Linux `/proc/cpuinfo`, `model name`), or `unknown CPU`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The widest SIMD level this CPU offers at run time, as x86-64 micro-architecture levels
/// name them: `x86-64-v4 (AVX-512)` (F, BW, CD, DQ, VL: what gemm's `x86-v4` kernels need),
/// `x86-64-v3 (AVX2, FMA)`, `x86-64-v2 (SSE4.2)` or `x86-64`; the architecture elsewhere.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl")
        {
            "x86-64-v4 (AVX-512)"
        } else if has!("avx2") && has!("fma") {
            "x86-64-v3 (AVX2, FMA)"
        } else if has!("sse4.2") {
            "x86-64-v2 (SSE4.2)"
        } else {
            "x86-64"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

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
    use burn::prelude::*;

    use super::*;

    /// glibc takes both settings (this project's machines run Linux with glibc).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_allocator_settings() {
        assert!(reuse_freed_memory());
    }

    /// A matmul large enough for gemm's blocked kernels agrees with a naive one in f64, on
    /// whatever SIMD level this CPU has (the binary carries the AVX-512 kernels either way).
    #[test]
    fn gemm_runs_on_this_cpu_and_matches_a_naive_product() {
        let (m, k, n) = (67, 129, 95);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 8.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 19) as f32 - 9.0) / 8.0)
            .collect();
        let device = crate::DeviceSpec::Cpu.device().unwrap();
        let product = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device)
            .matmul(Tensor::<2>::from_data(
                TensorData::new(b.clone(), [k, n]),
                &device,
            ))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for i in 0..m {
            for j in 0..n {
                let naive: f64 = (0..k)
                    .map(|t| f64::from(a[i * k + t]) * f64::from(b[t * n + j]))
                    .sum();
                let got = f64::from(product[i * n + j]);
                assert!(
                    (got - naive).abs() <= 1e-4 * naive.abs().max(1.0),
                    "[{i}, {j}]: {got} vs {naive} on {} ({})",
                    cpu_model(),
                    simd_level()
                );
            }
        }
    }
}
