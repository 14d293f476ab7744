// tests/support/stories260k.hpp — the real stories260K model and TinyStories windows shared by the
// tiny-Llama recipe tests (tests/examples/). The first 40 KiB of data/text/tinystories_val.txt in
// windows of 512 tokens: the first two evaluate, the last two calibrate (disjoint). Loaded once
// per test binary; each recipe is prepared once per test binary.
//
// Include after the GCC 12 -Wuninitialized pragma of the test file (it reaches Eigen).
#pragma once

#include "../../examples/tinyllama/eval.hpp"
#include "../../examples/tinyllama/model.hpp"
#include "../../examples/tinyllama/recipes.hpp"
#include "../../examples/tinyllama/tokenizer.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace lowbit_test::stories260k {

struct fixture {
  tinyllama::model fp32;
  std::vector<tinyllama::window> eval, calibration;
};

inline const fixture& data() {
  static const fixture f = [] {
    Eigen::setNbThreads(1);  // the matrices are too small for Eigen's threads to pay
    const std::string dir = LOWBIT_TEST_DATA_DIR;
    fixture d{tinyllama::load_model(dir + "/stories260K/stories260K.bin"), {}, {}};
    const tinyllama::tokenizer tok = tinyllama::tokenizer::load(dir + "/stories260K/tok512.bin", 512);
    std::ifstream in(dir + "/text/tinystories_val.txt", std::ios::binary);
    std::string text(std::istreambuf_iterator<char>(in), {});
    text.resize(40960);
    const tinyllama::text_windows w = tinyllama::text_windows::from_text(tok, text, 512, 2);
    d.eval = w.eval(2);
    d.calibration = w.calibration();
    return d;
  }();
  return f;
}

inline tinyllama::recipe_context context() { return tinyllama::recipe_context{data().fp32, data().calibration}; }

// Recipe `name` prepared on the calibration windows (cached for the whole binary).
inline const tinyllama::prepared& prepare(const std::string& name) {
  static std::map<std::string, tinyllama::prepared> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, tinyllama::find_recipe(name).prepare(context())).first;
  return it->second;
}

}  // namespace lowbit_test::stories260k
