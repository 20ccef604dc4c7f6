//! Criterion benches of the router's hot paths: batched Thompson selection of N = 480 pairs
//! (B = 32 prompts × 15 pairs, the reference batch), one reward update, and one batch of 480
//! rewards, at d ∈ {64, 576,
//! 896} (MiniLM-ish, SmolLM2-135M, Qwen2.5-0.5B widths) and K ∈ {4, 8}. The reference
//! numerics are benched beside them at d = 64 and 576 (at 896 one reference update alone
//! takes a large fraction of a second).

use bandit::{ArmMask, BanditParams, Feedback, LinearBandit, Policy};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use routing_benches::{ReferenceThompson, Workload};

const PAIRS_PER_BATCH: usize = 480;
const DIMS: [usize; 3] = [64, 576, 896];
const ARMS: [usize; 2] = [4, 8];
const REFERENCE_MAX_DIM: usize = 576;

fn params() -> BanditParams {
    BanditParams {
        propensity_draws: 0,
        ..BanditParams::bayesian_v4()
    }
}

/// A router that has absorbed one batch of feedback, so its factors are dense.
fn warm_router(work: &Workload) -> LinearBandit {
    let mut router =
        LinearBandit::new(Policy::Thompson, work.prior.clone(), params(), 0).expect("router");
    let dim = work.prior.dim();
    for (j, context) in work.contexts.chunks_exact(dim).enumerate() {
        router
            .update(work.arms[j], context, work.rewards[j])
            .expect("update");
    }
    router
}

fn selection(c: &mut Criterion) {
    let mut group = c.benchmark_group("select_batch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PAIRS_PER_BATCH as u64));
    for dim in DIMS {
        for n_arms in ARMS {
            let work = Workload::new(dim, n_arms, PAIRS_PER_BATCH, 1);
            let mask = ArmMask::all(n_arms);
            let mut router = warm_router(&work);
            let id = format!("d{dim}_k{n_arms}");
            group.bench_function(BenchmarkId::new("cholesky", &id), |b| {
                b.iter(|| router.select_batch(&work.contexts, &mask).expect("select"))
            });
            if dim <= REFERENCE_MAX_DIM {
                let mut reference = ReferenceThompson::new(&work.prior, 1.0, 1.0, 1e-8, 0);
                group.bench_function(BenchmarkId::new("reference", &id), |b| {
                    b.iter(|| reference.select_batch(&work.contexts))
                });
            }
        }
    }
    group.finish();
}

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    group.sample_size(10);
    for dim in DIMS {
        for n_arms in ARMS {
            let work = Workload::new(dim, n_arms, PAIRS_PER_BATCH, 2);
            let mut router = warm_router(&work);
            let id = format!("d{dim}_k{n_arms}");
            let mut next = 0;
            group.bench_function(BenchmarkId::new("cholesky", &id), |b| {
                b.iter(|| {
                    let j = next % PAIRS_PER_BATCH;
                    next += 1;
                    let context = &work.contexts[j * dim..(j + 1) * dim];
                    router
                        .update(work.arms[j], context, work.rewards[j])
                        .expect("update")
                })
            });
            // The reference update does not depend on K; bench it once per d.
            if dim <= REFERENCE_MAX_DIM && n_arms == ARMS[0] {
                let mut reference = ReferenceThompson::new(&work.prior, 1.0, 1.0, 1e-8, 0);
                group.bench_function(BenchmarkId::new("reference", &id), |b| {
                    b.iter(|| {
                        let j = next % PAIRS_PER_BATCH;
                        next += 1;
                        let context = &work.contexts[j * dim..(j + 1) * dim];
                        reference.update(work.arms[j], context, work.rewards[j])
                    })
                });
            }
        }
    }
    group.finish();
}

/// A whole batch of feedback (N = 480 rewards spread over the K arms) in one `update_batch`,
/// as the trainer applies delayed feedback: one rank-r factor update per arm.
fn update_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("update_batch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PAIRS_PER_BATCH as u64));
    for dim in DIMS {
        for n_arms in ARMS {
            let work = Workload::new(dim, n_arms, PAIRS_PER_BATCH, 3);
            let mut router = warm_router(&work);
            let feedback: Vec<Feedback<'_>> = work
                .contexts
                .chunks_exact(dim)
                .enumerate()
                .map(|(j, context)| Feedback {
                    arm: work.arms[j],
                    context,
                    reward: work.rewards[j],
                })
                .collect();
            let id = format!("d{dim}_k{n_arms}");
            group.bench_function(BenchmarkId::new("cholesky", &id), |b| {
                b.iter(|| router.update_batch(&feedback).expect("update"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, selection, update, update_batch);
criterion_main!(benches);
