// GEMM panel packing with register transposes (see CDiffuseCPU.h). In C because Swift has no F16C
// intrinsic: its SIMD half → float conversion compiles to one scalar conversion per lane, and a strided
// store per element made packing f16 weights cost more than the micro-kernel on low-resolution layers.
// Compiled for AVX2+F16C by function attribute; DiffuseCore only runs on such CPUs (-target-cpu haswell).
#include "CDiffuseCPU.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,f16c,fma")))

// Transposes 8 rows of 8 floats (r[i] = row i) into 8 columns (r[j] = element j of every row).
TARGET static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Transposes 4 rows of 8 floats into 8 columns of 4 (c[j] = element j of rows 0..3).
TARGET static inline void transpose4x8(const __m256 r[4], __m128 c[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    c[0] = _mm256_castps256_ps128(s0); c[1] = _mm256_castps256_ps128(s1);
    c[2] = _mm256_castps256_ps128(s2); c[3] = _mm256_castps256_ps128(s3);
    c[4] = _mm256_extractf128_ps(s0, 1); c[5] = _mm256_extractf128_ps(s1, 1);
    c[6] = _mm256_extractf128_ps(s2, 1); c[7] = _mm256_extractf128_ps(s3, 1);
}

TARGET static inline __m256 load8_f16(const unsigned short *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
TARGET static inline __m256 load8_f32(const float *p) { return _mm256_loadu_ps(p); }
TARGET static inline float load1_f16(const unsigned short *p) { return _cvtsh_ss(*p); }
TARGET static inline float load1_f32(const float *p) { return *p; }

// One body for both element types: rows in groups of 8 (full transpose), then 4, then one at a time;
// K in steps of 8, the K tail element by element.
#define PACK_BODY(LOAD8, LOAD1)                                                                  \
    long r = 0;                                                                                  \
    for (; r + 8 <= count; r += 8) {                                                             \
        long p = 0;                                                                              \
        for (; p + 8 <= kc; p += 8) {                                                            \
            __m256 v[8];                                                                         \
            for (int i = 0; i < 8; i++) v[i] = LOAD8(src + (r + i) * ld + p);                    \
            transpose8(v);                                                                       \
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (p + j) * width + r, v[j]);       \
        }                                                                                        \
        for (; p < kc; p++)                                                                      \
            for (int i = 0; i < 8; i++) dst[p * width + r + i] = LOAD1(src + (r + i) * ld + p);  \
    }                                                                                            \
    for (; r + 4 <= count; r += 4) {                                                             \
        long p = 0;                                                                              \
        for (; p + 8 <= kc; p += 8) {                                                            \
            __m256 v[4];                                                                         \
            __m128 c[8];                                                                         \
            for (int i = 0; i < 4; i++) v[i] = LOAD8(src + (r + i) * ld + p);                    \
            transpose4x8(v, c);                                                                  \
            for (int j = 0; j < 8; j++) _mm_storeu_ps(dst + (p + j) * width + r, c[j]);          \
        }                                                                                        \
        for (; p < kc; p++)                                                                      \
            for (int i = 0; i < 4; i++) dst[p * width + r + i] = LOAD1(src + (r + i) * ld + p);  \
    }                                                                                            \
    for (; r < count; r++) {                                                                     \
        long p = 0;                                                                              \
        for (; p + 8 <= kc; p += 8) {                                                            \
            float t[8];                                                                          \
            _mm256_storeu_ps(t, LOAD8(src + r * ld + p));                                        \
            for (int j = 0; j < 8; j++) dst[(p + j) * width + r] = t[j];                         \
        }                                                                                        \
        for (; p < kc; p++) dst[p * width + r] = LOAD1(src + r * ld + p);                        \
    }

TARGET void diffuse_pack_f16_panel(const unsigned short *src, long ld, long count, long width, long kc, float *dst) {
    PACK_BODY(load8_f16, load1_f16)
}

TARGET void diffuse_pack_f32_panel(const float *src, long ld, long count, long width, long kc, float *dst) {
    PACK_BODY(load8_f32, load1_f32)
}

#else
// Portable fallback (no x86 intrinsics): the same layout, element by element.
static float half_to_float(unsigned short h) {
    unsigned int sign = (unsigned int)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (man == 0) bits = sign;
    else { union { float f; unsigned int u; } v; v.f = (float)man * 0x1p-24f; bits = sign | v.u; }
    union { unsigned int u; float f; } out; out.u = bits; return out.f;
}

void diffuse_pack_f16_panel(const unsigned short *src, long ld, long count, long width, long kc, float *dst) {
    for (long r = 0; r < count; r++)
        for (long p = 0; p < kc; p++) dst[p * width + r] = half_to_float(src[r * ld + p]);
}

void diffuse_pack_f32_panel(const float *src, long ld, long count, long width, long kc, float *dst) {
    for (long r = 0; r < count; r++)
        for (long p = 0; p < kc; p++) dst[p * width + r] = src[r * ld + p];
}
#endif
