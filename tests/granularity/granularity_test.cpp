#include <lowbit/granularity/granularity.hpp>

#include <doctest/doctest.h>

using namespace lowbit;

TEST_CASE("granularity/granularity: factories tile as documented (grid = ceil(rows/br) x ceil(cols/bc))") {
  struct row {
    granularity g;
    Eigen::Index rows, cols, gr, gc;
  };
  for (const row& r : {row{per_tensor(), 7, 20, 1, 1}, row{per_channel(0), 7, 20, 7, 1},
                       row{per_channel(1), 7, 20, 1, 20}, row{per_token(), 7, 20, 7, 1},
                       row{per_group(8), 7, 20, 7, 3}, row{per_group(8, tail::pad), 7, 20, 7, 3},
                       row{per_head(4), 7, 20, 1, 5}, row{per_token_head(4), 7, 20, 7, 5},
                       row{block(128, 128), 300, 200, 3, 2}, row{block(1, 128), 5, 200, 5, 2},
                       row{mx_block(), 2, 96, 2, 3}, row{nvfp4_block(), 2, 96, 2, 6}}) {
    CHECK(r.g.grid_rows(r.rows) == r.gr);
    CHECK(r.g.grid_cols(r.cols) == r.gc);
    CHECK_NOTHROW(r.g.check(r.rows, r.cols));
  }
  CHECK(mx_block().block_cols == 32);
  CHECK(nvfp4_block().block_cols == 16);
  CHECK(per_head(64).tail_rule == tail::exact);  // heads never straddle
  CHECK(per_group(128) == granularity{1, 128, tail::partial});
  CHECK(!(per_group(128) == per_group(128, tail::pad)));
}

TEST_CASE("granularity/granularity: bad input") {
  CHECK_THROWS_AS(per_group(0), lowbit::error);
  CHECK_THROWS_AS(per_group(-1), lowbit::error);
  CHECK_THROWS_AS(per_channel(2), lowbit::error);
  CHECK_THROWS_AS(per_channel(-1), lowbit::error);
  CHECK_THROWS_AS(per_head(0), lowbit::error);
  CHECK_THROWS_AS(per_token_head(-4), lowbit::error);
  CHECK_THROWS_AS(block(0, 128), lowbit::error);
  CHECK_THROWS_AS(block(128, -1), lowbit::error);
  CHECK_THROWS_AS(per_tensor().check(0, 5), lowbit::error);
  CHECK_THROWS_AS(per_tensor().check(5, 0), lowbit::error);
  CHECK_THROWS_AS(per_group(8, tail::exact).check(2, 20), lowbit::error);
  CHECK_NOTHROW(per_group(8, tail::exact).check(2, 24));
  CHECK_THROWS_AS(per_head(4).check(3, 10), lowbit::error);
  CHECK_THROWS_AS((granularity{-2, 4, tail::partial}).check(4, 4), lowbit::error);
  try {
    per_group(4, tail::exact).check(2, 10, "my_layer");
    FAIL("no throw");
  } catch (const lowbit::error& e) {
    const std::string w = e.what();
    CHECK(w.find("my_layer") != std::string::npos);
    CHECK(w.find("does not divide") != std::string::npos);
  }
}
