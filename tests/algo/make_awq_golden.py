#!/usr/bin/env python3
"""Golden outputs of the published AWQ search for tests/algo/awq_test.cpp.

mit-han-lab/llm-awq (snapshot d6e797a42b9e) `awq/quantize/auto_scale.py: _search_module_scale`,
`auto_clip.py: auto_clip_layer` and `quantizer.py: pseudo_quantize_tensor` (zero_point=True),
re-typed step by step from shared/research/algorithms.md §2 in float32 torch, for ONE linear
y = x·Wᵀ (module2inspect = the linear itself), w_bit 4, q_group_size 64.

Inputs come from the 64-bit LCG of make_gptq_golden.py (re-implemented in awq_test.cpp):
W[n][k] = i/1024, i in [-1000, 1000]; X[t][k] = v/16 · mag_k with v in [-16, 16] and per-channel
magnitudes mag_k in {1, 2, 4, 8, 16, 32} (a few salient channels, as AWQ assumes), T = 1024
tokens (clip subsampling stride 1024 // 512 = 2).

Run:  python3 tests/algo/make_awq_golden.py > tests/algo/data/awq_golden.txt
"""
import sys
import torch

torch.set_num_threads(1)
N, K, T, GS, BITS = 64, 256, 1024, 64, 4


class Lcg:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self.s >> 33

    def int(self, lo, hi):
        return lo + self.next() % (hi - lo + 1)


def inputs():
    g = Lcg(77)
    W = torch.tensor([[g.int(-1000, 1000) / 1024.0 for _ in range(K)] for _ in range(N)], dtype=torch.float32)
    mags = [1, 1, 1, 2, 2, 4, 8, 16, 32]
    mag = [mags[g.int(0, len(mags) - 1)] for _ in range(K)]
    X = torch.tensor([[g.int(-16, 16) / 16.0 * mag[k] for k in range(K)] for _ in range(T)], dtype=torch.float32)
    return W, X


def pseudo_quantize_tensor(w, n_bit=4, q_group_size=-1):
    org_w_shape = w.shape
    if q_group_size > 0:
        assert org_w_shape[-1] % q_group_size == 0
        w = w.reshape(-1, q_group_size)
    max_val = w.amax(dim=1, keepdim=True)
    min_val = w.amin(dim=1, keepdim=True)
    max_int = 2 ** n_bit - 1
    min_int = 0
    scales = (max_val - min_val).clamp(min=1e-5) / max_int
    zeros = (-torch.round(min_val / scales)).clamp_(min_int, max_int)
    codes = torch.clamp(torch.round(w / scales) + zeros, min_int, max_int)
    w = (codes - zeros) * scales
    return w.reshape(org_w_shape), codes.reshape(org_w_shape)


def w_quantize(w):
    return pseudo_quantize_tensor(w, BITS, GS)[0]


def search_module_scale(fc, x):  # block = the linear itself
    x_max = x.abs().view(-1, x.shape[-1]).mean(0)  # get_act_scale
    org_out = x @ fc.T
    n_grid = 20
    history = []
    best_error = float('inf')
    best_ratio = -1
    best_scales = None
    for ratio in range(n_grid):
        ratio = ratio * 1 / n_grid
        scales = x_max.pow(ratio).clamp(min=1e-4).view(-1)
        scales = scales / (scales.max() * scales.min()).sqrt()
        w = fc * scales.view(1, -1)
        w = w_quantize(w) / scales.view(1, -1)
        out = x @ w.T
        loss = (org_out - out).float().pow(2).mean().item()
        history.append(loss)
        if loss < best_error:
            best_error = loss
            best_ratio = ratio
            best_scales = scales
    assert best_ratio != -1
    return best_scales, best_ratio, history


def auto_clip_layer(w, input_feat, n_grid=20, max_shrink=0.5, n_sample_token=512):
    group_size = GS
    input_feat = input_feat.view(-1, input_feat.shape[-1])
    input_feat = input_feat.reshape(1, input_feat.shape[0], -1, group_size)
    input_feat = input_feat[:, 0::input_feat.shape[1] // n_sample_token]
    w = w.reshape(w.shape[0], 1, -1, group_size)
    oc_batch_size = 256 if w.shape[0] % 256 == 0 else 64
    assert w.shape[0] % oc_batch_size == 0
    w_all = w
    best_max_val_all = []
    for i_b in range(w.shape[0] // oc_batch_size):
        w = w_all[i_b * oc_batch_size:(i_b + 1) * oc_batch_size]
        org_max_val = w.abs().amax(dim=-1, keepdim=True)
        best_max_val = org_max_val.clone()
        min_errs = torch.ones_like(org_max_val) * 1e9
        org_out = (input_feat * w).sum(dim=-1)
        for i_s in range(int(max_shrink * n_grid)):
            max_val = org_max_val * (1 - i_s / n_grid)
            min_val = -max_val
            cur_w = torch.clamp(w, min_val, max_val)
            q_w = w_quantize(cur_w)
            cur_out = (input_feat * q_w).sum(dim=-1)
            err = (cur_out - org_out).pow(2).mean(dim=1).view(min_errs.shape)
            cur_best_idx = err < min_errs
            min_errs[cur_best_idx] = err[cur_best_idx]
            best_max_val[cur_best_idx] = max_val[cur_best_idx]
        best_max_val_all.append(best_max_val)
    return torch.cat(best_max_val_all, dim=0).squeeze(1)  # co, n_group, 1


def main():
    W, X = inputs()
    scales, ratio, history = search_module_scale(W, X)
    Ws = W * scales.view(1, -1)          # apply_scale: fc.weight *= s
    Xs = X / scales.view(1, -1)          # input_feat /= s
    max_val = auto_clip_layer(Ws, Xs).reshape(N, -1)
    Wc = Ws.reshape(N, -1, GS)
    Wc = torch.clamp(Wc, -max_val.unsqueeze(-1), max_val.unsqueeze(-1)).reshape(N, K)
    _, codes = pseudo_quantize_tensor(Wc, BITS, GS)
    out = sys.stdout
    out.write("# awq golden v1: llm-awq search re-typed in torch %s (float32, 1 thread)\n" % torch.__version__)
    out.write("# N %d K %d T %d group %d bits %d\n" % (N, K, T, GS, BITS))
    out.write("ratio %.17g\n" % ratio)
    out.write("losses %s\n" % " ".join("%.17g" % v for v in history))
    out.write("scales %s\n" % " ".join(float(v).hex() for v in scales.tolist()))
    for n in range(N):
        out.write("clip %s\n" % " ".join(float(v).hex() for v in max_val[n].tolist()))
    for n in range(N):
        out.write("codes %s\n" % "".join("%x" % int(v) for v in codes[n].tolist()))
    out.write("end\n")


if __name__ == "__main__":
    main()
