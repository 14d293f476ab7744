// lowbit/granularity/granularity.hpp — which elements share a scale.
//
// Everything in lowbit is 2-D at the core: a matrix of rows × cols with cols = K, the
// reduction axis (weights W[N][K], activations X[T][K]). A granularity tiles that matrix
// into blocks of block_rows × block_cols elements (0 = the whole extent); each block has one
// scale (and zero point). The scale grid then has
//     grid_rows = ceil(rows / block_rows) × grid_cols = ceil(cols / block_cols)
// entries, row-major, block (i / block_rows, j / block_cols) for element (i, j).
//
//   per_tensor()          whole × whole      1 × 1 scale
//   per_channel(0)        1 × whole          one scale per row (output channel of W)
//   per_channel(1)        whole × 1          one scale per column (input channel)
//   per_token()           1 × whole          = per_channel(0), for activations X[T][K]
//   per_group(G)          1 × G              G consecutive K elements of a row (GPTQ/AWQ g128)
//   per_head(d)           whole × d          one scale per attention head of X[T][H·d]
//   per_token_head(d)     1 × d              one scale per (token, head)
//   block(r, c)           r × c              DeepSeek-V3 FP8: 128×128 weights, 1×128 activations
//   mx_block(32)          1 × 32             OCP MX block (use with an e8m0 scale format)
//   nvfp4_block(16)       1 × 16             NVFP4 block (ue4m3 scale + fp32 tensor scale)
//
// When a block size does not divide the extent, tail_rule says what the last block is:
//   tail::partial  a short last block (the default; its statistics see only real elements)
//   tail::pad      the last block is padded with zeros for the observer (absmax unchanged;
//                  min/max and MSE statistics include the zeros), as kernels that pad do
//   tail::exact    divisibility required: lowbit::error otherwise
#pragma once

#include <Eigen/Core>
#include <string>

#include "../error.hpp"

namespace lowbit {

enum class tail { partial, pad, exact };

struct granularity {
  Eigen::Index block_rows = 0;  // 0 = all rows
  Eigen::Index block_cols = 0;  // 0 = all cols
  tail tail_rule = tail::partial;

  Eigen::Index rows_per_block(Eigen::Index rows) const { return block_rows > 0 ? block_rows : (rows > 0 ? rows : 1); }
  Eigen::Index cols_per_block(Eigen::Index cols) const { return block_cols > 0 ? block_cols : (cols > 0 ? cols : 1); }
  Eigen::Index grid_rows(Eigen::Index rows) const {
    const Eigen::Index b = rows_per_block(rows);
    return (rows + b - 1) / b;
  }
  Eigen::Index grid_cols(Eigen::Index cols) const {
    const Eigen::Index b = cols_per_block(cols);
    return (cols + b - 1) / b;
  }

  // Throws lowbit::error when the shape cannot be tiled under this granularity.
  void check(Eigen::Index rows, Eigen::Index cols, const char* where = "granularity") const {
    LOWBIT_CHECK(rows > 0 && cols > 0, where, ": empty input (", rows, " x ", cols, ")");
    LOWBIT_CHECK(block_rows >= 0 && block_cols >= 0, where, ": block size must be positive, got ",
                 block_rows, " x ", block_cols);
    if (tail_rule == tail::exact) {
      LOWBIT_CHECK(rows % rows_per_block(rows) == 0 && cols % cols_per_block(cols) == 0, where,
                   ": block ", rows_per_block(rows), " x ", cols_per_block(cols), " does not divide ",
                   rows, " x ", cols, " and tail::exact was asked");
    }
  }

  bool operator==(const granularity& o) const {
    return block_rows == o.block_rows && block_cols == o.block_cols && tail_rule == o.tail_rule;
  }
};

inline granularity per_tensor() { return {0, 0, tail::partial}; }
inline granularity per_channel(int axis = 0) {
  LOWBIT_CHECK(axis == 0 || axis == 1, "per_channel: axis must be 0 (rows) or 1 (cols), got ", axis);
  return axis == 0 ? granularity{1, 0, tail::partial} : granularity{0, 1, tail::partial};
}
inline granularity per_token() { return {1, 0, tail::partial}; }
inline granularity per_group(Eigen::Index group_size, tail t = tail::partial) {
  LOWBIT_CHECK(group_size > 0, "per_group: group size must be > 0, got ", group_size);
  return {1, group_size, t};
}
inline granularity per_head(Eigen::Index head_dim) {
  LOWBIT_CHECK(head_dim > 0, "per_head: head_dim must be > 0, got ", head_dim);
  return {0, head_dim, tail::exact};
}
inline granularity per_token_head(Eigen::Index head_dim) {
  LOWBIT_CHECK(head_dim > 0, "per_token_head: head_dim must be > 0, got ", head_dim);
  return {1, head_dim, tail::exact};
}
inline granularity block(Eigen::Index rows, Eigen::Index cols, tail t = tail::partial) {
  LOWBIT_CHECK(rows > 0 && cols > 0, "block: block sizes must be > 0, got ", rows, " x ", cols);
  return {rows, cols, t};
}
inline granularity mx_block(Eigen::Index size = 32, tail t = tail::partial) { return per_group(size, t); }
inline granularity nvfp4_block(Eigen::Index size = 16, tail t = tail::partial) { return per_group(size, t); }

}  // namespace lowbit
