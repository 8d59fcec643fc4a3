// 2-D convolution kernels, channels-last (NHWC), kernel in Keras layout
// (kh, kw, cin, cout). Conv1D runs through the same kernels with H = 1.
// Implementation: im2col over tiles of output rows + sgemm (conv/im2col.hpp).
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"
#include "core/types.hpp"
#include "pool/pool.hpp"

namespace pycnn {

// Every size a convolution needs; bottom/right padding is implied by
// out_h/out_w (the bindings compute them from all four pads).
struct ConvGeometry {
  int64_t batch, in_h, in_w, in_c;
  int64_t out_h, out_w, out_c;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  int64_t pad_top, pad_left;
};

// The gradient a 2-D max pooling hands back to the ReLU conv feeding it, not
// yet spread to the conv's output size: the pool's dy, argmax and output y
// (relu_y, gating dy by y > 0) as in max_pool2d_backward. pool->in_* is the
// conv's output.
struct MaxPoolGrad {
  const PoolGeometry* pool;
  const float* dy;
  const int32_t* argmax;
  const float* relu_y;
};

}  // namespace pycnn

#define PYCNN_CONV_KERNELS                                                                  \
  /* y = act(conv(x, kernel) + bias); bias/activation come in the epilogue (may be null). */ \
  void conv2d_forward(const ::pycnn::ConvGeometry& g, const float* x, const float* kernel,  \
                      const ::pycnn::Epilogue* epilogue, float* y);                         \
  /* The same with the kernel pre-packed by conv2d_pack_weights (packed may be null; the    \
     kernel is still passed: paths that do not use the packing read it instead). With       \
     accumulate, y holds a residual on entry: y = act(y + conv(x, kernel) + bias). */        \
  void conv2d_forward_packed(const ::pycnn::ConvGeometry& g, const float* x,                \
                             const float* kernel, const float* packed,                      \
                             const ::pycnn::Epilogue* epilogue, float* y, bool accumulate); \
  /* Floats of this ISA's packed forward kernel (kh, kw, cin, cout), header excluded. */    \
  void conv2d_packed_floats(int64_t kh, int64_t kw, int64_t cin, int64_t cout,              \
                            int64_t* floats);                                               \
  /* Packs the kernel (kh, kw, cin, cout) into conv2d_packed_floats floats. */               \
  void conv2d_pack_weights(int64_t kh, int64_t kw, int64_t cin, int64_t cout,               \
                           const float* kernel, float* packed);                             \
  /* dx = conv^T(dz, kernel): dz x kernel^T, then col2im. dx is fully overwritten. */        \
  void conv2d_backward_input(const ::pycnn::ConvGeometry& g, const float* kernel,           \
                             const float* dz, float* dx);                                   \
  /* dw = sum over the batch of col(x)^T x dz; db = sum of dz (db may be null). */           \
  void conv2d_backward_weights(const ::pycnn::ConvGeometry& g, const float* x,              \
                               const float* dz, float* dw, float* db);                      \
  /* The same with dz = max_pool2d_backward(pooled): built band by band where it is read    \
     (the direct kernel), so the conv-sized dz is never written to memory. */                \
  void conv2d_backward_weights_maxpool(const ::pycnn::ConvGeometry& g, const float* x,      \
                                       const ::pycnn::MaxPoolGrad& pooled, float* dw,       \
                                       float* db);                                          \
  /* Transposed convolution y = act(conv^T(x, kernel) + bias): g describes the conv whose   \
     input is y (in_*) and whose output is x (out_*), kernel (kh, kw, in_c, out_c) is       \
     Keras's Conv2DTranspose layout. y is fully overwritten. Its gradients are that conv:   \
     dx = conv2d_forward(g, dy, kernel), dkernel = conv2d_backward_weights(g, dy, x). */    \
  void conv_transpose2d_forward(const ::pycnn::ConvGeometry& g, const float* x,             \
                                const float* kernel, const ::pycnn::Epilogue* epilogue,     \
                                float* y);

// conv2d_forward then max pooling of its output (pg: the pooling of an
// (N, out_h, out_w, out_c) input), band by band; argmax (nullable) indexes the
// conv output as max_pool2d_forward's would.
#define PYCNN_CONV_POOL_KERNELS                                                             \
  void conv2d_maxpool_forward(const ::pycnn::ConvGeometry& g, const ::pycnn::PoolGeometry& pg, \
                              const float* x, const float* kernel, const float* packed,     \
                              const ::pycnn::Epilogue* epilogue, float* y, int32_t* argmax);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_CONV_KERNELS)
PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_CONV_POOL_KERNELS)
