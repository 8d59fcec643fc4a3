// What a micro-kernel does when it writes its finished tile:
//   C = alpha * (A panel x B panel) + beta * C   (beta == 0: C is not read)
// then, on the last K block only, + bias[column] and the activations that are
// cheap in SIMD registers (relu, leaky_relu). Other activations run as a scalar
// pass over the same tile right after, while it is still in L1.
#pragma once
#include <cstdint>

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

enum class RegisterAct : int { none = 0, relu = 1, leaky_relu = 2 };

struct TileStore {
  float alpha = 1.0f;
  float beta = 0.0f;
  const float* bias = nullptr;  // bias of the tile's first column, or null
  RegisterAct act = RegisterAct::none;
  float slope = 0.0f;           // leaky_relu negative slope
};

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
