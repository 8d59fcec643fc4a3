// GEMM bindings: used by tests and bench; layers call the fused kernels.
#include "bindings/common.hpp"
#include "bindings/packed.hpp"
#include "act/act.hpp"
#include "gemm/gemm.hpp"

namespace pycnn {

namespace {
// Layout version of PackedKind::gemm_b arrays; dims = {k, n, trans_b, kc, 0, 0}
// where kc is the K slice depth (sgemm_packed_b_layout) on this machine.
constexpr uint32_t kGemmPackedLayout = 1;

struct GemmPackedDims {
  int64_t dims[6];
  int64_t floats;
};

GemmPackedDims gemm_packed_dims(int64_t k, int64_t n, bool trans_b) {
  int64_t kc = 0, floats = 0;
  PYCNN_DISPATCH(sgemm_packed_b_layout, k, n, &kc, &floats);
  return GemmPackedDims{{k, n, trans_b ? 1 : 0, kc, 0, 0}, floats};
}

FArray gemm_pack_b(const FArray& b, bool trans_b) {
  check_ndim("gemm_pack_b", "b", b, 2);
  const int64_t k = trans_b ? b.shape(1) : b.shape(0);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  const GemmPackedDims pd = gemm_packed_dims(k, n, trans_b);
  float* payload = nullptr;
  FArray out = new_packed(PackedKind::gemm_b, kGemmPackedLayout, pd.dims, pd.floats, &payload);
  const float* pb = b.data();
  const int64_t ldb = b.shape(1);
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(sgemm_pack_b, trans_b, k, n, pb, ldb, payload, 0);
  }
  return out;
}

}  // namespace

const float* checked_packed_b(const std::string& op, int64_t k, int64_t n, bool trans_b,
                              const FArray& packed_b) {
  const GemmPackedDims pd = gemm_packed_dims(k, n, trans_b);
  return check_packed(op, packed_b, PackedKind::gemm_b, kGemmPackedLayout, pd.dims, pd.floats);
}

namespace {

FArray gemm_call(const FArray& a, const FArray& b, bool trans_a, bool trans_b,
                 std::optional<FArray> bias, int act, float act_param, bool naive,
                 const std::optional<FArray>& packed_b = std::nullopt) {
  const std::string op = naive ? "gemm_naive" : "gemm";
  check_ndim(op, "a", a, 2);
  check_ndim(op, "b", b, 2);
  int64_t m = trans_a ? a.shape(1) : a.shape(0);
  int64_t k = trans_a ? a.shape(0) : a.shape(1);
  int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  int64_t n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb)
    fail(op, "inner dimensions differ: a " + shape_str(a) + ", b " + shape_str(b));
  // Softmax needs whole rows: the GEMM adds the bias, then one pass over the
  // rows of C in the same call (a batch-1 softmax Dense: one binding call).
  const bool softmax = act == static_cast<int>(Act::softmax);
  const Epilogue ep = checked_epilogue(op, bias, n, softmax ? 0 : act, act_param);
  const float* ppacked = packed_b ? checked_packed_b(op, k, n, trans_b, *packed_b) : nullptr;
  FArray c = new_array({m, n});
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = c.mutable_data();
  int64_t lda = a.shape(1), ldb = b.shape(1);
  {
    py::gil_scoped_release nogil;
    if (naive)
      PYCNN_DISPATCH(sgemm_naive, trans_a, trans_b, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, n, &ep);
    else if (ppacked && !gemm_row_skips_packing(m, n, trans_b))
      PYCNN_DISPATCH(sgemm_prepacked_b, trans_a, m, n, k, 1.0f, pa, lda, ppacked, 0.0f, pc, n,
                     &ep, 0);
    else
      PYCNN_DISPATCH(sgemm, trans_a, trans_b, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, n, &ep, 0);
    if (softmax) PYCNN_DISPATCH(act_forward, pc, pc, m, n, Act::softmax, 0.0f);
  }
  return c;
}
}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm",
        [](const FArray& a, const FArray& b, bool ta, bool tb, std::optional<FArray> bias, int act,
           float p, std::optional<FArray> packed_b) {
          return gemm_call(a, b, ta, tb, bias, act, p, false, packed_b);
        },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("act_param") = 0.0f,
        py::arg("packed_b") = py::none());
  // op(B) packed once for gemm(..., packed_b=...): an opaque 1-D float32 array
  // (packed.hpp header, then the panels) valid for this ISA and these shapes.
  m.def("gemm_pack_b", &gemm_pack_b, py::arg("b"), py::arg("trans_b") = false);
  m.def("gemm_naive",
        [](const FArray& a, const FArray& b, bool ta, bool tb, std::optional<FArray> bias, int act,
           float p) { return gemm_call(a, b, ta, tb, bias, act, p, true); },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("act_param") = 0.0f);
}

}  // namespace pycnn
