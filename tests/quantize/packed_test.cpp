#include <lowbit/format/float4.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/nf4.hpp>
#include <lowbit/quantize/packed.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <random>

#include <doctest/doctest.h>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using bytes = std::vector<std::uint8_t>;

namespace {
bytes packed(const bytes& c, int bits, nibble_order o) {
  bytes out(packed_bytes(c.size(), bits, o));
  pack_bits(c.data(), c.size(), bits, out.data(), o);
  return out;
}
}  // namespace

TEST_CASE("quantize/packed: documented byte layouts, by hand") {
  const bytes c = {1, 2, 3, 4, 5};
  CHECK(packed(c, 4, nibble_order::low_first) == bytes{0x21, 0x43, 0x05});
  CHECK(packed(c, 4, nibble_order::high_first) == bytes{0x12, 0x34, 0x50});
  const bytes d = {1, 2, 3, 0, 1};
  CHECK(packed(d, 2, nibble_order::low_first) == bytes{0x39, 0x01});   // 1 | 2<<2 | 3<<4
  CHECK(packed(d, 2, nibble_order::high_first) == bytes{0x6C, 0x40});  // 1<<6 | 2<<4 | 3<<2
  CHECK(packed(c, 8, nibble_order::high_first) == c);
  bytes g(64);
  for (std::size_t k = 0; k < 64; ++k) g[k] = std::uint8_t((k * 7 + k / 16) & 15);
  const bytes pg = packed(g, 4, nibble_order::ggml);
  REQUIRE(pg.size() == 32);
  for (std::size_t blk = 0; blk < 2; ++blk)
    for (std::size_t j = 0; j < 16; ++j) CHECK(pg[blk * 16 + j] == (g[blk * 32 + j] | (g[blk * 32 + j + 16] << 4)));
}

TEST_CASE("quantize/packed: reference packers (torchao/ModelOpt, bitsandbytes) agree") {
  std::mt19937 r(3);
  bytes c(40);
  for (auto& v : c) v = std::uint8_t(r() & 15);
  const bytes lo = packed(c, 4, nibble_order::low_first), hi = packed(c, 4, nibble_order::high_first);
  for (std::size_t k = 0; k < 20; ++k) {
    CHECK(lo[k] == std::uint8_t((c[2 * k + 1] << 4) | c[2 * k]));  // ModelOpt: (q[1::2] << 4) | q[0::2]
    CHECK(hi[k] == std::uint8_t((c[2 * k] << 4) | c[2 * k + 1]));  // bitsandbytes: q[2j] << 4 | q[2j+1]
  }
}

TEST_CASE("quantize/packed: round trips for every order, width and odd length") {
  std::mt19937 r(9);
  for (int bits : {2, 4, 8})
    for (nibble_order o : {nibble_order::low_first, nibble_order::high_first, nibble_order::ggml})
      for (std::size_t n : {std::size_t(1), std::size_t(3), std::size_t(31), std::size_t(32), std::size_t(67),
                            std::size_t(96)}) {
        if (o == nibble_order::ggml && (bits != 4 || n % 32 != 0)) {
          CHECK_THROWS_AS(packed_bytes(n, bits, o), lowbit::error);
          continue;
        }
        bytes c(n);
        for (auto& v : c) v = std::uint8_t(r() & ((1u << bits) - 1));
        const bytes p = packed(c, bits, o);
        CHECK(p.size() == (o == nibble_order::ggml ? n / 2 : (n * std::size_t(bits) + 7) / 8));
        bytes back(n);
        unpack_bits(p.data(), n, bits, back.data(), o);
        CHECK(back == c);
      }
}

TEST_CASE("quantize/packed: quantized matrices (int4 two's complement, fp4, nf4) survive pack/unpack") {
  std::mt19937 g(4);
  std::normal_distribution<float> nd;
  Mat x(5, 37);  // odd K: each row ends in a half-filled byte
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) x(i, j) = nd(g);
  {
    quantizer<int4> q({per_group(16)});
    const auto qx = q.quantize(x);
    const packed_codes p = pack(qx, nibble_order::low_first);
    CHECK(p.row_bytes == 19);
    CHECK(p.bytes.size() == 5 * 19);
    auto back = qx;
    back.codes = unpack<int4>(p);
    CHECK(back.codes == qx.codes);
    CHECK(q.dequantize(back) == q.dequantize(qx));
    // -1 is the nibble 0xF, -8 is 0x8
    const bytes neg = packed({int4::from_int(-1), int4::from_int(-8)}, 4, nibble_order::low_first);
    CHECK(neg == bytes{0x8F});
  }
  {
    quantizer<float4_e2m1fn> q({per_group(16)});
    const auto qx = q.quantize(x);
    auto back = qx;
    back.codes = unpack<float4_e2m1fn>(pack(qx, nibble_order::low_first));
    CHECK(q.dequantize(back) == q.dequantize(qx));
  }
  {
    quantizer<nf4> q({per_group(64)});
    const auto qx = q.quantize(x);
    auto back = qx;
    back.codes = unpack<nf4>(pack(qx, nibble_order::high_first));
    CHECK(back.codes == qx.codes);
  }
}

TEST_CASE("quantize/packed: zero points 0 and maxq round-trip (GPTQ v1 qzeros edge, §9 row 5)") {
  Mat x(2, 64);
  for (Eigen::Index j = 0; j < 64; ++j) {
    x(0, j) = 0.1f + 0.01f * float(j);    // group 0/1: all positive -> zero 0
    x(1, j) = -0.1f - 0.01f * float(j);   // all negative -> zero 15
  }
  x(0, 40) = -0.3f;                        // a mixed group
  quantizer<uint4> q({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()});
  const auto qx = q.quantize(x);
  CHECK(qx.params.zero(0, 0) == 0.0f);
  CHECK(qx.params.zero(1, 0) == 15.0f);
  CHECK(qx.params.zero(1, 1) == 15.0f);
  for (nibble_order o : {nibble_order::low_first, nibble_order::high_first}) {
    const packed_codes pz = pack_zeros<uint4>(qx.params, o);
    CHECK(pz.bytes.size() == 2);
    CHECK(unpack_zeros<uint4>(pz) == qx.params.zero);
  }
  CHECK_THROWS_AS(pack_zeros<uint4>(quantizer<int4>({per_group(32)}).fit(x)), lowbit::error);  // symmetric
  qparams bad = qx.params;
  bad.zero(0, 0) = 16.0f;
  CHECK_THROWS_AS(pack_zeros<uint4>(bad), lowbit::error);
  bad.zero(0, 0) = 2.5f;
  CHECK_THROWS_AS(pack_zeros<uint4>(bad), lowbit::error);
}

TEST_CASE("quantize/packed: bad input") {
  const bytes wide = {3, 17};
  bytes out(1);
  CHECK_THROWS_AS(pack_bits(wide.data(), 2, 4, out.data()), lowbit::error);  // 17 needs 5 bits
  CHECK_THROWS_AS(packed_bytes(4, 3), lowbit::error);
  CHECK_THROWS_AS(packed_bytes(32, 2, nibble_order::ggml), lowbit::error);
  CHECK_THROWS_AS(packed_bytes(48, 4, nibble_order::ggml), lowbit::error);
  Mat x = Mat::Ones(2, 8);
  auto qx = quantizer<int4>({per_tensor()}).quantize(x);
  packed_codes p = pack(qx);
  p.bytes.pop_back();
  CHECK_THROWS_AS(unpack<int4>(p), lowbit::error);
  p = pack(qx);
  CHECK_THROWS_AS(unpack<int2>(p), lowbit::error);  // wrong width
  // codes from a matrix wider than uint8 must be byte values: no silent wrap (0x103 -> 0x03)
  Eigen::MatrixXi ints(1, 2);
  ints << 0x103, 1;
  CHECK_THROWS_WITH_AS(pack<int4>(ints), doctest::Contains("code 259 at (0, 0) is not a byte value"), lowbit::error);
  ints << 1, -1;
  CHECK_THROWS_WITH_AS(pack<int8>(ints), doctest::Contains("code -1 at (0, 1)"), lowbit::error);
  Eigen::MatrixXf halves(1, 2);
  halves << 1.5f, 2.0f;
  CHECK_THROWS_AS(pack<uint4>(halves), lowbit::error);
  ints << 7, 12;
  const packed_codes ok = pack<uint4>(ints);  // in range: as the uint8 matrix packs
  CHECK(ok.bytes == bytes{0xC7});
}
