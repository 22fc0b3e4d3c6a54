#ifndef CDIFFUSECPU_H
#define CDIFFUSECPU_H

/// 1 when the CPU and the OS support the AVX-512 subset that `-target-cpu skylake-avx512` code may use
/// (F, CD, BW, DQ, VL, with ZMM and opmask state enabled by the OS); 0 otherwise and on non-x86 hosts.
int diffuse_cpu_has_avx512(void);

#endif
