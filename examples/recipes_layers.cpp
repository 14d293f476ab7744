// examples/recipes_layers.cpp — per-layer output SQNR of the weight+activation recipes on the
// real tiny Llama (stories260K) with TinyStories text.
//
//   recipes_layers [--calib N] [--eval N] [--data DIR]
//
// The FP32 model runs over N calibration windows (from the end of the text, default 8) and N
// evaluation windows (from the start, default 4, disjoint) of 512 tokens. Hooks record the input
// X of every linear and Q, K, V (after RoPE) of every layer. Static parameters (per-tensor
// activation scales, SmoothQuant α and s, MeanShift means, per-head ranges) come from the
// calibration windows only; SQNR = 10·log10(Σ y² / Σ (y − ŷ)²) is measured on the evaluation
// windows, against the FP32 output y = X·Wᵀ of the same linear (same X: errors do not compound).
//
// Linear recipes (W: N×K weight rows = output channels, X: T×K):
//   int8        W int8 per-channel, X int8 per-tensor static (calibration absmax)      plain PTQ
//   sq-int8     SmoothQuant (α searched per layer on the calibration sample) + int8 as above;
//               q/k/v share s (folded into rms_att), w1/w3 share s (rms_ffn); wo/w2 are not
//               smoothed (the reference does not), so they equal int8
//   sq-tok      SmoothQuant + X int8 per-token asymmetric dynamic                      best int8 line
//   llm.int8    LLM.int8(): outlier columns (|x| ≥ 6) in float, the rest vector-wise int8
//   fp8         W e4m3 per-channel, X e4m3 per-tensor static
//   fp8-ms      fp8 + MeanShift on the q/k/v inputs (calibration mean, folded into a bias)
//   int4-tok    W int4 per-channel, X int4 per-token (dynamic), symmetric
//   had-int4    int4-tok after a random-sign Hadamard rotation of K (X·Q, W·Q; 172 = had.172)
// Attention recipes (SQNR of the causal attention output of each layer vs FP32 on the same
// Q, K, V; static per-head/per-tensor ranges from calibration):
//   pt-int8     Q/K/V int8 per-tensor symmetric
//   ph-int8     Q/K/V int8 per-head asymmetric (zero point)                            best int8 line
//   ph-sym      Q/K/V int8 per-head symmetric
//   ph-sym-ms   ph-sym with MeanShift on K after RoPE (softmax-invariant: no correction)
//   ph-fp8      Q/K/V e4m3 per-head
//   ph-fp8-ms   ph-fp8 with MeanShift on K after RoPE
// These are the rows of the Qwen3 recipe tables (plain int8, SmoothQuant int8, per-token,
// per-head, FP8 with and without MeanShift, Hadamard + int4) measured layer by layer.
#include "tinyllama/calibration.hpp"
#include "tinyllama/eval.hpp"
#include "tinyllama/forward.hpp"
#include "tinyllama/layer_study.hpp"
#include "tinyllama/model.hpp"

#include <lowbit/algo/hadamard.hpp>
#include <lowbit/algo/llm_int8.hpp>
#include <lowbit/algo/meanshift.hpp>
#include <lowbit/algo/smoothquant.hpp>
#include <lowbit/error.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <vector>

using tinyllama::linear_kind;
using tinyllama::linear_site;
using tinyllama::matrix;
using namespace lowbit;

namespace {

using matd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

matrix vstack(const std::vector<matrix>& parts) {
  Eigen::Index rows = 0;
  for (const matrix& p : parts) rows += p.rows();
  matrix out(rows, parts.front().cols());
  Eigen::Index r = 0;
  for (const matrix& p : parts) {
    out.middleRows(r, p.rows()) = p;
    r += p.rows();
  }
  return out;
}

double sqnr_db(const matd& ref, const matd& approx) {
  const double e = (ref - approx).squaredNorm();
  return e == 0.0 ? INFINITY : 10.0 * std::log10(ref.squaredNorm() / e);
}

matd product(const matrix& x, const matrix& w) { return x.cast<double>() * w.cast<double>().transpose(); }

// Static per-tensor parameters for an eval matrix from the calibration absmax.
template <class Q>
matrix static_per_tensor(const Q& q, const matrix& x_eval, float amax) {
  Eigen::MatrixXf lo(1, 1), hi(1, 1);
  lo(0, 0) = -amax;
  hi(0, 0) = amax;
  return q.fake_quantize(x_eval, q.from_ranges(x_eval.rows(), x_eval.cols(), lo, hi));
}

// Static per-head parameters (granularity per_head(d)) from calibration min/max per head.
template <class Q>
matrix static_per_head(const Q& q, const matrix& calib, const matrix& x_eval, int d) {
  const Eigen::Index heads = calib.cols() / d;
  Eigen::MatrixXf lo(1, heads), hi(1, heads);
  for (Eigen::Index h = 0; h < heads; ++h) {
    lo(0, h) = calib.middleCols(h * d, d).minCoeff();
    hi(0, h) = calib.middleCols(h * d, d).maxCoeff();
  }
  return q.fake_quantize(x_eval, q.from_ranges(x_eval.rows(), x_eval.cols(), lo, hi));
}

struct qkv_rec {
  std::vector<matrix> q, k, v;  // one per window
};

struct recording {
  tinyllama::calibration_recorder x;  // per site, every row of X (samples, in window order)
  std::map<int, qkv_rec> qkv;         // per layer
};

recording record(const tinyllama::model& m, const std::vector<tinyllama::window>& windows) {
  recording r;
  tinyllama::hooks h;
  h.qkv = [&](int l, matrix& q, matrix& k, matrix& v) {
    r.qkv[l].q.push_back(q);
    r.qkv[l].k.push_back(k);
    r.qkv[l].v.push_back(v);
  };
  r.x = tinyllama::calibrate(m, windows, h, std::numeric_limits<Eigen::Index>::max(), /*xtx=*/false);
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  const tinyllama::layer_study st = tinyllama::layer_study::from_args(argc, argv, "recipes_layers", LOWBIT_DATA_DIR);
  const tinyllama::model& fp32 = st.fp32;
  const tinyllama::config& c = fp32.cfg;
  const int hs = c.head_size();
  std::printf("stories260K: dim %d, hidden %d, %d layers, %d heads / %d kv heads of %d\n", c.dim, c.hidden_dim,
              c.n_layers, c.n_heads, c.n_kv_heads, hs);
  std::printf("calibration: %d windows x %d tokens (end of text); evaluation: %d windows (start of text)\n\n",
              int(st.calibration.size()), st.window_tokens, int(st.eval.size()));

  const recording rc = record(fp32, st.calibration), re = record(fp32, st.eval);

  const quantizer<int8> w_i8({per_channel(0)}), x_i8({per_tensor()});
  const quantizer<int8> x_i8_tok({per_token(), mapping::asymmetric, convention::lowbit, minmax_observer()});
  const quantizer<float8_e4m3fn> w_f8({per_channel(0)}), x_f8({per_tensor()});
  const quantizer<int4> w_i4({per_channel(0)}), x_i4_tok({per_token()});

  // SmoothQuant α and s per (layer, norm): q/k/v after rms_att, w1/w3 after rms_ffn.
  std::map<linear_site, Eigen::VectorXd> smooth;
  std::map<linear_site, double> alpha_of;
  for (int l = 0; l < c.n_layers; ++l)
    for (auto group : {std::vector<linear_kind>{linear_kind::wq, linear_kind::wk, linear_kind::wv},
                       std::vector<linear_kind>{linear_kind::w1, linear_kind::w3}}) {
      const matrix& xc = rc.x.at({l, group[0]}).samples;
      std::vector<const matrix*> ws;
      for (linear_kind k : group) ws.push_back(&tinyllama::weight(fp32, {l, k}));
      // A channel that is zero over the whole calibration slice would be an error: keep s = 1 there.
      smoothquant_search_options so;
      so.on_zero = zero_channel::identity;
      const smoothquant_search_result r = smoothquant_search(xc, channel_absmax_of(xc), ws, x_i8, w_i8, so);
      LOWBIT_CHECK(r.status == info::success, "SmoothQuant search failed in layer ", l);
      for (linear_kind k : group) {
        smooth[{l, k}] = r.scales;
        alpha_of[{l, k}] = r.alpha;
      }
    }

  const char* lin_names[] = {"int8", "sq-int8", "sq-tok", "llm.int8", "fp8", "fp8-ms", "int4-tok", "had-int4"};
  constexpr int n_lin = 8;
  std::printf("Linear output SQNR (dB), evaluation windows; alpha = SmoothQuant's searched alpha\n");
  std::printf("%-9s %5s", "site", "alpha");
  for (const char* n : lin_names) std::printf(" %9s", n);
  std::printf("  outlier cols\n");
  std::vector<double> lin_sum(n_lin, 0.0);
  int n_sites = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (linear_kind kind : tinyllama::layer_linears) {
      const linear_site site{l, kind};
      const matrix& w = tinyllama::weight(fp32, site);
      const matrix &xc = rc.x.at(site).samples, &xe = re.x.at(site).samples;
      const matd y = product(xe, w);
      const float amax = xc.cwiseAbs().maxCoeff();
      double s[n_lin];

      const matrix wq8 = w_i8.fake_quantize(w);
      s[0] = sqnr_db(y, product(static_per_tensor(x_i8, xe, amax), wq8));

      const bool smoothed = smooth.count(site) > 0;
      const Eigen::VectorXd sv = smoothed ? smooth.at(site) : Eigen::VectorXd::Ones(w.cols());
      const matrix xs_c = smooth_activations(xc, sv), xs_e = smooth_activations(xe, sv);
      const matrix ws8 = w_i8.fake_quantize(smooth_fold_linear(w, sv));
      s[1] = sqnr_db(y, product(static_per_tensor(x_i8, xs_e, xs_c.cwiseAbs().maxCoeff()), ws8));
      s[2] = sqnr_db(y, product(x_i8_tok.fake_quantize(xs_e), ws8));

      const llm_int8_result li = llm_int8_matmul(xe, w);
      s[3] = sqnr_db(y, li.out.cast<double>());

      const matrix wf8 = w_f8.fake_quantize(w);
      s[4] = sqnr_db(y, product(static_per_tensor(x_f8, xe, amax), wf8));
      if (kind == linear_kind::wq || kind == linear_kind::wk || kind == linear_kind::wv) {
        const Eigen::VectorXd mu = channel_mean_of(xc);
        const matrix xm_c = meanshift_apply(xc, mu), xm_e = meanshift_apply(xe, mu);
        const Eigen::VectorXd b = meanshift_fold_bias(w.cast<double>(), mu);
        matd yq = product(static_per_tensor(x_f8, xm_e, xm_c.cwiseAbs().maxCoeff()), wf8);
        yq.rowwise() += b.transpose();
        s[5] = sqnr_db(y, yq);
      } else {
        s[5] = s[4];
      }

      s[6] = sqnr_db(y, product(x_i4_tok.fake_quantize(xe), w_i4.fake_quantize(w)));
      const hadamard_rotation rot = hadamard_rotation::random(w.cols(), 1000 + 10 * std::uint64_t(l) + std::uint64_t(kind));
      s[7] = sqnr_db(y, product(x_i4_tok.fake_quantize(rot.apply(xe)), w_i4.fake_quantize(rot.fold_into_input(w))));

      char name[32];
      std::snprintf(name, sizeof name, "L%d.%s", l, tinyllama::to_string(kind));
      if (smoothed) std::printf("%-9s %5.2f", name, alpha_of.at(site));
      else std::printf("%-9s %5s", name, "-");
      for (int i = 0; i < n_lin; ++i) {
        std::printf(" %9.2f", s[i]);
        lin_sum[std::size_t(i)] += s[i];
      }
      std::printf("  %zu\n", li.outlier_cols.size());
      ++n_sites;
    }
  std::printf("%-9s %5s", "mean", "");
  for (int i = 0; i < n_lin; ++i) std::printf(" %9.2f", lin_sum[std::size_t(i)] / n_sites);
  std::printf("\n\n");

  // Attention.
  const char* att_names[] = {"pt-int8", "ph-int8", "ph-sym", "ph-sym-ms", "ph-fp8", "ph-fp8-ms"};
  constexpr int n_att = 6;
  const quantizer<int8> pt_i8({per_tensor()});
  const quantizer<int8> ph_i8_asym({per_head(hs), mapping::asymmetric, convention::lowbit, minmax_observer()});
  const quantizer<int8> ph_i8_sym({per_head(hs)});
  const quantizer<float8_e4m3fn> ph_f8({per_head(hs)});
  std::printf("Attention output SQNR (dB) per layer, Q/K/V quantized after RoPE, static ranges from calibration\n");
  std::printf("%-9s", "layer");
  for (const char* n : att_names) std::printf(" %9s", n);
  std::printf("  max|mean K|/max|K|\n");
  std::vector<double> att_sum(n_att, 0.0);
  for (int l = 0; l < c.n_layers; ++l) {
    const qkv_rec& cr = rc.qkv.at(l);
    const qkv_rec& er = re.qkv.at(l);
    const matrix qc = vstack(cr.q), kc = vstack(cr.k), vc = vstack(cr.v);
    const Eigen::VectorXd mu_k = channel_mean_of(kc);
    const matrix kc_ms = meanshift_apply(kc, mu_k);
    double s[n_att] = {0, 0, 0, 0, 0, 0};
    double ref_energy = 0.0;
    std::vector<double> err(n_att, 0.0);
    for (std::size_t wi = 0; wi < er.q.size(); ++wi) {
      const matrix &q = er.q[wi], &k = er.k[wi], &v = er.v[wi];
      const matd ref = tinyllama::causal_attention(c, q, k, v).cast<double>();
      ref_energy += ref.squaredNorm();
      const matrix k_ms = meanshift_apply(k, mu_k);
      auto add = [&](int i, const matrix& qq, const matrix& kk, const matrix& vv) {
        err[std::size_t(i)] += (tinyllama::causal_attention(c, qq, kk, vv).cast<double>() - ref).squaredNorm();
      };
      add(0, static_per_tensor(pt_i8, q, qc.cwiseAbs().maxCoeff()), static_per_tensor(pt_i8, k, kc.cwiseAbs().maxCoeff()),
          static_per_tensor(pt_i8, v, vc.cwiseAbs().maxCoeff()));
      add(1, static_per_head(ph_i8_asym, qc, q, hs), static_per_head(ph_i8_asym, kc, k, hs),
          static_per_head(ph_i8_asym, vc, v, hs));
      add(2, static_per_head(ph_i8_sym, qc, q, hs), static_per_head(ph_i8_sym, kc, k, hs),
          static_per_head(ph_i8_sym, vc, v, hs));
      add(3, static_per_head(ph_i8_sym, qc, q, hs), static_per_head(ph_i8_sym, kc_ms, k_ms, hs),
          static_per_head(ph_i8_sym, vc, v, hs));
      add(4, static_per_head(ph_f8, qc, q, hs), static_per_head(ph_f8, kc, k, hs), static_per_head(ph_f8, vc, v, hs));
      add(5, static_per_head(ph_f8, qc, q, hs), static_per_head(ph_f8, kc_ms, k_ms, hs), static_per_head(ph_f8, vc, v, hs));
    }
    std::printf("L%-8d", l);
    for (int i = 0; i < n_att; ++i) {
      s[i] = 10.0 * std::log10(ref_energy / err[std::size_t(i)]);
      att_sum[std::size_t(i)] += s[i];
      std::printf(" %9.2f", s[i]);
    }
    std::printf("  %.3f\n", mu_k.cwiseAbs().maxCoeff() / double(kc.cwiseAbs().maxCoeff()));
  }
  std::printf("%-9s", "mean");
  for (int i = 0; i < n_att; ++i) std::printf(" %9.2f", att_sum[std::size_t(i)] / c.n_layers);
  std::printf("\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
