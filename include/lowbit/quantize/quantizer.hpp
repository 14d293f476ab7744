// lowbit/quantize/quantizer.hpp — the composition point: format × granularity × rounding ×
// scale format, fitted to a matrix.
//
//   quantizer<Format, ScaleFormat = float, Rounding = round_nearest_even> q(options);
//   qparams p        = q.fit(x);              // one scale (+ zero) per block of x (rows × cols)
//   quantized<F> qx  = q.quantize(x, p);      // codes, rows × cols, row-major
//   Matrix       y   = q.dequantize(qx);      // x̂
//   Matrix       y2  = q.fake_quantize(x);    // fit → quantize → dequantize, in float
//
// Compile-time policies: the element Format, the ScaleFormat scales are stored in (float,
// bfloat16_format, float16_format, float8_e8m0fnu, float8_ue4m3, float8_e4m3fn) and the
// Rounding of elements. Runtime choices live in quant_options.
//
// Scale selection per block with range r = max(|lo|, |hi|) (symmetric) from the observer:
//   float-like ScaleFormat : s = r / Format::max_value, rounded to ScaleFormat (RNE) before
//                            any element is encoded (see quantize/mapping.hpp for integer
//                            conventions and zero points)
//   float8_e8m0fnu (MX)    : s = 2^e, e per mx_scale_rule (OCP v1.0 §6.3 and torchao):
//       floor : e = floor(log2 r) − emax_elem         (OCP; may clip the block max)
//       ceil  : e = ceil(log2 r) − emax_elem
//       even  : r rounded to the element's mantissa width first, then floor
//       rceil : e = ceil(log2(r / Format::max_value)) (NVIDIA; never clips)
//     clamped to [−127, 127] (so ceil / even act as floor for r > 2^127); an all-zero block
//     gets 2^−127 (code 0x00)
//   narrow float ScaleFormat (ue4m3, e4m3fn), two-level (NVFP4 when Format is e2m1):
//       tensor_scale t = amax(x) / (ScaleFormat::max · Format::max)   (fp32; 1 if amax = 0,
//                                                                       2^-126 if t is smaller:
//                                                                       s · t then never
//                                                                       underflows to 0, 0/0)
//       s = ScaleFormat_RN_sat(r / (Format::max · t))                  (1 for an all-zero block,
//                                                                       ScaleFormat's min_positive
//                                                                       if a nonzero r rounds to 0)
//     with zero points (and GPTQ's symmetric convention) the steps are (max − min) / 2 instead of
//     Format::max in t, as a block's span reaches 2·amax
// Asymmetric (integer formats): the convention's scale (quantize/mapping.hpp) divided by t is
// what is stored, zero points are computed against s_eff = stored · t. GPTQ's symmetric
// convention (z = (max_int + 1) / 2) spreads [−r, r] over max_int steps with every scale format:
// e8m0 rules see 2r, narrow scales r / (max_int / 2 · t).
// float32 arithmetic as the references, except where it would overflow for finite data: spans
// hi − lo and KIVI's x − m beyond FLT_MAX are taken in double. x̂ of a value within one step of
// ±FLT_MAX can still round to ±inf (the fp32 product decode(q) · s).
// Ranges come from quant_options::obs per block (observer/observer.hpp: absmax, minmax, rms,
// percentile, mse / GPTQ clip search, the search scoring each candidate with this very
// quantizer), or from from_ranges() for stateful calibrators (observer/entropy.hpp, running.hpp).
// Elements: v = x / s_eff in float32 (s_eff = s · t), q = Format-encode(v) with Rounding,
// saturating; dequantization x̂ = decode(q) · s · t (integer zero points: (q − z) · s_eff;
// KIVI float offsets m: q = clamp(R((x − m)/s_eff) + qmin), x̂ = (q − qmin) · s_eff + m).
// Stochastic rounding draws stochastic_bits(seed, i·cols + j): reproducible for any thread count.
//
// Bad input throws lowbit::error: empty input, NaN/Inf in x, shapes that disagree with the
// qparams, a granularity the shape cannot take (tail::exact), an asymmetric mapping on a
// non-integer format, convention::gptq symmetric on a signed format, observer parameters out
// of range, channel weights of the wrong length or negative / non-finite, from_ranges grids
// of the wrong shape, non-finite, or with lo > hi in a block (torch's observers assert the same).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <limits>
#include <type_traits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../format/minifloat.hpp"
#include "../format/scale.hpp"
#include "../format/traits.hpp"
#include "../granularity/granularity.hpp"
#include "../observer/observer.hpp"
#include "../rounding/directed.hpp"
#include "../rounding/nearest.hpp"
#include "../rounding/stochastic.hpp"
#include "mapping.hpp"
#include "qparams.hpp"

namespace lowbit {

enum class mx_scale_rule { floor, ceil, even, rceil };

struct quant_options {
  granularity gran = per_tensor();
  mapping map = mapping::symmetric;
  convention conv = convention::lowbit;
  observer obs = {};              // min/max by default (= absmax for symmetric mappings)
  mx_scale_rule mx_rule = mx_scale_rule::floor;  // only for an e8m0 scale format
  bool two_level = true;          // tensor scale for narrow float scale formats (NVFP4)
  float fixed_tensor_scale = 0;   // > 0: use this tensor scale instead of amax-derived
  std::uint64_t seed = 0;         // stochastic rounding stream
};

// Scale and zero of one block, as the element loops use them.
struct block_params {
  float scale = 1.0f;  // stored scale (exact in the scale format)
  float tensor = 1.0f; // second-level tensor scale
  float eff = 1.0f;    // s_eff = scale · tensor (fp32), the divisor of the elements
  float zero = 0.0f;   // integer zero point or float offset, per zero_kind
};

namespace detail {
template <class SF, class = void>
struct is_wide_minifloat : std::false_type {};
template <class SF>
struct is_wide_minifloat<SF, std::enable_if_t<is_format_v<SF>>>
    : std::bool_constant<SF::kind == format_kind::minifloat && SF::bits >= 16> {};
template <class SF>
constexpr bool is_float_like_scale_v = std::is_same_v<SF, float> || is_wide_minifloat<SF>::value;
template <class SF>
constexpr bool is_e8m0_scale_v = std::is_same_v<SF, float8_e8m0fnu>;
template <class SF>
constexpr bool is_narrow_scale_v = !is_float_like_scale_v<SF> && !is_e8m0_scale_v<SF>;

// Round a positive scale to its storage format (RNE, saturating); float passes through.
template <class SF>
float store_scale(float s) {
  if constexpr (std::is_same_v<SF, float>) {
    return s;
  } else {
    return decode<SF>(encode<SF, round_nearest_even, overflow::saturate>(s));
  }
}

template <class F>
constexpr int mantissa_bits_of() {
  if constexpr (F::kind == format_kind::minifloat) return F::mantissa_bits;
  else return 23;  // no pre-rounding: "even" degenerates to "floor"
}
}  // namespace detail

template <class Format, class ScaleFormat = float, class Rounding = round_nearest_even>
class quantizer {
  static_assert(is_format_v<Format>, "lowbit: Format is not a number format (see lowbit/format/traits.hpp)");
  static_assert(std::is_same_v<ScaleFormat, float> || is_format_v<ScaleFormat>,
                "lowbit: ScaleFormat must be float or a lowbit format (see lowbit/quantize/quantizer.hpp)");
  static_assert(is_rounding_v<Rounding>, "lowbit: Rounding is not a rounding policy (see lowbit/rounding/traits.hpp)");

 public:
  using format = Format;
  using scale_format = ScaleFormat;
  using rounding = Rounding;
  using storage = typename Format::storage;
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  static constexpr bool is_integer = Format::kind == format_kind::integer;

  explicit quantizer(quant_options o = {}) : opt_(o) {
    LOWBIT_CHECK(opt_.map == mapping::symmetric || is_integer, "quantizer<", Format::name,
                 ">: asymmetric mapping needs an integer format");
    if constexpr (is_integer) {
      LOWBIT_CHECK(!(opt_.map == mapping::symmetric && opt_.conv == convention::gptq && Format::is_signed),
                   "quantizer<", Format::name, ">: convention::gptq symmetric uses unsigned codes (uint4 ...)");
      LOWBIT_CHECK(!(opt_.map == mapping::symmetric && opt_.conv != convention::gptq && !Format::is_signed),
                   "quantizer<", Format::name, ">: symmetric mapping needs a signed format "
                   "(or convention::gptq, which centres unsigned codes)");
      LOWBIT_CHECK(opt_.map == mapping::asymmetric || opt_.conv != convention::kivi,
                   "quantizer: convention::kivi is asymmetric");
    }
    LOWBIT_CHECK(std::isfinite(opt_.fixed_tensor_scale) &&
                     (opt_.fixed_tensor_scale == 0 || opt_.fixed_tensor_scale >= std::numeric_limits<float>::min()),
                 "quantizer: fixed_tensor_scale must be 0 (from the tensor amax) or a finite normal float "
                 "(>= 2^-126, so that scale · tensor scale cannot underflow to 0), got ",
                 opt_.fixed_tensor_scale);
    check_observer(opt_.obs, "quantizer");
  }

  const quant_options& options() const { return opt_; }
  zero_kind zeros() const {
    if (opt_.map == mapping::symmetric) return opt_.conv == convention::gptq ? zero_kind::integer : zero_kind::none;
    return opt_.conv == convention::kivi ? zero_kind::offset : zero_kind::integer;
  }
  bool uses_tensor_scale() const { return detail::is_narrow_scale_v<ScaleFormat> && opt_.two_level; }

  // ---- fitting -------------------------------------------------------------------------

  // Fit one scale (and zero) per block of x. channel_weights (optional, length cols, >= 0)
  // weight each input channel for the rms and mse observers (activation-aware calibration);
  // they are normalised by their maximum first, as the Quantize-Qwen3.5 toolkit does (which
  // changes nothing for mse and makes rms use a_j / max a).
  template <class Derived>
  qparams fit(const Eigen::DenseBase<Derived>& x, const Eigen::VectorXf& channel_weights) const {
    LOWBIT_CHECK(channel_weights.size() == x.cols(), "quantizer::fit: ", channel_weights.size(),
                 " channel weights for ", x.cols(), " columns");
    return fit(x, channel_weights.data());
  }

  template <class Derived>
  qparams fit(const Eigen::DenseBase<Derived>& x, const float* channel_weights = nullptr) const {
    const Eigen::Index rows = x.rows(), cols = x.cols();
    opt_.gran.check(rows, cols, "quantizer::fit");
    detail::check_finite(x, "quantizer::fit");
    std::vector<float> cw;
    if (channel_weights) {
      float wmax = 0.0f;
      for (Eigen::Index j = 0; j < cols; ++j) {
        LOWBIT_CHECK(std::isfinite(channel_weights[j]) && channel_weights[j] >= 0.0f, "quantizer::fit: channel ",
                     "weight ", j, " is ", channel_weights[j], ", must be finite and >= 0");
        wmax = std::fmax(wmax, channel_weights[j]);
      }
      cw.assign(channel_weights, channel_weights + cols);
      if (wmax > 0.0f)
        for (float& w : cw) w /= wmax;
      channel_weights = cw.data();
    }
    qparams p = empty_params(rows, cols);
    p.tensor_scale = tensor_scale_for(x);

    const Eigen::Index br = opt_.gran.rows_per_block(rows), bc = opt_.gran.cols_per_block(cols);
    std::vector<float> buf, wbuf;
    buf.reserve(std::size_t(br * bc));
    for (Eigen::Index gi = 0; gi < p.scale.rows(); ++gi) {
      for (Eigen::Index gj = 0; gj < p.scale.cols(); ++gj) {
        buf.clear();
        wbuf.clear();
        const Eigen::Index i0 = gi * br, j0 = gj * bc;
        const Eigen::Index i1 = std::min(rows, i0 + br), j1 = std::min(cols, j0 + bc);
        for (Eigen::Index i = i0; i < i1; ++i)
          for (Eigen::Index j = j0; j < j1; ++j) {
            buf.push_back(static_cast<float>(x(i, j)));
            if (channel_weights) wbuf.push_back(channel_weights[j]);
          }
        if (opt_.gran.tail_rule == tail::pad) {
          const std::size_t full = std::size_t(br * bc);
          buf.resize(full, 0.0f);
          if (channel_weights) wbuf.resize(full, 0.0f);
        }
        const float t = p.tensor_scale;
        auto err = [&](const value_range& r, double norm) {
          return block_error(buf, wbuf, block_from_range(r, t), norm);
        };
        const value_range r = observe(opt_.obs, buf.data(), channel_weights ? wbuf.data() : nullptr,
                                      Eigen::Index(buf.size()), opt_.map == mapping::symmetric, err);
        const block_params b = block_from_range(r, t);
        p.scale(gi, gj) = b.scale;
        if (p.zeros != zero_kind::none) p.zero(gi, gj) = b.zero;
      }
    }
    return p;
  }

  // Parameters from given per-block ranges (static calibration: running max, entropy ...).
  // lo and hi have the grid shape of the granularity for a rows × cols input; tensor_amax
  // feeds the two-level tensor scale (ignored otherwise).
  qparams from_ranges(Eigen::Index rows, Eigen::Index cols, const Eigen::MatrixXf& lo,
                      const Eigen::MatrixXf& hi, float tensor_amax = 0.0f) const {
    opt_.gran.check(rows, cols, "quantizer::from_ranges");
    qparams p = empty_params(rows, cols);
    LOWBIT_CHECK(lo.rows() == p.scale.rows() && lo.cols() == p.scale.cols() && hi.rows() == lo.rows() &&
                     hi.cols() == lo.cols(),
                 "quantizer::from_ranges: range grids must be ", p.scale.rows(), " x ", p.scale.cols(), ", got ",
                 lo.rows(), " x ", lo.cols(), " and ", hi.rows(), " x ", hi.cols());
    LOWBIT_CHECK(detail::all_finite(lo) && detail::all_finite(hi) && std::isfinite(tensor_amax),
                 "quantizer::from_ranges: ranges must be finite");
    for (Eigen::Index gi = 0; gi < lo.rows(); ++gi)
      for (Eigen::Index gj = 0; gj < lo.cols(); ++gj)
        LOWBIT_CHECK(lo(gi, gj) <= hi(gi, gj), "quantizer::from_ranges: block (", gi, ", ", gj, ") has lo ",
                     std::setprecision(9), lo(gi, gj), " > hi ", hi(gi, gj));  // 9 digits tell floats apart
    p.tensor_scale = tensor_scale_from_amax(tensor_amax);
    for (Eigen::Index gi = 0; gi < p.scale.rows(); ++gi)
      for (Eigen::Index gj = 0; gj < p.scale.cols(); ++gj) {
        const block_params b = block_from_range({lo(gi, gj), hi(gi, gj)}, p.tensor_scale);
        p.scale(gi, gj) = b.scale;
        if (p.zeros != zero_kind::none) p.zero(gi, gj) = b.zero;
      }
    return p;
  }

  // ---- encoding ------------------------------------------------------------------------

  template <class Derived>
  quantized<Format> quantize(const Eigen::DenseBase<Derived>& x) const {
    return quantize(x, fit(x));
  }

  template <class Derived>
  quantized<Format> quantize(const Eigen::DenseBase<Derived>& x, const qparams& p) const {
    check_params(x.rows(), x.cols(), p, "quantizer::quantize");
    detail::check_finite(x, "quantizer::quantize");
    quantized<Format> q;
    q.params = p;
    q.codes.resize(x.rows(), x.cols());
    for_each_run(p, [&](Eigen::Index i, Eigen::Index j0, Eigen::Index j1, const block_params& b) {
      for (Eigen::Index j = j0; j < j1; ++j)
        q.codes(i, j) = encode_value(static_cast<float>(x(i, j)), b, element_index(p, i, j));
    });
    return q;
  }

  matrix dequantize(const quantized<Format>& q) const {
    check_params(q.codes.rows(), q.codes.cols(), q.params, "quantizer::dequantize");
    matrix y(q.codes.rows(), q.codes.cols());
    for_each_run(q.params, [&](Eigen::Index i, Eigen::Index j0, Eigen::Index j1, const block_params& b) {
      for (Eigen::Index j = j0; j < j1; ++j) y(i, j) = decode_value(q.codes(i, j), b);
    });
    return y;
  }

  template <class Derived>
  matrix fake_quantize(const Eigen::DenseBase<Derived>& x) const {
    return fake_quantize(x, fit(x));
  }

  template <class Derived>
  matrix fake_quantize(const Eigen::DenseBase<Derived>& x, const qparams& p) const {
    check_params(x.rows(), x.cols(), p, "quantizer::fake_quantize");
    detail::check_finite(x, "quantizer::fake_quantize");
    matrix y(x.rows(), x.cols());
    for_each_run(p, [&](Eigen::Index i, Eigen::Index j0, Eigen::Index j1, const block_params& b) {
      for (Eigen::Index j = j0; j < j1; ++j)
        y(i, j) = decode_value(encode_value(static_cast<float>(x(i, j)), b, element_index(p, i, j)), b);
    });
    return y;
  }

  // Throws lowbit::error (message starting with `where`) unless p fits a rows × cols input
  // under this quantizer: shape, scale grid, zero kind and zero grid.
  void check_params(Eigen::Index rows, Eigen::Index cols, const qparams& p, const char* where) const {
    LOWBIT_CHECK(rows > 0 && cols > 0, where, ": empty input (", rows, " x ", cols, ")");
    LOWBIT_CHECK(p.rows == rows && p.cols == cols, where, ": qparams were fitted for ", p.rows, " x ", p.cols,
                 ", input is ", rows, " x ", cols);
    LOWBIT_CHECK(p.scale.rows() == p.gran.grid_rows(rows) && p.scale.cols() == p.gran.grid_cols(cols), where,
                 ": scale grid is ", p.scale.rows(), " x ", p.scale.cols(), ", granularity needs ",
                 p.gran.grid_rows(rows), " x ", p.gran.grid_cols(cols));
    LOWBIT_CHECK(p.zeros == zeros(), where, ": qparams zero kind does not match this quantizer's mapping");
    LOWBIT_CHECK(p.zeros == zero_kind::none || (p.zero.rows() == p.scale.rows() && p.zero.cols() == p.scale.cols()),
                 where, ": zero grid shape differs from the scale grid");
  }

  // ---- element primitives (the specification the SIMD kernels reproduce) ----------------

  // Parameters of the block holding element (i, j).
  block_params block_at(const qparams& p, Eigen::Index i, Eigen::Index j) const {
    block_params b;
    const Eigen::Index gi = p.block_row(i), gj = p.block_col(j);
    b.scale = p.scale(gi, gj);
    b.tensor = p.tensor_scale;
    b.eff = b.scale * p.tensor_scale;
    if (p.zeros != zero_kind::none) b.zero = p.zero(gi, gj);
    return b;
  }

  // Code of x under block parameters b. `index` keys the stochastic-rounding stream.
  storage encode_value(float x, const block_params& b, std::uint64_t index = 0) const {
    const std::uint32_t bits = Rounding::is_stochastic ? stochastic_bits(opt_.seed, index) : 0u;
    if constexpr (is_integer) {
      const zero_kind zk = zeros();
      const float v = zk == zero_kind::offset ? span_over(x, b.zero, b.eff) : x / b.eff;
      double r;
      if constexpr (std::is_same_v<Rounding, round_nearest_even>) {
        r = std::nearbyint(clamp_wide(v));  // = Rounding::apply under the default FP mode, branch-free
      } else {
        r = Rounding::apply(clamp_wide(v), bits);
      }
      if (zk == zero_kind::integer) r += b.zero;
      if (zk == zero_kind::offset) r += Format::min_value;  // codes from qmin (0 for unsigned)
      r = r < Format::min_value ? Format::min_value : (r > Format::max_value ? Format::max_value : r);
      return Format::from_int(int(r));
    } else {
      return encode<Format, Rounding, overflow::saturate>(x / b.eff, bits);
    }
  }

  float decode_value(storage q, const block_params& b) const {
    if constexpr (is_integer) {
      switch (zeros()) {
        case zero_kind::integer: return (float(Format::to_int(q)) - b.zero) * b.eff;
        case zero_kind::offset:  // one rounding (no compiler-dependent contraction, no overflow of q·s)
          return std::fma(float(Format::to_int(q) - Format::min_int), b.eff, b.zero);
        case zero_kind::none: break;
      }
      return float(Format::to_int(q)) * b.scale * b.tensor;
    } else {
      return decode<Format>(q) * b.scale * b.tensor;
    }
  }

  // Scale and zero for a block whose observed range is r, under tensor scale t.
  block_params block_from_range(value_range r, float t = 1.0f) const {
    block_params b;
    const float amax = std::fmax(std::fabs(r.lo), std::fabs(r.hi));
    if constexpr (is_integer) {
      if (opt_.map == mapping::asymmetric) return asymmetric_params(r, t);
    }
    float s;
    // GPTQ's symmetric convention spreads [−amax, amax] over all max_int steps around
    // z = (max_int + 1) / 2 (s = 2·amax / max_int): the e8m0 and narrow scales see that span too.
    const bool gptq_sym = is_integer && opt_.map == mapping::symmetric && opt_.conv == convention::gptq;
    if constexpr (detail::is_e8m0_scale_v<ScaleFormat>) {
      s = mx_scale(amax, gptq_sym ? 1 : 0);
    } else if constexpr (detail::is_narrow_scale_v<ScaleFormat>) {
      const float denom = (gptq_sym ? 0.5f * float(Format::max_value) : float(qmax_symmetric())) * t;
      s = amax == 0.0f ? 1.0f : stored_nonzero(amax / denom);
    } else {
      s = symmetric_scale(amax);
    }
    b.scale = s;
    b.tensor = t;
    b.eff = s * t;
    if constexpr (is_integer) {
      if (opt_.map == mapping::symmetric && opt_.conv == convention::gptq) b.zero = float((Format::max_int + 1) / 2);
    }
    return b;
  }

 private:
  quant_options opt_;

  // Largest |value| the symmetric mapping uses: 127 int8, 7 int4, Format::max_value floats.
  static constexpr double qmax_symmetric() { return Format::max_value; }

  static double clamp_wide(float v) {  // keep R::apply exact for huge quotients
    const double lim = 1e9;
    return v > lim ? lim : (v < -lim ? -lim : double(v));
  }

  qparams empty_params(Eigen::Index rows, Eigen::Index cols) const {
    qparams p;
    p.gran = opt_.gran;
    p.rows = rows;
    p.cols = cols;
    p.scale.setOnes(opt_.gran.grid_rows(rows), opt_.gran.grid_cols(cols));
    p.zeros = zeros();
    if (p.zeros != zero_kind::none) p.zero.setZero(p.scale.rows(), p.scale.cols());
    return p;
  }

  // Calls f(i, j0, j1, block) for every run of one row inside one block, row by row.
  template <class F>
  void for_each_run(const qparams& p, F&& f) const {
    const Eigen::Index bc = p.gran.cols_per_block(p.cols);
    for (Eigen::Index i = 0; i < p.rows; ++i)
      for (Eigen::Index j0 = 0; j0 < p.cols; j0 += bc) f(i, j0, std::min(p.cols, j0 + bc), block_at(p, i, j0));
  }

  std::uint64_t element_index(const qparams& p, Eigen::Index i, Eigen::Index j) const {
    return std::uint64_t(i) * std::uint64_t(p.cols) + std::uint64_t(j);
  }

  template <class Derived>
  float tensor_scale_for(const Eigen::DenseBase<Derived>& x) const {
    if (!uses_tensor_scale()) return 1.0f;
    if (opt_.fixed_tensor_scale > 0) return opt_.fixed_tensor_scale;
    float amax = 0.0f;
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index j = 0; j < x.cols(); ++j) amax = std::fmax(amax, std::fabs(static_cast<float>(x(i, j))));
    return tensor_scale_from_amax(amax);
  }

  float tensor_scale_from_amax(float amax) const {
    if (!uses_tensor_scale()) return 1.0f;
    if (opt_.fixed_tensor_scale > 0) return opt_.fixed_tensor_scale;
    if constexpr (detail::is_narrow_scale_v<ScaleFormat>) {
      // A subnormal t (amax below ~3e-35) could make s_eff = s · t round to 0 for small s, and
      // x / s_eff inf or NaN: it is raised to the smallest normal float, so s_eff >= 2^-9 · 2^-126.
      // Block scales are at most amax / (qmax · t) — or, with zero points and under GPTQ's
      // symmetric convention, a span of up to 2·amax over max − min steps — and must stay
      // below ScaleFormat::max.
      float steps = float(qmax_symmetric());
      if constexpr (is_integer)
        if (opt_.map == mapping::asymmetric || opt_.conv == convention::gptq)
          steps = 0.5f * float(Format::max_int - Format::min_int);
      const float t = amax / (float(ScaleFormat::max_value) * steps);
      if (amax == 0.0f) return 1.0f;
      return std::fmax(t, std::numeric_limits<float>::min());
    }
    return 1.0f;
  }

  // Symmetric scale for a float-like scale format, per convention.
  float symmetric_scale(float amax) const {
    float s;
    if constexpr (is_integer) {
      if (opt_.conv == convention::gptq) {
        const float a = amax == 0.0f ? 1.0f : amax;  // reference: zero range -> [-1, 1]
        s = span_over(a, -a, float(Format::max_int));
      } else if (opt_.conv == convention::awq || opt_.conv == convention::smoothquant) {
        s = std::fmax(amax, 1e-5f) / float(Format::max_int);
      } else {
        s = amax / float(Format::max_int);
      }
    } else {
      s = amax / float(Format::max_value);
    }
    if (s == 0.0f) return 1.0f;  // all-zero block: any finite scale reproduces the zeros
    s = detail::store_scale<ScaleFormat>(s);
    if (s == 0.0f) {
      if constexpr (!std::is_same_v<ScaleFormat, float>) s = float(ScaleFormat::min_positive);
    }
    return s;
  }

  block_params asymmetric_params(value_range r, float t) const {
    block_params b;
    const double qmin = Format::min_int, qmax = Format::max_int, levels = qmax - qmin;
    // The stored scale is s / t, so that the effective divisor s_eff = stored · t (t = 1 unless a
    // two-level tensor scale is in use); zero points are computed against s_eff.
    float lo = r.lo, hi = r.hi, s;
    auto store = [&](float raw) { return t == 1.0f ? stored_nonzero(raw) : stored_nonzero(raw / t); };
    switch (opt_.conv) {
      case convention::awq:
        s = store(std::fmax(span_over(hi, lo, float(levels)), 1e-5f / float(levels)));
        b.zero = float(qmin + clampd(-round_ne(lo / (s * t)), 0.0, levels));
        break;
      case convention::kivi:
        s = span_over(hi, lo, float(levels));
        s = s == 0.0f ? 1.0f : store(s);
        b.zero = lo;
        break;
      default:  // lowbit, gptq: widen to include 0
        lo = std::fmin(lo, 0.0f);
        hi = std::fmax(hi, 0.0f);
        if (lo == 0.0f && hi == 0.0f && opt_.conv == convention::gptq) {
          lo = -1.0f;
          hi = 1.0f;
        }
        s = span_over(hi, lo, float(levels));
        s = s == 0.0f ? 1.0f : store(s);
        b.zero = float(clampd(qmin + round_ne(-lo / (s * t)), qmin, qmax));
        break;
    }
    b.scale = s;
    b.tensor = t;
    b.eff = s * t;
    return b;
  }

  // (hi − lo) / levels in float32, as the references compute it; a span hi − lo beyond FLT_MAX
  // (finite ends, e.g. ±3e38) is taken in double instead of giving an inf scale (then x / inf = 0
  // and x̂ = 0 · inf = NaN for the whole block). Also KIVI's (x − m) / s_eff.
  static float span_over(float hi, float lo, float levels) {
    const float d = hi - lo;
    return std::isfinite(d) ? d / levels : float((double(hi) - double(lo)) / double(levels));
  }

  static float stored_nonzero(float s) {
    float r = detail::store_scale<ScaleFormat>(s);
    if (r == 0.0f) {
      if constexpr (!std::is_same_v<ScaleFormat, float>) r = float(ScaleFormat::min_positive);
    }
    return r;
  }
  static double round_ne(float v) { return round_nearest_even::apply(double(v)); }
  static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

  // OCP MX shared scale 2^e for a block with absolute maximum amax (· 2^extra: GPTQ's symmetric
  // span). ceil and even see amax through e8m0, which saturates at 2^127: above it they act as
  // floor (the top of such a block clips, where 2^128−emax would decode its largest codes as inf).
  float mx_scale(float amax, int extra = 0) const {
    using E8 = float8_e8m0fnu;
    int e;
    switch (opt_.mx_rule) {
      case mx_scale_rule::ceil:
        e = E8::exponent(encode<E8, round_up>(amax)) - Format::emax_pow2;
        break;
      case mx_scale_rule::rceil:
        e = E8::exponent(encode<E8, round_up>(amax / float(Format::max_value)));
        break;
      case mx_scale_rule::even: {
        constexpr int mb = detail::mantissa_bits_of<Format>();
        std::uint32_t u;
        std::memcpy(&u, &amax, 4);
        if (mb < 23) u = (u + (1u << (23 - mb - 1))) & 0x7F800000u;
        float rounded;
        std::memcpy(&rounded, &u, 4);  // +inf when the rounding carries past 2^127: saturates below
        e = E8::exponent(encode<E8, round_toward_zero>(rounded)) - Format::emax_pow2;
        break;
      }
      case mx_scale_rule::floor:
      default:
        e = E8::exponent(encode<E8, round_toward_zero>(amax)) - Format::emax_pow2;
        break;
    }
    e += extra;
    if (amax == 0.0f) e = E8::min_exponent;
    e = e < E8::min_exponent ? E8::min_exponent : (e > E8::max_exponent ? E8::max_exponent : e);
    return E8::decode(E8::from_exponent(e));
  }

  // Σ w_i |x_i − x̂_i|^p over a block (w_i = 1 when no weights), x̂ under parameters b.
  double block_error(const std::vector<float>& x, const std::vector<float>& w, const block_params& b,
                     double p) const {
    double e = 0.0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const double d = std::fabs(double(x[k]) - double(decode_value(encode_value(x[k], b, 0), b)));
      const double t = p == 2.0 ? d * d : (d == 0.0 ? 0.0 : std::pow(d, p));
      e += w.empty() ? t : double(w[k]) * t;
    }
    return e;
  }
};

}  // namespace lowbit
