// GEMM bindings: used by tests and bench; layers call the fused kernels.
#include "bindings/common.hpp"
#include "gemm/gemm.hpp"

namespace pycnn {

namespace {
FArray gemm_call(const FArray& a, const FArray& b, bool trans_a, bool trans_b,
                 std::optional<FArray> bias, int act, float act_param, bool naive) {
  const std::string op = naive ? "gemm_naive" : "gemm";
  check_ndim(op, "a", a, 2);
  check_ndim(op, "b", b, 2);
  int64_t m = trans_a ? a.shape(1) : a.shape(0);
  int64_t k = trans_a ? a.shape(0) : a.shape(1);
  int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  int64_t n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb)
    fail(op, "inner dimensions differ: a " + shape_str(a) + ", b " + shape_str(b));
  const Epilogue ep = checked_epilogue(op, bias, n, act, act_param);
  FArray c = new_array({m, n});
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = c.mutable_data();
  int64_t lda = a.shape(1), ldb = b.shape(1);
  {
    py::gil_scoped_release nogil;
    if (naive)
      PYCNN_DISPATCH(sgemm_naive, trans_a, trans_b, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, n, &ep);
    else
      PYCNN_DISPATCH(sgemm, trans_a, trans_b, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, n, &ep, 0);
  }
  return c;
}
}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm",
        [](const FArray& a, const FArray& b, bool ta, bool tb, std::optional<FArray> bias, int act,
           float p) { return gemm_call(a, b, ta, tb, bias, act, p, false); },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("act_param") = 0.0f);
  m.def("gemm_naive",
        [](const FArray& a, const FArray& b, bool ta, bool tb, std::optional<FArray> bias, int act,
           float p) { return gemm_call(a, b, ta, tb, bias, act, p, true); },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("act_param") = 0.0f);
}

}  // namespace pycnn
