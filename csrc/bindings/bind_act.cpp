// Activation, bias-gradient and Dropout bindings (pycnn/ops/act.py wraps them).
#include <cmath>

#include "act/act.hpp"
#include "bindings/common.hpp"

namespace pycnn {

namespace {

Act checked_act(const std::string& op, int code, bool allow_softmax = true) {
  const int last = static_cast<int>(allow_softmax ? Act::softmax : Act::softplus);
  if (code < 0 || code > last) fail(op, "unknown activation code " + std::to_string(code));
  return static_cast<Act>(code);
}

// Last axis = columns, everything before it = rows (a scalar is 1 x 1).
int64_t cols_of(const py::array& a) { return a.ndim() ? a.shape(a.ndim() - 1) : 1; }
int64_t rows_of(const py::array& a) {
  const int64_t c = cols_of(a);
  return c ? static_cast<int64_t>(a.size()) / c : 0;
}

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

FArray act_forward(const FArray& x, int code, float p) {
  const Act act = checked_act("act_forward", code);
  if (act == Act::softmax && x.ndim() == 0) fail("act_forward", "softmax needs rank >= 1");
  FArray y = new_array(shape_of(x));
  const float* px = x.data();
  float* py_ = y.mutable_data();
  const int64_t rows = rows_of(x), cols = cols_of(x);
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(act_forward, px, py_, rows, cols, act, p);
  return y;
}

FArray bias_act_forward(const FArray& x, const FArray& bias, int code, float p) {
  const std::string op = "bias_act_forward";
  const Act act = checked_act(op, code);
  if (x.ndim() < 1) fail(op, "x must have rank >= 1, got shape " + shape_str(x));
  check_ndim(op, "bias", bias, 1);
  check_dim(op, "bias", bias, 0, cols_of(x));
  FArray y = new_array(shape_of(x));
  const float* px = x.data();
  const float* pb = bias.data();
  float* py_ = y.mutable_data();
  const int64_t rows = rows_of(x), cols = cols_of(x);
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(bias_act_forward, px, pb, py_, rows, cols, act, p);
  return y;
}

FArray sum_act_forward(const std::vector<FArray>& xs, int code, float p) {
  const std::string op = "sum_act_forward";
  const Act act = checked_act(op, code, false);
  if (xs.empty()) fail(op, "needs at least one input");
  for (size_t i = 1; i < xs.size(); ++i)
    check_same_shape(op, ("xs[" + std::to_string(i) + "]").c_str(), xs[i], "xs[0]", xs[0]);
  FArray y = new_array(shape_of(xs[0]));
  std::vector<const float*> ptrs;
  for (const FArray& x : xs) ptrs.push_back(x.data());
  float* py_ = y.mutable_data();
  const int64_t n = static_cast<int64_t>(xs[0].size());
  const int count = static_cast<int>(ptrs.size());
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(sum_act_forward, ptrs.data(), count, n, act, p, py_);
  return y;
}

FArray act_backward(std::optional<FArray> x, const FArray& y, const FArray& dy, int code,
                    float p) {
  const std::string op = "act_backward";
  const Act act = checked_act(op, code);
  check_same_shape(op, "dy", dy, "y", y);
  if (x) check_same_shape(op, "x", *x, "y", y);
  const bool needs_x = act == Act::gelu || act == Act::swish || (act == Act::leaky_relu && p < 0);
  if (needs_x && !x) fail(op, "activation code " + std::to_string(code) +
                                  " needs the pre-activation x (got None)");
  FArray dx = new_array(shape_of(y));
  const float* px = x ? x->data() : nullptr;
  const float* pyv = y.data();
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  const int64_t rows = rows_of(y), cols = cols_of(y);
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(act_backward, px, pyv, pdy, pdx, rows, cols, act, p);
  return dx;
}

FArray bias_grad(const FArray& dy) {
  if (dy.ndim() < 1) fail("bias_grad", "dy must have rank >= 1, got shape " + shape_str(dy));
  const int64_t rows = rows_of(dy), cols = cols_of(dy);
  FArray db = new_array({cols});
  const float* pdy = dy.data();
  float* pdb = db.mutable_data();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(bias_grad, pdy, pdb, rows, cols);
  return db;
}

py::tuple dropout_forward(const FArray& x, double rate, uint64_t seed) {
  if (!(rate >= 0.0 && rate < 1.0))
    fail("dropout_forward", "rate must be in [0, 1), got " + std::to_string(rate));
  FArray y = new_array(shape_of(x));
  FArray mask = new_array(shape_of(x));
  // Keep unit i when its 32-bit draw >= floor(rate * 2^32).
  const uint32_t threshold = static_cast<uint32_t>(std::floor(rate * 4294967296.0));
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  const float* px = x.data();
  float* py_ = y.mutable_data();
  float* pm = mask.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(dropout_forward, px, py_, pm, n, seed, threshold, scale);
  }
  return py::make_tuple(y, mask);
}

FArray dropout_backward(const FArray& dy, const FArray& mask) {
  check_same_shape("dropout_backward", "dy", dy, "mask", mask);
  FArray dx = new_array(shape_of(dy));
  const float* pdy = dy.data();
  const float* pm = mask.data();
  float* pdx = dx.mutable_data();
  const int64_t n = dy.size();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(multiply, pdy, pm, pdx, n);
  return dx;
}

}  // namespace

void bind_act(py::module_& m) {
  m.def("act_forward", &act_forward, py::arg("x"), py::arg("act"), py::arg("act_param") = 0.0f);
  m.def("bias_act_forward", &bias_act_forward, py::arg("x"), py::arg("bias"), py::arg("act"),
        py::arg("act_param") = 0.0f);
  m.def("act_backward", &act_backward, py::arg("x"), py::arg("y"), py::arg("dy"), py::arg("act"),
        py::arg("act_param") = 0.0f);
  m.def("bias_grad", &bias_grad, py::arg("dy"));
  m.def("sum_act_forward", &sum_act_forward, py::arg("xs"), py::arg("act") = 0,
        py::arg("act_param") = 0.0f, "act(xs[0] + xs[1] + ...), summed left to right.");
  m.def("dropout_forward", &dropout_forward, py::arg("x"), py::arg("rate"), py::arg("seed"));
  m.def("dropout_backward", &dropout_backward, py::arg("dy"), py::arg("mask"));
}

}  // namespace pycnn
