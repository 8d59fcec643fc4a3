// Epilogue passes over rows of C in memory, shared by the optimized and the
// naive SGEMM: the activations the micro-kernel does not apply in registers.
// actmath::apply_row vectorizes each activation (act/vec_math.hpp).
#pragma once
#include <cstdint>

#include "act/act_math.hpp"
#include "core/types.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

// Activations the micro-kernel cannot apply in registers.
static inline bool needs_scalar_act(const Epilogue* ep) {
  return ep && ep->act != Act::linear && ep->act != Act::relu &&
         ep->act != Act::leaky_relu && ep->act != Act::softmax;
}

// Bias then activation over one row of n outputs (softmax is not fused).
static inline void epilogue_row(float* c, int64_t n, const Epilogue* ep) {
  if (!ep) return;
  const Act act = ep->act == Act::softmax ? Act::linear : ep->act;
  if (ep->bias || act != Act::linear) actmath::apply_row(act, ep->act_param, c, ep->bias, c, n);
}

// Activation only (bias already added) over a rows x cols tile.
static inline void activate_tile(float* c, int64_t ldc, int64_t rows, int64_t cols,
                                 const Epilogue* ep) {
  for (int64_t r = 0; r < rows; ++r)
    actmath::apply_row(ep->act, ep->act_param, c + r * ldc, nullptr, c + r * ldc, cols);
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
