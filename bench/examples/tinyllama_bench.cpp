// bench/examples/tinyllama_bench.cpp — the tiny-Llama harness (examples/tinyllama/): forward-pass
// speed of FP32 and of the real int8 recipe (sq-int8-tok-real: gemm_int8 linears + attention_int8)
// on one 512-token window, and the time of the whole default table.
//
//   forward/fp32            tokens/s of the FP32 forward (Eigen float GEMMs, one thread)
//   forward/real_int8       tokens/s of sq-int8-tok-real; counter time_vs_fp32 = its time per
//                           window / the FP32 time measured just before in the same run
//   table/default           64 windows × every recipe of recipes() (prepare + perplexity),
//                           one iteration, seconds
// Eigen runs on one thread, as the harness does by default (the GEMMs are K <= 172).
#include "../../examples/tinyllama/eval.hpp"
#include "../../examples/tinyllama/forward.hpp"
#include "../../examples/tinyllama/model.hpp"
#include "../../examples/tinyllama/recipes.hpp"
#include "../../examples/tinyllama/tokenizer.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tl = tinyllama;

namespace {

struct fixture {
  tl::model fp32;
  std::vector<tl::window> eval, calibration;
};

const fixture& data() {
  static const fixture f = [] {
    Eigen::setNbThreads(1);
    const std::string dir = LOWBIT_DATA_DIR;
    fixture d{tl::load_model(dir + "/stories260K/stories260K.bin"), {}, {}};
    const tl::tokenizer tok = tl::tokenizer::load(dir + "/stories260K/tok512.bin", d.fp32.cfg.vocab_size);
    const tl::text_windows text = tl::text_windows::load(tok, dir + "/text/tinystories_val.txt");
    d.eval = text.eval(64);
    d.calibration = text.calibration();
    return d;
  }();
  return f;
}

double fp32_seconds_per_window = 0;  // set by forward/fp32, read by forward/real_int8

void run_forward(benchmark::State& state, const tl::prepared& p) {
  const tl::window& w = data().eval.front();
  for (auto _ : state) {
    tl::matrix logits = tl::forward(p.m, w, p.h);
    benchmark::DoNotOptimize(logits.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(w.size()));
  state.counters["tokens/s"] = benchmark::Counter(double(state.iterations()) * double(w.size()),
                                                  benchmark::Counter::kIsRate);
}

void forward_fp32(benchmark::State& state) {
  const tl::prepared p = tl::fp32_recipe({data().fp32, data().calibration});
  // Baseline time per window, measured here (outside the timed loop, best of 5) so the int8
  // benchmark can report a ratio against the same run.
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(tl::forward(p.m, data().eval.front(), p.h).data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  fp32_seconds_per_window = best;
  run_forward(state, p);
}

void forward_real_int8(benchmark::State& state) {
  const tl::prepared p = tl::find_recipe("sq-int8-tok-real").prepare({data().fp32, data().calibration});
  run_forward(state, p);
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(tl::forward(p.m, data().eval.front(), p.h).data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (fp32_seconds_per_window > 0) state.counters["time_vs_fp32"] = best / fp32_seconds_per_window;
}

void table_default(benchmark::State& state) {
  double ppl_sum = 0;
  for (auto _ : state) {
    for (const tl::recipe& r : tl::recipes()) {
      const tl::prepared p = r.prepare({data().fp32, data().calibration});
      ppl_sum += tl::perplexity(p.m, data().eval, p.h).ppl();
    }
  }
  benchmark::DoNotOptimize(ppl_sum);
  state.counters["recipes"] = double(tl::recipes().size());
  state.counters["windows"] = double(data().eval.size());
}

}  // namespace

BENCHMARK(forward_fp32)->Name("forward/fp32")->Unit(benchmark::kMillisecond);
BENCHMARK(forward_real_int8)->Name("forward/real_int8")->Unit(benchmark::kMillisecond);
BENCHMARK(table_default)->Name("table/default")->Iterations(1)->Unit(benchmark::kSecond);
