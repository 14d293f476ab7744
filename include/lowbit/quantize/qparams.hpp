// lowbit/quantize/qparams.hpp — what a fitted quantizer stores, and a quantized matrix.
//
// For a rows × cols input under granularity g, the parameters are per block:
//   scale  [grid_rows × grid_cols] float, each value exactly representable in the scale
//          format (rounded before any element is encoded)
//   zero   [grid_rows × grid_cols] float, empty for symmetric mappings:
//          zero_kind::integer -> an integer code z:   x̂ = s_eff · (q − z)
//          zero_kind::offset  -> a float offset m:    x̂ = s_eff · q + m     (KIVI)
//   tensor_scale  second-level fp32 scale (NVFP4), 1 otherwise;  s_eff = scale · tensor_scale
// Codes are the format's bit patterns, one per element, row-major (K contiguous);
// quantize/packed.hpp packs sub-byte codes two (or four) per byte.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "../granularity/granularity.hpp"

namespace lowbit {

enum class zero_kind { none, integer, offset };

struct qparams {
  granularity gran;
  Eigen::Index rows = 0, cols = 0;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> scale;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> zero;  // empty if zero_kind::none
  zero_kind zeros = zero_kind::none;
  float tensor_scale = 1.0f;

  // Block coordinates of element (i, j).
  Eigen::Index block_row(Eigen::Index i) const { return i / gran.rows_per_block(rows); }
  Eigen::Index block_col(Eigen::Index j) const { return j / gran.cols_per_block(cols); }
  // The effective scale s_eff = scale · tensor_scale (fp32 product) of element (i, j).
  float effective_scale(Eigen::Index i, Eigen::Index j) const {
    return scale(block_row(i), block_col(j)) * tensor_scale;
  }
};

template <class Format>
struct quantized {
  using format = Format;
  using code_matrix = Eigen::Matrix<typename Format::storage, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  code_matrix codes;  // rows × cols
  qparams params;

  Eigen::Index rows() const { return codes.rows(); }
  Eigen::Index cols() const { return codes.cols(); }
};

}  // namespace lowbit
