// Small value types shared by kernels and bindings.
#pragma once
#include <cstdint>

namespace pycnn {

// Activation codes; the Python side maps Keras names to these numbers
// (pycnn/activations.py keeps the same table).
enum class Act : int {
  linear = 0,
  relu = 1,
  sigmoid = 2,
  tanh = 3,
  elu = 4,
  selu = 5,
  gelu = 6,        // exact (erf) form, Keras 3's default
  swish = 7,       // a.k.a. silu
  leaky_relu = 8,  // negative_slope = act_param (Keras default 0.2)
  softplus = 9,
  softmax = 10,    // over the last axis
  hard_sigmoid = 11,  // relu6(x + 3) / 6: the recurrent kernels' gates only
};

// What a GEMM does to its output tile before storing it: add a bias per
// output column, then apply an activation. Fusing this saves a pass over C.
struct Epilogue {
  const float* bias = nullptr;  // length n, or null
  Act act = Act::linear;        // softmax is not fused (needs whole rows)
  float act_param = 0.0f;       // leaky_relu slope
};

}  // namespace pycnn
