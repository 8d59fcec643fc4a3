// Optimized SGEMM entry point. (First version: packed operands + a loop the
// compiler vectorizes; the register-blocked micro-kernels replace the inner
// block without changing this interface.)
#include <algorithm>
#include <cstring>

#include "act/act_math.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/gemm.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

static void apply_epilogue_row(float* c, int64_t n, const Epilogue* ep) {
  if (!ep) return;
  if (ep->bias)
    for (int64_t j = 0; j < n; ++j) c[j] += ep->bias[j];
  if (ep->act != Act::linear && ep->act != Act::softmax)
    for (int64_t j = 0; j < n; ++j) c[j] = actmath::apply(ep->act, c[j], ep->act_param);
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc, const Epilogue* epilogue, int num_threads) {
  if (m <= 0 || n <= 0) return;
  // Make B row-major k x n so the inner loop streams contiguous rows.
  const float* bk = b;
  int64_t ldbk = ldb;
  if (trans_b) {
    float* packed = workspace_floats(static_cast<size_t>(k * n), 0);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) packed[p * n + j] = b[j * ldb + p];
    bk = packed;
    ldbk = n;
  }
  int nt = num_threads > 0 ? num_threads : threads_for_work(2.0 * m * n * k);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f)
      std::memset(ci, 0, sizeof(float) * n);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    for (int64_t p = 0; p < k; ++p) {
      float av = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
      const float* bp = bk + p * ldbk;
      for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
    }
    apply_epilogue_row(ci, n, epilogue);
  }
}

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
    apply_epilogue_row(c + i * ldc, n, epilogue);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
