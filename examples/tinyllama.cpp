// examples/tinyllama.cpp — the bundled tiny Llama (stories260K) under each quantization recipe:
// teacher-forced perplexity on TinyStories text, a greedy story, forward-pass speed, and the
// recipes table written as text, CSV, JSON and SVG.
//
//   tinyllama                      # FP32, first 64 windows of 512 tokens, story, ./tinyllama_out
//   tinyllama --full               # every evaluation window
//   tinyllama --windows 8 --recipe fp32 --out /tmp/tl --steps 0
//
// The model code is in examples/tinyllama/: model.hpp (checkpoint), tokenizer.hpp, forward.hpp
// (forward pass + quantization hooks), calibration.hpp, eval.hpp (windows, perplexity,
// generation), recipes.hpp (the recipes table) and report.hpp (output files).
#include "tinyllama/calibration.hpp"
#include "tinyllama/eval.hpp"
#include "tinyllama/forward.hpp"
#include "tinyllama/model.hpp"
#include "tinyllama/parse_int.hpp"
#include "tinyllama/recipes.hpp"
#include "tinyllama/report.hpp"
#include "tinyllama/tokenizer.hpp"

#include <lowbit/error.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct options {
  int windows = 64;  // -1: all (--full)
  std::vector<std::string> recipes;
  std::string out = "tinyllama_out";
  std::string data = LOWBIT_DATA_DIR;
  int steps = 256;
  // Eigen threads. The GEMMs here are tiny (K <= 172): a second thread gains nothing on an idle
  // machine, and OpenMP's spin-waiting makes it 10-50x slower on a busy one.
  int threads = 1;
};

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: tinyllama [--full | --windows N] [--recipe NAME]... [--out DIR] [--steps N]\n"
               "                 [--data DIR] [--threads N]\n"
               "  --windows N    evaluate the first N windows of 512 tokens (default 64)\n"
               "  --full         evaluate every evaluation window\n"
               "  --recipe NAME  run this recipe (repeatable; default: all). Valid: %s\n"
               "  --out DIR      where results.{txt,csv,json,svg} go (default ./tinyllama_out)\n"
               "  --steps N      length of the greedy FP32 story, 0 to skip (default 256)\n"
               "  --data DIR     folder holding stories260K/ and text/ (default: the repo's data/)\n"
               "  --threads N    Eigen threads (default 1: the matrices are too small to share)\n",
               tinyllama::recipe_names().c_str());
}

options parse(int argc, char** argv) {
  using tinyllama::parse_int;
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> const char* {
      LOWBIT_CHECK(i + 1 < argc, a, " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--full") {
      o.windows = -1;
    } else if (a == "--windows") {
      o.windows = parse_int(a, value(), 1, 1 << 20);
    } else if (a == "--recipe") {
      o.recipes.push_back(tinyllama::find_recipe(value()).name);  // unknown: error listing valid ones
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "--steps") {
      o.steps = parse_int(a, value(), 0, 512);
    } else if (a == "--data") {
      o.data = value();
    } else if (a == "--threads") {
      o.threads = parse_int(a, value(), 1, 1024);
    } else {
      LOWBIT_CHECK(false, "unknown argument '", a, "' (try --help)");
    }
  }
  if (o.recipes.empty())
    for (const auto& r : tinyllama::recipes()) o.recipes.push_back(r.name);
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best-of-`repeats` time of one forward pass (with all logits) over `w`.
double time_forward(const tinyllama::model& m, const tinyllama::window& w, const tinyllama::hooks& h, int repeats) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const tinyllama::matrix logits = tinyllama::forward(m, w, h);
    best = std::min(best, seconds_since(t0));
    if (!logits.allFinite()) std::fprintf(stderr, "warning: non-finite logits\n");
  }
  return best;
}

int run(const options& o) {
  using namespace tinyllama;
  Eigen::setNbThreads(o.threads);
  const model fp32 = load_model(o.data + "/stories260K/stories260K.bin");
  const tokenizer tok = tokenizer::load(o.data + "/stories260K/tok512.bin", fp32.cfg.vocab_size);
  const config& c = fp32.cfg;
  std::printf("model     %s\n          dim %d, hidden %d, layers %d, heads %d (kv %d, head size %d), vocab %d, "
              "seq_len %d, %lld parameters\n",
              fp32.path.c_str(), c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_size(),
              c.vocab_size, c.seq_len, static_cast<long long>(fp32.parameter_count()));

  auto t0 = std::chrono::steady_clock::now();
  const text_windows text = text_windows::load(tok, o.data + "/text/tinystories_val.txt");
  const std::vector<window> eval = text.eval(o.windows < 0 ? -1 : std::min(o.windows, text.eval_windows()));
  const std::vector<window> calib = text.calibration();
  std::printf("text      %s\n          %zu tokens (tokenized in %.2f s) -> %d windows of %d: %zu evaluated, "
              "%d for calibration (from the end)\n",
              (o.data + "/text/tinystories_val.txt").c_str(), text.tokens().size(), seconds_since(t0),
              text.total_windows(), text.window_tokens(), eval.size(), text.calibration_windows());

  // Forward-pass speed: one full window, FP32, best of 5.
  const double t_fwd = time_forward(fp32, eval.front(), {}, 5);
  const double tok_per_s = static_cast<double>(eval.front().size()) / t_fwd;
  std::printf("speed     FP32 forward of one %zu-token window: %.2f ms = %.0f tokens/s (Eigen threads %d)\n",
              eval.front().size(), 1e3 * t_fwd, tok_per_s, Eigen::nbThreads());

  if (o.steps > 0) {
    t0 = std::chrono::steady_clock::now();
    const std::vector<int> story = generate_greedy(fp32, {tokenizer::bos_id}, o.steps);
    std::printf("story     greedy FP32, %zu tokens in %.2f s:\n%s\n", story.size(), seconds_since(t0),
                tok.decode(story).c_str());
  }

  // The recipes table. FP32 always runs first: it is the baseline of delta %.
  std::vector<std::string> names = o.recipes;
  names.erase(std::remove(names.begin(), names.end(), std::string("fp32")), names.end());
  names.insert(names.begin(), "fp32");
  std::vector<report_row> rows;
  long long predictions = 0;
  double fp32_ppl = 0;
  for (const std::string& name : names) {
    const recipe& r = find_recipe(name);
    t0 = std::chrono::steady_clock::now();
    const prepared p = r.prepare(recipe_context{fp32, calib});
    const double t_prep = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const perplexity_result res = perplexity(p.m, eval, p.h, [&](int done, int total, const perplexity_result& sofar) {
      std::fprintf(stderr, "\r%-10s window %4d/%d  ppl %.4f  ", name.c_str(), done, total, sofar.ppl());
      if (done == total) std::fprintf(stderr, "\n");
    });
    const double t_eval = seconds_since(t0);
    if (name == "fp32") fp32_ppl = res.ppl();
    predictions = res.predictions;
    report_row row;
    row.recipe = r.name;
    row.description = r.description;
    row.ppl = res.ppl();
    row.delta_pct = 100.0 * (res.ppl() / fp32_ppl - 1.0);
    row.weight_bits = p.weight_bits;
    row.kv_bytes_per_token = p.kv_bytes_per_token > 0 ? p.kv_bytes_per_token : kv_bytes_per_token(c, 4);
    rows.push_back(row);
    std::fprintf(stderr, "%-10s prepared in %.2f s, evaluated %lld predictions in %.2f s (%.0f tokens/s)\n",
                 name.c_str(), t_prep, static_cast<long long>(res.predictions), t_eval,
                 static_cast<double>(res.windows) * text.window_tokens() / t_eval);
  }

  report_meta meta;
  meta.model = fp32.path;
  meta.text = o.data + "/text/tinystories_val.txt";
  meta.windows = static_cast<int>(eval.size());
  meta.window_tokens = text.window_tokens();
  meta.predictions = predictions;
  meta.forward_tokens_per_s = tok_per_s;
  std::printf("\nperplexity, %zu windows x %d tokens (%lld predictions)\n\n%s\n", eval.size(), text.window_tokens(),
              predictions, format_table(rows).c_str());
  for (const auto& f : write_report(o.out, meta, rows)) std::printf("wrote     %s\n", f.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyllama: %s\n", e.what());
    return 1;
  }
}
