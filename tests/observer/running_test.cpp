#include <lowbit/format/int.hpp>
#include <lowbit/observer/running.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

TEST_CASE("observer/running: running max per channel over batches of different token counts") {
  running_range rr(per_channel(1));
  Mat a(2, 3), b(3, 3);
  a << 1, -2, 0.5f,  //
      -1, 4, 0.25f;
  b << 0, 1, -3,  //
      2, 1, 0,    //
      0.5f, -5, 0;
  rr.update(a);
  rr.update(b);
  CHECK(rr.batches() == 2);
  CHECK(rr.lo()(0, 0) == -1.0f);
  CHECK(rr.hi()(0, 0) == 2.0f);
  CHECK(rr.lo()(0, 1) == -5.0f);
  CHECK(rr.hi()(0, 1) == 4.0f);
  CHECK(rr.lo()(0, 2) == -3.0f);
  CHECK(rr.hi()(0, 2) == 0.5f);
  CHECK(rr.tensor_amax() == 5.0f);
  // Static parameters for any token count: per input channel scale = absmax / 127.
  const qparams p = rr.params(quantizer<int8>({per_channel(1)}), 7);
  CHECK(p.rows == 7);
  CHECK(p.scale(0, 1) == 5.0f / 127.0f);
  CHECK(p.scale(0, 2) == 3.0f / 127.0f);
}

TEST_CASE("observer/running: EMA of min/max (torch MovingAverageMinMaxObserver)") {
  running_range rr(per_tensor(), running_mode::ema, 0.25f);
  Mat a = Mat::Constant(1, 4, 2.0f), b = Mat::Constant(2, 4, -2.0f);
  a(0, 0) = -4.0f;
  rr.update(a);  // first batch initialises: [-4, 2]
  rr.update(b);  // lo += 0.25 (-2 - -4) = -3.5; hi += 0.25 (-2 - 2) = 1
  CHECK(rr.lo()(0, 0) == -3.5f);
  CHECK(rr.hi()(0, 0) == 1.0f);
  const qparams p = rr.params(quantizer<uint8>({per_tensor(), mapping::asymmetric}), 3);
  CHECK(p.scale(0, 0) == 4.5f / 255.0f);
  // a step batch − x beyond FLT_MAX is taken in double: finite ranges from finite data
  running_range big(per_tensor(), running_mode::ema, 0.5f);
  big.update(Mat::Constant(1, 2, -3e38f));
  big.update(Mat::Constant(1, 2, 3e38f));  // lo = hi = -3e38 + 0.5 (3e38 - -3e38) = 0
  CHECK(big.lo()(0, 0) == 0.0f);
  CHECK(big.hi()(0, 0) == 0.0f);
  CHECK_NOTHROW(big.params(quantizer<uint8>({per_tensor(), mapping::asymmetric}), 2));
}

TEST_CASE("observer/running: the EMA rounds as torch's float32 ops, and keeps lo <= hi") {
  // torch: min_val + 0.01 * (cur − min_val), three float32 tensor ops. Worked out in Python
  // (struct 'f' rounding): 1 + fl(0.01f · fl(b − 1)) = 0x1.1c6a8p+0; an FMA gives 0x1.1c6a7ep+0.
  running_range rr(per_tensor(), running_mode::ema);
  rr.update(Mat::Constant(1, 2, 1.0f));
  rr.update(Mat::Constant(1, 2, 0x1.833334p+3f));
  CHECK(rr.lo()(0, 0) == 0x1.1c6a8p+0f);
  CHECK(rr.hi()(0, 0) == 0x1.1c6a8p+0f);
  // lo and hi one ulp apart, then a batch far from both: the roundings leave lo = -0x1.acf91ep-8
  // above hi = -0x1.acf92p-8 (torch's calculate_qparams would assert); hi is raised to lo.
  running_range cross(per_tensor(), running_mode::ema);
  Mat a(1, 2);
  a << -0x1.a9d38p-9f, -0x1.a9d37ep-9f;
  cross.update(a);
  cross.update(Mat::Constant(1, 2, -0x1.54ebacp-2f));
  CHECK(cross.lo()(0, 0) == -0x1.acf91ep-8f);
  CHECK(cross.hi()(0, 0) == -0x1.acf91ep-8f);
  CHECK_NOTHROW(cross.params(quantizer<uint8>({per_tensor(), mapping::asymmetric}), 1));
}

TEST_CASE("observer/running: per-head ranges and bad input") {
  running_range rr(per_head(2));
  Mat a(1, 4);
  a << 1, -2, 3, 0;
  rr.update(a);
  CHECK(rr.hi().cols() == 2);
  CHECK(rr.lo()(0, 0) == -2.0f);
  CHECK(rr.hi()(0, 1) == 3.0f);
  CHECK_THROWS_AS(rr.update(Mat(1, 5)), lowbit::error);  // K changed (and 5 % 2 != 0)
  CHECK_THROWS_AS(rr.update(Mat(0, 4)), lowbit::error);  // empty
  Mat nan = Mat::Zero(2, 4);
  nan(1, 1) = NAN;
  CHECK_THROWS_AS(rr.update(nan), lowbit::error);
  CHECK(rr.batches() == 1);  // state unchanged by failed updates
  CHECK_THROWS_AS(running_range{per_token()}, lowbit::error);  // rows vary per batch
  CHECK_THROWS_AS((running_range{per_tensor(), running_mode::ema, 0.0f}), lowbit::error);
  running_range empty;
  CHECK_THROWS_AS(empty.lo(), lowbit::error);
  CHECK_THROWS_AS(rr.params(quantizer<int8>({per_tensor()}), 2), lowbit::error);  // other granularity
}

TEST_CASE("observer/running: block ranges match a scalar reference (partial / pad tails, layouts)") {
  // Reference: per block b, [min, max] over every element of its columns in every batch (pad:
  // the last block's padding zeros join it); tensor_amax: max |x|.
  const Eigen::Index K = 13;
  std::vector<Mat> batches;
  std::uint32_t s = 7;
  for (Eigen::Index t : {3, 1, 5}) {
    Mat m(t, K);
    for (Eigen::Index k = 0; k < m.size(); ++k) {
      s = s * 1664525u + 1013904223u;
      m.data()[k] = float(int(s >> 20) - 2048) * 0.01f + 3.0f;  // mostly positive: padding zeros show
    }
    batches.push_back(m);
  }
  for (const granularity g : {per_tensor(), per_channel(1), granularity{0, 4, tail::partial},
                              granularity{0, 4, tail::pad}, per_head(13)}) {
    running_range rr(g), cm(g), arr(g);
    const Eigen::Index bc = g.cols_per_block(K), gc = g.grid_cols(K);
    Eigen::VectorXf lo = Eigen::VectorXf::Constant(gc, INFINITY), hi = Eigen::VectorXf::Constant(gc, -INFINITY);
    float amax = 0.0f;
    for (const Mat& m : batches) {
      rr.update(m);
      cm.update(Eigen::MatrixXf(m));  // column-major
      arr.update(m.array());
      for (Eigen::Index i = 0; i < m.rows(); ++i)
        for (Eigen::Index j = 0; j < K; ++j) {
          lo(j / bc) = std::min(lo(j / bc), m(i, j));
          hi(j / bc) = std::max(hi(j / bc), m(i, j));
          amax = std::max(amax, std::fabs(m(i, j)));
        }
    }
    if (g.tail_rule == tail::pad && K % bc != 0) {
      lo(gc - 1) = std::min(lo(gc - 1), 0.0f);
      hi(gc - 1) = std::max(hi(gc - 1), 0.0f);
    }
    CAPTURE(bc);
    for (const running_range* r : {&rr, &cm, &arr}) {
      REQUIRE(r->lo().cols() == gc);
      for (Eigen::Index b = 0; b < gc; ++b) {
        CHECK(r->lo()(0, b) == lo(b));
        CHECK(r->hi()(0, b) == hi(b));
      }
      CHECK(r->tensor_amax() == amax);
    }
  }
}
