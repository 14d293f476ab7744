#!/usr/bin/env python3
"""lowbit GPTQ vs the PyTorch reference algorithm, same inputs, same thread count, same run.

  python3 bench/algo/gptq_vs_torch.py --bench build-gptq/bench/lowbit_algo_bench [--n 4096] [--threads 1]

Makes W (N × K, 0.02·randn) and H = (2/T)·XᵀX (T = K tokens, a shared factor mixing the
channels) with torch, writes them for the C++ benchmark (LOWBIT_GPTQ_INPUT: int64 N, int64 K,
float32 W, float32 H), runs IST-DASLab/gptq fasterquant as re-typed in
tests/algo/make_gptq_golden.py (W4 asymmetric, per-channel groups of 128, block 128,
percdamp 0.01) under torch.set_num_threads(threads), then BM_gptq_w4_g128 with
OMP_NUM_THREADS=threads, and prints both times, the speed-up and the code agreement.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "algo"))
import make_gptq_golden as ref  # noqa: E402


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])


def run_lowbit(a, inp, out, factor, threads):
    """BM_gptq_w4_g128 + BM_gemm_baseline, a.reps repetitions; medians of CPU and wall time."""
    env = dict(os.environ, LOWBIT_GPTQ_INPUT=inp, LOWBIT_GPTQ_OUTPUT=out, OMP_NUM_THREADS=str(threads))
    if a.act_order:
        env["LOWBIT_GPTQ_ACT_ORDER"] = "1"
    if factor == "float32":
        env["LOWBIT_GPTQ_FACTOR_FLOAT"] = "1"
    res = subprocess.run([a.bench, "--benchmark_filter=BM_gptq_w4_g128|BM_gemm_baseline",
                          "--benchmark_repetitions=%d" % a.reps, "--benchmark_format=json"],
                         env=env, capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout, res.stderr)
        sys.exit(1)
    runs = [b for b in json.loads(res.stdout)["benchmarks"] if b.get("run_type") == "iteration"]
    unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}

    def med(prefix, key):
        return median([b[key] * unit[b["time_unit"]] for b in runs if b["name"].startswith(prefix)])
    g = [b for b in runs if b["name"].startswith("BM_gptq_w4_g128")][-1]
    gemm = [b for b in runs if b["name"].startswith("BM_gemm_baseline")][-1]
    codes = torch.frombuffer(bytearray(open(out, "rb").read()), dtype=torch.uint8).reshape(g_shape[0], g_shape[1])
    return dict(cpu=med("BM_gptq_w4_g128", "cpu_time"), wall=med("BM_gptq_w4_g128", "real_time"),
                gemm_cpu=med("BM_gemm_baseline", "cpu_time"), gflops=gemm["GFLOPS"] / 1e9, counters=g, codes=codes)


g_shape = (0, 0)


def agree(a, b):
    return 100.0 * float((a.to(torch.int64) == b.to(torch.int64)).double().mean())


def main():
    global g_shape
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each timed run (medians are printed)")
    ap.add_argument("--act-order", action="store_true")
    ap.add_argument("--factors", default="float64,float32",
                    help="lowbit factorization precisions to run (gptq_options::factor_in_double)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    N = K = a.n
    g_shape = (N, K)
    W = 0.02 * torch.randn(N, K)
    X = torch.randn(K, K)
    X[:, 1:] += 0.5 * X[:, :1]
    H = (2.0 / K) * (X.T @ X)
    del X
    tmp = tempfile.mkdtemp()
    inp, out = os.path.join(tmp, "in.bin"), os.path.join(tmp, "codes.bin")
    with open(inp, "wb") as f:
        f.write(torch.tensor([N, K], dtype=torch.int64).numpy().tobytes())
        f.write(W.numpy().tobytes())
        f.write(H.numpy().tobytes())

    def reference(dtype):
        qz = ref.Quantizer()
        qz.configure(4, perchannel=True, sym=False)
        return ref.fasterquant(W, H, qz, blocksize=128, groupsize=128, actorder=a.act_order, dtype=dtype)

    # The reference as published (float32), timed; the build machines are shared, so the CPU time
    # of the (single) working thread is the fair measure; wall time is printed too.
    t_torch, c_torch = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        Q, C, S, Z, g_idx, losses = reference(torch.float32)
        t_torch.append(time.perf_counter() - t0)
        c_torch.append(time.process_time() - c0)
    # The same operations in float64 (not timed): how far float32 rounding alone moves the codes.
    torch.set_default_dtype(torch.float64)
    Q64, C64 = reference(torch.float64)[:2]
    torch.set_default_dtype(torch.float32)

    lb = {f: run_lowbit(a, inp, out, f, a.threads) for f in a.factors.split(",")}
    first = lb[a.factors.split(",")[0]]
    k = first["counters"]
    print("%d x %d, W4 asymmetric g128, block 128, percdamp 0.01, act_order %d; medians of %d runs; load %s"
          % (N, K, int(a.act_order), a.reps, open("/proc/loadavg").read().split()[:3]))
    print("lowbit counters: status %d, loss %.6g, memory model %.1f MiB (N*K + K*K = %.0f floats), peak RSS %.1f MiB"
          % (k["status"], k["loss"], k["mem_model_MiB"], k["mem_NK_K2_floats"], k["peak_rss_MiB"]))
    print("Eigen float GEMM %dx%dx%d baseline: %.3f s CPU (%.1f GFLOP/s)"
          % (N, K, K, first["gemm_cpu"], first["gflops"]))
    ct, tt = median(c_torch), median(t_torch)
    print("torch %s reference fasterquant float32 (%d thread%s): %.3f s CPU, %.3f s wall"
          % (torch.__version__, a.threads, "" if a.threads == 1 else "s", ct, tt))
    for f, r in lb.items():
        print("lowbit gptq (OMP_NUM_THREADS=%d, factor %s): %.3f s CPU, %.3f s wall   speed-up vs torch: %.2fx CPU, "
              "%.2fx wall   (in GEMM units: lowbit %.2f, torch %.2f)"
              % (a.threads, f, r["cpu"], r["wall"], ct / r["cpu"], tt / r["wall"], r["cpu"] / r["gemm_cpu"],
                 ct / r["gemm_cpu"]))
    print("identical codes (of %d):" % (N * K))
    print("  torch-f32 vs torch-f64 (float32 rounding alone): %.5f%%" % agree(C, C64))
    for f, r in lb.items():
        print("  lowbit (factor %s) vs torch-f32: %.5f%%   vs torch-f64: %.5f%%"
              % (f, agree(r["codes"], C), agree(r["codes"], C64)))
    for name, Qx in (("torch-f32", Q), ("torch-f64", Q64)):
        Dl = W.double() - Qx.double()
        print("%s layer loss tr((W-Q)H(W-Q)^T) = %.6g" % (name, float(torch.sum((Dl @ H.double()) * Dl))))


if __name__ == "__main__":
    main()
