// lowbit/lowbit.hpp — umbrella header for the host library (never includes a .cuh).
#pragma once

#include "config.hpp"
#include "error.hpp"

#include "rounding/directed.hpp"
#include "rounding/nearest.hpp"
#include "rounding/stochastic.hpp"
#include "rounding/traits.hpp"

#include "format/float4.hpp"
#include "format/float6.hpp"
#include "format/float8.hpp"
#include "format/half.hpp"
#include "format/int.hpp"
#include "format/minifloat.hpp"
#include "format/nf4.hpp"
#include "format/scale.hpp"
#include "format/traits.hpp"

#include "granularity/granularity.hpp"

#include "observer/absmax.hpp"
#include "observer/entropy.hpp"
#include "observer/minmax.hpp"
#include "observer/mse.hpp"
#include "observer/observer.hpp"
#include "observer/percentile.hpp"
#include "observer/rms.hpp"
#include "observer/running.hpp"

#include "quantize/mapping.hpp"
#include "quantize/metrics.hpp"
#include "quantize/packed.hpp"
#include "quantize/presets.hpp"
#include "quantize/qparams.hpp"
#include "quantize/quantizer.hpp"
// quantize/tensor.hpp (Eigen::Tensor adapters) is included on its own: it pulls in
// <unsupported/Eigen/CXX11/Tensor>.
