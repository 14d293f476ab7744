// Uses lowbit as a consumer would; exits non-zero if the result is wrong.
#include <lowbit/lowbit.hpp>

#include <cstdio>

int main() {
  Eigen::MatrixXf w(2, 4);
  w << 1.0f, -2.0f, 0.5f, 0.25f, 3.0f, 0.0f, -1.5f, 6.0f;
  lowbit::quantizer<lowbit::int8> q({lowbit::per_channel(0)});
  const auto qw = q.quantize(w);
  const Eigen::MatrixXf back = q.dequantize(qw);
  const float err = (back - w).cwiseAbs().maxCoeff();
  std::printf("lowbit consumer: e4m3fn(3.3) = 0x%02x, int8 per-channel max error %g\n",
              unsigned(lowbit::encode<lowbit::float8_e4m3fn>(3.3f)), double(err));
  return (lowbit::encode<lowbit::float8_e4m3fn>(3.3f) == 0x45 && err <= 6.0f / 127.0f / 2.0f) ? 0 : 1;
}
