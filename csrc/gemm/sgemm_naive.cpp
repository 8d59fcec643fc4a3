// Naive triple-loop SGEMM with a float64 accumulator: the reference the
// optimized path is tested against.
#include "gemm/epilogue_scalar.hpp"
#include "gemm/gemm.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void sgemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                 float* c, int64_t ldc, const Epilogue* epilogue) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        float av = trans_a ? a[p * lda + i] : a[i * lda + p];
        float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        acc += static_cast<double>(av) * bv;
      }
      float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      c[i * ldc + j] = alpha * static_cast<float>(acc) + prev;
    }
    gemm_detail::epilogue_row(c + i * ldc, n, epilogue);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
