// The exact float32 exp of DiffuseCore/VectorMath.swift (bit-identical to glibc's expf) on AVX-512 (attention's
// softmax uses the faster 1-ulp exp of softmaxexp.c). In C because the cheap form needs a table lookup in
// registers (vpermi2pd), integer bit tests on doubles and opmask registers, none of which Swift's SIMD
// types compile to.
//
// Each float is widened to double and exp evaluated as 2^(k/16) · exp(r), x = k·ln2/16 + r, |r| ≤ ln2/32:
// 2^(j/16) for j = k mod 16 comes from a 16-entry table held in two zmm registers (one vpermi2pd),
// 2^⌊k/16⌋ is added to its exponent bits, and exp(r) is the degree-5 Taylor polynomial. Error budget,
// relative to exp(x):
//   - truncation: e^|r| · |r|⁶/6! ≤ 1.02 · (ln2/32)⁶ / 720 < 1.5e-13 ≈ 2^-42.6;
//   - the reduction (ln2/16 rounded to double, one FMA): < 2^-47 absolute in r, so relative in exp(r);
//   - the table (correctly rounded doubles) and the eight double roundings of the evaluation: each
//     ≤ 2^-53 relative, together < 2^-49.
// So y is within 2^-42 · y of exp(x). The result rounds y to float; that is expf's value unless exp(x) is
// near a midpoint between floats. Lanes whose y lies within ulp/256 of one (ulp/256 ≥ 2^-32 · y) are
// recomputed by expf: an unflagged lane's exact exp is then on the same side of the midpoint as y, and
// at least (1/256 − 2^-18) ulp > 0.002 ulp away from it, where glibc's expf (error < 0.502 ulp) also
// rounds correctly. Lanes with x outside [-87, 88.5] (subnormal, overflowing, NaN) go to expf too.
#include "CDiffuseCPU.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define TARGET512 __attribute__((target("avx512f,avx512dq")))

// Bit patterns of 2^(j/16) (correctly rounded), minus j << 48: adding k << 48 (k = 16·e + j, from the
// low bits of the rounding shifter) then yields 2^(j/16) with e added to its exponent field.
#define T(j, bits) ((int64_t)(bits##ULL - ((uint64_t)(j) << 48)))
static const int64_t expTable[16] __attribute__((aligned(64))) = {
    T(0, 0x3ff0000000000000), T(1, 0x3ff0b5586cf9890f), T(2, 0x3ff172b83c7d517b), T(3, 0x3ff2387a6e756238),
    T(4, 0x3ff306fe0a31b715), T(5, 0x3ff3dea64c123422), T(6, 0x3ff4bfdad5362a27), T(7, 0x3ff5ab07dd485429),
    T(8, 0x3ff6a09e667f3bcd), T(9, 0x3ff7a11473eb0187), T(10, 0x3ff8ace5422aa0db), T(11, 0x3ff9c49182a3f090),
    T(12, 0x3ffae89f995ad3ad), T(13, 0x3ffc199bdd85529c), T(14, 0x3ffd5818dcfba487), T(15, 0x3ffea4afa2a490da),
};
#undef T

// 8 lanes in double: returns the rounded floats and, in *near, the lanes within ulp/256 of a midpoint.
TARGET512 static inline __m256 exp8d(__m512d x, __m512i tabLo, __m512i tabHi, __mmask8 *near) {
    const __m512d shifter = _mm512_set1_pd(0x1.8p52);
    // t = 1.5·2⁵² + k with k = round(x·16/ln2): t's low mantissa bits hold k in two's complement.
    __m512d t = _mm512_fmadd_pd(x, _mm512_set1_pd(0x1.71547652b82fep+4), shifter);
    __m512d k = _mm512_sub_pd(t, shifter);
    // One FMA: ln2/16 rounded to double is off by ≤ 2⁻⁵⁸, times |k| ≤ 2043 in range: r is off by < 2⁻⁴⁷.
    __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(0x1.62e42fefa39efp-5), x);
    __m512i tb = _mm512_castpd_si512(t);
    // The permute reads the low 4 bits of each index lane: j = k mod 16.
    __m512i scale = _mm512_add_epi64(_mm512_permutex2var_epi64(tabLo, tb, tabHi), _mm512_slli_epi64(tb, 48));
    // exp(r) ≈ 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r/120)))) (Horner: fewest operations; the vectors of
    // the surrounding loop iterations hide its latency).
    __m512d p = _mm512_fmadd_pd(r, _mm512_set1_pd(1.0 / 120), _mm512_set1_pd(1.0 / 24));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 6));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    __m512d y = _mm512_mul_pd(p, _mm512_castsi512_pd(scale));
    // Rounding a double with a normal-float exponent to float drops its low 29 mantissa bits; the midpoint
    // is at 2²⁸ and ulp/256 is 2²¹ in those bits: flag low29 ∈ [2²⁸ − 2²¹, 2²⁸ + 2²¹), i.e. bits 22–28 of
    // (bits − (2²⁸ − 2²¹)) all zero.
    __m512i u = _mm512_sub_epi64(_mm512_castpd_si512(y), _mm512_set1_epi64((1 << 28) - (1 << 21)));
    *near = _mm512_testn_epi64_mask(u, _mm512_set1_epi64(((1 << 29) - 1) & ~((1 << 22) - 1)));
    return _mm512_cvtpd_ps(y);
}

// exp of the 16 floats x (also stored at xs, for the library calls); correct except in the lanes of *redo
// (near a midpoint, or x outside [-87, 88.5] or NaN), which must go through expf.
TARGET512 static inline __m512 exp16(__m512 x, float *xs, __m512i tabLo, __m512i tabHi, unsigned *redo) {
    _mm512_storeu_ps(xs, x);
    __mmask8 n0, n1;
    __m256 f0 = exp8d(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), tabLo, tabHi, &n0);
    __m256 f1 = exp8d(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)), tabLo, tabHi, &n1);
    // Not ≥ −87 (NaN included) or above 88.5.
    __mmask16 out = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_NGE_UQ)
                  | _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.5f), _CMP_GT_OQ);
    *redo = n0 | ((unsigned)n1 << 8) | out;
    return _mm512_insertf32x8(_mm512_castps256_ps512(f0), f1, 1);
}

// The library calls are deferred: about one vector in eight has a flagged lane, and a branch per vector
// mispredicts that often, each time discarding the in-flight exp work of the next vectors. Instead every
// vector's inputs are saved and its entry written to a list whose length grows only when a lane is
// flagged (no branch); the list is worked off after each chunk of vectors.
enum { chunkVectors = 32 };
typedef struct { float *dst; const float *x; unsigned mask; } Redo;
typedef struct { float x[chunkVectors][16]; Redo list[chunkVectors]; } RedoChunk;

// dst[0..<16] (lanes of m) = exp(x) for vector v of the chunk, except flagged lanes, which are queued at
// q->list[n]; returns the new queue length (kept in a register by the callers' loops).
TARGET512 static inline int expQueued(float *dst, __m512 x, __mmask16 m, RedoChunk *q, int v, int n, __m512i tabLo,
                                      __m512i tabHi) {
    unsigned redo;
    __m512 f = exp16(x, q->x[v], tabLo, tabHi, &redo);
    _mm512_mask_storeu_ps(dst, m, f);
    redo &= m;
    q->list[n] = (Redo){dst, q->x[v], redo};
    return n + (redo != 0);
}

// dst[i] = expf(x[i]) for the queued lanes.
static void redoQueued(const RedoChunk *q, int n) {
    for (int e = 0; e < n; e++) {
        Redo r = q->list[e];
        for (unsigned m = r.mask; m; m &= m - 1) r.dst[__builtin_ctz(m)] = expf(r.x[__builtin_ctz(m)]);
    }
}

TARGET512 void diffuse_exp_avx512(float *p, long count) {
    const __m512i tabLo = _mm512_load_si512(expTable), tabHi = _mm512_load_si512(expTable + 8);
    RedoChunk q;
    for (long c0 = 0; c0 < count; c0 += 16 * chunkVectors) {
        int v = 0, n = 0;
        for (long i = c0; i < count && v < chunkVectors; i += 16, v++) {
            // Lanes past the end are neither loaded nor stored.
            __mmask16 m = count - i >= 16 ? 0xFFFF : (__mmask16)((1u << (count - i)) - 1);
            n = expQueued(p + i, _mm512_maskz_loadu_ps(m, p + i), m, &q, v, n, tabLo, tabHi);
        }
        if (n) redoQueued(&q, n);
    }
}

TARGET512 static inline __m512 negate(__m512 x) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}

TARGET512 void diffuse_silu_avx512(float *p, long count) {
    const __m512i tabLo = _mm512_load_si512(expTable), tabHi = _mm512_load_si512(expTable + 8);
    RedoChunk q;
    for (long c0 = 0; c0 < count; c0 += 16 * chunkVectors) {
        long c1 = count < c0 + 16 * chunkVectors ? count : c0 + 16 * chunkVectors;
        // exp(−x) into place (−x kept in the chunk's saved inputs; negation is a sign flip, as in Swift, so
        // flipping back restores x exactly, −0 and NaNs included)...
        int v = 0, n = 0;
        for (long i = c0; i < c1; i += 16, v++) {
            __mmask16 m = c1 - i >= 16 ? 0xFFFF : (__mmask16)((1u << (c1 - i)) - 1);
            n = expQueued(p + i, negate(_mm512_maskz_loadu_ps(m, p + i)), m, &q, v, n, tabLo, tabHi);
        }
        if (n) redoQueued(&q, n);
        // ...then x / (1 + exp(−x)) as the scalar formula evaluates it (float add, float division).
        v = 0;
        for (long i = c0; i < c1; i += 16, v++) {
            __mmask16 m = c1 - i >= 16 ? 0xFFFF : (__mmask16)((1u << (c1 - i)) - 1);
            __m512 x = negate(_mm512_loadu_ps(q.x[v]));
            __m512 e = _mm512_maskz_loadu_ps(m, p + i);
            _mm512_mask_storeu_ps(p + i, m, _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
        }
    }
}

#else
void diffuse_exp_avx512(float *p, long count) { (void)p; (void)count; }
void diffuse_silu_avx512(float *p, long count) { (void)p; (void)count; }
#endif
