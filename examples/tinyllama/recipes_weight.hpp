// examples/tinyllama/recipes_weight.hpp — weight-only and KV-cache recipes: W4A16 RTN/GPTQ/AWQ, W3, MXFP4, NVFP4, KIVI, Hadamard W4A4.
#pragma once

#include "recipe.hpp"

#include <vector>

namespace tinyllama {

inline std::vector<recipe> weight_only_recipes() {
  return {};
}

}  // namespace tinyllama
