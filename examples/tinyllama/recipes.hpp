// examples/tinyllama/recipes.hpp — the table of quantization recipes the harness runs.
//
// A recipe receives the FP32 model and the calibration windows and returns what to evaluate:
// a (copied, possibly rewritten) model, the hooks to run it with, and its storage cost. To add
// one, write a `prepared my_recipe(const recipe_context&)` and add a row to recipes():
//
//   inline prepared w8_rtn(const recipe_context& ctx) {
//     prepared p{ctx.fp32};                                  // copy of the FP32 weights
//     for (int l = 0; l < p.m.cfg.n_layers; ++l)
//       for (linear_kind k : layer_linears) {
//         matrix& w = weight(p.m, {l, k});
//         w = fake_quantize_per_channel_int8(w);             // quantized-then-dequantized
//       }
//     p.weight_bits = 8 + 32.0 / p.m.cfg.dim;                // int8 + one fp32 scale per row
//     return p;
//   }
//   ...  {"w8-rtn", "int8 per-channel round-to-nearest weights", w8_rtn},
#pragma once

#include "forward.hpp"
#include "eval.hpp"

#include <lowbit/error.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tinyllama {

struct recipe_context {
  const model& fp32;
  const std::vector<window>& calibration;  // disjoint from the evaluation windows
};

struct prepared {
  model m;                        // the weights to run
  hooks h;                        // activation / attention / KV-cache hooks (empty = FP32)
  double weight_bits = 32;        // stored bits per transformer-linear parameter (report.hpp)
  double kv_bytes_per_token = 0;  // 0: FP32 cache, filled in by the harness
};

struct recipe {
  std::string name;
  std::string description;
  std::function<prepared(const recipe_context&)> prepare;
};

// K and V cache bytes per token over all layers at `bytes_per_element` (scales included by the
// caller): 2 · n_layers · kv_dim · bytes.
inline double kv_bytes_per_token(const config& c, double bytes_per_element) {
  return 2.0 * c.n_layers * c.kv_dim() * bytes_per_element;
}

inline prepared fp32_recipe(const recipe_context& ctx) {
  prepared p{ctx.fp32, {}, 32, kv_bytes_per_token(ctx.fp32.cfg, 4)};
  return p;
}

inline const std::vector<recipe>& recipes() {
  static const std::vector<recipe> table = {
      {"fp32", "float32 reference (no quantization)", fp32_recipe},
  };
  return table;
}

inline std::string recipe_names() {
  std::string s;
  for (const auto& r : recipes()) s += (s.empty() ? "" : ", ") + r.name;
  return s;
}

// The recipe called `name`; throws lowbit::error listing the valid names otherwise.
inline const recipe& find_recipe(const std::string& name) {
  for (const auto& r : recipes())
    if (r.name == name) return r;
  LOWBIT_CHECK(false, "unknown recipe '", name, "'; valid recipes: ", recipe_names());
  return recipes().front();  // unreachable
}

}  // namespace tinyllama
