// Optimizer update bindings (in place on the parameter and its slots), and
// the registration of the loss bindings (bind_loss.cpp).
#include "bindings/common.hpp"
#include "gemm/gemm.hpp"
#include "optim/optim.hpp"

#include <cmath>
#include <optional>
#include <vector>

namespace pycnn {

void bind_loss_kernels(py::module_& m);  // bind_loss.cpp

namespace {

// In-place arrays must already be float32 C-contiguous: a converted copy
// would be updated instead of the caller's array (the arguments are
// declared noconvert, so pybind11 raises TypeError for anything else).
void check_slot(const std::string& op, const char* name, const FArray& slot, const FArray& param) {
  check_same_shape(op, name, slot, "param", param);
  if (!slot.writeable()) fail(op, std::string(name) + " is read-only");
}

float* optional_slot(const std::string& op, const char* name, std::optional<FArray>& slot,
                     const FArray& param) {
  if (!slot) return nullptr;
  check_slot(op, name, *slot, param);
  return slot->mutable_data();
}

void check_param_and_grad(const std::string& op, FArray& param, const FArray& grad) {
  check_same_shape(op, "grad", grad, "param", param);
  if (!param.writeable()) fail(op, "param is read-only");
}

// An update reads and writes param, grad and slots element by element: two
// of them sharing memory (m is v) would silently give wrong values.
struct Buffer {
  const char* name;
  const float* data;  // null: absent
  int64_t count;
};

void check_distinct(const std::string& op, std::initializer_list<Buffer> buffers) {
  for (auto a = buffers.begin(); a != buffers.end(); ++a)
    for (auto b = a + 1; b != buffers.end(); ++b) {
      if (!a->data || !b->data || a->count == 0 || b->count == 0) continue;
      if (a->data < b->data + b->count && b->data < a->data + a->count)
        fail(op, std::string(a->name) + " and " + b->name + " share memory");
    }
}

void sgd(FArray param, const FArray& grad, std::optional<FArray> momentum_buf, float lr,
         float momentum, bool nesterov, float decay) {
  const std::string op = "sgd_update";
  check_param_and_grad(op, param, grad);
  float* mb = optional_slot(op, "momentum_buf", momentum_buf, param);
  float* p = param.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  check_distinct(op, {{"param", p, n}, {"grad", g, n}, {"momentum_buf", mb, n}});
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(sgd_update, p, g, mb, n, lr, momentum, nesterov, decay);
}

void adam(FArray param, const FArray& grad, FArray m, FArray v,
          std::optional<FArray> velocity_hat, float alpha, float beta_1, float beta_2,
          float epsilon, float decay) {
  const std::string op = "adam_update";
  check_param_and_grad(op, param, grad);
  check_slot(op, "m", m, param);
  check_slot(op, "v", v, param);
  float* vh = optional_slot(op, "velocity_hat", velocity_hat, param);
  float* p = param.mutable_data();
  float* pm = m.mutable_data();
  float* pv = v.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  check_distinct(op, {{"param", p, n}, {"grad", g, n}, {"m", pm, n}, {"v", pv, n},
                      {"velocity_hat", vh, n}});
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(adam_update, p, g, pm, pv, vh, n, alpha, beta_1, beta_2, epsilon, decay);
}

void rmsprop(FArray param, const FArray& grad, FArray velocity,
             std::optional<FArray> momentum_buf, std::optional<FArray> average_grad, float lr,
             float rho, float momentum, float epsilon, float decay) {
  const std::string op = "rmsprop_update";
  check_param_and_grad(op, param, grad);
  check_slot(op, "velocity", velocity, param);
  float* mb = optional_slot(op, "momentum_buf", momentum_buf, param);
  float* ag = optional_slot(op, "average_grad", average_grad, param);
  float* p = param.mutable_data();
  float* pv = velocity.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  check_distinct(op, {{"param", p, n}, {"grad", g, n}, {"velocity", pv, n},
                      {"momentum_buf", mb, n}, {"average_grad", ag, n}});
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(rmsprop_update, p, g, pv, mb, ag, n, lr, rho, momentum, epsilon, decay);
}

void adagrad(FArray param, const FArray& grad, FArray accumulator, float lr, float epsilon,
             float decay) {
  const std::string op = "adagrad_update";
  check_param_and_grad(op, param, grad);
  check_slot(op, "accumulator", accumulator, param);
  float* p = param.mutable_data();
  float* acc = accumulator.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  check_distinct(op, {{"param", p, n}, {"grad", g, n}, {"accumulator", acc, n}});
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(adagrad_update, p, g, acc, n, lr, epsilon, decay);
}

// A float32 C-contiguous array the kernel may write (no conversion: a copy
// would be updated instead of the caller's array).
FArray writable_array(const std::string& op, const char* what, size_t i, const py::handle& h) {
  if (!FArray::check_(h))
    throw py::type_error(op + ": " + what + "[" + std::to_string(i) +
                         "] must be a float32 C-contiguous NumPy array");
  FArray a = py::reinterpret_borrow<FArray>(h);
  if (!a.writeable()) fail(op, std::string(what) + "[" + std::to_string(i) + "] is read-only");
  return a;
}

// A gradient given as the pair (a, b) stands for a^T b: a (batch, rows),
// b (batch, cols), param (rows, cols) - a Dense kernel's x^T dz, which Adam
// then sums block by block in cache (adam_update_outer) instead of reading
// a param-sized gradient from memory. That is taken only when the sum is
// finite for sure: a and b finite and batch * max|a| * max|b| < 1e37 (no
// partial sum can overflow). Otherwise, or for another optimizer, the
// gradient is computed here (`ready`) and checked like any other.
template <typename OuterT>
OuterT outer_gradient(const std::string& op, const std::string& gi, const py::tuple& pair,
                           const FArray& param, bool lazy_ok, std::optional<FArray>* ready) {
  if (pair.size() != 2) fail(op, gi + " must be an array or a pair (a, b) standing for a^T b");
  auto as_array = [&](const py::handle& h, const char* name) {
    FArray arr = py::reinterpret_steal<FArray>(
        py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(h).release());
    if (!arr) throw py::type_error(op + ": " + gi + " " + name + " cannot be read as float32");
    if (arr.ndim() != 2) fail(op, gi + " " + name + " must be 2-D, got " + shape_str(arr));
    return arr;
  };
  FArray a = as_array(pair[0], "a"), b = as_array(pair[1], "b");
  if (a.shape(0) != b.shape(0) || a.shape(0) < 1 || param.ndim() != 2 ||
      param.shape(0) != a.shape(1) || param.shape(1) != b.shape(1))
    fail(op, gi + " a " + shape_str(a) + ", b " + shape_str(b) + " do not make a^T b of the " +
                 "param's shape " + shape_str(param));
  const int64_t batch = a.shape(0), rows = a.shape(1), cols = b.shape(1);
  bool finite_a = true, finite_b = true;
  float max_a = 0.0f, max_b = 0.0f;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(all_finite, a.data(), batch * rows, &finite_a);
    PYCNN_DISPATCH(all_finite, b.data(), batch * cols, &finite_b);
    if (finite_a && finite_b) {
      PYCNN_DISPATCH(max_abs, a.data(), batch * rows, &max_a);
      PYCNN_DISPATCH(max_abs, b.data(), batch * cols, &max_b);
    }
  }
  const bool bounded = finite_a && finite_b &&
                       static_cast<double>(batch) * max_a * max_b < 1e37;
  if (!lazy_ok || !bounded) {
    FArray gm = new_array({rows, cols});
    float* pg = gm.mutable_data();
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(sgemm, true, false, rows, cols, batch, 1.0f, a.data(), rows, b.data(), cols,
                   0.0f, pg, cols, nullptr, 0);
    *ready = gm;
  }
  return OuterT{0, std::move(a), std::move(b)};
}

// One optimizer step over every variable (see OptimizerKind in optim.hpp).
// All checks (list lengths, shapes, writeability, finite gradients) run
// before the first write, so a step that fails changes nothing. Returns -1,
// or the index of the first gradient holding NaN/Inf (nothing written).
// Adam: hyper = (lr, beta_1, beta_2, epsilon); the bias-corrected rate
// alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) is computed here once
// per step in float32 (t = step), as Keras does.
int64_t fused_step(int kind, const py::list& params, const py::list& grads,
                   const py::list& slot_lists, std::vector<float> hyper, int64_t step,
                   float decay, std::optional<std::vector<bool>> decay_mask) {
  const std::string op = "optimizer_step";
  if (kind < 0 || kind > 3) fail(op, "unknown optimizer kind " + std::to_string(kind));
  const auto okind = static_cast<OptimizerKind>(kind);
  static const size_t hyper_len[] = {3, 4, 4, 2};
  if (hyper.size() != hyper_len[kind])
    fail(op, "expected " + std::to_string(hyper_len[kind]) + " hyperparameters, got " +
                 std::to_string(hyper.size()));
  const size_t count = params.size();
  if (grads.size() != count)
    fail(op, "got " + std::to_string(grads.size()) + " gradients for " + std::to_string(count) +
                 " variables");
  if (slot_lists.size() > static_cast<size_t>(kMaxOptimizerSlots))
    fail(op, "too many slot lists");
  if (decay_mask && decay_mask->size() != count) fail(op, "decay_mask length mismatch");

  std::vector<FArray> keep;  // owns converted gradients for the call
  keep.reserve(count * 2);
  std::vector<float*> p(count);
  std::vector<const float*> g(count);
  std::vector<int64_t> sizes(count);
  std::vector<float> decays(count);
  std::vector<float*> slot_ptrs[kMaxOptimizerSlots];
  float* const* slot_tables[kMaxOptimizerSlots] = {nullptr, nullptr, nullptr};
  std::vector<py::list> slots(slot_lists.size());
  std::vector<bool> has_slot(slot_lists.size(), false);
  for (size_t k = 0; k < static_cast<size_t>(kMaxOptimizerSlots); ++k) {
    slot_ptrs[k].assign(count, nullptr);
    slot_tables[k] = slot_ptrs[k].data();
    if (k < slot_lists.size() && !slot_lists[k].is_none()) {
      slots[k] = slot_lists[k].cast<py::list>();
      has_slot[k] = true;
      if (slots[k].size() != count) fail(op, "slot list length mismatch");
    }
  }
  // Adam gradients given as (a, b), meaning a^T b (see outer_gradient).
  struct Outer {
    size_t index;
    FArray a, b;
  };
  std::vector<Outer> outers;
  for (size_t i = 0; i < count; ++i) {
    FArray param = writable_array(op, "params", i, params[i]);
    const std::string gi = "grads[" + std::to_string(i) + "]";
    const std::string pi = "params[" + std::to_string(i) + "]";
    p[i] = param.mutable_data();
    sizes[i] = param.size();
    decays[i] = (!decay_mask || (*decay_mask)[i]) ? decay : 0.0f;
    for (size_t k = 0; k < slots.size(); ++k) {
      if (!has_slot[k]) continue;
      FArray slot = writable_array(op, "slots", i, slots[k][i]);
      check_same_shape(op, "slot", slot, pi.c_str(), param);
      slot_ptrs[k][i] = slot.mutable_data();
    }
    const int64_t n = sizes[i];
    py::handle gh = grads[i];
    if (py::isinstance<py::tuple>(gh)) {
      std::optional<FArray> ready;
      Outer outer = outer_gradient<Outer>(op, gi, py::reinterpret_borrow<py::tuple>(gh), param,
                                          okind == OptimizerKind::adam, &ready);
      if (!ready) {  // summed in the update itself (adam_update_outer), not in the flat range
        check_distinct(op, {{"param", p[i], n}, {"slot 0", slot_ptrs[0][i], n},
                            {"slot 1", slot_ptrs[1][i], n}, {"slot 2", slot_ptrs[2][i], n},
                            {"a", outer.a.data(), static_cast<int64_t>(outer.a.size())},
                            {"b", outer.b.data(), static_cast<int64_t>(outer.b.size())}});
        g[i] = nullptr;
        sizes[i] = 0;
        outer.index = i;
        outers.push_back(std::move(outer));
        continue;
      }
      gh = *ready;
      keep.push_back(*ready);
    }
    // Gradients may be any array-like (converted to float32, as np.asarray would).
    FArray grad;
    if (FArray::check_(gh))
      grad = py::reinterpret_borrow<FArray>(gh);
    else
      grad = py::reinterpret_steal<FArray>(
          py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(gh).release());
    if (!grad) throw py::type_error(op + ": " + gi + " cannot be read as a float32 array");
    check_same_shape(op, gi.c_str(), grad, pi.c_str(), param);
    g[i] = grad.data();
    check_distinct(op, {{"param", p[i], n}, {"grad", g[i], n}, {"slot 0", slot_ptrs[0][i], n},
                        {"slot 1", slot_ptrs[1][i], n}, {"slot 2", slot_ptrs[2][i], n}});
    keep.push_back(std::move(grad));
  }
  float h[4] = {0, 0, 0, 0};
  for (size_t j = 0; j < hyper.size(); ++j) h[j] = hyper[j];
  if (okind == OptimizerKind::adam) {
    const float t = static_cast<float>(step);
    const float b1_power = std::pow(h[1], t), b2_power = std::pow(h[2], t);
    h[0] = h[0] * std::sqrt(1.0f - b2_power) / (1.0f - b1_power);
  }
  py::gil_scoped_release nogil;
  int64_t bad = -1;
  PYCNN_DISPATCH(first_nonfinite, g.data(), sizes.data(), static_cast<int64_t>(count), &bad);
  if (bad >= 0) return bad;
  PYCNN_DISPATCH(fused_update, okind, p.data(), g.data(), slot_tables, sizes.data(),
                 decays.data(), static_cast<int64_t>(count), h);
  for (const Outer& o : outers) {
    const size_t i = o.index;
    PYCNN_DISPATCH(adam_update_outer, p[i], o.a.data(), o.b.data(), o.a.shape(0), o.a.shape(1),
                   o.b.shape(1), slot_ptrs[0][i], slot_ptrs[1][i], slot_ptrs[2][i], h[0], h[1],
                   h[2], h[3], decays[i]);
  }
  return -1;
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("optimizer_step", &fused_step, py::arg("kind"), py::arg("params"), py::arg("grads"),
        py::arg("slots"), py::arg("hyper"), py::arg("step"), py::arg("decay") = 0.0f,
        py::arg("decay_mask") = py::none(),
        "One fused optimizer step over lists of variables (kind 0 sgd, 1 adam, 2 rmsprop, "
        "3 adagrad); returns -1, or the index of the first non-finite gradient (nothing is "
        "written then).");
  // The gradient check, also used on fit / predict inputs: one SIMD pass
  // (10 us for a 150x150x3 image, where NumPy's float sum took 44 us).
  m.def("all_finite",
        [](const FArray& x) {
          const float* ptrs[1] = {x.data()};
          const int64_t sizes[1] = {static_cast<int64_t>(x.size())};
          int64_t bad = -1;
          py::gil_scoped_release nogil;
          PYCNN_DISPATCH(first_nonfinite, ptrs, sizes, 1, &bad);
          return bad < 0;
        },
        py::arg("x").noconvert(), "True when x (float32, C-contiguous) holds no NaN or inf.");
  m.def("allocator_stats", [] {
    const AllocatorStats s = allocator_stats();
    py::dict d;
    d["cached_bytes"] = s.cached_bytes;
    d["live_bytes"] = s.live_bytes;
    d["cache_limit"] = s.cache_limit;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    return d;
  }, "Caching allocator counters for the arrays _C returns.");
  m.def("set_allocator_cache_limit", &set_allocator_cache_limit, py::arg("bytes"),
        "Cap on idle bytes the output-array cache keeps (0 disables caching).");
  m.def("allocator_trim", &allocator_trim, "Release every idle cached block.");
  m.def("sgd_update", &sgd, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("momentum_buf").noconvert() = py::none(), py::arg("lr"), py::arg("momentum"),
        py::arg("nesterov"), py::arg("decay") = 0.0f,
        "SGD step in place (Keras 3 rule); momentum_buf None for plain SGD.");
  m.def("adam_update", &adam, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("m").noconvert(), py::arg("v").noconvert(),
        py::arg("velocity_hat").noconvert() = py::none(), py::arg("alpha"), py::arg("beta_1"),
        py::arg("beta_2"), py::arg("epsilon"), py::arg("decay") = 0.0f,
        "Adam/AdamW step in place; alpha is the bias-corrected learning rate.");
  m.def("rmsprop_update", &rmsprop, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("velocity").noconvert(), py::arg("momentum_buf").noconvert() = py::none(),
        py::arg("average_grad").noconvert() = py::none(), py::arg("lr"), py::arg("rho"),
        py::arg("momentum"), py::arg("epsilon"), py::arg("decay") = 0.0f,
        "RMSprop step in place (momentum_buf when momentum > 0, average_grad when centered).");
  m.def("adagrad_update", &adagrad, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("accumulator").noconvert(), py::arg("lr"), py::arg("epsilon"),
        py::arg("decay") = 0.0f, "Adagrad step in place.");
  bind_loss_kernels(m);
}

}  // namespace pycnn
