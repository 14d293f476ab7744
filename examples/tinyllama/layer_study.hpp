// examples/tinyllama/layer_study.hpp — model and windows of the per-layer examples
// (gptq_awq_layers, recipes_layers), from their common command line:
//
//   <program> [--calib N] [--eval N] [--data DIR]
//
// N calibration windows from the end of the text (default 8) and N evaluation windows from its
// start (default 4, disjoint) of 512 tokens (eval.hpp's text_windows); DIR holds stories260K/ and
// text/ (default: default_data).
#pragma once

#include "eval.hpp"
#include "model.hpp"
#include "parse_int.hpp"
#include "tokenizer.hpp"

#include <lowbit/error.hpp>

#include <string>
#include <utility>
#include <vector>

namespace tinyllama {

struct layer_study {
  model fp32;
  int window_tokens = 0;
  std::vector<window> calibration, eval;

  static layer_study from_args(int argc, char** argv, const std::string& program, std::string default_data) {
    int n_calib = 8, n_eval = 4;
    std::string data = std::move(default_data);
    const std::string usage = " (usage: " + program + " [--calib N] [--eval N] [--data DIR])";
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      LOWBIT_CHECK(i + 1 < argc, "missing value after ", a, usage);
      if (a == "--calib") n_calib = parse_int("--calib", argv[++i], 1, 1000);
      else if (a == "--eval") n_eval = parse_int("--eval", argv[++i], 1, 1000);
      else if (a == "--data") data = argv[++i];
      else LOWBIT_CHECK(false, "unknown option ", a, usage);
    }
    layer_study s{load_model(data + "/stories260K/stories260K.bin"), 0, {}, {}};
    const tokenizer tok = tokenizer::load(data + "/stories260K/tok512.bin", s.fp32.cfg.vocab_size);
    const text_windows text = text_windows::load(tok, data + "/text/tinystories_val.txt");
    s.window_tokens = text.window_tokens();
    s.calibration = text.calibration();
    LOWBIT_CHECK(n_calib <= int(s.calibration.size()), "--calib ", n_calib, ": only ", s.calibration.size(),
                 " calibration windows");
    s.calibration.resize(std::size_t(n_calib));
    s.eval = text.eval(n_eval);
    return s;
  }
};

}  // namespace tinyllama
