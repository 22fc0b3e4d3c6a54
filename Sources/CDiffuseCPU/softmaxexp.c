// The float32 exp of attention's softmax: ≤ 1 ulp from the correctly rounded value (measured over every
// float in [-105, 89] by `diffuse-bench-kernels --exhaustive-softmax-exp`), about twice as fast as the exact
// exp of exp512.c because it stays in float (16 lanes per zmm instead of 8 doubles, no table, no fallback).
// Why not the exact one here: PyTorch's own vectorised softmax evaluates exp with a polynomial too (Sleef's
// 1-ulp expf, or its 2-ulp exp_u20 in newer kernels), so a correctly rounded exp was stricter than the
// reference; everywhere else (SiLU, GELU, training) keeps the exact exp.
//
// exp(x) = 2^n · exp(r): n = round(x / ln2) by the 1.5·2²³ shifter, r = x − n·ln2 in two FMAs (ln2 split
// in a 16-bit head and a tail, Cody–Waite), exp(r) = 1 + r + r²·q(r) with q of degree 4 fitted for
// minimal relative error on |r| ≤ ln2/2 (scripts/fit_softmax_exp.py: 0.032 ulp from the fit itself; the
// rest is the float evaluation). 2^n is applied as 2^⌊n/2⌋ · 2^(n − ⌊n/2⌋), both normal floats, so
// overflow to +∞ and results in the subnormal range come out of the last multiplication correctly
// rounded. x is clamped to [-105, 89] first (exp is 0 resp. +∞ in float beyond); NaN passes through.
//
// The AVX-512, AVX2 and portable versions perform the same float operations in the same order, so they
// return the same bits, and so do the softmax paths built on them (tested).
#include "CDiffuseCPU.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LOG2E 0x1.715476p+0f
#define SHIFTER 0x1.8p23f
#define LN2_HI 0x1.62e4p-1f
#define LN2_LO 0x1.7f7d1cp-20f
#define C0 0x1.fffffcp-2f
#define C1 0x1.555492p-3f
#define C2 0x1.5558f2p-5f
#define C3 0x1.1239d4p-7f
#define C4 0x1.6a244cp-10f
#define LO -105.0f
#define HI 89.0f

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET2 __attribute__((target("avx2,fma")))
#define TARGET512 __attribute__((target("avx512f")))

// max(LO, x) then min(HI, ·): maxps/minps return their second operand when either is NaN, so NaN survives.
TARGET2 static inline __m256 softmaxExp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(HI), _mm256_max_ps(_mm256_set1_ps(LO), x));
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(LOG2E), _mm256_set1_ps(SHIFTER));
    __m256 n = _mm256_sub_ps(t, _mm256_set1_ps(SHIFTER));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(C4), r, _mm256_set1_ps(C3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(C2));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(C1));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(C0));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    // t's low bits hold n (|n| ≤ 152): bits(t) − bits(shifter) = n.
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(_mm256_set1_ps(SHIFTER)));
    __m256i a = _mm256_srai_epi32(ni, 1), b = _mm256_sub_epi32(ni, a);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 sa = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(a, bias), 23));
    __m256 sb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(b, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, sa), sb);
}

TARGET512 static inline __m512 softmaxExp16(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(HI), _mm512_max_ps(_mm512_set1_ps(LO), x));
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), _mm512_set1_ps(SHIFTER));
    __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(SHIFTER));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(C4), r, _mm512_set1_ps(C3));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(C2));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(C1));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(C0));
    __m512 y = _mm512_add_ps(_mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(_mm512_set1_ps(SHIFTER)));
    __m512i a = _mm512_srai_epi32(ni, 1), b = _mm512_sub_epi32(ni, a);
    __m512i bias = _mm512_set1_epi32(127);
    __m512 sa = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(a, bias), 23));
    __m512 sb = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(b, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(y, sa), sb);
}

TARGET2 void diffuse_softmax_exp(float *p, long count) {
    long i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(p + i, softmaxExp8(_mm256_loadu_ps(p + i)));
    if (i < count) {   // the tail through the same vector code, so it gets the same bits
        float buf[8] = {0};
        memcpy(buf, p + i, (size_t)(count - i) * sizeof(float));
        _mm256_storeu_ps(buf, softmaxExp8(_mm256_loadu_ps(buf)));
        memcpy(p + i, buf, (size_t)(count - i) * sizeof(float));
    }
}

TARGET512 void diffuse_softmax_exp_avx512(float *p, long count) {
    for (long i = 0; i < count; i += 16) {
        __mmask16 m = count - i >= 16 ? 0xFFFF : (__mmask16)((1u << (count - i)) - 1);
        _mm512_mask_storeu_ps(p + i, m, softmaxExp16(_mm512_maskz_loadu_ps(m, p + i)));
    }
}

// One key block of the online softmax on AVX-512 (see CDiffuseCPU.h). The correction factor for earlier
// blocks keeps the exact exp (16 values per block, as the Swift path's Foundation.exp); the block's
// probabilities take softmaxExp16.
TARGET512 void diffuse_softmax_block_avx512(float *s, long keys, long ld, long groups, float *runMax, float *runSum,
                                            float *corr, float scale) {
    const __m512 sc = _mm512_set1_ps(scale);
    for (long g = 0; g < groups; g++) {
        float *col = s + 16 * g;
        __m512 old = _mm512_loadu_ps(runMax + 16 * g), m = old;
        // max_ps(row, m) is `row > m ? row : m`, the Swift path's lane maximum.
        for (long j = 0; j < keys; j++) m = _mm512_max_ps(_mm512_loadu_ps(col + j * ld), m);
        // exp((old − new)·scale), 0 where no key was seen before (old = −∞).
        _mm512_storeu_ps(corr + 16 * g, _mm512_mul_ps(_mm512_sub_ps(old, m), sc));
        diffuse_exp_avx512(corr + 16 * g, 16);
        __mmask16 seen = _mm512_cmp_ps_mask(old, _mm512_set1_ps(-INFINITY), _CMP_NEQ_UQ);
        __m512 c = _mm512_maskz_loadu_ps(seen, corr + 16 * g);
        _mm512_storeu_ps(corr + 16 * g, c);
        // Sum in key order after the rescale, as the Swift path adds.
        __m512 l = _mm512_mul_ps(_mm512_loadu_ps(runSum + 16 * g), c);
        for (long j = 0; j < keys; j++) {
            float *row = col + j * ld;
            __m512 e = softmaxExp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(row), m), sc));
            _mm512_storeu_ps(row, e);
            l = _mm512_add_ps(l, e);
        }
        _mm512_storeu_ps(runMax + 16 * g, m);
        _mm512_storeu_ps(runSum + 16 * g, l);
    }
}
#else
static inline float softmaxExp1(float x) {
    if (x != x) return x;
    x = fminf(HI, fmaxf(LO, x));
    float t = fmaf(x, LOG2E, SHIFTER), n = t - SHIFTER;
    float r = fmaf(-n, LN2_HI, x);
    r = fmaf(-n, LN2_LO, r);
    float q = fmaf(C4, r, C3);
    q = fmaf(q, r, C2);
    q = fmaf(q, r, C1);
    q = fmaf(q, r, C0);
    float y = fmaf(q, r * r, r) + 1.0f;
    int32_t tb, sb;
    memcpy(&tb, &t, 4);
    memcpy(&sb, &(float){SHIFTER}, 4);
    int32_t ni = tb - sb, a = ni >> 1, b = ni - a;
    int32_t ab = (a + 127) << 23, bb = (b + 127) << 23;
    float fa, fb;
    memcpy(&fa, &ab, 4);
    memcpy(&fb, &bb, 4);
    return (y * fa) * fb;
}

void diffuse_softmax_exp(float *p, long count) {
    for (long i = 0; i < count; i++) p[i] = softmaxExp1(p[i]);
}
void diffuse_softmax_exp_avx512(float *p, long count) { diffuse_softmax_exp(p, count); }
void diffuse_softmax_block_avx512(float *s, long keys, long ld, long groups, float *runMax, float *runSum,
                                  float *corr, float scale) {
    (void)s; (void)keys; (void)ld; (void)groups; (void)runMax; (void)runSum; (void)corr; (void)scale;
}
#endif
