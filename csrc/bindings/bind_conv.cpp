// Convolution bindings: shape checks, output allocation, GIL release, one
// dispatch per kernel. Layouts: x (N, H, W, Cin), kernel (KH, KW, Cin, Cout),
// pads (top, bottom, left, right); Conv1D goes through these with H = 1.
// Transposed convolution: kernel (KH, KW, Cout, Cin) and crops (top, bottom,
// left, right) taken off the full output (H - 1) * stride + dilated kernel;
// a negative bottom/right crop appends zero rows/columns (output_padding).
#include <array>
#include <optional>

#include "act/act.hpp"
#include "bindings/common.hpp"
#include "bindings/geometry.hpp"
#include "bindings/packed.hpp"
#include "conv/conv.hpp"

namespace pycnn {

namespace {

// Layout version of PackedKind::conv2d_forward payloads (bump on any change).
// 2: 1x1 kernels in the GEMM's layout; 3: 64-channel blocks for <= 4 inputs.
constexpr uint32_t kConvPackedLayout = 3;

// Packed-kernel dims and payload size for a (kh, kw, cin, cout) kernel.
void conv_packed_dims(const FArray& kernel, int64_t (&dims)[6], int64_t* floats) {
  for (int axis = 0; axis < 4; ++axis) dims[axis] = kernel.shape(axis);
  dims[4] = dims[5] = 0;
  PYCNN_DISPATCH(conv2d_packed_floats, dims[0], dims[1], dims[2], dims[3], floats);
}

}  // namespace

const float* checked_packed_kernel(const std::string& op, const FArray& kernel,
                                   const std::optional<FArray>& packed) {
  if (!packed) return nullptr;
  int64_t dims[6];
  int64_t floats = 0;
  conv_packed_dims(kernel, dims, &floats);
  const float* pp =
      check_packed(op, *packed, PackedKind::conv2d_forward, kConvPackedLayout, dims, floats);
  return floats == 0 ? nullptr : pp;
}

namespace {

FArray conv2d_pack_weights(const FArray& kernel) {
  const std::string op = "conv2d_pack_weights";
  check_ndim(op, "kernel", kernel, 4);
  for (int axis = 0; axis < 4; ++axis)
    if (kernel.shape(axis) < 1)
      fail(op, "kernel " + shape_str(kernel) + " must have positive sizes");
  int64_t dims[6];
  int64_t floats = 0;
  conv_packed_dims(kernel, dims, &floats);
  float* payload = nullptr;
  FArray out = new_packed(PackedKind::conv2d_forward, kConvPackedLayout, dims, floats, &payload);
  const float* pk = kernel.data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(conv2d_pack_weights, dims[0], dims[1], dims[2], dims[3], pk, payload);
  }
  return out;
}


// residual (optional): an array of the output's shape that is overwritten
// with y = act(conv(x) + bias + residual) and returned (ResNet's
// conv -> Add -> ReLU in one pass). It is written in place, so it must be a
// float32 C-contiguous array that shares no memory with x.
FArray conv2d_forward(const FArray& x, const FArray& kernel, std::optional<FArray> bias,
                      Pair strides, Pair dilation, Pads pads, int act, float act_param,
                      std::optional<FArray> packed, const py::object& residual) {
  const std::string op = "conv2d_forward";
  const ConvGeometry g = conv_geometry(op, x, kernel, strides, dilation, pads);
  const Epilogue ep = checked_epilogue(op, bias, g.out_c, act, act_param);
  const float* pp = checked_packed_kernel(op, kernel, packed);
  const bool accumulate = !residual.is_none();
  FArray y;
  if (accumulate) {
    if (!FArray::check_(residual))
      throw py::type_error(op + ": residual must be a float32 C-contiguous NumPy array");
    y = py::reinterpret_borrow<FArray>(residual);
    if (!y.writeable()) fail(op, "residual is read-only");
    const int64_t want[4] = {g.batch, g.out_h, g.out_w, g.out_c};
    for (int axis = 0; axis < 4; ++axis) check_dim(op, "residual", y, axis, want[axis]);
    const char* r0 = reinterpret_cast<const char*>(y.data());
    const char* x0 = reinterpret_cast<const char*>(x.data());
    const size_t rb = static_cast<size_t>(y.size()) * sizeof(float);
    const size_t xb = static_cast<size_t>(x.size()) * sizeof(float);
    if (rb > 0 && xb > 0 && r0 < x0 + xb && x0 < r0 + rb)
      fail(op, "residual shares memory with x");
  } else {
    y = new_array({g.batch, g.out_h, g.out_w, g.out_c});
  }
  const float* px = x.data();
  const float* pk = kernel.data();
  float* py = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(conv2d_forward_packed, g, px, pk, pp, &ep, py, accumulate);
  }
  return y;
}

// conv2d_forward + max pooling in one pass over bands of rows (the conv
// output never reaches memory whole); (y, argmax or None).
py::tuple conv2d_maxpool_forward(const FArray& x, const FArray& kernel,
                                 std::optional<FArray> bias, Pair strides, Pair dilation,
                                 Pads pads, int act, float act_param, Pair pool,
                                 Pair pool_strides, Pads pool_pads, bool with_argmax,
                                 std::optional<FArray> packed) {
  const std::string op = "conv2d_maxpool_forward";
  const ConvGeometry g = conv_geometry(op, x, kernel, strides, dilation, pads);
  const Epilogue ep = checked_epilogue(op, bias, g.out_c, act, act_param);
  const float* pp = checked_packed_kernel(op, kernel, packed);
  const PoolGeometry pg =
      pool_geometry(op, {g.batch, g.out_h, g.out_w, g.out_c}, pool, pool_strides, pool_pads);
  if (with_argmax && g.out_h * g.out_w > INT32_MAX) fail(op, "image too large for int32 argmax");
  FArray y = new_array({pg.batch, pg.out_h, pg.out_w, pg.channels});
  std::optional<I32Array> argmax;
  if (with_argmax) argmax = new_int32_array({pg.batch, pg.out_h, pg.out_w, pg.channels});
  const float* px = x.data();
  const float* pk = kernel.data();
  float* py_ = y.mutable_data();
  int32_t* pa = argmax ? argmax->mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(conv2d_maxpool_forward, g, pg, px, pk, pp, &ep, py_, pa);
  }
  return py::make_tuple(y, argmax ? py::object(*argmax) : py::object(py::none()));
}

py::tuple conv2d_backward(const FArray& x, const FArray& kernel, const FArray& dz, Pair strides,
                          Pair dilation, Pads pads, bool need_dx, bool need_dw) {
  const std::string op = "conv2d_backward";
  const ConvGeometry g = conv_geometry(op, x, kernel, strides, dilation, pads);
  check_ndim(op, "dz", dz, 4);
  const int64_t want[4] = {g.batch, g.out_h, g.out_w, g.out_c};
  for (int axis = 0; axis < 4; ++axis) check_dim(op, "dz", dz, axis, want[axis]);
  std::optional<FArray> dx, dw, db;
  if (need_dx) dx = new_array({g.batch, g.in_h, g.in_w, g.in_c});
  if (need_dw) {
    dw = new_array({g.kernel_h, g.kernel_w, g.in_c, g.out_c});
    db = new_array({g.out_c});
  }
  const float* px = x.data();
  const float* pk = kernel.data();
  const float* pdz = dz.data();
  float* pdx = dx ? dx->mutable_data() : nullptr;
  float* pdw = dw ? dw->mutable_data() : nullptr;
  float* pdb = db ? db->mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    if (pdx) PYCNN_DISPATCH(conv2d_backward_input, g, pk, pdz, pdx);
    if (pdw) PYCNN_DISPATCH(conv2d_backward_weights, g, px, pdz, pdw, pdb);
  }
  auto or_none = [](std::optional<FArray>& a) -> py::object {
    return a ? py::object(*a) : py::object(py::none());
  };
  return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
}

// (dkernel, dbias) of a ReLU conv whose output a 2-D max pooling consumed,
// from that pool's dy, argmax and output y (see MaxPoolGrad): equal to
// conv2d_backward(x, kernel, max_pool2d_backward(dy, argmax, ..., relu_y=y)).
// argmax is not range-checked: with the window geometry every pool backward
// path only compares it with in-window positions (never an address).
py::tuple conv2d_backward_weights_maxpool(const FArray& x, const FArray& kernel, const FArray& dy,
                                          const I32Array& argmax, const FArray& relu_y,
                                          Pair strides, Pair dilation, Pads pads, Pair pool,
                                          Pair pool_strides, Pads pool_pads) {
  const std::string op = "conv2d_backward_weights_maxpool";
  const ConvGeometry g = conv_geometry(op, x, kernel, strides, dilation, pads);
  const PoolGeometry pg =
      pool_geometry(op, {g.batch, g.out_h, g.out_w, g.out_c}, pool, pool_strides, pool_pads);
  check_ndim(op, "dy", dy, 4);
  const int64_t want[4] = {pg.batch, pg.out_h, pg.out_w, pg.channels};
  for (int axis = 0; axis < 4; ++axis) check_dim(op, "dy", dy, axis, want[axis]);
  check_same_shape(op, "argmax", argmax, "dy", dy);
  check_same_shape(op, "relu_y", relu_y, "dy", dy);
  FArray dw = new_array({g.kernel_h, g.kernel_w, g.in_c, g.out_c});
  FArray db = new_array({g.out_c});
  const MaxPoolGrad pooled{&pg, dy.data(), argmax.data(), relu_y.data()};
  const float* px = x.data();
  float* pdw = dw.mutable_data();
  float* pdb = db.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(conv2d_backward_weights_maxpool, g, px, pooled, pdw, pdb);
  }
  return py::make_tuple(dw, db);
}

// The geometry of the conv whose input gradient the transposed conv is:
// its input is y (N, OH, OW, Cout), its output x (N, H, W, Cin).
ConvGeometry conv_transpose_geometry(const std::string& op, const FArray& x,
                                     const FArray& kernel, Pair strides, Pair dilation,
                                     Pads crops) {
  check_ndim(op, "x", x, 4);
  check_ndim(op, "kernel", kernel, 4);
  if (kernel.shape(3) != x.shape(3))
    fail(op, "kernel " + shape_str(kernel) + " expects " + std::to_string(kernel.shape(3)) +
                 " input channels but x " + shape_str(x) + " has " + std::to_string(x.shape(3)));
  if (kernel.shape(0) < 1 || kernel.shape(1) < 1 || kernel.shape(2) < 1)
    fail(op, "kernel " + shape_str(kernel) + " must have positive sizes");
  if (x.shape(1) < 1 || x.shape(2) < 1) fail(op, "x " + shape_str(x) + " has no pixels");
  ConvGeometry g = conv_window(op, kernel, strides, dilation, crops[0], crops[2]);
  if (crops[0] < 0 || crops[2] < 0) fail(op, "top/left crops must be non-negative");
  g.batch = x.shape(0);
  g.out_h = x.shape(1);
  g.out_w = x.shape(2);
  g.out_c = x.shape(3);
  g.in_c = kernel.shape(2);
  // Full (uncropped) transposed-conv size, in overflow-checked arithmetic.
  auto full = [&](int64_t out, int64_t stride, int64_t k, int64_t dil) {
    return add_or_fail(op, mul_or_fail(op, out - 1, stride), mul_or_fail(op, k - 1, dil)) + 1;
  };
  g.in_h = full(g.out_h, g.stride_h, g.kernel_h, g.dilation_h) - crops[0] - crops[1];
  g.in_w = full(g.out_w, g.stride_w, g.kernel_w, g.dilation_w) - crops[2] - crops[3];
  if (g.in_h < 1 || g.in_w < 1) fail(op, "crops leave an empty output for x " + shape_str(x));
  return g;
}

FArray conv_transpose2d_forward(const FArray& x, const FArray& kernel,
                                std::optional<FArray> bias, Pair strides, Pair dilation,
                                Pads crops, int act, float act_param) {
  const std::string op = "conv_transpose2d_forward";
  const ConvGeometry g = conv_transpose_geometry(op, x, kernel, strides, dilation, crops);
  const Epilogue ep = checked_epilogue(op, bias, g.in_c, act, act_param);
  FArray y = new_array({g.batch, g.in_h, g.in_w, g.in_c});
  const float* px = x.data();
  const float* pk = kernel.data();
  float* py = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(conv_transpose2d_forward, g, px, pk, &ep, py);
  }
  return y;
}

py::tuple conv_transpose2d_backward(const FArray& x, const FArray& kernel, const FArray& dz,
                                    Pair strides, Pair dilation, Pads crops, bool need_dx,
                                    bool need_dw) {
  const std::string op = "conv_transpose2d_backward";
  const ConvGeometry g = conv_transpose_geometry(op, x, kernel, strides, dilation, crops);
  check_ndim(op, "dz", dz, 4);
  const int64_t want[4] = {g.batch, g.in_h, g.in_w, g.in_c};
  for (int axis = 0; axis < 4; ++axis) check_dim(op, "dz", dz, axis, want[axis]);
  std::optional<FArray> dx, dw, db;
  if (need_dx) dx = new_array({g.batch, g.out_h, g.out_w, g.out_c});
  if (need_dw) {
    dw = new_array({g.kernel_h, g.kernel_w, g.in_c, g.out_c});
    db = new_array({g.in_c});
  }
  const float* px = x.data();
  const float* pk = kernel.data();
  const float* pdz = dz.data();
  float* pdx = dx ? dx->mutable_data() : nullptr;
  float* pdw = dw ? dw->mutable_data() : nullptr;
  float* pdb = db ? db->mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    // The gradients of conv^T are the conv itself and its weight gradient.
    if (pdx) PYCNN_DISPATCH(conv2d_forward, g, pdz, pk, nullptr, pdx);
    if (pdw) {
      PYCNN_DISPATCH(conv2d_backward_weights, g, pdz, px, pdw, nullptr);
      PYCNN_DISPATCH(bias_grad, pdz, pdb, g.batch * g.in_h * g.in_w, g.in_c);
    }
  }
  auto or_none = [](std::optional<FArray>& a) -> py::object {
    return a ? py::object(*a) : py::object(py::none());
  };
  return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("x"), py::arg("kernel"),
        py::arg("bias") = py::none(), py::arg("strides"), py::arg("dilation"), py::arg("pads"),
        py::arg("act") = 0, py::arg("act_param") = 0.0f, py::arg("packed") = py::none(),
        py::arg("residual") = py::none(),
        "NHWC convolution y = act(conv(x, kernel) + bias); pads = (top, bottom, left, right). "
        "packed: conv2d_pack_weights(kernel), optional (checked against kernel and the ISA). "
        "residual: an output-shaped array overwritten with act(conv + bias + residual) and "
        "returned.");
  m.def("conv2d_pack_weights", &conv2d_pack_weights, py::arg("kernel"),
        "The kernel (KH, KW, Cin, Cout) packed for conv2d_forward(..., packed=) on the active "
        "ISA: an opaque 1-D float32 array (header + panels).");
  m.def("conv2d_maxpool_forward", &conv2d_maxpool_forward, py::arg("x"), py::arg("kernel"),
        py::arg("bias"), py::arg("strides"), py::arg("dilation"), py::arg("pads"),
        py::arg("act"), py::arg("act_param"), py::arg("pool"), py::arg("pool_strides"),
        py::arg("pool_pads"), py::arg("with_argmax") = true, py::arg("packed") = py::none(),
        "max_pool(act(conv2d(x, kernel) + bias)) without storing the conv output: (y, argmax "
        "into the conv output, or None). packed: as conv2d_forward's.");
  m.def("conv2d_backward_weights_maxpool", &conv2d_backward_weights_maxpool, py::arg("x"),
        py::arg("kernel"), py::arg("dy"), py::arg("argmax"), py::arg("relu_y"),
        py::arg("strides"), py::arg("dilation"), py::arg("pads"), py::arg("pool"),
        py::arg("pool_strides"), py::arg("pool_pads"));
  m.def("conv2d_backward", &conv2d_backward, py::arg("x"), py::arg("kernel"), py::arg("dz"),
        py::arg("strides"), py::arg("dilation"), py::arg("pads"), py::arg("need_dx") = true,
        py::arg("need_dw") = true,
        "(dx, dw, db) of a convolution from the pre-activation gradient dz; None when not needed.");
  m.def("conv_transpose2d_forward", &conv_transpose2d_forward, py::arg("x"), py::arg("kernel"),
        py::arg("bias") = py::none(), py::arg("strides"), py::arg("dilation"),
        py::arg("crops"), py::arg("act") = 0, py::arg("act_param") = 0.0f,
        "NHWC transposed convolution, kernel (KH, KW, Cout, Cin); crops = (top, bottom, "
        "left, right) off the full (H - 1) * stride + dilated-kernel output.");
  m.def("conv_transpose2d_backward", &conv_transpose2d_backward, py::arg("x"),
        py::arg("kernel"), py::arg("dz"), py::arg("strides"), py::arg("dilation"),
        py::arg("crops"), py::arg("need_dx") = true, py::arg("need_dw") = true,
        "(dx, dw, db) of a transposed convolution from dz; None when not needed.");
}

}  // namespace pycnn
