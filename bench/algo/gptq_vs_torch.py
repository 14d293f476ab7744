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
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "algo"))
import make_gptq_golden as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--act-order", action="store_true")
    ap.add_argument("--factor-float", action="store_true", help="lowbit factorizes H in float32 (default float64)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    N = K = a.n
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

    qz = ref.Quantizer()
    qz.configure(4, perchannel=True, sym=False)
    t0, c0 = time.perf_counter(), time.process_time()
    Q, C, S, Z, g_idx, losses = ref.fasterquant(W, H, qz, blocksize=128, groupsize=128, actorder=a.act_order)
    t_torch, c_torch = time.perf_counter() - t0, time.process_time() - c0

    env = dict(os.environ, LOWBIT_GPTQ_INPUT=inp, LOWBIT_GPTQ_OUTPUT=out, OMP_NUM_THREADS=str(a.threads))
    if a.act_order:
        env["LOWBIT_GPTQ_ACT_ORDER"] = "1"
    if a.factor_float:
        env["LOWBIT_GPTQ_FACTOR_FLOAT"] = "1"
    res = subprocess.run([a.bench, "--benchmark_filter=BM_gptq_w4_g128|BM_gemm_baseline",
                          "--benchmark_format=json"], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout, res.stderr)
        sys.exit(1)
    import json
    runs = [b for b in json.loads(res.stdout)["benchmarks"] if b.get("run_type") == "iteration"]
    def best(prefix):
        return min((b for b in runs if b["name"].startswith(prefix)), key=lambda b: b["real_time"])
    g, mm = best("BM_gptq_w4_g128"), best("BM_gemm_baseline")
    unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}
    t_lowbit = g["real_time"] * unit[g["time_unit"]]
    c_lowbit = g["cpu_time"] * unit[g["time_unit"]]
    c_gemm = mm["cpu_time"] * unit[mm["time_unit"]]
    print("lowbit counters: status %d, loss %.6g, memory model %.1f MiB (N*K + K*K = %.0f floats), peak RSS %.1f MiB"
          % (g["status"], g["loss"], g["mem_model_MiB"], g["mem_NK_K2_floats"], g["peak_rss_MiB"]))
    print("Eigen float GEMM %dx%dx%d baseline: %.3f s CPU (%.1f GFLOP/s)" % (N, K, K, c_gemm, mm["GFLOPS"] / 1e9))
    codes = torch.frombuffer(bytearray(open(out, "rb").read()), dtype=torch.uint8).reshape(N, K)
    agree = float((codes.to(torch.int64) == C.to(torch.int64)).double().mean())
    Dl = W.double() - Q.double()
    # The build machines are shared: CPU time of the (single) working thread is the fair measure;
    # wall time is printed too.
    print("torch %s reference fasterquant (%d thread%s): %.3f s CPU, %.3f s wall"
          % (torch.__version__, a.threads, "" if a.threads == 1 else "s", c_torch, t_torch))
    print("lowbit gptq (OMP_NUM_THREADS=%d, factor %s): %.3f s CPU, %.3f s wall"
          % (a.threads, "float32" if a.factor_float else "float64", c_lowbit, t_lowbit))
    print("speed-up lowbit vs torch: %.2fx CPU time, %.2fx wall   (in GEMM units: lowbit %.2f, torch %.2f)"
          % (c_torch / c_lowbit, t_torch / t_lowbit, c_lowbit / c_gemm, c_torch / c_gemm))
    print("identical codes: %.5f%% of %d" % (100 * agree, N * K))
    print("reference layer loss tr((W-Q)H(W-Q)^T) = %.6g" % float(torch.sum((Dl @ H.double()) * Dl)))


if __name__ == "__main__":
    main()
