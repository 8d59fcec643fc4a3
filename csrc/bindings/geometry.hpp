// Shape validation shared by the conv, pool and fused conv+pool bindings:
// every size is checked (and overflow-checked) here, before any kernel runs.
#pragma once
#include <array>
#include <string>

#include "bindings/common.hpp"
#include "conv/conv.hpp"
#include "pool/pool.hpp"

namespace pycnn {

using Pair = std::array<int64_t, 2>;
using Pads = std::array<int64_t, 4>;
using Shape4 = std::array<int64_t, 4>;

inline std::string shape_str(const Shape4& s) {
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) +
         ", " + std::to_string(s[3]) + ")";
}

// Checks strides and dilation and fills the window fields every convolution
// geometry shares (kernel size, strides, dilation, top/left padding).
inline ConvGeometry conv_window(const std::string& op, int64_t kernel_h, int64_t kernel_w,
                                Pair strides, Pair dilation, int64_t pad_top, int64_t pad_left) {
  for (int64_t s : strides)
    if (s < 1) fail(op, "strides must be positive");
  for (int64_t d : dilation)
    if (d < 1) fail(op, "dilation must be positive");
  ConvGeometry g{};
  g.kernel_h = kernel_h;
  g.kernel_w = kernel_w;
  g.stride_h = strides[0];
  g.stride_w = strides[1];
  g.dilation_h = dilation[0];
  g.dilation_w = dilation[1];
  g.pad_top = pad_top;
  g.pad_left = pad_left;
  return g;
}

inline ConvGeometry conv_window(const std::string& op, const FArray& kernel, Pair strides,
                                Pair dilation, int64_t pad_top, int64_t pad_left) {
  return conv_window(op, kernel.shape(0), kernel.shape(1), strides, dilation, pad_top, pad_left);
}

// Validates an x of shape (N, H, W, Cin) against a kernel (KH, KW, Cin, Cout),
// strides, dilation and pads, and returns the full geometry.
inline ConvGeometry conv_geometry(const std::string& op, const Shape4& x, const Shape4& kernel,
                                  Pair strides, Pair dilation, Pads pads) {
  if (kernel[2] != x[3])
    fail(op, "kernel " + shape_str(kernel) + " expects " + std::to_string(kernel[2]) +
                 " input channels but x " + shape_str(x) + " has " + std::to_string(x[3]));
  if (kernel[0] < 1 || kernel[1] < 1 || kernel[3] < 1)
    fail(op, "kernel " + shape_str(kernel) + " must have positive sizes");
  for (int64_t p : pads)
    if (p < 0) fail(op, "pads must be non-negative");
  ConvGeometry g = conv_window(op, kernel[0], kernel[1], strides, dilation, pads[0], pads[2]);
  g.batch = x[0];
  g.in_h = x[1];
  g.in_w = x[2];
  g.in_c = x[3];
  g.out_c = kernel[3];
  const int64_t span_h = mul_or_fail(op, g.kernel_h - 1, g.dilation_h) + 1;
  const int64_t span_w = mul_or_fail(op, g.kernel_w - 1, g.dilation_w) + 1;
  const int64_t padded_h = add_or_fail(op, add_or_fail(op, g.in_h, pads[0]), pads[1]);
  const int64_t padded_w = add_or_fail(op, add_or_fail(op, g.in_w, pads[2]), pads[3]);
  if (padded_h < span_h || padded_w < span_w)
    fail(op, "kernel " + shape_str(kernel) + " (dilated) is larger than the padded input " +
                 shape_str(x));
  g.out_h = (padded_h - span_h) / g.stride_h + 1;
  g.out_w = (padded_w - span_w) / g.stride_w + 1;
  return g;
}

inline Shape4 shape4(const py::array& a) { return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)}; }

inline ConvGeometry conv_geometry(const std::string& op, const FArray& x, const FArray& kernel,
                                  Pair strides, Pair dilation, Pads pads) {
  check_ndim(op, "x", x, 4);
  check_ndim(op, "kernel", kernel, 4);
  return conv_geometry(op, shape4(x), shape4(kernel), strides, dilation, pads);
}

// Validates the pooling of an (N, H, W, C) input and returns its geometry.
inline PoolGeometry pool_geometry(const std::string& op, Shape4 x_shape, Pair pool, Pair strides,
                           Pads pads) {
  for (int64_t d : x_shape)
    if (d < 0) fail(op, "negative input dimension");
  if (pool[0] < 1 || pool[1] < 1) fail(op, "pool size must be positive");
  if (strides[0] < 1 || strides[1] < 1) fail(op, "strides must be positive");
  for (int i = 0; i < 4; ++i)
    if (pads[i] < 0 || pads[i] >= pool[i / 2]) fail(op, "pads must be in [0, pool size)");
  PoolGeometry g{};
  g.batch = x_shape[0];
  g.in_h = x_shape[1];
  g.in_w = x_shape[2];
  g.channels = x_shape[3];
  g.pool_h = pool[0];
  g.pool_w = pool[1];
  g.stride_h = strides[0];
  g.stride_w = strides[1];
  g.pad_top = pads[0];
  g.pad_left = pads[2];
  const int64_t padded_h = add_or_fail(op, add_or_fail(op, g.in_h, pads[0]), pads[1]);
  const int64_t padded_w = add_or_fail(op, add_or_fail(op, g.in_w, pads[2]), pads[3]);
  if (padded_h < g.pool_h || padded_w < g.pool_w || g.in_h == 0 || g.in_w == 0)
    fail(op, "pool size (" + std::to_string(g.pool_h) + ", " + std::to_string(g.pool_w) +
                 ") is larger than the padded input");
  g.out_h = (padded_h - g.pool_h) / g.stride_h + 1;
  g.out_w = (padded_w - g.pool_w) / g.stride_w + 1;
  return g;
}

}  // namespace pycnn
