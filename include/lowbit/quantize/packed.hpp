// lowbit/quantize/packed.hpp — sub-byte codes packed into bytes, with an explicit order.
//
// Codes are the format's bit patterns (quantized<F>::codes, one per element). Packing puts
// 8 / B codes in a byte (B = F::bits ∈ {2, 4, 8}); the byte layout is chosen explicitly:
//
//   4-bit, nibble_order::low_first   byte k = c[2k] | c[2k+1] << 4
//          CUDA __nv_fp4x2 / CUTLASS / torchao / ModelOpt NVFP4 ("even element in the low nibble")
//   4-bit, nibble_order::high_first  byte k = c[2k] << 4 | c[2k+1]
//          bitsandbytes NF4/FP4 ("first element in the HIGH nibble")
//   4-bit, nibble_order::ggml        per 32-element block, byte j (0..15) = c[j] | c[j+16] << 4
//          ggml Q4_0 / Q4_1 / MXFP4 qs[16]; rows must hold a multiple of 32 codes
//   2-bit, low_first                 byte k = c[4k] | c[4k+1] << 2 | c[4k+2] << 4 | c[4k+3] << 6
//   2-bit, high_first                byte k = c[4k] << 6 | c[4k+1] << 4 | c[4k+2] << 2 | c[4k+3]
//   8-bit                            one code per byte (the order is irrelevant)
// A short last byte is zero-filled in its unused bits. Matrices are packed row by row and
// every row starts on a byte boundary: row_bytes = ceil(cols·B / 8) (ggml: cols/32 · 16).
// Zero points (asymmetric integer mappings) pack the same way as codes of the element format:
// pack_zeros stores F::from_int(z) for each block of the zero grid (grid rows × grid cols).
//
// Bad input throws lowbit::error: a code with bits above B (or, from a matrix of a wider type
// than uint8, a value that is not an integer in [0, 255]), ggml order for B ≠ 4 or a row
// length not a multiple of 32, a byte buffer of the wrong size, zeros that are not integer
// codes of F.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../format/traits.hpp"
#include "qparams.hpp"

namespace lowbit {

enum class nibble_order { low_first, high_first, ggml };

inline const char* to_string(nibble_order o) {
  switch (o) {
    case nibble_order::low_first: return "low_first";
    case nibble_order::high_first: return "high_first";
    case nibble_order::ggml: return "ggml";
  }
  return "?";
}

// Bytes that n codes of `bits` bits take under order o.
inline std::size_t packed_bytes(std::size_t n, int bits, nibble_order o = nibble_order::low_first) {
  LOWBIT_CHECK(bits == 2 || bits == 4 || bits == 8, "packed_bytes: codes of ", bits, " bits cannot be packed ",
               "(2, 4 or 8)");
  if (o == nibble_order::ggml) {
    LOWBIT_CHECK(bits == 4, "packed_bytes: the ggml layout is for 4-bit codes, got ", bits, " bits");
    LOWBIT_CHECK(n % 32 == 0, "packed_bytes: the ggml layout packs blocks of 32 codes, got ", n);
    return n / 2;
  }
  return (n * std::size_t(bits) + 7) / 8;
}

// Pack n codes of `bits` bits from `codes` into out[0 .. packed_bytes(n, bits, o)).
inline void pack_bits(const std::uint8_t* codes, std::size_t n, int bits, std::uint8_t* out,
                      nibble_order o = nibble_order::low_first) {
  const std::size_t nb = packed_bytes(n, bits, o);
  const unsigned mask = (1u << bits) - 1u;
  for (std::size_t k = 0; k < n; ++k)
    LOWBIT_CHECK((codes[k] & ~mask) == 0, "pack_bits: code ", unsigned(codes[k]), " at ", k, " does not fit in ",
                 bits, " bits");
  for (std::size_t b = 0; b < nb; ++b) out[b] = 0;
  if (bits == 8) {
    for (std::size_t k = 0; k < n; ++k) out[k] = codes[k];
    return;
  }
  if (o == nibble_order::ggml) {
    for (std::size_t blk = 0; blk < n; blk += 32)
      for (std::size_t j = 0; j < 16; ++j)
        out[blk / 2 + j] = std::uint8_t(codes[blk + j] | (codes[blk + j + 16] << 4));
    return;
  }
  const int per = 8 / bits;
  for (std::size_t k = 0; k < n; ++k) {
    const int slot = int(k % std::size_t(per));
    const int shift = o == nibble_order::low_first ? slot * bits : (per - 1 - slot) * bits;
    out[k / std::size_t(per)] = std::uint8_t(out[k / std::size_t(per)] | (codes[k] << shift));
  }
}

// Inverse of pack_bits: n codes from in[0 .. packed_bytes(n, bits, o)).
inline void unpack_bits(const std::uint8_t* in, std::size_t n, int bits, std::uint8_t* codes,
                        nibble_order o = nibble_order::low_first) {
  (void)packed_bytes(n, bits, o);  // validates
  const unsigned mask = (1u << bits) - 1u;
  if (bits == 8) {
    for (std::size_t k = 0; k < n; ++k) codes[k] = in[k];
    return;
  }
  if (o == nibble_order::ggml) {
    for (std::size_t blk = 0; blk < n; blk += 32)
      for (std::size_t j = 0; j < 16; ++j) {
        codes[blk + j] = std::uint8_t(in[blk / 2 + j] & 0xF);
        codes[blk + j + 16] = std::uint8_t(in[blk / 2 + j] >> 4);
      }
    return;
  }
  const int per = 8 / bits;
  for (std::size_t k = 0; k < n; ++k) {
    const int slot = int(k % std::size_t(per));
    const int shift = o == nibble_order::low_first ? slot * bits : (per - 1 - slot) * bits;
    codes[k] = std::uint8_t((in[k / std::size_t(per)] >> shift) & mask);
  }
}

// A packed code matrix: rows × cols codes of `bits` bits, each row in row_bytes bytes.
struct packed_codes {
  std::vector<std::uint8_t> bytes;
  Eigen::Index rows = 0, cols = 0;
  int bits = 0;
  nibble_order order = nibble_order::low_first;
  std::size_t row_bytes = 0;
};

namespace detail {
template <class F>
constexpr void check_packable() {
  static_assert(is_format_v<F>, "lowbit: F is not a number format (see lowbit/format/traits.hpp)");
  static_assert(sizeof(typename F::storage) == 1 && (F::bits == 2 || F::bits == 4 || F::bits == 8),
                "lowbit: packing needs 2-, 4- or 8-bit codes; other widths stay one code per byte "
                "(see lowbit/quantize/packed.hpp)");
}
}  // namespace detail

// Pack a row-major code matrix (quantized<F>::codes) row by row.
template <class F, class Derived>
packed_codes pack(const Eigen::DenseBase<Derived>& codes, nibble_order o = nibble_order::low_first) {
  detail::check_packable<F>();
  packed_codes p;
  p.rows = codes.rows();
  p.cols = codes.cols();
  p.bits = F::bits;
  p.order = o;
  p.row_bytes = packed_bytes(std::size_t(p.cols), F::bits, o);
  p.bytes.assign(p.row_bytes * std::size_t(p.rows), 0);
  std::vector<std::uint8_t> row(std::size_t(p.cols));
  for (Eigen::Index i = 0; i < p.rows; ++i) {
    for (Eigen::Index j = 0; j < p.cols; ++j) {
      const auto c = codes(i, j);
      if constexpr (!std::is_same_v<std::decay_t<decltype(c)>, std::uint8_t>) {  // no silent wrap to a byte
        const double v = double(c);
        LOWBIT_CHECK(v >= 0.0 && v <= 255.0 && v == std::floor(v), "pack<", F::name, ">: code ", v, " at (", i, ", ",
                     j, ") is not a byte value");
      }
      row[std::size_t(j)] = std::uint8_t(c);
    }
    pack_bits(row.data(), row.size(), F::bits, p.bytes.data() + std::size_t(i) * p.row_bytes, o);
  }
  return p;
}

template <class F>
packed_codes pack(const quantized<F>& q, nibble_order o = nibble_order::low_first) {
  return pack<F>(q.codes, o);
}

// Unpack into a row-major code matrix.
template <class F>
typename quantized<F>::code_matrix unpack(const packed_codes& p) {
  detail::check_packable<F>();
  LOWBIT_CHECK(p.bits == F::bits, "unpack<", F::name, ">: packed codes have ", p.bits, " bits, format has ", F::bits);
  LOWBIT_CHECK(p.rows >= 0 && p.cols >= 0 && p.row_bytes == packed_bytes(std::size_t(p.cols), p.bits, p.order) &&
                   p.bytes.size() == p.row_bytes * std::size_t(p.rows),
               "unpack<", F::name, ">: ", p.bytes.size(), " bytes do not hold ", p.rows, " x ", p.cols, " codes of ",
               p.bits, " bits in ", to_string(p.order), " order");
  typename quantized<F>::code_matrix c(p.rows, p.cols);
  std::vector<std::uint8_t> row(std::size_t(p.cols));
  for (Eigen::Index i = 0; i < p.rows; ++i) {
    unpack_bits(p.bytes.data() + std::size_t(i) * p.row_bytes, row.size(), p.bits, row.data(), p.order);
    for (Eigen::Index j = 0; j < p.cols; ++j) c(i, j) = typename F::storage(row[std::size_t(j)]);
  }
  return c;
}

// Integer zero points of p (zero_kind::integer) as packed codes of F, grid rows × grid cols.
template <class F>
packed_codes pack_zeros(const qparams& p, nibble_order o = nibble_order::low_first) {
  detail::check_packable<F>();
  static_assert(F::kind == format_kind::integer, "lowbit: zero points are integer codes (see lowbit/quantize/packed.hpp)");
  LOWBIT_CHECK(p.zeros == zero_kind::integer, "pack_zeros<", F::name, ">: the parameters have no integer zero points");
  Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> z(p.zero.rows(), p.zero.cols());
  for (Eigen::Index i = 0; i < z.rows(); ++i)
    for (Eigen::Index j = 0; j < z.cols(); ++j) {
      const float v = p.zero(i, j);
      LOWBIT_CHECK(v == std::nearbyint(v) && v >= float(F::min_int) && v <= float(F::max_int), "pack_zeros<", F::name,
                   ">: zero point ", v, " at (", i, ", ", j, ") is not a code of the format");
      z(i, j) = F::from_int(int(v));
    }
  return pack<F>(z, o);
}

// Zero points back as floats (the qparams::zero grid).
template <class F>
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> unpack_zeros(const packed_codes& p) {
  static_assert(F::kind == format_kind::integer, "lowbit: zero points are integer codes (see lowbit/quantize/packed.hpp)");
  const auto c = unpack<F>(p);
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> z(c.rows(), c.cols());
  for (Eigen::Index i = 0; i < z.rows(); ++i)
    for (Eigen::Index j = 0; j < z.cols(); ++j) z(i, j) = float(F::to_int(c(i, j)));
  return z;
}

}  // namespace lowbit
