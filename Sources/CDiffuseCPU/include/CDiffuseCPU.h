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

#endif
