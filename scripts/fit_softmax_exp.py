"""Coefficients of the attention softmax's float exp (Sources/CDiffuseCPU/softmaxexp.c, `softmaxExp*`).

exp(r) = 1 + r + r^2 * q(r) on |r| <= ln2/2, q of degree 4 (degree 6 in all), fitted for minimal relative
error by Lawson's iteratively reweighted least squares (converges to the minimax fit), coefficients rounded
to float32. Prints them as C hex floats and the fit's relative error in float32 ulps (2^-23), before the
rounding of the float evaluation. Run: .venv/bin/python scripts/fit_softmax_exp.py
"""
import numpy as np

half = np.log(2.0) / 2
r = np.cos(np.linspace(0, np.pi, 4001)) * half           # Chebyshev-spaced points
r = r[np.abs(r) > 1e-6]
target = (np.exp(r) - 1 - r) / r**2                      # q(r) exactly
basis = np.vander(r, 5, increasing=True)                 # 1, r, ..., r^4
# Relative error of exp: (r^2 (q_fit - q)) / exp(r); weight the residual of q accordingly.
scale = r**2 / np.exp(r)
w = np.ones_like(r)
for _ in range(200):
    A = basis * (scale * np.sqrt(w))[:, None]
    b = target * scale * np.sqrt(w)
    c, *_ = np.linalg.lstsq(A, b, rcond=None)
    err = np.abs((basis @ c - target) * scale)
    w = w * err / np.sum(w * err)
c32 = c.astype(np.float32).astype(np.float64)
rel = np.max(np.abs((basis @ c32 - target) * scale))
print("q coefficients (c0..c4):")
for v in c.astype(np.float32):
    print(f"  {float(v).hex()}f  // {float(v):.9g}")
print(f"max relative error of the fit with float32 coefficients: {rel:.3g} = {rel / 2**-23:.3f} ulp")
