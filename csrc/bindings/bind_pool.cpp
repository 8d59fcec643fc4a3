// Pooling bindings: shape checks, output allocation, GIL release, one
// dispatch per kernel. x is (N, H, W, C); pads are (top, bottom, left, right)
// and must be smaller than the pool size, so no window is all padding.
#include <array>
#include <optional>

#include "bindings/common.hpp"
#include "bindings/geometry.hpp"
#include "pool/pool.hpp"
#include "pool/resize.hpp"

namespace pycnn {

namespace {

Shape4 shape_of(const std::string& op, const py::array& x) {
  check_ndim(op, "x", x, 4);
  return {x.shape(0), x.shape(1), x.shape(2), x.shape(3)};
}

void check_output_shaped(const std::string& op, const char* name, const py::array& a,
                         const PoolGeometry& g) {
  check_ndim(op, name, a, 4);
  const int64_t want[4] = {g.batch, g.out_h, g.out_w, g.channels};
  for (int axis = 0; axis < 4; ++axis) check_dim(op, name, a, axis, want[axis]);
}

py::tuple max_pool2d_forward(const FArray& x, Pair pool, Pair strides, Pads pads,
                             bool with_argmax) {
  const std::string op = "max_pool2d_forward";
  const PoolGeometry g = pool_geometry(op, shape_of(op, x), pool, strides, pads);
  if (with_argmax && g.in_h * g.in_w > INT32_MAX) fail(op, "image too large for int32 argmax");
  FArray y = new_array({g.batch, g.out_h, g.out_w, g.channels});
  std::optional<I32Array> argmax;
  if (with_argmax)
    argmax = new_int32_array({g.batch, g.out_h, g.out_w, g.channels});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  int32_t* pa = argmax ? argmax->mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(max_pool2d_forward, g, px, py_, pa);
  }
  return py::make_tuple(y, argmax ? py::object(*argmax) : py::object(py::none()));
}

FArray zero_pad2d(const FArray& x, Pads pads) {
  const std::string op = "zero_pad2d";
  const Shape4 s = shape_of(op, x);
  for (int64_t p : pads)
    if (p < 0) fail(op, "pads must be non-negative");
  const int64_t out_h = add_or_fail(op, add_or_fail(op, s[1], pads[0]), pads[1]);
  const int64_t out_w = add_or_fail(op, add_or_fail(op, s[2], pads[2]), pads[3]);
  mul_or_fail(op, mul_or_fail(op, mul_or_fail(op, s[0], out_h), out_w), s[3]);
  FArray y = new_array({s[0], out_h, out_w, s[3]});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(zero_pad2d, px, s[0], s[1], s[2], s[3], pads[0], pads[1], pads[2], pads[3],
                 py_);
  return y;
}

FArray max_pool2d_backward(const FArray& dy, const I32Array& argmax, Shape4 x_shape,
                           std::optional<Pair> pool, std::optional<Pair> strides,
                           std::optional<Pads> pads, std::optional<FArray> relu_y) {
  const std::string op = "max_pool2d_backward";
  check_ndim(op, "dy", dy, 4);
  check_same_shape(op, "dy", dy, "argmax", argmax);
  if (relu_y) check_same_shape(op, "relu_y", *relu_y, "dy", dy);
  for (int64_t d : x_shape)
    if (d < 0) fail(op, "negative input dimension");
  if (dy.shape(0) != x_shape[0] || dy.shape(3) != x_shape[3])
    fail(op, "dy " + shape_str(dy) + " does not match the batch and channels of x_shape");
  PoolGeometry g{};
  g.batch = x_shape[0];
  g.in_h = x_shape[1];
  g.in_w = x_shape[2];
  g.channels = x_shape[3];
  g.out_h = dy.shape(1);
  g.out_w = dy.shape(2);
  // With the window geometry (all three, matching dy) the kernel gathers.
  if (pool && strides && pads) {
    const PoolGeometry w = pool_geometry(op, x_shape, *pool, *strides, *pads);
    if (w.out_h != g.out_h || w.out_w != g.out_w)
      fail(op, "dy " + shape_str(dy) + " does not match the pooling of x_shape");
    g = w;
  }
  // Indices come from Python: check them before the kernel scatters with them.
  const int32_t* pa = argmax.data();
  const int64_t limit = g.in_h * g.in_w;
  // One branch-free pass (vectorises); size() recomputes the shape product, so hoist it.
  const py::ssize_t count = argmax.size();
  int out_of_range = 0;
  for (py::ssize_t i = 0; i < count; ++i) out_of_range |= (pa[i] < 0) | (pa[i] >= limit);
  if (out_of_range) fail(op, "argmax index out of range for x_shape");
  FArray dx = new_array({g.batch, g.in_h, g.in_w, g.channels});
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  const float* pry = relu_y ? relu_y->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(max_pool2d_backward, g, pdy, pa, pry, pdx);
  }
  return dx;
}

FArray avg_pool2d_forward(const FArray& x, Pair pool, Pair strides, Pads pads) {
  const std::string op = "avg_pool2d_forward";
  const PoolGeometry g = pool_geometry(op, shape_of(op, x), pool, strides, pads);
  FArray y = new_array({g.batch, g.out_h, g.out_w, g.channels});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(avg_pool2d_forward, g, px, py_);
  }
  return y;
}

FArray avg_pool2d_backward(const FArray& dy, Shape4 x_shape, Pair pool, Pair strides,
                           Pads pads) {
  const std::string op = "avg_pool2d_backward";
  const PoolGeometry g = pool_geometry(op, x_shape, pool, strides, pads);
  check_output_shaped(op, "dy", dy, g);
  FArray dx = new_array({g.batch, g.in_h, g.in_w, g.channels});
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(avg_pool2d_backward, g, pdy, pdx);
  }
  return dx;
}

// One separable-resize pass along `axis` of x, with CSR tap tables
// (offsets[out_len + 1], index[nnz], weights[nnz]) checked before any use.
FArray resample_axis(const FArray& x, int axis, int64_t out_len, const IArray& offsets,
                     const IArray& index, const FArray& weights) {
  const std::string op = "resample_axis";
  if (axis < 0 || axis >= x.ndim())
    fail(op, "axis " + std::to_string(axis) + " out of range for x " + shape_str(x));
  if (out_len < 0) fail(op, "negative output length");
  check_ndim(op, "offsets", offsets, 1);
  check_ndim(op, "index", index, 1);
  check_ndim(op, "weights", weights, 1);
  check_dim(op, "offsets", offsets, 0, out_len + 1);
  check_same_shape(op, "index", index, "weights", weights);
  const int64_t in_len = x.shape(axis), nnz = index.shape(0);
  const int64_t* po = offsets.data();
  const int64_t* pi = index.data();
  if (po[0] != 0 || po[out_len] != nnz) fail(op, "offsets must run from 0 to len(index)");
  for (int64_t j = 0; j < out_len; ++j)
    if (po[j + 1] < po[j]) fail(op, "offsets must be non-decreasing");
  for (int64_t t = 0; t < nnz; ++t)
    if (pi[t] < 0 || pi[t] >= in_len) fail(op, "index out of range for x " + shape_str(x));
  int64_t outer = 1, inner = 1;
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < x.ndim(); ++d) inner *= shape[d];
  shape[axis] = out_len;
  FArray y = new_array(shape);
  const float* px = x.data();
  const float* pw = weights.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(resample_axis, px, outer, in_len, out_len, inner, po, pi, pw, py_);
  }
  return y;
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("x"), py::arg("pool"),
        py::arg("strides"), py::arg("pads"), py::arg("with_argmax") = true,
        "(y, argmax): window max and the int32 spatial index iy * W + ix of its first max "
        "(None when with_argmax is false: inference needs no backward).");
  m.def("zero_pad2d", &zero_pad2d, py::arg("x"), py::arg("pads"),
        "x (N, H, W, C) with zero borders (top, bottom, left, right).");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("dy"), py::arg("argmax"),
        py::arg("x_shape"), py::arg("pool") = py::none(), py::arg("strides") = py::none(),
        py::arg("pads") = py::none(), py::arg("relu_y") = py::none(),
        "dx with dy routed to each window's argmax; pool/strides/pads (optional) let the "
        "kernel run a parallel gather. relu_y: the pool's output when a ReLU feeds the "
        "pool; dy is gated by relu_y > 0 (dx is then the gradient before the ReLU).");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("x"), py::arg("pool"),
        py::arg("strides"), py::arg("pads"),
        "Window mean over in-bounds values only (TensorFlow 'same').");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("dy"), py::arg("x_shape"),
        py::arg("pool"), py::arg("strides"), py::arg("pads"), "Adjoint of avg_pool2d_forward.");
  m.def("resample_axis", &resample_axis, py::arg("x"), py::arg("axis"), py::arg("out_len"),
        py::arg("offsets"), py::arg("index"), py::arg("weights"),
        "One separable-resize pass: y[..., j, ...] = sum_t weights[t] * x[..., index[t], ...] "
        "for t in [offsets[j], offsets[j + 1]).");
}

}  // namespace pycnn
