// examples/tinyllama/recipes.hpp — the table of quantization recipes the harness runs.
//
// A recipe receives the FP32 model and the calibration windows and returns what to evaluate:
// a (copied, possibly rewritten) model, the hooks to run it with, and its storage cost. To add
// one, write a `prepared my_recipe(const recipe_context&)` and add a row to weight_activation_recipes() (recipes_wa.hpp) or weight_only_recipes() (recipes_weight.hpp):
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

#include "recipe.hpp"
#include "recipes_wa.hpp"
#include "recipes_weight.hpp"

#include <lowbit/error.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tinyllama {

inline const std::vector<recipe>& recipes() {
  static const std::vector<recipe> table = [] {
    std::vector<recipe> t = {{"fp32", "float32 reference (no quantization)", fp32_recipe}};
    for (auto& r : weight_activation_recipes()) t.push_back(r);  // recipes_wa.hpp
    for (auto& r : weight_only_recipes()) t.push_back(r);        // recipes_weight.hpp
    return t;
  }();
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
