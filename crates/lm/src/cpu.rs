//! The machine a figure is measured on: the CPU's model name and the widest SIMD level it
//! offers at run time. burn-flex multiplies with the `gemm` crate, built here with its
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

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;

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
