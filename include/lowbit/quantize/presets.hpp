// lowbit/quantize/presets.hpp — the recipes users know by name, as configured quantizers.
//
//   presets::w8a8()          {weight, activation}: int8 symmetric, weights per output channel
//                            (per_channel(0), absmax/127), activations per token, fitted on
//                            each call (dynamic; SmoothQuant/vLLM "W8A8 int8")
//   presets::w4a16_g128()    uint4 asymmetric, groups of 128 along K, min/max range, GPTQ's
//                            convention (scale (max−min)/15, integer zero) — the GPTQ/AWQ
//                            checkpoint recipe; activations stay in 16-bit
//   presets::fp8_block128()  {weight, activation}: e4m3fn, 128×128 weight tiles and 1×128
//                            activation tiles, fp32 scales = DeepSeek-V3 weight_scale_inv
//                            (W ≈ W_fp8 · scale), ceil(N/128) × ceil(K/128) of them
//   presets::mxfp8(rule)     e4m3fn elements, blocks of 32 along K, e8m0 scale (OCP MX v1.0)
//   presets::mxfp4(rule)     e2m1 elements, blocks of 32, e8m0 scale; rule = floor (OCP),
//                            ceil, even or rceil (torchao ScaleCalculationMode)
//   presets::nvfp4()         e2m1 elements, blocks of 16, ue4m3 block scale and an fp32 tensor
//                            scale amax/(448·6)
//   presets::nf4()           bitsandbytes NF4: blocks of 64 along K, absmax fp32 scale
// Each returns an ordinary quantizer (or a pair of them); change its options for variants.
#pragma once

#include "../format/float4.hpp"
#include "../format/float8.hpp"
#include "../format/int.hpp"
#include "../format/nf4.hpp"
#include "../format/scale.hpp"
#include "../granularity/granularity.hpp"
#include "../observer/observer.hpp"
#include "mapping.hpp"
#include "quantizer.hpp"

namespace lowbit {
namespace presets {

template <class W, class A>
struct weight_activation {
  W weight;
  A activation;
};

using w8a8_quantizers = weight_activation<quantizer<int8>, quantizer<int8>>;
using w4a16_quantizer = quantizer<uint4>;
using fp8_block_quantizers = weight_activation<quantizer<float8_e4m3fn>, quantizer<float8_e4m3fn>>;
using mxfp8_quantizer = quantizer<float8_e4m3fn, float8_e8m0fnu>;
using mxfp4_quantizer = quantizer<float4_e2m1fn, float8_e8m0fnu>;
using nvfp4_quantizer = quantizer<float4_e2m1fn, float8_ue4m3>;
using nf4_quantizer = quantizer<lowbit::nf4>;

inline w8a8_quantizers w8a8() {
  return {quantizer<int8>({per_channel(0), mapping::symmetric, convention::lowbit, absmax_observer()}),
          quantizer<int8>({per_token(), mapping::symmetric, convention::lowbit, absmax_observer()})};
}

inline w4a16_quantizer w4a16_g128(Eigen::Index group = 128) {
  return w4a16_quantizer({per_group(group), mapping::asymmetric, convention::gptq, minmax_observer()});
}

inline fp8_block_quantizers fp8_block128() {
  return {quantizer<float8_e4m3fn>({block(128, 128)}), quantizer<float8_e4m3fn>({block(1, 128)})};
}

inline mxfp8_quantizer mxfp8(mx_scale_rule rule = mx_scale_rule::floor) {
  quant_options o{mx_block(32)};
  o.mx_rule = rule;
  return mxfp8_quantizer(o);
}

inline mxfp4_quantizer mxfp4(mx_scale_rule rule = mx_scale_rule::floor) {
  quant_options o{mx_block(32)};
  o.mx_rule = rule;
  return mxfp4_quantizer(o);
}

inline nvfp4_quantizer nvfp4() { return nvfp4_quantizer({nvfp4_block(16)}); }

inline nf4_quantizer nf4(Eigen::Index block_size = 64) { return nf4_quantizer({per_group(block_size)}); }

}  // namespace presets
}  // namespace lowbit
