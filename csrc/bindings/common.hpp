// Shared helpers for the pybind11 bindings: array access and the shape
// checks every kernel entry runs before touching a pointer.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/allocator.hpp"
#include "core/types.hpp"

namespace pycnn {
namespace py = pybind11;

// Kernels take C-contiguous float32; pycnn/ops.py converts before calling.
using FArray = py::array_t<float, py::array::c_style>;
using IArray = py::array_t<int64_t, py::array::c_style>;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

[[noreturn]] inline void fail(const std::string& op, const std::string& msg) {
  throw std::invalid_argument(op + ": " + msg);
}

inline void check_ndim(const std::string& op, const char* name, const py::array& a, int ndim) {
  if (a.ndim() != ndim)
    fail(op, std::string(name) + " must have rank " + std::to_string(ndim) + ", got shape " +
                 shape_str(a));
}

inline void check_dim(const std::string& op, const char* name, const py::array& a, int axis,
                      int64_t want) {
  if (a.shape(axis) != want)
    fail(op, std::string(name) + " has shape " + shape_str(a) + " but dimension " +
                 std::to_string(axis) + " must be " + std::to_string(want));
}

inline void check_nonempty(const std::string& op, const char* name, const py::array& a) {
  if (a.size() == 0) fail(op, std::string(name) + " is empty, shape " + shape_str(a));
}

inline void check_same_shape(const std::string& op, const char* na, const py::array& a,
                             const char* nb, const py::array& b) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    fail(op, std::string(na) + " shape " + shape_str(a) + " does not match " + nb + " shape " +
                 shape_str(b));
}

// Size arithmetic on user-given geometry (pads, dilation, strides) must not
// overflow int64: these fail with a clear message instead (UBSan-clean).
inline int64_t add_or_fail(const std::string& op, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail(op, "sizes overflow int64 (pads/dilation too large)");
  return r;
}

inline int64_t mul_or_fail(const std::string& op, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail(op, "sizes overflow int64 (pads/dilation too large)");
  return r;
}

// The fused bias + activation of a GEMM/conv output with `channels` columns,
// after checking the bias shape and the activation code (softmax cannot fuse).
inline Epilogue checked_epilogue(const std::string& op, const std::optional<FArray>& bias,
                                 int64_t channels, int act, float act_param) {
  if (bias) {
    check_ndim(op, "bias", *bias, 1);
    check_dim(op, "bias", *bias, 0, channels);
  }
  if (act < 0 || act > static_cast<int>(Act::softplus)) fail(op, "unsupported fused activation");
  Epilogue ep;
  ep.bias = bias ? bias->data() : nullptr;
  ep.act = static_cast<Act>(act);
  ep.act_param = act_param;
  return ep;
}

inline const float* cptr(const FArray& a) { return a.data(); }

inline float* mptr(FArray& a, const std::string& op = "kernel") {
  if (!a.writeable()) fail(op, "output array is read-only");
  return a.mutable_data();
}

// Output arrays come from the caching allocator (core/allocator.hpp): the
// capsule base hands the block back to the cache when the array dies, so
// steady-state training steps reuse the same memory instead of malloc/mmap.
inline FArray new_array(const std::vector<py::ssize_t>& shape) {
  std::size_t count = 1;
  for (py::ssize_t d : shape) count *= static_cast<std::size_t>(d);
  void* data = cached_alloc(count * sizeof(float));
  py::capsule owner(data, [](void* p) { cached_free(p); });
  return FArray(shape, static_cast<float*>(data), owner);
}

inline FArray new_array(std::initializer_list<py::ssize_t> shape) {
  return new_array(std::vector<py::ssize_t>(shape));
}

// int32 outputs (max-pool argmax) from the same cache.
using I32Array = py::array_t<int32_t, py::array::c_style>;
inline I32Array new_int32_array(const std::vector<py::ssize_t>& shape) {
  std::size_t count = 1;
  for (py::ssize_t d : shape) count *= static_cast<std::size_t>(d);
  void* data = cached_alloc(count * sizeof(int32_t));
  py::capsule owner(data, [](void* p) { cached_free(p); });
  return I32Array(shape, static_cast<int32_t*>(data), owner);
}

// Registration functions, one per kernel family (bind_*.cpp).
void bind_core(py::module_& m);
void bind_gemm(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_act(py::module_& m);
void bind_norm(py::module_& m);
void bind_optim(py::module_& m);
void bind_rnn(py::module_& m);
void bind_chain(py::module_& m);

}  // namespace pycnn
