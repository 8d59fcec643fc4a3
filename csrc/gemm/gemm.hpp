// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C,
// then the epilogue (bias per column, activation) when one is given.
// op(A) is m x k (A is k x m when trans_a), op(B) is k x n (n x k when trans_b).
// num_threads <= 0 lets the kernel choose from the size of the work.
//
// sgemm: BLIS-style blocked GEMM (sgemm.cpp, micro-kernels in
// microkernel_<isa>.hpp). Results are bit-identical for any thread count.
// Safe inside an omp parallel region (runs serially there) and from several
// threads at once. Scratch: workspace slots 6 (packed B) and 7 (packed A) of
// the calling / worker threads, so a, b and c must not live in those slots.
// Epilogue: bias per column, then activation codes 0..9 (softmax is ignored:
// it needs whole rows), applied after the last K block only.
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"
#include "core/types.hpp"

#define PYCNN_GEMM_KERNELS                                                              \
  void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, \
             const float* a, int64_t lda, const float* b, int64_t ldb, float beta,     \
             float* c, int64_t ldc, const ::pycnn::Epilogue* epilogue, int num_threads); \
  /* Naive triple loop, the reference the optimized path is tested against. */        \
  void sgemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,         \
                   float alpha, const float* a, int64_t lda, const float* b,            \
                   int64_t ldb, float beta, float* c, int64_t ldc,                     \
                   const ::pycnn::Epilogue* epilogue);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_GEMM_KERNELS)
