// examples/tinyllama/eval.hpp — evaluation text split into windows, teacher-forced perplexity,
// and greedy generation.
//
// How data/text/tinystories_val.txt becomes windows (text_windows::load):
//   1. The whole file (raw bytes, "\n\n" paragraph/story breaks kept as they are) is tokenized
//      once, exactly as run.c would encode it as a prompt: BOS, the dummy-prefix " ", then the
//      text with the SentencePiece merges (tokenizer.hpp). This is the same convention as the
//      README's reference sentence (BOS + encode(text), loss not counted on BOS).
//   2. The BOS is dropped and the remaining stream is cut into consecutive, non-overlapping
//      chunks of window-1 = 511 tokens; a final partial chunk is discarded.
//   3. Window i = [BOS] + chunk i: 512 tokens at positions 0..511, 511 predictions (tokens 1..511
//      given their prefixes; the BOS itself is never predicted).
//   4. The last `calibration` windows (default 32, taken from the END of the text) form the
//      calibration slice; the evaluation windows are the ones before them, in text order. The
//      harness evaluates the first 64 by default and all of them with --full, so evaluation and
//      calibration never share a token.
// The model saw "[BOS] story" sequences with "\n" between paragraphs; this text separates both
// paragraphs and stories by "\n\n" and windows start mid-story, so its perplexity is higher than
// Karpathy's validation loss suggests. It is a fixed, reproducible yardstick for comparing
// recipes, which is what the harness needs.
#pragma once

#include "forward.hpp"
#include "tokenizer.hpp"

#include <lowbit/error.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace tinyllama {

using window = std::vector<int>;

class text_windows {
 public:
  static constexpr int default_window = 512;
  static constexpr int default_calibration = 32;

  static text_windows load(const tokenizer& tok, const std::string& path, int window_tokens = default_window,
                           int calibration = default_calibration) {
    const std::vector<char> bytes = detail::read_file(path, "evaluation text");
    LOWBIT_CHECK(!bytes.empty(), "evaluation text '", path, "' is empty");
    return from_text(tok, std::string(bytes.begin(), bytes.end()), window_tokens, calibration, path);
  }

  static text_windows from_text(const tokenizer& tok, const std::string& text, int window_tokens = default_window,
                                int calibration = default_calibration, const std::string& name = "<text>") {
    LOWBIT_CHECK(window_tokens >= 2, "window of ", window_tokens, " tokens: need at least 2");
    LOWBIT_CHECK(calibration >= 0, "negative calibration window count ", calibration);
    text_windows d;
    d.path_ = name;
    d.window_ = window_tokens;
    d.stream_ = tok.encode(text, /*bos=*/true);
    const auto body = static_cast<std::int64_t>(d.stream_.size()) - 1;
    d.total_ = static_cast<int>(body / (window_tokens - 1));
    LOWBIT_CHECK(d.total_ > calibration, "'", name, "' gives ", d.total_, " windows of ", window_tokens,
                 " tokens, not enough for ", calibration, " calibration windows plus evaluation");
    d.calibration_ = calibration;
    return d;
  }

  // The token stream: BOS, " ", the text.
  const std::vector<int>& tokens() const { return stream_; }
  int window_tokens() const { return window_; }
  int total_windows() const { return total_; }
  int eval_windows() const { return total_ - calibration_; }
  int calibration_windows() const { return calibration_; }

  // Window i of all total_windows(): [BOS] + stream[1 + i·(W-1) .. 1 + (i+1)·(W-1)).
  window at(int i) const {
    LOWBIT_CHECK(i >= 0 && i < total_, "window ", i, " is not in 0..", total_ - 1);
    const auto first = stream_.begin() + 1 + static_cast<std::ptrdiff_t>(i) * (window_ - 1);
    window w{tokenizer::bos_id};
    w.insert(w.end(), first, first + (window_ - 1));
    return w;
  }
  // The first n evaluation windows (n = -1: all of them).
  std::vector<window> eval(int n = -1) const {
    if (n < 0) n = eval_windows();
    LOWBIT_CHECK(n <= eval_windows(), "asked for ", n, " evaluation windows; '", path_, "' has ", eval_windows(),
                 " (", total_, " minus ", calibration_, " for calibration)");
    std::vector<window> out;
    for (int i = 0; i < n; ++i) out.push_back(at(i));
    return out;
  }
  // The calibration slice: the last calibration_windows() windows, disjoint from eval().
  std::vector<window> calibration() const {
    std::vector<window> out;
    for (int i = eval_windows(); i < total_; ++i) out.push_back(at(i));
    return out;
  }

 private:
  std::string path_;
  std::vector<int> stream_;
  int window_ = 0, total_ = 0, calibration_ = 0;
};

// Negative log-likelihood (natural log, summed in double) of tokens[1..T-1] given their
// prefixes: teacher forcing over one window.
inline double window_nll(const model& m, const window& tokens, const hooks& hk = {}) {
  LOWBIT_CHECK(tokens.size() >= 2, "a window needs at least 2 tokens to predict one");
  const matrix logits = forward(m, tokens, hk);
  double nll = 0;
  for (Eigen::Index t = 0; t + 1 < logits.rows(); ++t) {
    const auto row = logits.row(t);
    const float mx = row.maxCoeff();
    const double lse = mx + std::log((row.array() - mx).exp().cast<double>().sum());
    const float target = row(tokens[static_cast<std::size_t>(t + 1)]);
    LOWBIT_CHECK(std::isfinite(lse) && std::isfinite(target), "non-finite logits at position ", t);
    nll += lse - target;
  }
  return nll;
}

struct perplexity_result {
  double nll = 0;            // summed over all predictions, natural log
  std::int64_t predictions = 0;
  int windows = 0;
  double ppl() const { return std::exp(nll / static_cast<double>(predictions)); }
};

// Teacher-forced perplexity over `windows`; `progress(done, total, running result)` after each.
inline perplexity_result perplexity(const model& m, const std::vector<window>& windows, const hooks& hk = {},
                                    const std::function<void(int, int, const perplexity_result&)>& progress = {}) {
  LOWBIT_CHECK(!windows.empty(), "perplexity over no windows");
  perplexity_result r;
  for (const window& w : windows) {
    r.nll += window_nll(m, w, hk);
    r.predictions += static_cast<std::int64_t>(w.size()) - 1;
    ++r.windows;
    if (progress) progress(r.windows, static_cast<int>(windows.size()), r);
  }
  return r;
}

// Greedy (temperature 0) continuation of `prompt`, as run.c with -t 0: positions 0..steps-1 are
// run (steps <= seq_len), each picks the first highest logit, and generation stops early when
// the model emits BOS. Returns the generated ids (not the prompt). The prompt runs as one
// window, then one token per step against a kv_cache (hooks::qkv sees each new row once).
inline std::vector<int> generate_greedy(const model& m, const std::vector<int>& prompt, int steps,
                                        const hooks& hk = {}) {
  LOWBIT_CHECK(!prompt.empty(), "generation needs a prompt (at least BOS)");
  LOWBIT_CHECK(steps >= static_cast<int>(prompt.size()) && steps <= m.cfg.seq_len, "steps ", steps, " is not in ",
               prompt.size(), "..", m.cfg.seq_len);
  std::vector<int> out;
  kv_cache cache;
  matrix logits = forward(m, prompt, hk, logits_rows::last, &cache);
  for (auto pos = static_cast<int>(prompt.size()) - 1; pos < steps; ++pos) {
    int next = 0;
    for (Eigen::Index i = 1; i < logits.cols(); ++i)
      if (logits(0, i) > logits(0, next)) next = static_cast<int>(i);
    if (next == tokenizer::bos_id) break;
    out.push_back(next);
    if (pos + 1 < steps) logits = forward(m, {next}, hk, logits_rows::last, &cache);
  }
  return out;
}

}  // namespace tinyllama
