// tests/examples/tinyllama_recipes_test.cpp — the weight+activation recipes of the tiny-Llama
// table (examples/tinyllama/recipes_wa.hpp) and the shared helpers (recipe_util.hpp), on the
// real stories260K model and TinyStories text. Quick: the first two 512-token windows of the
// text for evaluation, the last two windows of a 40 KiB slice for calibration (disjoint); each
// recipe is prepared once per test binary (tests/support/stories260k.hpp). Every recipe of the
// table runs in the slow suite.

// GCC 12 + ASan: see tests/examples/tinyllama_test.cpp (false-positive -Wuninitialized in
// avx512fintrin.h, GCC bug 105593). Must precede the first Eigen include.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "../../examples/tinyllama/eval.hpp"
#include "../../examples/tinyllama/forward.hpp"
#include "../../examples/tinyllama/model.hpp"
#include "../../examples/tinyllama/recipe_util.hpp"
#include "../../examples/tinyllama/recipes.hpp"
#include "../../examples/tinyllama/recipes_wa.hpp"
#include "../../examples/tinyllama/tokenizer.hpp"

#include "support/stories260k.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace tl = tinyllama;
using namespace lowbit_test::stories260k;  // data(), context(), prepare(name)

namespace {

double ppl(const tl::prepared& p, int windows, std::size_t tokens = 512) {
  std::vector<tl::window> w;
  for (int i = 0; i < windows; ++i)
    w.emplace_back(data().eval[std::size_t(i)].begin(), data().eval[std::size_t(i)].begin() + tokens);
  return tl::perplexity(p.m, w, p.h).ppl();
}

// X of `site` on the first evaluation window of the FP32 model.
tl::matrix input_of(const tl::linear_site& site) {
  tl::matrix x;
  tl::hooks h;
  h.observe = [&](const tl::linear_site& s, const tl::matrix& in) {
    if (s == site) x = in;
  };
  tl::forward(data().fp32, data().eval.front(), h, tl::logits_rows::last);
  return x;
}

}  // namespace

TEST_CASE("examples/tinyllama_recipes: the 8-bit float recipes give finite PPL near FP32") {
  // E4M3 / E3M4 / MX / 128x128-tile rows, no SmoothQuant search: cheap to prepare.
  const double base = ppl(tl::fp32_recipe({data().fp32, data().calibration}), 1, 128);
  for (const char* name : {"fp8", "e3m4", "fp8-block", "mxfp8"}) {
    CAPTURE(name);
    const double v = ppl(prepare(name), 1, 128);
    CHECK(std::isfinite(v));
    CHECK(v > 1.0);
    CHECK(v < 1.5 * base);
  }
}

TEST_SUITE("slow") {
TEST_CASE("examples/tinyllama_recipes: every weight+activation recipe is registered and gives finite PPL") {
  // Catches a recipe that throws (shape, granularity or kernel preconditions on this model's
  // K = 64 / 172 and head size 8), produces NaN/Inf logits, or is missing from the table.
  // 128 tokens of one window: finiteness, not accuracy.
  const double base = ppl(tl::fp32_recipe({data().fp32, data().calibration}), 1, 128);
  for (const tl::recipe& r : tl::weight_activation_recipes()) {
    CAPTURE(r.name);
    CHECK_NOTHROW(tl::find_recipe(r.name));
    const tl::prepared p = r.prepare({data().fp32, data().calibration});
    const double v = ppl(p, 1, 128);
    CHECK(std::isfinite(v));
    CHECK(v > 1.0);
    CHECK(v < 2.0 * base);  // 8-bit recipes stay near FP32 on this model
    CHECK(p.weight_bits > 8.0);
    CHECK(p.weight_bits < 9.0);
  }
}
}  // TEST_SUITE("slow")

TEST_CASE("examples/tinyllama_recipes: per-token + per-head int8 beats plain int8; real int8 tracks fake-quant") {
  const int n = static_cast<int>(data().eval.size());
  const double base = ppl(tl::fp32_recipe({data().fp32, data().calibration}), n);
  const double plain = ppl(prepare("int8"), n);
  const double tok = ppl(prepare("sq-int8-tok"), n);
  const double real = ppl(prepare("sq-int8-tok-real"), n);
  const double li8 = ppl(prepare("llm-int8"), n);
  MESSAGE("fp32 ", base, "  int8 ", plain, "  sq-int8-tok ", tok, "  real ", real, "  llm-int8 ", li8);
  // Every tensor of sq-int8-tok has a finer scale than in plain int8 (per token vs one static
  // per-tensor scale for X, per head with a zero point vs per tensor for Q/K): the seeds' ranking,
  // and a ~10x gap on this model (+0.3% vs +3%), so the ordering is robust to the window choice.
  CHECK(std::fabs(tok - base) < std::fabs(plain - base));
  // LLM.int8() keeps vector-wise (per-token) X scales and leaves attention in FP32.
  CHECK(std::fabs(li8 - base) < std::fabs(plain - base));
  // Real int8 (gemm_int8 + attention_int8 on the same codes) differs only by fp32 rounding in
  // the linears and the uint8 softmax probabilities: the seeds' ~0.01 PPL.
  CHECK(std::fabs(real - tok) < 0.01);
}

TEST_CASE("examples/tinyllama_recipes: real int8 linears equal the fake-quant linears to fp32 rounding") {
  // Same SmoothQuant scales, same weight codes, same per-token activation codes: gemm_int8's
  // exact int32 sum may differ from the float product of the dequantized values only by fp32
  // rounding, |Δ| <= ~K·2^-24 · Σ_k |x̂_k·ŵ_k|. One wrong code would break this by orders of
  // magnitude (a code step is ~1/255 of the row range).
  const tl::prepared &fake = prepare("sq-int8-tok"), &real = prepare("sq-int8-tok-real");
  for (tl::linear_kind k : tl::layer_linears) {
    const tl::linear_site site{1, k};
    CAPTURE(tl::to_string(k));
    const tl::matrix x = input_of(site);
    const tl::matrix& w = tl::weight(fake.m, site);
    const tl::matrix yf = fake.h.linear(site, x, w), yr = real.h.linear(site, x, tl::weight(real.m, site));
    const tl::matrix xq = tl::wa::int8_token_asym_q().fake_quantize(x);
    const tl::matrix bound = xq.cwiseAbs() * w.cwiseAbs().transpose();
    REQUIRE(yf.rows() == yr.rows());
    CHECK(((yr - yf).cwiseAbs() - 4e-5f * bound).maxCoeff() <= 1e-6f);
  }
}

TEST_CASE("examples/tinyllama_recipes: fp8-block through gemm_block_scaled equals its fake-quant row") {
  // Same e4m3 codes and fp32 tile scales; the kernel sums each 128-deep block exactly and
  // promotes in fp32, the fake row multiplies dequantized floats: equal to fp32 rounding.
  const tl::prepared &fake = prepare("fp8-block"), &gemm = prepare("fp8-block-gemm");
  for (tl::linear_kind k : {tl::linear_kind::wq, tl::linear_kind::w2}) {
    const tl::linear_site site{2, k};
    const tl::matrix x = input_of(site);
    const tl::matrix& w = tl::weight(fake.m, site);
    const tl::matrix yf = fake.h.linear(site, x, w), yg = gemm.h.linear(site, x, w);
    CHECK((yg - yf).cwiseAbs().maxCoeff() <= 1e-4f * (x.cwiseAbs() * w.cwiseAbs().transpose()).maxCoeff());
  }
}

TEST_CASE("examples/tinyllama_recipes: weight bits and KV bytes are the stored sizes") {
  const tl::config& c = data().fp32.cfg;
  // Independent count: per-channel 8-bit with one fp32 scale per output row, and MX with one
  // e8m0 byte per 32 (or fewer, at the tail) elements of each row.
  double params = 0, rows = 0, mx_blocks = 0;
  for (const tl::linear_site& s : tl::transformer_linears(c)) {
    const tl::matrix& w = tl::weight(data().fp32, s);
    params += double(w.size());
    rows += double(w.rows());
    mx_blocks += double(w.rows()) * std::ceil(double(w.cols()) / 32.0);
  }
  CHECK(params == double(5 * (64 * 64 * 2 + 32 * 64 * 2 + 172 * 64 * 3)));
  const double per_channel_bits = (8 * params + 32 * rows) / params;
  for (const char* name : {"int8", "sq-int8-tok", "fp8", "e3m4", "llm-int8"})
    CHECK(prepare(name).weight_bits == doctest::Approx(per_channel_bits).epsilon(1e-12));
  const tl::prepared& mx = prepare("mxfp8");
  CHECK(mx.weight_bits == doctest::Approx((8 * params + 8 * mx_blocks) / params).epsilon(1e-12));
  // 128×128 tiles: a 64-wide K is one partial tile column, 172 is two.
  double tiles = 0;
  for (const tl::linear_site& s : tl::transformer_linears(c)) {
    const tl::matrix& w = tl::weight(data().fp32, s);
    tiles += std::ceil(double(w.rows()) / 128.0) * std::ceil(double(w.cols()) / 128.0);
  }
  CHECK(prepare("fp8-block").weight_bits == doctest::Approx((8 * params + 32 * tiles) / params).epsilon(1e-12));
  // K and V of 5 layers × 32 channels: 1 byte each (static per-head scales are constants),
  // MX adds one scale byte per 32, LLM.int8() keeps an FP32 cache.
  CHECK(prepare("sq-int8-tok").kv_bytes_per_token == 2 * 5 * 32 * 1.0);
  CHECK(prepare("fp8").kv_bytes_per_token == 2 * 5 * 32 * 1.0);
  CHECK(mx.kv_bytes_per_token == 2 * 5 * 32 * (1.0 + 1.0 / 32));
  CHECK(prepare("llm-int8").kv_bytes_per_token == 2 * 5 * 32 * 4.0);
}

TEST_CASE("examples/tinyllama/recipe_util: folded scales and the MeanShift bias leave the float model unchanged") {
  const tl::model& m = data().fp32;
  const tl::window w(data().eval.front().begin(), data().eval.front().begin() + 64);
  const tl::matrix ref = tl::forward(m, w);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.25, 4.0);
  tl::model folded = m;
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    Eigen::VectorXd s1(m.cfg.dim), s2(m.cfg.dim);
    for (Eigen::Index j = 0; j < s1.size(); ++j) {
      s1(j) = u(rng);
      s2(j) = u(rng);
    }
    tl::fold_input_scales(folded, l, tl::norm_group::attention, s1);
    tl::fold_input_scales(folded, l, tl::norm_group::ffn, s2);
  }
  CHECK(!folded.layers[0].wq.isApprox(m.layers[0].wq));
  const tl::matrix y1 = tl::forward(folded, w);
  CHECK((y1 - ref).cwiseAbs().maxCoeff() <= 1e-3f * ref.cwiseAbs().maxCoeff());

  // MeanShift on the q/k/v input with an identity "quantizer": (x − μ)·Wᵀ + W·μ = x·Wᵀ.
  const tl::activation_ranges r = tl::record_ranges(m, data().calibration);
  const tl::wa::shift_map mu = tl::wa::qkv_input_means(r, m.cfg.n_layers);
  CHECK(mu.size() == std::size_t(3 * m.cfg.n_layers));
  CHECK(mu.at({0, tl::linear_kind::wq}).cwiseAbs().maxCoeff() > 0.01);  // a real shift
  tl::hooks h;
  tl::wa::set_linear_hook(h, m, [](const tl::linear_site&, const tl::matrix& x) { return x; }, mu);
  const tl::matrix y2 = tl::forward(m, w, h);
  CHECK((y2 - ref).cwiseAbs().maxCoeff() <= 1e-3f * ref.cwiseAbs().maxCoeff());
}

TEST_CASE("examples/tinyllama/recipe_util: calibration ranges, head grids and bad input") {
  tl::channel_ranges c;
  tl::matrix x(3, 4);
  x << 1, -2, 3, 0,  //
      -1, 5, 2, 0,   //
      4, 1, -6, 2;
  c.update(x);
  CHECK(c.rows == 3);
  CHECK(c.absmax() == 6.0f);
  CHECK(c.mean()(0) == doctest::Approx(4.0 / 3));
  Eigen::VectorXd shift(4);
  shift << 1, 1, -1, 0;
  CHECK(c.absmax(shift) == 5.0f);  // |−6 − (−1)| = 5 is the largest
  const auto [lo, hi] = tl::head_ranges(c, 2);
  CHECK(lo.cols() == 2);
  CHECK(lo(0, 0) == -2.0f);
  CHECK(hi(0, 0) == 5.0f);
  CHECK(lo(0, 1) == -6.0f);
  CHECK(hi(0, 1) == 3.0f);
  CHECK_THROWS_AS(tl::head_ranges(c, 3), lowbit::error);  // 4 channels are not heads of 3
  CHECK_THROWS_AS(c.absmax(Eigen::VectorXd::Zero(3)), lowbit::error);
  tl::matrix bad = x;
  bad(1, 1) = std::nanf("");
  CHECK_THROWS_AS(c.update(bad), lowbit::error);
  CHECK_THROWS_AS(c.update(tl::matrix::Zero(2, 5)), lowbit::error);  // width changed
  tl::channel_ranges empty;
  CHECK_THROWS_AS(empty.mean(), lowbit::error);
  CHECK_THROWS_AS(tl::record_ranges(data().fp32, {}), lowbit::error);
}
