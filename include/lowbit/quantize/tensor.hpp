// lowbit/quantize/tensor.hpp — rank-3/4 Eigen::Tensor (heads, KV caches) through the 2-D
// quantizer.
//
// A tensor with dims (d_0, …, d_{R−1}), indexed as in PyTorch (the last axis varies fastest in
// the logical order, whatever the storage Layout), is split by tensor_split{b, c} into
//   batch axes d_0 … d_{b−1}        each batch index is an independent matrix with its own
//                                    qparams (slices in row-major order of the batch indices)
//   row axes   d_b … d_{R−c−1}       rows = their product, row index in row-major order
//   col axes   the last c axes       cols = K = their product, column index row-major
// Examples (granularities from granularity/granularity.hpp):
//   X[T][H][D], split{0, 2}: rows T, cols H·D   per_head(D) -> one scale per head,
//                                               per_token_head(D) -> one per (token, head)
//   KV[B][H][T][D], split{2, 1}: B·H matrices T × D
//                                per_channel(1) -> KIVI keys (one scale per channel d, per head)
//                                per_token()    -> KIVI values (one per token, per head)
//   W[N][K] as a rank-2 tensor, split{0, 1}: the plain matrix path
// Column-major tensors are read through their logical indices, so they give the same codes as
// the row-major tensor holding the same values; outputs of fake_quantize_tensor keep the
// input's Layout, dequantize_tensor returns a RowMajor tensor.
//
// Bad input throws lowbit::error: a split that leaves no row or column axis, an empty tensor,
// NaN/Inf (named by its tensor index, e.g. "non-finite value nan at [1, 0, 2, 3]"), and anything
// else the quantizer rejects (tail::exact shapes ...), prefixed with the slice: "quantize_tensor:
// slice 3 (batch index [1, 1]) of 4 x 6: <the quantizer's message>".
#pragma once

#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "qparams.hpp"

namespace lowbit {

struct tensor_split {
  int batch_axes = 0;  // leading axes indexing independent matrices
  int col_axes = 1;    // trailing axes merged into K
};

template <class Format>
struct quantized_tensor {
  std::vector<Eigen::Index> dims;      // the tensor's dims, logical order
  tensor_split split;
  Eigen::Index rows = 0, cols = 0;     // of each slice
  std::vector<quantized<Format>> slices;
};

namespace detail {
struct tensor_shape {
  std::vector<Eigen::Index> dims;
  Eigen::Index batches = 1, rows = 1, cols = 1;
};

template <class T>
tensor_shape split_shape(const T& t, tensor_split s, const char* where) {
  constexpr int R = T::NumIndices;
  LOWBIT_CHECK(s.batch_axes >= 0 && s.col_axes >= 1 && s.batch_axes + s.col_axes < R, where, ": split {batch ",
               s.batch_axes, ", cols ", s.col_axes, "} leaves no row axis in a rank-", R, " tensor");
  tensor_shape sh;
  for (int k = 0; k < R; ++k) {
    const Eigen::Index d = t.dimension(k);
    sh.dims.push_back(d);
    if (k < s.batch_axes) sh.batches *= d;
    else if (k >= R - s.col_axes) sh.cols *= d;
    else sh.rows *= d;
  }
  LOWBIT_CHECK(sh.batches * sh.rows * sh.cols > 0, where, ": empty tensor");
  return sh;
}

// The tensor's values in logical row-major (C) order: the data itself for RowMajor storage,
// a reordered copy (into buf) for ColMajor.
template <class T>
const float* c_order(const T& t, std::vector<float>& buf) {
  constexpr int R = T::NumIndices;
  if (int(T::Layout) == int(Eigen::RowMajor)) return t.data();
  std::array<Eigen::Index, R> dim, stride, idx{};
  Eigen::Index n = 1;
  for (int k = 0; k < R; ++k) {
    dim[std::size_t(k)] = t.dimension(k);
    stride[std::size_t(k)] = n;  // column-major: axis 0 fastest
    n *= dim[std::size_t(k)];
  }
  buf.resize(std::size_t(n));
  Eigen::Index off = 0;
  for (Eigen::Index lin = 0; lin < n; ++lin) {
    buf[std::size_t(lin)] = t.data()[off];
    for (int k = R - 1; k >= 0; --k) {  // advance the C-order multi-index
      const std::size_t a = std::size_t(k);
      if (++idx[a] < dim[a]) {
        off += stride[a];
        break;
      }
      off -= (dim[a] - 1) * stride[a];
      idx[a] = 0;
    }
  }
  return buf.data();
}

// Write C-order values into a tensor of layout L.
template <int R, int L>
void from_c_order(const float* v, Eigen::Tensor<float, R, L>& out) {
  if (L == int(Eigen::RowMajor)) {
    std::copy(v, v + out.size(), out.data());
    return;
  }
  std::array<Eigen::Index, R> dim, stride, idx{};
  Eigen::Index n = 1;
  for (int k = 0; k < R; ++k) {
    dim[std::size_t(k)] = out.dimension(k);
    stride[std::size_t(k)] = n;
    n *= dim[std::size_t(k)];
  }
  Eigen::Index off = 0;
  for (Eigen::Index lin = 0; lin < n; ++lin) {
    out.data()[off] = v[lin];
    for (int k = R - 1; k >= 0; --k) {
      const std::size_t a = std::size_t(k);
      if (++idx[a] < dim[a]) {
        off += stride[a];
        break;
      }
      off -= (dim[a] - 1) * stride[a];
      idx[a] = 0;
    }
  }
}

using row_major_map = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// "[i_0, …, i_{k−1}]": the multi-index of C-order position lin over dims[first, first + k).
inline std::string multi_index(const std::vector<Eigen::Index>& dims, std::size_t first, std::size_t k,
                               Eigen::Index lin) {
  std::vector<Eigen::Index> idx(k);
  for (std::size_t a = k; a-- > 0;) {
    idx[a] = lin % dims[first + a];
    lin /= dims[first + a];
  }
  std::ostringstream os;
  os << '[';
  for (std::size_t a = 0; a < k; ++a) os << (a ? ", " : "") << idx[a];
  os << ']';
  return os.str();
}

// The first non-finite value of the C-order values v, named by its tensor index (searched for
// only when the vectorised all_finite fails).
inline void check_finite(const float* v, const tensor_shape& sh, const char* where) {
  const Eigen::Index n = sh.batches * sh.rows * sh.cols;
  if (all_finite(Eigen::Map<const Eigen::ArrayXf>(v, n))) return;
  for (Eigen::Index lin = 0; lin < n; ++lin)
    LOWBIT_CHECK(std::isfinite(v[lin]), where, ": non-finite value ", v[lin], " at ",
                 multi_index(sh.dims, 0, sh.dims.size(), lin));
}

// f() for slice b; a lowbit::error it throws is thrown again with the slice named.
template <class F>
auto on_slice(const tensor_shape& sh, tensor_split s, Eigen::Index b, const char* where, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const error& e) {
    std::string what = e.what();
    const std::string prefix = "lowbit: ";
    if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
    std::ostringstream os;
    os << where << ": slice " << b;
    // the batch index, where the split and dims can name it (a hand-built quantized_tensor may not)
    const std::size_t nb = s.batch_axes > 0 ? std::size_t(s.batch_axes) : 0;
    if (nb > 0 && nb <= sh.dims.size() &&
        std::all_of(sh.dims.begin(), sh.dims.begin() + std::ptrdiff_t(nb), [](Eigen::Index d) { return d > 0; }))
      os << " (batch index " << multi_index(sh.dims, 0, nb, b) << ")";
    os << " of " << sh.rows << " x " << sh.cols << ": " << what;
    throw error(os.str());
  }
}
}  // namespace detail

// Quantize each batch slice of t (Eigen::Tensor or TensorMap of float) with q, fitting it.
template <class Q, class T>
quantized_tensor<typename Q::format> quantize_tensor(const Q& q, const T& t, tensor_split s = {}) {
  const detail::tensor_shape sh = detail::split_shape(t, s, "quantize_tensor");
  std::vector<float> buf;
  const float* v = detail::c_order(t, buf);
  quantized_tensor<typename Q::format> out;
  out.dims = sh.dims;
  out.split = s;
  out.rows = sh.rows;
  out.cols = sh.cols;
  out.slices.reserve(std::size_t(sh.batches));
  detail::check_finite(v, sh, "quantize_tensor");
  for (Eigen::Index b = 0; b < sh.batches; ++b)
    out.slices.push_back(detail::on_slice(sh, s, b, "quantize_tensor", [&] {
      return q.quantize(detail::row_major_map(v + b * sh.rows * sh.cols, sh.rows, sh.cols));
    }));
  return out;
}

// x̂ as a RowMajor tensor of the original dims (R must equal the original rank).
template <int R, class Q>
Eigen::Tensor<float, R, Eigen::RowMajor> dequantize_tensor(const Q& q, const quantized_tensor<typename Q::format>& qt) {
  LOWBIT_CHECK(int(qt.dims.size()) == R, "dequantize_tensor: the quantized tensor has rank ", qt.dims.size(),
               ", asked for ", R);
  std::array<Eigen::Index, R> d;
  Eigen::Index n = 1;
  for (int k = 0; k < R; ++k) n *= (d[std::size_t(k)] = qt.dims[std::size_t(k)]);
  LOWBIT_CHECK(n == qt.rows * qt.cols * Eigen::Index(qt.slices.size()), "dequantize_tensor: ", qt.slices.size(),
               " slices of ", qt.rows, " x ", qt.cols, " do not fill the dims");
  Eigen::Tensor<float, R, Eigen::RowMajor> out(d);
  const detail::tensor_shape sh{qt.dims, Eigen::Index(qt.slices.size()), qt.rows, qt.cols};
  for (std::size_t b = 0; b < qt.slices.size(); ++b) {
    const auto m = detail::on_slice(sh, qt.split, Eigen::Index(b), "dequantize_tensor",
                                    [&] { return q.dequantize(qt.slices[b]); });
    LOWBIT_CHECK(m.rows() == qt.rows && m.cols() == qt.cols, "dequantize_tensor: slice ", b, " is ", m.rows(), " x ",
                 m.cols(), ", expected ", qt.rows, " x ", qt.cols);
    std::copy(m.data(), m.data() + m.size(), out.data() + Eigen::Index(b) * qt.rows * qt.cols);
  }
  return out;
}

// fit → quantize → dequantize per slice; the result has t's dims and Layout.
template <class Q, class T>
Eigen::Tensor<float, T::NumIndices, T::Layout> fake_quantize_tensor(const Q& q, const T& t, tensor_split s = {}) {
  const detail::tensor_shape sh = detail::split_shape(t, s, "fake_quantize_tensor");
  std::vector<float> buf;
  const float* v = detail::c_order(t, buf);
  std::vector<float> y(std::size_t(sh.batches * sh.rows * sh.cols));
  detail::check_finite(v, sh, "fake_quantize_tensor");
  for (Eigen::Index b = 0; b < sh.batches; ++b) {
    const auto m = detail::on_slice(sh, s, b, "fake_quantize_tensor", [&] {
      return q.fake_quantize(detail::row_major_map(v + b * sh.rows * sh.cols, sh.rows, sh.cols));
    });
    std::copy(m.data(), m.data() + m.size(), y.data() + b * sh.rows * sh.cols);
  }
  std::array<Eigen::Index, T::NumIndices> d;
  for (int k = 0; k < T::NumIndices; ++k) d[std::size_t(k)] = sh.dims[std::size_t(k)];
  Eigen::Tensor<float, T::NumIndices, T::Layout> out(d);
  detail::from_c_order(y.data(), out);
  return out;
}

}  // namespace lowbit
