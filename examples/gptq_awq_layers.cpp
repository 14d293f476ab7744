// examples/gptq_awq_layers.cpp — layer loss of RTN, AWQ and GPTQ on the real tiny Llama
// (stories260K) with real activations from the TinyStories text.
//
//   gptq_awq_layers [--calib N] [--eval N] [--data DIR]
//
// The FP32 model runs over N calibration windows (end of the text, default 8) and N evaluation
// windows (start of the text, default 4, disjoint) of 512 tokens; a hook records the input X of
// every linear. Per linear (W: N×K, K = 64 for wq/wk/wv/wo/w1/w3, 172 for w2):
//   RTN   q.fake_quantize(W)
//   AWQ   awq_linear(X_calib, W, q): scale search (20 ratios) scored on this linear's output,
//         clip search, Q = deq(clamp(W·diag(s)))·diag(1/s) (the scale folded back: the layer
//         sees x·Qᵀ exactly as with s folded into the norm / previous linear)
//   GPTQ  gptq(W, H_calib, q) with act order (dynamic groups), percdamp 0.01, block 128
// loss = tr((W−Q)·H_eval·(W−Q)ᵀ) with H_eval = (2/T)·XᵀX over the held-out evaluation tokens
// (the same quantity GPTQ minimises, measured on data none of the methods saw).
// Formats: INT4 asymmetric group 32 (GPTQ/AWQ uint4; 172 = 5·32 + 12: w2's last group is a
// short tail, tail::partial), MXFP4 (e2m1 + e8m0 block 32, same tail) and NVFP4 (e2m1 + ue4m3
// block 16 + fp32 tensor scale; 172 = 10·16 + 12, same tail).
// GCC 12 reports a false -Wuninitialized inside its own AVX-512 intrinsics (avx512fintrin.h,
// reached through Eigen's GEMM packets) in -O2 sanitizer builds; it must be silenced before
// Eigen is first included, so this stays the first line of the translation unit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "tinyllama/calibration.hpp"
#include "tinyllama/eval.hpp"
#include "tinyllama/forward.hpp"
#include "tinyllama/layer_study.hpp"
#include "tinyllama/model.hpp"

#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/gptq.hpp>
#include <lowbit/algo/hessian.hpp>
#include <lowbit/error.hpp>
#include <lowbit/format/float4.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <Eigen/Core>

#include <cstdio>
#include <limits>
#include <vector>

using tinyllama::linear_kind;
using tinyllama::linear_site;
using tinyllama::matrix;
using namespace lowbit;

namespace {

// Every input row X of every transformer linear over `windows`, in window order (samples).
tinyllama::calibration_recorder inputs(const tinyllama::model& m, const std::vector<tinyllama::window>& windows) {
  return tinyllama::calibrate(m, windows, {}, std::numeric_limits<Eigen::Index>::max(), /*xtx=*/false);
}

// H = (2/T)·XᵀX, accumulated in double one window (window_rows rows of X) at a time.
Eigen::MatrixXf hessian_of(const matrix& x, Eigen::Index window_rows) {
  hessian_accumulator<double> h(x.cols(), hessian_count::tokens);
  for (Eigen::Index r = 0; r < x.rows(); r += window_rows) h.add_batch(x.middleRows(r, window_rows));
  return h.matrix();
}

struct losses {
  double rtn = 0, awq = 0, gptq = 0;
};

// Xc, Xe: the linear's input over the calibration / evaluation windows of window_rows rows each.
template <class Q>
losses site_losses(const Q& q, const matrix& W, const matrix& Xc, const matrix& Xe, Eigen::Index window_rows) {
  const Eigen::MatrixXf Hc = hessian_of(Xc, window_rows), He = hessian_of(Xe, window_rows);
  losses l;
  l.rtn = layer_loss(W, q.fake_quantize(W), He);
  const auto a = awq_linear(Xc, W, q);
  l.awq = layer_loss(W, a.Q, He);
  gptq_options o;
  o.act_order = true;
  const auto g = gptq(W, Hc, q, o);
  LOWBIT_CHECK(g.status == info::success, "GPTQ status ", to_string(g.status));
  l.gptq = layer_loss(W, g.Q, He);
  return l;
}

template <class Q>
void table(const char* title, const Q& q, const tinyllama::layer_study& st, const tinyllama::calibration_recorder& rc,
           const tinyllama::calibration_recorder& re) {
  const tinyllama::model& m = st.fp32;
  std::printf("%s\n%-8s %12s %12s %12s   %s\n", title, "site", "RTN", "AWQ", "GPTQ", "order");
  losses sum;
  int gptq_lt_awq = 0, awq_lt_rtn = 0, n = 0;
  for (int l = 0; l < m.cfg.n_layers; ++l)
    for (linear_kind k : tinyllama::layer_linears) {
      const linear_site s{l, k};
      const losses v = site_losses(q, tinyllama::weight(m, s), rc.at(s).samples, re.at(s).samples, st.window_tokens);
      sum.rtn += v.rtn;
      sum.awq += v.awq;
      sum.gptq += v.gptq;
      gptq_lt_awq += v.gptq < v.awq;
      awq_lt_rtn += v.awq < v.rtn;
      ++n;
      std::printf("L%d %-5s %12.5g %12.5g %12.5g   %s\n", l, tinyllama::to_string(k), v.rtn, v.awq, v.gptq,
                  v.gptq < v.awq && v.awq < v.rtn ? "GPTQ < AWQ < RTN" : (v.gptq < v.rtn ? "GPTQ < RTN" : "-"));
    }
  std::printf("%-8s %12.5g %12.5g %12.5g   %s\n", "sum", sum.rtn, sum.awq, sum.gptq,
              sum.gptq < sum.awq && sum.awq < sum.rtn ? "GPTQ < AWQ < RTN" : "order differs");
  std::printf("per layer: GPTQ < AWQ on %d / %d, AWQ < RTN on %d / %d\n\n", gptq_lt_awq, n, awq_lt_rtn, n);
}

}  // namespace

int main(int argc, char** argv) try {
  const tinyllama::layer_study st = tinyllama::layer_study::from_args(argc, argv, "gptq_awq_layers", LOWBIT_DATA_DIR);
  const tinyllama::model& m = st.fp32;
  std::printf("stories260K: dim %d, hidden %d, %d layers; calibration %d x %d tokens, evaluation %d windows\n",
              m.cfg.dim, m.cfg.hidden_dim, m.cfg.n_layers, int(st.calibration.size()), st.window_tokens,
              int(st.eval.size()));
  std::printf("layer loss tr((W-Q) H_eval (W-Q)^T), H_eval from the held-out evaluation tokens\n\n");
  const tinyllama::calibration_recorder rc = inputs(m, st.calibration), re = inputs(m, st.eval);

  table("INT4 asymmetric g32 (uint4, GPTQ convention; w2: 5 groups of 32 + a tail of 12)",
        quantizer<uint4>({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()}), st, rc, re);
  table("MXFP4 (e2m1 + e8m0, block 32; w2 tail 12)", quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), st, rc, re);
  table("NVFP4 (e2m1 + ue4m3 block 16 + fp32 tensor scale; w2 tail 12)",
        quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), st, rc, re);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
