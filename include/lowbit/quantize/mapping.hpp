// lowbit/quantize/mapping.hpp — from a value range [lo, hi] to a scale and zero point.
//
// mapping::symmetric  : s = max(|lo|, |hi|) / qmax, z = 0, q = clamp(R(x / s), qmin, qmax)
//                       qmax = the format's max_value (127 int8, 7 int4, 448 e4m3fn, 6 e2m1,
//                       1 nf4); integer codes keep the full range [qmin, qmax].
// mapping::asymmetric : integer formats only; an integer zero point (or offset, KIVI)
//
// Each reference repository rounds the details differently; `convention` picks one so that
// codes match it bit for bit (research/algorithms.md §0). x / s is a float32 division in every
// convention, as in the PyTorch references.
//   convention::lowbit       sym: s = absmax/qmax.  asym: range widened to include 0,
//                            s = (hi−lo)/(qmax−qmin), z = qmin + R(−lo/s).  A zero range gives
//                            s = 1 (every code 0 / z, exact zeros).
//   convention::gptq         IST-DASLab/gptq quant.py. asym: as lowbit, but a zero range
//                            becomes [−1, 1]. sym (unsigned formats): s = 2·absmax/qmax,
//                            z = (qmax+1)/2 (8 for uint4), codes in [0, qmax].
//   convention::awq          llm-awq pseudo_quantize_tensor. asym: range NOT widened to 0,
//                            s = max(hi−lo, 1e-5)/(qmax−qmin), z = clamp(−R(lo/s), 0, qmax−qmin)
//                            (+qmin). sym: s = max(absmax, 1e-5)/qmax.
//   convention::kivi         KIVI new_pack.py. asym: s = (hi−lo)/(qmax−qmin), float offset
//                            m = lo, q = clamp(R((x − m)/s)), x̂ = q·s + m (signed formats
//                            store q + qmin and subtract it back); a constant group
//                            (hi = lo) gets s = 1 so it reconstructs exactly (the reference
//                            divides 0/0 there).
//   convention::smoothquant  sym: s = max(absmax, 1e-5)/qmax (fake_quant.py).
// QuaRot's symmetric quantizer is convention::lowbit; bitsandbytes' vector-wise int8 is
// convention::lowbit with int8 (s = absmax/127; it multiplies by 127/absmax, which can
// differ from x/s in the last bit at exact ties).
#pragma once

namespace lowbit {

enum class mapping { symmetric, asymmetric };
enum class convention { lowbit, gptq, awq, kivi, smoothquant };

inline const char* to_string(mapping m) { return m == mapping::symmetric ? "symmetric" : "asymmetric"; }
inline const char* to_string(convention c) {
  switch (c) {
    case convention::lowbit: return "lowbit";
    case convention::gptq: return "gptq";
    case convention::awq: return "awq";
    case convention::kivi: return "kivi";
    case convention::smoothquant: return "smoothquant";
  }
  return "?";
}

}  // namespace lowbit
