"""numpy/OpenBLAS sgemm timings for the shapes diffuse-bench-kernels measures (run by it, one shape per call).

Usage: numpy_gemm.py M N K REPS  ->  prints one line: "<best GFLOP/s> <openblas config>"
C[M, N] = A[M, K] @ B[N, K].T in float32, like the Swift gemmNT; best of REPS after one warm-up.
"""
import sys
import time

import numpy as np


def main() -> None:
    m, n, k, reps = (int(v) for v in sys.argv[1:5])
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b.T, out=c)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        np.matmul(a, b.T, out=c)
        best = min(best, time.perf_counter() - t)
    print(f"{2 * m * n * k / best / 1e9:.2f} {openblas_config()}")


def openblas_config() -> str:
    """Core type and thread count of numpy's bundled OpenBLAS (the label is informational only)."""
    import ctypes
    import glob
    import os

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so"))
    if not libs:
        return "openblas:unknown"
    lib = ctypes.CDLL(libs[0])
    lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    core = lib.scipy_openblas_get_corename64_().decode()
    return f"openblas:{core}:threads={lib.scipy_openblas_get_num_threads64_()}"


if __name__ == "__main__":
    main()
