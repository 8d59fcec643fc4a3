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
  /* Pre-packed B. sgemm_packed_b_layout: the K slice depth the layout uses on  \
     this ISA and machine, and the floats sgemm_pack_b writes (k * n rounded up \
     to whole kNR panels). sgemm_pack_b: op(B) (k x n) packed as ceil(k / kc)  \
     slices, each ceil(n / kNR) panels of kc x kNR floats (zero-padded), in the \
     order the blocked path streams them. sgemm_prepacked_b: sgemm reading that \
     array (trans_b was absorbed by the packing); same results as sgemm's     \
     blocked path, bit-identical for any thread count. */                       \
  void sgemm_packed_b_layout(int64_t k, int64_t n, int64_t* kc, int64_t* floats);    \
  void sgemm_pack_b(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb,  \
                    float* dst, int num_threads);                                   \
  void sgemm_prepacked_b(bool trans_a, int64_t m, int64_t n, int64_t k, float alpha,   \
                         const float* a, int64_t lda, const float* packed_b, float beta, \
                         float* c, int64_t ldc, const ::pycnn::Epilogue* epilogue,     \
                         int num_threads);                                          \
  /* Naive triple loop, the reference the optimized path is tested against. */        \
  void sgemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,         \
                   float alpha, const float* a, int64_t lda, const float* b,            \
                   int64_t ldb, float beta, float* c, int64_t ldc,                     \
                   const ::pycnn::Epilogue* epilogue);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_GEMM_KERNELS)
