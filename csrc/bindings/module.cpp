// The pybind11 module pycnn._C: one registration call per kernel family.
#include "bindings/common.hpp"

PYBIND11_MODULE(_C, m) {
  m.doc() = "pycnn compiled kernels (OpenMP + SIMD, runtime ISA dispatch)";
  pycnn::bind_core(m);
  pycnn::bind_gemm(m);
  pycnn::bind_conv(m);
  pycnn::bind_pool(m);
  pycnn::bind_act(m);
  pycnn::bind_norm(m);
  pycnn::bind_optim(m);
  pycnn::bind_rnn(m);
  pycnn::bind_chain(m);
}
