// lowbit/algo/hadamard.hpp — Hadamard rotations (QuaRot): fast Walsh–Hadamard transform for
// n = K·2^m, randomised signs, and offline folding of rotations into adjacent linears.
//
// Supported sizes (hadamard_factor): n = 2^m (K = 1, Sylvester) or n = K·2^m with K one of the
// known matrices 172, 156, 140, 108, 60, 52, 44, 36, 28, 40, 20, 12 — tried in this order, as
// QuaRot's get_hadK does (40 before 20; 44 is an addition). Anything else (6, 68, 100, 11·2^k
// with k < 2 ...) throws lowbit::error; pad or use a block-diagonal rotation yourself.
// The order-K matrices are Sloane's (detail/hadamard_table.hpp, data/hadamards/README.md); they
// are valid Hadamard matrices but not QuaRot's own, so for K > 1 rotated weights are exact
// rotations yet not bit-identical to QuaRot checkpoints.
//
//   H_n = H_K ⊗ S_{2^m}      (±1 entries, H_n·H_nᵀ = n·I; S = Sylvester, S_1 = [1], S_2 = [1 1; 1 −1])
//   index of x: i = a·2^m + b, a < K, b < 2^m
//   hadamard_transform(X)          each row x ↦ H_n·x / √n        (Y = X·H_nᵀ/√n, QuaRot matmul_hadU)
//   hadamard_transform(X, true)    each row x ↦ H_nᵀ·x / √n       (the inverse)
// Cost per row: n·log2(2^m) adds (butterflies) + K·n adds/subtracts (H_K stage, ±1 entries).
//
// A rotation is Q = diag(s)·H_nᵀ/√n with signs s ∈ {±1}ⁿ (all +1: plain Hadamard; random:
// QuIP#/QuaRot random_hadamard_matrix). Q is orthogonal, and X·Q = hadamard_transform(X·diag(s)),
// so it is applied online in O(n log n). Folding, for a linear y = x·Wᵀ + b (W: out × in):
//   consumer of a rotated input  x' = x·Q :   W' = W·Q               (y unchanged)
//   producer of a rotated output y' = y·Q :   W' = Qᵀ·W,  b' = Qᵀ·b  (y' = y·Q)
//   norm weight γ before a linear:            W' = W·diag(γ)          (fuse_norm_into_linear)
// RMSNorm without weight commutes with Q (‖x·Q‖ = ‖x‖), which is why a residual stream can be
// rotated once the norm weights are fused into the following linears. Folding is exact in
// float64 up to round-off (tests/algo/hadamard_test.cpp).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../detail/hadamard_table.hpp"
#include "../error.hpp"
#include "../rounding/stochastic.hpp"

namespace lowbit {

// n = k · pow2, pow2 a power of two, k = 1 or a known order.
struct hadamard_size {
  Eigen::Index n = 1;
  Eigen::Index k = 1;
  Eigen::Index pow2 = 1;
};

namespace detail {
inline bool is_pow2(Eigen::Index v) { return v > 0 && (v & (v - 1)) == 0; }

// Preference order of the known factors (QuaRot get_hadK, plus 44).
inline const int* hadamard_factor_order(int& count) {
  static const int order[] = {172, 156, 140, 108, 60, 52, 44, 36, 28, 40, 20, 12};
  count = int(sizeof(order) / sizeof(order[0]));
  return order;
}

inline const hadamard_table_entry* find_hadamard_entry(Eigen::Index k) {
  const hadamard_table_entry* t = hadamard_table();
  for (int i = 0; i < hadamard_table_size; ++i)
    if (t[i].order == k) return &t[i];
  return nullptr;
}

// The stored ±1 matrix of order k (k = 1 or a table order).
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> known_hadamard(Eigen::Index k) {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> h(k, k);
  if (k == 1) {
    h(0, 0) = T(1);
    return h;
  }
  const hadamard_table_entry* e = find_hadamard_entry(k);
  LOWBIT_CHECK(e != nullptr, "known_hadamard: no stored Hadamard matrix of order ", k);
  const Eigen::Index w = k / 4;  // hex digits per row
  for (Eigen::Index i = 0; i < k; ++i)
    for (Eigen::Index j = 0; j < k; ++j) {
      const char c = e->rows[i * w + j / 4];
      const int v = c <= '9' ? c - '0' : c - 'a' + 10;
      h(i, j) = ((v >> (3 - int(j % 4))) & 1) ? T(-1) : T(1);
    }
  return h;
}

// Parity of the set bits: S_{2^m}(b, d) = (−1)^popcount(b & d).
inline bool parity(std::uint64_t v) {
  bool p = false;
  for (; v; v &= v - 1) p = !p;
  return p;
}

// In-place unnormalised Sylvester transform of v[0..len), len a power of two.
template <class T>
void fwht_pow2(T* v, Eigen::Index len) {
  for (Eigen::Index h = 1; h < len; h *= 2)
    for (Eigen::Index i = 0; i < len; i += 2 * h)
      for (Eigen::Index j = i; j < i + h; ++j) {
        const T a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
}
}  // namespace detail

inline std::string hadamard_supported_sizes() {
  return "n = 2^m or n = K*2^m with K in {172, 156, 140, 108, 60, 52, 44, 40, 36, 28, 20, 12}";
}

// Factor n for the fast transform, or nothing: returns false for unsupported n.
inline bool hadamard_try_factor(Eigen::Index n, hadamard_size& out) {
  if (n <= 0) return false;
  if (detail::is_pow2(n)) {
    out = {n, 1, n};
    return true;
  }
  int count = 0;
  const int* order = detail::hadamard_factor_order(count);
  for (int i = 0; i < count; ++i)
    if (n % order[i] == 0 && detail::is_pow2(n / order[i])) {
      out = {n, order[i], n / order[i]};
      return true;
    }
  return false;
}

inline bool hadamard_supported(Eigen::Index n) {
  hadamard_size s;
  return hadamard_try_factor(n, s);
}

// Factor n, or throw lowbit::error naming n and the supported sizes.
inline hadamard_size hadamard_factor(Eigen::Index n, const char* where = "hadamard_factor") {
  hadamard_size s;
  LOWBIT_CHECK(hadamard_try_factor(n, s), where, ": no Hadamard matrix of size ", n, " (supported: ",
               hadamard_supported_sizes(), ")");
  return s;
}

// The dense ±1 matrix H_n = H_K ⊗ S_{2^m} (unnormalised), for tests and offline folding.
template <class T = double>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> hadamard_matrix(Eigen::Index n) {
  const hadamard_size f = hadamard_factor(n, "hadamard_matrix");
  const auto hk = detail::known_hadamard<T>(f.k);
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> h(n, n);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < n; ++j) {
      const Eigen::Index a = i / f.pow2, b = i % f.pow2, c = j / f.pow2, d = j % f.pow2;
      h(i, j) = detail::parity(std::uint64_t(b & d)) ? -hk(a, c) : hk(a, c);
    }
  return h;
}

namespace detail {
// Errors before x changes: NaN/Inf, and |x| so large that the unnormalised sums of a row of n
// (at most n·max|x|, before the 1/√n) could overflow T (float: max|x| ≥ 1.7e38/n).
// One vectorised pass (a NaN propagates into the maximum); the culprit is searched for only
// when it fails.
template <class Derived>
void check_transformable(const Eigen::MatrixBase<Derived>& x, Eigen::Index n, const char* where) {
  using T = typename Derived::Scalar;
  const T amax = x.cwiseAbs().template maxCoeff<Eigen::PropagateNaN>();
  const T bound = std::numeric_limits<T>::max() / T(2 * n);
  if (amax <= bound) return;
  if (!std::isfinite(amax)) check_finite<T>(x, where);  // throws, naming the first NaN/Inf
  LOWBIT_CHECK(false, where, ": |x| reaches ", amax, ", and the unnormalised sums of a row of ", n,
               " (up to n·max|x|) could overflow; scale x below ", bound, " first");
}

// Rows of x ↦ H·x/√n (transpose: Hᵀ·x/√n) for n = x.cols() = f.k · f.pow2, x checked already.
template <class Derived>
void transform_rows(Eigen::MatrixBase<Derived>& x, const hadamard_size& f, bool transpose) {
  using T = typename Derived::Scalar;
  const Eigen::Index n = x.cols();
  // H_K as signs, row-major (transposed for the inverse); the K stage is adds and subtracts
  // of contiguous 2^m-long slices, no GEMM (tiny per-row products would pay threading costs).
  std::vector<unsigned char> neg;
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> hk;  // for short slices (2^m < 8)
  if (f.k > 1) {
    hk = detail::known_hadamard<T>(f.k);
    if (transpose) hk = hk.transpose().eval();
    neg.resize(std::size_t(f.k * f.k));
    for (Eigen::Index a = 0; a < f.k; ++a)
      for (Eigen::Index c = 0; c < f.k; ++c) neg[std::size_t(a * f.k + c)] = hk(a, c) < T(0);
  }
  const T inv_norm = T(1) / std::sqrt(T(n));
  std::vector<T> buf(static_cast<std::size_t>(n)), mixed(f.k > 1 ? std::size_t(n) : 0);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    for (Eigen::Index j = 0; j < n; ++j) buf[std::size_t(j)] = x(r, j);
    for (Eigen::Index a = 0; a < f.k; ++a) detail::fwht_pow2(buf.data() + a * f.pow2, f.pow2);
    if (f.k > 1) {
      // y[a·2^m + b] = Σ_c H_K(a, c) · z[c·2^m + b]
      const Eigen::Index p = f.pow2;
      using rm = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      using cv = Eigen::Matrix<T, Eigen::Dynamic, 1>;
      if (p == 1) {  // n = K: one GEMV (Eigen does not thread GEMV)
        Eigen::Map<cv>(mixed.data(), f.k).noalias() = hk * Eigen::Map<const cv>(buf.data(), f.k);
      } else if (p < 8) {  // short slices: coefficient-wise product, never threaded
        Eigen::Map<rm>(mixed.data(), f.k, p).noalias() = hk.lazyProduct(Eigen::Map<const rm>(buf.data(), f.k, p));
      } else {
        for (Eigen::Index a = 0; a < f.k; ++a) {
          T* y = mixed.data() + a * p;
          const unsigned char* sg = neg.data() + a * f.k;
          for (Eigen::Index b = 0; b < p; ++b) y[b] = sg[0] ? -buf[std::size_t(b)] : buf[std::size_t(b)];
          for (Eigen::Index c = 1; c < f.k; ++c) {
            const T* z = buf.data() + c * p;
            if (sg[c])
              for (Eigen::Index b = 0; b < p; ++b) y[b] -= z[b];
            else
              for (Eigen::Index b = 0; b < p; ++b) y[b] += z[b];
          }
        }
      }
      buf.swap(mixed);
    }
    for (Eigen::Index j = 0; j < n; ++j) x(r, j) = buf[std::size_t(j)] * inv_norm;
  }
}
}  // namespace detail

// Transform every row of x in place: x ↦ H·x/√n (transpose: Hᵀ·x/√n); n = x.cols().
// Errors (lowbit::error, x unchanged): empty x, n not supported, NaN/Inf, max|x| ≥ max(T)/(2n).
template <class Derived>
void hadamard_transform_inplace(Eigen::MatrixBase<Derived>& x, bool transpose = false) {
  using T = typename Derived::Scalar;
  static_assert(std::is_floating_point_v<T>, "lowbit: hadamard_transform needs float or double (see lowbit/algo/hadamard.hpp)");
  const Eigen::Index n = x.cols();
  LOWBIT_CHECK(x.rows() > 0 && n > 0, "hadamard_transform: empty input (", x.rows(), " x ", n, ")");
  const hadamard_size f = hadamard_factor(n, "hadamard_transform");
  detail::check_transformable(x, n, "hadamard_transform");
  detail::transform_rows(x, f, transpose);
}

template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> hadamard_transform(
    const Eigen::MatrixBase<Derived>& x, bool transpose = false) {
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y = x;
  hadamard_transform_inplace(y, transpose);
  return y;
}

// Per-head transform: x is rows × (heads·head_dim); each head's head_dim slice of every row
// gets its own H_{head_dim}/√head_dim (QuaRot's online per-head Q/K and the V/o_proj fold).
template <class Derived>
void hadamard_transform_heads_inplace(Eigen::MatrixBase<Derived>& x, Eigen::Index num_heads, Eigen::Index head_dim,
                                      bool transpose = false) {
  LOWBIT_CHECK(num_heads > 0 && head_dim > 0, "hadamard_transform_heads: num_heads and head_dim must be > 0, got ",
               num_heads, " and ", head_dim);
  LOWBIT_CHECK(x.cols() == num_heads * head_dim, "hadamard_transform_heads: input has ", x.cols(),
               " columns, expected num_heads (", num_heads, ") x head_dim (", head_dim, ") = ", num_heads * head_dim);
  const hadamard_size f = hadamard_factor(head_dim, "hadamard_transform_heads (head_dim)");
  LOWBIT_CHECK(x.rows() > 0, "hadamard_transform_heads: empty input (0 x ", x.cols(), ")");
  detail::check_transformable(x, head_dim, "hadamard_transform_heads");  // before any head changes
  for (Eigen::Index h = 0; h < num_heads; ++h) {
    auto blk = x.middleCols(h * head_dim, head_dim);
    detail::transform_rows(blk, f, transpose);
  }
}

// ±1 signs from the counter-based generator (reproducible; seed selects the stream).
inline Eigen::VectorXd random_signs(Eigen::Index n, std::uint64_t seed) {
  LOWBIT_CHECK(n > 0, "random_signs: n must be > 0, got ", n);
  Eigen::VectorXd s(n);
  for (Eigen::Index i = 0; i < n; ++i) s(i) = (stochastic_bits(seed, std::uint64_t(i)) >> 31) & 1u ? -1.0 : 1.0;
  return s;
}

// Q = diag(s)·H_nᵀ/√n, an orthogonal n × n rotation applied in O(n log n).
class hadamard_rotation {
 public:
  // Plain rotation (all signs +1).
  explicit hadamard_rotation(Eigen::Index n) : size_(hadamard_factor(n, "hadamard_rotation")), signs_(Eigen::VectorXd::Ones(n)) {}
  // With the given ±1 signs.
  explicit hadamard_rotation(const Eigen::VectorXd& signs)
      : size_(hadamard_factor(signs.size(), "hadamard_rotation")), signs_(signs) {
    for (Eigen::Index i = 0; i < signs.size(); ++i)
      LOWBIT_CHECK(signs(i) == 1.0 || signs(i) == -1.0, "hadamard_rotation: sign ", i, " is ", signs(i),
                   ", expected +1 or -1");
  }
  // Random signs (QuaRot random_hadamard_matrix).
  static hadamard_rotation random(Eigen::Index n, std::uint64_t seed) {
    LOWBIT_CHECK(n > 0, "hadamard_rotation::random: n must be > 0, got ", n);
    hadamard_factor(n, "hadamard_rotation::random");
    return hadamard_rotation(random_signs(n, seed));
  }

  Eigen::Index size() const { return size_.n; }
  const hadamard_size& factors() const { return size_; }
  const Eigen::VectorXd& signs() const { return signs_; }

  // The dense Q (n × n).
  template <class T = double>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> matrix() const {
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> q =
        hadamard_matrix<T>(size_.n).transpose() / std::sqrt(T(size_.n));
    for (Eigen::Index i = 0; i < size_.n; ++i) q.row(i) *= T(signs_(i));
    return q;
  }

  // X·Q  (rows of X rotated), computed as hadamard_transform(X·diag(s)).
  template <class Derived>
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> apply(
      const Eigen::MatrixBase<Derived>& x) const {
    check_cols(x.cols(), "hadamard_rotation::apply");
    using T = typename Derived::Scalar;
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y = x;
    for (Eigen::Index j = 0; j < size_.n; ++j) y.col(j) *= T(signs_(j));
    hadamard_transform_inplace(y, false);
    return y;
  }

  // X·Qᵀ  (undoes apply), computed as hadamard_transform(X, transpose)·diag(s).
  template <class Derived>
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> apply_inverse(
      const Eigen::MatrixBase<Derived>& x) const {
    check_cols(x.cols(), "hadamard_rotation::apply_inverse");
    using T = typename Derived::Scalar;
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y = x;
    hadamard_transform_inplace(y, true);
    for (Eigen::Index j = 0; j < size_.n; ++j) y.col(j) *= T(signs_(j));
    return y;
  }

  // Fold into a linear that consumes the rotated input x·Q:  W' = W·Q  (W: out × n).
  template <class Derived>
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> fold_into_input(
      const Eigen::MatrixBase<Derived>& w) const {
    check_cols(w.cols(), "hadamard_rotation::fold_into_input (weight columns)");
    return apply(w);
  }

  // Fold into a linear whose output is rotated, y·Q:  W' = Qᵀ·W (W: n × in), b' = Qᵀ·b.
  template <class Derived>
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> fold_into_output(
      const Eigen::MatrixBase<Derived>& w) const {
    LOWBIT_CHECK(w.rows() == size_.n, "hadamard_rotation::fold_into_output: weight has ", w.rows(),
                 " output rows, rotation size is ", size_.n);
    return apply(w.transpose()).transpose();  // Qᵀ·W = (Wᵀ·Q)ᵀ
  }
  template <class Derived>
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> fold_bias_into_output(
      const Eigen::MatrixBase<Derived>& b) const {
    LOWBIT_CHECK(b.size() == size_.n, "hadamard_rotation::fold_bias_into_output: bias has ", b.size(),
                 " entries, rotation size is ", size_.n);
    Eigen::Matrix<typename Derived::Scalar, 1, Eigen::Dynamic> row(size_.n);
    for (Eigen::Index i = 0; i < size_.n; ++i) row(i) = b(i);
    return apply(row).transpose();
  }

 private:
  void check_cols(Eigen::Index cols, const char* where) const {
    LOWBIT_CHECK(cols == size_.n, where, ": input has ", cols, " columns, rotation size is ", size_.n);
  }
  hadamard_size size_;
  Eigen::VectorXd signs_;
};

// W' = W·diag(γ): a norm's elementwise weight moved into the linear that follows (QuaRot
// fuse_layer_norms); the norm then runs with γ = 1. A LayerNorm bias β moves too:
// b' = b + W·β (fuse_norm_bias_into_linear, with the W from before this call).
template <class Derived, class DerivedG>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> fuse_norm_into_linear(
    const Eigen::MatrixBase<Derived>& w, const Eigen::MatrixBase<DerivedG>& gamma) {
  LOWBIT_CHECK(gamma.size() == w.cols(), "fuse_norm_into_linear: norm weight has ", gamma.size(),
               " entries, linear has ", w.cols(), " input channels");
  using T = typename Derived::Scalar;
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out = w;
  for (Eigen::Index j = 0; j < w.cols(); ++j) out.col(j) *= T(gamma(j));
  return out;
}

// b' = b + W·β (W: out × in, β: in, b: out).
template <class Derived, class DerivedB, class DerivedBeta>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> fuse_norm_bias_into_linear(
    const Eigen::MatrixBase<Derived>& w, const Eigen::MatrixBase<DerivedB>& b, const Eigen::MatrixBase<DerivedBeta>& beta) {
  LOWBIT_CHECK(beta.size() == w.cols() && b.size() == w.rows(), "fuse_norm_bias_into_linear: W is ", w.rows(), " x ",
               w.cols(), ", bias has ", b.size(), " and norm bias ", beta.size(), " entries");
  using T = typename Derived::Scalar;
  Eigen::Matrix<T, Eigen::Dynamic, 1> out(w.rows());
  for (Eigen::Index i = 0; i < w.rows(); ++i) {
    T acc = T(b(i));
    for (Eigen::Index j = 0; j < w.cols(); ++j) acc += T(w(i, j)) * T(beta(j));
    out(i) = acc;
  }
  return out;
}

}  // namespace lowbit
