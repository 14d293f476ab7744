// examples/tinyllama/recipe.hpp — what a quantization recipe is (the row type of the table).
#pragma once

#include "forward.hpp"
#include "eval.hpp"

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

}  // namespace tinyllama
