#!/usr/bin/env python3
"""Golden values for tests/observer: reference algorithms re-run in numpy/scipy.

  gptq_clip.txt   IST-DASLab/gptq quant.py Quantizer.find_params(mse=True, norm=2.4, grid=100,
                  maxshrink=0.8), per row (perchannel=True, weight=True), 4-bit and 2-bit
                  asymmetric and 4-bit symmetric; every torch op mirrored with float32 numpy ops
                  (x/scale, round half-even, clamp, |err|**2.4, float32 sum).
  percentile.txt  numpy.quantile(..., method="linear") of |x| and of x (both tails).
  histogram.txt   ModelOpt HistogramCalibrator.compute_amax (modelopt/torch/quantization/calib/
                  histogram.py) for entropy, percentile and mse, over a |x| histogram collected
                  batch by batch with lowbit's documented binning (observer/entropy.hpp).

Usage: python3 tests/observer/make_observer_golden.py   (needs numpy and scipy from PyPI)
Values are written as Python float.hex() strings so the C++ side reads them exactly.
"""
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import entropy

OUT = Path(__file__).resolve().parent / "data"
f32 = np.float32


def hexs(a):
    return " ".join(float(v).hex() for v in np.asarray(a, dtype=np.float64).ravel())


def put(fh, key, a):
    a = np.asarray(a).ravel()
    fh.write(f"{key} {a.size} {hexs(a)}\n")


# ---------------------------------------------------------------- GPTQ clip search
def gptq_find_params(x, bits, sym, norm=2.4, grid=100, maxshrink=0.8):
    """quant.py find_params for a 2-D weight, perchannel, mse=True, in float32."""
    x = x.astype(f32)
    maxq = f32(2 ** bits - 1)
    zeros = np.zeros(x.shape[0], dtype=f32)
    xmin = np.minimum(x.min(1), zeros)
    xmax = np.maximum(x.max(1), zeros)
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax)
        neg = xmin < 0
        xmin[neg] = -xmax[neg]
    both0 = (xmin == 0) & (xmax == 0)
    xmin[both0] = -1
    xmax[both0] = +1
    scale = ((xmax - xmin) / maxq).astype(f32)
    if sym:
        zero = np.full_like(scale, (maxq + 1) / 2)
    else:
        zero = np.round(-xmin / scale).astype(f32)
    best = np.full(x.shape[0], np.inf, dtype=f32)
    for i in range(int(maxshrink * grid)):
        p = f32(1 - i / grid)  # python float, cast to the tensor dtype by torch
        xmin1 = (p * xmin).astype(f32)
        xmax1 = (p * xmax).astype(f32)
        scale1 = ((xmax1 - xmin1) / maxq).astype(f32)
        zero1 = np.round(-xmin1 / scale1).astype(f32) if not sym else zero
        q = np.clip(np.round(x / scale1[:, None]) + zero1[:, None], 0, maxq).astype(f32)
        q = (scale1[:, None] * (q - zero1[:, None])).astype(f32)
        q = q - x
        q = np.abs(q)
        q = np.power(q, f32(norm)).astype(f32)
        err = q.sum(1, dtype=f32)
        better = err < best
        best[better] = err[better]
        scale[better] = scale1[better]
        zero[better] = zero1[better]
    return scale, zero


def make_gptq(rng, fh):
    rows, cols = 12, 64
    w = rng.standard_normal((rows, cols)).astype(f32) * f32(0.05)
    w[1] *= f32(10)
    w[2, 5] = f32(0.9)          # one outlier: clipping pays off
    w[3, :] = 0                 # zero row -> [-1, 1]
    w[4] = np.abs(w[4])         # all >= 0 (asymmetric only: GPTQ sym clips it, see quantizer docs)
    w[5] = rng.laplace(size=cols).astype(f32) * f32(0.02)
    w[6, :8] = f32(-0.3)
    put(fh, "gptq.w", w)
    fh.write(f"gptq.shape 2 {float(rows).hex()} {float(cols).hex()}\n")
    for bits in (4, 2):
        s, z = gptq_find_params(w, bits, sym=False)
        put(fh, f"gptq.asym{bits}.scale", s)
        put(fh, f"gptq.asym{bits}.zero", z)
    s, z = gptq_find_params(w, 4, sym=True)
    put(fh, "gptq.sym4.scale", s)
    put(fh, "gptq.sym4.zero", z)


# ---------------------------------------------------------------- percentile
def make_percentile(rng, fh):
    x = (rng.standard_normal(1000) * 0.7).astype(f32)
    x[17] = f32(9.5)
    x[400] = f32(-7.0)
    put(fh, "pct.x", x)
    for p in (99.9, 90.0, 50.0, 100.0):
        tag = str(p).replace(".", "_")
        put(fh, f"pct.sym.{tag}", [np.quantile(np.abs(x).astype(np.float64), p / 100, method="linear")])
        put(fh, f"pct.lo.{tag}", [np.quantile(x.astype(np.float64), 1 - p / 100, method="linear")])
        put(fh, f"pct.hi.{tag}", [np.quantile(x.astype(np.float64), p / 100, method="linear")])


# ---------------------------------------------------------------- histogram calibration
def collect(batches, num_bins):
    """lowbit's binning (observer/entropy.hpp): width fixed by the first batch, bins appended."""
    width, counts = 0.0, None
    for b in batches:
        a = np.abs(b.astype(f32)).astype(np.float64)
        m = a.max()
        if width == 0.0:
            width = m / num_bins
            counts = np.zeros(num_bins, dtype=np.int64)
        elif m > width * counts.size:
            counts = np.concatenate([counts, np.zeros(int(np.ceil(m / width)) - counts.size, dtype=np.int64)])
        idx = np.minimum(np.floor(a / width), counts.size - 1).astype(np.int64)
        counts += np.bincount(idx, minlength=counts.size)
    edges = (np.arange(counts.size + 1, dtype=np.float64) * width).astype(f32)
    return counts, edges


def amax_entropy(calib_hist, calib_bin_edges, num_bits=8, unsigned=False, stride=1, start_bin=128):
    """ModelOpt _compute_amax_entropy, step by step (on a copy of the histogram)."""
    bins = np.array(calib_hist[:])
    bins[0] = bins[1]
    total_data = np.sum(bins)
    divergences = []
    nbins = 1 << (num_bits - 1 + int(unsigned))
    stop = len(bins)
    new_density_counts = np.zeros(nbins, dtype=np.float64)
    for i in range(start_bin, stop + 1, stride):
        new_density_counts.fill(0)
        space = np.linspace(0, i, num=nbins + 1)
        digitized_space = np.digitize(range(i), space) - 1
        digitized_space[bins[:i] == 0] = -1
        for idx, d in enumerate(digitized_space):
            if d != -1:
                new_density_counts[d] += bins[idx]
        counter = Counter(digitized_space)
        for key, val in counter.items():
            if key != -1:
                new_density_counts[key] = new_density_counts[key] / val
        new_density = np.zeros(i, dtype=np.float64)
        for idx, d in enumerate(digitized_space):
            if d != -1:
                new_density[idx] = new_density_counts[d]
        reference_density = np.array(bins[: len(digitized_space)])
        reference_density[-1] += np.sum(bins[i:])
        assert round(np.sum(new_density) + np.sum(bins[i:])) == total_data
        divergences.append(entropy(reference_density, new_density))
    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    order = np.sort(divergences[np.isfinite(divergences)])
    margin = (order[1] - order[0]) / max(order[0], 1e-300) if order.size > 1 else np.inf
    return calib_bin_edges[last_argmin * stride + start_bin], margin


def amax_percentile(calib_hist, calib_bin_edges, percentile):
    total = calib_hist.sum()
    cdf = np.cumsum(calib_hist / total)
    idx = np.searchsorted(cdf, percentile / 100)
    return calib_bin_edges[idx]


def amax_mse(calib_hist, calib_bin_edges, num_bits=8, unsigned=False, stride=1, start_bin=128):
    """ModelOpt _compute_amax_mse with fake_tensor_quant in float32 (loss summed in float64)."""
    counts = calib_hist.astype(np.float64)
    edges = calib_bin_edges.astype(f32)
    centers = ((edges[1:] + edges[:-1]) / f32(2)).astype(f32)
    max_bound = f32(2.0 ** (num_bits - 1 + int(unsigned)) - 1.0)
    min_bound = f32(0) if unsigned else -max_bound - f32(1)
    mses = []
    for i in range(start_bin, len(centers), stride):
        scale = f32(max_bound / centers[i])
        q = np.clip(np.round((centers * scale).astype(f32)), min_bound, max_bound).astype(f32)
        q = (q / scale).astype(f32)
        mses.append(np.mean((q.astype(np.float64) - centers.astype(np.float64)) ** 2 * counts))
    mses = np.array(mses)
    order = np.sort(mses)
    margin = (order[1] - order[0]) / max(order[0], 1e-300)
    return centers[start_bin + int(np.argmin(mses)) * stride], margin


def make_histogram(rng, fh):
    b1 = (rng.standard_normal(6000) * 1.0).astype(f32)
    b2 = (rng.laplace(size=3000) * 0.8).astype(f32)
    b2[0] = f32(7.5)                     # grows the histogram
    b3 = (rng.standard_normal(4000) * 1.3).astype(f32)
    b3[11] = f32(-11.25)                 # grows it again
    for k, b in enumerate((b1, b2, b3)):
        put(fh, f"hist.batch{k}", b)
    counts, edges = collect((b1, b2, b3), 2048)
    put(fh, "hist.counts", counts)
    put(fh, "hist.edges", edges)
    for bits in (8, 4):
        a, margin = amax_entropy(counts, edges, num_bits=bits)
        assert margin > 1e-9, margin
        put(fh, f"hist.entropy{bits}", [a])
    for p in (99.99, 99.9, 99.0, 100.0):
        put(fh, f"hist.percentile.{str(p).replace('.', '_')}", [amax_percentile(counts, edges, p)])
    a, margin = amax_mse(counts, edges, num_bits=8)
    assert margin > 1e-9, margin
    put(fh, "hist.mse8", [a])


def main():
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(20261122)
    with open(OUT / "gptq_clip.txt", "w") as fh:
        make_gptq(rng, fh)
    with open(OUT / "percentile.txt", "w") as fh:
        make_percentile(rng, fh)
    with open(OUT / "histogram.txt", "w") as fh:
        make_histogram(rng, fh)


if __name__ == "__main__":
    main()
