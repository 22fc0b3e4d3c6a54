#ifndef CDIFFUSECPU_H
#define CDIFFUSECPU_H

/// 1 when the CPU and the OS support the AVX-512 subset that `-target-cpu skylake-avx512` code may use
/// (F, CD, BW, DQ, VL, with ZMM and opmask state enabled by the OS); 0 otherwise and on non-x86 hosts.
int diffuse_cpu_has_avx512(void);

/// Packs `count` (≤ width) rows of an IEEE half matrix into one GEMM panel: dst[p · width + r] =
/// float(src[r · ld + p]) for p < kc, r < count (columns count ..< width are left alone). The conversion is
/// F16C's vcvtph2ps, exact for every half (NaNs come out quiet), so the panel holds the same floats as the
/// scalar widening; 8×8 blocks are transposed in registers instead of stored one float at a time.
void diffuse_pack_f16_panel(const unsigned short *src, long ld, long count, long width, long kc, float *dst);

/// The same for a float32 row-major matrix (a plain copy, transposed into the panel layout).
void diffuse_pack_f32_panel(const float *src, long ld, long count, long width, long kc, float *dst);

/// p[i] = expf(p[i]) for i < count, bit-identical to glibc's expf (see exp512.c for why). AVX-512F/DQ only:
/// call it only where `diffuse_cpu_has_avx512()` is 1. (A no-op on non-x86 hosts.)
void diffuse_exp_avx512(float *p, long count);

/// p[i] = p[i] / (1 + expf(-p[i])) (SiLU), bit-identical to that float formula. AVX-512 only.
void diffuse_silu_avx512(float *p, long count);

/// One key block of attention's online softmax, for `groups` × 16 query columns of the score block
/// s[keys][ld] (column c of group g at s[j · ld + 16g + c]): updates the running max runMax[16 · groups],
/// replaces s by exp((s − max) · scale) with the 1-ulp float exp of softmaxexp.c, writes corr =
/// exp((oldMax − max) · scale) with the exact exp (0 where oldMax was −∞), and sets runSum = runSum · corr +
/// Σ_keys s in key order: the float operations of the Swift path (Attention.swift), so the same bits.
/// AVX-512 only.
void diffuse_softmax_block_avx512(float *s, long keys, long ld, long groups, float *runMax, float *runSum,
                                  float *corr, float scale);

/// p[i] = exp(p[i]) within 1 ulp (softmaxexp.c): attention's softmax exp. AVX2+FMA on x86 (the package's
/// baseline), portable C elsewhere; `diffuse_softmax_exp_avx512` (AVX-512F only) returns the same bits.
void diffuse_softmax_exp(float *p, long count);
void diffuse_softmax_exp_avx512(float *p, long count);

/// A region body of the worker pool (pool.c): called with one chunk [lo, hi).
typedef void (*diffuse_pool_body)(void *ctx, long lo, long hi);

/// Runs fn(ctx, lo, hi) for chunks [c · per, min(n, (c + 1) · per)), c < chunks (all non-empty), chunk 0 on
/// the calling thread and chunk c on pool worker c, and returns 0 once all are done. Runs nothing and
/// returns 1 when called inside a region (nested: the caller runs it serially), 2 when another thread's
/// region is in flight, 3 when worker threads could not be started (the caller falls back to Dispatch).
int diffuse_pool_run(long n, long per, long chunks, diffuse_pool_body fn, void *ctx);

/// 1 on a pool worker thread and on a caller while its region runs.
int diffuse_pool_in_region(void);

/// glibc only (no-ops elsewhere): serve blocks up to mmapThreshold bytes from the heap and keep up to
/// trimThreshold bytes of freed heap top mapped (mallopt M_MMAP_THRESHOLD / M_TRIM_THRESHOLD). Returns 1
/// when glibc accepted both settings, 0 otherwise (another libc, or a value glibc refuses).
int diffuse_heap_keep_freed(int mmapThreshold, int trimThreshold);

/// Returns the heap's free memory to the kernel (malloc_trim(0)); a no-op outside glibc.
void diffuse_heap_trim(void);

#endif
